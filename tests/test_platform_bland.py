"""Bland AI call objects → spans: the exact spans of each fixture, bad bodies, and over the
wire a transferred call joining the next leg by customer number, transfer target and time."""

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
from journeytrace.receivers.platforms.adapters import bland
from journeytrace.receivers.platforms.model import BadPayload, SpanDraft

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "bland"
COMPLETED = "0f2e7c1a-4b3d-4e5f-8a9b-0c1d2e3f4a5b"
TRANSFERRED = "5d6e7f80-1a2b-4c3d-9e8f-7a6b5c4d3e2f"


def fixture(name: str) -> Any:
    return platform_fixture("bland", name)


def parse(name: str, **options: str) -> list[SpanDraft]:
    return parse_fixture(bland.ADAPTER, name, **options)


shape = draft_shape


def test_completed_call() -> None:
    spans = parse("completed.json")
    assert {(s.platform, s.interaction_id) for s in spans} == {("bland", COMPLETED)}
    assert [shape(s) for s in spans] == [
        # started_at + corrected_duration (61 s)
        ("conversation", "ai_conversation bland", "ai_conversation", "server", 1741083304000000000,
         1741083365000000000, None, "unset", "", None),
        # transcripts in created_at order (they arrive out of order); the agent-action entry is no turn
        ("turn-1", "turn bland", "turn", "internal", 1741083306300000000, 1741083312750000000, "conversation",
         "unset", "", None),
        ("turn-2", "turn bland", "turn", "internal", 1741083312750000000, 1741083331000000000, "conversation",
         "unset", "", None),
        ("turn-3", "turn bland", "turn", "internal", 1741083331000000000, 1741083365000000000, "conversation",
         "unset", "", None),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "cx.direction": "inbound", "gen_ai.conversation.id": COMPLETED, "cx.channel": "voice",
        "gen_ai.agent.id": "pw-hotel-booking", "cx.telephony.ani.number": "+14155550100",
        "cx.telephony.dnis.number": "+14155550111", "sip.call_id": "7a9f2c@sbc.example.com",
        "cx.journey.id": "jrn-bland-1", "bland.call_ended_by": "ASSISTANT", "bland.status": "completed",
        "bland.answered_by": "human", "cx.ai.turn_count": 3, "cx.ai.intent.name": "book_room",
        "cx.ai.cost_usd": 0.068, "cx.disconnect.reason": "ai_disconnect", "cx.disconnect.initiator": "ai",
        "cx.ai.outcome": "resolved",
    }  # fmt: skip
    assert [s.attributes for s in spans[1:]] == [
        {"cx.turn.number": 1, "cx.turn.role": "agent", "cx.turn.output.char_count": 24},
        {"cx.turn.number": 2, "cx.turn.role": "customer", "cx.turn.input.char_count": 30},
        {"cx.turn.number": 3, "cx.turn.role": "agent", "cx.turn.output.char_count": 7},
    ]
    text = parse("completed.json", include_text="1")
    assert text[2].attributes["cx.turn.input.text"] == "I'd like three rooms tomorrow."
    assert all("Acme" not in json.dumps(s.attributes) for s in spans)  # no transcript or summary text by default


def test_transferred_outbound_call() -> None:
    spans = parse("transferred.json")
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation bland", "ai_conversation", "client", 1741083603000000000,
         1741083729000000000, None, "unset", "", None),
        ("turn-1", "turn bland", "turn", "internal", 1741083605000000000, 1741083611000000000, "conversation",
         "unset", "", None),
        ("turn-2", "turn bland", "turn", "internal", 1741083611000000000, 1741083614000000000, "conversation",
         "unset", "", None),
        # the last AI turn ends at the transfer, not at the end of the whole call
        ("turn-3", "turn bland", "turn", "internal", 1741083614000000000, 1741083720000000000, "conversation",
         "unset", "", None),
        ("transfer", "handoff ai->external", "handoff", "producer", 1741083720000000000, 1741083720000000000,
         "conversation", "unset", "", None),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "cx.direction": "outbound", "gen_ai.conversation.id": TRANSFERRED, "cx.channel": "voice",
        # "to" came without its country code; variables.to has it.
        "cx.telephony.ani.number": "+14155550123", "bland.call_ended_by": "USER", "bland.status": "completed",
        "bland.answered_by": "human", "cx.ai.turn_count": 3, "cx.ai.cost_usd": 0.21,
        "cx.disconnect.reason": "customer_disconnect", "cx.disconnect.initiator": "customer",
        "cx.ai.outcome": "handoff",
    }  # fmt: skip
    assert spans[3].attributes["cx.turn.role"] == "agent"  # "robot" is the AI side
    assert spans[4].attributes == {
        "cx.handoff.from.type": "ai", "cx.handoff.to.type": "external", "cx.handoff.from.platform": "bland",
        "cx.transfer.target": "+18005550199", "cx.handoff.method": "pstn_transfer",
    }  # fmt: skip


def test_customer_hanging_up_without_a_word_is_abandoned() -> None:
    spans = parse("abandoned.json")
    assert [shape(s)[:6] for s in spans] == [
        ("conversation", "ai_conversation bland", "ai_conversation", "server", 1741086001000000000,
         1741086010000000000),
        ("turn-1", "turn bland", "turn", "internal", 1741086002500000000, 1741086010000000000),
    ]  # fmt: skip
    assert {k: spans[0].attributes[k] for k in ("cx.disconnect.reason", "cx.ai.outcome")} == {
        "cx.disconnect.reason": "customer_disconnect", "cx.ai.outcome": "abandoned"}


