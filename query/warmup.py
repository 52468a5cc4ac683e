"""Read the newest journey by ID through each API as a server starts, before it says it is ready.

A new process's first trace by ID paid for what every later request finds ready: the blocks of
the journeys' and analyses' key columns in DuckDB's buffer pool, each app's middleware stack
(Starlette builds it on the first request), the routes' first calls into the readers and the
Jaeger and Tempo renderers. Under 50 k spans/s that first read was the slowest of its run in 8
of 17 runs (26-62 ms against ~20 ms p50; BENCHMARKS.md, twentieth session), so a user opening a
trace right after a restart met it. The requests go through the apps in-process (no socket),
exactly as a client's would; the newest journey is the one most likely to be asked for next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from journeytrace.storage import SpanStore

log = logging.getLogger("journeytrace.query")

QUERY_TRACE_ROUTES = (("/api/traces/{}", {}), ("/api/journeys/{}", {}))
"""The query port's reads of one journey: Jaeger's trace and the Explorer's journey."""
TEMPO_TRACE_ROUTES = (("/api/v2/traces/{}", {"Accept": "application/protobuf"}),)
"""The Tempo port's, as Grafana asks for it first."""


@dataclass(frozen=True)
class Warmed:
    """What the warm-up asked for: the journey (None when the tenant has none yet) and the
    status of each request, by path."""

    journey_id: str | None
    statuses: dict[str, int]
    seconds: float


async def warm_reads(
    store: SpanStore, tenant: str, routes: Mapping[Any, Sequence[tuple[str, dict[str, str]]]]
) -> Warmed:
    """Ask each ASGI app in ``routes`` for the tenant's newest journey on each of its routes (a
    path template and headers); nothing is kept. Never fails a start: a failure is logged."""
    started = time.perf_counter()
    statuses: dict[str, int] = {}
    try:
        newest = await store.read(
            lambda cursor: cursor.execute(
                "SELECT journey_id FROM journeys WHERE tenant = ? ORDER BY updated_unix_nano DESC LIMIT 1", [tenant]
            ).fetchone()
        )
        if newest is None:
            return Warmed(None, statuses, time.perf_counter() - started)
        for app, app_routes in routes.items():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://warm-up") as client:
                for template, headers in app_routes:
                    path = template.format(newest[0])
                    statuses[path] = (await client.get(path, headers=headers)).status_code
    except Exception:  # whatever failed here answers for itself when a client asks
        log.warning("warming the read path failed; the first reads will be slower", exc_info=True)
        return Warmed(None, statuses, time.perf_counter() - started)
    return Warmed(newest[0], statuses, time.perf_counter() - started)
