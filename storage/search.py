"""Search queries behind the viewer APIs, as plain functions of a DuckDB cursor.

Jaeger's search semantics (viewer-apis.md §1.3): a journey matches when **one stored span**
meets every condition at once. Tags on the journey keys are answered from their promoted
columns (so the common searches never parse JSON); any other tag compares the stringified
attribute, span first then resource. Every value, JSON paths included, is a parameter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import duckdb

from journeytrace import semconv

SPAN_KIND_NAMES = ("", "internal", "server", "client", "producer", "consumer")
"""Jaeger's names of the OTLP span kinds, by their number (UNSPECIFIED is the empty name)."""
_STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}

PROMOTED_COLUMNS = {
    semconv.CX_SPAN_TYPE: "span_type",
    semconv.CX_PLATFORM_INTERACTION_ID: "interaction_id",
    semconv.CX_QUEUE_NAME: "queue",
    semconv.CX_AGENT_ID: "agent",
    semconv.CX_PLATFORM_NAME: "platform",
    semconv.CX_TELEPHONY_ANI_HASH: "customer_phone_hash",
    "service.name": "service_name",
    "scope.name": "scope_name",
    "scope.version": "scope_version",
    "otel.status_description": "status_message",
}
"""Tag keys answered by a column of ``spans`` (the first four live only there, storage/reads.py)."""


@dataclass(frozen=True, slots=True)
class SpanQuery:
    """The conditions one span must meet; ``None`` leaves a condition out. Times in ns."""

    service: str | None = None
    operation: str | None = None
    tags: Sequence[tuple[str, str]] = ()
    start_min: int | None = None
    start_max: int | None = None
    duration_min: int | None = None
    duration_max: int | None = None


