"""``GET /api/search``: TraceQL matches as Tempo's ``SearchResponse``, one entry per journey.

Grafana decodes this answer strictly (unknown fields are errors, viewer-apis.md §2.5), so only
``SearchResponse`` fields appear, zero values and empty lists are left out as Tempo's JSON
encoder does, and journey data travels as span attributes. The root of a journey is its
synthetic ``journey`` span; ``rootServiceName``/``rootTraceName`` name the first contact instead
(the earliest stored span without a parent, as TraceQL's
``rootServiceName`` means), which is what tells journeys apart in a result list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb

from journeytrace.query import traceql
from journeytrace.storage import search as search_slices
from journeytrace.values import to_otlp_json


@dataclass(frozen=True, slots=True)
class SearchRequest:
    query: traceql.Query
    start_ns: int | None
    end_ns: int | None
    min_duration_ns: int | None
    max_duration_ns: int | None
    limit: int
    spans_per_set: int


@dataclass(slots=True)
class _Match:
    span_id: str
    name: str
    start: int
    end: int
    attributes: dict[str, Any]


def _selected(text: str | None) -> dict[str, Any]:
    """The ``select(...)`` values of a match (JSON text keyed by unscoped name), absent ones left out."""
    if text is None:
        return {}
    return {key: value for key, value in json.loads(text).items() if value is not None}


def _attribute(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": to_otlp_json(value)}


def _span(match: _Match) -> dict[str, Any]:
    span: dict[str, Any] = {"spanID": match.span_id, "startTimeUnixNano": str(match.start)}
    if match.name:
        span["name"] = match.name
    if match.end - match.start:
        span["durationNanos"] = str(match.end - match.start)
    attributes = [_attribute(k, v) for k, v in sorted(match.attributes.items())]
    if attributes:
        span["attributes"] = attributes
    return span


_SUMMARY_SQL = """
WITH wanted AS (SELECT unnest(?::VARCHAR[]) AS journey_id),
spans_of AS (
    SELECT journey_id, span_id, parent_span_id, name, service_name, start_unix_nano, status_code
    FROM spans WHERE tenant = ? AND journey_id IN (SELECT journey_id FROM wanted)
        AND start_unix_nano BETWEEN ? AND ? AND received_unix_nano BETWEEN ? AND ?
),
firsts AS (  -- TraceQL's rootServiceName/rootName: the earliest stored span without a parent
    SELECT journey_id, service_name, name FROM spans_of
    QUALIFY row_number() OVER (
        PARTITION BY journey_id ORDER BY parent_span_id IS NOT NULL, start_unix_nano, span_id) = 1
),
stats AS (
    SELECT journey_id, service_name, count(DISTINCT span_id) AS span_count,
           count(DISTINCT span_id) FILTER (WHERE status_code = 2) AS error_count
    FROM spans_of GROUP BY journey_id, service_name
)
SELECT j.journey_id, j.start_unix_nano, j.end_unix_nano, f.service_name, f.name,
       (SELECT list((s.service_name, s.span_count, s.error_count) ORDER BY s.service_name)
        FROM stats s WHERE s.journey_id = j.journey_id)
FROM journeys j JOIN firsts f USING (journey_id)
WHERE j.tenant = ? AND j.journey_id IN (SELECT journey_id FROM wanted) AND j.start_unix_nano BETWEEN ? AND ?
ORDER BY j.start_unix_nano DESC, j.journey_id DESC
"""


def _trace(row: tuple[Any, ...], matches: list[_Match], spans_per_set: int) -> dict[str, Any]:
    journey_id, start, end, root_service, root_name, stats = row
    spans = sorted(matches, key=lambda m: (m.start, m.span_id))
    shown = spans[:spans_per_set] if spans_per_set > 0 else spans
    span_set: dict[str, Any] = {"spans": [_span(m) for m in shown], "matched": len(spans)}
    trace: dict[str, Any] = {
        "traceID": journey_id,
        "rootServiceName": root_service,
        "startTimeUnixNano": str(start),
    }
    if root_name:
        trace["rootTraceName"] = root_name
    if (end - start) // 1_000_000:
        trace["durationMs"] = (end - start) // 1_000_000
    trace["spanSet"] = span_set
    trace["spanSets"] = [span_set]
    service_stats = {}
    for stat in stats or ():
        service, span_count, error_count = stat.values() if isinstance(stat, dict) else stat
        entry = {"spanCount": span_count}
        if error_count:
            entry["errorCount"] = error_count
        service_stats[service] = entry
    if service_stats:
        trace["serviceStats"] = service_stats
    return trace


def search(cursor: duckdb.DuckDBPyConnection, tenant: str, request: SearchRequest) -> dict[str, Any]:
    """Matching journeys newest first (start, then ID), each with its earliest ``spans_per_set``
    matched spans. Every matched span is read so that ``matched`` is the true count, as in Tempo."""
    matches: dict[str, list[_Match]] = {}
    read: search_slices.SpanBounds | None = None  # of the slices read: the matches' spans lie within
    for window, bounds in search_slices.slices_to_read(cursor, tenant, request.start_ns, request.end_ns):
        read = bounds if read is None else read.union(bounds)
        sql, params = traceql.compile_search(
            request.query, tenant=tenant, start_ns=request.start_ns, end_ns=request.end_ns,
            min_duration_ns=request.min_duration_ns, max_duration_ns=request.max_duration_ns,
            limit=request.limit - len(matches), spans_per_set=0,
            started=(window.start_from, window.start_to), span_bounds=bounds,
        )  # fmt: skip
        for journey_id, span_id, name, _service, start, end, selected in cursor.execute(sql, params).fetchall():
            matches.setdefault(journey_id, []).append(_Match(span_id, name, start, end, _selected(selected)))
        if len(matches) >= request.limit:
            break
    if not matches or read is None:
        return {"traces": [], "metrics": {}}
    ids = list(matches)
    rows = cursor.execute(
        _SUMMARY_SQL, [ids, tenant, *read.params, tenant, read.start_min, read.end_max]
    ).fetchall()
    traces = [_trace(row, matches[row[0]], request.spans_per_set) for row in rows]
    return {"traces": traces, "metrics": {}}
