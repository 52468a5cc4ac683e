"""Tag names and tag values for Grafana's TraceQL autocomplete and search builder (viewer-apis.md §2.6-2.7).

Names and values come from a bounded sample: the newest ``SAMPLE_SPANS`` spans received (within
``start``/``end`` when given), or, with a TraceQL ``q``, the spans it matches in the newest
``SAMPLE_JOURNEYS`` matching journeys. The promoted columns (service, span type, interaction,
queue, agent, customer hash) are always offered as names, since search uses them most. Tag
names and JSON paths reach SQL only as parameters; column names come from fixed tables here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb

from journeytrace import semconv
from journeytrace.query import traceql
from journeytrace.query.params import BadParameter

SAMPLE_SPANS = 5000
SAMPLE_JOURNEYS = 500
_SPANS_PER_JOURNEY = 100

SPAN_COLUMNS = {
    semconv.CX_SPAN_TYPE: "span_type",
    semconv.CX_PLATFORM_INTERACTION_ID: "interaction_id",
    semconv.CX_QUEUE_NAME: "queue",
    semconv.CX_AGENT_ID: "agent",
    semconv.CX_TELEPHONY_ANI_HASH: "customer_phone_hash",
}
"""Span attributes stored only in a column (``storage.reads._STRIPPED_ORDER``)."""
RESOURCE_COLUMNS = {semconv.SERVICE_NAME: "service_name"}

INTRINSICS = (
    "duration", "kind", "name", "rootName", "rootServiceName", "status", "statusMessage", "traceDuration",
    "span:duration", "span:kind", "span:name", "span:status", "span:statusMessage",
    "trace:duration", "trace:rootName", "trace:rootService",
)  # fmt: skip
SCOPES = ("resource", "span", "intrinsic", "event", "link", "instrumentation")

_KEYWORDS = {
    "status": ("ok", "error", "unset"),
    "kind": ("client", "server", "producer", "consumer", "internal", "unspecified"),
}
# Intrinsics whose values are a column of the sampled spans: (column, only top-level spans).
_INTRINSIC_COLUMNS = {
    "name": ("name", False), "span:name": ("name", False),
    "statusMessage": ("status_message", False), "span:statusMessage": ("status_message", False),
    "rootName": ("name", True), "trace:rootName": ("name", True),
    "rootServiceName": ("service_name", True), "trace:rootService": ("service_name", True),
    "instrumentation:name": ("scope_name", False), "instrumentation:version": ("scope_version", False),
}  # fmt: skip
_NO_VALUES = frozenset((
    "duration", "traceDuration", "span:duration", "trace:duration", "span:id", "span:parentID", "span:childCount",
    "trace:id", "event:name", "event:timeSinceStart", "link:traceID", "link:spanID",
))  # fmt: skip
_ATTRIBUTE = re.compile(r'(span|resource|event|link|instrumentation)?\.(?:"((?:[^"\\]|\\.)+)"|([^\s{}()"=!<>~&|,]+))')

_CANDIDATE_COLUMNS = (
    "name, service_name, status_message, parent_span_id, scope_name, scope_version, span_type, interaction_id, "
    "queue, agent, customer_phone_hash, attributes, resource_attributes"
)


@dataclass(frozen=True, slots=True)
class Tag:
    """A TraceQL identifier: ``scope`` is span/resource/event/link/instrumentation, ``""`` for an
    unscoped attribute (``.foo``), or ``intrinsic`` with ``name`` as written (``status``, ``span:name``)."""

    scope: str
    name: str


def parse_tag(text: str) -> Tag:
    """A tag path segment of ``/api/v2/search/tag/{tag}/values``; 400 unless it is an identifier."""
    if text in INTRINSICS or text in _INTRINSIC_COLUMNS or text in _NO_VALUES:
        return Tag("intrinsic", text)
    match = _ATTRIBUTE.fullmatch(text)
    if match is None:
        raise BadParameter("please provide a valid tagName")
    scope, quoted, bare = match.groups()
    return Tag(scope or "", re.sub(r"\\(.)", r"\1", quoted) if quoted else bare)


@dataclass(frozen=True, slots=True)
class Sample:
    """Which spans to read names and values from."""

    tenant: str
    start_ns: int | None
    end_ns: int | None
    query: traceql.Query | None


def _candidates(cursor: duckdb.DuckDBPyConnection, sample: Sample) -> tuple[str, list[Any]]:
    """A ``WITH cand AS (...)`` clause over the sampled spans, and its parameters."""
    if sample.query is not None:
        sql, params = traceql.compile_search(
            sample.query, tenant=sample.tenant, start_ns=sample.start_ns, end_ns=sample.end_ns,
            min_duration_ns=None, max_duration_ns=None, limit=SAMPLE_JOURNEYS, spans_per_set=_SPANS_PER_JOURNEY,
        )  # fmt: skip
        prefixed = ", ".join(f"s.{c.strip()}" for c in _CANDIDATE_COLUMNS.split(","))
        return (
            f"""WITH cand AS (
                SELECT {prefixed} FROM spans s
                JOIN ({sql.strip().rstrip(';')}) m ON s.journey_id = m.journey_id AND s.span_id = m.span_id
                WHERE s.tenant = ?)""",
            [*params, sample.tenant],
        )
    where, params = "tenant = ?", [sample.tenant]
    if sample.start_ns is not None and sample.end_ns is not None:
        where += " AND start_unix_nano >= ? AND start_unix_nano < ?"
        params += [sample.start_ns, sample.end_ns]
    # The cutoff first, as a constant, so that the sample itself is read from the newest row groups only.
    row = cursor.execute(
        f"SELECT min(r) FROM (SELECT received_unix_nano AS r FROM spans WHERE {where} ORDER BY r DESC LIMIT ?)",
        [*params, SAMPLE_SPANS],
    ).fetchone()
    cutoff = row[0] if row and row[0] is not None else 0
    return (
        f"""WITH cand AS (SELECT {_CANDIDATE_COLUMNS} FROM spans WHERE {where} AND received_unix_nano >= ?
            ORDER BY received_unix_nano DESC LIMIT ?)""",
        [*params, cutoff, SAMPLE_SPANS],
    )


def tag_names(
    cursor: duckdb.DuckDBPyConnection, sample: Sample, scopes: tuple[str, ...], limit: int
) -> dict[str, list[str]]:
    """Per scope, the sorted tag names (at most ``limit``)."""
    out: dict[str, list[str]] = {}
    keyed = {"span": ("attributes", SPAN_COLUMNS), "resource": ("resource_attributes", RESOURCE_COLUMNS)}
    wanted = [s for s in scopes if s in keyed]
    if wanted:
        cte, params = _candidates(cursor, sample)
        selects = " UNION ALL ".join(
            f"SELECT DISTINCT '{scope}' AS scope, unnest(json_keys({keyed[scope][0]})) AS k FROM cand"
            for scope in wanted
        )
        found: dict[str, set[str]] = {scope: set(keyed[scope][1]) for scope in wanted}
        if "span" in found:
            found["span"].add(semconv.CX_INSIGHT_RULES)  # on journey root spans (storage.reads), always offered
        for scope, key in cursor.execute(f"{cte} {selects}", params).fetchall():
            found[scope].add(key)
        out.update({scope: sorted(found[scope])[:limit] for scope in wanted})
    for scope in scopes:
        if scope == "intrinsic":
            out[scope] = sorted(INTRINSICS)[:limit]
        elif scope not in out:
            out[scope] = []  # event, link and instrumentation attributes are not offered
    return out


def _value_sources(tag: Tag) -> list[tuple[str, list[Any]]]:
    """SQL expressions (over ``cand``) giving the tag's values as JSON text, with their parameters."""
    if tag.scope == "intrinsic":
        column, top_level = _INTRINSIC_COLUMNS[tag.name]
        top_level_only = "AND parent_span_id IS NULL" if top_level else ""
        return [(f"CASE WHEN {column} <> '' {top_level_only} THEN to_json({column})::VARCHAR END", [])]
    sources: list[tuple[str, list[Any]]] = []
    for scope, json_column, columns in (("span", "attributes", SPAN_COLUMNS),
                                        ("resource", "resource_attributes", RESOURCE_COLUMNS)):  # fmt: skip
        if tag.scope not in ("", scope):
            continue
        if tag.name in columns:
            sources.append((f"to_json({columns[tag.name]})::VARCHAR", []))
            if scope == "resource":
                continue  # the column holds every service name
        sources.append((f"json_extract({json_column}, ?)::VARCHAR", [traceql.json_pointer(tag.name)]))
    return sources


