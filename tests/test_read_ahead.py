"""ReadAhead: a read started early is taken over once, and only while it is fresh."""

from __future__ import annotations

import asyncio
import gc

import pytest
from journeytrace.query.read_ahead import ReadAhead


def test_a_read_is_taken_once_and_only_while_fresh() -> None:
    async def scenario() -> None:
        calls: list[str] = []

        async def read(name: str) -> str:
            calls.append(name)
            await asyncio.sleep(0.01)
            return name.upper()

        ahead = ReadAhead(ttl=0.2, capacity=2)
        ahead.start("a", lambda: read("a"))
        assert calls == []  # started, not yet run: the caller is not held up
        task = ahead.take("a")
        assert task is not None and await task == "A" and calls == ["a"]
        assert ahead.take("a") is None  # once
        assert ahead.take("never started") is None
        ahead.start("b", lambda: read("b"))
        await asyncio.sleep(0.3)
        assert ahead.take("b") is None  # too old: the request reads afresh
        ahead.start("stale", lambda: read("stale"))
        await asyncio.sleep(0.3)
        ahead.start("fresh", lambda: read("fresh"))
        assert list(ahead._started) == ["fresh"]  # a new start lets stale answers go
        assert await ahead.take("fresh") == "FRESH"
        for name in ("c", "d", "e"):
            ahead.start(name, lambda name=name: read(name))
        assert ahead.take("c") is None  # beyond capacity, the oldest went
        assert await ahead.take("d") == "D" and await ahead.take("e") == "E"

    asyncio.run(scenario())


def test_an_unclaimed_failure_is_retrieved_and_a_claimed_one_raises() -> None:
    async def scenario() -> None:
        async def fail() -> None:
            raise RuntimeError("storage unavailable")

        ahead = ReadAhead()
        ahead.start("lost", fail)
        ahead.start("claimed", fail)
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="storage unavailable"):
            await ahead.take("claimed")

    loop = asyncio.new_event_loop()
    unretrieved: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    loop.run_until_complete(scenario())
    loop.close()


    gc.collect()
    assert unretrieved == []
