"""Search queries behind the viewer APIs, as plain functions of a DuckDB cursor.

Jaeger's search semantics (viewer-apis.md §1.3): a journey matches when **one stored span**
meets every condition at once. Tags on the journey keys are answered from their promoted
columns (so the common searches never parse JSON); any other tag compares the stringified
attribute, span first then resource. Every value, JSON paths included, is a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


def journey_ids(cursor: duckdb.DuckDBPyConnection, tenant: str, query: SpanQuery, limit: int) -> list[str]:
    """IDs of the journeys holding a span that meets ``query``: newest start first, then by ID."""
    conditions, span_params = _span_conditions(query)
    journey_where = ["j.tenant = ?"]
    params: list[Any] = [tenant]
    # A span starting in [start_min, start_max] lies in a journey overlapping that window.
    if query.start_max is not None:
        journey_where.append("j.start_unix_nano <= ?")
        params.append(query.start_max)
    if query.start_min is not None:
        journey_where.append("j.end_unix_nano >= ?")
        params.append(query.start_min)
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