def _typed(text: str) -> tuple[str, str] | None:
    value = json.loads(text)
    if isinstance(value, bool):
        return "bool", "true" if value else "false"
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, float):
        return "float", repr(value)
    if isinstance(value, str):
        return "string", value
    return None  # arrays, maps and null are not offered as values


def tag_values(cursor: duckdb.DuckDBPyConnection, sample: Sample, tag: Tag, limit: int) -> list[tuple[str, str]]:
    """The tag's distinct values as (type, value), sorted, at most ``limit``; status and kind are
    keywords (so the builder writes ``status=error``, not ``status="error"``)."""
    if tag.scope == "intrinsic":
        base = tag.name.removeprefix("span:")
        if base in _KEYWORDS:
            return [("keyword", v) for v in _KEYWORDS[base]][:limit]
        if tag.name not in _INTRINSIC_COLUMNS:
            return []
    elif tag.scope not in ("", "span", "resource"):
        return []  # event, link and instrumentation attributes are not sampled
    if tag.name in (semconv.CX_INSIGHT_RULES, semconv.CX_INSIGHT_RULE) and tag.scope in ("", "span"):
        rows = cursor.execute(
            "SELECT DISTINCT rule FROM journey_insights WHERE tenant = ? ORDER BY rule LIMIT ?", [sample.tenant, limit]
        ).fetchall()
        return [("string", rule) for (rule,) in rows]
    cte, params = _candidates(cursor, sample)
    sources = _value_sources(tag)
    union = " UNION ALL ".join(f"SELECT {expression} AS v FROM cand" for expression, _ in sources)
    for _, extra in sources:
        params += extra
    rows = cursor.execute(
        f"{cte} SELECT DISTINCT v FROM ({union}) WHERE v IS NOT NULL AND v <> 'null' ORDER BY v LIMIT ?",
        [*params, limit * 2],
    ).fetchall()
    values = sorted({typed for (text,) in rows if (typed := _typed(text)) is not None})
    return values[:limit]
