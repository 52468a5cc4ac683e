"""Jaeger's query APIs on the query port, so Grafana's Jaeger data source and Jaeger UI read
journeys as traces (viewer-apis.md §1): the internal v1 JSON API at ``/api/...`` (Grafana and
Jaeger UI ≤ 2.18 search with it; every Jaeger UI loads traces with it) and API v3 at
``/api/v3/...`` (services, operations and trace summaries of Jaeger UI ≥ 2.15).

A journey is one trace under its journey ID; a merged journey's old ID still finds it. Search
uses Jaeger's single-span semantics (``storage.search``). Each family answers errors in its own
envelope, which is what its clients parse.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from journeytrace.errors import Overloaded, StorageUnavailable, retry_after_header
from journeytrace.query import jaeger_model, jaeger_params
from journeytrace.query.params import BadParameter
from journeytrace.query.responses import json_response
from journeytrace.storage import SpanStore, reads, search

DEFAULT_LIMIT = 100
"""Jaeger's default number of traces per search (its "search depth")."""
MAX_LIMIT = 1500
"""The most traces one search answers: Jaeger UI's largest choice; each is read in full."""
_DEFAULT_LOOKBACK_US = 2 * 86_400 * 1_000_000
_DEFAULT_DEPENDENCY_LOOKBACK_MS = 86_400 * 1000
_V3_KINDS = ("internal", *search.SPAN_KIND_NAMES[1:])
"""API v3 reports an unspecified span kind as ``internal``."""


def _render(body: Any, status: int = 200, *, pretty: bool = False) -> Response:
    return json_response(body, status, pretty=pretty)


