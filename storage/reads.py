"""Read queries over the store, as plain functions of a DuckDB cursor.

Each returns plain dicts/lists ready for JSON; every value reaches SQL as a parameter.
Spans re-sent by a retrying exporter are stored twice; reads keep the latest copy.
"""

from __future__ import annotations

import functools
import json
from typing import Any, NamedTuple

import duckdb
import orjson

from journeytrace import semconv
from journeytrace.correlator import assembly
from journeytrace.correlator.analysis.model import SEVERITIES
from journeytrace.ids import interaction_key, journey_key
from journeytrace.spans import STRIPPED_KEYS
from journeytrace.values import from_otlp_json, json_safe

SPAN_KINDS = (
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
)  # fmt: skip
STATUS_CODES = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")

# Attribute keys of the span_type, interaction_id, queue and agent columns (spans.STRIPPED_KEYS),
# and of the customer number's hash (correlator.pii), each stored only in its column.
_STRIPPED_ORDER = (
    semconv.CX_SPAN_TYPE, semconv.CX_PLATFORM_INTERACTION_ID, semconv.CX_QUEUE_NAME, semconv.CX_AGENT_ID,
    semconv.CX_TELEPHONY_ANI_HASH,
)
assert frozenset(_STRIPPED_ORDER) - {semconv.CX_TELEPHONY_ANI_HASH} | {semconv.CX_TELEPHONY_ANI_NUMBER} == STRIPPED_KEYS

_SPAN_COLUMNS = """trace_id, span_id, parent_span_id, trace_state, flags, name, kind, service_name,
       start_unix_nano, end_unix_nano, status_code, status_message, attributes,
       resource_attributes, scope_name, scope_version, events, links, extra, interaction,
       span_type, interaction_id, queue, agent, customer_phone_hash"""
_TIMELINE_COLUMNS = """trace_id, span_id, parent_span_id, name, service_name, start_unix_nano, end_unix_nano,
       status_code, status_message, attributes, resource_attributes, events, span_type, interaction"""
"""What ``_outline_span`` reads: a third fewer values to bring into Python than ``_SPAN_COLUMNS``."""


def _position(columns: str, name: str) -> int:
    """Where column ``name`` is in a row read with ``columns`` (a comma-separated SELECT list)."""
    return [c.strip() for c in columns.split(",")].index(name)


_FULL_INTERACTION = _position(_SPAN_COLUMNS, "interaction")
_TIMELINE_INTERACTION = _position(_TIMELINE_COLUMNS, "interaction")
_SPAN_SELECT = """
SELECT {columns}, received_unix_nano, journey_id
FROM spans
WHERE tenant = ? AND {journeys} AND received_unix_nano BETWEEN ? AND ?
"""


def _span_rows(
    cursor: duckdb.DuckDBPyConnection, columns: str, journeys_sql: str, params: list[Any]
) -> list[tuple[Any, ...]]:
    """The rows (``columns`` then ``journey_id``) of the spans ``journeys_sql`` selects, one per
    span (of a span stored twice, by an exporter's retry or a record replayed after a crash
    between its parts, the latest received), ordered by journey, start and span ID.

    Both steps happen here rather than in SQL: DuckDB's window (``QUALIFY row_number()``) scans
    the table a second time to fetch the rows it keeps, and its ORDER BY sorts the wide rows;
    on a journey's 20 spans the query took 4.8 ms with them and 2.2 ms without (10 M spans)."""
    start = _position(columns, "start_unix_nano")
    latest: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for row in cursor.execute(_SPAN_SELECT.format(columns=columns, journeys=journeys_sql), params).fetchall():
        key = (row[-1], row[0], row[1])  # journey, trace, span
        kept = latest.get(key)
        if kept is None or row[-2] > kept[-2]:
            latest[key] = row
    return sorted(
        (row[:-2] + row[-1:] for row in latest.values()), key=lambda row: (row[-1], row[start], row[1])
    )


def _enum(names: tuple[str, ...], value: int) -> str | int:
    return names[value] if 0 <= value < len(names) else value


