"""Reads started before anyone asks for them, taken over by the request that does.

Opening ``/journeys/{id}`` makes the page ask for ``GET /api/journeys/{id}?view=timeline`` as
soon as its HTML runs (index.html), ~80 ms later, while Chromium is busy loading the page's
modules on the same cores. Starting the read when the HTML is asked for moves the server's work
(~80 ms for a 5,000-span journey) ahead of that contention (bench/web_journey.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class ReadAhead:
    """At most ``capacity`` reads in flight or done, each taken at most once within ``ttl``
    seconds of its start; an older one is dropped, and the request reads afresh."""

    def __init__(self, *, ttl: float = 5.0, capacity: int = 16) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._started: OrderedDict[Hashable, tuple[float, asyncio.Task[Any]]] = OrderedDict()

    def start(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> None:
        """Start ``read()`` for ``key`` (replacing an earlier one for it)."""
        now = time.monotonic()
        task = asyncio.ensure_future(read())
        task.add_done_callback(_retrieve)  # an unclaimed failure is not "never retrieved"
        self._started.pop(key, None)
        self._started[key] = (now, task)
        # unclaimed answers go once stale or beyond capacity (oldest first): they can be large
        while self._started and (len(self._started) > self._capacity or now - self._oldest_start() > self._ttl):
            self._started.popitem(last=False)

    def _oldest_start(self) -> float:
        return next(iter(self._started.values()))[0]

    def take(self, key: Hashable) -> asyncio.Task[Any] | None:
        """The read started for ``key`` if it is recent enough, once; else None."""
        found = self._started.pop(key, None)
        if found is None or time.monotonic() - found[0] > self._ttl:
            return None
        return found[1]


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
