"""Historical analytics over ``journey_analysis`` and ``journey_insights``, as plain functions of a cursor.

Every number is aggregated from the per-journey facts the analysis worker stored
(``correlator/analysis/facts.py``), never from spans, so a call over 500,000 journeys stays well
under a second. Each function takes the same ``Filters`` (a start-time range, platforms, a queue, a
flow), echoes them, and gives each row a ``journeys`` query string for ``GET /api/journeys`` so a
chart links to the journeys behind it. Definitions are in docs/analytics.md. Every value reaches
SQL as a parameter; the few SQL fragments chosen by an argument come from fixed tables here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import duckdb

PERCENTILES = (0.5, 0.9, 0.99)
INTERVALS = {"5m": 300, "15m": 900, "1h": 3600, "6h": 21_600, "1d": 86_400}
"""Time-series bucket widths in seconds. Buckets are aligned to the epoch (UTC days and hours)."""
AUTO_BUCKETS = 200
"""``auto`` picks the smallest interval that covers the range in at most this many buckets."""
MAX_BUCKETS = 2000
QUEUE_WAIT_EDGES_MS = (10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_200_000)
"""Upper bounds of the queue-wait histogram buckets; the last bucket is open-ended."""
SANKEY_STEPS = 8
"""Sankey graphs follow journeys through at most this many legs."""
INSIGHT_GROUPS = ("platform", "queue", "agent", "flow")
"""Columns of an insight that ``insight_frequency`` may group by (set by the rule that raised it)."""
PATTERN_DIMENSIONS = {"queue": "queues", "agent": "agents", "flow": "flows"}
"""Journey context that ``patterns`` crosses with insight rules: dimension -> ``journey_analysis`` column."""
SEVERITIES = ("info", "warning", "critical")
_NS = 1_000_000_000


@dataclass(frozen=True, kw_only=True, slots=True)
class Filters:
    """Which journeys a call aggregates: started within [start_from, start_to] (unix ns, inclusive),
    through any of ``platforms`` (all when empty), through ``queue`` and through ``flow``."""

    start_from: int
    start_to: int
    platforms: tuple[str, ...] = ()
    queue: str | None = None
    flow: str | None = None


def _where(tenant: str, filters: Filters) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword) selecting the filtered rows of ``journey_analysis``."""
    where = ["tenant = ?", "start_unix_nano BETWEEN ? AND ?"]
    params: list[Any] = [tenant, filters.start_from, filters.start_to]
    if filters.platforms:
        where.append("list_has_any(path, ?::VARCHAR[])")
        params.append(list(filters.platforms))
    if filters.queue:
        where.append("list_contains(queues, ?)")
        params.append(filters.queue)
    if filters.flow:
        where.append("list_contains(flows, ?)")
        params.append(filters.flow)
    return " AND ".join(where), params


def _narrowed(filters: Filters) -> bool:
    """Whether the filters select journeys by more than tenant and start time."""
    return bool(filters.platforms or filters.queue or filters.flow)


def echo(filters: Filters) -> dict[str, Any]:
    return {"from": filters.start_from, "to": filters.start_to, "platform": list(filters.platforms),
            "queue": filters.queue, "flow": filters.flow}  # fmt: skip


def journeys_query(filters: Filters, **row: Any) -> str:
    """The ``GET /api/journeys`` query string for the filters narrowed by a row's own keys
    (``from``/``to`` of a bucket, ``platform``, ``queue``, ``flow``, ``agent``, ``insight``, ``outcome``,
    ``path``: a whole leg path, comma-separated);
    a row's key replaces the filter's of the same name."""
    values = {**echo(filters), **row}
    pairs = []
    for name in ("from", "to", "platform", "queue", "flow", "agent", "insight", "outcome", "path"):
        value = values.get(name)
        for one in value if isinstance(value, list) else [value]:
            if one is not None and one != "":
                pairs.append((name, one))
    return urlencode(pairs)


