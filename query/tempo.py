"""The Tempo-compatible API on port 3200, so Grafana's Tempo data source reads journeys as traces.

Routes and answers follow grafana/tempo as Grafana's data source calls and decodes them
(viewer-apis.md §2): health, trace by ID (protobuf for Grafana, OTLP JSON otherwise), TraceQL
search and the tag autocomplete. Errors are plain text, as Tempo writes them, because Grafana
shows the body of a failed call to the user.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from journeytrace import __version__
from journeytrace.errors import Overloaded, StorageUnavailable, retry_after_header
from journeytrace.query import tempo_params, tempo_search, tempo_tags, tempo_trace, traceql
from journeytrace.query.params import BadParameter
from journeytrace.query.responses import json_response
from journeytrace.storage import SpanStore, reads

PROTOBUF = "application/protobuf"
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
"""Larger search limits are lowered to this, as Tempo's ``max_limit`` does."""
DEFAULT_SPANS_PER_SET = 3
DEFAULT_TAG_LIMIT = 5000


def _wants_protobuf(request: Request) -> bool:
    return PROTOBUF in request.headers.get("accept", "")


def _parse_query(text: str) -> traceql.Query:
    try:
        return traceql.parse(text)
    except traceql.TraceQLError as exc:
        raise BadParameter(f"invalid TraceQL query: {exc}") from None


def _lenient_query(text: str | None) -> traceql.Query | None:
    """A tag request's ``q`` filter; Tempo ignores one it cannot parse, and ``{}`` filters nothing."""
    if not text or "".join(text.split()) == "{}":
        return None
    try:
        return traceql.parse(text)
    except traceql.TraceQLError:
        return None


