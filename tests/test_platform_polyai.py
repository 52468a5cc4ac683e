"""PolyAI Conversations API v3 records → spans: the exact spans of each fixture, bad bodies, and
over the wire a re-polled conversation joining the Amazon Connect contact named in its state."""

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
from journeytrace.receivers.platforms.adapters import _voice_ai, polyai
from journeytrace.receivers.platforms.model import BadPayload, SpanDraft

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "polyai"
HANDOFF = "CA5f0e3c1d2b4a69788776655443322110"
CONTACT = "c2b0c1de-0000-4000-8000-000000000001"


def fixture(name: str) -> Any:
    return platform_fixture("polyai", name)


def parse(name: str, **options: str) -> list[SpanDraft]:
    return parse_fixture(polyai.ADAPTER, name, **options)


shape = draft_shape


def test_handoff_conversation_from_an_api_page() -> None:
    spans = parse("handoff.json")
    assert {(s.platform, s.interaction_id) for s in spans} == {("polyai", HANDOFF)}
    assert [shape(s) for s in spans] == [
        # started_at + total_duration (142 s)
        ("conversation", "ai_conversation polyai", "ai_conversation", "server", 1741083310000000000,
         1741083452000000000, None, "unset", "", None),
        # the greeting has no customer input: it starts when the agent spoke
        ("turn-1", "turn polyai", "turn", "internal", 1741083311000000000, 1741083321000000000, "conversation",
         "unset", "", None),
        ("turn-2", "turn polyai", "turn", "internal", 1741083321000000000, 1741083400500000000, "conversation",
         "unset", "", None),
        # the last turn ends with the PolyAI portion: started_at + polyai_duration (131 s)
        ("turn-3", "turn polyai", "turn", "internal", 1741083400500000000, 1741083441000000000, "conversation",
         "unset", "", None),
        ("handoff", "handoff ai->human", "handoff", "producer", 1741083441000000000, 1741083441000000000,
         "conversation", "unset", "", None),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "gen_ai.conversation.id": HANDOFF, "cx.channel": "voice", "gen_ai.agent.id": "proj-acme",
        "polyai.environment": "live", "cx.telephony.ani.number": "+447700900123",
        "cx.telephony.dnis.number": "+442030000001", "cx.telephony.uui": "04a1b2c3",
        # the Connect ContactId written into a state variable wins over the CallSid-shaped id
        "cx.peer.platform.name": "amazon_connect", "cx.peer.interaction.id": CONTACT,
        "cx.ai.turn_count": 3, "cx.ai.intent.name": "billing_dispute", "cx.ai.outcome": "handoff",
    }  # fmt: skip
    assert [s.attributes for s in spans[1:4]] == [
        {"cx.turn.number": 1, "cx.turn.input.char_count": 0, "cx.turn.output.char_count": 46,
         "polyai.turn.is_ood": False, "polyai.turn.is_silence": False},
        {"cx.turn.number": 2, "cx.turn.input.char_count": 19, "cx.turn.output.char_count": 31,
         "cx.turn.latency.e2e_ms": 900, "cx.ai.intent.name": "billing_dispute", "polyai.turn.is_ood": False,
         "polyai.turn.is_silence": False},
        {"cx.turn.number": 3, "cx.turn.input.char_count": 10, "cx.turn.output.char_count": 41,
         "cx.turn.latency.e2e_ms": 750, "cx.ai.intent.name": "confirm", "polyai.turn.is_ood": False,
         "polyai.turn.is_silence": False},
    ]  # fmt: skip
    assert spans[4].attributes == {
        "cx.handoff.from.type": "ai", "cx.handoff.to.type": "human", "cx.handoff.from.platform": "polyai",
        "cx.transfer.target": "connect_billing", "cx.handoff.reason": "needs_human",
    }  # fmt: skip


def test_resolved_conversation_with_sip_headers_in_state() -> None:
    spans = parse("resolved.json")
    assert [shape(s)[:7] for s in spans] == [
        ("conversation", "ai_conversation polyai", "ai_conversation", "server", 1741086000250000000,
         1741086048250000000, None),
        ("turn-1", "turn polyai", "turn", "internal", 1741086001000000000, 1741086008400000000, "conversation"),
        ("turn-2", "turn polyai", "turn", "internal", 1741086008400000000, 1741086048250000000, "conversation"),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "gen_ai.conversation.id": "CAabcd1234567abcdef1250065d4fc7389", "cx.channel": "voice",
        "gen_ai.agent.id": "proj-acme", "polyai.environment": "live",
        "cx.telephony.ani.number": "+447700900456", "cx.telephony.dnis.number": "+442030000001",
        "sip.call_id": "a84b4c76e66710@pbx.example.com",
        # nothing else names a foreign ID: the CallSid-shaped conversation id is taken as Twilio's
        "cx.peer.platform.name": "twilio", "cx.peer.interaction.id": "CAabcd1234567abcdef1250065d4fc7389",
        "cx.ai.turn_count": 2, "cx.ai.intent.name": "opening_hours", "cx.ai.outcome": "resolved",
    }  # fmt: skip
    assert spans[2].attributes["polyai.turn.is_ood"] is True