def _one_of(column: str, values: list[Any], kind: str) -> tuple[str, list[Any]]:
    """SQL matching ``column`` against any of ``values`` (of SQL type ``kind``), and its parameters:
    an equality for one value, a semi-join against the unnested list for more.

    Not ``list_contains`` of the list, although DuckDB checks that inside the scan: on the 10 M-span
    file (DuckDB 2.0.1), for two to eight journeys' rows it cost 55-105 ms against 3-5 ms, and
    their spans 230-390 ms against 13-32 ms (BENCHMARKS.md, twentieth session;
    ``bench/journey_reads.py``). For one value the semi-join's join costs more than the scan it
    narrows: one journey's spans took 5.1-5.8 ms that way against 3.5-3.6 ms with ``=``
    (twenty-first session)."""
    if len(values) == 1:
        return f"{column} = ?", [values[0]]
    return f"{column} IN (SELECT unnest(?::{kind}[]))", [values]


def _exact(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes from their exact OTLP JSON form, rendered for JSON (bytes as base64)."""
    return {k: json_safe(from_otlp_json(v)) for k, v in attrs.items()}


@functools.lru_cache(maxsize=4096)
def _parsed_resource(text: str) -> dict[str, Any]:
    """A resource's attributes, parsed once: every span of a service repeats the same document.
    Callers get a copy (``dict(...)``), so the cached one is never changed."""
    return orjson.loads(text)  # type: ignore[no-any-return]


def _span(row: tuple[Any, ...]) -> dict[str, Any]:
    (trace_id, span_id, parent, trace_state, flags, name, kind, service, start, end, status_code,
     status_message, attributes, resource_attributes, scope_name, scope_version, events, links,
     extra, _interaction, *stripped) = row  # fmt: skip
    extra_fields = orjson.loads(extra) if extra else {}
    attrs = orjson.loads(attributes)
    if "attributes_exact" in extra_fields:
        attrs = _exact(extra_fields["attributes_exact"])
    for key, value in zip(_STRIPPED_ORDER, stripped, strict=True):
        if value is not None and key not in attrs:
            attrs[key] = value
    resource = dict(_parsed_resource(resource_attributes))
    if "resource_attributes_exact" in extra_fields:
        resource = _exact(extra_fields["resource_attributes_exact"])
    event_list = orjson.loads(events) if events and events != "[]" else []
    for event, exact in zip(event_list, extra_fields.get("events_exact", ()), strict=False):
        event["attributes"] = _exact(exact)
    link_list = orjson.loads(links) if links and links != "[]" else []
    for link, exact in zip(link_list, extra_fields.get("links_exact", ()), strict=False):
        link["attributes"] = _exact(exact)
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "trace_state": trace_state,
        "flags": flags,
        "name": name,
        "kind": _enum(SPAN_KINDS, kind),
        "service_name": service,
        "start_unix_nano": start,
        "end_unix_nano": end,
        "status_code": _enum(STATUS_CODES, status_code),
        "status_message": status_message or "",
        "attributes": attrs,
        "resource_attributes": resource,
        "resource_schema_url": extra_fields.get("resource_schema_url", ""),
        "resource_dropped_attributes_count": extra_fields.get("resource_dropped_attributes_count", 0),
        "scope": {
            "name": scope_name or "",
            "version": scope_version or "",
            "attributes": _exact(extra_fields.get("scope_attributes", {})),
            "schema_url": extra_fields.get("scope_schema_url", ""),
            "dropped_attributes_count": extra_fields.get("scope_dropped_attributes_count", 0),
        },
        "events": event_list,
        "links": link_list,
        "dropped_attributes_count": extra_fields.get("dropped_attributes_count", 0),
        "dropped_events_count": extra_fields.get("dropped_events_count", 0),
        "dropped_links_count": extra_fields.get("dropped_links_count", 0),
    }


# What the Journey Explorer's timeline needs of a span (``view="timeline"``): its layer, colour,
# label, place in the tree and the events that explain gaps. A 5,000-span journey's answer is
# 4.7 MB in full and ~1.5 MB so, which the browser parses in a fraction of the time
# (bench/web_journey.py); the page asks for a span in full when it is clicked (journey_span).
_TIMELINE_ATTRIBUTES = frozenset({
    semconv.CX_SPAN_TYPE, semconv.CX_PLATFORM_NAME, semconv.CX_HANDOFF_FROM_PLATFORM,
    semconv.CX_HANDOFF_TO_PLATFORM, semconv.CX_TELEPHONY_ANI_NUMBER, semconv.CX_LEG_NUMBER,
})  # fmt: skip
VIEWS = ("full", "timeline")


def _outline_span(row: tuple[Any, ...]) -> dict[str, Any]:
    """A stored span (a ``_TIMELINE_COLUMNS`` row) in ``_timeline``'s shape, plus the trace ID
    and events that ``assembly`` and the insights need until ``_finish_outline``."""
    (trace_id, span_id, parent, name, service, start, end, status_code, status_message, attributes,
     resource_attributes, events, span_type, _interaction) = row  # fmt: skip
    stored = orjson.loads(attributes)
    attrs = {key: value for key, value in stored.items() if key in _TIMELINE_ATTRIBUTES}
    if semconv.CX_SPAN_TYPE not in attrs and span_type is not None:
        attrs[semconv.CX_SPAN_TYPE] = span_type
    span = {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "service_name": service,
        "start_unix_nano": start,
        "end_unix_nano": end,
        "status_code": _enum(STATUS_CODES, status_code),
        "attributes": attrs,
        "events": _event_times(orjson.loads(events)) if events and events != "[]" else [],
    }
    if status_message:
        span["status_message"] = status_message
    if own := _own_resource(_parsed_resource(resource_attributes), attrs, service):
        span["resource_attributes"] = own
    return span


def _finish_outline(span: dict[str, Any]) -> dict[str, Any]:
    """An ``_outline_span`` after assembly and insights: the trace ID (the journey's), the
    original trace ID and insight events' attributes go; empty events too."""
    del span["trace_id"]
    span["attributes"].pop(semconv.CX_ORIGINAL_TRACE_ID, None)
    if not span["events"]:
        del span["events"]
    elif any("attributes" in e for e in span["events"]):
        span["events"] = _event_times(span["events"])
    return span


def _event_times(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events as the timeline view keeps them: name and time (the chart's gaps need no more)."""
    return [{"time_unix_nano": e["time_unix_nano"], "name": e["name"]} for e in events]


def _own_resource(resource: dict[str, Any], attrs: dict[str, Any], service: str | None) -> dict[str, Any]:
    """The resource's platform and service name where the span's own differ (the timeline's
    layer falls back to them)."""
    own = {}
    if (platform := resource.get(semconv.CX_PLATFORM_NAME)) is not None and platform != attrs.get(semconv.CX_PLATFORM_NAME):
        own[semconv.CX_PLATFORM_NAME] = platform
    if (name := resource.get(semconv.SERVICE_NAME)) is not None and name != service:
        own[semconv.SERVICE_NAME] = name
    return own


def _timeline(span: dict[str, Any]) -> dict[str, Any]:
    """A span assembled in full (a synthetic one) as the timeline view answers it: ID, parent,
    name, service, times and status; the attributes in ``_TIMELINE_ATTRIBUTES``; and only when
    they say something, the status message, the resource's platform and service (when the span's
    own differ), its events' names and times and ``synthetic``. The trace ID is the journey's."""
    attrs = span["attributes"]
    out = {
        "span_id": span["span_id"],
        "parent_span_id": span["parent_span_id"],
        "name": span["name"],
        "service_name": span["service_name"],
        "start_unix_nano": span["start_unix_nano"],
        "end_unix_nano": span["end_unix_nano"],
        "status_code": span["status_code"],
        "attributes": {key: value for key, value in attrs.items() if key in _TIMELINE_ATTRIBUTES},
    }
    if span["status_message"]:
        out["status_message"] = span["status_message"]
    if own := _own_resource(span["resource_attributes"], attrs, span["service_name"]):
        out["resource_attributes"] = own
    if span["events"]:
        out["events"] = _event_times(span["events"])
    if span.get("synthetic"):
        out["synthetic"] = True
    return out


def resolve(cursor: duckdb.DuckDBPyConnection, tenant: str, journey_id: str) -> str:
    """The journey an ID names now: itself, the journey an alias was merged into, or the journey
    holding a span of that original trace ID."""
    source, params = _of_journeys("journeys", tenant, [journey_id])
    if cursor.execute(f"SELECT 1 FROM {source}", params).fetchone() is not None:
        return journey_id
    return _merged_into(cursor, tenant, journey_id)


def _merged_into(cursor: duckdb.DuckDBPyConnection, tenant: str, journey_id: str) -> str:
    """``resolve`` of an ID that names no journey now."""
    # In order of likelihood, each a query of its own: the last one scans every interaction.
    for sql in (
        "SELECT journey_id FROM journey_aliases WHERE tenant = ? AND alias = ?",
        "SELECT min(journey_id) FROM interactions WHERE tenant = ? AND interaction_id = ? HAVING count(*) > 0",
    ):
        row = cursor.execute(sql, [tenant, journey_id]).fetchone()
        if row is not None:
            return str(row[0])
    return journey_id


class _JourneyRow(NamedTuple):
    """A ``journeys`` row as a read uses it, with the analysis worker's conclusions joined on."""

    record: tuple[Any, ...]  # _JOURNEY_COLUMNS, as _record takes them
    first_received_unix_nano: int | None
    assembly: str  # the interactions and links (schema v12)
    summary: str | None  # NULL, like what follows, until the journey is analysed
    analysed_update_unix_nano: int | None  # the journey's updated_unix_nano that the analysis saw
    analysed_unix_nano: int | None
    insight_details: str | None  # INSIGHT_DETAILS_SQL: JSON of _INSIGHT_COLUMNS, most severe first


def _journey_rows(
    cursor: duckdb.DuckDBPyConnection, tenant: str, journey_ids: list[str], *, with_analysis: bool
) -> dict[str, _JourneyRow]:
    """The rows of the IDs that name a journey now, by ID. ``with_analysis`` joins the journey's
    analysis row on in the same statement: under heavy ingest each statement is one more wait
    for the GIL (BENCHMARKS.md, seventeenth session). That row carries the journey's insights
    too (schema v13), where joining ``journey_insights`` as well cost a third scan: on the 10 M-span
    file with every journey analysed, a journey's row took 8.4 against 3.7-4.2 ms, a page of 20
    43 against 21 ms (twentieth session)."""
    if len(journey_ids) == 1:
        return _one_journey_row(cursor, tenant, journey_ids[0], with_analysis=with_analysis)
    source, params = _of_journeys("journeys", tenant, journey_ids)
    if not with_analysis:
        sql = f"SELECT {_JOURNEY_COLUMNS}, first_received_unix_nano, assembly, {_NO_ANALYSIS} FROM {source}"
    else:
        analysis, analysis_params = _of_journeys("journey_analysis", tenant, journey_ids)
        sql = f"""
            SELECT {_JOURNEY_COLUMNS_OF_J}, j.first_received_unix_nano,
                   j.assembly, {_ANALYSIS_COLUMNS_OF_A}
            FROM (SELECT * FROM {source}) AS j
            LEFT JOIN (SELECT journey_id, {", ".join(_ANALYSIS_COLUMN_NAMES)} FROM {analysis}) AS a
                ON a.journey_id = j.journey_id"""
        params = [*params, *analysis_params]
    width = len(_JOURNEY_COLUMN_NAMES)
    return {r[0]: _JourneyRow(r[:width], *r[width:]) for r in cursor.execute(sql, params).fetchall()}


def _of_journeys(table: str, tenant: str, journey_ids: list[str]) -> tuple[str, list[Any]]:
    """A FROM source: the rows of ``journey_ids`` in a table with ``journey_key`` (``journeys``
    and the analysis tables), and its parameters. The integer key is compared first, in a
    subquery of its own: ``OFFSET 0`` keeps DuckDB from pushing the ID and tenant comparisons
    into the scan, where it compared every row's ID string as well (a journey's row on the
    1.25 M-journey file: 7.5 → 1.5 ms). Journey IDs are 32 hex digits (``ids.journey_trace_id``):
    an ID without a key names no journey and is left out. The IDs are checked on the few rows the
    keys found, where ``list_contains`` costs nothing."""
    keyed = {i: k for i in journey_ids if (k := journey_key(i)) is not None}
    key_sql, key_params = _one_of("journey_key", sorted(set(keyed.values())), "BIGINT")
    return (
        f"(SELECT * FROM {table} WHERE {key_sql} OFFSET 0) AS keyed WHERE tenant = ? AND list_contains(?::VARCHAR[], journey_id)",
        [*key_params, tenant, sorted(keyed)],
    )


_JOURNEY_COLUMNS = (
    "journey_id, start_unix_nano, end_unix_nano, services, updated_unix_nano, platforms, interaction_count, "
    "customer_phone_hash, outcome"
)
_JOURNEY_COLUMN_NAMES = [c.strip() for c in _JOURNEY_COLUMNS.split(",")]
_JOURNEY_COLUMNS_OF_J = ", ".join(f"j.{c}" for c in _JOURNEY_COLUMN_NAMES)
_JOURNEY_UPDATED = _position(_JOURNEY_COLUMNS, "updated_unix_nano")
_ANALYSIS_COLUMN_NAMES = ("summary", "updated_unix_nano", "analysed_unix_nano", "insight_details")
"""What a ``_JourneyRow`` takes from the journey's analysis row, in its order."""
_ANALYSIS_COLUMNS_OF_A = ", ".join(f"a.{c}" for c in _ANALYSIS_COLUMN_NAMES)
_NO_ANALYSIS = ", ".join("NULL" for _ in _ANALYSIS_COLUMN_NAMES)


_ONE_JOURNEY_ROW = f"""
SELECT {_JOURNEY_COLUMNS_OF_J}, j.first_received_unix_nano, j.assembly, {{analysis}}, j.tenant
FROM journeys AS j{{join}}
WHERE j.journey_key = ?"""
_ONE_JOURNEY_ANALYSIS = (
    _ANALYSIS_COLUMNS_OF_A,
    """ LEFT JOIN journey_analysis AS a
    ON a.journey_key = j.journey_key AND a.journey_id = j.journey_id AND a.tenant = j.tenant""",
)


def _one_journey_row(
    cursor: duckdb.DuckDBPyConnection, tenant: str, journey_id: str, *, with_analysis: bool
) -> dict[str, _JourneyRow]:
    """``_journey_rows`` of one ID, the case of every read by ID, in the statement DuckDB plans
    and runs fastest: only the integer key in SQL, where DuckDB carries the key's equality over
    the join to the analysis table's scan, and the tenant and ID compared here on the row or two
    it finds. With the ID and tenant in the WHERE clause DuckDB compared every row's strings, and
    ``_of_journeys``' subqueries cost planning: on the 10 M-span file with every journey
    analysed, 3.1-3.5 ms p50, against 5.6 ms with them in the WHERE clause and 5.4-6.2 ms through
    ``_of_journeys`` (BENCHMARKS.md, twenty-first session)."""
    key = journey_key(journey_id)
    if key is None:
        return {}
    analysis, join = _ONE_JOURNEY_ANALYSIS if with_analysis else (_NO_ANALYSIS, "")
    sql = _ONE_JOURNEY_ROW.format(analysis=analysis, join=join)
    width = len(_JOURNEY_COLUMN_NAMES)
    return {
        r[0]: _JourneyRow(r[:width], *r[width:-1])
        for r in cursor.execute(sql, [key]).fetchall()
        if r[0] == journey_id and r[-1] == tenant
    }


def _record(row: tuple[Any, ...], quiet_before: int) -> dict[str, Any]:
    journey_id, start, end, services, updated, platforms, interactions, phone_hash, outcome = row
    platforms = platforms or []
    path = [p for i, p in enumerate(platforms) if i == 0 or platforms[i - 1] != p]
    return {
        "journey_id": journey_id,
        "start_unix_nano": start,
        "end_unix_nano": end,
        "duration_nano": end - start,
        "status": "complete" if updated < quiet_before else "in_progress",
        "leg_count": assembly.leg_count(platforms),
        "platforms": path,
        "services": services,
        "interaction_count": interactions,
        "customer_phone_hash": phone_hash,
        "outcome": outcome,
        "updated_unix_nano": updated,
    }


def journey(
    cursor: duckdb.DuckDBPyConnection, tenant: str, journey_id: str, *, quiet_before: int, view: str = "full"
) -> dict[str, Any] | None:
    """The journey (an alias resolves) with legs, correlation links, insights, summary and every
    span, or None. ``view="timeline"``: each span only as the timeline draws it (``_outline_span``)."""
    return journeys(cursor, tenant, [journey_id], quiet_before=quiet_before, view=view)[0]


def journey_span(
    cursor: duckdb.DuckDBPyConnection, tenant: str, journey_id: str, span_id: str, *, quiet_before: int
) -> dict[str, Any] | None:
    """One span of the journey in full, exactly as the full journey shows it (trace and parent
    rewritten, leg number, insights as events; synthetic spans too), or None. The other spans
    are read only in outline: a click on a 5,000-span journey's chart costs a fraction of the
    journey's read."""
    found = journeys(cursor, tenant, [journey_id], quiet_before=quiet_before, view="timeline", full_span=span_id)[0]
    if found is None:
        return None
    return next((span for span in found["spans"] if span["span_id"] == span_id), None)


def journeys(
    cursor: duckdb.DuckDBPyConnection, tenant: str, journey_ids: list[str], *, quiet_before: int,
    with_analysis: bool = True, view: str = "full", full_span: str | None = None,
) -> list[dict[str, Any] | None]:
    """``journey`` of each ID, in order, reading all of them with one query per table (a search
    page of 20 journeys costs about what one journey does).

    ``with_analysis`` adds what the analysis worker concluded (``insights``, ``summary``, and
    each insight as an event of the span it names); the worker itself reads without it.
    ``view`` is one of ``VIEWS``; in the timeline view, the span ``full_span`` is read in full.
    """
    if view not in VIEWS:
        raise ValueError(f"view {view!r} is not one of {VIEWS}")
    # The common case in one query: IDs that name a journey now; aliases and trace IDs resolve after.
    found = _journey_rows(cursor, tenant, journey_ids, with_analysis=with_analysis)
    resolved = [i if i in found else _merged_into(cursor, tenant, i) for i in journey_ids]
    if missing := sorted({i for i in resolved if i not in found}):
        found |= _journey_rows(cursor, tenant, missing, with_analysis=with_analysis)
    if not found:
        return [None] * len(journey_ids)
    # Spans are stored in arrival order, and these journeys' arrived between their first arrival
    # and last update: the bounds let zone maps skip the rest.
    bounds = [
        min(r.first_received_unix_nano or 0 for r in found.values()),
        max(r.record[_JOURNEY_UPDATED] for r in found.values()),
    ]
    ids = sorted(found)
    spans_of: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    span_interactions: dict[str, list[str]] = {i: [] for i in ids}
    ids_sql, ids_param = _one_of("journey_id", ids, "VARCHAR")
    full_rows = {}
    if view == "timeline" and full_span is not None:
        full_rows = {(row[0], row[1]): row for row in _span_rows(
            cursor, _SPAN_COLUMNS, f"{ids_sql} AND span_id = ?", [tenant, *ids_param, full_span, *bounds])}  # fmt: skip
    columns = _SPAN_COLUMNS if view == "full" else _TIMELINE_COLUMNS
    for row in _span_rows(cursor, columns, ids_sql, [tenant, *ids_param, *bounds]):
        full = full_rows.get((row[0], row[1])) if full_rows else None
        if view == "full" or full is not None:
            row = full or row
            spans_of[row[-1]].append(_span(row[:-1]))
            span_interactions[row[-1]].append(row[_FULL_INTERACTION])
        else:
            spans_of[row[-1]].append(_outline_span(row[:-1]))
            span_interactions[row[-1]].append(row[_TIMELINE_INTERACTION])
    # The journey's row carries its interactions and links (schema v12): no lookups.
    interactions_of: dict[str, list[assembly.InteractionRow]] = {}
    links_of: dict[str, list[assembly.Link]] = {}
    for i in ids:
        document = orjson.loads(found[i].assembly)
        members = [assembly.InteractionRow(interaction_key(p, n), p, n, *facts) for p, n, *facts in document["members"]]
        interactions_of[i] = members
        links_of[i] = [assembly.Link(members[a].interaction, members[b].interaction, *rest) for a, b, *rest in document["links"]]
    built = {
        i: _assemble(found[i].record, spans_of[i], span_interactions[i], interactions_of[i], links_of[i], quiet_before)
        for i in ids
    }
    if with_analysis:
        for i, record in built.items():
            if record is not None:
                _add_analysis(record, found[i])
    if view == "timeline":
        for record in built.values():
            if record is not None:
                record["spans"] = [
                    span if span["span_id"] == full_span  # asked for in full
                    else _timeline(span) if span.get("synthetic")  # assembled here, in full
                    else _finish_outline(span)  # read in outline
                    for span in record["spans"]
                ]
    answers = []
    for asked, name in zip(journey_ids, resolved, strict=True):
        record = built.get(name)
        if record is not None and asked != name:
            record = {**record, "resolved_from": asked}
        answers.append(record)
    return answers


def _assemble(
    row: tuple[Any, ...], stored: list[dict[str, Any]], span_interactions: list[str],
    interactions: list[assembly.InteractionRow], links: list[assembly.Link], quiet_before: int,
) -> dict[str, Any] | None:
    if not stored:
        return None
    journey_id = row[0]
    spans, legs = assembly.assemble(journey_id, stored, interactions, links, span_interactions)
    record = _record(row, quiet_before)
    record["legs"] = [{k: v for k, v in leg.items() if k != "interactions"} for leg in legs]
    record["correlation"] = [
        {"a": link.a, "b": link.b, "method": link.method, "confidence": link.confidence, "evidence": link.evidence}
        for link in links
    ]
    record["spans"] = spans
    return record


_SEVERITY_RANK = "CASE severity " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES)) + " ELSE 0 END"
"""A severity's place in ``SEVERITIES`` (the most severe last), in SQL; ``_severity_rank`` in Python."""


def _severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


_INSIGHT_COLUMNS = (
    "rule", "category", "severity", "span_id", "value", "threshold", "unit", "explanation", "platform", "queue",
    "agent", "flow",
)  # fmt: skip
INSIGHT_DETAILS_SQL = (
    f"to_json(list(struct_pack({', '.join(f'{c} := {c}' for c in _INSIGHT_COLUMNS)}) "
    f"ORDER BY {_SEVERITY_RANK} DESC, rule, span_id))::VARCHAR"
)
"""``journey_analysis.insight_details`` (schema v13), aggregated over a journey's ``journey_insights``
rows: its insights as the reads return them, most severe first. The analysis worker writes it
with the rows, and the v13 migration backfilled it from them, with this one expression."""


def _add_analysis(record: dict[str, Any], row: _JourneyRow) -> None:
    """Attach the journey's stored insights and summary; ``analysis.current`` says whether they
    describe the journey's latest data (the worker runs behind the writer)."""
    record["summary"] = json.loads(row.summary) if row.summary else None
    record["insights"] = orjson.loads(row.insight_details) if row.insight_details else []
    if row.analysed_unix_nano is None:
        record["analysis"] = {"current": False}
    else:
        record["analysis"] = {
            "current": row.analysed_update_unix_nano >= record["updated_unix_nano"],
            "analysed_unix_nano": row.analysed_unix_nano,
        }
    _insights_as_events(record)


def _insights_as_events(record: dict[str, Any]) -> None:
    """Each insight as an event ``cx.insight`` on its span (Jaeger logs, OTLP events in Tempo),
    and the journey's insight rules on its root span (``cx.insight.rules``, searchable in TraceQL)."""
    spans = {span["span_id"]: span for span in record["spans"]}
    root = record["spans"][0] if record["spans"] else None
    for insight in record["insights"]:
        span = spans.get(insight["span_id"]) or root
        if span is None:
            continue
        attributes = {
            semconv.CX_INSIGHT_RULE: insight["rule"],
            semconv.CX_INSIGHT_CATEGORY: insight["category"],
            semconv.CX_INSIGHT_SEVERITY: insight["severity"],
            semconv.CX_INSIGHT_EXPLANATION: insight["explanation"],
        }
        for key, name in (("value", semconv.CX_INSIGHT_VALUE), ("threshold", semconv.CX_INSIGHT_THRESHOLD),
                          ("unit", semconv.CX_INSIGHT_UNIT)):  # fmt: skip
            if insight[key] is not None:
                attributes[name] = insight[key]
        span["events"] = [*span["events"], {"time_unix_nano": span["start_unix_nano"], "name": semconv.CX_INSIGHT_EVENT,
                                            "attributes": attributes}]  # fmt: skip
    if root is not None and record["insights"]:
        root["attributes"][semconv.CX_INSIGHT_RULES] = sorted({i["rule"] for i in record["insights"]})


def list_journeys(
    cursor: duckdb.DuckDBPyConnection,
    tenant: str,
    *,
    quiet_before: int,
    service: str | None = None,
    platforms: tuple[str, ...] = (),
    status: str | None = None,
    outcome: str | None = None,
    interaction_id: str | None = None,
    phone_hash: str | None = None,
    insights: tuple[str, ...] = (),
    queue: str | None = None,
    flow: str | None = None,
    agent: str | None = None,
    path: tuple[str, ...] = (),
    start_from: int | None = None,
    start_to: int | None = None,
    changed_since: tuple[int, int] | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Journey records newest first (by start, then ID), without their spans, each with its
    summary and insights (rule and severity); ``platforms`` and ``insights`` keep journeys with
    any of those given. ``changed_since`` (``change_marks`` of an earlier snapshot) keeps the
    journeys that gained data or analysis after it."""
    where = ["tenant = ?"]
    params: list[Any] = [tenant]
    if service:
        where.append("list_contains(services, ?)")
        params.append(service)
    if platforms:
        where.append("list_has_any(platforms, ?::VARCHAR[])")
        params.append(list(platforms))
    if status == "complete":
        where.append("updated_unix_nano < ?")
        params.append(quiet_before)
    elif status == "in_progress":
        where.append("updated_unix_nano >= ?")
        params.append(quiet_before)
    if outcome:
        where.append("outcome = ?")
        params.append(outcome)
    if interaction_id:
        where.append(
            "journey_id IN (SELECT journey_id FROM interactions WHERE tenant = ? AND (interaction_id = ? OR interaction = ?))"
        )
        params += [tenant, interaction_id, interaction_id]
    if phone_hash:
        where.append("journey_id IN (SELECT journey_id FROM interactions WHERE tenant = ? AND ani_hash = ?)")
        params += [tenant, phone_hash]
    if insights:
        where.append(
            "journey_id IN (SELECT journey_id FROM journey_insights WHERE tenant = ? AND rule IN (SELECT unnest(?::VARCHAR[])))"
        )
        params += [tenant, list(insights)]
    # Queue, flow and agent as the analysis worker recorded them (the facts analytics counts), so
    # an analytics chart's link lists exactly the journeys it counted.
    for column, value in (("queues", queue), ("flows", flow), ("agents", agent)):
        if value:
            where.append(
                f"journey_id IN (SELECT journey_id FROM journey_analysis WHERE tenant = ? AND list_contains({column}, ?))"
            )
            params += [tenant, value]
    if path:
        where.append("journey_id IN (SELECT journey_id FROM journey_analysis WHERE tenant = ? AND path = ?::VARCHAR[])")
        params += [tenant, list(path)]
    if changed_since is not None:
        where.append(
            "(updated_unix_nano > ? OR journey_id IN "
            "(SELECT journey_id FROM journey_analysis WHERE tenant = ? AND analysed_unix_nano > ?))"
        )
        params += [changed_since[0], tenant, changed_since[1]]
    if start_from is not None:
        where.append("start_unix_nano >= ?")
        params.append(start_from)
    if start_to is not None:
        where.append("start_unix_nano <= ?")
        params.append(start_to)
    params.append(limit)
    rows = cursor.execute(
        f"""
        SELECT {_JOURNEY_COLUMNS} FROM journeys WHERE {' AND '.join(where)}
        ORDER BY start_unix_nano DESC, journey_id DESC LIMIT ?
        """,
        params,
    ).fetchall()
    records = [_record(row, quiet_before) for row in rows]
    _add_list_analysis(cursor, tenant, records)
    return records


def change_marks(cursor: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """The newest journey update and analysis in this snapshot. Each only grows (one writer, one
    analysis worker, each stamping its commits in order), so ``list_journeys(changed_since=...)``
    with an earlier snapshot's marks finds exactly what changed since."""
    row = cursor.execute(
        """SELECT (SELECT coalesce(max(updated_unix_nano), 0) FROM journeys),
                  (SELECT coalesce(max(analysed_unix_nano), 0) FROM journey_analysis)"""
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _add_list_analysis(cursor: duckdb.DuckDBPyConnection, tenant: str, records: list[dict[str, Any]]) -> None:
    """Each listed journey's summary, and its insights by rule (the most severe first, with how
    many times each fired), from its analysis row alone (schema v13)."""
    by_id = {r["journey_id"]: r for r in records}
    for record in records:
        record["summary"], record["insights"] = None, []
    if not by_id:
        return
    source, params = _of_journeys("journey_analysis", tenant, list(by_id))
    for journey_id, summary, details in cursor.execute(
        f"SELECT journey_id, summary, insight_details FROM {source}", params
    ).fetchall():
        record = by_id[journey_id]
        record["summary"] = json.loads(summary) if summary else None
        rules: dict[str, dict[str, Any]] = {}
        for insight in orjson.loads(details) if details else []:
            rule = rules.setdefault(insight["rule"], {"rule": insight["rule"], "severity": insight["severity"], "count": 0})
            rule["count"] += 1
            rule["severity"] = max(rule["severity"], insight["severity"], key=lambda s: (_severity_rank(s), s))
        record["insights"] = sorted(rules.values(), key=lambda r: (-_severity_rank(r["severity"]), r["rule"]))
