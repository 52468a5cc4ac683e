"""The per-journey facts historical analytics aggregate (the fact columns of ``journey_analysis``).

Analytics answers over hundreds of thousands of journeys in well under a second only if it never
reads spans, so everything a chart needs is decided here, once per journey, from the journey as
the read API returns it. The definitions (docs/analytics.md):

- ``path``: the platform of each leg, in leg order (the read side already merges consecutive
  interactions of one platform into one leg).
- ``has_ai``: an AI agent took part (an ``ai_conversation`` or ``turn`` span, or an agent
  interaction whose ``cx.agent.type`` is ``ai``). ``has_agent``: a human agent did (an
  ``agent_interaction`` span whose agent type is not ``ai``).
- ``contained``: the AI resolved it without a human -- AI took part, no human agent did, no AI
  leg handed the customer on (a handoff out of a leg with AI, or ``cx.ai.outcome`` ``handoff``),
  no AI conversation ``failed`` or was ``abandoned``, and the journey did not end ``dropped``,
  ``abandoned`` or ``transferred_external``.
- ``handoffs``: one per hop between consecutive legs, plus a transfer out of the last leg that no
  leg followed (``to_platform`` null). A hop a platform reported (a ``handoff`` span in the leg
  it left) wins over the handoff the read side inferred, so a hop is never counted twice.
- ``queue_wait_ms``: the sum over queue spans of ``cx.queue.wait.duration`` (seconds) or else the
  span's duration; null when the journey never queued.
"""

from __future__ import annotations

from typing import Any

from journeytrace import semconv
from journeytrace.correlator.analysis.model import Evaluation

NOT_CONTAINED_OUTCOMES = frozenset({"dropped", "abandoned", "transferred_external"})
"""Journey outcomes that mean the AI did not resolve the contact."""
AI_GAVE_UP = frozenset({"handoff", "failed", "abandoned"})
"""``cx.ai.outcome`` values that mean the AI conversation did not resolve the contact."""
_NS_PER_MS = 1_000_000


def _attributes(span: dict[str, Any]) -> dict[str, Any]:
    return span.get("attributes") or {}


def _type(span: dict[str, Any]) -> str | None:
    return _attributes(span).get(semconv.CX_SPAN_TYPE)


def _is_ai(span: dict[str, Any]) -> bool:
    kind = _type(span)
    return kind in ("ai_conversation", "turn") or (
        kind == "agent_interaction" and _attributes(span).get(semconv.CX_AGENT_TYPE) == "ai"
    )


def _is_human_agent(span: dict[str, Any]) -> bool:
    return _type(span) == "agent_interaction" and _attributes(span).get(semconv.CX_AGENT_TYPE) != "ai"


def _leg_numbers(spans: list[dict[str, Any]]) -> dict[str, int]:
    """Each span's leg: the ``cx.leg.number`` of its nearest ancestor (itself included) carrying one.

    The read side numbers leg roots; synthetic spans belong to no leg.
    """
    by_id = {s["span_id"]: s for s in spans}
    found: dict[str, int | None] = {}
    for span in spans:
        chain: list[str] = []
        current: dict[str, Any] | None = span
        leg = None
        while current is not None:
            if current["span_id"] in found:
                leg = found[current["span_id"]]
                break
            found[current["span_id"]] = None  # a parent cycle stops here
            chain.append(current["span_id"])
            if (number := _attributes(current).get(semconv.CX_LEG_NUMBER)) is not None:
                leg = int(number)
                break
            current = by_id.get(current.get("parent_span_id") or "")
        for span_id in chain:
            found[span_id] = leg
    return {span_id: leg for span_id, leg in found.items() if leg is not None}