def test_silent_caller_is_abandoned_and_anonymous_number_is_dropped() -> None:
    spans = parse("abandoned.json")
    assert [shape(s)[:6] for s in spans] == [
        ("conversation", "ai_conversation polyai", "ai_conversation", "server", 1741091400000000000,
         1741091419000000000),
        ("turn-1", "turn polyai", "turn", "internal", 1741091401000000000, 1741091411000000000),
        ("turn-2", "turn polyai", "turn", "internal", 1741091411000000000, 1741091419000000000),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "gen_ai.conversation.id": "conv-7d1e9f20", "cx.channel": "voice", "gen_ai.agent.id": "proj-acme",
        "polyai.environment": "live", "cx.telephony.dnis.number": "+442030000001", "cx.ai.turn_count": 2,
        "cx.ai.outcome": "abandoned",
    }  # fmt: skip
    assert spans[2].attributes["polyai.turn.is_silence"] is True


def test_in_progress_conversation_with_only_required_fields() -> None:
    spans = parse("in_progress_minimal.json")
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation polyai", "ai_conversation", "server", 1741093200000000000,
         1741093200000000000, None, "unset", "", None),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "gen_ai.conversation.id": "conv-live-0001", "cx.channel": "chat", "gen_ai.agent.id": "proj-acme",
        "polyai.environment": "sandbox",
    }  # no outcome while in progress


def test_text_only_on_request() -> None:
    spans = parse("handoff.json", include_text="true")
    assert spans[2].attributes["cx.turn.input.text"] == "I was charged twice"
    assert spans[2].attributes["cx.turn.output.text"] == "Sorry about that, let me check."
    assert "I was charged" not in json.dumps([s.attributes for s in parse("handoff.json")])


def test_sip_header_keys() -> None:
    keys = _voice_ai.correlation_keys(headers={
        "x-inin-cnv": "5e1f3a2b-7c4d-4e8f-9a0b-1c2d3e4f5a6b", "X-User-to-User": "04ab;encoding=hex",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "Call-ID": "abc@host",
    })  # fmt: skip
    assert keys == {
        "sip.call_id": "abc@host", "cx.telephony.uui": "04ab",
        "cx.journey.traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "cx.peer.platform.name": "genesys_cloud", "cx.peer.interaction.id": "5e1f3a2b-7c4d-4e8f-9a0b-1c2d3e4f5a6b",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"started_at": "2025-03-04T10:15:10Z"}, "'id'"),
        ({"id": "conv-1"}, "'started_at'"),
        ({"id": "conv-1", "started_at": "last tuesday"}, "started_at"),
        ({"conversations": [{"id": "conv-1", "started_at": "2025-03-04T10:15:10Z"}, 7]}, "must be a JSON object"),
    ],
)
def test_bad_payload_names_the_missing_field(body: Any, field: str) -> None:
    with pytest.raises(BadPayload, match=field):
        polyai.ADAPTER.parse(body, {})


def test_an_empty_page_is_no_spans() -> None:
    assert polyai.ADAPTER.parse({"conversations": [], "cursor": None}, {}).spans == []


# --- over the wire --------------------------------------------------------------------------------


def test_polled_conversation_joins_its_connect_contact(server_factory) -> None:
    server = server_factory()
    url = f"{server.http_base}/v1/platforms/polyai"
    with httpx.Client(timeout=30) as http, httpx.Client(base_url=server.query_url, timeout=30) as query:
        body = (FIXTURES / "handoff.json").read_bytes()
        for _ in range(2):  # the next poll returns the same conversation again
            response = http.post(url, content=body, headers={"content-type": JSON})
            assert (response.status_code, response.json()) == (202, {"accepted_spans": 5, "ignored": 0})
        bad = http.post(url, content=b'[{"id": "conv-9"}]', headers={"content-type": JSON})
        assert bad.status_code == 400 and "started_at" in bad.json()["error"]

        connect = otlp_json(simple_request(
            new_trace_id(), 1, service="amazon-connect", name="telephony amazon_connect", start=1741083300000000000,
            attributes={"cx.platform.name": "amazon_connect", "cx.platform.interaction.id": CONTACT},
        ))  # fmt: skip
        sent = http.post(server.traces_url, content=json.dumps(connect), headers={"content-type": JSON})
        assert sent.status_code == 200

        def linked() -> dict | None:
            found = query.get("/api/journeys", params={"interaction_id": HANDOFF}).json()["journeys"]
            return found[0] if found and found[0]["interaction_count"] == 2 else None

        journey_id = wait_until(linked, what="the PolyAI conversation to join Connect")["journey_id"]
        journey = wait_for_journey(query, journey_id, 6)
        assert [leg["platform"] for leg in journey["legs"]] == ["amazon_connect", "polyai"]
        assert [c["method"] for c in journey["correlation"]] == ["foreign_id"]
        spans = [s for s in real_spans(journey) if s["attributes"].get("cx.platform.name") == "polyai"]
        assert sorted(s["attributes"]["cx.span.type"] for s in spans) == [
            "ai_conversation", "handoff", "turn", "turn", "turn"]  # the re-poll added no duplicates
        assert {s["service_name"] for s in spans} == {"polyai"}
