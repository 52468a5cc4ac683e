"""The Tempo-compatible API (port 3200) as Grafana's Tempo data source uses it, against a real
server holding real simulated journeys.

Trace-by-ID protobuf answers are decoded with ``opentelemetry-proto``'s ``TracesData`` (after the
v2 ``TraceByIDResponse`` framing). JSON answers are parsed strictly -- an unknown field is an
error, as in Grafana's ``jsonpb.Unmarshal`` -- into messages that mirror Tempo's ``tempopb``
responses (viewer-apis.md §2.5-2.7), built here at runtime from their field lists.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status, TracesData

from jt_helpers import READ_TIMEOUT, Server, http_export, new_trace_id, root_span_id, simple_request, wait_until
from journeytrace import simulator

S = simulator.S
SEED = 30
"""8 journeys covering every scenario (tests/test_simulator.py)."""
COUNT = 8
PROTOBUF = {"Accept": "application/protobuf"}

# --- Tempo's response messages, from their field lists ------------------------------------------

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"string": _F.TYPE_STRING, "uint32": _F.TYPE_UINT32, "uint64": _F.TYPE_UINT64}
_PACKAGE = "tempopb_test"
# message -> [(field name, type, repeated)]; a type that is not a scalar names a message.
_TEMPOPB: dict[str, list[tuple[str, str, bool]]] = {
    "SearchMetrics": [("inspectedTraces", "uint32", False), ("inspectedBytes", "uint64", False),
                      ("totalBlocks", "uint32", False), ("completedJobs", "uint32", False),
                      ("totalJobs", "uint32", False), ("totalBlockBytes", "uint64", False),
                      ("inspectedSpans", "uint64", False)],
    "MetadataMetrics": [("inspectedBytes", "uint64", False), ("totalJobs", "uint32", False),
                        ("completedJobs", "uint32", False), ("totalBlocks", "uint64", False),
                        ("totalBlockBytes", "uint64", False)],
    "Span": [("spanID", "string", False), ("name", "string", False), ("startTimeUnixNano", "uint64", False),
             ("durationNanos", "uint64", False), ("attributes", ".opentelemetry.proto.common.v1.KeyValue", True)],
    "SpanSet": [("spans", "Span", True), ("matched", "uint32", False),
                ("attributes", ".opentelemetry.proto.common.v1.KeyValue", True)],
    "ServiceStats": [("spanCount", "uint32", False), ("errorCount", "uint32", False)],
    "TraceSearchMetadata": [("traceID", "string", False), ("rootServiceName", "string", False),
                            ("rootTraceName", "string", False), ("startTimeUnixNano", "uint64", False),
                            ("durationMs", "uint32", False), ("spanSet", "SpanSet", False),
                            ("spanSets", "SpanSet", True), ("serviceStats", "map<ServiceStats>", False)],
    "SearchResponse": [("traces", "TraceSearchMetadata", True), ("metrics", "SearchMetrics", False)],
    "SearchTagsResponse": [("tagNames", "string", True), ("metrics", "MetadataMetrics", False)],
    "SearchTagsV2Scope": [("name", "string", False), ("tags", "string", True)],
    "SearchTagsV2Response": [("scopes", "SearchTagsV2Scope", True), ("metrics", "MetadataMetrics", False)],
    "SearchTagValuesResponse": [("tagValues", "string", True), ("metrics", "MetadataMetrics", False)],
    "TagValue": [("type", "string", False), ("value", "string", False)],
    "SearchTagValuesV2Response": [("tagValues", "TagValue", True), ("metrics", "MetadataMetrics", False)],
}  # fmt: skip


def _field(message: descriptor_pb2.DescriptorProto, number: int, name: str, kind: str, repeated: bool) -> None:
    field = message.field.add(name=name, number=number, json_name=name)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if kind in _SCALARS:
        field.type = _SCALARS[kind]
        return
    field.type = _F.TYPE_MESSAGE
    if kind.startswith("map<"):  # map<string, V>: a repeated nested entry message
        entry = message.nested_type.add(name=name[0].upper() + name[1:] + "Entry")
        entry.options.map_entry = True
        _field(entry, 1, "key", "string", False)
        _field(entry, 2, "value", kind[4:-1], False)
        field.label = _F.LABEL_REPEATED
        field.type_name = f".{_PACKAGE}.{message.name}.{entry.name}"
    else:
        field.type_name = kind if kind.startswith(".") else f".{_PACKAGE}.{kind}"


def _build_messages() -> dict[str, type[Message]]:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(common_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(name="tempopb_test.proto", package=_PACKAGE, syntax="proto3")
    file.dependency.append(common_pb2.DESCRIPTOR.name)
    for name, fields in _TEMPOPB.items():
        message = file.message_type.add(name=name)
        for number, (field_name, kind, repeated) in enumerate(fields, start=1):
            _field(message, number, field_name, kind, repeated)
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
            for name in _TEMPOPB}  # fmt: skip


TEMPOPB = _build_messages()


def strict(response: httpx.Response, message: str) -> Message:
    """The JSON body parsed into the Tempo message, failing on any field Tempo does not have."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "null" not in re.sub(r'"(?:[^"\\]|\\.)*"', "", response.text), "Tempo omits empty fields; no nulls"
    return json_format.Parse(response.text, TEMPOPB[message](), ignore_unknown_fields=False)


def test_the_tempo_messages_reject_unknown_fields() -> None:
    with pytest.raises(json_format.ParseError):
        json_format.Parse('{"traces": [{"traceID": "ab", "journey": 1}]}', TEMPOPB["SearchResponse"]())
    parsed = json_format.Parse('{"traces": [{"serviceStats": {"a": {"spanCount": 2}}}]}', TEMPOPB["SearchResponse"]())
    assert parsed.traces[0].serviceStats["a"].spanCount == 2


# --- the server and its journeys ------------------------------------------------------------------


def _journey_of(query: httpx.Client, interaction_id: str) -> str | None:
    found = query.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
    return found[0]["journey_id"] if len(found) == 1 else None


def _settled(query: httpx.Client, journey: simulator.SimulatedJourney) -> dict[str, Any] | None:
    ids = {_journey_of(query, i.interaction_id) for i in journey.interactions}
    if len(ids) != 1 or None in ids:
        return None
    record = query.get(f"/api/journeys/{ids.pop()}").json()
    return record if record["platforms"] == journey.platforms else None


@pytest.fixture(scope="module")
def journeys(module_server: Server, client: httpx.Client) -> list[dict[str, Any]]:
    """The simulated journeys as the native API shows them (every span), newest first."""
    simulated = simulator.journeys(SEED, COUNT, time.time_ns() - 3600 * S)
    report = simulator.send(module_server.http_base, simulated, rate=0, late_seconds=0, progress=None)
    assert not report.failures
    ids = [wait_until(lambda j=j: _settled(client, j), timeout=READ_TIMEOUT * 2)["journey_id"] for j in simulated]

    def stable() -> list[dict[str, Any]] | None:
        """The records once a second passes without a new span (acknowledged spans land in
        batches) and with each journey's analysis current and unchanged: the analysis worker
        runs behind the writer, and the insights it adds are part of the trace (events, and
        ``cx.insight.rules`` on the root span)."""

        def state(record: dict[str, Any]) -> tuple[Any, ...]:
            return len(record["spans"]), record["insights"], record["analysis"]

        before = [client.get(f"/api/journeys/{i}").json() for i in ids]
        time.sleep(1)
        after = [client.get(f"/api/journeys/{i}").json() for i in ids]
        settled = all(r["analysis"]["current"] for r in after) and list(map(state, before)) == list(map(state, after))
        return after if settled else None

    records = wait_until(stable, timeout=READ_TIMEOUT, what="all spans")
    return sorted(records, key=lambda r: (r["start_unix_nano"], r["journey_id"]), reverse=True)


@pytest.fixture(scope="module")
def tempo(module_server: Server, journeys: list[dict[str, Any]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{module_server.tempo_port}", timeout=30.0) as c:
        yield c


def real_spans(journey: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in journey["spans"] if not s.get("synthetic")]


def search(tempo: httpx.Client, **params: Any) -> Message:
    return strict(tempo.get("/api/search", params=params, headers={"Accept": "application/json"}), "SearchResponse")


def trace_ids(response: Message) -> list[str]:
    return [t.traceID for t in response.traces]


# --- health --------------------------------------------------------------------------------------


def test_echo_ready_and_buildinfo(tempo: httpx.Client) -> None:
    echo = tempo.get("/api/echo")
    assert (echo.status_code, echo.text) == (200, "echo")
    ready = tempo.get("/ready")
    assert (ready.status_code, ready.text) == (200, "ready")
    info = tempo.get("/api/status/buildinfo").json()
    assert set(info) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}


# --- trace by ID -----------------------------------------------------------------------------------


def _unframe_v2(body: bytes) -> TracesData:
    """``TraceByIDResponse`` field 1 (``0x0A`` + varint length), and nothing after it (complete)."""
    assert body[0] == 0x0A
    length, shift, position = 0, 0, 1
    while True:
        byte = body[position]
        length |= (byte & 0x7F) << shift
        position += 1
        shift += 7
        if byte < 0x80:
            break
    assert len(body) == position + length, "a complete trace has no status or message field"
    return TracesData.FromString(body[position:])


def _spans(data: TracesData) -> dict[str, tuple[Any, Any]]:
    return {s.span_id.hex(): (rs, s) for rs in data.resource_spans for ss in rs.scope_spans for s in ss.spans}


def test_protobuf_traces_carry_every_span_of_the_journey(tempo: httpx.Client, journeys: list[dict[str, Any]]) -> None:
    for journey in journeys:
        journey_id = journey["journey_id"]
        v2 = tempo.get(f"/api/v2/traces/{journey_id}", headers=PROTOBUF)
        assert v2.status_code == 200 and v2.headers["content-type"] == "application/protobuf"
        data = _unframe_v2(v2.content)
        v1 = tempo.get(f"/api/traces/{journey_id}", headers=PROTOBUF)
        assert v1.status_code == 200 and TracesData.FromString(v1.content) == data
        spans = _spans(data)
        assert set(spans) == {s["span_id"] for s in journey["spans"]}  # synthetic root and handoffs included
        for expected in journey["spans"]:
            resource_spans, span = spans[expected["span_id"]]
            assert span.trace_id == bytes.fromhex(journey_id) and len(span.span_id) == 8
            assert span.parent_span_id == bytes.fromhex(expected["parent_span_id"] or "")
            assert (span.name, span.start_time_unix_nano, span.end_time_unix_nano) == (
                expected["name"], expected["start_unix_nano"], expected["end_unix_nano"])  # fmt: skip
            assert Status.StatusCode.Name(span.status.code) == expected["status_code"]
            assert Span.SpanKind.Name(span.kind) == expected["kind"]
            resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
            assert resource["service.name"] == expected["service_name"]
            typed = {kv.key: kv.value for kv in span.attributes}
            for key, value in expected["attributes"].items():
                kind = typed[key].WhichOneof("value")
                if isinstance(value, bool):
                    assert (kind, typed[key].bool_value) == ("bool_value", value)
                elif isinstance(value, int):
                    assert (kind, typed[key].int_value) == ("int_value", value)
                elif isinstance(value, float):
                    assert (kind, typed[key].double_value) == ("double_value", value)
                elif isinstance(value, str):
                    assert (kind, typed[key].string_value) == ("string_value", value)
        services = [{kv.key: kv.value.string_value for kv in rs.resource.attributes}["service.name"]
                    for rs in data.resource_spans]  # fmt: skip
        assert len(services) == len(set(services)), "one ResourceSpans per resource"
        assert [s.name for _, s in spans.values() if not s.parent_span_id] == ["journey"]


def _hex_ids_to_base64(resource_spans: list[dict[str, Any]]) -> None:
    for rs in resource_spans:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for obj in (span, *span.get("links", ())):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in obj:
                            assert re.fullmatch(r"[0-9a-f]+", obj[key]), "OTLP JSON IDs are hex"
                            obj[key] = base64.b64encode(bytes.fromhex(obj[key])).decode()


def test_json_traces_are_otlp_json_in_tempos_envelopes(tempo: httpx.Client, journeys: list[dict[str, Any]]) -> None:
    journey_id = journeys[0]["journey_id"]
    expected = _unframe_v2(tempo.get(f"/api/v2/traces/{journey_id}", headers=PROTOBUF).content)
    v2 = tempo.get(f"/api/v2/traces/{journey_id}", headers={"Accept": "application/json"}).json()
    v1 = tempo.get(f"/api/traces/{journey_id}").json()
    assert set(v2) == {"trace"} and set(v2["trace"]) == {"resourceSpans"} and set(v1) == {"batches"}
    for resource_spans in (v2["trace"]["resourceSpans"], v1["batches"]):
        _hex_ids_to_base64(resource_spans)
        parsed = json_format.Parse(
            json.dumps({"resourceSpans": resource_spans}), TracesData(), ignore_unknown_fields=False
        )
        assert parsed == expected


def test_trace_ids_follow_tempos_rules(tempo: httpx.Client, journeys: list[dict[str, Any]]) -> None:
    journey_id = journeys[0]["journey_id"]
    upper = tempo.get(f"/api/v2/traces/{journey_id.upper()}", headers=PROTOBUF)
    assert upper.status_code == 200 and len(_spans(_unframe_v2(upper.content))) == len(journeys[0]["spans"])
    unknown = "0123456789abcdef" * 2
    for path in (f"/api/v2/traces/{unknown}", f"/api/traces/{unknown}", "/api/v2/traces/abc", "/api/traces/1"):
        assert tempo.get(path, headers=PROTOBUF).status_code == 404, path
    for bad in ("not-hex", "0" * 33):
        response = tempo.get(f"/api/v2/traces/{bad}", headers=PROTOBUF)
        assert response.status_code == 400 and "hex" in response.text


def test_an_alias_of_a_merged_journey_opens_the_merged_trace(server_factory) -> None:
    """Two journeys merged by a late leg: the first journey's trace ID opens the merged one."""
    server = server_factory()
    t0 = time.time_ns() - 7200 * S

    def leg(platform: str, interaction_id: str, start: int, **attributes: object) -> bytes:
        return simple_request(
            new_trace_id(), 2, service=platform.replace("_", "-"), name=f"{platform} span", start=start,
            attributes={"cx.platform.name": platform, "cx.platform.interaction.id": interaction_id, **attributes},
        ).SerializeToString()  # fmt: skip

    with httpx.Client(timeout=30) as otlp, httpx.Client(base_url=server.query_url, timeout=30) as client, \
            httpx.Client(base_url=f"http://127.0.0.1:{server.tempo_port}", timeout=30) as tempo:
        assert http_export(otlp, server.traces_url, leg("vapi", "alias-A", t0)).status_code == 200
        first = wait_until(lambda: _journey_of(client, "alias-A"), what="the first journey")
        middle = leg("twilio", "alias-B", t0 - 10 * S,
                     **{"cx.peer.platform.name": "vapi", "cx.peer.interaction.id": "alias-A"})  # fmt: skip
        assert http_export(otlp, server.traces_url, middle).status_code == 200
        merged = wait_until(
            lambda: (j := _journey_of(client, "alias-A")) != first and _journey_of(client, "alias-B") == j and j,
            what="the merge",
        )
        for journey_id in (first, merged):
            data = _unframe_v2(tempo.get(f"/api/v2/traces/{journey_id}", headers=PROTOBUF).content)
            spans = _spans(data)
            assert {s.trace_id.hex() for _, s in spans.values()} == {merged}
            assert len([1 for _, s in spans.values() if s.name.startswith(("vapi", "twilio"))]) == 4


# --- search ----------------------------------------------------------------------------------------


def test_search_without_a_query_lists_journeys_newest_first(tempo: httpx.Client,
                                                            journeys: list[dict[str, Any]]) -> None:  # fmt: skip
    found = search(tempo, limit=COUNT)
    assert trace_ids(found) == [j["journey_id"] for j in journeys]
    assert trace_ids(search(tempo, limit=COUNT)) == trace_ids(found), "deterministic"
    by_id = {j["journey_id"]: j for j in journeys}
    for trace in found.traces:
        journey = by_id[trace.traceID]
        assert re.fullmatch(r"[0-9a-f]{32}", trace.traceID)
        assert trace.startTimeUnixNano == journey["start_unix_nano"]
        assert trace.durationMs == journey["duration_nano"] // 1_000_000
        # The first contact: the earliest span directly under the synthetic journey root.
        top_level = [s for s in real_spans(journey) if s["parent_span_id"] == root_span_id(trace.traceID)]
        first = min(top_level, key=lambda s: (s["start_unix_nano"], s["span_id"]))
        assert (trace.rootServiceName, trace.rootTraceName) == (first["service_name"], first["name"])
        assert trace.spanSet == trace.spanSets[0] and len(trace.spanSets) == 1
        assert 1 <= len(trace.spanSet.spans) <= 3 and len(trace.spanSet.spans) <= trace.spanSet.matched
        span_ids = {s["span_id"]: s for s in journey["spans"]}
        for span in trace.spanSet.spans:
            expected = span_ids[span.spanID]
            assert span.startTimeUnixNano == expected["start_unix_nano"]
            assert span.durationNanos == expected["end_unix_nano"] - expected["start_unix_nano"]
            assert span.name == expected["name"]
        assert sum(s.spanCount for s in trace.serviceStats.values()) == len(real_spans(journey))
        errors = sum(1 for s in real_spans(journey) if s["status_code"] == "STATUS_CODE_ERROR")
        assert sum(s.errorCount for s in trace.serviceStats.values()) == errors


def test_search_limits_and_spans_per_spanset(tempo: httpx.Client, journeys: list[dict[str, Any]]) -> None:
    assert trace_ids(search(tempo)) == [j["journey_id"] for j in journeys]  # default limit 20
    assert trace_ids(search(tempo, limit=2)) == [j["journey_id"] for j in journeys[:2]]
    assert all(len(t.spanSet.spans) == 1 for t in search(tempo, spss=1).traces)
    everything = search(tempo, spss=0, q="{}")
    by_id = {j["journey_id"]: j for j in journeys}
    for trace in everything.traces:
        assert len(trace.spanSet.spans) == trace.spanSet.matched == len(real_spans(by_id[trace.traceID]))


def test_search_by_traceql(tempo: httpx.Client, journeys: list[dict[str, Any]]) -> None:
    def having(predicate: Callable[[dict[str, Any]], bool]) -> list[str]:
        return [j["journey_id"] for j in journeys if any(predicate(s) for s in real_spans(j))]

    twilio = search(tempo, q='{ resource.service.name = "twilio" }', limit=50, spss=0)
    assert trace_ids(twilio) and trace_ids(twilio) == having(lambda s: s["service_name"] == "twilio")
    by_id = {s["span_id"]: s for j in journeys for s in j["spans"]}
    for trace in twilio.traces:
        assert {by_id[s.spanID]["service_name"] for s in trace.spanSet.spans} == {"twilio"}
        assert trace.spanSet.matched == len([s for s in trace.spanSet.spans])

    errors = search(tempo, q='{span.cx.span.type="telephony" && status=error}', limit=50)
    assert trace_ids(errors) == having(
        lambda s: s["attributes"].get("cx.span.type") == "telephony" and s["status_code"] == "STATUS_CODE_ERROR"
    )
    queue = next(s["attributes"]["cx.queue.name"] for j in journeys for s in real_spans(j)
                 if "cx.queue.name" in s["attributes"])  # fmt: skip
    both = search(tempo, q=f'{{ resource.service.name = "amazon-connect" }} && {{ span.cx.queue.name = "{queue}" }}')
    assert trace_ids(both) == [
        j["journey_id"] for j in journeys
        if {"amazon-connect"} <= {s["service_name"] for s in real_spans(j)}
        and queue in {s["attributes"].get("cx.queue.name") for s in real_spans(j)}
    ]  # fmt: skip


def test_search_by_legacy_tags_and_duration(tempo: httpx.Client, journeys: list[dict[str, Any]]) -> None:
    with_twilio = [j["journey_id"] for j in journeys if "twilio" in j["services"]]
    assert trace_ids(search(tempo, tags="service.name=TWIL", limit=50)) == with_twilio
    assert trace_ids(search(tempo, tags='service.name="twilio" name=telephony', limit=50)) == with_twilio
    longest = max(j["duration_nano"] for j in journeys)
    assert trace_ids(search(tempo, minDuration=f"{longest // 1_000_000 + 1}ms")) == []
    cut = sorted(j["duration_nano"] for j in journeys)[COUNT // 2]
    long_ones = search(tempo, minDuration=f"{cut}ns", limit=50)
    assert trace_ids(long_ones) == [j["journey_id"] for j in journeys if j["duration_nano"] >= cut]
    short_ones = search(tempo, maxDuration=f"{cut / 1e9}s", limit=50)
    assert trace_ids(short_ones) == [j["journey_id"] for j in journeys if j["duration_nano"] <= cut]


def test_search_time_range_in_unix_seconds(tempo: httpx.Client, journeys: list[dict[str, Any]]) -> None:
    now = int(time.time())
    assert trace_ids(search(tempo, start=now - 86400, end=now + 60)) == [j["journey_id"] for j in journeys]
    assert trace_ids(search(tempo, start=now - 10 * 86400, end=now - 9 * 86400)) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"minDuration": "fast"}, "minDuration"),
        ({"maxDuration": "10 parsecs"}, "maxDuration"),
        ({"minDuration": "2s", "maxDuration": "1s"}, "maxDuration"),
        ({"q": '{ resource.service.name = "twilio"'}, "TraceQL"),
        ({"q": "{}", "tags": "a=b"}, "can't specify tags and q"),
        ({"tags": "a=b a=c"}, "duplicate"),
        ({"limit": "0"}, "limit"),
        ({"spss": "-1"}, "spss"),
        ({"start": "200", "end": "100"}, "start"),
    ],
)
def test_bad_search_parameters_answer_400_with_the_reason(tempo: httpx.Client, params: dict[str, str],
                                                          message: str) -> None:  # fmt: skip
    response = tempo.get("/api/search", params=params)
    assert response.status_code == 400 and message in response.text, response.text


