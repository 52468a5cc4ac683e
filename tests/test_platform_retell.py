"""Retell AI webhooks → spans: the exact spans of each fixture, bad bodies, the
``x-retell-signature`` check, and over the wire event ordering, re-deliveries and the link to the
Twilio leg named by ``telephony_identifier.twilio_call_sid``."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import (
    JSON, draft_shape, new_trace_id, otlp_json, parse_fixture, platform_fixture, real_spans, simple_request,
    wait_for_journey, wait_until,
)
from journeytrace.receivers.platforms.adapters import retell
from journeytrace.receivers.platforms.model import BadPayload, SpanDraft

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "retell"
CALL = "call_6f0e2b8c1d4a"
CALL_SID = "CA77d1e2f3a4b5c6d7e8f90a1b2c3d4e5f"
API_KEY = "key_retell_test_0001"


def fixture(name: str) -> Any:
    return platform_fixture("retell", name)


def parse(name: str) -> list[SpanDraft]:
    return parse_fixture(retell.ADAPTER, name)


shape = draft_shape


TRANSFER_ROOT = {
    "cx.direction": "inbound", "gen_ai.conversation.id": CALL, "cx.channel": "voice", "gen_ai.agent.id": "agent_91c0d2",
    "gen_ai.agent.name": "Acme support", "cx.telephony.ani.number": "+14155550100",
    "cx.telephony.dnis.number": "+14155550122", "cx.peer.platform.name": "twilio", "cx.peer.interaction.id": CALL_SID,
    "cx.journey.id": "jrn-retell-1", "retell.call_status": "ended", "retell.disconnection_reason": "call_transfer",
    "cx.ai.turn_count": 3, "cx.ai.cost_usd": 0.125, "cx.disconnect.reason": "ai_disconnect",
    "cx.disconnect.initiator": "ai", "cx.ai.outcome": "handoff",
}  # fmt: skip


def test_call_ended_with_transfer() -> None:
    spans = parse("call_ended_transfer.json")
    version = 2 * 10**13 + 1741083431000
    assert {(s.platform, s.interaction_id) for s in spans} == {("retell", CALL)}
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation retell", "ai_conversation", "server", 1741083302000000000,
         1741083431000000000, None, "unset", "", version),
        # Turns run from their first word's start to their last word's end (seconds from the call start).
        ("turn-1", "turn retell", "turn", "internal", 1741083302500000000, 1741083304100000000, "conversation",
         "unset", "", version),
        ("turn-2", "turn retell", "turn", "internal", 1741083305200000000, 1741083307250000000, "conversation",
         "unset", "", version),
        ("turn-3", "turn retell", "turn", "internal", 1741083308400000000, 1741083310000000000, "conversation",
         "unset", "", version),
        ("transfer", "handoff ai->external", "handoff", "producer", 1741083431000000000, 1741083431000000000,
         "conversation", "unset", "", version),
    ]  # fmt: skip
    assert spans[0].attributes == TRANSFER_ROOT
    assert spans[1].attributes == {"cx.turn.number": 1, "cx.turn.role": "agent", "cx.turn.output.char_count": 19}
    assert spans[2].attributes == {"cx.turn.number": 2, "cx.turn.role": "customer", "cx.turn.input.char_count": 25}
    assert spans[3].attributes == {
        "cx.turn.number": 3, "cx.turn.role": "agent", "cx.turn.output.char_count": 21, "cx.turn.latency.e2e_ms": 1150,
        "cx.turn.latency.stt_ms": 140, "cx.turn.latency.llm_ms": 410, "cx.turn.latency.tts_ttfb_ms": 190,
    }  # fmt: skip
    assert spans[4].attributes == {
        "cx.handoff.from.type": "ai", "cx.handoff.to.type": "external", "cx.handoff.from.platform": "retell",
        "cx.transfer.target": "+18005550199", "cx.handoff.method": "pstn_transfer",
    }  # fmt: skip


def test_call_analyzed_outranks_call_ended_and_adds_the_analysis() -> None:
    ended, analyzed = parse("call_ended_transfer.json"), parse("call_analyzed_transfer.json")
    assert [s.key for s in analyzed] == [s.key for s in ended]
    assert {s.record_version for s in analyzed} == {3 * 10**13 + 1741083431000}
    assert analyzed[0].attributes == {**TRANSFER_ROOT, "cx.ai.intent.name": "billing"}
    started = parse("call_started.json")
    assert [shape(s) for s in started] == [
        ("conversation", "ai_conversation retell", "ai_conversation", "server", 1741083302000000000,
         1741083302000000000, None, "unset", "", 10**13 + 1741083302000),
    ]  # fmt: skip
    assert started[0].attributes == {
        "cx.direction": "inbound", "gen_ai.conversation.id": CALL, "cx.channel": "voice",
        "gen_ai.agent.id": "agent_91c0d2", "gen_ai.agent.name": "Acme support",
        "cx.telephony.ani.number": "+14155550100", "cx.telephony.dnis.number": "+14155550122",
        "cx.peer.platform.name": "twilio", "cx.peer.interaction.id": CALL_SID, "cx.journey.id": "jrn-retell-1",
        "retell.call_status": "ongoing",
    }  # fmt: skip


def test_outbound_call_resolved_by_the_agent() -> None:
    spans = parse("call_analyzed_resolved.json")
    version = 3 * 10**13 + 1741090062500
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation retell", "ai_conversation", "client", 1741090000000000000,
         1741090062500000000, None, "unset", "", version),
        ("turn-1", "turn retell", "turn", "internal", 1741090000300000000, 1741090002900000000, "conversation",
         "unset", "", version),
        ("turn-2", "turn retell", "turn", "internal", 1741090004000000000, 1741090006100000000, "conversation",
         "unset", "", version),
    ]  # fmt: skip  # turn 3 has no word timings: counted, no span
    assert spans[0].attributes == {
        "cx.direction": "outbound", "gen_ai.conversation.id": "call_a1b2c3d4e5f6", "cx.channel": "voice",
        "gen_ai.agent.id": "agent_91c0d2", "cx.telephony.ani.number": "+14155550133",
        "cx.peer.platform.name": "amazon_connect", "cx.peer.interaction.id": "c2b0c1de-0000-4000-8000-0000000000c1",
        "retell.call_status": "ended", "retell.disconnection_reason": "agent_hangup", "cx.ai.turn_count": 3,
        "cx.disconnect.reason": "ai_disconnect", "cx.disconnect.initiator": "ai", "cx.ai.outcome": "resolved",
    }  # fmt: skip


def test_customer_hanging_up_without_a_word_is_abandoned() -> None:
    spans = parse("call_ended_abandoned.json")
    assert [shape(s)[:6] for s in spans] == [
        ("conversation", "ai_conversation retell", "ai_conversation", "server", 1741091000000000000,
         1741091009000000000),
        ("turn-1", "turn retell", "turn", "internal", 1741091000400000000, 1741091002200000000),
    ]  # fmt: skip
    attributes = spans[0].attributes
    assert (attributes["cx.disconnect.reason"], attributes["cx.ai.outcome"], spans[0].status) == (
        "customer_disconnect", "abandoned", "unset")


def test_sip_routing_error_is_a_telecom_failure() -> None:
    spans = parse("call_ended_failed.json")
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation retell", "ai_conversation", "client", 1741092000000000000,
         1741092000000000000, None, "error", "sip_routing_error", 2 * 10**13 + 1741092000000),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "cx.direction": "outbound", "gen_ai.conversation.id": "call_f4f4f4f4f4f4", "cx.channel": "voice",
        "gen_ai.agent.id": "agent_91c0d2", "cx.telephony.ani.number": "+442079460000",
        "retell.call_status": "error", "retell.disconnection_reason": "sip_routing_error",
        "cx.disconnect.reason": "telecom_problem", "cx.disconnect.initiator": "network", "cx.ai.outcome": "failed",
        "error.type": "sip_routing_error",
    }  # fmt: skip


def test_minimal_call_started() -> None:
    spans = parse("call_started_minimal.json")
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation retell", "ai_conversation", "server", 1741093000000000000,
         1741093000000000000, None, "unset", "", 10**13 + 1741093000000),
    ]  # fmt: skip
    assert spans[0].attributes == {"gen_ai.conversation.id": "call_min000001", "cx.channel": "voice"}


def test_cancelled_transfer_fails_the_handoff() -> None:
    body = fixture("call_ended_transfer.json")
    body["call"]["disconnection_reason"] = "transfer_cancelled"
    spans = retell.ADAPTER.parse(body, {}).spans
    assert (spans[0].status, spans[0].attributes["cx.ai.outcome"]) == ("error", "failed")
    assert (spans[-1].span_type, spans[-1].status, spans[-1].attributes["error.type"]) == (
        "handoff", "error", "transfer_cancelled")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("user_hangup", ("customer_disconnect", "customer", "resolved", None)),
        ("inactivity", ("ai_disconnect", "ai", "abandoned", None)),
        ("dial_no_answer", ("other", "customer", None, None)),
        ("max_duration_reached", ("expired", "system", None, None)),
        ("error_llm_websocket_lost_connection", ("other", "system", "failed", "error_llm_websocket_lost_connection")),
        ("telephony_provider_unavailable", ("telecom_problem", "network", "failed", "telephony_provider_unavailable")),
        ("call_take_over", ("barged", "agent", "handoff", None)),
        ("something_new", ("other", None, None, None)),
    ],
)
def test_disconnection_reason_mapping(reason: str, expected: tuple[Any, ...]) -> None:
    ending = retell.ending(reason)
    assert (ending.disconnect, ending.initiator, ending.outcome, ending.error_type) == expected


def test_other_events_are_ignored() -> None:
    body = [{"event": "transcript_updated", "call": {"call_id": CALL}}, {"event": "transfer_started"},
            fixture("call_started.json")]  # fmt: skip
    parsed = retell.ADAPTER.parse(body, {})
    assert (len(parsed.spans), parsed.ignored) == (1, 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"call": {"call_id": "x"}}, "'event'"),
        ({"event": "call_ended"}, "'call'"),
        ({"event": "call_ended", "call": {"start_timestamp": 1741083302000}}, "'call.call_id'"),
        ({"event": "call_ended", "call": {"call_id": "x"}}, "'call.start_timestamp'"),
        ({"event": "call_ended", "call": {"call_id": "x", "start_timestamp": "soon"}}, "call.start_timestamp"),
    ],
)
def test_bad_payload_names_the_missing_field(body: Any, field: str) -> None:
    with pytest.raises(BadPayload, match=field.replace(".", r"\.")):
        retell.ADAPTER.parse(body, {})


def sign(body: bytes, key: str = API_KEY, at_ms: int | None = None) -> str:
    stamp = str(at_ms if at_ms is not None else time.time_ns() // 1_000_000)
    return f"v={stamp},d={hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()}"


def test_signature() -> None:
    body = json.dumps(fixture("call_started.json")).encode()
    now = 1741083302000
    assert retell.signature_problem(sign(body, at_ms=now), body, API_KEY, now) is None
    assert retell.signature_problem(sign(body, at_ms=now - 299_000), body, API_KEY, now) is None
    problems = [
        retell.signature_problem(sign(body, key="key_other", at_ms=now), body, API_KEY, now),
        retell.signature_problem(sign(body, at_ms=now), body + b" ", API_KEY, now),
        retell.signature_problem(sign(body, at_ms=now - 301_000), body, API_KEY, now),
        retell.signature_problem("d=abc", body, API_KEY, now),
        retell.signature_problem(None, body, API_KEY, now),
    ]
    assert problems == [
        "x-retell-signature does not match the body", "x-retell-signature does not match the body",
        "x-retell-signature timestamp is more than 5 minutes away",
        "x-retell-signature is not v=<timestamp>,d=<hex digest>", "missing x-retell-signature header",
    ]  # fmt: skip
    assert retell.verify({"X-Retell-Signature": sign(body)}, body, "", API_KEY) is None


# --- over the wire --------------------------------------------------------------------------------


def post(client: httpx.Client, server: Any, name: str, signed: bool = True) -> httpx.Response:
    body = (FIXTURES / name).read_bytes()
    headers = {"content-type": JSON} | ({"x-retell-signature": sign(body)} if signed else {})
    return client.post(f"{server.http_base}/v1/platforms/retell", content=body, headers=headers)


def test_retell_events_in_any_order_over_the_wire(server_factory, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"retell: {API_KEY}\n")
    server = server_factory("--platform-secrets", str(secrets))
    with httpx.Client(timeout=30) as http, httpx.Client(base_url=server.query_url, timeout=30) as query:
        assert post(http, server, "call_started.json", signed=False).status_code == 401
        for name, accepted in (("call_started.json", 1), ("call_analyzed_transfer.json", 5),
                               ("call_ended_transfer.json", 5), ("call_analyzed_transfer.json", 5)):  # fmt: skip
            response = post(http, server, name)
            assert (response.status_code, response.json()) == (202, {"accepted_spans": accepted, "ignored": 0}), name

        twilio = otlp_json(simple_request(
            new_trace_id(), 1, service="twilio", name="telephony twilio", start=1741083300000000000,
            attributes={"cx.platform.name": "twilio", "cx.platform.interaction.id": CALL_SID},
        ))  # fmt: skip
        sent = http.post(server.traces_url, content=json.dumps(twilio), headers={"content-type": JSON})
        assert sent.status_code == 200

        def linked() -> dict | None:
            found = query.get("/api/journeys", params={"interaction_id": CALL}).json()["journeys"]
            return found[0] if found and found[0]["interaction_count"] == 2 else None

        journey = wait_for_journey(query, wait_until(linked, what="the Retell call to join Twilio")["journey_id"], 6)
        assert [leg["platform"] for leg in journey["legs"]] == ["twilio", "retell"]
        assert {c["method"] for c in journey["correlation"]} == {"foreign_id"}
        spans = [s for s in real_spans(journey) if s["attributes"].get("cx.platform.name") == "retell"]
        assert sorted(s["attributes"]["cx.span.type"] for s in spans) == [
            "ai_conversation", "handoff", "turn", "turn", "turn"]
        root = next(s for s in spans if s["attributes"]["cx.span.type"] == "ai_conversation")
        # call_analyzed wins over the call_ended that arrived after it, and over call_started.
        assert root["attributes"]["cx.ai.intent.name"] == "billing"
        assert root["attributes"]["cx.record.version"] == 3 * 10**13 + 1741083431000
        assert (root["start_unix_nano"], root["end_unix_nano"]) == (1741083302000000000, 1741083431000000000)
        handoff = next(s for s in spans if s["attributes"]["cx.span.type"] == "handoff")
        assert handoff["attributes"]["cx.transfer.target"] == "+18005550199"
        assert "cx.transfer.target.hash" in handoff["attributes"]
