"""The insight rule engine: every rule with journeys that must and must not trigger it (thresholds
at their boundaries), configuration, determinism, re-check times, and the 40 real fixtures."""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from journeytrace.correlator.analysis.insights import (
    RULES,
    Context,
    InsightConfig,
    InsightConfigError,
    evaluate,
)
from journeytrace.correlator.analysis.model import SEVERITIES, Evaluation, Insight

S = 1_000_000_000
T0 = 1_800_000_000 * S
ROOT = "f" * 16
FIXTURES = sorted((Path(__file__).parent / "fixtures" / "journeys").glob("*.json"))
CUSTOMER = "+14155550100"


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


class Journey:
    """Builds a journey dict shaped like ``GET /api/journeys/{id}``: a synthetic root, legs from the
    interactions in start order (consecutive ones on one platform merged), leg numbers on tops."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []

    def span(self, kind: str, start_s: float, end_s: float | None = None, attrs: dict[str, Any] | None = None, *,
             platform: str | None = "vapi", interaction: str = "i-1", parent: str | None = None,
             error: str | None = None, events: tuple[tuple[str, float], ...] = ()) -> str:  # fmt: skip
        span_id = f"{len(self.spans) + 1:016x}"
        attributes: dict[str, Any] = {"cx.span.type": kind}
        if platform is not None:
            attributes |= {"cx.platform.name": platform, "cx.platform.interaction.id": interaction}
        attributes |= attrs or {}
        self.spans.append({
            "trace_id": "ab" * 16, "span_id": span_id, "parent_span_id": parent, "name": f"{kind} {platform}",
            "kind": "SPAN_KIND_INTERNAL", "service_name": platform or "otel",
            "start_unix_nano": at(start_s), "end_unix_nano": at(start_s if end_s is None else end_s),
            "status_code": "STATUS_CODE_ERROR" if error else "STATUS_CODE_UNSET", "status_message": error or "",
            "attributes": attributes, "resource_attributes": {"service.name": platform or "otel"},
            "events": [{"time_unix_nano": at(t), "name": name, "attributes": {}} for name, t in events], "links": [],
        })  # fmt: skip
        return span_id

    def synthetic_handoff(self, source: str, target: str, start_s: float, end_s: float, latency_ms: int) -> str:
        span_id = self.span("handoff", start_s, end_s, {
            "cx.handoff.from.platform": source, "cx.handoff.to.platform": target,
            "cx.handoff.latency_ms": latency_ms, "cx.handoff.synthetic": True}, platform=None)  # fmt: skip
        self.spans[-1]["synthetic"] = True
        return span_id

    def build(self) -> dict[str, Any]:
        spans = copy.deepcopy(self.spans)
        real = [s for s in spans if not s.get("synthetic")]
        starts: dict[tuple[str, str], int] = {}
        for s in real:
            key = (s["attributes"].get("cx.platform.name", "otel"), s["attributes"].get("cx.platform.interaction.id", s["trace_id"]))
            starts[key] = min(starts.get(key, s["start_unix_nano"]), s["start_unix_nano"])
        legs: list[dict[str, Any]] = []
        for key, begin in sorted(starts.items(), key=lambda item: (item[1], item[0])):
            if legs and legs[-1]["platform"] == key[0]:
                legs[-1]["interaction_ids"].append(key[1])
            else:
                legs.append({"leg": len(legs) + 1, "platform": key[0], "interaction_ids": [key[1]],
                             "start_unix_nano": begin, "end_unix_nano": begin})  # fmt: skip
        leg_of = {(leg["platform"], i): leg["leg"] for leg in legs for i in leg["interaction_ids"]}
        for s in spans:
            if s["parent_span_id"] is None:
                s["parent_span_id"] = ROOT
                if not s.get("synthetic"):
                    key = (s["attributes"].get("cx.platform.name", "otel"), s["attributes"].get("cx.platform.interaction.id", s["trace_id"]))
                    s["attributes"]["cx.leg.number"] = leg_of[key]
        begin = min((s["start_unix_nano"] for s in spans), default=T0)
        finish = max((s["end_unix_nano"] for s in spans), default=T0)
        root = {"trace_id": "ab" * 16, "span_id": ROOT, "parent_span_id": None, "name": "journey",
                "kind": "SPAN_KIND_INTERNAL", "service_name": "journeytrace", "start_unix_nano": begin,
                "end_unix_nano": finish, "status_code": "STATUS_CODE_UNSET", "status_message": "",
                "attributes": {"cx.span.type": "journey", "cx.journey.id": "ab" * 16, "cx.journey.leg_count": len(legs)},
                "resource_attributes": {"service.name": "journeytrace"}, "events": [], "links": [], "synthetic": True}  # fmt: skip
        platforms = [leg["platform"] for leg in legs]
        return {"journey_id": "ab" * 16, "start_unix_nano": begin, "end_unix_nano": finish,
                "duration_nano": finish - begin, "status": "complete", "leg_count": len(legs), "platforms": platforms,
                "services": sorted({s["service_name"] for s in spans}), "interaction_count": len(starts),
                "customer_phone_hash": "c0ffee", "outcome": None, "updated_unix_nano": finish, "legs": legs,
                "correlation": [], "spans": [root, *spans]}  # fmt: skip


def run(journey: dict[str, Any], *, now_s: float = 100_000, config: InsightConfig | None = None,
        previous_s: float | None = None) -> Evaluation:  # fmt: skip
    context = Context(now_unix_nano=at(now_s), previous_journey_id=None if previous_s is None else "cd" * 16,
                      previous_journey_start_unix_nano=None if previous_s is None else at(previous_s))  # fmt: skip
    return evaluate(journey, context) if config is None else evaluate(journey, context, config)


def of(evaluation: Evaluation, rule: str) -> list[Insight]:
    return [i for i in evaluation.insights if i.rule == rule]


def one(evaluation: Evaluation, rule: str) -> Insight:
    found = of(evaluation, rule)
    assert len(found) == 1, (rule, evaluation.insights)
    return found[0]


def config(**sections: dict[str, Any]) -> InsightConfig:
    return InsightConfig.from_mapping(sections)


# --- journey shapes ------------------------------------------------------------------------------------


def ai_then_connect(*, drop_after: float | None = None, queue: float | None = None, gap: float = 2.0,
                    agent: bool = False, handoff: dict[str, Any] | None = None) -> Journey:  # fmt: skip
    """A PolyAI conversation handing off at 60 s; an Amazon Connect contact ``gap`` seconds later
    (IVR, then optionally a queue of ``queue`` seconds and an agent), dropping after ``drop_after``."""
    j = Journey()
    conversation = j.span("ai_conversation", 0, 62, {"cx.ai.outcome": "handoff"}, platform="polyai", interaction="p")
    j.span("handoff", 60, 60, {"cx.handoff.from.type": "ai", "cx.handoff.to.type": "human",
                                "cx.transfer.target": CUSTOMER, **(handoff or {})},
           platform="polyai", interaction="p", parent=conversation)  # fmt: skip
    begin = 60 + gap
    finish = begin + (drop_after if drop_after is not None else 600)
    root_attrs = {"cx.disconnect.reason": "telecom_problem" if drop_after is not None else "customer_disconnect"}
    root = j.span("telephony", begin, finish, root_attrs, platform="amazon_connect", interaction="c",
                  error="TELECOM_PROBLEM" if drop_after is not None else None)  # fmt: skip
    ivr_end = begin + 5 if queue is not None else finish
    j.span("ivr", begin, ivr_end, platform="amazon_connect", interaction="c", parent=root)
    if queue is not None:
        exit_reason = "answered" if agent else None
        j.span("queue", ivr_end, ivr_end + queue, {"cx.queue.name": "Billing", "cx.queue.exit_reason": exit_reason},
               platform="amazon_connect", interaction="c", parent=root)  # fmt: skip
        if agent:
            j.span("agent_interaction", ivr_end + queue + 1, finish, {"cx.agent.id": "a-jones"},
                   platform="amazon_connect", interaction="c", parent=root)  # fmt: skip
    return j


def conversation(turns: list[tuple[str | None, float, float, dict[str, Any]]], *, platform: str = "vapi",
                 attrs: dict[str, Any] | None = None) -> tuple[Journey, str]:  # fmt: skip
    """One AI conversation with ``(role, start, end, attributes)`` turns."""
    j = Journey()
    end_s = max((t[2] for t in turns), default=10) + 2
    root = j.span("ai_conversation", 0, end_s, attrs or {}, platform=platform, interaction="conv")
    for number, (who, begin, finish, extra) in enumerate(turns, 1):
        role = {"cx.turn.role": who} if who else {}
        j.span("turn", begin, finish, {"cx.turn.number": number, **role, **extra}, platform=platform,
               interaction="conv", parent=root)  # fmt: skip
    return j, root


def audio_span(attrs: dict[str, Any], *, kind: str = "telephony", platform: str = "twilio") -> dict[str, Any]:
    j = Journey()
    j.span(kind, 0, 300, attrs, platform=platform, interaction="call")
    return j.build()


# --- technical: drops and handoffs --------------------------------------------------------------------------


def test_call_dropped_during_transfer_on_the_receiving_side() -> None:
    evaluation = run(ai_then_connect(drop_after=3).build())
    insight = one(evaluation, "call_dropped_during_transfer")
    assert insight.severity == "critical" and insight.platform == "amazon_connect" and insight.value == 3.0
    assert "Amazon Connect" in insight.explanation
    assert not of(evaluation, "call_dropped") and not of(evaluation, "handoff_failed")


@pytest.mark.parametrize(("drop_after", "during"), [(30.0, True), (30.5, False)])
def test_receiving_side_drop_window_boundary(drop_after: float, during: bool) -> None:
    evaluation = run(ai_then_connect(drop_after=drop_after).build())
    assert bool(of(evaluation, "call_dropped_during_transfer")) is during
    assert bool(of(evaluation, "call_dropped")) is not during


def test_a_drop_after_the_queue_picked_the_call_up_is_not_during_the_transfer() -> None:
    evaluation = run(ai_then_connect(drop_after=20, queue=10).build())
    assert not of(evaluation, "call_dropped_during_transfer")
    insight = one(evaluation, "call_dropped")
    assert "while waiting in queue Billing" in insight.explanation and insight.queue == "Billing"


def connect_transfer_that_drops(drop_at: float) -> Journey:
    """Connect transfers out of its IVR at 10 s (a LiveKit SIP agent that never answers); the contact
    then drops at ``drop_at``."""
    j = Journey()
    root = j.span("telephony", 0, drop_at, {"cx.disconnect.reason": "telecom_problem"}, platform="amazon_connect",
                  interaction="c", error="TELECOM_PROBLEM")  # fmt: skip
    j.span("ivr", 0, 10, {"cx.ivr.outcome": "handoff", "cx.transfer.target": "+18005550150"},
           platform="amazon_connect", interaction="c", parent=root, events=(("cx.transfer", 10),))  # fmt: skip
    return j


def test_call_dropped_during_transfer_on_the_sending_side_explains_the_missing_leg() -> None:
    evaluation = run(connect_transfer_that_drops(14).build())
    insight = one(evaluation, "call_dropped_during_transfer")
    assert insight.span_id == "0000000000000001" and insight.value == 4.0
    assert not of(evaluation, "handoff_failed") and not of(evaluation, "call_dropped")
    assert evaluation.recheck_at_unix_nano is None


def test_sending_side_drop_long_after_the_transfer_is_a_failed_handoff_and_a_plain_drop() -> None:
    evaluation = run(connect_transfer_that_drops(41).build())
    assert not of(evaluation, "call_dropped_during_transfer")
    assert one(evaluation, "handoff_failed").severity == "warning"
    assert one(evaluation, "call_dropped").severity == "critical"


def test_disabling_the_transfer_drop_rule_reports_the_drop_as_a_plain_drop() -> None:
    evaluation = run(ai_then_connect(drop_after=3).build(), config=config(call_dropped_during_transfer={"enabled": False}))
    assert not of(evaluation, "call_dropped_during_transfer")
    assert one(evaluation, "call_dropped").platform == "amazon_connect"


def test_call_dropped_in_an_ai_conversation() -> None:
    j = Journey()
    j.span("ai_conversation", 0, 40, {"cx.disconnect.reason": "telecom_problem", "cx.ai.outcome": "failed"},
           error="phone-call-provider-closed-websocket")  # fmt: skip
    insight = one(run(j.build()), "call_dropped")
    assert "during the AI conversation" in insight.explanation and insight.platform == "vapi"


def test_no_drop_without_a_drop_signal() -> None:
    evaluation = run(ai_then_connect(queue=30, agent=True).build())
    assert not of(evaluation, "call_dropped") and not of(evaluation, "call_dropped_during_transfer")


def vapi_transfer(*, handoff_attrs: dict[str, Any] | None = None, error: str | None = None,
                  child: str | None = "completed", child_gap: float = 0.5) -> Journey:  # fmt: skip
    """Twilio call → Vapi, which transfers at 40 s through a Twilio <Dial> child leg (``child``: its
    status, None for no child leg)."""
    j = Journey()
    j.span("telephony", 0, 400, {"twilio.call.status": "completed"}, platform="twilio", interaction="parent")
    ai = j.span("ai_conversation", 1, 40, {"cx.ai.outcome": "handoff"}, interaction="v")
    j.span("handoff", 40, 40, {"cx.transfer.target": "+18005550120", **(handoff_attrs or {})}, interaction="v",
           parent=ai, error=error)  # fmt: skip
    if child == "completed":
        j.span("telephony", 40 + child_gap, 399, {"twilio.call.status": "completed",
                                                  "cx.platform.interaction.parent_id": "parent"},
               platform="twilio", interaction="child")  # fmt: skip
    elif child is not None:
        j.span("telephony", 42, 42, {"twilio.call.status": child, "cx.disconnect.reason": "telecom_problem",
                                     "sip.response.status_code": 503}, platform="twilio", interaction="child",
               error=f"call {child} (SIP 503)")  # fmt: skip
    return j


def test_handoff_failed_when_the_platform_says_the_transfer_failed() -> None:
    evaluation = run(vapi_transfer(handoff_attrs={"error.type": "transfer_failed"}, error="transfer_failed",
                                   child="failed").build())  # fmt: skip
    insight = one(evaluation, "handoff_failed")
    assert insight.severity == "critical" and "transfer_failed" in insight.explanation and insight.platform == "vapi"
    assert not of(evaluation, "call_dropped") and not of(evaluation, "call_dropped_during_transfer")


def test_handoff_failed_when_the_receiving_leg_never_connected() -> None:
    evaluation = run(vapi_transfer(child="failed").build())
    assert "never connected" in one(evaluation, "handoff_failed").explanation
    assert not of(evaluation, "call_dropped")


def test_a_leg_that_began_just_before_the_recorded_transfer_time_still_follows_it() -> None:
    """Vapi stamps a transfer at the end of its call report, after its dial leg already failed."""
    j = Journey()
    j.span("telephony", 0, 400, platform="twilio", interaction="parent")
    ai = j.span("ai_conversation", 1, 40, {"cx.ai.outcome": "handoff"}, interaction="v")
    j.span("handoff", 40, 40, {"cx.transfer.target": "+18005550120"}, interaction="v", parent=ai)
    j.span("telephony", 36, 36, {"twilio.call.status": "failed"}, platform="twilio", interaction="child",
           error="call failed (SIP 503)")  # fmt: skip
    insight = one(run(j.build(), now_s=41), "handoff_failed")
    assert insight.severity == "critical" and "SIP 503" in insight.explanation


def test_handoff_failed_when_a_sip_leg_fails_to_set_up() -> None:
    j = ai_then_connect()
    j.spans[2:] = []
    j.span("telephony", 61, 61, {"sip.response.status_code": 486}, platform="sip", interaction="hop", error="486 Busy")
    assert "never connected (486 Busy)" in one(run(j.build()), "handoff_failed").explanation


def test_handoff_failed_on_a_busy_dial() -> None:
    j = Journey()
    root = j.span("telephony", 0, 100, platform="twilio", interaction="call")
    j.span("handoff", 30, 60, {"twilio.dial.status": "busy"}, platform="twilio", interaction="call", parent=root)
    assert "dial busy" in one(run(j.build()), "handoff_failed").explanation


def test_handoff_pending_then_failed_when_no_next_leg_begins_within_the_window() -> None:
    journey = vapi_transfer(child=None).build()
    pending = run(journey, now_s=159)
    assert not of(pending, "handoff_failed")
    assert pending.recheck_at_unix_nano == at(160)
    failed = run(journey, now_s=160)
    insight = one(failed, "handoff_failed")
    assert insight.severity == "warning" and insight.value is None and insight.threshold == 120
    assert failed.recheck_at_unix_nano is None


def test_a_next_leg_within_the_window_is_no_failure() -> None:
    evaluation = run(vapi_transfer(child_gap=100).build(), now_s=141)
    assert not of(evaluation, "handoff_failed")
    assert one(evaluation, "slow_handoff").severity == "critical"


def test_a_next_leg_after_the_window_is_a_failed_handoff() -> None:
    insight = one(run(vapi_transfer(child_gap=121).build()), "handoff_failed")
    assert insight.severity == "warning" and insight.value == 121 and "only 2 min 1 s later" in insight.explanation


@pytest.mark.parametrize(("queue_after", "slow"), [(1, None), (20, "critical")])
def test_a_transfer_within_one_platform_continues_in_the_same_interaction(queue_after: float, slow: str | None) -> None:
    """Genesys Cloud: an agent transfers to a queue inside the same conversation."""
    j = Journey()
    root = j.span("telephony", 0, 400, platform="genesys_cloud", interaction="g")
    j.span("agent_interaction", 10, 100, {"cx.agent.id": "u-1"}, platform="genesys_cloud", interaction="g", parent=root)
    j.span("handoff", 100, 100, {"cx.handoff.to.type": "queue"}, platform="genesys_cloud", interaction="g", parent=root)
    j.span("queue", 100 + queue_after, 150, {"cx.queue.name": "Claims"}, platform="genesys_cloud", interaction="g",
           parent=root)  # fmt: skip
    evaluation = run(j.build(), now_s=101)
    assert not of(evaluation, "handoff_failed") and evaluation.recheck_at_unix_nano is None
    assert [i.severity for i in of(evaluation, "slow_handoff")] == ([slow] if slow else [])
    if slow:
        assert "to a queue on Genesys Cloud" in one(evaluation, "slow_handoff").explanation


def test_an_agent_talking_on_after_a_failed_transfer_does_not_continue_it() -> None:
    j = Journey()
    root = j.span("telephony", 0, 400, platform="genesys_cloud", interaction="g")
    j.span("agent_interaction", 10, 390, {"cx.agent.id": "u-1"}, platform="genesys_cloud", interaction="g", parent=root)
    j.span("handoff", 100, 100, {"cx.handoff.to.type": "external"}, platform="genesys_cloud", interaction="g", parent=root)
    assert one(run(j.build()), "handoff_failed").severity == "warning"


def test_handoff_window_is_configurable() -> None:
    journey = vapi_transfer(child=None).build()
    evaluation = run(journey, now_s=200, config=config(handoff_failed={"window_s": 1800}))
    assert not of(evaluation, "handoff_failed") and evaluation.recheck_at_unix_nano == at(1840)
    disabled = run(journey, now_s=200, config=config(handoff_failed={"enabled": False}))
    assert not of(disabled, "handoff_failed") and disabled.recheck_at_unix_nano is None


@pytest.mark.parametrize(("gap", "severity"), [(8.0, None), (8.5, "warning"), (15.0, "warning"), (15.5, "critical")])
def test_slow_handoff_thresholds(gap: float, severity: str | None) -> None:
    found = of(run(ai_then_connect(gap=gap, queue=10, agent=True).build()), "slow_handoff")
    assert [i.severity for i in found] == ([severity] if severity else [])
    if found:
        assert found[0].value == gap * 1000 and found[0].unit == "ms" and found[0].platform == "polyai"


def test_slow_handoff_uses_a_reported_latency() -> None:
    journey = ai_then_connect(gap=1, handoff={"cx.handoff.latency_ms": 9000}).build()
    assert one(run(journey), "slow_handoff").value == 9000


def test_slow_handoff_from_an_inferred_handoff_span() -> None:
    j = Journey()
    j.span("telephony", 0, 30, platform="twilio", interaction="t")
    j.span("telephony", 39, 300, platform="genesys_cloud", interaction="g")
    j.synthetic_handoff("twilio", "genesys_cloud", 30, 39, 9000)
    insight = one(run(j.build()), "slow_handoff")
    assert insight.platform == "twilio" and insight.value == 9000
    quick = Journey()
    quick.span("telephony", 0, 30, platform="twilio", interaction="t")
    quick.span("telephony", 38, 300, platform="genesys_cloud", interaction="g")
    quick.synthetic_handoff("twilio", "genesys_cloud", 30, 38, 8000)
    assert not of(run(quick.build()), "slow_handoff")


def test_a_handoff_is_measured_once_when_both_a_transfer_and_an_inferred_span_cover_it() -> None:
    j = connect_transfer_that_drops(500)
    j.spans[0]["attributes"]["cx.disconnect.reason"] = "third_party_disconnect"
    j.spans[0]["status_code"] = "STATUS_CODE_UNSET"
    j.span("ai_conversation", 19, 400, platform="livekit", interaction="room")
    j.synthetic_handoff("amazon_connect", "livekit", 10, 19, 9000)
    assert [i.value for i in of(run(j.build()), "slow_handoff")] == [9000]


# --- technical: audio ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "attribute", "value", "severity"), [
    ("low_mos", "cx.audio.mos", 3.5, None), ("low_mos", "cx.audio.mos", 3.49, "warning"),
    ("low_mos", "cx.audio.mos", 2.5, "warning"), ("low_mos", "cx.audio.mos", 2.49, "critical"),
    ("low_mos", "cx.audio.mos_min", 3.2, "warning"),
    ("high_jitter", "cx.audio.jitter_ms", 30.0, None), ("high_jitter", "cx.audio.jitter_ms", 30.1, "warning"),
    ("high_jitter", "cx.audio.jitter_ms", 60.0, "warning"), ("high_jitter", "cx.audio.jitter_ms", 60.1, "critical"),
    ("high_packet_loss", "cx.audio.packet_loss_pct", 1.0, None),
    ("high_packet_loss", "cx.audio.packet_loss_pct", 1.01, "warning"),
    ("high_packet_loss", "cx.audio.packet_loss_pct", 2.51, "critical"),
    ("high_rtt", "cx.audio.rtt_ms", 300, None), ("high_rtt", "cx.audio.rtt_ms", 301, "warning"),
    ("high_rtt", "cx.audio.rtt_ms", 501, "critical"),
])  # fmt: skip
def test_audio_thresholds(rule: str, attribute: str, value: float, severity: str | None) -> None:
    found = of(run(audio_span({attribute: value, "cx.audio.measurement.point": "carrier"})), rule)
    assert [i.severity for i in found] == ([severity] if severity else [])
    if found:
        assert found[0].value == value and found[0].platform == "twilio" and "carrier" in found[0].explanation


def test_mos_prefers_the_average_over_the_worst() -> None:
    assert not of(run(audio_span({"cx.audio.mos": 4.1, "cx.audio.mos_min": 2.0})), "low_mos")


@pytest.mark.parametrize(("attrs", "rule"), [
    ({"aws.connect.audio.potential_quality_issues": ["HighPacketLoss"]}, "high_packet_loss"),
    ({"aws.connect.audio.potential_quality_issues": ["HighJitterBuffer"]}, "high_jitter"),
    ({"aws.connect.audio.potential_quality_issues": ["HighRoundTripTime"]}, "high_rtt"),
    ({"twilio.insights.tags": ["low_mos"]}, "low_mos"),
    ({"twilio.insights.tags": ["high_latency"]}, "high_rtt"),
])  # fmt: skip
def test_platform_quality_flags(attrs: dict[str, Any], rule: str) -> None:
    journey = audio_span(attrs, kind="agent_interaction", platform="amazon_connect")
    insight = one(run(journey), rule)
    assert insight.severity == "warning" and insight.value is None
    assert not of(run(journey, config=InsightConfig.from_mapping({rule: {"platform_flags": False}})), rule)


def test_a_measured_value_overrides_the_platform_flag() -> None:
    journey = audio_span({"twilio.insights.tags": ["high_jitter"], "cx.audio.jitter_ms": 12.0})
    assert not of(run(journey), "high_jitter")


def test_one_way_audio_reported_outright() -> None:
    insight = one(run(audio_span({"cx.audio.one_way": True})), "one_way_audio")
    assert insight.severity == "critical"
    assert not of(run(audio_span({"cx.audio.one_way": False})), "one_way_audio")


def test_one_way_audio_reported_on_a_conversation_is_not_also_inferred() -> None:
    turns = [("agent", 1, 3, {}), ("agent", 8, 10, {}), ("agent", 15, 17, {}), ("agent", 22, 24, {})]
    journey, _ = conversation(turns, attrs={"cx.audio.one_way": True})
    assert [i.severity for i in of(run(journey.build()), "one_way_audio")] == ["critical"]


def test_one_way_audio_when_the_ai_keeps_talking_to_silence() -> None:
    turns = [("agent", 1, 3, {}), ("agent", 8, 10, {}), ("agent", 15, 17, {}), ("agent", 22, 24, {})]
    journey, _ = conversation(turns)
    insight = one(run(journey.build()), "one_way_audio")
    assert insight.severity == "warning" and insight.value == 3
    two, _ = conversation(turns[:3])
    assert not of(run(two.build()), "one_way_audio")
    spoke, _ = conversation([*turns[:2], ("customer", 11, 13, {"cx.turn.input.char_count": 12}), *turns[2:]])
    assert not of(run(spoke.build()), "one_way_audio")


def test_one_way_audio_from_silent_turns_holding_both_sides() -> None:
    greeting = (None, 0, 5, {"cx.turn.input.char_count": 0, "cx.turn.output.char_count": 40})
    silent = {"cx.turn.input.char_count": 0, "polyai.turn.is_silence": True}
    journey, _ = conversation([greeting, (None, 5, 10, silent), (None, 10, 15, silent), (None, 15, 20, silent)],
                              platform="polyai")  # fmt: skip
    assert one(run(journey.build()), "one_way_audio").platform == "polyai"
    short, _ = conversation([greeting, (None, 5, 10, silent), (None, 10, 15, silent)], platform="polyai")
    assert not of(run(short.build()), "one_way_audio")


# --- technical: AI latency ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("latency", "severity"), [(2500, None), (2501, "warning"), (4000, "warning"), (4001, "critical")])
def test_high_turn_latency(latency: float, severity: str | None) -> None:
    turns = [("customer", 1, 3, {}), ("agent", 4, 6, {"cx.turn.latency.e2e_ms": 900}),
             ("customer", 7, 9, {}), ("agent", 12, 14, {"cx.turn.latency.e2e_ms": latency})]  # fmt: skip
    journey, _ = conversation(turns)
    found = of(run(journey.build()), "high_turn_latency")
    assert [i.severity for i in found] == ([severity] if severity else [])
    if found:
        assert found[0].span_id == journey.spans[-1]["span_id"] and "1 of 2 answers" in found[0].explanation


# --- technical: late data -------------------------------------------------------------------------------------


def provisional_connect(event: str, *, disconnect: bool) -> dict[str, Any]:
    j = Journey()
    attrs = {"aws.connect.contact_event": event, **({"cx.disconnect.reason": "customer_disconnect"} if disconnect else {})}
    j.span("telephony", 0, 200, attrs, platform="amazon_connect", interaction="c")
    return j.build()


def test_data_pending_while_the_contact_record_is_expected_then_overdue() -> None:
    journey = provisional_connect("DISCONNECTED", disconnect=True)
    pending = run(journey, now_s=300)
    insight = one(pending, "data_pending")
    assert insight.severity == "info" and "contact record" in insight.explanation
    assert pending.recheck_at_unix_nano == at(2000)
    overdue = run(journey, now_s=2000)
    late = one(overdue, "data_pending")
    assert late.severity == "warning" and late.value == 1800 and late.threshold == 1800
    assert overdue.recheck_at_unix_nano is None


def test_data_pending_for_a_contact_still_under_way_has_no_deadline() -> None:
    evaluation = run(provisional_connect("QUEUED", disconnect=False), now_s=100_000)
    assert one(evaluation, "data_pending").severity == "info" and evaluation.recheck_at_unix_nano is None


def test_no_data_pending_once_the_contact_record_arrived() -> None:
    j = Journey()
    j.span("telephony", 0, 200, {"cx.record.version": 1}, platform="amazon_connect", interaction="c")
    assert not of(run(j.build(), now_s=300), "data_pending")


def test_data_pending_for_a_partial_twilio_insights_summary() -> None:
    journey = audio_span({"twilio.insights.processing_state": "partial"})
    pending = run(journey, now_s=400)
    assert one(pending, "data_pending").severity == "info" and pending.recheck_at_unix_nano == at(2700)
    assert one(run(journey, now_s=2700), "data_pending").severity == "warning"
    assert not of(run(audio_span({"twilio.insights.processing_state": "complete"}), now_s=400), "data_pending")
    waiting = run(journey, now_s=400, config=config(data_pending={"twilio_wait_s": 60}))
    assert one(waiting, "data_pending").severity == "warning" and waiting.recheck_at_unix_nano is None


# --- operational --------------------------------------------------------------------------------------------------


def queued(wait: float, exit_reason: str = "answered", **attrs: Any) -> dict[str, Any]:
    j = Journey()
    root = j.span("telephony", 0, wait + 100, platform="amazon_connect", interaction="c")
    j.span("queue", 10, 10 + wait, {"cx.queue.name": "Billing", "cx.queue.exit_reason": exit_reason, **attrs},
           platform="amazon_connect", interaction="c", parent=root)  # fmt: skip
    return j.build()


def test_abandoned_in_queue() -> None:
    insight = one(run(queued(95, "abandoned")), "abandoned_in_queue")
    assert insight.severity == "warning" and insight.value == 95 and insight.queue == "Billing"
    assert "queue Billing" in insight.explanation
    assert not of(run(queued(95, "answered")), "abandoned_in_queue")


@pytest.mark.parametrize(("wait", "severity"), [(180, None), (181, "warning"), (600, "warning"), (601, "critical")])
def test_long_queue_wait(wait: float, severity: str | None) -> None:
    found = of(run(queued(wait)), "long_queue_wait")
    assert [i.severity for i in found] == ([severity] if severity else [])


def test_long_queue_wait_prefers_the_reported_wait() -> None:
    assert one(run(queued(30, **{"cx.queue.wait.duration": 200.0})), "long_queue_wait").value == 200
    assert one(run(queued(30), config=config(long_queue_wait={"warning_s": 20})), "long_queue_wait").value == 30


def agent_call(gap: float, *, holds: tuple[tuple[str, float], ...] = (), end_s: float = 300,
               initiator: str = "customer", no_answer: tuple[float, ...] = ()) -> dict[str, Any]:  # fmt: skip
    j = Journey()
    root = j.span("telephony", 0, end_s, {"cx.disconnect.initiator": initiator}, platform="genesys_cloud",
                  interaction="g", events=tuple(("cx.agent.no_answer", t) for t in no_answer))  # fmt: skip
    j.span("queue", 10, 100, {"cx.queue.name": "Support", "cx.queue.exit_reason": "answered"},
           platform="genesys_cloud", interaction="g", parent=root)  # fmt: skip
    j.span("agent_interaction", 100 + gap, end_s, {"cx.agent.id": "u-1"}, platform="genesys_cloud",
           interaction="g", parent=root, events=holds)  # fmt: skip
    return j.build()


@pytest.mark.parametrize(("gap", "severity"), [(10, None), (10.5, "warning"), (15, "warning"), (15.5, "critical")])
def test_slow_agent_connection(gap: float, severity: str | None) -> None:
    found = of(run(agent_call(gap)), "slow_agent_connection")
    assert [i.severity for i in found] == ([severity] if severity else [])
    if found:
        assert found[0].agent == "u-1" and found[0].queue == "Support"


def test_slow_agent_connection_mentions_unanswered_offers_and_needs_a_queue() -> None:
    assert "2 offer(s) went unanswered" in one(run(agent_call(20, no_answer=(105, 112))), "slow_agent_connection").explanation
    j = Journey()
    j.span("agent_interaction", 50, 100, {"cx.agent.id": "u-1"}, platform="genesys_cloud", interaction="g")
    assert not of(run(j.build()), "slow_agent_connection")


def test_slow_agent_connection_is_measured_from_the_queue_the_agent_came_from() -> None:
    j = Journey()
    root = j.span("telephony", 0, 600, platform="amazon_connect", interaction="c")
    for begin, finish in ((10, 100), (150, 230), (400, 450)):  # re-queued, then transferred on by the agent
        j.span("queue", begin, finish, {"cx.queue.name": f"Q{begin}"}, platform="amazon_connect", interaction="c",
               parent=root)  # fmt: skip
    j.span("agent_interaction", 120, 140, {"cx.agent.id": "a"}, platform="amazon_connect", interaction="c", parent=root)
    j.span("agent_interaction", 225, 390, {"cx.agent.id": "b"}, platform="amazon_connect", interaction="c", parent=root)
    insight = one(run(j.build()), "slow_agent_connection")
    assert insight.agent == "a" and insight.value == 20 and "queue Q10" in insight.explanation


@pytest.mark.parametrize(("holds", "ended_on_hold"), [
    ((("cx.agent.hold", 200),), True),
    ((("cx.agent.hold", 200), ("cx.agent.resume", 230)), False),
    ((("cx.agent.hold", 200), ("cx.agent.resume", 300)), True),  # Genesys closes a final hold at the disconnect
    ((("cx.agent.hold", 200), ("cx.agent.resume", 299.5)), True),
    ((("cx.agent.hold", 200), ("cx.agent.resume", 298)), False),
    ((), False),
])  # fmt: skip
def test_ended_on_hold(holds: tuple[tuple[str, float], ...], ended_on_hold: bool) -> None:
    found = of(run(agent_call(1, holds=holds)), "ended_on_hold")
    assert bool(found) is ended_on_hold
    if found:
        assert found[0].value == 100 and found[0].explanation.startswith("The customer hung up while on hold")


def test_a_hold_that_ends_in_a_transfer_is_not_ended_on_hold() -> None:
    journey = agent_call(1, holds=(("cx.agent.hold", 200),))
    agent = next(s for s in journey["spans"] if s["attributes"]["cx.span.type"] == "agent_interaction")
    agent["attributes"]["cx.transfer.target"] = "Claims"
    agent["events"].append({"time_unix_nano": at(290), "name": "cx.transfer", "attributes": {}})
    assert not of(run(journey), "ended_on_hold")


def test_ended_on_hold_by_the_agent() -> None:
    found = one(run(agent_call(1, holds=(("cx.agent.hold", 250),), initiator="agent")), "ended_on_hold")
    assert found.explanation.startswith("The call ended while on hold")


def legs(count: int) -> dict[str, Any]:
    j = Journey()
    for n in range(count):
        j.span("telephony", n * 10, n * 10 + 9, platform=("twilio", "vapi")[n % 2], interaction=f"i{n}")
    return j.build()


def test_many_legs() -> None:
    insight = one(run(legs(5)), "many_legs")
    assert insight.value == 5 and insight.threshold == 4 and insight.span_id == ROOT and "Twilio → Vapi" in insight.explanation
    assert not of(run(legs(4)), "many_legs")
    assert not of(run(legs(5), config=config(many_legs={"max_legs": 5})), "many_legs")


def test_transfer_loop_back_to_a_queue() -> None:
    j = Journey()
    for n, (queue, start_s) in enumerate((("Billing", 0), ("Support", 100), ("Billing", 200))):
        root = j.span("telephony", start_s, start_s + 90, {"cx.telephony.dnis.hash": f"n{n}"},
                      platform="amazon_connect", interaction=f"c{n}")  # fmt: skip
        j.span("queue", start_s + 5, start_s + 20, {"cx.queue.name": queue, "cx.queue.id": queue.lower()},
               platform="amazon_connect", interaction=f"c{n}", parent=root)  # fmt: skip
    insight = one(run(j.build()), "transfer_loop")
    assert "queue Billing" in insight.explanation and insight.queue == "Billing"
    assert insight.span_id == j.spans[-1]["span_id"]


def test_transfer_loop_back_to_a_number_but_not_on_escalation_to_another_number() -> None:
    def journey(third_number: str) -> dict[str, Any]:
        j = Journey()
        j.span("telephony", 0, 10, {"cx.telephony.dnis.hash": "n120"}, platform="amazon_connect", interaction="c1")
        j.span("ai_conversation", 11, 100, {"gen_ai.agent.id": "bot"}, platform="livekit", interaction="room")
        j.span("telephony", 101, 300, {"cx.telephony.dnis.hash": third_number}, platform="amazon_connect",
               interaction="c2")  # fmt: skip
        return j.build()

    insight = one(run(journey("n120")), "transfer_loop")
    assert "number" in insight.explanation and "120" not in insight.explanation
    assert not of(run(journey("n121")), "transfer_loop")


def test_consecutive_reports_of_one_stop_are_no_loop() -> None:
    j = Journey()
    j.span("telephony", 0, 100, {"cx.telephony.dnis.hash": "n1"}, platform="twilio", interaction="child")
    j.span("telephony", 2, 100, {"cx.telephony.dnis.hash": "n1"}, platform="amazon_connect", interaction="c")
    assert not of(run(j.build()), "transfer_loop")


@pytest.mark.parametrize(("attrs", "loop"), [
    ({"cx.ivr.menu.path": ["main", "billing", "main", "billing", "main"]}, True),
    ({"cx.ivr.menu.path": ["main", "billing", "main"]}, False),
    ({"cx.ivr.retry_count": 3}, True),
    ({"cx.ivr.retry_count": 2}, False),
])  # fmt: skip
def test_ivr_loop(attrs: dict[str, Any], loop: bool) -> None:
    j = Journey()
    j.span("ivr", 0, 60, {"cx.ivr.flow.name": "Main IVR", **attrs}, platform="genesys_cloud", interaction="g")
    found = of(run(j.build()), "ivr_loop")
    assert bool(found) is loop
    if found:
        assert "Main IVR" in found[0].explanation and found[0].flow == "Main IVR"


@pytest.mark.parametrize(("previous_s", "repeat"), [(-23 * 3600, True), (-24 * 3600, True), (-24 * 3600 - 1, False),
                                                    (None, False), (10, False)])  # fmt: skip
def test_repeat_caller(previous_s: float | None, repeat: bool) -> None:
    found = of(run(legs(1), previous_s=previous_s), "repeat_caller")
    assert bool(found) is repeat
    if found:
        assert found[0].severity == "info" and found[0].span_id == ROOT and found[0].unit == "h"


def test_repeat_window_is_configurable() -> None:
    assert not of(run(legs(1), previous_s=-3 * 3600, config=config(repeat_caller={"window_h": 2})), "repeat_caller")


# --- conversational --------------------------------------------------------------------------------------------------


def asking(text: str, *, position: int = 1, outcome: str = "handoff") -> dict[str, Any]:
    turns: list[tuple[str | None, float, float, dict[str, Any]]] = [("agent", 0, 2, {"cx.turn.output.text": "Hi, how can I help?"})]
    for n in range(1, 5):
        said = text if n == position else "My card does not work"
        turns += [("customer", n * 10, n * 10 + 2, {"cx.turn.input.text": said}),
                  ("agent", n * 10 + 3, n * 10 + 5, {"cx.turn.output.text": "Let me check."})]  # fmt: skip
    journey, _ = conversation(turns, attrs={"cx.ai.outcome": outcome})
    return journey.build()


def test_ai_handed_off_early() -> None:
    insight = one(run(asking("Can I just talk to a REAL   person please")), "ai_handed_off_early")
    assert insight.value == 1 and insight.threshold == 3 and "first turn" in insight.explanation
    assert one(run(asking("I want an agent", position=3)), "ai_handed_off_early").value == 3


@pytest.mark.parametrize("journey", [
    pytest.param(lambda: asking("I want an agent", position=4), id="asked-too-late"),
    pytest.param(lambda: asking("I want an agent", outcome="resolved"), id="no-handoff"),
    pytest.param(lambda: asking("Is this agentic AI?"), id="not-a-whole-word"),
])  # fmt: skip
def test_not_handed_off_early(journey: Callable[[], dict[str, Any]]) -> None:
    assert not of(run(journey()), "ai_handed_off_early")


@pytest.mark.parametrize(("customer_turns", "early"), [(2, True), (3, True), (4, False)])
def test_ai_handed_off_early_from_the_handoff_reason(customer_turns: int, early: bool) -> None:
    turns = [("customer", n * 10, n * 10 + 2, {"cx.turn.input.char_count": 20}) for n in range(customer_turns)]
    journey, root = conversation(turns)
    journey.span("handoff", 60, 60, {"cx.handoff.reason": "customer_request"}, interaction="conv", parent=root)
    assert bool(of(run(journey.build()), "ai_handed_off_early")) is early


def test_context_lost_when_the_platform_says_so() -> None:
    found = one(run(ai_then_connect(handoff={"cx.handoff.context_passed": False}).build()), "context_lost_at_handoff")
    assert found.platform == "polyai"
    assert not of(run(ai_then_connect(handoff={"cx.handoff.context_passed": True}).build()), "context_lost_at_handoff")


def test_context_lost_when_the_journey_token_does_not_follow() -> None:
    j = ai_then_connect()
    j.spans[0]["attributes"]["cx.journey.id"] = "token-1"
    insight = one(run(j.build()), "context_lost_at_handoff")
    assert insight.platform == "amazon_connect" and "journey token" in insight.explanation
    j.spans[2]["attributes"]["cx.journey.id"] = "token-1"
    assert not of(run(j.build()), "context_lost_at_handoff")
    assert not of(run(ai_then_connect().build()), "context_lost_at_handoff")  # nobody uses tokens
    late = ai_then_connect()
    late.spans[2]["attributes"]["cx.journey.id"] = "token-1"  # the token appears only on the second leg
    assert not of(run(late.build()), "context_lost_at_handoff")


def identified_then(menu: list[str], *, asked: str = "Can I take your account number?") -> dict[str, Any]:
    j = Journey()
    root = j.span("ai_conversation", 0, 40, {"cx.ai.outcome": "handoff"}, platform="polyai", interaction="p")
    j.span("turn", 0, 10, {"cx.turn.number": 1, "cx.turn.output.text": asked}, platform="polyai", interaction="p",
           parent=root)  # fmt: skip
    j.span("turn", 10, 20, {"cx.turn.number": 2, "cx.turn.input.text": "It's 1234 5678",
                            "cx.turn.output.text": "Thanks, passing you on."}, platform="polyai", interaction="p",
           parent=root)  # fmt: skip
    contact = j.span("telephony", 42, 300, platform="amazon_connect", interaction="c")
    j.span("ivr", 42, 60, {"cx.ivr.menu.path": menu}, platform="amazon_connect", interaction="c", parent=contact)
    return j.build()


def test_context_lost_when_the_next_leg_asks_for_identification_again() -> None:
    insight = one(run(identified_then(["main", "Verify_PIN"])), "context_lost_at_handoff")
    assert "identified themselves to the PolyAI AI" in insight.explanation and insight.platform == "amazon_connect"
    assert one(run(identified_then(["authenticate-caller"])), "context_lost_at_handoff")
    assert not of(run(identified_then(["main", "billing", "shipping"])), "context_lost_at_handoff")
    assert not of(run(identified_then(["verify"], asked="How can I help you today?")), "context_lost_at_handoff")
    unanswered = identified_then(["verify"])
    unanswered["spans"] = [s for s in unanswered["spans"] if s["attributes"].get("cx.turn.number") != 2]
    assert not of(run(unanswered), "context_lost_at_handoff")  # asked, but the customer never answered


def test_context_lost_when_another_ai_asks_again() -> None:
    j = Journey()
    for n, (platform, begin) in enumerate((("polyai", 0), ("vapi", 50))):
        root = j.span("ai_conversation", begin, begin + 40, platform=platform, interaction=f"a{n}")
        j.span("turn", begin + 1, begin + 3, {"cx.turn.role": "agent", "cx.turn.output.text": "What is your date of birth?"},
               platform=platform, interaction=f"a{n}", parent=root)  # fmt: skip
        j.span("turn", begin + 4, begin + 6, {"cx.turn.role": "customer", "cx.turn.input.char_count": 10},
               platform=platform, interaction=f"a{n}", parent=root)  # fmt: skip
    insight = one(run(j.build()), "context_lost_at_handoff")
    assert insight.platform == "vapi" and "Vapi AI asked them again" in insight.explanation


@pytest.mark.parametrize(("silence", "severity"), [(10, None), (10.5, "warning"), (20, "warning"), (21, "critical")])
def test_dead_air(silence: float, severity: str | None) -> None:
    journey, _ = conversation([("agent", 0, 4, {}), ("customer", 5, 8, {}), ("agent", 8 + silence, 12 + silence, {})])
    found = of(run(journey.build()), "dead_air")
    assert [i.severity for i in found] == ([severity] if severity else [])
    if found:
        assert found[0].value == silence and found[0].span_id == journey.spans[-1]["span_id"]


def test_overlapping_turns_are_not_dead_air() -> None:
    journey, _ = conversation([("agent", 0, 30, {}), ("customer", 5, 8, {}), ("agent", 35, 40, {})])
    assert not of(run(journey.build()), "dead_air")


@pytest.mark.parametrize(("spacing", "burst"), [(10, True), (20, False)])
def test_interruption_burst(spacing: float, burst: bool) -> None:
    turns = [("agent", n * spacing, n * spacing + 5, {"cx.turn.end_reason": "interrupted"}) for n in range(3)]
    turns.append(("agent", 100, 105, {"cx.turn.end_reason": "completed"}))
    journey, _ = conversation(turns, attrs={"cx.ai.interruption_count": 9})
    found = of(run(journey.build()), "interruption_burst")
    assert bool(found) is burst  # per-turn reasons win over the conversation's count
    if found:
        assert found[0].value == 3 and found[0].span_id == journey.spans[3]["span_id"]


@pytest.mark.parametrize(("count", "burst"), [(6, True), (5, False)])
def test_interruption_count_without_turn_reasons(count: int, burst: bool) -> None:
    journey, root = conversation([("agent", 0, 5, {})], attrs={"cx.ai.interruption_count": count})
    found = of(run(journey.build()), "interruption_burst")
    assert bool(found) is burst
    if found:
        assert found[0].span_id == root


# --- configuration ----------------------------------------------------------------------------------------------------


def test_every_rule_has_a_config_section_and_a_catalogue_entry() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert set(ids) == {f.name for f in fields(InsightConfig)}
    for rule in RULES:
        assert rule.category in ("technical", "operational", "conversational")
        assert rule.severity in rule.severities and set(rule.severities) <= set(SEVERITIES)
        assert rule.description.endswith(".") and "\n" not in rule.description


def test_the_docs_list_every_rule_and_every_key() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "insights.md").read_text()
    defaults = InsightConfig()
    for rule in RULES:
        assert f"`{rule.id}`" in docs, rule.id
        for key in (f.name for f in fields(getattr(defaults, rule.id))):
            assert f"`{key}`" in docs, (rule.id, key)


def test_overrides_from_yaml() -> None:
    loaded = yaml.safe_load("slow_handoff: {warning_ms: 3000}\nmany_legs: {enabled: false}\nlong_queue_wait: {warning_s: 60}")
    settings = InsightConfig.from_mapping(loaded)
    assert settings.slow_handoff.warning_ms == 3000.0 and settings.slow_handoff.critical_ms == 15000.0
    assert not settings.many_legs.enabled and settings.long_queue_wait.warning_s == 60.0
    assert settings.low_mos == InsightConfig().low_mos
    assert one(run(ai_then_connect(gap=4).build(), config=settings), "slow_handoff").threshold == 3000
    assert not of(run(legs(6), config=settings), "many_legs")
    ai = InsightConfig.from_mapping({"ai_handed_off_early": {"phrases": ["supervisor"]}})
    assert ai.ai_handed_off_early.phrases == ("supervisor",)
    assert of(run(asking("get me your supervisor"), config=ai), "ai_handed_off_early")
    assert not of(run(asking("I want an agent"), config=ai), "ai_handed_off_early")


@pytest.mark.parametrize(("data", "message"), [
    ({"slow_handof": {"warning_ms": 1}}, "unknown rule 'slow_handof'"),
    ({"slow_handoff": {"warn_ms": 1}}, "slow_handoff: unknown key 'warn_ms'"),
    ({"slow_handoff": {"warning_ms": "3s"}}, "slow_handoff.warning_ms must be a number"),
    ({"slow_handoff": {"warning_ms": True}}, "slow_handoff.warning_ms must be a number"),
    ({"slow_handoff": {"warning_ms": -1}}, "slow_handoff.warning_ms must be a number ≥ 0"),
    ({"slow_handoff": {"warning_ms": 20000}}, "slow_handoff.critical_ms (15000.0) must be at least warning_ms"),
    ({"low_mos": {"critical_mos": 3.6}}, "low_mos.critical_mos (3.6) must be at most warning_mos"),
    ({"many_legs": {"enabled": "no"}}, "many_legs.enabled must be true or false"),
    ({"many_legs": {"max_legs": 4.5}}, "many_legs.max_legs must be a whole number"),
    ({"ai_handed_off_early": {"phrases": "agent"}}, "ai_handed_off_early.phrases must be a list of non-empty strings"),
    ({"ai_handed_off_early": {"phrases": ["agent", ""]}}, "must be a list of non-empty strings"),
    ({"many_legs": False}, "many_legs must be a mapping"),
    (["many_legs"], "expected a mapping"),
])  # fmt: skip
def test_config_errors(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        InsightConfig.from_mapping(data)
    with pytest.raises(InsightConfigError):
        InsightConfig.from_mapping(data)


def test_whole_numbers_are_accepted_for_number_settings() -> None:
    assert InsightConfig.from_mapping({"dead_air": {"warning_s": 5}}).dead_air.warning_s == 5.0


# --- the engine --------------------------------------------------------------------------------------------------------


def busy_journey() -> dict[str, Any]:
    """Several insights at once: a slow, lossy handoff into a long queue that is abandoned."""
    j = ai_then_connect(gap=9, queue=700)
    j.spans[0]["attributes"] |= {"cx.audio.packet_loss_pct": 3.0, "cx.audio.jitter_ms": 45.0}
    j.spans[4]["attributes"]["cx.queue.exit_reason"] = "abandoned"
    return j.build()


def test_insights_are_ordered_by_span_start_then_rule() -> None:
    evaluation = run(busy_journey())
    rules = [i.rule for i in evaluation.insights]
    assert rules == ["high_jitter", "high_packet_loss", "slow_handoff", "abandoned_in_queue", "long_queue_wait"]


def test_evaluation_is_deterministic_whatever_the_span_order() -> None:
    journey = busy_journey()
    first = run(journey)
    assert run(copy.deepcopy(journey)) == first
    shuffled = copy.deepcopy(journey)
    random.Random(7).shuffle(shuffled["spans"])
    assert run(shuffled) == first


def test_recheck_is_the_earliest_future_window() -> None:
    j = vapi_transfer(child=None)
    j.span("telephony", 0, 30, {"aws.connect.contact_event": "DISCONNECTED"}, platform="amazon_connect",
           interaction="early")  # fmt: skip
    journey = j.build()
    assert run(journey, now_s=50).recheck_at_unix_nano == at(160)  # handoff window before the record deadline
    assert run(journey, now_s=170).recheck_at_unix_nano == at(1830)  # then the record deadline
    assert run(journey, now_s=1830).recheck_at_unix_nano is None
    assert run(legs(2), now_s=0).recheck_at_unix_nano is None


def test_explanations_are_one_line_and_never_carry_a_phone_number() -> None:
    j = ai_then_connect(drop_after=3)
    j.spans[1]["attributes"]["cx.transfer.target"] = CUSTOMER
    j.span("queue", 300, 500, {"cx.queue.name": "+1 415 555 0199", "cx.queue.exit_reason": "abandoned"},
           platform="amazon_connect", interaction="c2")  # fmt: skip
    evaluation = run(j.build())
    assert of(evaluation, "abandoned_in_queue")
    for insight in evaluation.insights:
        assert "\n" not in insight.explanation and not re.search(r"\d[\d ().-]{5,}\d", insight.explanation)


def test_an_empty_journey_has_no_insights() -> None:
    assert run({"journey_id": "ab" * 16, "spans": []}) == Evaluation(insights=(), recheck_at_unix_nano=None)


TRIGGERS: dict[str, Callable[[], Evaluation]] = {
    "call_dropped_during_transfer": lambda: run(ai_then_connect(drop_after=3).build()),
    "call_dropped": lambda: run(ai_then_connect(drop_after=60, queue=10).build()),
    "handoff_failed": lambda: run(vapi_transfer(child="failed").build()),
    "slow_handoff": lambda: run(ai_then_connect(gap=20).build()),
    "low_mos": lambda: run(audio_span({"cx.audio.mos": 3.0})),
    "high_jitter": lambda: run(audio_span({"cx.audio.jitter_ms": 40.0})),
    "high_packet_loss": lambda: run(audio_span({"cx.audio.packet_loss_pct": 2.0})),
    "high_rtt": lambda: run(audio_span({"cx.audio.rtt_ms": 400.0})),
    "one_way_audio": lambda: run(audio_span({"cx.audio.one_way": True})),
    "high_turn_latency": lambda: run(conversation([("agent", 0, 2, {"cx.turn.latency.e2e_ms": 3000})])[0].build()),
    "data_pending": lambda: run(provisional_connect("DISCONNECTED", disconnect=True), now_s=300),
    "abandoned_in_queue": lambda: run(queued(60, "abandoned")),
    "long_queue_wait": lambda: run(queued(400)),
    "slow_agent_connection": lambda: run(agent_call(12)),
    "ended_on_hold": lambda: run(agent_call(1, holds=(("cx.agent.hold", 200),))),
    "many_legs": lambda: run(legs(6)),
    "transfer_loop": lambda: _loop(),
    "ivr_loop": lambda: _ivr_retries(),
    "repeat_caller": lambda: run(legs(1), previous_s=-3600),
    "ai_handed_off_early": lambda: run(asking("agent please")),
    "context_lost_at_handoff": lambda: run(identified_then(["verification"])),
    "dead_air": lambda: run(conversation([("agent", 0, 2, {}), ("customer", 30, 32, {})])[0].build()),
    "interruption_burst": lambda: run(conversation([("agent", 0, 1, {})], attrs={"cx.ai.interruption_count": 7})[0].build()),
}


def _loop() -> Evaluation:
    j = Journey()
    for n, agent in enumerate(("a", "b", "a")):
        j.span("agent_interaction", n * 100, n * 100 + 90, {"cx.agent.id": agent}, platform="amazon_connect",
               interaction=f"c{n}")  # fmt: skip
    return run(j.build())


def _ivr_retries() -> Evaluation:
    j = Journey()
    j.span("ivr", 0, 60, {"cx.ivr.retry_count": 5}, platform="amazon_connect", interaction="c")
    return run(j.build())


def test_every_rule_can_trigger_and_can_be_disabled() -> None:
    assert set(TRIGGERS) == {rule.id for rule in RULES}
    for rule, trigger in TRIGGERS.items():
        assert of(trigger(), rule), rule
    everything_off = InsightConfig.from_mapping({rule.id: {"enabled": False} for rule in RULES})
    assert run(busy_journey(), config=everything_off).insights == ()
    assert run(vapi_transfer(child=None).build(), now_s=50, config=everything_off).recheck_at_unix_nano is None


# --- the 40 real journeys ----------------------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_there_are_forty_fixtures() -> None:
    assert len(FIXTURES) == 40


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem[:8])
def test_fixture_sweep(path: Path) -> None:
    journey = load(path)
    evaluation = evaluate(journey, Context(now_unix_nano=journey["updated_unix_nano"]))
    assert evaluate(journey, Context(now_unix_nano=journey["updated_unix_nano"])) == evaluation
    span_ids = {s["span_id"] for s in journey["spans"]}
    rules = {i.rule for i in evaluation.insights}
    for insight in evaluation.insights:
        assert insight.span_id in span_ids and insight.severity in SEVERITIES
        assert "\n" not in insight.explanation and not re.search(r"\d[\d ().-]{5,}\d", insight.explanation)
    spans = [s for s in journey["spans"] if not s.get("synthetic")]
    attrs = [s["attributes"] for s in spans]
    if any(a.get("cx.queue.exit_reason") == "abandoned" for a in attrs):
        assert "abandoned_in_queue" in rules
    if journey["outcome"] == "dropped":
        assert rules & {"call_dropped", "call_dropped_during_transfer"}
    if any((a.get("cx.audio.mos") or a.get("cx.audio.mos_min") or 5) < 3.5 for a in attrs):
        assert "low_mos" in rules
    if any(a.get("cx.audio.packet_loss_pct", 0) > 1 for a in attrs):
        assert "high_packet_loss" in rules
    if any(a.get("cx.audio.jitter_ms", 0) > 30 for a in attrs):
        assert "high_jitter" in rules
    troubled = journey["outcome"] in ("dropped", "abandoned") or any(
        "cx.audio.mos" in a and a["cx.audio.mos"] < 3.5 or a.get("aws.connect.audio.potential_quality_issues")
        or a.get("twilio.insights.tags") or a.get("cx.audio.mos_min", 5) < 3.5 for a in attrs)  # fmt: skip
    if not troubled:
        assert evaluation.insights == (), evaluation.insights  # no false alarms on clean journeys
    assert evaluation.recheck_at_unix_nano is None  # every transfer has its next leg, every record arrived


def test_fixture_dropped_in_the_transfer_to_connect() -> None:
    journey = load(next(p for p in FIXTURES if p.stem.startswith("1f146573")))
    evaluation = evaluate(journey, Context(now_unix_nano=journey["updated_unix_nano"]))
    insight = one(evaluation, "call_dropped_during_transfer")
    dropped = next(s for s in journey["spans"] if s["attributes"].get("cx.disconnect.reason") == "telecom_problem")
    assert insight.span_id == dropped["span_id"] and insight.platform == "amazon_connect"


def test_fixture_with_its_late_contact_record_still_missing() -> None:
    """PolyAI → Connect, seen before Connect's contact record arrived: first a pending handoff,
    then, once the window closes, a failed one."""
    journey = load(next(p for p in FIXTURES if p.stem.startswith("0b6e5ca5")))
    journey["spans"] = [s for s in journey["spans"] if s["attributes"].get("cx.platform.name") != "amazon_connect"]
    handoff = next(s for s in journey["spans"] if s["attributes"].get("cx.span.type") == "handoff")
    early = evaluate(journey, Context(now_unix_nano=handoff["start_unix_nano"] + 10 * S))
    assert not of(early, "handoff_failed") and early.recheck_at_unix_nano == handoff["start_unix_nano"] + 120 * S
    late = evaluate(journey, Context(now_unix_nano=early.recheck_at_unix_nano))
    assert one(late, "handoff_failed").span_id == handoff["span_id"]


def test_fixture_known_only_from_contact_events() -> None:
    """Connect → LiveKit with the contact known only from its EventBridge events (no CTR yet)."""
    journey = load(next(p for p in FIXTURES if p.stem.startswith("088946eb")))
    for span in journey["spans"]:
        if span["attributes"].get("cx.platform.name") == "amazon_connect" and span["attributes"].get("cx.leg.number"):
            span["attributes"]["aws.connect.contact_event"] = "DISCONNECTED"
            ended = span["end_unix_nano"]
    pending = evaluate(journey, Context(now_unix_nano=ended + 60 * S))
    assert one(pending, "data_pending").severity == "info" and pending.recheck_at_unix_nano == ended + 1800 * S
    assert one(evaluate(journey, Context(now_unix_nano=ended + 1800 * S)), "data_pending").severity == "warning"