# --- tags and values ------------------------------------------------------------------------------


def test_tag_names_by_scope(tempo: httpx.Client) -> None:
    found = strict(tempo.get("/api/v2/search/tags", params={"limit": 5000}), "SearchTagsV2Response")
    scopes = {s.name: list(s.tags) for s in found.scopes}
    assert set(scopes) == {"resource", "span", "intrinsic"}
    assert "service.name" in scopes["resource"]
    assert {"cx.span.type", "cx.platform.name", "cx.queue.name", "cx.agent.id", "cx.platform.interaction.id",
            "cx.telephony.ani.hash"} <= set(scopes["span"])  # fmt: skip
    assert {"name", "status", "kind", "duration", "traceDuration", "rootServiceName"} <= set(scopes["intrinsic"])
    assert all(names == sorted(names) for names in scopes.values())
    only_span = strict(tempo.get("/api/v2/search/tags", params={"scope": "span"}), "SearchTagsV2Response")
    assert [s.name for s in only_span.scopes] == ["span"] and list(only_span.scopes[0].tags) == scopes["span"]
    assert tempo.get("/api/v2/search/tags", params={"scope": "galaxy"}).status_code == 400
    flat = strict(tempo.get("/api/search/tags"), "SearchTagsResponse")
    assert set(flat.tagNames) == set(scopes["span"]) | set(scopes["resource"])