def _distinct(values: list[Any]) -> list[str]:
    """Distinct non-empty values as strings, in order of first appearance."""
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def _handoffs(
    journey: dict[str, Any], spans: list[dict[str, Any]], leg_of: dict[str, int]
) -> list[tuple[int, dict[str, Any]]]:
    """Each hop out of a leg, with the number of the leg it left."""
    legs = journey.get("legs") or []
    reported: dict[int, dict[str, Any]] = {}  # leg number -> the latest-starting handoff span it reported
    inferred: list[dict[str, Any]] = []
    for span in spans:
        if _type(span) != "handoff":
            continue
        if _attributes(span).get(semconv.CX_HANDOFF_SYNTHETIC):
            inferred.append(span)
        elif (leg := leg_of.get(span["span_id"])) is not None and (
            leg not in reported or span["start_unix_nano"] >= reported[leg]["start_unix_nano"]
        ):
            reported[leg] = span
    found = []
    for previous, following in zip(legs, legs[1:], strict=False):
        span = reported.get(previous["leg"])
        if span is not None:
            latency = _attributes(span).get(semconv.CX_HANDOFF_LATENCY_MS)
            if latency is None:
                latency = max(following["start_unix_nano"] - span["start_unix_nano"], 0) / _NS_PER_MS
        else:
            span = next(
                (s for s in inferred
                 if s["end_unix_nano"] == following["start_unix_nano"]
                 and _attributes(s).get(semconv.CX_HANDOFF_FROM_PLATFORM) == previous["platform"]
                 and _attributes(s).get(semconv.CX_HANDOFF_TO_PLATFORM) == following["platform"]),
                None,
            )  # fmt: skip
            latency = _attributes(span).get(semconv.CX_HANDOFF_LATENCY_MS) if span is not None else None
        found.append((previous["leg"], {
            "from_platform": previous["platform"],
            "to_platform": following["platform"],
            "latency_ms": None if latency is None else float(latency),
        }))  # fmt: skip
    if legs and (last := reported.get(legs[-1]["leg"])) is not None:
        found.append((legs[-1]["leg"], {
            "from_platform": legs[-1]["platform"],
            "to_platform": _attributes(last).get(semconv.CX_HANDOFF_TO_PLATFORM),
            "latency_ms": None,
        }))  # fmt: skip
    return found


def _queue_wait_ms(spans: list[dict[str, Any]]) -> float | None:
    waits = []
    for span in spans:
        if _type(span) != "queue":
            continue
        seconds = _attributes(span).get(semconv.CX_QUEUE_WAIT_DURATION)
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            waits.append(float(seconds) * 1000)
        else:
            waits.append(max(span["end_unix_nano"] - span["start_unix_nano"], 0) / _NS_PER_MS)
    return sum(waits) if waits else None


def facts(journey: dict[str, Any], evaluation: Evaluation) -> dict[str, Any]:
    """The fact columns of ``journey_analysis`` for one journey (as ``storage.reads.journey`` returns it)."""
    spans = sorted(journey.get("spans") or [], key=lambda s: (s["start_unix_nano"], s["span_id"]))
    legs = journey.get("legs") or []
    leg_of = _leg_numbers(spans)
    handoffs = _handoffs(journey, spans, leg_of)
    ai_legs = {leg_of[s["span_id"]] for s in spans if _is_ai(s) and s["span_id"] in leg_of}
    has_ai = any(_is_ai(s) for s in spans)
    has_agent = any(_is_human_agent(s) for s in spans)
    left_ai = any(leg in ai_legs for leg, _ in handoffs) or any(
        _attributes(s).get(semconv.CX_AI_OUTCOME) in AI_GAVE_UP for s in spans if _type(s) == "ai_conversation"
    )
    outcome = journey.get("outcome")
    return {
        "start_unix_nano": journey["start_unix_nano"],
        "end_unix_nano": journey["end_unix_nano"],
        "path": [leg["platform"] for leg in legs],
        "leg_count": len(legs),
        "outcome": outcome,
        "has_ai": has_ai,
        "has_agent": has_agent,
        "contained": has_ai and not has_agent and not left_ai and outcome not in NOT_CONTAINED_OUTCOMES,
        "dropped": outcome == "dropped",
        "queues": _distinct([_attributes(s).get(semconv.CX_QUEUE_NAME) for s in spans]),
        "agents": _distinct([_attributes(s).get(semconv.CX_AGENT_ID) for s in spans]),
        "flows": _distinct([_attributes(s).get(semconv.CX_IVR_FLOW_NAME) for s in spans]),
        "queue_wait_ms": _queue_wait_ms(spans),
        "handoffs": [handoff for _, handoff in handoffs],
        "insights": sorted({i.rule for i in evaluation.insights}),
    }