def _envelope(data: Any, *, total: int = 0, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Jaeger's ``structuredResponse``: every field always present."""
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def _v1_error(status: int, message: str) -> Response:
    return _render(_envelope(None, errors=[{"code": status, "msg": message}]), status)


def _v3_error(status: int, message: str) -> Response:
    return _render({"error": {"httpCode": status, "message": message}}, status)


def _route_class(error: Callable[[int, str], Response]) -> type[APIRoute]:
    """Routes that answer a ``BadParameter`` as 400, ``Overloaded`` as 503 with ``Retry-After``, and
    ``StorageUnavailable`` (a store closing or failing) as 503, in their API's own error envelope:
    Jaeger UI shows the envelope's message, not the native API's."""

    class ErrorEnvelopeRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except BadParameter as exc:
                    return error(400, str(exc))
                except Overloaded as exc:
                    response = error(503, str(exc))
                    response.headers["Retry-After"] = retry_after_header(exc)
                    return response
                except StorageUnavailable as exc:
                    return error(503, str(exc))

            return guarded

    return ErrorEnvelopeRoute


def _pretty(request: Request) -> bool:
    return request.query_params.get("prettyPrint", "") not in ("", "false")


def _first(request: Request, *names: str) -> str | None:
    """The first non-empty of a parameter's names (API v3 also takes deprecated snake_case ones)."""
    return next((v for v in map(request.query_params.get, names) if v), None)


def _limit(name: str, value: str | None) -> int:
    limit = jaeger_params.integer(name, value, DEFAULT_LIMIT)
    if limit < 0:
        raise BadParameter(f"{name} must not be negative")
    return min(limit or DEFAULT_LIMIT, MAX_LIMIT)


def _span_kind(value: str | None) -> int | None:
    if not value:
        return None
    if value == "unspecified":
        return 0
    if value not in search.SPAN_KIND_NAMES:
        raise BadParameter(f"unsupported span kind {value[:32]!r}: use server, client, producer, consumer or internal")
    return search.SPAN_KIND_NAMES.index(value)


def _kind_name(names: tuple[str, ...], kind: int, unknown: str) -> str:
    return names[kind] if 0 <= kind < len(names) else unknown


def _v1_search_query(request: Request) -> tuple[search.SpanQuery, int]:
    """``GET /api/traces`` filters (times in µs, durations as Go strings); ``lookback`` and
    ``raw`` are accepted and ignored, as Jaeger does."""
    q = request.query_params
    now_us = time.time_ns() // 1000
    start = jaeger_params.integer("start", q.get("start"), now_us - _DEFAULT_LOOKBACK_US)
    end = jaeger_params.integer("end", q.get("end"), now_us)
    duration_min = jaeger_params.go_duration("minDuration", q.get("minDuration"))
    duration_max = jaeger_params.go_duration("maxDuration", q.get("maxDuration"))
    jaeger_params.duration_range(duration_min, duration_max)
    query = search.SpanQuery(
        service=q.get("service") or None,
        operation=q.get("operation") or None,
        tags=jaeger_params.tags_json(q.getlist("tags")) + jaeger_params.tag_pairs(q.getlist("tag")),
        start_min=start * 1000,
        start_max=end * 1000,
        duration_min=duration_min,
        duration_max=duration_max,
    )
    return query, _limit("limit", q.get("limit"))


def _v3_search_query(request: Request) -> tuple[search.SpanQuery, int]:
    """API v3 search parameters (``query.*``, RFC 3339 times required, Go durations)."""
    start_min = jaeger_params.rfc3339_ns(
        "query.startTimeMin",
        _first(request, "query.startTimeMin", "query.start_time_min"),
    )
    start_max = jaeger_params.rfc3339_ns(
        "query.startTimeMax",
        _first(request, "query.startTimeMax", "query.start_time_max"),
    )
    if start_max < start_min:
        raise BadParameter("query.startTimeMin must be before query.startTimeMax")
    duration_min = jaeger_params.go_duration(
        "query.durationMin", _first(request, "query.durationMin", "query.duration_min")
    )
    duration_max = jaeger_params.go_duration(
        "query.durationMax", _first(request, "query.durationMax", "query.duration_max")
    )
    jaeger_params.duration_range(duration_min, duration_max)
    attributes = _first(request, "query.attributes")
    query = search.SpanQuery(
        service=_first(request, "query.serviceName", "query.service_name"),
        operation=_first(request, "query.operationName", "query.operation_name"),
        tags=jaeger_params.tags_json([attributes] if attributes else []),
        start_min=start_min,
        start_max=start_max,
        duration_min=duration_min,
        duration_max=duration_max,
    )
    depth = _first(request, "query.searchDepth", "query.search_depth", "query.num_traces")
    return query, _limit("query.searchDepth", depth)


def router(store: SpanStore, *, tenant: str, quiet_before: Callable[[], int]) -> APIRouter:
    """The Jaeger v1 and v3 routes; ``quiet_before`` gives the cutoff of a complete journey.

    Trace ID segments match ``/`` too: a standard base64 ID may hold one (sent as ``%2F``)."""
    v1 = APIRouter(route_class=_route_class(_v1_error), tags=["jaeger"])
    v3 = APIRouter(route_class=_route_class(_v3_error), tags=["jaeger-v3"])

    async def journeys_of(ids: list[str]) -> list[dict[str, Any] | None]:
        """The journeys of (possibly alias) IDs, in one snapshot; None for one not found or empty."""
        cutoff = quiet_before()

        def read(cursor: Any) -> list[dict[str, Any] | None]:
            found = reads.journeys(cursor, tenant, ids, quiet_before=cutoff)
            return [j if j and j["spans"] else None for j in found]

        return await store.read(read)

    async def searched(query: search.SpanQuery, limit: int) -> list[dict[str, Any]]:
        cutoff = quiet_before()

        def read(cursor: Any) -> list[dict[str, Any]]:
            found = reads.journeys(cursor, tenant, search.journey_ids(cursor, tenant, query, limit), quiet_before=cutoff)
            return [j for j in found if j and j["spans"]]  # never a trace without spans

        return await store.read(read)

    # --- v1 ---------------------------------------------------------------------------------

    @v1.get("/api/services")
    async def services(request: Request) -> Response:
        names = await store.read(lambda cursor: search.services(cursor, tenant))
        return _render(_envelope(names, total=len(names)), pretty=_pretty(request))

    @v1.get("/api/services/{service:path}/operations")
    async def service_operations(request: Request, service: str) -> Response:
        found = await store.read(lambda cursor: search.operations(cursor, tenant, service))
        names = sorted({name for name, _kind in found})
        return _render(_envelope(names, total=len(names)), pretty=_pretty(request))

    @v1.get("/api/operations")
    async def operations(request: Request) -> Response:
        service = request.query_params.get("service")
        if not service:
            raise BadParameter("parameter 'service' is required")
        kind = _span_kind(request.query_params.get("spanKind"))
        found = await store.read(lambda cursor: search.operations(cursor, tenant, service, kind))
        data = [{"name": name, "spanKind": _kind_name(search.SPAN_KIND_NAMES, k, "")} for name, k in found]
        return _render(_envelope(data, total=len(data)), pretty=_pretty(request))

    @v1.get("/api/traces")
    async def find_traces(request: Request) -> Response:
        raw_ids = request.query_params.getlist("traceID")
        if raw_ids:  # fetch by ID; every other filter is ignored
            found = await journeys_of([jaeger_params.trace_id(i) for i in raw_ids])
            traces: dict[str, dict[str, Any]] = {}
            for journey in found:
                if journey is not None:
                    traces.setdefault(journey["journey_id"], jaeger_model.v1_trace(journey))
            missing = [
                {"msg": "trace not found", "traceID": raw} for raw, j in zip(raw_ids, found, strict=True) if j is None
            ]
            return _render(
                _envelope(list(traces.values()), errors=missing or None),
                pretty=_pretty(request),
            )
        query, limit = _v1_search_query(request)
        data = [jaeger_model.v1_trace(j) for j in await searched(query, limit)]
        return _render(_envelope(data), pretty=_pretty(request))

    @v1.get("/api/traces/{trace_id:path}")
    async def get_trace(request: Request, trace_id: str) -> Response:
        """``start``/``end`` are ignored: Grafana may send them in ms where Jaeger reads µs, and a
        journey is found by its ID alone."""
        found = (await journeys_of([jaeger_params.trace_id(trace_id)]))[0]
        if found is None:
            return _v1_error(404, "trace not found")
        return _render(_envelope([jaeger_model.v1_trace(found)]), pretty=_pretty(request))

    @v1.get("/api/dependencies")
    async def dependencies(request: Request) -> Response:
        """The platform handoff graph: parent = platform a customer was handed from, child = the
        platform handed to, callCount = handoffs, over journeys overlapping [endTs - lookback, endTs] (ms)."""
        q = request.query_params
        end_ms = jaeger_params.integer("endTs", q.get("endTs"), time.time_ns() // 1_000_000)
        lookback = jaeger_params.integer("lookback", q.get("lookback"), _DEFAULT_DEPENDENCY_LOOKBACK_MS)
        if lookback < 0:
            raise BadParameter("lookback must not be negative")
        service = q.get("service") or None
        edges = await store.read(
            lambda cursor: search.handoffs(cursor, tenant, (end_ms - lookback) * 10**6, end_ms * 10**6, service)
        )
        data = [{"parent": parent, "child": child, "callCount": calls} for parent, child, calls in edges]
        return _render(_envelope(data), pretty=_pretty(request))

    # --- v3 ---------------------------------------------------------------------------------

    @v3.get("/api/v3/services")
    async def v3_services() -> Response:
        return _render({"services": await store.read(lambda cursor: search.services(cursor, tenant))})

    @v3.get("/api/v3/operations")
    async def v3_operations(request: Request) -> Response:
        service = request.query_params.get("service") or None
        kind = _span_kind(_first(request, "spanKind", "span_kind"))
        found = await store.read(lambda cursor: search.operations(cursor, tenant, service, kind))
        pairs = dict.fromkeys((name, _kind_name(_V3_KINDS, k, "internal")) for name, k in found)
        return _render({"operations": [{"name": name, "spanKind": k} for name, k in pairs]})

    @v3.get("/api/v3/trace-summaries")
    async def v3_trace_summaries(request: Request) -> Response:
        query, limit = _v3_search_query(request)
        summaries = [jaeger_model.trace_summary(j) for j in await searched(query, limit)]
        return _render({"summaries": summaries} if summaries else {})  # proto3 JSON omits an empty list

    @v3.get("/api/v3/traces")
    async def v3_find_traces(request: Request) -> Response:
        query, limit = _v3_search_query(request)
        found = await searched(query, limit)
        if not found:
            return _v3_error(404, "No traces found")
        return _render({"result": {"resourceSpans": [rs for j in found for rs in jaeger_model.otlp_resource_spans(j)]}})

    @v3.get("/api/v3/traces/{trace_id:path}")
    async def v3_get_trace(trace_id: str) -> Response:
        """``startTime``/``endTime`` and ``rawTraces`` are ignored: a journey is found by its ID alone."""
        found = (await journeys_of([jaeger_params.trace_id(trace_id)]))[0]
        if found is None:
            return _v3_error(404, "No traces found")
        return _render({"result": {"resourceSpans": jaeger_model.otlp_resource_spans(found)}})

    combined = APIRouter()
    combined.include_router(v1)
    combined.include_router(v3)
    return combined