def create_tempo_app(
    store: SpanStore,
    *,
    tenant: str,
    quiet_period_seconds: float = 1800.0,
    is_ready: Callable[[], bool] = lambda: True,
) -> FastAPI:
    """The Tempo app. ``quiet_period_seconds`` is passed to journey reads as in the query app."""

    app = FastAPI(title="journeytrace Tempo API", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(BadParameter)
    async def bad_parameter(_request: Request, exc: BadParameter) -> PlainTextResponse:
        return PlainTextResponse(str(exc), status_code=400)

    @app.exception_handler(Overloaded)
    async def overloaded(_request: Request, exc: Overloaded) -> PlainTextResponse:
        return PlainTextResponse(str(exc), status_code=503, headers={"Retry-After": retry_after_header(exc)})

    @app.exception_handler(StorageUnavailable)
    async def unavailable(_request: Request, exc: StorageUnavailable) -> PlainTextResponse:
        return PlainTextResponse(str(exc), status_code=503)

    @app.get("/api/echo")
    async def echo() -> PlainTextResponse:
        """Grafana's "Save & test"."""
        return PlainTextResponse("echo")

    @app.get("/ready")
    async def ready() -> PlainTextResponse:
        if not store.is_open or not is_ready():
            return PlainTextResponse("storage or receivers not started", status_code=503)
        return PlainTextResponse("ready")

    @app.get("/api/status/buildinfo")
    async def buildinfo() -> dict[str, str]:
        return {"version": __version__, "revision": "", "branch": "", "buildUser": "", "buildDate": "",
                "goVersion": f"python{platform.python_version()}"}  # fmt: skip

    async def trace(trace_id: str, request: Request, *, v2: bool) -> Response:
        wanted = tempo_params.trace_id(trace_id)
        cutoff = time.time_ns() - int(quiet_period_seconds * 1e9)
        journey = await store.read(lambda cursor: reads.journey(cursor, tenant, wanted, quiet_before=cutoff))
        if journey is None:
            return PlainTextResponse("trace not found", status_code=404)
        data = tempo_trace.traces_data(journey)
        if _wants_protobuf(request):
            body = tempo_trace.v2_protobuf(data) if v2 else data.SerializeToString()
            return Response(body, media_type=PROTOBUF)
        resource_spans = tempo_trace.otlp_json(data)
        return json_response({"trace": {"resourceSpans": resource_spans}} if v2 else {"batches": resource_spans})

    @app.get("/api/v2/traces/{trace_id}")
    async def trace_v2(trace_id: str, request: Request) -> Response:
        """Grafana's first try when opening a trace; a 404 makes it retry ``/api/traces/{id}``."""
        return await trace(trace_id, request, v2=True)

    @app.get("/api/traces/{trace_id}")
    async def trace_v1(trace_id: str, request: Request) -> Response:
        return await trace(trace_id, request, v2=False)

    @app.get("/api/search")
    async def search(request: Request) -> Response:
        query = request.query_params
        q, tags = query.get("q"), query.get("tags")
        if q and tags:
            raise BadParameter("invalid search request: can't specify tags and q")
        text = q or tempo_params.tags_query(tempo_params.logfmt(tags or ""))
        min_duration, max_duration = (
            tempo_params.go_duration(name, query[name]) if query.get(name) else None
            for name in ("minDuration", "maxDuration")
        )
        if min_duration is not None and max_duration is not None and max_duration < min_duration:
            raise BadParameter("invalid maxDuration: must be greater than minDuration")
        start_ns, end_ns = tempo_params.time_range(query.get("start"), query.get("end"))
        request_ = tempo_search.SearchRequest(
            query=_parse_query(text), start_ns=start_ns, end_ns=end_ns,
            min_duration_ns=min_duration, max_duration_ns=max_duration,
            limit=min(tempo_params.positive_int("limit", query.get("limit"), DEFAULT_LIMIT), MAX_LIMIT),
            spans_per_set=tempo_params.positive_int("spss", query.get("spss"), DEFAULT_SPANS_PER_SET, allow_zero=True),
        )  # fmt: skip
        return json_response(await store.read(lambda cursor: tempo_search.search(cursor, tenant, request_)))

    def sample(request: Request) -> tempo_tags.Sample:
        start_ns, end_ns = tempo_params.time_range(request.query_params.get("start"), request.query_params.get("end"))
        return tempo_tags.Sample(tenant, start_ns, end_ns, _lenient_query(request.query_params.get("q")))

    def scopes(request: Request, default: tuple[str, ...]) -> tuple[str, ...]:
        scope = request.query_params.get("scope") or ""
        if scope and scope not in tempo_tags.SCOPES:
            raise BadParameter(f"invalid scope: {scope[:32]!r}; use one of {', '.join(tempo_tags.SCOPES)}")
        return (scope,) if scope else default

    def tag_limit(request: Request) -> int:
        return tempo_params.positive_int("limit", request.query_params.get("limit"), DEFAULT_TAG_LIMIT)

    @app.get("/api/search/tags")
    async def tags_v1(request: Request) -> dict[str, Any]:
        """Flat tag names (resource and span unless a scope is given): older Grafana's fallback."""
        wanted, where, limit = scopes(request, ("resource", "span")), sample(request), tag_limit(request)
        found = await store.read(lambda cursor: tempo_tags.tag_names(cursor, where, wanted, limit))
        return {"tagNames": sorted({name for names in found.values() for name in names})}

    @app.get("/api/v2/search/tags")
    async def tags_v2(request: Request) -> dict[str, Any]:
        """Tag names per scope, for the search builder and TraceQL autocomplete."""
        wanted, where, limit = scopes(request, ("resource", "span", "intrinsic")), sample(request), tag_limit(request)
        found = await store.read(lambda cursor: tempo_tags.tag_names(cursor, where, wanted, limit))
        return {"scopes": [{"name": s, "tags": names} if names else {"name": s} for s, names in found.items()]}

    @app.get("/api/search/tag/{tag:path}/values")
    async def tag_values_v1(tag: str, request: Request) -> dict[str, Any]:
        """Values of an unscoped attribute as plain strings."""
        wanted, where, limit = tempo_tags.Tag("", tag), sample(request), tag_limit(request)
        found = await store.read(lambda cursor: tempo_tags.tag_values(cursor, where, wanted, limit))
        return {"tagValues": sorted({value for _type, value in found})}

    @app.get("/api/v2/search/tag/{tag:path}/values")
    async def tag_values_v2(tag: str, request: Request) -> dict[str, Any]:
        """Typed values of a scoped attribute or intrinsic (``keyword`` for status and kind)."""
        wanted, where, limit = tempo_tags.parse_tag(tag), sample(request), tag_limit(request)
        found = await store.read(lambda cursor: tempo_tags.tag_values(cursor, where, wanted, limit))
        return {"tagValues": [{"type": t, "value": v} for t, v in found]}

    return app
