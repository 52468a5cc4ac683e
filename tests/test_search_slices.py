"""Searches look at the newest journeys first (``storage.search.newest_first``) and stop once they
have enough; these tests check that the answer is still exactly "the newest ``limit`` journeys
matching", for Jaeger's search and for TraceQL, with journeys hours apart and one that began
before the range and runs into it."""

from __future__ import annotations

import itertools
import json
import time
import uuid

import httpx
import pytest
from jt_helpers import new_trace_id, simple_request, wait_until

from journeytrace.storage.search import MIN_SLICE_NS, Slice, newest_first

S = 10**9
HOUR = 3600 * S


@pytest.mark.parametrize("start_min", [None, 0, 10 * HOUR, 99 * HOUR])
@pytest.mark.parametrize("start_max", [None, 100 * HOUR])
def test_slices_cover_every_journey_start_once_newest_first(start_min: int | None, start_max: int | None) -> None:
    now = 100 * HOUR
    slices = list(newest_first(start_min, start_max, now_ns=now))
    assert slices[0].start_to == start_max
    assert slices[-1].start_from is None, "the last slice reaches back to journeys begun before the range"
    for newer, older in itertools.pairwise(slices):
        assert older.start_to is not None and newer.start_from is not None
        assert older.start_to == newer.start_from - 1, "contiguous and disjoint"
    widths = [s.start_to - s.start_from for s in slices[1:-1] if s.start_from is not None and s.start_to is not None]
    assert all(b > a for a, b in itertools.pairwise(widths)), "each slice longer than the one before"
    first = slices[0]
    if first.start_from is not None:
        assert (start_max if start_max is not None else now) - first.start_from >= MIN_SLICE_NS
    if start_min is not None:
        assert all(s.start_from is None or s.start_from > start_min for s in slices)


def test_one_slice_when_the_range_is_tiny() -> None:
    assert list(newest_first(5 * S, 6 * S)) == [Slice(None, 6 * S)]


def _send(server, tag: str, start: int, end: int) -> str:
    trace_id = new_trace_id()
    request = simple_request(trace_id, 1, service="slice-svc", name="sliced", start=start,
                             attributes={"slice.tag": tag})  # fmt: skip
    request.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = end
    response = httpx.post(server.traces_url, content=request.SerializeToString(),
                          headers={"content-type": "application/x-protobuf"})  # fmt: skip
    assert response.status_code == 200, response.text
    return trace_id.hex()


def test_searches_answer_the_newest_journeys_across_slices(module_server, client: httpx.Client) -> None:
    tag = uuid.uuid4().hex
    now = time.time_ns()
    # (start, end) of each journey, newest first by start; the last began before the range.
    shapes = [(now - 10 * S, now - 9 * S), (now - 90 * S, now - 80 * S), (now - 40 * 60 * S, now - 39 * 60 * S),
              (now - 2 * HOUR, now - 2 * HOUR + S), (now - 5 * HOUR, now - 5 * HOUR + S),
              (now - 26 * HOUR, now - 23 * HOUR)]  # fmt: skip
    outside = _send(module_server, tag, now - 30 * HOUR, now - 29 * HOUR)  # ends before the range
    ids = [_send(module_server, tag, start, end) for start, end in shapes]
    tempo = f"http://127.0.0.1:{module_server.tempo_port}"
    begin_us, end_us = (now - 24 * HOUR) // 1000, (now + 60 * S) // 1000

    def jaeger(limit: int) -> list[str]:
        body = client.get("/api/traces", params={"service": "slice-svc", "tags": json.dumps({"slice.tag": tag}),
                                                 "start": begin_us, "end": end_us, "limit": limit}).json()  # fmt: skip
        return [t["traceID"] for t in body["data"]]

    def traceql(limit: int) -> list[str]:
        body = httpx.get(f"{tempo}/api/search", params={"q": f'{{ span.slice.tag = "{tag}" }}', "limit": limit,
                                                        "start": begin_us // 10**6, "end": end_us // 10**6}).json()  # fmt: skip
        return [t["traceID"] for t in body["traces"]]

    # Jaeger matches a span starting in the range; TraceQL a journey overlapping it.
    wait_until(lambda: len(traceql(20)) == len(ids), what="all journeys searchable")
    for search, expected in ((jaeger, ids[:-1]), (traceql, ids)):
        for limit in (1, 2, 3, 4, 5, 6, 20):
            assert search(limit) == expected[:limit], (search.__name__, limit)
    assert outside not in jaeger(20) + traceql(20)