def values(tempo: httpx.Client, tag: str, **params: Any) -> list[tuple[str, str]]:
    found = strict(tempo.get(f"/api/v2/search/tag/{tag}/values", params=params), "SearchTagValuesV2Response")
    return [(v.type, v.value) for v in found.tagValues]


def test_tag_values_are_typed(tempo: httpx.Client, journeys: list[dict[str, Any]]) -> None:
    spans = [s for j in journeys for s in real_spans(j)]
    services = {s["service_name"] for s in spans}
    assert values(tempo, "resource.service.name", limit=5000, q="{}") == [("string", s) for s in sorted(services)]
    assert values(tempo, "status") == [("keyword", "ok"), ("keyword", "error"), ("keyword", "unset")]
    assert ("keyword", "server") in values(tempo, "kind") and values(tempo, "duration") == []
    assert set(values(tempo, "name")) == {("string", s["name"]) for s in spans}
    queues = {("string", s["attributes"]["cx.queue.name"]) for s in spans if "cx.queue.name" in s["attributes"]}
    assert queues and set(values(tempo, "span.cx.queue.name")) == queues
    turns = {("int", str(s["attributes"]["cx.ai.turn_count"])) for s in spans if "cx.ai.turn_count" in s["attributes"]}
    assert turns and set(values(tempo, "span.cx.ai.turn_count")) == turns
    platforms = {("string", s["attributes"]["cx.platform.name"]) for s in spans
                 if "cx.platform.name" in s["attributes"]}  # fmt: skip
    assert platforms and set(values(tempo, ".cx.platform.name")) >= platforms
    assert values(tempo, "span.no.such.attribute") == []
    assert tempo.get("/api/v2/search/tag/not a tag/values").status_code == 400
    v1 = strict(tempo.get("/api/search/tag/service.name/values"), "SearchTagValuesResponse")
    assert list(v1.tagValues) == sorted(services)