def test_failed_call_is_an_error() -> None:
    spans = parse("failed.json")
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation bland", "ai_conversation", "client", 1741089600500000000,
         1741089600500000000, None, "error", "call_failed", None),
    ]  # fmt: skip
    assert spans[0].attributes == {
        "cx.direction": "outbound", "gen_ai.conversation.id": "f0f0f0f0-0000-4000-8000-0000000000ff",
        "cx.channel": "voice", "cx.telephony.ani.number": "+14155550199", "bland.status": "failed",
        "cx.disconnect.reason": "other", "cx.disconnect.initiator": "system", "cx.ai.outcome": "failed",
        "error.type": "call_failed",
    }  # fmt: skip
    assert "Carrier" not in json.dumps(spans[0].attributes)  # the free-text error message is not copied


def test_minimal_call_in_a_list_response() -> None:
    spans = parse("minimal.json")
    assert [shape(s) for s in spans] == [
        ("conversation", "ai_conversation bland", "ai_conversation", "server", 1741093200000000000,
         1741093200000000000, None, "unset", "", None),
    ]  # fmt: skip
    # c_id stands in for call_id; no end, no outcome while the call has not completed.
    assert spans[0].attributes == {
        "gen_ai.conversation.id": "b1b1b1b1-0000-4000-8000-0000000000b1", "cx.channel": "voice"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"status": "no-answer", "call_ended_by": None}, ("other", "customer", None, None)),
        ({"answered_by": "voicemail"}, ("ai_disconnect", "ai", None, None)),
        ({"completed": False, "call_ended_by": None, "status": "in-progress"}, None),
    ],
)
def test_ending(changes: dict[str, Any], expected: tuple[Any, ...] | None) -> None:
    call = {**fixture("completed.json"), **changes}
    ending = bland.ending(call)
    found = None if ending is None else (ending.disconnect, ending.initiator, ending.outcome, ending.error_type)
    assert found == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"created_at": "2025-03-04T10:15:02+00:00"}, "'call_id'"),
        ({"call_id": "x"}, "'started_at'"),
        ({"call_id": "x", "started_at": "not a time"}, "started_at"),
        ("a string", "bland call must be a JSON object"),
    ],
)
def test_bad_payload_names_the_missing_field(body: Any, field: str) -> None:
    with pytest.raises(BadPayload, match=field):
        bland.ADAPTER.parse(body, {})


def test_one_bad_call_rejects_the_batch() -> None:
    with pytest.raises(BadPayload, match="call_id"):
        bland.ADAPTER.parse([fixture("completed.json"), {"started_at": "2025-03-04T10:15:02+00:00"}], {})


# --- over the wire --------------------------------------------------------------------------------


def test_transferred_bland_call_joins_the_next_leg_by_number_and_time(server_factory) -> None:
    server = server_factory()
    url = f"{server.http_base}/v1/platforms/bland"
    with httpx.Client(timeout=30) as http, httpx.Client(base_url=server.query_url, timeout=30) as query:
        body = (FIXTURES / "transferred.json").read_bytes()
        for _ in range(2):  # the second post is a re-delivery
            response = http.post(url, content=body, headers={"content-type": JSON})
            assert (response.status_code, response.json()) == (202, {"accepted_spans": 5, "ignored": 0})
        bad = http.post(url, content=b'{"call_id": "x"}', headers={"content-type": JSON})
        assert bad.status_code == 400 and "started_at" in bad.json()["error"]

        # The human leg the customer was transferred to: same customer, dialled = Bland's target,
        # starting 4 s after the transfer.
        next_leg = otlp_json(simple_request(
            new_trace_id(), 1, service="contact-center", name="agent call", start=1741083724000000000,
            attributes={"cx.platform.name": "genesys_cloud", "cx.platform.interaction.id": "conv-after-bland",
                        "cx.telephony.ani.number": "+14155550123", "cx.telephony.dnis.number": "+18005550199"},
        ))  # fmt: skip
        sent = http.post(server.traces_url, content=json.dumps(next_leg), headers={"content-type": JSON})
        assert sent.status_code == 200

        def linked() -> dict | None:
            found = query.get("/api/journeys", params={"interaction_id": TRANSFERRED}).json()["journeys"]
            return found[0] if found and found[0]["interaction_count"] == 2 else None

        journey = wait_for_journey(query, wait_until(linked, what="the phone + time link")["journey_id"], 6)
        assert [leg["platform"] for leg in journey["legs"]] == ["bland", "genesys_cloud"]
        assert [c["method"] for c in journey["correlation"]] == ["ani_time"]
        spans = [s for s in real_spans(journey) if s["attributes"].get("cx.platform.name") == "bland"]
        assert sorted(s["attributes"]["cx.span.type"] for s in spans) == [
            "ai_conversation", "handoff", "turn", "turn", "turn"]  # no duplicates after the re-delivery
        # Bland reported its own handoff span, so no synthetic one is added between the legs.
        assert not [s for s in journey["spans"] if s.get("synthetic") and s["name"].startswith("handoff")]
