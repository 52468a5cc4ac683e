"""The query API on port 16686: health, readiness and the native journeys API."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from journeytrace.storage import SpanStore, reads
from journeytrace.query import params
from journeytrace.query.params import BadParameter


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(store: SpanStore, *, tenant: str) -> FastAPI:
    app = FastAPI(title="journeytrace query API", docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.exception_handler(BadParameter)
    async def bad_parameter(_request: Request, exc: BadParameter) -> JSONResponse:
        return _error(400, str(exc))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process is serving HTTP."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: storage is open and answers queries."""
        if not store.is_open:
            return JSONResponse({"status": "starting"}, status_code=503)
        await store.read(lambda cursor: cursor.execute("SELECT 1").fetchone())
        return JSONResponse({"status": "ready"})

    @app.get("/api/journeys/{journey_id}")
    async def get_journey(journey_id: str) -> Any:
        wanted = params.journey_id(journey_id)
        found = await store.read(lambda cursor: reads.journey(cursor, tenant, wanted))
        if found is None:
            return _error(404, f"journey {wanted} not found")
        return found

    @app.get("/api/journeys")
    async def list_journeys(request: Request) -> dict[str, Any]:
        query = request.query_params
        service = query.get("service") or None
        start_from = params.timestamp("from", query.get("from"))
        start_to = params.timestamp("to", query.get("to"))
        limit = params.limit(query.get("limit"))
        journeys = await store.read(
            lambda cursor: reads.list_journeys(
                cursor, tenant, service=service, start_from=start_from, start_to=start_to, limit=limit
            )
        )
        return {"journeys": journeys}

    return app