def _rate(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _percentiles(values: list[float | None] | None) -> dict[str, float | None]:
    """``{"p50", "p90", "p99"}`` from a ``quantile_cont`` list; nulls when there was nothing to measure."""
    found = values or [None] * len(PERCENTILES)
    return {f"p{round(q * 100)}": v for q, v in zip(PERCENTILES, found, strict=True)}


_RATES_SELECT = """
    count(*) AS journey_count,
    count(*) FILTER (WHERE has_ai) AS ai_journey_count,
    count(*) FILTER (WHERE contained) AS contained_count,
    count(*) FILTER (WHERE len(handoffs) > 0) AS handoff_journey_count,
    count(*) FILTER (WHERE dropped) AS dropped_count,
    count(*) FILTER (WHERE outcome = 'abandoned') AS abandoned_count,
    count(*) FILTER (WHERE has_agent) AS agent_journey_count,
    coalesce(sum(leg_count), 0) AS legs
"""


def _rates(row: tuple[Any, ...]) -> dict[str, Any]:
    journeys, ai, contained, handed_off, dropped, abandoned, agent, legs = row
    return {
        "journey_count": journeys,
        "ai_journey_count": ai,
        "contained_count": contained,
        "containment_rate": _rate(contained, ai),
        "agent_journey_count": agent,
        "handoff_journey_count": handed_off,
        "handoff_rate": _rate(handed_off, journeys),
        "dropped_count": dropped,
        "drop_rate": _rate(dropped, journeys),
        "abandoned_count": abandoned,
        "abandoned_rate": _rate(abandoned, journeys),
        "avg_legs": _rate(int(legs), journeys),
    }


def overview(cursor: duckdb.DuckDBPyConnection, tenant: str, filters: Filters) -> dict[str, Any]:
    """Journey count, AI containment, handoff, drop and abandon rates, average legs, outcomes."""
    where, params = _where(tenant, filters)
    rows = cursor.execute(
        f"""SELECT GROUPING(outcome) AS total, outcome, {_RATES_SELECT} FROM journey_analysis WHERE {where}
            GROUP BY GROUPING SETS ((outcome), ()) ORDER BY total DESC, journey_count DESC, outcome NULLS LAST""",
        params,
    ).fetchall()
    result = _rates(rows[0][2:])  # the grand total comes first, and exists even when no journey matches
    outcomes = [
        {"outcome": r[1], "journey_count": r[2], "share": _rate(r[2], result["journey_count"]),
         "journeys": journeys_query(filters, outcome=r[1]) if r[1] is not None else None}
        for r in rows[1:]
    ]  # fmt: skip
    return {"filters": echo(filters), **result, "outcomes": outcomes, "journeys": journeys_query(filters)}


def auto_interval(filters: Filters) -> str:
    """The smallest interval that covers the range in at most ``AUTO_BUCKETS`` buckets (else the widest)."""
    for name, seconds in INTERVALS.items():
        if bucket_count(filters, seconds * _NS) <= AUTO_BUCKETS:
            return name
    return next(reversed(INTERVALS))


def bucket_count(filters: Filters, interval_ns: int) -> int:
    return filters.start_to // interval_ns - filters.start_from // interval_ns + 1


def timeseries(cursor: duckdb.DuckDBPyConnection, tenant: str, filters: Filters, interval: str) -> dict[str, Any]:
    """The overview's rates per time bucket of ``interval`` (an ``INTERVALS`` name); empty buckets are zeros."""
    width = INTERVALS[interval] * _NS
    where, params = _where(tenant, filters)
    found = {
        row[0]: row[1:]
        for row in cursor.execute(
            f"SELECT start_unix_nano // ? AS bucket, {_RATES_SELECT} FROM journey_analysis WHERE {where} GROUP BY bucket",
            [width, *params],
        ).fetchall()
    }
    buckets = []
    for bucket in range(filters.start_from // width, filters.start_to // width + 1):
        start, end = bucket * width, (bucket + 1) * width
        buckets.append({
            "start_unix_nano": start,
            "end_unix_nano": end,
            **_rates(found.get(bucket, (0,) * 8)),
            "journeys": journeys_query(filters, **{"from": max(start, filters.start_from),
                                                   "to": min(end - 1, filters.start_to)}),
        })  # fmt: skip
    return {"filters": echo(filters), "interval": interval, "interval_ns": width, "buckets": buckets}


def handoffs(cursor: duckdb.DuckDBPyConnection, tenant: str, filters: Filters) -> dict[str, Any]:
    """Handoffs per from -> to platform pair: how often, of which share of journeys, and how slow.

    Journey counts come from grouping journeys by (path, sequence of hop pairs) -- a few dozen
    groups however many journeys -- rather than from counting distinct journeys per pair, which
    costs several times more at 500,000 journeys; latencies need every hop.
    """
    where, params = _where(tenant, filters)
    groups = cursor.execute(
        f"""SELECT path, [[h.from_platform, h.to_platform] FOR h IN handoffs] AS hops, count(*)
            FROM journey_analysis WHERE {where} GROUP BY ALL""",
        params,
    ).fetchall()
    latencies = cursor.execute(
        f"""SELECT from_platform, to_platform, quantile_cont(latency_ms, ?::DOUBLE[]), count(latency_ms),
                   GROUPING(from_platform, to_platform) = 0
            FROM (SELECT unnest(handoffs, recursive := true) FROM journey_analysis WHERE {where} AND len(handoffs) > 0)
            GROUP BY GROUPING SETS ((from_platform, to_platform), ())""",
        [list(PERCENTILES), *params],
    ).fetchall()
    journeys = handed_off = 0
    visits: Counter[str] = Counter()
    hop_count: Counter[tuple[str, str | None]] = Counter()
    pair_journeys: Counter[tuple[str, str | None]] = Counter()
    for path, hops, count in groups:
        journeys += count
        handed_off += count if hops else 0
        visits.update({platform: count for platform in set(path)})
        crossed = [(a, b) for a, b in hops]
        hop_count.update({pair: count * n for pair, n in Counter(crossed).items()})
        pair_journeys.update({pair: count for pair in set(crossed)})
    measured = {(r[0], r[1]): {**_percentiles(r[2]), "count": r[3]} for r in latencies if r[4]}
    overall = next((r for r in latencies if not r[4]), None)
    pairs = [
        {
            "from_platform": source,
            "to_platform": target,
            "handoff_count": hop_count[(source, target)],
            "journey_count": n,
            "share": _rate(n, journeys),
            "from_journey_count": visits[source],
            "rate_from": _rate(n, visits[source]),
            "latency_ms": measured.get((source, target), {**_percentiles(None), "count": 0}),
        }
        for (source, target), n in sorted(pair_journeys.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or ""))
    ]  # fmt: skip
    return {
        "filters": echo(filters),
        "journey_count": journeys,
        "handoff_journey_count": handed_off,
        "handoff_rate": _rate(handed_off, journeys),
        "handoff_count": sum(hop_count.values()),
        "latency_ms": {**_percentiles(overall[2] if overall else None), "count": overall[3] if overall else 0},
        "pairs": pairs,
        "journeys": journeys_query(filters),
    }


def queue_wait(cursor: duckdb.DuckDBPyConnection, tenant: str, filters: Filters) -> dict[str, Any]:
    """Queue wait of the journeys that queued: percentiles, a histogram, and the same per queue."""
    where, params = _where(tenant, filters)
    quantiles = list(PERCENTILES)
    summary = cursor.execute(
        f"""SELECT count(*), quantile_cont(queue_wait_ms, ?::DOUBLE[]), avg(queue_wait_ms), max(queue_wait_ms)
            FROM journey_analysis WHERE {where} AND queue_wait_ms IS NOT NULL""",
        [quantiles, *params],
    ).fetchone()
    count, found, average, longest = summary if summary else (0, None, None, None)
    cases = " ".join(f"WHEN queue_wait_ms < ? THEN {i}" for i in range(len(QUEUE_WAIT_EDGES_MS)))
    histogram = dict(cursor.execute(
        f"""SELECT CASE {cases} ELSE {len(QUEUE_WAIT_EDGES_MS)} END AS bucket, count(*)
            FROM journey_analysis WHERE {where} AND queue_wait_ms IS NOT NULL GROUP BY bucket""",
        [*QUEUE_WAIT_EDGES_MS, *params],
    ).fetchall())  # fmt: skip
    bounds = (0, *QUEUE_WAIT_EDGES_MS, None)
    per_queue = cursor.execute(
        f"""SELECT queue, count(*), quantile_cont(queue_wait_ms, ?::DOUBLE[]), avg(queue_wait_ms), max(queue_wait_ms)
            FROM (SELECT unnest(queues) AS queue, queue_wait_ms FROM journey_analysis
                  WHERE {where} AND queue_wait_ms IS NOT NULL)
            GROUP BY queue ORDER BY count(*) DESC, queue""",
        [quantiles, *params],
    ).fetchall()
    return {
        "filters": echo(filters),
        "journey_count": count,
        "wait_ms": {**_percentiles(found), "avg": average, "max": longest},
        "histogram": [
            {"from_ms": bounds[i], "to_ms": bounds[i + 1], "journey_count": histogram.get(i, 0)}
            for i in range(len(bounds) - 1)
        ],
        "queues": [
            {
                "queue": q,
                "journey_count": n,
                "wait_ms": {**_percentiles(p), "avg": a, "max": m},
                "journeys": journeys_query(filters, queue=q),
            }
            for q, n, p, a, m in per_queue
        ],
        "journeys": journeys_query(filters),
    }


def _filtered_insights(tenant: str, filters: Filters) -> tuple[str, list[Any]]:
    """FROM and WHERE of the ``journey_insights`` rows of the filtered journeys (alias ``i``).

    Insights carry their journey's start, so a range alone needs no join with ``journey_analysis``.
    """
    if not _narrowed(filters):
        return ("journey_insights i WHERE i.tenant = ? AND i.start_unix_nano BETWEEN ? AND ?",
                [tenant, filters.start_from, filters.start_to])  # fmt: skip
    where, params = _where(tenant, filters)
    return (
        f"""journey_insights i WHERE i.tenant = ? AND i.start_unix_nano BETWEEN ? AND ?
            AND i.journey_id IN (SELECT journey_id FROM journey_analysis WHERE {where})""",
        [tenant, filters.start_from, filters.start_to, *params],
    )


def _journey_count(cursor: duckdb.DuckDBPyConnection, tenant: str, filters: Filters) -> int:
    where, params = _where(tenant, filters)
    row = cursor.execute(f"SELECT count(*) FROM journey_analysis WHERE {where}", params).fetchone()
    return row[0] if row else 0


def insight_frequency(
    cursor: duckdb.DuckDBPyConnection, tenant: str, filters: Filters, by: str | None = None
) -> dict[str, Any]:
    """Per insight rule (and per value of the insight's ``by`` column, one of ``INSIGHT_GROUPS``):
    how many insights, in how many journeys, which share of journeys, by severity."""
    if by is not None and by not in INSIGHT_GROUPS:
        raise ValueError(f"cannot group insights by {by!r}")
    group = f"i.{by}" if by is not None else "NULL"
    source, params = _filtered_insights(tenant, filters)
    severities = ", ".join(f"count(*) FILTER (WHERE i.severity = '{s}')" for s in SEVERITIES)
    rows = cursor.execute(
        f"""SELECT i.rule, {group} AS grouped, min(i.category), count(*), count(DISTINCT i.journey_id), {severities}
            FROM {source} GROUP BY i.rule, {group}
            ORDER BY count(DISTINCT i.journey_id) DESC, i.rule, grouped NULLS LAST""",
        params,
    ).fetchall()
    journeys = _journey_count(cursor, tenant, filters)
    with_insights = cursor.execute(f"SELECT count(DISTINCT i.journey_id) FROM {source}", params).fetchone()
    result = []
    for rule, value, category, count, in_journeys, *by_severity in rows:
        row: dict[str, Any] = {"rule": rule}
        if by is not None:
            row[by] = value
        narrowed = {by: value} if by is not None and value is not None else {}
        row.update({
            "category": category, "insight_count": count, "journey_count": in_journeys,
            "share": _rate(in_journeys, journeys), "severity": dict(zip(SEVERITIES, by_severity, strict=True)),
            "journeys": journeys_query(filters, insight=rule, **narrowed),
        })  # fmt: skip
        result.append(row)
    return {
        "filters": echo(filters),
        "by": by,
        "journey_count": journeys,
        "insight_journey_count": with_insights[0] if with_insights else 0,
        "rules": result,
    }


def paths(cursor: duckdb.DuckDBPyConnection, tenant: str, filters: Filters, limit: int = 20) -> dict[str, Any]:
    """The most common platform sequences, and every journey's first ``SANKEY_STEPS`` legs as a Sankey graph.

    One scan groups journeys by path (distinct paths are few); ranking and the graph are built from the groups.
    """
    where, params = _where(tenant, filters)
    sql = f"SELECT path, count(*) FROM journey_analysis WHERE {where} GROUP BY path"
    counts = cursor.execute(sql, params).fetchall()
    journeys = sum(n for _, n in counts)
    top = sorted(counts, key=lambda item: (-item[1], item[0]))[:limit]
    prefixes: Counter[tuple[str, ...]] = Counter()
    for path, n in counts:
        prefixes[tuple(path[:SANKEY_STEPS])] += n
    return {
        "filters": echo(filters),
        "journey_count": journeys,
        "paths": [{"path": p, "leg_count": len(p), "journey_count": n, "share": _rate(n, journeys),
                   "journeys": journeys_query(filters, path=",".join(p))} for p, n in top],  # fmt: skip
        "sankey": sankey(list(prefixes.items())),
        "journeys": journeys_query(filters),
    }


def sankey(path_counts: list[tuple[tuple[str, ...], int]]) -> dict[str, Any]:
    """Nodes ``{id, name, step, value}`` ("step i: platform", so the graph is acyclic) and links
    ``{source, target, value}`` between consecutive steps, from (path, journey count) pairs."""
    nodes: Counter[tuple[int, str]] = Counter()
    links: Counter[tuple[tuple[int, str], tuple[int, str]]] = Counter()
    for path, count in path_counts:
        steps = list(enumerate(path, start=1))
        for step in steps:
            nodes[step] += count
        for pair in zip(steps, steps[1:], strict=False):
            links[pair] += count

    def node_id(node: tuple[int, str]) -> str:
        return f"{node[0]}:{node[1]}"

    return {
        "nodes": [{"id": node_id(n), "name": n[1], "step": n[0], "value": v}
                  for n, v in sorted(nodes.items(), key=lambda item: (item[0][0], -item[1], item[0][1]))],
        "links": [{"source": node_id(a), "target": node_id(b), "value": v}
                  for (a, b), v in sorted(links.items(), key=lambda item: (item[0][0][0], -item[1], item[0]))],
    }  # fmt: skip


def patterns(
    cursor: duckdb.DuckDBPyConnection, tenant: str, filters: Filters, limit: int = 20,
    dimensions: tuple[str, ...] = tuple(PATTERN_DIMENSIONS),
) -> dict[str, Any]:  # fmt: skip
    """Recurring issues: insight rule x the queue / agent / flow of the journeys it occurred in,
    most journeys first, with how concentrated the rule is there (``lift`` over its overall rate)."""
    where, params = _where(tenant, filters)
    chosen = [d for d in PATTERN_DIMENSIONS if d in dimensions]
    if not chosen or len(chosen) < len(set(dimensions)):
        raise ValueError(f"pattern dimensions must be some of {', '.join(PATTERN_DIMENSIONS)}")
    pairs = " UNION ALL ".join(
        f"SELECT '{d}' AS dimension, rule, unnest({PATTERN_DIMENSIONS[d]}) AS value FROM ruled" for d in chosen
    )
    contexts = " UNION ALL ".join(
        f"SELECT '{d}' AS dimension, unnest({PATTERN_DIMENSIONS[d]}) AS value FROM journey" for d in chosen
    )
    rows = cursor.execute(
        f"""
        WITH journey AS (SELECT insights, queues, agents, flows FROM journey_analysis WHERE {where}),
        ruled AS (SELECT unnest(insights) AS rule, queues, agents, flows FROM journey WHERE len(insights) > 0),
        pair AS (SELECT dimension, rule, value, count(*) AS n FROM ({pairs}) GROUP BY ALL),
        context AS (SELECT dimension, value, count(*) AS n FROM ({contexts}) GROUP BY ALL),
        rule AS (SELECT rule, count(*) AS n FROM ruled GROUP BY rule)
        SELECT pair.dimension, pair.rule, pair.value, pair.n, context.n, rule.n, (SELECT count(*) FROM journey)
        FROM pair JOIN context USING (dimension, value) JOIN rule USING (rule)
        ORDER BY pair.n DESC, pair.rule, pair.dimension, pair.value LIMIT ?
        """,
        [*params, limit],
    ).fetchall()
    journeys = rows[0][6] if rows else _journey_count(cursor, tenant, filters)
    found = []
    for dimension, rule, value, n, with_value, with_rule, _ in rows:
        rate, rule_rate = _rate(n, with_value), _rate(with_rule, journeys)
        found.append({
            "rule": rule, "dimension": dimension, "value": value, "journey_count": n,
            "dimension_journey_count": with_value, "rate": rate, "rule_journey_count": with_rule,
            "rule_rate": rule_rate, "lift": _rate(rate, rule_rate),
            "journeys": journeys_query(filters, insight=rule, **{dimension: value}),
        })  # fmt: skip
    return {"filters": echo(filters), "dimensions": chosen, "journey_count": journeys, "patterns": found}
