"""The query API on port 16686: health, readiness, the native journeys API and Jaeger's APIs (query/jaeger.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from journeytrace.phone import keyed_hash
from journeytrace.query import jaeger, params
from journeytrace.query.params import BadParameter
from journeytrace.storage import SpanStore, reads


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    store: SpanStore,
    *,
    tenant: str,
    phone_hash_key: bytes,
    quiet_period_seconds: float = 1800.0,
    is_ready: Callable[[], bool] = lambda: True,
) -> FastAPI:
    """The query app. ``phone_hash_key`` hashes searched numbers the way the correlator hashed stored
    ones; a journey with no new data for ``quiet_period_seconds`` is ``complete``."""

    def quiet_before() -> int:
        return time.time_ns() - int(quiet_period_seconds * 1e9)

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
        """Readiness: storage is open and answers queries, and the receivers listen."""
        if not store.is_open or not is_ready():
            return JSONResponse({"status": "starting"}, status_code=503)
        await store.read(lambda cursor: cursor.execute("SELECT 1").fetchone())
        return JSONResponse({"status": "ready"})

    app.include_router(jaeger.router(store, tenant=tenant, quiet_before=quiet_before))

    @app.get("/api/journeys/{journey_id}")
    async def get_journey(journey_id: str) -> Any:
        wanted = params.journey_id(journey_id)
        cutoff = quiet_before()
        found = await store.read(lambda cursor: reads.journey(cursor, tenant, wanted, quiet_before=cutoff))
        if found is None:
            return _error(404, f"journey {wanted} not found")
        return found

    @app.get("/api/journeys")
    async def list_journeys(request: Request) -> dict[str, Any]:
        query = request.query_params
        phone = query.get("phone")
        phone_hash = None
        if phone:
            phone_hash = keyed_hash(phone_hash_key, phone)
            if phone_hash is None:
                raise BadParameter(f"phone {phone[:32]!r} is not a phone number")
        filters = {
            "service": query.get("service") or None,
            "platform": query.get("platform") or None,
            "status": params.status(query.get("status")),
            "outcome": params.outcome(query.get("outcome")),
            "interaction_id": query.get("interaction_id") or None,
            "phone_hash": phone_hash,
            "start_from": params.timestamp("from", query.get("from")),
            "start_to": params.timestamp("to", query.get("to")),
            "limit": params.limit(query.get("limit")),
        }
        cutoff = quiet_before()
        journeys = await store.read(
            lambda cursor: reads.list_journeys(cursor, tenant, quiet_before=cutoff, **filters)
        )
        return {"journeys": journeys}

    return app
