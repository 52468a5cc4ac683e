"""Jaeger's query APIs against a real server holding real simulated journeys.

Every answer is checked against the shapes of viewer-apis.md §1 (the v1 envelope, the v1 trace
model with µs times and ``p1``… processes, API v3's OTLP JSON and trace summaries), including
the error cases, and the calls Grafana's Jaeger data source and Jaeger UI make are replayed step
by step (§1.1) as HTTP calls.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from jt_helpers import (
    READ_TIMEOUT,
    Server,
    free_ports,
    http_export,
    new_span_id,
    new_trace_id,
    quiet_for_a_second,
    simple_request,
    wait_until,
)

from journeytrace import simulator
from journeytrace.correlator import CorrelatorConfig
from journeytrace.query.app import create_app
from journeytrace.server import _http_server
from journeytrace.storage import SpanStore, StoreConfig

S = 1_000_000_000
SEED = 30
COUNT = 8
ENVELOPE = {"data", "total", "limit", "offset", "errors"}
SPAN_KEYS = {"traceID", "spanID", "operationName", "references", "startTime", "duration", "tags", "logs",
             "processID", "warnings"}  # fmt: skip
KV_TYPES = {"string": str, "bool": bool, "int64": int, "float64": float, "binary": str}
KINDS = {"SPAN_KIND_INTERNAL": "internal", "SPAN_KIND_SERVER": "server", "SPAN_KIND_CLIENT": "client",
         "SPAN_KIND_PRODUCER": "producer", "SPAN_KIND_CONSUMER": "consumer"}  # fmt: skip
HEX16 = re.compile(r"[0-9a-f]{16}")
HEX32 = re.compile(r"[0-9a-f]{32}")


@dataclass
class Seeded:
    server: Server
    client: httpx.Client
    simulated: list[simulator.SimulatedJourney]
    journeys: dict[str, dict[str, Any]]
    """Native journeys (``GET /api/journeys/{id}``) of the simulated customers, by journey ID."""
    merged_id: str
    old_ids: tuple[str, str]
    short_id: str
    """A plain OTel trace whose ID has 16 leading zero digits."""


def _leg(platform: str, interaction_id: str, start: int, **attributes: object) -> bytes:
    request = simple_request(
        new_trace_id(), 2, service=f"archive-{platform}",
        name=f"{platform} span", start=start,
        attributes={"cx.platform.name": platform, "cx.platform.interaction.id": interaction_id, **attributes},
    )  # fmt: skip
    return request.SerializeToString()


def _journey_id_of(client: httpx.Client, interaction_id: str) -> str | None:
    found = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
    return found[0]["journey_id"] if len(found) == 1 else None


def _settled(client: httpx.Client, journey: simulator.SimulatedJourney) -> dict[str, Any] | None:
    ids = {_journey_id_of(client, i.interaction_id) for i in journey.interactions}
    if len(ids) != 1 or None in ids:
        return None
    record = client.get(f"/api/journeys/{ids.pop()}").json()
    return record if record["platforms"] == journey.platforms and quiet_for_a_second(record) else None


@pytest.fixture(scope="module")
def seeded(module_server: Server) -> Iterator[Seeded]:
    """The simulated journeys (started an hour ago), one merged journey and one short-ID trace,
    both ten days old so that the one-day dependency window and default searches see only the
    simulated ones."""
    now = time.time_ns()
    simulated = simulator.journeys(SEED, COUNT, now - 3600 * S)
    report = simulator.send(module_server.http_base, simulated, rate=0, late_seconds=0, progress=None)
    assert not report.failures
    old = now - 10 * 86_400 * S
    with (
        httpx.Client(base_url=module_server.query_url, timeout=30.0) as client,
        httpx.Client(timeout=30) as otlp,
    ):
        journeys = {}
        for journey in simulated:
            record = wait_until(
                lambda j=journey: _settled(client, j),
                timeout=READ_TIMEOUT * 2,
                what="settling",
            )
            journeys[record["journey_id"]] = record

        # Two journeys, then a leg linking both: they merge and the first two IDs become aliases.
        hop = {"sip.call_id": "alias-hop"}
        for body in (_leg("vapi", "alias-A", old), _leg("amazon_connect", "alias-C", old + 100 * S, **hop)):
            assert http_export(otlp, module_server.traces_url, body).status_code == 200
        first_a = wait_until(lambda: _journey_id_of(client, "alias-A"))
        first_c = wait_until(lambda: _journey_id_of(client, "alias-C"))
        peer = {"cx.peer.platform.name": "vapi", "cx.peer.interaction.id": "alias-A"}
        middle = _leg("twilio", "alias-B", old - 10 * S, **peer, **hop)
        assert http_export(otlp, module_server.traces_url, middle).status_code == 200

        def merged_record() -> dict[str, Any] | None:
            record = client.get(f"/api/journeys/{first_a}").json()
            return record if record.get("interaction_count") == 3 else None

        merged = wait_until(merged_record, what="the merge")

        trace_id = bytes(8) + new_span_id()
        plain = simple_request(trace_id, 3, service="otel-checkout", name="checkout", start=old)
        assert http_export(otlp, module_server.traces_url, plain).status_code == 200
        short_id = wait_until(lambda: _journey_id_of(client, trace_id.hex()), what="the plain trace")
        yield Seeded(
            module_server,
            client,
            simulated,
            journeys,
            merged["journey_id"],
            (first_a, first_c),
            short_id,
        )


# --- shape checks ------------------------------------------------------------------------------


def assert_envelope(body: Any) -> None:
    assert isinstance(body, dict) and set(body) == ENVELOPE, body
    assert isinstance(body["total"], int) and body["limit"] == 0 and body["offset"] == 0


def assert_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert_envelope(body)
    assert body["data"] is None and body["total"] == 0
    [error] = body["errors"]
    assert error["code"] == status and fragment in error["msg"], error


def assert_v3_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["httpCode"] == status and fragment in error["message"], error


def assert_key_values(items: Any) -> None:
    assert isinstance(items, list)
    for item in items:
        assert set(item) == {"key", "type", "value"}, item
        assert isinstance(item["key"], str) and item["type"] in KV_TYPES, item
        expected = KV_TYPES[item["type"]]
        value = item["value"]
        if item["type"] == "int64":
            assert (isinstance(value, int) and not isinstance(value, bool)) or re.fullmatch(r"-?\d+", value), item
        elif item["type"] == "float64":
            assert isinstance(value, int | float) and not isinstance(value, bool), item
        else:
            assert isinstance(value, expected), item


def v1_id(journey_id: str) -> str:
    return journey_id[16:] if journey_id.startswith("0" * 16) else journey_id


def assert_v1_trace(trace: dict[str, Any], native: dict[str, Any]) -> None:
    """``trace`` is the v1 form of the native journey, field by field (§1.4)."""
    assert set(trace) == {"traceID", "spans", "processes", "warnings"}
    trace_id = v1_id(native["journey_id"])
    assert trace["traceID"] == trace_id and trace["warnings"] is None
    spans, processes = trace["spans"], trace["processes"]
    assert spans, "a trace never comes without spans"
    # p1, p2, … in order of first appearance, one per service + resource.
    order = list(dict.fromkeys(s["processID"] for s in spans))
    assert order == [f"p{n}" for n in range(1, len(processes) + 1)] == list(processes)
    for process in processes.values():
        assert set(process) == {"serviceName", "tags"}
        assert_key_values(process["tags"])
    assert len({json.dumps(p, sort_keys=True) for p in processes.values()}) == len(processes)
    assert [s["spanID"] for s in spans] == [s["span_id"] for s in native["spans"]]
    ids = {s["spanID"] for s in spans}
    for span, source in zip(spans, native["spans"], strict=True):
        assert SPAN_KEYS <= set(span) <= SPAN_KEYS | {"flags"}, span.keys()
        assert span["traceID"] == trace_id and HEX16.fullmatch(span["spanID"])
        assert span["operationName"] == source["name"]
        assert span["startTime"] == source["start_unix_nano"] // 1000  # µs
        assert span["duration"] == (source["end_unix_nano"] - source["start_unix_nano"]) // 1000
        assert processes[span["processID"]]["serviceName"] == source["service_name"]
        assert span["warnings"] is None or all(isinstance(w, str) for w in span["warnings"])
        for ref in span["references"]:
            assert set(ref) == {"refType", "traceID", "spanID"} and ref["refType"] in (
                "CHILD_OF",
                "FOLLOWS_FROM",
            )
        if source["parent_span_id"]:  # parent first, in this trace (Jaeger UI and Grafana both rely on it)
            assert span["references"][0] == {"refType": "CHILD_OF", "traceID": trace_id,
                                             "spanID": source["parent_span_id"]}  # fmt: skip
            assert span["references"][0]["spanID"] in ids
        else:
            assert span["references"] == []
        assert_key_values(span["tags"])
        tags = {t["key"]: t["value"] for t in span["tags"]}
        assert tags.get("span.kind") == KINDS.get(source["kind"])
        assert ("error" in tags) == (source["status_code"] == "STATUS_CODE_ERROR")
        for key, value in source["attributes"].items():
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53 - 1:
                assert tags[key] == str(value), key  # beyond JSON's exact integers: a decimal string
            elif isinstance(value, str | bool | int | float):
                assert tags[key] == value, key
        assert len(span["logs"]) == len(source["events"])
        for log, event in zip(span["logs"], source["events"], strict=True):
            assert set(log) == {"timestamp", "fields"} and log["timestamp"] == event["time_unix_nano"] // 1000
            assert_key_values(log["fields"])
            assert {"key": "event", "type": "string", "value": event["name"]} in log["fields"]


def trace_ids(body: dict[str, Any]) -> list[str]:
    return [t["traceID"] for t in body["data"]]


def newest_first(seeded: Seeded, ids: set[str]) -> list[str]:
    return sorted(ids, key=lambda i: (seeded.journeys[i]["start_unix_nano"], i), reverse=True)


def stringified(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def expected_matches(
    seeded: Seeded,
    service: str,
    tags: dict[str, str],
    minimum: int = 0,
    maximum: int = 2**63,
) -> set[str]:
    """Journeys with one sent span of ``service`` carrying every tag and lasting ``minimum`` to ``maximum`` ns."""

    def hit(span: dict[str, Any]) -> bool:
        values = {**span["resource_attributes"], **span["attributes"]}
        return (not span.get("synthetic") and span["service_name"] == service
                and minimum <= span["end_unix_nano"] - span["start_unix_nano"] <= maximum
                and all(k in values and stringified(values[k]) == v for k, v in tags.items()))  # fmt: skip

    return {jid for jid, j in seeded.journeys.items() if any(hit(s) for s in j["spans"])}


def all_services(seeded: Seeded) -> list[str]:
    listed = seeded.client.get("/api/journeys", params={"limit": 1000}).json()["journeys"]
    return sorted({s for j in listed for s in j["services"]})


# --- services and operations ------------------------------------------------------------------


def test_services_v1_and_v3(seeded: Seeded) -> None:
    expected = all_services(seeded)
    assert {"amazon-connect", "polyai", "twilio", "vapi", "otel-checkout"} <= set(expected)
    body = seeded.client.get("/api/services").json()
    assert_envelope(body)
    assert body["data"] == expected and body["total"] == len(expected) and body["errors"] is None
    assert seeded.client.get("/api/v3/services").json() == {"services": expected}


def native_operations(seeded: Seeded, service: str) -> set[tuple[str, str]]:
    return {(s["name"], KINDS.get(s["kind"], "")) for j in seeded.journeys.values() for s in j["spans"]
            if s["service_name"] == service and not s.get("synthetic")}  # fmt: skip


def test_operations_of_a_service_in_every_form(seeded: Seeded) -> None:
    expected = native_operations(seeded, "vapi")
    assert expected
    body = seeded.client.get(f"/api/services/{quote('vapi', safe='')}/operations").json()
    assert_envelope(body)
    assert body["data"] == sorted({name for name, _ in expected}) and body["total"] == len(body["data"])

    body = seeded.client.get("/api/operations", params={"service": "vapi"}).json()
    assert_envelope(body)
    assert all(set(op) == {"name", "spanKind"} for op in body["data"])
    assert {(op["name"], op["spanKind"]) for op in body["data"]} == expected and body["total"] == len(expected)
    servers = seeded.client.get("/api/operations", params={"service": "vapi", "spanKind": "server"}).json()["data"]
    assert servers and {(op["name"], op["spanKind"]) for op in servers} == {o for o in expected if o[1] == "server"}

    v3 = seeded.client.get("/api/v3/operations", params={"service": "vapi"}).json()
    assert set(v3) == {"operations"}
    assert {(op["name"], op["spanKind"]) for op in v3["operations"]} == {(n, k or "internal") for n, k in expected}
    assert seeded.client.get("/api/services/no-such-service/operations").json()["data"] == []


def test_operation_parameters_are_checked(seeded: Seeded) -> None:
    assert_error(seeded.client.get("/api/operations"), 400, "parameter 'service' is required")
    assert_error(seeded.client.get("/api/operations", params={"service": "vapi", "spanKind": "sideways"}), 400,
                 "span kind")  # fmt: skip
    assert_v3_error(seeded.client.get("/api/v3/operations", params={"service": "vapi", "spanKind": "x"}), 400,
                    "span kind")  # fmt: skip


# --- search -------------------------------------------------------------------------------------


def test_search_by_service_tag_and_duration_matches_one_span(seeded: Seeded) -> None:
    tags = {"cx.span.type": "turn", "cx.turn.role": "agent"}
    # The longest agent turn of each journey; searching at least the longest of them finds fewer.
    longest = {jid: max(s["end_unix_nano"] - s["start_unix_nano"] for s in j["spans"]
                        if s["service_name"] == "vapi" and s["attributes"].get("cx.turn.role") == "agent")
               for jid, j in seeded.journeys.items() if jid in expected_matches(seeded, "vapi", tags)}  # fmt: skip
    threshold = max(longest.values())
    assert threshold % 1_000_000 == 0 and len(set(longest.values())) > 1
    expected = expected_matches(seeded, "vapi", tags, minimum=threshold)
    assert expected and expected != set(longest)
    params = {"service": "vapi", "tags": json.dumps(tags), "minDuration": f"{threshold // 1_000_000}ms", "limit": 20}
    body = seeded.client.get("/api/traces", params=params).json()
    assert_envelope(body)
    assert body["errors"] is None and trace_ids(body) == newest_first(seeded, expected)
    for trace in body["data"]:
        assert_v1_trace(trace, seeded.client.get(f"/api/journeys/{trace['traceID']}").json())

    # The same search with repeated legacy ``tag`` parameters and fractional seconds.
    legacy = seeded.client.get(
        "/api/traces",
        params=[("service", "vapi"), ("tag", "cx.span.type:turn"), ("tag", "cx.turn.role:agent"),
                ("minDuration", f"{threshold / 1e9}s")],
    )  # fmt: skip
    assert trace_ids(legacy.json()) == newest_first(seeded, expected)
    # Just above it: nothing.
    above = seeded.client.get("/api/traces", params={"service": "vapi", "tags": json.dumps(tags),
                                                      "minDuration": f"{threshold + 1}ns"}).json()  # fmt: skip
    assert above["data"] == []


def test_search_conditions_must_hold_on_one_span(seeded: Seeded) -> None:
    # Turns are vapi spans, twilio has the telephony spans: no single twilio span is a turn.
    assert expected_matches(seeded, "twilio", {"cx.span.type": "turn"}) == set()
    body = seeded.client.get("/api/traces", params={"service": "twilio", "tags": '{"cx.span.type":"turn"}'}).json()
    assert body["data"] == [] and body["errors"] is None
    # A maxDuration below every turn of a journey excludes it although its journey is long.
    longest = max(s["end_unix_nano"] - s["start_unix_nano"] for j in seeded.journeys.values() for s in j["spans"]
                  if s["service_name"] == "vapi" and s["name"] == "turn vapi")  # fmt: skip
    body = seeded.client.get("/api/traces", params={"service": "vapi", "operation": "turn vapi",
                                                    "minDuration": f"{longest + 1000}ns"}).json()  # fmt: skip
    assert body["data"] == []


def test_search_by_promoted_keys_status_and_kind(seeded: Seeded) -> None:
    for service, tags in (
        ("amazon-connect", {"cx.platform.name": "amazon_connect", "span.kind": "server"}),
        ("vapi", {"cx.platform.interaction.id": next(
            s["attributes"]["cx.platform.interaction.id"] for j in seeded.journeys.values() for s in j["spans"]
            if s["service_name"] == "vapi" and "cx.platform.interaction.id" in s["attributes"])}),
    ):  # fmt: skip

        def hit(span: dict[str, Any], service: str = service, tags: dict[str, str] = tags) -> bool:
            values = {**span["attributes"], "span.kind": KINDS.get(span["kind"])}
            return span["service_name"] == service and all(values.get(k) == v for k, v in tags.items())

        want = {jid for jid, j in seeded.journeys.items() if any(hit(s) for s in j["spans"] if not s.get("synthetic"))}
        got = seeded.client.get("/api/traces", params={"service": service, "tags": json.dumps(tags)}).json()
        assert want and trace_ids(got) == newest_first(seeded, want), tags
    errors = {
        jid for jid, j in seeded.journeys.items() if any(s["status_code"] == "STATUS_CODE_ERROR" for s in j["spans"])
    }
    got = seeded.client.get("/api/traces", params={"tags": '{"error":"true"}'}).json()
    assert errors and trace_ids(got) == newest_first(seeded, errors)


def test_search_window_limit_and_order(seeded: Seeded) -> None:
    everything = newest_first(seeded, set(seeded.journeys))
    assert trace_ids(seeded.client.get("/api/traces").json()) == everything  # default window: the last 2 days
    assert trace_ids(seeded.client.get("/api/traces", params={"limit": 3}).json()) == everything[:3]
    now_us = time.time_ns() // 1000
    old = seeded.client.get("/api/traces", params={"start": now_us - 30 * 86_400_000_000,
                                                   "end": now_us - 5 * 86_400_000_000}).json()  # fmt: skip
    assert set(trace_ids(old)) == {v1_id(seeded.merged_id), v1_id(seeded.short_id)}
    assert seeded.client.get("/api/traces", params={"service": "no-such-service"}).json()["data"] == []


def test_search_by_trace_ids_reports_the_missing_ones(seeded: Seeded) -> None:
    first, second = list(seeded.journeys)[:2]
    missing = "f" * 32
    body = seeded.client.get("/api/traces", params=[("traceID", first), ("traceID", missing),
                                                    ("traceID", second), ("service", "ignored")]).json()  # fmt: skip
    assert_envelope(body)
    assert trace_ids(body) == [first, second]
    assert body["errors"] == [{"msg": "trace not found", "traceID": missing}]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"minDuration": "fast"}, "minDuration"),
        ({"maxDuration": "10"}, "maxDuration"),
        ({"minDuration": "2s", "maxDuration": "1s"}, "maxDuration"),
        ({"tags": "{not json"}, "tags"),
        ({"tags": '["error"]'}, "tags"),
        ({"tags": '{"a": {"b": 1}}'}, "tags"),
        ({"tag": "no-colon"}, "tag"),
        ({"start": "yesterday"}, "start"),
        ({"end": "1.5"}, "end"),
        ({"limit": "many"}, "limit"),
        ({"traceID": "not-an-id!"}, "trace ID"),
    ],
)
def test_bad_search_parameters_answer_400_with_a_message(seeded: Seeded, params: dict[str, str], fragment: str) -> None:
    assert_error(seeded.client.get("/api/traces", params=params), 400, fragment)


# --- trace by ID ----------------------------------------------------------------------------------


def test_trace_by_id_in_every_encoding(seeded: Seeded) -> None:
    journey_id = next(iter(seeded.journeys))
    native = seeded.client.get(f"/api/journeys/{journey_id}").json()
    raw = bytes.fromhex(journey_id)
    forms = [journey_id, journey_id.upper(), base64.b64encode(raw).decode(),
             base64.urlsafe_b64encode(raw).decode().rstrip("=")]  # fmt: skip
    for form in forms:
        response = seeded.client.get(f"/api/traces/{quote(form, safe='')}")
        assert response.status_code == 200, (form, response.text)
        body = response.json()
        assert_envelope(body)
        assert body["errors"] is None and len(body["data"]) == 1
        assert_v1_trace(body["data"][0], native)
    assert {s.get("synthetic", False) for s in native["spans"]} == {True, False}  # the root and handoffs show
    # Standard base64 may hold "/" and "+": every journey, percent-encoded.
    encoded = {jid: base64.b64encode(bytes.fromhex(jid)).decode() for jid in seeded.journeys}
    assert any("/" in e for e in encoded.values())
    for jid, form in encoded.items():
        assert seeded.client.get(f"/api/traces/{quote(form, safe='')}").json()["data"][0]["traceID"] == jid
        assert seeded.client.get(f"/api/v3/traces/{quote(form, safe='')}").status_code == 200


def test_short_ids_are_left_padded_and_rendered_in_16_digits(seeded: Seeded) -> None:
    assert seeded.short_id.startswith("0" * 16)
    native = seeded.client.get(f"/api/journeys/{seeded.short_id}").json()
    for form in (seeded.short_id, seeded.short_id[16:], seeded.short_id.lstrip("0")):
        body = seeded.client.get(f"/api/traces/{form}").json()
        assert body["data"][0]["traceID"] == seeded.short_id[16:]
        assert_v1_trace(body["data"][0], native)
        assert {p["serviceName"] for p in body["data"][0]["processes"].values()} >= {"otel-checkout"}


def test_merged_journeys_old_ids_resolve(seeded: Seeded) -> None:
    native = seeded.client.get(f"/api/journeys/{seeded.merged_id}").json()
    for old in seeded.old_ids:
        body = seeded.client.get(f"/api/traces/{old}").json()
        assert_v1_trace(body["data"][0], native)
        assert body["data"][0]["traceID"] == v1_id(seeded.merged_id)
    services = {p["serviceName"] for p in body["data"][0]["processes"].values()}
    assert services == {
        "journeytrace",
        "archive-twilio",
        "archive-vapi",
        "archive-amazon_connect",
    }
    v3 = seeded.client.get(f"/api/v3/traces/{seeded.old_ids[0]}").json()
    assert {s["traceId"] for rs in v3["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]} == {
        seeded.merged_id
    }


def test_unknown_and_malformed_trace_ids(seeded: Seeded) -> None:
    assert_error(seeded.client.get(f"/api/traces/{'e' * 32}"), 404, "trace not found")
    assert seeded.client.get(f"/api/traces/{'e' * 32}").json()["errors"] == [{"code": 404, "msg": "trace not found"}]
    for bad in ("xyz", "0" * 33, base64.b64encode(b"short").decode()):
        assert_error(seeded.client.get(f"/api/traces/{quote(bad, safe='')}"), 400, "trace ID")
    assert_v3_error(seeded.client.get(f"/api/v3/traces/{'e' * 32}"), 404, "No traces found")
    assert_v3_error(seeded.client.get("/api/v3/traces/xyz"), 400, "trace ID")


def test_pretty_print(seeded: Seeded) -> None:
    pretty = seeded.client.get("/api/services", params={"prettyPrint": "true"}).text
    assert "\n  " in pretty and json.loads(pretty) == seeded.client.get("/api/services").json()
    assert "\n" not in seeded.client.get("/api/services", params={"prettyPrint": "false"}).text


# --- dependencies ---------------------------------------------------------------------------------


def test_dependencies_are_the_platform_handoffs(seeded: Seeded) -> None:
    handoffs = Counter(pair for j in seeded.simulated for pair in zip(j.platforms, j.platforms[1:], strict=False))
    assert len(handoffs) >= 3
    now_ms = time.time_ns() // 1_000_000
    body = seeded.client.get("/api/dependencies", params={"endTs": now_ms, "lookback": 86_400_000}).json()
    assert_envelope(body)
    assert body["errors"] is None
    assert all(set(d) == {"parent", "child", "callCount"} for d in body["data"])
    assert {(d["parent"], d["child"]): d["callCount"] for d in body["data"]} == dict(handoffs)
    # Defaults: now and 24 h.
    assert seeded.client.get("/api/dependencies").json()["data"] == body["data"]
    # A window with only the merged journey (ten days ago); a window with nothing.
    ten_days = 10 * 86_400_000
    old = seeded.client.get("/api/dependencies", params={"endTs": now_ms - ten_days + 3_600_000,
                                                         "lookback": 7_200_000}).json()["data"]  # fmt: skip
    assert {(d["parent"], d["child"]): d["callCount"] for d in old} == {("twilio", "vapi"): 1,
                                                                        ("vapi", "amazon_connect"): 1}  # fmt: skip
    assert seeded.client.get("/api/dependencies", params={"endTs": 1000, "lookback": 1000}).json()["data"] == []
    touching = seeded.client.get("/api/dependencies", params={"service": "vapi"}).json()["data"]
    assert {(d["parent"], d["child"]) for d in touching} == {p for p in handoffs if "vapi" in p}
    assert_error(seeded.client.get("/api/dependencies", params={"endTs": "now"}), 400, "endTs")
    assert_error(
        seeded.client.get("/api/dependencies", params={"lookback": "1d"}),
        400,
        "lookback",
    )


# --- API v3 ---------------------------------------------------------------------------------------


def rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns // S, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % S:09d}Z"


def test_v3_trace_summaries(seeded: Seeded) -> None:
    now = time.time_ns()
    params = {"query.serviceName": "polyai", "query.startTimeMin": rfc3339(now - 86_400 * S),
              "query.startTimeMax": rfc3339(now), "query.searchDepth": "20"}  # fmt: skip
    body = seeded.client.get("/api/v3/trace-summaries", params=params).json()
    expected = expected_matches(seeded, "polyai", {})
    assert set(body) == {"summaries"}
    assert [s["traceId"] for s in body["summaries"]] == newest_first(seeded, expected)
    for summary in body["summaries"]:
        native = seeded.journeys[summary["traceId"]]
        spans = native["spans"]
        assert HEX32.fullmatch(summary["traceId"])
        assert summary["minStartTimeUnixNano"] == str(min(s["start_unix_nano"] for s in spans))
        assert summary["maxEndTimeUnixNano"].isdigit()
        assert (summary["rootServiceName"], summary["rootOperationName"]) == (
            "journeytrace",
            "journey",
        )
        assert summary["spanCount"] == len(spans) and summary["orphanSpanCount"] == 0
        assert summary["errorSpanCount"] == sum(s["status_code"] == "STATUS_CODE_ERROR" for s in spans)
        names = [s["name"] for s in summary["services"]]
        assert names == sorted({s["service_name"] for s in spans})
        assert sum(s["spanCount"] for s in summary["services"]) == len(spans)
    # Snake-case aliases, attributes and a duration; no hit is 200 with an empty object.
    snake = {"query.service_name": "vapi", "query.start_time_min": params["query.startTimeMin"],
             "query.start_time_max": params["query.startTimeMax"], "query.attributes": '{"cx.turn.role":"agent"}',
             "query.duration_min": "4s"}  # fmt: skip
    got = seeded.client.get("/api/v3/trace-summaries", params=snake).json()["summaries"]
    want = expected_matches(seeded, "vapi", {"cx.turn.role": "agent"}, minimum=4 * S)
    assert [s["traceId"] for s in got] == newest_first(seeded, want)
    empty = seeded.client.get("/api/v3/trace-summaries", params={**params, "query.serviceName": "nobody"})
    assert empty.status_code == 200 and empty.json() == {}


def test_v3_search_parameters_are_checked(seeded: Seeded) -> None:
    now = time.time_ns()
    good = {"query.startTimeMin": rfc3339(now - S), "query.startTimeMax": rfc3339(now)}
    for params, fragment in (
        ({"query.startTimeMax": good["query.startTimeMax"]}, "startTimeMin"),
        ({**good, "query.startTimeMin": "yesterday"}, "startTimeMin"),
        (
            {
                "query.startTimeMin": good["query.startTimeMax"],
                "query.startTimeMax": good["query.startTimeMin"],
            },
            "before",
        ),
        ({**good, "query.durationMin": "long"}, "durationMin"),
        ({**good, "query.attributes": "{"}, "tags"),
    ):
        assert_v3_error(seeded.client.get("/api/v3/trace-summaries", params=params), 400, fragment)


def test_v3_trace_is_otlp_json(seeded: Seeded) -> None:
    journey_id = next(iter(seeded.journeys))
    native = seeded.client.get(f"/api/journeys/{journey_id}").json()
    body = seeded.client.get(f"/api/v3/traces/{journey_id}", params={"startTime": "x"}).json()
    assert set(body) == {"result"} and set(body["result"]) == {"resourceSpans"}
    spans = {}
    for rs in body["result"]["resourceSpans"]:
        resource = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
        service = resource["service.name"]["stringValue"]
        for ss in rs["scopeSpans"]:
            assert set(ss) == {"scope", "spans"}
            for span in ss["spans"]:
                spans[span["spanId"]] = (service, span)
    assert set(spans) == {s["span_id"] for s in native["spans"]}
    kinds = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
             "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}  # fmt: skip
    for source in native["spans"]:
        service, span = spans[source["span_id"]]
        assert service == source["service_name"]
        assert span["traceId"] == journey_id and HEX16.fullmatch(span["spanId"])
        assert span.get("parentSpanId") == source["parent_span_id"]
        assert span.get("kind", 0) == kinds[source["kind"]] and isinstance(span.get("kind", 0), int)
        assert span["startTimeUnixNano"] == str(source["start_unix_nano"])
        assert span["endTimeUnixNano"] == str(source["end_unix_nano"])
        code = span.get("status", {}).get("code", 0)
        assert code == {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}[source["status_code"]]
    # The merged OTLP search answer holds the same spans.
    now = time.time_ns()
    found = seeded.client.get("/api/v3/traces", params={"query.startTimeMin": rfc3339(now - 86_400 * S),
                                                        "query.startTimeMax": rfc3339(now)}).json()  # fmt: skip
    listed = {s["traceId"] for rs in found["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    assert listed == set(seeded.journeys)


# --- the clients' flows, step by step -----------------------------------------------------------


def grafana_search_rows(body: dict[str, Any]) -> list[tuple[str, str, int]]:
    """What Grafana's Jaeger data source builds per search result (TransformSearchResponse):
    the root is the earliest-starting span; name "<service>: <operation>", duration in µs."""
    rows = []
    for trace in body["data"]:
        root = min(trace["spans"], key=lambda s: s["startTime"])
        service = trace["processes"][root["processID"]]["serviceName"]
        rows.append((trace["traceID"], f"{service}: {root['operationName']}", root["duration"]))
    return rows


def test_grafana_jaeger_data_source_flow(seeded: Seeded) -> None:
    client = seeded.client
    # Save & test: any 2xx whose body decodes into {"data": [...]} (older versions: non-empty).
    health = client.get("/api/services")
    assert health.status_code == 200 and health.json()["data"]
    # Search form: service list, then the chosen service's operations (path-escaped).
    services = client.get("/api/services").json()["data"]
    assert "vapi" in services
    operations = client.get(f"/api/services/{quote('vapi', safe='')}/operations").json()["data"]
    assert "turn vapi" in operations and all(isinstance(o, str) for o in operations)
    # Run search: logfmt `cx.turn.role=agent` becomes JSON tags; the panel range in µs; empty params dropped.
    now_us = time.time_ns() // 1000
    params = {"service": "vapi", "operation": "turn vapi", "tags": json.dumps({"cx.turn.role": "agent"}),
              "minDuration": "1s", "maxDuration": "1m", "limit": "20", "start": str(now_us - 6 * 3_600_000_000),
              "end": str(now_us)}  # fmt: skip
    body = client.get("/api/traces", params=params).json()
    want = expected_matches(seeded, "vapi", {"cx.turn.role": "agent"}, minimum=S, maximum=60 * S)
    assert trace_ids(body) == newest_first(seeded, want) and want
    rows = grafana_search_rows(body)
    assert all(name == "journeytrace: journey" and duration > 0 for _, name, duration in rows)
    # Open a trace from the result table; with "trace ID time params" Grafana sends ms start/end.
    trace_id = rows[0][0]
    start_ms, end_ms = now_us // 1000 - 6 * 3_600_000, now_us // 1000
    opened = client.get(f"/api/traces/{trace_id}", params={"start": start_ms, "end": end_ms}).json()
    assert opened["data"][0]["spans"] and opened["data"][0]["traceID"] == trace_id
    # Grafana takes the first CHILD_OF reference as the parent.
    spans = {s["spanID"] for s in opened["data"][0]["spans"]}
    for span in opened["data"][0]["spans"]:
        parents = [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"]
        assert not parents or parents[0] in spans
    # Dependency graph query: range end and length in ms; no errors.
    graph = client.get("/api/dependencies", params={"endTs": end_ms, "lookback": 6 * 3_600_000}).json()
    assert graph["errors"] is None and graph["data"]


def test_jaeger_ui_v3_flow(seeded: Seeded) -> None:
    """Jaeger UI ≥ 2.19: v3 services and operations, trace summaries, then v1 trace by ID."""
    client = seeded.client
    services = client.get("/api/v3/services").json()["services"]
    assert "amazon-connect" in services
    operations = client.get("/api/v3/operations", params={"service": "amazon-connect"}).json()["operations"]
    assert all(op["name"] and op["spanKind"] for op in operations)
    now = time.time_ns()
    summaries = client.get("/api/v3/trace-summaries", params={
        "query.serviceName": "amazon-connect", "query.startTimeMin": rfc3339(now - 3 * 3600 * S),
        "query.startTimeMax": rfc3339(now), "query.searchDepth": "20"}).json()["summaries"]  # fmt: skip
    assert [s["traceId"] for s in summaries] == newest_first(seeded, expected_matches(seeded, "amazon-connect", {}))
    for summary in summaries:
        assert HEX32.fullmatch(summary["traceId"])
        trace = client.get(f"/api/traces/{summary['traceId']}").json()["data"][0]
        assert len(trace["spans"]) == summary["spanCount"]


def test_jaeger_ui_v1_flow(seeded: Seeded) -> None:
    """Jaeger UI ≤ 2.14: v1 services, operations, search (with lookback), a trace, compare, the
    dependency graph over a week."""
    client = seeded.client
    services = client.get("/api/services").json()["data"]
    service = "twilio"
    assert service in services
    assert client.get(f"/api/services/{service}/operations").json()["data"]
    assert client.get("/api/operations", params={"service": service, "spanKind": "server"}).json()["data"]
    now_us = time.time_ns() // 1000
    found = client.get("/api/traces", params={"service": service, "lookback": "2h", "limit": "20",
                                              "start": now_us - 2 * 3_600_000_000, "end": now_us}).json()  # fmt: skip
    ids = trace_ids(found)
    assert ids == newest_first(seeded, expected_matches(seeded, service, {}))
    assert client.get(f"/api/traces/{ids[0]}").json()["data"][0]["traceID"] == ids[0]
    compared = client.get("/api/traces", params=[("traceID", ids[0]), ("traceID", ids[1])]).json()
    assert trace_ids(compared) == ids[:2] and compared["errors"] is None
    graph = client.get(
        "/api/dependencies",
        params={"endTs": now_us // 1000, "lookback": 7 * 86_400_000},
    ).json()
    assert {(d["parent"], d["child"]) for d in graph["data"]} >= {
        ("twilio", "vapi"),
        ("vapi", "twilio"),
    }


def test_a_closed_store_answers_503_in_the_apis_own_envelopes(tmp_path) -> None:
    """While the server shuts down, the query port outlives the store for a moment: a read then
    finds it closed. Jaeger UI reads the message from Jaeger's envelope, not the native one."""

    async def run() -> list[httpx.Response]:
        config = StoreConfig(path=tmp_path / "journeytrace.duckdb", correlator=CorrelatorConfig(phone_hash_key=b"k" * 32))
        store = SpanStore(config)
        async with store:
            pass  # opened, then closed
        app = create_app(store, tenant="default", phone_hash_key=b"k" * 32)
        (port,) = free_ports(1)
        async with _http_server(app, "127.0.0.1", port, "query API"), httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=READ_TIMEOUT
        ) as client:
            return [await client.get(path) for path in ("/api/services", "/api/v3/services", "/api/journeys")]

    v1, v3, native = asyncio.run(run())
    assert v1.status_code == 503
    assert v1.json() == {"data": None, "total": 0, "limit": 0, "offset": 0,
                         "errors": [{"code": 503, "msg": "storage is closed"}]}  # fmt: skip
    assert v3.status_code == 503
    assert v3.json() == {"error": {"httpCode": 503, "message": "storage is closed"}}
    assert native.status_code == 503
    assert "storage is closed" in native.text
