"""The insight rule engine: what went wrong in a journey, and where.

``evaluate(journey, context, config)`` runs every enabled rule of ``RULES`` over one journey (the
dict ``GET /api/journeys/{id}`` returns) and gives its insights in a deterministic order (span
start, then rule ID), plus the moment its answer could change with no new data: a transfer's
window closing with no next leg (``handoff_failed``), a late record falling overdue
(``data_pending``). The analysis worker re-evaluates the journey then, and whenever it changes.

Pure: no clock, no storage. ``Context`` brings the two things the journey dict cannot tell —
the time now and the same customer's previous journey. Thresholds live in ``InsightConfig``
(``insight_config.py``); the rules in ``rules_technical``, ``rules_operational`` and
``rules_conversational``; docs/insights.md is the catalogue with every exact condition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from journeytrace.correlator.analysis import rules_conversational as conversational
from journeytrace.correlator.analysis import rules_operational as operational
from journeytrace.correlator.analysis import rules_technical as technical
from journeytrace.correlator.analysis.insight_config import (
    InsightConfig,
    InsightConfigError,
)
from journeytrace.correlator.analysis.journey_view import (
    Finding,
    JourneyView,
    Recheck,
    attr,
    clean,
    is_synthetic,
    platform_of,
    span_type,
    start,
)
from journeytrace.correlator.analysis.model import (
    Category,
    Evaluation,
    Insight,
    Severity,
)

from journeytrace import semconv

__all__ = ["DEFAULT_CONFIG", "RULES", "Context", "InsightConfig", "InsightConfigError", "Rule", "evaluate"]


@dataclass(frozen=True)
class Context:
    """What the journey itself cannot say: the time of evaluation, and the same customer's latest
    earlier journey within the repeat window (looked up by phone hash by the worker)."""

    now_unix_nano: int
    previous_journey_id: str | None = None
    previous_journey_start_unix_nano: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    """One catalogue entry, as docs and the API list it."""

    id: str
    category: Category
    severity: Severity
    """The usual severity; ``severities`` are all it can have."""
    severities: tuple[Severity, ...]
    description: str


_W: tuple[Severity, ...] = ("warning",)
_WC: tuple[Severity, ...] = ("warning", "critical")

RULES: tuple[Rule, ...] = (
    Rule(id="call_dropped_during_transfer", category="technical", severity="critical", severities=("critical",),
         description="The call dropped while a transfer was under way, on either side of it."),
    Rule(id="call_dropped", category="technical", severity="critical", severities=("critical",),
         description="The call dropped (telecom problem) outside a transfer."),
    Rule(id="handoff_failed", category="technical", severity="critical", severities=_WC,
         description="A transfer failed, or no next leg began within the window after it."),
    Rule(id="slow_handoff", category="technical", severity="warning", severities=_WC,
         description="The next leg began long after the transfer."),
    Rule(id="low_mos", category="technical", severity="warning", severities=_WC,
         description="Poor audio: the mean opinion score was low."),
    Rule(id="high_jitter", category="technical", severity="warning", severities=_WC,
         description="Poor audio: average jitter was high."),
    Rule(id="high_packet_loss", category="technical", severity="warning", severities=_WC,
         description="Poor audio: packets were lost."),
    Rule(id="high_rtt", category="technical", severity="warning", severities=_WC,
         description="Poor audio: the round-trip time was high."),
    Rule(id="one_way_audio", category="technical", severity="critical", severities=_WC,
         description="Audio flowed one way only: reported outright, or the AI heard nothing for several turns."),
    Rule(id="high_turn_latency", category="technical", severity="warning", severities=_WC,
         description="The AI agent was slow to answer."),
    Rule(id="data_pending", category="technical", severity="info", severities=("info", "warning"),
         description="A record the platform sends late has not arrived yet, or is overdue."),
    Rule(id="abandoned_in_queue", category="operational", severity="warning", severities=_W,
         description="The customer hung up while waiting in a queue."),
    Rule(id="long_queue_wait", category="operational", severity="warning", severities=_WC,
         description="The customer waited long in a queue."),
    Rule(id="slow_agent_connection", category="operational", severity="warning", severities=_WC,
         description="The agent connected long after the call left the queue."),
    Rule(id="ended_on_hold", category="operational", severity="warning", severities=_W,
         description="The call ended while the customer was on hold."),
    Rule(id="many_legs", category="operational", severity="warning", severities=_W,
         description="The journey crossed many legs."),
    Rule(id="transfer_loop", category="operational", severity="warning", severities=_W,
         description="The customer was sent back where they had been transferred away from (A → B → A)."),
    Rule(id="ivr_loop", category="operational", severity="warning", severities=_W,
         description="The customer went round in an IVR menu."),
    Rule(id="repeat_caller", category="operational", severity="info", severities=("info",),
         description="The same customer had another journey shortly before."),
    Rule(id="ai_handed_off_early", category="conversational", severity="warning", severities=_W,
         description="The customer asked for a human in the first turns and the AI handed off."),
    Rule(id="context_lost_at_handoff", category="conversational", severity="warning", severities=_W,
         description="Context did not follow the customer across a handoff (no token, or asked again to identify)."),
    Rule(id="dead_air", category="conversational", severity="warning", severities=_WC,
         description="A long silence in an AI conversation."),
    Rule(id="interruption_burst", category="conversational", severity="warning", severities=_W,
         description="The customer and the AI kept interrupting each other."),
)  # fmt: skip

Detector = Callable[[JourneyView, InsightConfig], Iterable[Finding | Recheck]]
_DETECTORS: tuple[Detector, ...] = (
    technical.drops, technical.handoffs, technical.audio, technical.one_way_audio, technical.turn_latency,
    technical.data_pending, operational.queues, operational.agents, operational.legs, operational.transfer_loop,
    operational.ivr_loop, operational.repeat_caller, conversational.handed_off_early, conversational.context_lost,
    conversational.dead_air, conversational.interruptions,
)  # fmt: skip
_BY_ID = {rule.id: rule for rule in RULES}
DEFAULT_CONFIG = InsightConfig()


def evaluate(journey: Mapping[str, Any], context: Context, config: InsightConfig = DEFAULT_CONFIG) -> Evaluation:
    """Every insight of ``journey`` at ``context.now_unix_nano``, and when to look again."""
    view = JourneyView(
        journey, now_unix_nano=context.now_unix_nano, previous_journey_id=context.previous_journey_id,
        previous_journey_start_unix_nano=context.previous_journey_start_unix_nano,
    )  # fmt: skip
    insights: set[Insight] = set()
    rechecks: list[int] = []
    for detect in _DETECTORS:
        for item in detect(view, config):
            if not config.enabled(item.rule):
                continue
            if isinstance(item, Recheck):  # detectors ask only for times still ahead
                rechecks.append(item.at_unix_nano)
            else:
                insights.add(_insight(view, item))
    ordered = sorted(insights, key=lambda i: (_start(view, i.span_id), i.rule, i.span_id, i.explanation))
    return Evaluation(insights=tuple(ordered), recheck_at_unix_nano=min(rechecks, default=None))


def _start(view: JourneyView, span_id: str) -> int:
    span = view.by_id.get(span_id)
    return start(span) if span is not None else view.start


def _insight(view: JourneyView, finding: Finding) -> Insight:
    """The finding with its rule's category and the context of its span (platform, and the queue,
    agent and flow of the span or, failing that, of its interaction), for analytics to group by."""
    rule = _BY_ID[finding.rule]
    span = view.by_id.get(finding.span_id)
    platform = queue = agent = flow = None
    if span is not None:
        platform = platform_of(span)
        if is_synthetic(span) and span_type(span) == "handoff":
            platform = attr(span, semconv.CX_HANDOFF_FROM_PLATFORM)
        interaction = view.interaction_of(span)
        members = [span, *(interaction.spans if interaction is not None else ())]

        def first(*names: str) -> str | None:
            return next((str(v) for s in members for n in names if (v := attr(s, n)) not in (None, "")), None)

        if interaction is not None:
            queue = first(semconv.CX_QUEUE_NAME, semconv.CX_QUEUE_ID)
            agent = first(semconv.CX_AGENT_ID)
            flow = first(semconv.CX_IVR_FLOW_NAME, semconv.CX_IVR_FLOW_ID)
    return Insight(
        rule=rule.id, category=rule.category, severity=finding.severity, span_id=finding.span_id,
        explanation=clean(finding.explanation),
        value=None if finding.value is None else round(float(finding.value), 3),
        threshold=None if finding.threshold is None else round(float(finding.threshold), 3),
        unit=finding.unit, platform=platform, queue=queue, agent=agent, flow=flow,
    )  # fmt: skip