def test_tag_values_filtered_by_a_query_and_lenient_about_bad_ones(tempo: httpx.Client,
                                                                  journeys: list[dict[str, Any]]) -> None:  # fmt: skip
    spans = [s for j in journeys for s in real_spans(j)]
    unfiltered = values(tempo, "name")
    assert values(tempo, "name", q='{resource.service.name="twilio"') == unfiltered  # incomplete: ignored
    twilio = values(tempo, "name", q='{resource.service.name="twilio"}')
    assert twilio and set(twilio) == {("string", s["name"]) for s in spans if s["service_name"] == "twilio"}


# --- what Grafana does, step by step (viewer-apis.md §2.9) ----------------------------------------


def test_grafana_tempo_data_source_flow(tempo: httpx.Client, journeys: list[dict[str, Any]]) -> None:
    # Save & test
    assert tempo.get("/api/echo").status_code == 200
    # Explore -> Search builder: tag names, then the static filters' dropdowns.
    tags = strict(tempo.get("/api/v2/search/tags", params={"limit": 5000}), "SearchTagsV2Response")
    assert "service.name" in next(s.tags for s in tags.scopes if s.name == "resource")
    services = values(tempo, "resource.service.name", limit=5000, q="{}")
    service = next(v for t, v in services if v == "amazon-connect")
    names = values(tempo, "name", limit=5000, q=f'{{resource.service.name="{service}"}}')
    name = next(v for t, v in names if v.startswith("telephony"))
    statuses = values(tempo, "status", limit=5000, q=f'{{resource.service.name="{service}" && name="{name}"}}')
    assert ("keyword", "error") in statuses
    queues = values(tempo, "span.cx.queue.name", limit=5000, q=f'{{resource.service.name="{service}"}}')
    assert queues and all(t == "string" for t, _ in queues)
    # Run the search the builder wrote (no spaces around operators), over the picker's time range.
    now = int(time.time())
    query = f'{{resource.service.name="{service}" && name="{name}"}}'
    found = search(tempo, q=query, limit=20, spss=3, start=now - 6 * 3600, end=now)
    expected = [j["journey_id"] for j in journeys
                if any(s["service_name"] == service and s["name"] == name for s in real_spans(j))]  # fmt: skip
    assert trace_ids(found) == expected
    # Click the first trace: v2 with protobuf, and on a 404 the v1 route.
    trace = found.traces[0]
    opened = tempo.get(f"/api/v2/traces/{trace.traceID}", headers=PROTOBUF)
    spans = _spans(_unframe_v2(opened.content))
    assert {s.spanID for s in trace.spanSet.spans} <= set(spans)
    assert all(spans[s.spanID][1].name == name for s in trace.spanSet.spans)
    assert tempo.get("/api/v2/traces/ab", headers=PROTOBUF).status_code == 404
    assert tempo.get("/api/traces/ab", headers=PROTOBUF).status_code == 404
