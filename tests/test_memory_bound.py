"""The writer keeps committing within ``memory-limit``, however much is stored or arrives at once.

Two ways a server stopped making acknowledged spans readable, each retrying one commit forever:

- *Stored data.* Schema v10 indexed the correlator's lookup hashes. An ART index lives in memory
  once a transaction changes it, and random hashes change it everywhere, so the indexes grew with
  the data inside DuckDB's buffer pool until every commit ran out of memory: with a 48 MB pool
  before 300 k realistic spans, with the default 384 MB near 9 M. Schema v11 dropped them
  (``storage/schema.py``). Small commits (``--max-commit-spans 5000``) isolate this case.
- *A big commit.* The first commit of this data, 17,000 one-span journeys, needs more than a 48 MB
  pool to correlate. The writer now halves a group that runs out of memory
  (``SpanStore._commit_in_parts``).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import duckdb
import grpc
import httpx
import pytest

from journeytrace import semconv
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from jt_helpers import grpc_export, new_span_id, new_trace_id, set_attr, wait_until

REQUESTS = 150
SPANS_PER_REQUEST = 1000
"""150,000 spans, each an interaction of its own with a SIP Call-ID: 150 k interactions, tokens and
journeys, more rows in every correlation table than the 300 k realistic spans that broke v10."""


def _request(first: int) -> tuple[ExportTraceServiceRequest, list[str]]:
    """``SPANS_PER_REQUEST`` one-span Twilio calls (each its own trace, interaction and Call-ID)."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    set_attr(resource_spans.resource.attributes, "service.name", "twilio")
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    call_ids = []
    for n in range(first, first + SPANS_PER_REQUEST):
        call_id = f"CA{random.getrandbits(128):032x}"
        call_ids.append(call_id)
        span = scope.spans.add()
        span.trace_id, span.span_id = new_trace_id(), new_span_id()
        span.name = "call"
        span.start_time_unix_nano = now - 60 * 10**9 + n
        span.end_time_unix_nano = now + n
        set_attr(span.attributes, semconv.CX_PLATFORM_NAME, "twilio")
        set_attr(span.attributes, semconv.CX_PLATFORM_INTERACTION_ID, call_id)
        set_attr(span.attributes, semconv.SIP_CALL_ID, f"{call_id}@sip.example")
    return request, call_ids


@pytest.mark.slow
@pytest.mark.parametrize("max_commit_spans", ["5000", "250000"], ids=["stored-data", "big-commits"])
def test_the_writer_keeps_committing_within_its_memory_limit(server_factory, max_commit_spans):
    server = server_factory("--memory-limit", "48MB", "--max-commit-spans", max_commit_spans)
    sent: list[str] = []
    reading = threading.Event()
    answers: Counter[str] = Counter()
    reader = threading.Thread(target=_read_meanwhile, args=(server, sent, reading, answers))
    reading.set()
    reader.start()
    try:
        with grpc.insecure_channel(server.grpc_endpoint) as channel:
            for r in range(REQUESTS):
                request, call_ids = _request(r * SPANS_PER_REQUEST)
                wait_until(lambda: _accepted(channel, request), timeout=120, interval=0.2, what=f"request {r} accepted")
                sent += call_ids
    finally:
        reading.clear()
        reader.join()
    # Reads ran throughout; each was answered, or refused as a 503 the client can retry.
    assert set(answers) <= {"200", "503"} and answers["200"] > 0, answers
    with httpx.Client(base_url=server.query_url, timeout=30) as client:

        def journey_of(call_id: str) -> list | None:
            response = client.get("/api/journeys", params={"interaction_id": call_id})
            if response.status_code == 503:  # a read may find the pool full while the writer works
                assert "memory-limit" in response.json()["error"] and response.headers["Retry-After"]
                return None
            assert response.status_code == 200, response.text
            return response.json()["journeys"]

        for call_id in (sent[0], sent[len(sent) // 2], sent[-1]):
            found = wait_until(lambda: journey_of(call_id), timeout=120, what=f"the journey of {call_id}")
            assert len(found) == 1
    assert "failed" not in server.log_text() and "Exception" not in server.log_text(), server.log_tail()
    assert server.running


def _read_meanwhile(server, sent: list[str], reading: threading.Event, answers: Counter[str]) -> None:
    """Ask each API in turn while ``reading`` is set, counting the answers by status (a 503 must
    say why and when to retry; anything else is counted under its body to fail the test)."""
    tempo_url = f"http://127.0.0.1:{server.tempo_port}"
    with httpx.Client(timeout=30) as client:
        while reading.is_set():
            known = sent[len(sent) // 2] if sent else "CA0"
            for url, params in (
                (f"{server.query_url}/api/journeys", {"interaction_id": known}),
                (f"{server.query_url}/api/journeys", {"limit": 20}),
                (f"{server.query_url}/api/traces", {"service": "twilio", "limit": 20}),
                (f"{tempo_url}/api/search", {"limit": 20}),
            ):
                response = client.get(url, params=params)
                if response.status_code == 503 and response.headers.get("Retry-After") and "memory-limit" in response.text:
                    answers["503"] += 1
                elif response.status_code == 200:
                    answers["200"] += 1
                else:
                    answers[f"{response.status_code} {url}: {response.text[:300]}"] += 1


def _accepted(channel: grpc.Channel, request: ExportTraceServiceRequest) -> bool:
    """Export once; False when told to retry (the queue is full while the writer catches up)."""
    try:
        grpc_export(channel, request, timeout=60)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return False
        raise
    return True


def test_a_file_bigger_than_the_pool_is_reported_at_start(server_factory):
    """A file that has outgrown ``memory-limit`` makes commits and reads evict and re-read
    blocks (BENCHMARKS.md, sixteenth session): the server says so when it opens the file, and
    serves as usual; with a pool bigger than the file it says nothing."""
    server = server_factory("--memory-limit", "64MB")
    assert server.stop() == 0
    db = server.data_dir / "journeytrace.duckdb"
    with duckdb.connect(str(db)) as con:  # ~110 MB of incompressible rows beside the schema
        con.execute("CREATE TABLE ballast AS SELECT sha256(i::VARCHAR) || sha256((-i)::VARCHAR) AS s FROM range(1600000) r(i)")
    size_mb = db.stat().st_size // 10**6
    assert size_mb > 64
    server.start()
    assert f"is {size_mb} MB, more than memory-limit (64MB)" in server.log_path.read_text(), server.log_tail()
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        assert client.get("/api/journeys", params={"limit": 5}).status_code == 200
    server.args = ["--memory-limit", "1GB"]
    server.restart()
    assert "more than memory-limit" not in server.log_path.read_text(), server.log_tail()