def json_path(key: str) -> str:
    """The DuckDB JSON path of a top-level key, quoted so that dots stay part of the key."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tag_condition(key: str, value: str) -> tuple[str, list[Any]]:
    """SQL (over ``spans``) and parameters for one ``key=value`` tag, as Jaeger matches it."""
    lowered = value.lower()
    if key == "error":
        return ("status_code = 2" if lowered == "true" else "status_code <> 2"), []
    if key in ("span.status", "otel.status_code"):
        return "status_code = ?", [_STATUS_CODES.get(lowered, -1)]
    if key == "span.kind":
        kinds = SPAN_KIND_NAMES[1:]
        return "kind = ?", [kinds.index(lowered) + 1 if lowered in kinds else -1]
    if key in PROMOTED_COLUMNS:
        return f"{PROMOTED_COLUMNS[key]} = ?", [value]
    if key.startswith("resource."):
        return "json_extract_string(resource_attributes, ?) = ?", [
            json_path(key.removeprefix("resource.")),
            value,
        ]
    path = json_path(key)
    return (
        "(json_extract_string(attributes, ?) = ? OR json_extract_string(resource_attributes, ?) = ?)",
        [path, value, path, value],
    )


def _span_conditions(query: SpanQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for sql, value in (
        ("service_name = ?", query.service),
        ("name = ?", query.operation),
        ("start_unix_nano >= ?", query.start_min),
        ("start_unix_nano <= ?", query.start_max),
        ("end_unix_nano - start_unix_nano >= ?", query.duration_min),
        ("end_unix_nano - start_unix_nano <= ?", query.duration_max),
    ):
        if value is not None:
            where.append(sql)
            params.append(value)
    for key, value in query.tags:
        sql, values = _tag_condition(key, value)
        where.append(sql)
        params += values
    return where, params


FIRST_SLICE_JOURNEYS = 256
"""How many journeys the first (newest) slice of a search holds; each later slice holds four
times as many as the one before."""


@dataclass(frozen=True, slots=True)
class Slice:
    """Journeys whose start lies in ``[start_from, start_to]`` (ns, inclusive; None: unbounded)."""

    start_from: int | None
    start_to: int | None


def slices_to_read(
    cursor: duckdb.DuckDBPyConnection, tenant: str, start_min: int | None, start_max: int | None
) -> Iterator[tuple[Slice, SpanBounds]]:
    """Disjoint slices of the journeys overlapping ``[start_min, start_max]``, newest start first,
    each with its ``span_bounds``; a search reads them in turn until it has enough.

    Searches answer the newest ``limit`` journeys, so they look at the newest slice first and stop
    once they have enough (as Tempo searches its newest blocks first). Slices are cut by journey
    count, not by time: the first holds the newest ``FIRST_SLICE_JOURNEYS``, wherever they lie
    (a file whose newest data is a day old, a burst of thousands of calls in one minute), and each
    later one four times as many. Spans are stored in arrival order, close to start order, so a
    slice's spans lie in a few row groups that DuckDB's zone maps find; in a burst of concurrent
    calls those row groups also hold millions of other journeys' spans (BENCHMARKS.md).
    """
    upper, size = start_max, FIRST_SLICE_JOURNEYS
    while True:
        lower = _nth_newest_start(cursor, tenant, start_min, upper, size)
        window = Slice(lower, upper)
        bounds = span_bounds(cursor, tenant, window, overlap_from=start_min)
        if bounds is None:
            return
        yield window, bounds
        if lower is None:
            return
        upper, size = lower - 1, size * 4


def _nth_newest_start(
    cursor: duckdb.DuckDBPyConnection, tenant: str, overlap_from: int | None, start_to: int | None, n: int
) -> int | None:
    """The start of the ``n``-th newest journey starting at or before ``start_to`` and ending at or
    after ``overlap_from``; None when there are fewer than ``n``."""
    where, params = _journeys_in(tenant, Slice(None, start_to), overlap_from)
    row = cursor.execute(
        f"SELECT start_unix_nano FROM journeys WHERE {where} ORDER BY start_unix_nano DESC LIMIT 1 OFFSET ?",
        [*params, n - 1],
    ).fetchone()
    return None if row is None else int(row[0])


def _journeys_in(tenant: str, window: Slice, overlap_from: int | None) -> tuple[str, list[Any]]:
    """WHERE clause (over ``journeys``) for the tenant's journeys starting in ``window`` and ending
    at or after ``overlap_from``."""
    where, params = ["tenant = ?"], [tenant]
    for sql, value in (("start_unix_nano >= ?", window.start_from), ("start_unix_nano <= ?", window.start_to),
                       ("end_unix_nano >= ?", overlap_from)):  # fmt: skip
        if value is not None:
            where.append(sql)
            params.append(value)
    return " AND ".join(where), params


@dataclass(frozen=True, slots=True)
class SpanBounds:
    """Where the spans of a slice's journeys lie: every one starts in ``[start_min, end_max]`` and
    was received in ``[received_min, received_max]`` (ns, inclusive).

    The arrival bounds are the narrow ones. Spans are stored in arrival order, so the row groups'
    zone maps on ``received_unix_nano`` do not overlap, and a slice's journeys arrived within
    seconds of each other: a search of live data reads a row group or two. Their start times do
    not say as much: calls report their spans when they end, minutes after they start, so under
    ingest every row group of the last minutes overlaps the newest slice's start bounds (the 10 M
    span benchmark read ~2 M spans a search, BENCHMARKS.md)."""

    start_min: int
    end_max: int
    received_min: int
    received_max: int

    SQL: ClassVar[str] = "start_unix_nano BETWEEN ? AND ? AND received_unix_nano BETWEEN ? AND ?"
    """The condition over ``spans``; ``params`` are its four parameters, in order."""

    @property
    def params(self) -> list[int]:
        return [self.start_min, self.end_max, self.received_min, self.received_max]

    def union(self, other: SpanBounds) -> SpanBounds:
        return SpanBounds(min(self.start_min, other.start_min), max(self.end_max, other.end_max),
                          min(self.received_min, other.received_min), max(self.received_max, other.received_max))  # fmt: skip


def span_bounds(
    cursor: duckdb.DuckDBPyConnection, tenant: str, window: Slice, *, overlap_from: int | None
) -> SpanBounds | None:
    """The ``SpanBounds`` of the journeys in ``window`` ending at or after ``overlap_from``, or None
    when there are none. A search of their spans passes the bounds to DuckDB, whose zone maps then
    skip the rest. A journey's spans arrived between its first arrival and its last update (as a
    read by ID relies on too); a journey whose first arrival is unknown (none since schema v7
    backfilled it; kept safe all the same) bounds nothing from below."""
    where, params = _journeys_in(tenant, window, overlap_from)
    row = cursor.execute(
        f"""SELECT min(start_unix_nano), max(end_unix_nano),
                   CASE WHEN count(first_received_unix_nano) = count(*) THEN min(first_received_unix_nano) ELSE 0 END,
                   max(updated_unix_nano)
            FROM journeys WHERE {where}""",
        params,
    ).fetchone()
    return None if row is None or row[0] is None else SpanBounds(*(int(v) for v in row))


def journey_ids(cursor: duckdb.DuckDBPyConnection, tenant: str, query: SpanQuery, limit: int) -> list[str]:
    """IDs of the journeys holding a span that meets ``query``: newest start first, then by ID."""
    found: list[str] = []
    for window, bounds in slices_to_read(cursor, tenant, query.start_min, query.start_max):
        found += _journey_ids_in(cursor, tenant, query, window, bounds, limit - len(found))
        if len(found) >= limit:
            break
    return found


def _journey_ids_in(
    cursor: duckdb.DuckDBPyConnection, tenant: str, query: SpanQuery, window: Slice, bounds: SpanBounds,
    limit: int,
) -> list[str]:
    conditions, span_params = _span_conditions(query)
    conditions.append(bounds.SQL)
    span_params += bounds.params
    journey_where = ["j.tenant = ?"]
    params: list[Any] = [tenant]
    # A span starting in [start_min, start_max] lies in a journey overlapping that window.
    for sql, value in (("j.start_unix_nano <= ?", query.start_max), ("j.end_unix_nano >= ?", query.start_min),
                       ("j.start_unix_nano >= ?", window.start_from), ("j.start_unix_nano <= ?", window.start_to)):  # fmt: skip
        if value is not None:
            journey_where.append(sql)
            params.append(value)
    if query.service is not None:
        journey_where.append("list_contains(j.services, ?)")
        params.append(query.service)
    rows = cursor.execute(
        f"""
        SELECT j.journey_id FROM journeys j
        WHERE {" AND ".join(journey_where)}
          AND j.journey_id IN (SELECT journey_id FROM spans WHERE {" AND ".join(["tenant = ?", *conditions])})
        ORDER BY j.start_unix_nano DESC, j.journey_id DESC
        LIMIT ?
        """,
        [*params, tenant, *span_params, limit],
    ).fetchall()
    return [str(row[0]) for row in rows]


def services(cursor: duckdb.DuckDBPyConnection, tenant: str) -> list[str]:
    """Every service that has sent a span, sorted."""
    rows = cursor.execute(
        "SELECT DISTINCT s FROM (SELECT unnest(services) AS s FROM journeys WHERE tenant = ?) ORDER BY s",
        [tenant],
    ).fetchall()
    return [str(row[0]) for row in rows]


def operations(
    cursor: duckdb.DuckDBPyConnection,
    tenant: str,
    service: str | None,
    kind: int | None = None,
) -> list[tuple[str, int]]:
    """The distinct (span name, kind number) pairs of a service (of every service for None), sorted."""
    where = ["tenant = ?"]
    params: list[Any] = [tenant]
    if service is not None:
        where.append("service_name = ?")
        params.append(service)
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    rows = cursor.execute(
        f"SELECT DISTINCT name, kind FROM spans WHERE {' AND '.join(where)} ORDER BY name, kind",
        params,
    ).fetchall()
    return [(str(name), int(k)) for name, k in rows]


def handoffs(
    cursor: duckdb.DuckDBPyConnection,
    tenant: str,
    start: int,
    end: int,
    service: str | None = None,
) -> list[tuple[str, str, int]]:
    """The platform handoff graph of the journeys overlapping [start, end] (ns): (from, to, count)
    for every pair of consecutive distinct platforms in a journey's leg path, sorted."""
    rows = cursor.execute(
        """
        WITH pairs AS (
            SELECT unnest(list_zip(platforms[1:-2], platforms[2:])) AS pair
            FROM journeys
            WHERE tenant = ? AND start_unix_nano <= ? AND end_unix_nano >= ? AND len(platforms) > 1
        )
        SELECT pair[1] AS parent, pair[2] AS child, count(*) AS calls
        FROM pairs
        WHERE pair[1] <> pair[2] AND (CAST(? AS VARCHAR) IS NULL OR ? IN (pair[1], pair[2]))
        GROUP BY ALL
        ORDER BY parent, child
        """,
        [tenant, end, start, service, service],
    ).fetchall()
    return [(str(parent), str(child), int(calls)) for parent, child, calls in rows]
