"""The query API on port 16686: health, readiness, the native journeys API and Jaeger's APIs (query/jaeger.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import (
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from journeytrace.query import (
    analytics,
    assets,
    first_answer,
    jaeger,
    list_page,
    params,
)
from journeytrace.query.jaeger_model import otlp_resource_spans
from journeytrace.query.params import BadParameter
from journeytrace.query.read_ahead import ReadAhead
from journeytrace.query.responses import dumps, json_response
from journeytrace.storage import SpanStore, reads
from journeytrace.storage.analysis import insight_rules
from starlette.datastructures import QueryParams

from journeytrace.errors import Overloaded, StorageUnavailable, retry_after_header
from journeytrace.phone import keyed_hash

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
"""The Journey Explorer's HTML, CSS and JavaScript modules."""


def _many(values: list[str]) -> tuple[str, ...]:
    """A repeatable parameter, also accepting comma-separated values (``?platform=a,b``)."""
    return tuple(dict.fromkeys(v.strip() for value in values for v in value.split(",") if v.strip()))


def _json(body: Any) -> Response:
    return json_response(body)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    store: SpanStore,
    *,
    tenant: str,
    phone_hash_key: bytes,
    quiet_period_seconds: float = 1800.0,
    is_ready: Callable[[], bool] = lambda: True,
    ui: dict[str, str] | None = None,
) -> FastAPI:
    """The query app. ``phone_hash_key`` hashes searched numbers the way the correlator hashed stored
    ones; a journey with no new data for ``quiet_period_seconds`` is ``complete``. ``ui`` is what
    the Journey Explorer page is told at ``/api/ui/config`` (links to Jaeger UI and Grafana)."""

    def quiet_before() -> int:
        return time.time_ns() - int(quiet_period_seconds * 1e9)

    app = FastAPI(title="journeytrace query API", docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.exception_handler(BadParameter)
    async def bad_parameter(_request: Request, exc: BadParameter) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(Overloaded)
    async def overloaded(_request: Request, exc: Overloaded) -> JSONResponse:
        response = _error(503, str(exc))
        response.headers["Retry-After"] = retry_after_header(exc)
        return response

    @app.exception_handler(StorageUnavailable)
    async def unavailable(_request: Request, exc: StorageUnavailable) -> JSONResponse:
        return _error(503, str(exc))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process is serving HTTP."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: storage is open and answers queries, and the receivers listen."""
        if not store.is_open or not is_ready():
            return JSONResponse({"status": "starting"}, status_code=503)
        await store.read(lambda cursor: cursor.execute("SELECT 1").fetchone())
        return JSONResponse({"status": "ready"})

    app.include_router(jaeger.router(store, tenant=tenant, quiet_before=quiet_before))
    app.include_router(analytics.router(store, tenant=tenant))
    known_rules = {rule["id"] for rule in insight_rules()}

    @app.get("/api/insights/rules")
    async def rules() -> dict[str, Any]:
        """The insight catalogue: every rule's ID, category, severities and description (docs/insights.md)."""
        return {"rules": insight_rules()}

    def list_filters(query: QueryParams) -> dict[str, Any]:
        """The journey list's filters, shared by the list, its live stream and the home page."""
        phone = query.get("phone")
        phone_hash = None
        if phone:
            phone_hash = keyed_hash(phone_hash_key, phone)
            if phone_hash is None:
                raise BadParameter(f"phone {phone[:32]!r} is not a phone number")
        return {
            "service": query.get("service") or None,
            "platforms": _many(query.getlist("platform")),
            "insights": params.insight_rules(_many(query.getlist("insight")), known_rules),
            "queue": query.get("queue") or None,
            "flow": query.get("flow") or None,
            "agent": query.get("agent") or None,
            "path": tuple(p.strip() for p in (query.get("path") or "").split(",") if p.strip()),
            "status": params.status(query.get("status")),
            "outcome": params.outcome(query.get("outcome")),
            "interaction_id": query.get("interaction_id") or None,
            "phone_hash": phone_hash,
            "start_from": params.timestamp("from", query.get("from")),
            "start_to": params.timestamp("to", query.get("to")),
            "limit": params.limit(query.get("limit")),
        }

    @app.get("/api/journeys")
    async def list_journeys(request: Request) -> Response:
        filters = list_filters(request.query_params)
        cutoff = quiet_before()
        journeys = await store.read(
            lambda cursor: reads.list_journeys(cursor, tenant, quiet_before=cutoff, **filters)
        )
        return _json({"journeys": journeys})

    @app.get("/api/journeys/stream")
    async def stream_journeys(request: Request) -> StreamingResponse:
        """Server-sent events: ``journey`` with a list record (as ``/api/journeys`` gives it, same
        filters) each time a matching journey gains data or new analysis; ``ready`` first."""
        filters = list_filters(request.query_params)
        poll = params.seconds("poll", request.query_params.get("poll"), default=1.0, low=0.1, high=60.0)

        def _changes(cursor: Any, *, since: tuple[int, int], quiet_before: int) -> tuple[list[Any], tuple[int, int]]:
            found = reads.list_journeys(cursor, tenant, quiet_before=quiet_before, changed_since=since, **filters)
            return found, reads.change_marks(cursor)

        async def events() -> AsyncIterator[str]:
            marks = await store.read(reads.change_marks)
            yield f"event: ready\ndata: {json.dumps({'poll_seconds': poll})}\n\n"
            quiet = 0.0
            while not await request.is_disconnected():
                await asyncio.sleep(poll)
                changed, marks = await store.read(partial(_changes, since=marks, quiet_before=quiet_before()))
                for record in reversed(changed):  # oldest first, so a client's list ends newest on top
                    yield f"event: journey\nid: {record['journey_id']}\ndata: {dumps(record).decode()}\n\n"
                quiet = 0.0 if changed else quiet + poll
                if quiet >= 15:  # a comment keeps proxies from closing an idle stream
                    quiet = 0.0
                    yield ": keep-alive\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def journey_of(wanted: str, view: str) -> dict[str, Any] | None:
        cutoff = quiet_before()
        return await store.read(lambda cursor: reads.journey(cursor, tenant, wanted, quiet_before=cutoff, view=view))

    # The journey page's timeline read starts when its HTML is asked for (journey_page).
    timelines_ahead = ReadAhead()

    async def read_journey(journey_id: str, view: str = "full") -> dict[str, Any] | JSONResponse:
        """The journey an ID (or an alias) names, or the 404 answer."""
        wanted = params.journey_id(journey_id)
        ahead = timelines_ahead.take(wanted) if view == "timeline" else None
        found = await (ahead if ahead is not None else journey_of(wanted, view))
        return _error(404, f"journey {wanted} not found") if found is None else found

    @app.get("/api/journeys/{journey_id}")
    async def get_journey(journey_id: str, view: str | None = None) -> Response:
        """The journey; ``?view=timeline`` keeps of each span only what a timeline draws (see
        ``/api/journeys/{id}/spans/{span_id}`` for one span in full)."""
        found = await read_journey(journey_id, params.choice("view", view, reads.VIEWS))
        return found if isinstance(found, Response) else _json(found)

    @app.get("/api/journeys/{journey_id}/spans/{span_id}")
    async def get_journey_span(journey_id: str, span_id: str) -> Response:
        """One span of the journey in full, as the full journey shows it."""
        wanted, wanted_span = params.journey_id(journey_id), params.span_id(span_id)
        cutoff = quiet_before()
        found = await store.read(
            lambda cursor: reads.journey_span(cursor, tenant, wanted, wanted_span, quiet_before=cutoff)
        )
        if found is None:
            return _error(404, f"span {wanted_span} not found in journey {wanted}")
        return _json(found)

    @app.get("/api/journeys/{journey_id}/otlp")
    async def download_journey(journey_id: str) -> Response:
        """The journey as an OTLP JSON file (``journeytrace import`` and any OTLP tool read it back)."""
        found = await read_journey(journey_id)
        if isinstance(found, Response):
            return found
        body = dumps({"resourceSpans": otlp_resource_spans(found)})
        disposition = f'attachment; filename="journey-{found["journey_id"]}.otlp.json"'
        return Response(body, media_type="application/json", headers={"Content-Disposition": disposition})

    @app.get("/api/ui/config")
    async def ui_config() -> dict[str, Any]:
        """Settings the Journey Explorer needs: where Jaeger UI and Grafana are, for links."""
        return {"jaeger_ui_url": "", "grafana_url": "", "grafana_tempo_datasource": "", **(ui or {})}

    # The Journey Explorer: static files, no build step; every page is index.html, which routes.
    web = assets.load(WEB_DIR)

    @app.get("/web/{path:path}", include_in_schema=False)
    async def web_file(path: str, request: Request) -> Response:
        found = web.get(path)
        if found is None:
            return _error(404, f"no file /web/{path[:200]}")
        return assets.respond(found, request)

    # Every page is index.html with the insight catalogue inside; the home page also carries
    # its list's first answer, at the end of the body (query/first_answer.py), and, in the
    # common case, the list itself drawn (query/list_page.py).
    index = web["index.html"]
    catalogue = insight_rules()
    page_html = first_answer.with_rules(index.body, {"rules": catalogue})
    page_asset = assets.Asset(page_html, index.media_type, assets.etag_of(page_html))
    body_end = page_html.rindex(b"</body>")
    drawn_html = first_answer.drawn_page(page_html, {name: web[name].body for name in ("base.css", "layout.css", "list.css")})
    drawn_main, drawn_body_end = drawn_html.index(b"</main>"), drawn_html.rindex(b"</body>")
    first_frame_script = b"<script>\n" + web["first_frame.js"].body + b"</script>\n"

    async def first_list(query: str) -> list[dict[str, Any]] | None:
        """The home page's first answer, or None (the page then asks the API itself, which
        explains the problem)."""
        try:
            filters, cutoff = list_filters(QueryParams(query)), quiet_before()
            return await store.read(lambda cursor: reads.list_journeys(cursor, tenant, quiet_before=cutoff, **filters))
        except (BadParameter, StorageUnavailable, Overloaded):
            return None
        except Exception:  # the page must still arrive whole; the API will report it
            log.exception("reading the home page's first list failed")
            return None

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        query = first_answer.list_api_params(request.query_params)
        drawn = list_page.page_filters(query) if query is not None else None

        async def html(query: str | None) -> AsyncIterator[bytes]:
            yield page_html[:body_end]  # the browser loads styles and modules meanwhile
            journeys = await first_list(query) if query is not None else None
            if journeys is not None:
                yield first_answer.list_block(query, {"journeys": journeys})
            yield page_html[body_end:]

        async def drawn_html_parts(query: str, filters: dict[str, Any]) -> AsyncIterator[bytes]:
            yield drawn_html[:drawn_main]  # modules load only after the first frame (first_frame.js)
            journeys = await first_list(query)
            if journeys:  # none: the modules draw the page and say so
                zone = list_page.zone_of(request.cookies.get(list_page.ZONE_COOKIE))
                try:
                    yield await asyncio.to_thread(list_page.list_page, filters, journeys, catalogue, zone)
                except Exception:  # the page must still arrive whole: its modules draw the list
                    log.exception("drawing the home page's list failed")
            # The answer comes after the script that paints the list: the modules take it over.
            yield drawn_html[drawn_main:drawn_body_end] + first_frame_script
            if journeys is not None:
                yield first_answer.list_block(query, {"journeys": journeys})
            yield drawn_html[drawn_body_end:]

        parts = drawn_html_parts(query, drawn) if query is not None and drawn is not None else html(query)
        return StreamingResponse(parts, media_type=index.media_type, headers={"Cache-Control": "no-store"})

    @app.get("/analytics", include_in_schema=False)
    async def analytics_page(request: Request) -> Response:
        return assets.respond(page_asset, request)

    @app.get("/journeys/{journey_id}", include_in_schema=False, response_model=None)
    async def journey_page(journey_id: str, request: Request) -> Response:
        """The page of one journey. An old (merged-away) journey ID, an original trace ID or any
        platform's own ID (a Connect ContactId, a Twilio CallSid) redirects to the journey."""
        try:
            wanted, is_id = params.journey_id(journey_id), True
        except BadParameter:
            wanted, is_id = journey_id.strip()[:256], False
        name = await store.read(lambda cursor: reads.resolve(cursor, tenant, wanted))
        if name != wanted:
            return RedirectResponse(f"/journeys/{name}", status_code=307)
        if is_id:  # the page asks for this journey's timeline as soon as it runs (index.html)
            timelines_ahead.start(name, partial(journey_of, name, "timeline"))
        return assets.respond(page_asset, request)  # the page says so when no journey has that ID

    return app
