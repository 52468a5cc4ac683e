"""Searches look at the newest journeys first (``storage.search.slices_to_read``) and stop once they
have enough; these tests check that the answer is still exactly "the newest ``limit`` journeys
matching", for Jaeger's search and for TraceQL, with journeys hours apart and one that began
before the range and runs into it."""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from pathlib import Path

import duckdb
import httpx
import pytest
from jt_helpers import new_trace_id, simple_request, wait_until

from journeytrace.storage import schema
from journeytrace.storage.search import FIRST_SLICE_JOURNEYS, Slice, SpanBounds, slices_to_read

S = 10**9
HOUR = 3600 * S


def _arrival(start: int) -> tuple[int, int]:
    """A journey's first arrival and last update: reported when it ends, some spans later still."""
    first = start + (start * 7919) % (3 * HOUR)
    return first, first + (start * 104729) % (2 * HOUR)


def _slices(
    path: Path, journeys: list[tuple[int, int]], start_min: int | None, start_max: int | None
) -> list[tuple[Slice, SpanBounds]]:
    """``slices_to_read`` over a DuckDB file holding journeys of these (start, end), which arrived
    as ``_arrival`` says."""
    db = duckdb.connect(str(path))
    schema.migrate(db)
    db.executemany(
        "INSERT INTO journeys (tenant, journey_id, start_unix_nano, end_unix_nano, services, updated_unix_nano, "
        "first_received_unix_nano) VALUES ('default', ?, ?, ?, [], ?, ?)",
        [[f"j{i}", start, end, _arrival(start)[1], _arrival(start)[0]] for i, (start, end) in enumerate(journeys)],
    )
    other = [["other", 0, 10**15]]  # another tenant's journey never counts
    db.executemany("INSERT INTO journeys (tenant, journey_id, start_unix_nano, end_unix_nano, services, "
                   "updated_unix_nano) VALUES (?, 'x', ?, ?, [], 0)", other)  # fmt: skip
    try:
        return list(slices_to_read(db.cursor(), "default", start_min, start_max))
    finally:
        db.close()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bounded", [(False, False), (True, False), (False, True), (True, True)])
def test_slices_hold_every_overlapping_journey_once_newest_first(
    tmp_path: Path, seed: int, bounded: tuple[bool, bool]
) -> None:
    rng = random.Random(seed)
    # Clusters of journeys (bursts of calls) hours apart, plus spread-out ones, some starting together.
    starts = [rng.choice([5, 30, 31, 70]) * HOUR + rng.randrange(0, 60 * S) for _ in range(rng.randrange(0, 1500))]
    starts += [rng.randrange(0, 100 * HOUR) for _ in range(rng.randrange(0, 300))]
    starts += starts[:40]  # ties
    journeys = [(start, start + rng.randrange(0, 2 * HOUR)) for start in starts]
    start_min = 30 * HOUR if bounded[0] else None
    start_max = 70 * HOUR + 30 * S if bounded[1] else None
    slices = _slices(tmp_path / "j.duckdb", journeys, start_min, start_max)

    def in_range(start: int, end: int) -> bool:
        return (start_min is None or end >= start_min) and (start_max is None or start <= start_max)

    def in_slice(window: Slice, start: int) -> bool:
        return (window.start_from is None or start >= window.start_from) and (
            window.start_to is None or start <= window.start_to)  # fmt: skip

    expected = [j for j in journeys if in_range(*j)]
    held = [[j for j in expected if in_slice(window, j[0])] for window, _ in slices]
    assert sorted(j for group in held for j in group) == sorted(expected), "each overlapping journey in one slice"
    if not expected:
        assert slices == []
        return
    assert slices[0][0].start_to == start_max
    for (newer, _), (older, _) in itertools.pairwise(slices):
        assert newer.start_from is not None and older.start_to == newer.start_from - 1, "contiguous, newest first"
    assert all(group for group in held), "no empty slice is read"
    assert len(held[0]) >= min(FIRST_SLICE_JOURNEYS, len(expected))
    for group in held[1:-1]:
        assert len(group) >= FIRST_SLICE_JOURNEYS * 4, "later slices grow"
    for (window, bounds), group in zip(slices, held, strict=True):
        arrivals = [_arrival(start) for start, _ in group]
        assert bounds == SpanBounds(min(s for s, _ in group), max(e for _, e in group),
                                    min(f for f, _ in arrivals), max(u for _, u in arrivals)), "bounds cover the slice"  # fmt: skip


def test_the_first_slice_is_the_newest_journeys_however_old(tmp_path: Path) -> None:
    """A file whose newest journeys are days old: the first slice still holds the newest ones."""
    journeys = [(i * S, i * S + 10 * S) for i in range(1000)]
    window, bounds = _slices(tmp_path / "j.duckdb", journeys, None, None)[0]
    assert window == Slice((1000 - FIRST_SLICE_JOURNEYS) * S, None)
    assert (bounds.start_min, bounds.end_max) == ((1000 - FIRST_SLICE_JOURNEYS) * S, 1009 * S)


def test_a_journey_of_unknown_first_arrival_bounds_nothing_from_below(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    _slices(path, [(i * S, i * S + 10 * S) for i in range(10)], None, None)
    with duckdb.connect(str(path)) as db:
        db.execute("UPDATE journeys SET first_received_unix_nano = NULL WHERE journey_id = 'j3'")
        [(_, bounds)] = list(slices_to_read(db.cursor(), "default", None, None))
    assert bounds.received_min == 0 and bounds.received_max == max(_arrival(i * S)[1] for i in range(10))


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


def test_searches_find_a_span_that_arrived_long_after_its_journey_began(module_server, client: httpx.Client) -> None:
    """Searches bound the spans they read by arrival (``SpanBounds``): a journey whose first span
    arrived, then other journeys' spans, then its own matching span, is found, and its summary
    counts both spans."""
    tag, now = uuid.uuid4().hex, time.time_ns()
    trace_id = new_trace_id()
    early = simple_request(trace_id, 1, service="late-svc", name="early", start=now - 60 * S)
    late = simple_request(trace_id, 1, service="late-svc", name="late", start=now - 30 * S, attributes={"late.tag": tag})
    others = [simple_request(new_trace_id(), 3, service="late-svc", start=now - 20 * S) for _ in range(40)]
    for request in [early, *others[:20]]:
        _post(module_server, request)
    time.sleep(1.5)  # a commit or two later
    for request in [*others[20:], late]:
        _post(module_server, request)
    tempo = f"http://127.0.0.1:{module_server.tempo_port}"

    def traceql() -> list[dict]:
        return httpx.get(f"{tempo}/api/search", params={"q": f'{{ span.late.tag = "{tag}" }}'}).json()["traces"]

    [found] = wait_until(traceql, what="the journey found by its late span")
    assert found["traceID"] == trace_id.hex()
    assert found["serviceStats"] == {"late-svc": {"spanCount": 2}}  # the early span counted too
    assert found["rootTraceName"] == "early-0"
    body = client.get("/api/traces", params={"service": "late-svc", "tags": json.dumps({"late.tag": tag})}).json()
    assert [t["traceID"] for t in body["data"]] == [trace_id.hex()]
    assert {s["operationName"] for s in body["data"][0]["spans"]} >= {"early-0", "late-0"}


def _post(server, request) -> None:
    response = httpx.post(server.traces_url, content=request.SerializeToString(),
                          headers={"content-type": "application/x-protobuf"})  # fmt: skip
    assert response.status_code == 200, response.text
