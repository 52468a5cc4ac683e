"""A journey as the read APIs show it: legs, a synthetic root, synthetic handoffs, rewritten IDs.

Stored spans keep what the platforms sent (under the journey's trace ID); everything derived
from the journey as a whole is computed here on read, so late data never leaves a stale root
span or leg number behind. Synthetic span IDs are deterministic (``journeytrace.ids``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from journeytrace import semconv
from journeytrace.ids import root_span_id, synthetic_span_id

SERVICE = "journeytrace"


@dataclass(frozen=True, slots=True)
class InteractionRow:
    interaction: str
    platform: str
    interaction_id: str
    start_unix_nano: int
    end_unix_nano: int
    handoff_unix_nano: int | None
    has_handoff_span: bool


@dataclass(frozen=True, slots=True)
class Link:
    a: str
    b: str
    method: str
    confidence: float
    evidence: str


def legs(interactions: list[InteractionRow]) -> list[dict[str, Any]]:
    """Interactions in start order; consecutive ones on the same platform form one leg."""
    ordered = sorted(interactions, key=lambda i: (i.start_unix_nano, i.platform, i.interaction_id))
    result: list[dict[str, Any]] = []
    for row in ordered:
        if result and result[-1]["platform"] == row.platform:
            leg = result[-1]
            leg["interaction_ids"].append(row.interaction_id)
            leg["interactions"].append(row.interaction)
            leg["end_unix_nano"] = max(leg["end_unix_nano"], row.end_unix_nano)
        else:
            result.append(
                {
                    "leg": len(result) + 1,
                    "platform": row.platform,
                    "interaction_ids": [row.interaction_id],
                    "interactions": [row.interaction],
                    "start_unix_nano": row.start_unix_nano,
                    "end_unix_nano": row.end_unix_nano,
                }
            )
    return result


def leg_count(platforms_in_start_order: list[str]) -> int:
    return sum(1 for i, p in enumerate(platforms_in_start_order) if i == 0 or platforms_in_start_order[i - 1] != p)


def _synthetic(trace_id: str, span_id: str, parent: str | None, name: str, start: int, end: int,
               attributes: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "trace_state": None,
        "flags": 0,
        "name": name,
        "kind": "SPAN_KIND_INTERNAL",
        "service_name": SERVICE,
        "start_unix_nano": start,
        "end_unix_nano": end,
        "status_code": "STATUS_CODE_UNSET",
        "status_message": "",
        "attributes": attributes,
        "resource_attributes": {semconv.SERVICE_NAME: SERVICE},
        "resource_schema_url": "",
        "resource_dropped_attributes_count": 0,
        "scope": {"name": SERVICE, "version": "", "attributes": {}, "schema_url": "", "dropped_attributes_count": 0},
        "events": [],
        "links": [],
        "dropped_attributes_count": 0,
        "dropped_events_count": 0,
        "dropped_links_count": 0,
        "synthetic": True,
    }


def assemble(
    journey_id: str,
    spans: list[dict[str, Any]],
    interactions: list[InteractionRow],
    links: list[Link],
    span_interactions: list[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The journey's spans (synthetic root and handoffs included) and its legs.

    ``span_interactions[i]`` is the interaction of ``spans[i]``.
    """
    journey_legs = legs(interactions)
    leg_of = {key: leg["leg"] for leg in journey_legs for key in leg["interactions"]}
    by_key = {i.interaction: i for i in interactions}
    root = root_span_id(journey_id)
    span_ids = {s["span_id"] for s in spans}
    start = min((s["start_unix_nano"] for s in spans), default=0)
    end = max((s["end_unix_nano"] for s in spans), default=0)

    out = []
    for span, interaction in zip(spans, span_interactions, strict=True):
        if span["trace_id"] != journey_id:
            span["attributes"][semconv.CX_ORIGINAL_TRACE_ID] = span["trace_id"]
            span["trace_id"] = journey_id
        if span["parent_span_id"] is None or span["parent_span_id"] not in span_ids:
            span["parent_span_id"] = root
            if interaction in leg_of:
                span["attributes"][semconv.CX_LEG_NUMBER] = leg_of[interaction]
        out.append(span)

    root_attributes = {
        semconv.CX_SPAN_TYPE: "journey",
        semconv.CX_JOURNEY_ID: journey_id,
        semconv.CX_JOURNEY_LEG_COUNT: len(journey_legs),
    }
    synthetic = [_synthetic(journey_id, root, None, "journey", start, end, root_attributes)]
    for previous, following in zip(journey_legs, journey_legs[1:], strict=False):
        members = [by_key[k] for k in previous["interactions"]]
        if any(m.has_handoff_span for m in members):
            continue  # a platform reported this handoff itself
        handoffs = [m.handoff_unix_nano for m in members if m.handoff_unix_nano is not None]
        begin = min(handoffs) if handoffs else previous["end_unix_nano"]
        begin = min(begin, following["start_unix_nano"])
        pair = set(previous["interactions"]), set(following["interactions"])
        joining = [
            link for link in links
            if (link.a in pair[0] and link.b in pair[1]) or (link.b in pair[0] and link.a in pair[1])
        ]  # fmt: skip
        best = max(joining, key=lambda link: (link.confidence, link.method), default=None)
        attributes: dict[str, Any] = {
            semconv.CX_SPAN_TYPE: "handoff",
            semconv.CX_HANDOFF_FROM_PLATFORM: previous["platform"],
            semconv.CX_HANDOFF_TO_PLATFORM: following["platform"],
            semconv.CX_HANDOFF_LATENCY_MS: (following["start_unix_nano"] - begin) // 1_000_000,
            semconv.CX_HANDOFF_SYNTHETIC: True,
        }
        if best is not None:
            attributes[semconv.CX_CORRELATION_METHOD] = best.method
        synthetic.append(
            _synthetic(
                journey_id,
                synthetic_span_id(journey_id, f"handoff {following['leg']}"),
                root,
                f"handoff {previous['platform']}->{following['platform']}",
                begin,
                following["start_unix_nano"],
                attributes,
            )
        )
    return synthetic + out, journey_legs
