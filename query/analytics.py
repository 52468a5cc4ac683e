"""Historical analytics on the query port: ``GET /api/analytics/...`` (docs/analytics.md).

Thin HTTP over ``storage.analytics``: parse and check the parameters (a bad one is a 400 that
says what is wrong), run one aggregation on a reader cursor, answer its JSON. Every endpoint takes
the same filters: ``from``/``to`` (default: the last 7 days), ``platform`` (repeatable; any of),
``queue`` and ``flow``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from journeytrace.query import params
from journeytrace.query.params import BadParameter
from journeytrace.storage import SpanStore, analytics
from journeytrace.storage.analytics import Filters

DEFAULT_RANGE_NS = 7 * 86_400 * 10**9
MAX_LIMIT = 1000
ENDPOINTS = {
    "overview": "journey count, AI containment, handoff, drop and abandon rates, average legs, outcomes",
    "timeseries": "the overview's rates per time bucket (interval: 5m, 15m, 1h, 6h, 1d or auto)",
    "handoffs": "handoffs per from -> to platform pair: count, share of journeys, latency p50/p90/p99",
    "queue-wait": "queue wait p50/p90/p99, a histogram, and the same per queue",
    "insights": "insight frequency per rule (optionally by platform, queue, agent or flow)",
    "paths": "most common platform sequences, and a Sankey graph of every journey's legs",
    "patterns": "recurring issues: insight rule x queue / agent / flow, most journeys first",
}


def _names(values: list[str]) -> tuple[str, ...]:
    """Distinct non-empty values of a repeatable parameter (each may also be comma-separated)."""
    return tuple(dict.fromkeys(v.strip() for value in values for v in value.split(",") if v.strip()))


def filters(
    start_from: Annotated[str | None, Query(alias="from", description="start: unix ns or ISO 8601")] = None,
    start_to: Annotated[str | None, Query(alias="to", description="end of the range (inclusive); default now")] = None,
    platform: Annotated[list[str] | None, Query(description="journeys through any of these platforms")] = None,
    queue: Annotated[str | None, Query(description="journeys through this queue")] = None,
    flow: Annotated[str | None, Query(description="journeys through this IVR flow")] = None,
) -> Filters:
    """The journeys to aggregate: those that started in [from, to], by default the last 7 days."""
    end = params.timestamp("to", start_to)
    begin = params.timestamp("from", start_from)
    end = time.time_ns() if end is None else end
    begin = end - DEFAULT_RANGE_NS if begin is None else begin
    if begin > end:
        raise BadParameter(f"from ({begin}) is after to ({end})")
    return Filters(start_from=begin, start_to=end, platforms=_names(platform or []), queue=queue or None,
                   flow=flow or None)  # fmt: skip


Chosen = Annotated[Filters, Depends(filters)]
Limit = Annotated[str | None, Query(description="how many rows, 1-1000 (default 20)")]


def router(store: SpanStore, *, tenant: str) -> APIRouter:
    """The analytics endpoints of one tenant; ``BadParameter`` becomes a 400 in the app's error envelope."""
    api = APIRouter(prefix="/api/analytics", tags=["analytics"])

    @api.get("")
    async def index() -> dict[str, Any]:
        """The analytics endpoints and the parameters they share."""
        return {
            "endpoints": [{"path": f"/api/analytics/{name}", "description": text} for name, text in ENDPOINTS.items()],
            "parameters": {
                "from": "start of the range (unix ns or ISO 8601; default: 7 days before to)",
                "to": "end of the range, inclusive (default: now)",
                "platform": "journeys through any of these platforms (repeatable)",
                "queue": "journeys through this queue",
                "flow": "journeys through this IVR flow",
            },
        }

    @api.get("/overview")
    async def overview(chosen: Chosen) -> dict[str, Any]:
        """Journey count, AI containment rate, handoff, drop and abandon rates, average legs, outcomes."""
        return await store.read(lambda cursor: analytics.overview(cursor, tenant, chosen))

    @api.get("/timeseries")
    async def timeseries(
        chosen: Chosen,
        interval: Annotated[str | None, Query(description="5m, 15m, 1h, 6h, 1d or auto (default)")] = None,
    ) -> dict[str, Any]:
        """The overview's rates per time bucket, empty buckets included."""
        if interval in (None, "", "auto"):
            interval = analytics.auto_interval(chosen)
        elif interval not in analytics.INTERVALS:
            raise BadParameter(f"interval {interval[:32]!r} must be auto or one of {', '.join(analytics.INTERVALS)}")
        buckets = analytics.bucket_count(chosen, analytics.INTERVALS[interval] * 10**9)
        if buckets > analytics.MAX_BUCKETS:
            raise BadParameter(
                f"interval {interval} makes {buckets} buckets over this range; at most {analytics.MAX_BUCKETS}"
            )
        picked = interval
        return await store.read(lambda cursor: analytics.timeseries(cursor, tenant, chosen, picked))

    @api.get("/handoffs")
    async def handoffs(chosen: Chosen) -> dict[str, Any]:
        """Handoffs per from -> to platform pair: count, share of journeys, latency percentiles."""
        return await store.read(lambda cursor: analytics.handoffs(cursor, tenant, chosen))

    @api.get("/queue-wait")
    async def queue_wait(chosen: Chosen) -> dict[str, Any]:
        """Queue wait percentiles and histogram, overall and per queue."""
        return await store.read(lambda cursor: analytics.queue_wait(cursor, tenant, chosen))

    @api.get("/insights")
    async def insights(
        chosen: Chosen,
        by: Annotated[str | None, Query(description="group by the insight's platform, queue, agent or flow")] = None,
    ) -> dict[str, Any]:
        """Insight frequency per rule: insights, journeys, share of journeys, severities."""
        if by == "":
            by = None
        if by is not None and by not in analytics.INSIGHT_GROUPS:
            raise BadParameter(f"by {by[:32]!r} must be one of {', '.join(analytics.INSIGHT_GROUPS)}")
        return await store.read(lambda cursor: analytics.insight_frequency(cursor, tenant, chosen, by))

    @api.get("/paths")
    async def paths(chosen: Chosen, limit: Limit = None) -> dict[str, Any]:
        """The most common platform sequences, and a Sankey graph (nodes "step: platform", links)."""
        top = params.limit(limit, maximum=MAX_LIMIT)
        return await store.read(lambda cursor: analytics.paths(cursor, tenant, chosen, top))

    @api.get("/patterns")
    async def patterns(
        chosen: Chosen,
        limit: Limit = None,
        by: Annotated[list[str] | None, Query(description="queue, agent and/or flow (default: all three)")] = None,
    ) -> dict[str, Any]:
        """Recurring issues: insight rule x queue / agent / flow, most journeys first."""
        top = params.limit(limit, maximum=MAX_LIMIT)
        dimensions = _names(by or []) or tuple(analytics.PATTERN_DIMENSIONS)
        unknown = [d for d in dimensions if d not in analytics.PATTERN_DIMENSIONS]
        if unknown:
            raise BadParameter(f"by {unknown[0][:32]!r} must be one of {', '.join(analytics.PATTERN_DIMENSIONS)}")
        return await store.read(lambda cursor: analytics.patterns(cursor, tenant, chosen, top, dimensions))

    return api
