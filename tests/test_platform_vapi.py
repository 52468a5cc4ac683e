"""Vapi Server URL messages → spans: the exact spans of each fixture, bad bodies, the
``x-vapi-secret`` check, and over the wire a Vapi call joining the Twilio leg it came in on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import (
    JSON, draft_shape, new_trace_id, otlp_json, parse_fixture, platform_fixture, real_spans, simple_request,
    wait_for_journey, wait_until,
)
from journeytrace.receivers.platforms.adapters import vapi
from journeytrace.receivers.platforms.model import BadPayload, SpanDraft

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "vapi"
CALL = "3c0b9d7e-5a1f-4c2b-9e8d-7f6a5b4c3d21"
CALL_SID = "CA1b2c3d4e5f60718293a4b5c6d7e8f901"
SECRET = "vapi-server-secret-1"


def fixture(name: str) -> Any:
    return platform_fixture("vapi", name)


def parse(name: str, **options: str) -> list[SpanDraft]:
    return parse_fixture(vapi.ADAPTER, name, **options)


shape = draft_shape


# --- parsing ------------------------------------------------------------------------------------


def test_end_of_call_report_with_transfer() -> None:
    spans = parse("end_of_call_report_transfer.json")
    version = 3 * 10**13 + 1741083452123
    assert {(s.platform, s.interaction_id) for s in spans} == {("vapi", CALL)}
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation vapi", "ai_conversation", "server", 1741083310210000000,
         1741083451004000000, None, "unset", "", version),
        ("turn-1", "turn vapi", "turn", "internal", 1741083311000000000, 1741083312400000000, "conversation",
         "unset", "", version),
        ("turn-2", "turn vapi", "turn", "internal", 1741083314000000000, 1741083315600000000, "conversation",
         "unset", "", version),
        ("turn-3", "turn vapi", "turn", "internal", 1741083316780000000, 1741083319900000000, "conversation",
         "unset", "", version),
        ("transfer:sip:queue-billing@cc.example.com", "handoff ai->external", "handoff", "producer",
         1741083451004000000, 1741083451004000000, "conversation", "unset", "", version),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "cx.direction": "inbound", "gen_ai.conversation.id": CALL, "cx.channel": "voice",
        "gen_ai.agent.id": "asst-billing-7", "gen_ai.agent.name": "Billing bot", "gen_ai.request.model": "gpt-4o",
        "cx.telephony.ani.number": "+14155550100", "cx.telephony.dnis.number": "+14155550111",
        "cx.peer.platform.name": "twilio", "cx.peer.interaction.id": CALL_SID,
        "vapi.ended_reason": "assistant-forwarded-call", "cx.ai.turn_count": 3, "cx.ai.interruption_count": 1,
        "cx.ai.intent.name": "billing_dispute", "cx.ai.cost_usd": 0.1432,
        "cx.disconnect.reason": "ai_disconnect", "cx.disconnect.initiator": "ai", "cx.ai.outcome": "handoff",
    }  # fmt: skip
    assert spans[1].attributes == {"cx.turn.number": 1, "cx.turn.role": "agent", "cx.turn.output.char_count": 19}
    assert spans[2].attributes == {"cx.turn.number": 2, "cx.turn.role": "customer", "cx.turn.input.char_count": 19}
    # The only latency entry answers the customer's message; the greeting has none.
    assert spans[3].attributes == {
        "cx.turn.number": 3, "cx.turn.role": "agent", "cx.turn.output.char_count": 49,
        "cx.turn.latency.e2e_ms": 1180, "cx.turn.latency.endpointing_ms": 320, "cx.turn.latency.stt_ms": 180,
        "cx.turn.latency.tts_ttfb_ms": 260, "cx.turn.latency.llm_ms": 420,
    }  # fmt: skip
    assert spans[4].attributes == {
        "cx.handoff.from.type": "ai", "cx.handoff.to.type": "external", "cx.handoff.from.platform": "vapi",
        "cx.transfer.target": "sip:queue-billing@cc.example.com", "cx.handoff.mode": "cold",
        "cx.handoff.method": "sip_refer", "cx.telephony.uui": "04a1b2c3d4", "cx.journey.id": "jrn-7f3a",
    }  # fmt: skip


def test_transcript_text_is_recorded_only_on_request() -> None:
    assert not any("cx.turn.input.text" in s.attributes or "cx.turn.output.text" in s.attributes
                   for s in parse("end_of_call_report_transfer.json"))  # fmt: skip
    spans = parse("end_of_call_report_transfer.json", include_text="true")
    assert spans[1].attributes["cx.turn.output.text"] == "Hi, how can I help?"
    assert spans[2].attributes["cx.turn.input.text"] == "I was charged twice"


def test_end_of_call_report_resolved_with_untimed_turn_and_transport_call_sid() -> None:
    spans = parse("end_of_call_report_resolved.json")
    version = 3 * 10**13 + 1741087300500
    assert [shape(s)[:7] for s in spans] == [
        ("conversation", "ai_conversation vapi", "ai_conversation", "server", 1741087200000000000,
         1741087290000000000, None),
        ("turn-1", "turn vapi", "turn", "internal", 1741087200400000000, 1741087201900000000, "conversation"),
        ("turn-2", "turn vapi", "turn", "internal", 1741087204000000000, 1741087205500000000, "conversation"),
        ("turn-3", "turn vapi", "turn", "internal", 1741087206600000000, 1741087207800000000, "conversation"),
        # No "time": placed by secondsFromStart from startedAt, zero-length.
        ("turn-4", "turn vapi", "turn", "internal", 1741087209000000000, 1741087209000000000, "conversation"),
        ("turn-5", "turn vapi", "turn", "internal", 1741087211200000000, 1741087211900000000, "conversation"),
    ]  # fmt: skip
    assert {s.record_version for s in spans} == {version}
    assert spans[0].attributes == {
        "cx.direction": "inbound", "gen_ai.conversation.id": "9a8b7c6d-0000-4000-8000-00000000aa01",
        "cx.channel": "voice", "cx.telephony.ani.number": "+14155550142", "cx.telephony.dnis.number": "+14155550111",
        "cx.peer.platform.name": "twilio", "cx.peer.interaction.id": "CA0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "cx.journey.id": "jrn-resolved-1", "vapi.ended_reason": "assistant-ended-call", "cx.ai.turn_count": 5,
        "cx.ai.interruption_count": 1, "cx.ai.intent.name": "order_status", "cx.ai.cost_usd": 0.0921,
        "cx.disconnect.reason": "ai_disconnect", "cx.disconnect.initiator": "ai", "cx.ai.outcome": "resolved",
    }  # fmt: skip
    # Latency entry k goes to the k-th answer to the customer; the greeting (turn 1) has none.
    assert [s.attributes.get("cx.turn.latency.e2e_ms") for s in spans[1:]] == [None, None, 1100, None, 1150]


def test_customer_hanging_up_before_saying_anything_is_abandoned() -> None:
    spans = parse("end_of_call_report_abandoned.json")
    assert [shape(s)[:6] for s in spans] == [
        ("conversation", "ai_conversation vapi", "ai_conversation", "server", 1741088980000000000, 1741088992000000000),
        ("turn-1", "turn vapi", "turn", "internal", 1741088980500000000, 1741088983000000000),
    ]  # fmt: skip
    root = spans[0]
    assert root.status == "unset"
    assert {k: root.attributes[k] for k in ("cx.disconnect.reason", "cx.disconnect.initiator", "cx.ai.outcome")} == {
        "cx.disconnect.reason": "customer_disconnect", "cx.disconnect.initiator": "customer",
        "cx.ai.outcome": "abandoned",
    }  # fmt: skip


def test_failed_transfer_is_an_error_on_the_root_and_the_handoff() -> None:
    spans = parse("end_of_call_report_failed.json")
    version = 3 * 10**13 + 1741090900000
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation vapi", "ai_conversation", "client", 1741090800000000000,
         1741090860000000000, None, "error", "call.in-progress.error-transfer-failed", version),
        ("transfer:+18005550199", "handoff ai->external", "handoff", "producer", 1741090860000000000,
         1741090860000000000, "conversation", "error", "transfer_failed", version),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "cx.direction": "outbound", "gen_ai.conversation.id": "9a8b7c6d-0000-4000-8000-00000000ac03",
        "cx.channel": "voice", "cx.telephony.ani.number": "+14155550188",
        "cx.peer.platform.name": "vonage", "cx.peer.interaction.id": "vonage-conv-uuid-01",
        "vapi.ended_reason": "call.in-progress.error-transfer-failed", "cx.disconnect.reason": "other",
        "cx.disconnect.initiator": "system", "cx.ai.outcome": "failed",
        "error.type": "call.in-progress.error-transfer-failed",
    }  # fmt: skip
    assert spans[1].attributes == {
        "cx.handoff.from.type": "ai", "cx.handoff.to.type": "external", "cx.handoff.from.platform": "vapi",
        "cx.transfer.target": "+18005550199", "error.type": "transfer_failed", "cx.handoff.mode": "warm",
        "cx.handoff.method": "pstn_transfer",
    }  # fmt: skip


def test_status_updates_and_transfer_update() -> None:
    ringing = parse("status_update_minimal.json")
    assert [shape(s) for s in ringing] == [
        ("conversation", "ai_conversation vapi", "ai_conversation", "server", 1741083309002000000,
         1741083309500000000, None, "unset", "", 10**13 + 1741083309500),
    ]  # fmt: skip
    assert ringing[0].attributes == {"gen_ai.conversation.id": CALL, "cx.channel": "voice", "vapi.status": "ringing"}

    ended = parse("status_update_ended.json")[0]
    assert (ended.start_unix_nano, ended.end_unix_nano, ended.record_version) == (
        1741083310210000000, 1741083451004000000, 10**13 + 1741083451500)
    assert ended.attributes["cx.ai.outcome"] == "handoff" and ended.attributes["vapi.status"] == "ended"

    transfer = parse("transfer_update.json")
    assert [shape(s) for s in transfer] == [
        ("transfer:sip:queue-billing@cc.example.com", "handoff ai->external", "handoff", "producer",
         1741083450800000000, 1741083450800000000, "conversation", "unset", "", 2 * 10**13 + 1741083450800),
    ]  # fmt: skip
    # Same key as the report's handoff, so the report (a higher version) replaces it.
    assert transfer[0].key == parse("end_of_call_report_transfer.json")[-1].key


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("customer-ended-call", ("customer_disconnect", "customer", "resolved", None)),
        ("assistant-ended-call-after-message-spoken", ("ai_disconnect", "ai", "resolved", None)),
        ("silence-timed-out", ("ai_disconnect", "ai", "abandoned", None)),
        ("customer-did-not-answer", ("other", "customer", None, None)),
        ("exceeded-max-duration", ("expired", "system", None, None)),
        ("phone-call-provider-closed-websocket",
         ("telecom_problem", "network", "failed", "phone-call-provider-closed-websocket")),
        ("call.in-progress.error-providerfault-outbound-sip-503-service-unavailable",
         ("telecom_problem", "network", "failed",
          "call.in-progress.error-providerfault-outbound-sip-503-service-unavailable")),
        ("pipeline-error-openai-llm-failed", ("other", "system", "failed", "pipeline-error-openai-llm-failed")),
        ("call.in-progress.error-warm-transfer-max-duration",
         ("other", "system", "failed", "call.in-progress.error-warm-transfer-max-duration")),
        ("customer-ended-call-during-transfer", ("customer_disconnect", "customer", "abandoned", None)),
        ("some-future-reason", ("other", None, None, None)),
    ],
)  # fmt: skip
def test_ended_reason_mapping(reason: str, expected: tuple[Any, ...]) -> None:
    ending = vapi.ending(reason)
    assert (ending.disconnect, ending.initiator, ending.outcome, ending.error_type) == expected


def test_other_message_types_are_ignored() -> None:
    body = [{"message": {"type": "speech-update", "status": "started", "role": "user"}},
            {"message": {"type": "conversation-update"}}, fixture("status_update_minimal.json")]  # fmt: skip
    parsed = vapi.ADAPTER.parse(body, {})
    assert (len(parsed.spans), parsed.ignored) == (1, 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "end-of-call-report"}, "'message'"),
        ({"message": {"call": {"id": "x"}}}, "'message.type'"),
        ({"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call"}}, "'message.call'"),
        ({"message": {"type": "status-update", "call": {"type": "inboundPhoneCall"}}}, "'message.call.id'"),
        ({"message": {"type": "status-update", "call": {"id": "x"}}}, "'message.call.createdAt'"),
        ({"message": {"type": "transfer-update", "call": {"id": "x"}, "destination": {}}}, "'message.timestamp'"),
    ],
)
def test_bad_payload_names_the_missing_field(body: Any, field: str) -> None:
    with pytest.raises(BadPayload, match=field.replace(".", r"\.")):
        vapi.ADAPTER.parse(body, {})


def test_a_bad_message_in_a_batch_rejects_the_whole_batch() -> None:
    with pytest.raises(BadPayload, match="message.call"):
        vapi.ADAPTER.parse([fixture("status_update_minimal.json"), {"message": {"type": "status-update"}}], {})


def test_bad_timestamp_is_a_bad_payload() -> None:
    body = fixture("status_update_minimal.json")
    body["message"]["call"]["createdAt"] = "yesterday"
    with pytest.raises(BadPayload, match="call.createdAt"):
        vapi.ADAPTER.parse(body, {})


def test_secret_header() -> None:
    body = b"{}"
    assert vapi.verify({"x-vapi-secret": SECRET}, body, "", SECRET) is None
    assert vapi.verify({"X-Vapi-Secret": SECRET}, body, "", SECRET) is None
    assert vapi.verify({"authorization": f"Bearer {SECRET}"}, body, "", SECRET) is None
    wrong = vapi.verify({"x-vapi-secret": "guess"}, body, "", SECRET)
    missing = vapi.verify({}, body, "", SECRET)
    assert wrong == "x-vapi-secret does not match" and missing == "missing x-vapi-secret header"
    assert SECRET not in wrong + missing


# --- over the wire --------------------------------------------------------------------------------


def post(client: httpx.Client, server: Any, name_or_body: str | Any, secret: str | None = SECRET) -> httpx.Response:
    body = fixture(name_or_body) if isinstance(name_or_body, str) else name_or_body
    headers = {"content-type": JSON} | ({"x-vapi-secret": secret} if secret is not None else {})
    return client.post(f"{server.http_base}/v1/platforms/vapi", content=json.dumps(body), headers=headers)


def test_vapi_call_joins_its_twilio_leg_over_the_wire(server_factory, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"vapi: {SECRET!r}\n")
    server = server_factory("--platform-secrets", str(secrets))
    with httpx.Client(timeout=30) as http, httpx.Client(base_url=server.query_url, timeout=30) as query:
        assert post(http, server, "status_update_minimal.json", secret=None).status_code == 401
        assert post(http, server, "status_update_minimal.json", secret="guess").status_code == 401

        ringing = post(http, server, "status_update_minimal.json")
        assert (ringing.status_code, ringing.json()) == (202, {"accepted_spans": 1, "ignored": 0})
        report = post(http, server, "end_of_call_report_transfer.json")
        assert (report.status_code, report.json()) == (202, {"accepted_spans": 5, "ignored": 0})
        # A status update that arrives after the report is older: it must not replace the root.
        late = post(http, server, "status_update_ended.json")
        assert (late.status_code, late.json()) == (202, {"accepted_spans": 1, "ignored": 0})
        again = post(http, server, "end_of_call_report_transfer.json")  # a re-delivery
        assert again.json() == {"accepted_spans": 5, "ignored": 0}
        speech = post(http, server, {"message": {"type": "speech-update", "status": "started"}})
        assert (speech.status_code, speech.json()) == (202, {"accepted_spans": 0, "ignored": 1})
        bad = post(http, server, {"message": {"type": "end-of-call-report", "call": {"type": "webCall"}}})
        assert bad.status_code == 400 and "message.call.id" in bad.json()["error"]

        # The Twilio leg the call came in on, as any OTLP exporter would send it.
        twilio_start = 1741083307000000000
        twilio = otlp_json(simple_request(
            new_trace_id(), 1, service="twilio", name="telephony twilio", start=twilio_start,
            attributes={"cx.platform.name": "twilio", "cx.platform.interaction.id": CALL_SID},
        ))  # fmt: skip
        sent = http.post(server.traces_url, content=json.dumps(twilio), headers={"content-type": JSON})
        assert sent.status_code == 200

        def linked() -> dict | None:
            found = query.get("/api/journeys", params={"interaction_id": CALL}).json()["journeys"]
            return found[0] if found and found[0]["interaction_count"] == 2 else None

        journey_id = wait_until(linked, what="the Vapi call to join the Twilio leg")["journey_id"]
        journey = wait_for_journey(query, journey_id, 6)
        assert [leg["platform"] for leg in journey["legs"]] == ["twilio", "vapi"]
        assert [(c["method"], c["confidence"]) for c in journey["correlation"]] == [("foreign_id", 0.95)]
        assert journey["outcome"] is None  # a handoff to a leg not (yet) reported states no outcome
        spans = [s for s in real_spans(journey) if s["attributes"].get("cx.platform.name") == "vapi"]
        assert sorted(s["attributes"]["cx.span.type"] for s in spans) == [
            "ai_conversation", "handoff", "turn", "turn", "turn"]  # no duplicates after the re-delivery
        root = next(s for s in spans if s["attributes"]["cx.span.type"] == "ai_conversation")
        assert root["attributes"]["cx.ai.turn_count"] == 3  # the report's root, not the late status update
        assert "vapi.status" not in root["attributes"]
        assert "cx.telephony.ani.number" not in root["attributes"] and "cx.telephony.ani.hash" in root["attributes"]
        turn_parents = {s["parent_span_id"] for s in spans if s["attributes"]["cx.span.type"] == "turn"}
        assert turn_parents == {root["span_id"]}
