"""Backpressure, not collapse: with a tiny ``--max-queued-spans``, concurrent senders are told to
retry (gRPC RESOURCE_EXHAUSTED + RetryInfo, HTTP 503 + Retry-After), the server stays up and
bounded in memory, retries succeed, and nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import grpc
import httpx
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from journeytrace.correlator import CorrelatorConfig
from journeytrace.errors import Overloaded
from journeytrace.spans import decode_body
from journeytrace.storage import SpanStore, StoreConfig
from journeytrace.storage.store import smoothed_load
from journeytrace.storage.analysis import AnalysisConfig, AnalysisWorker

from jt_helpers import (
    Server,
    grpc_export,
    http_export,
    new_trace_id,
    real_spans,
    simple_request,
    span_ids_hex,
    wait_for_span_ids,
)

MAX_QUEUED = 1000
SPANS_PER_REQUEST = 600
RSS_LIMIT = 1024 * 1024 * 1024
"""Generous: the server idles at ~100-200 MiB; an unbounded queue would grow far past this."""


@dataclass
class Outcome:
    transport: str
    trace_id: bytes
    span_ids: set[str]
    body: bytes
    accepted: bool = False
    rejections: list[tuple[str, float]] = field(default_factory=list)
    """(code, retry delay in seconds) of each refusal."""
    unexpected: list[str] = field(default_factory=list)


def _request(service: str) -> tuple[bytes, bytes, set[str]]:
    trace_id = new_trace_id()
    request = simple_request(trace_id, SPANS_PER_REQUEST, service=service, attributes={"pad": "p" * 64})
    return trace_id, request.SerializeToString(), span_ids_hex(request)


def _grpc_once(channel: grpc.Channel, outcome: Outcome) -> None:
    try:
        response = grpc_export(channel, outcome.body, timeout=60)
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            outcome.unexpected.append(f"{error.code()}: {error.details()}")
            return
        trailers = dict(error.trailing_metadata() or ())
        raw = trailers.get("google.rpc.retryinfo-bin")
        if raw is None:
            outcome.unexpected.append(f"RESOURCE_EXHAUSTED without RetryInfo (trailers {sorted(trailers)})")
            return
        delay = RetryInfo.FromString(raw).retry_delay
        outcome.rejections.append(("RESOURCE_EXHAUSTED", delay.seconds + delay.nanos / 1e9))
        return
    if response.HasField("partial_success"):
        outcome.unexpected.append(f"partial success: {response.partial_success}")
        return
    outcome.accepted = True


def _http_once(client: httpx.Client, url: str, outcome: Outcome) -> None:
    response = http_export(client, url, outcome.body)
    if response.status_code == 503:
        retry_after = response.headers.get("retry-after")
        if retry_after is None or not retry_after.isdigit() or int(retry_after) < 1:
            outcome.unexpected.append(f"503 with Retry-After {retry_after!r}")
            return
        outcome.rejections.append(("503", float(retry_after)))
        return
    if response.status_code != 200:
        outcome.unexpected.append(f"HTTP {response.status_code}: {response.text[:200]}")
        return
    if ExportTraceServiceResponse.FromString(response.content).HasField("partial_success"):
        outcome.unexpected.append("partial success")
        return
    outcome.accepted = True


def _burst(server: Server, per_transport: int) -> list[Outcome]:
    """``per_transport`` gRPC and as many HTTP requests of 600 spans, all released at once."""
    outcomes = []
    for transport in ("grpc", "http"):
        for _ in range(per_transport):
            trace_id, body, ids = _request(f"burst-{transport}")
            outcomes.append(Outcome(transport, trace_id, ids, body))
    barrier = threading.Barrier(len(outcomes))
    channel = grpc.insecure_channel(server.grpc_endpoint)
    grpc.channel_ready_future(channel).result(timeout=10)

    def run(outcome: Outcome) -> None:
        with httpx.Client(timeout=60) as client:
            client.get(server.http_base + "/")  # connect before the barrier
            barrier.wait()
            if outcome.transport == "grpc":
                _grpc_once(channel, outcome)
            else:
                _http_once(client, server.traces_url, outcome)

    threads = [threading.Thread(target=run, args=(o,)) for o in outcomes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    channel.close()
    return outcomes


def _retry_until_accepted(server: Server, outcomes: list[Outcome], deadline_s: float = 60) -> None:
    """Resend each refused request, honouring the server's delay, until it is accepted."""
    deadline = time.monotonic() + deadline_s
    channel = grpc.insecure_channel(server.grpc_endpoint)
    with httpx.Client(timeout=60) as client:
        pending = [o for o in outcomes if not o.accepted]
        while pending:
            assert time.monotonic() < deadline, f"{len(pending)} requests still refused after {deadline_s}s"
            delay = max(o.rejections[-1][1] for o in pending)
            time.sleep(min(delay, 2.0) * random.uniform(0.5, 1.0))
            for outcome in pending:
                if outcome.transport == "grpc":
                    _grpc_once(channel, outcome)
                else:
                    _http_once(client, server.traces_url, outcome)
                assert not outcome.unexpected, outcome.unexpected
            pending = [o for o in pending if not o.accepted]
    channel.close()


@pytest.fixture
def tiny_queue_server(server_factory) -> Server:
    return server_factory("--max-queued-spans", str(MAX_QUEUED))


@pytest.mark.slow
def test_overload_is_refused_with_retry_hints_and_nothing_is_lost(tiny_queue_server):
    server = tiny_queue_server
    outcomes = _burst(server, per_transport=6)

    assert not [o.unexpected for o in outcomes if o.unexpected]
    refused = [o for o in outcomes if o.rejections]
    codes = {code for o in refused for code, _ in o.rejections}
    assert "RESOURCE_EXHAUSTED" in codes, f"no gRPC request was refused: {[(o.transport, o.accepted) for o in outcomes]}"
    assert "503" in codes, f"no HTTP request was refused: {[(o.transport, o.accepted) for o in outcomes]}"
    assert all(delay > 0 for o in refused for _, delay in o.rejections)
    assert any(o.accepted for o in outcomes), "the queue admits at least one request"
    assert server.running
    with httpx.Client(base_url=server.query_url, timeout=10) as client:
        assert client.get("/readyz").status_code == 200

    _retry_until_accepted(server, outcomes)

    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        for outcome in outcomes:
            journey = wait_for_span_ids(client, outcome.trace_id.hex(), outcome.span_ids, timeout=30)
            assert len(real_spans(journey)) == SPANS_PER_REQUEST


@pytest.mark.slow
def test_sdk_exporter_rides_out_backpressure(tiny_queue_server):
    """The real gRPC exporter, sending concurrently into a full queue, ends with SUCCESS (it
    honours RetryInfo), and its spans are stored."""
    server = tiny_queue_server
    results: dict[int, SpanExportResult] = {}
    batches = {}
    for i in range(6):
        trace_id = random.getrandbits(127) | 1
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": f"sdk-{i}"}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("backpressure")
        parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(trace_id, 1, True, TraceFlags(1))))
        for n in range(SPANS_PER_REQUEST):
            tracer.start_span(f"s{n}", context=parent).end()
        batches[trace_id] = list(memory.get_finished_spans())

    barrier = threading.Barrier(len(batches))

    def run(trace_id: int) -> None:
        exporter = GrpcSpanExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=45)
        barrier.wait()
        results[trace_id] = exporter.export(batches[trace_id])
        exporter.shutdown()

    threads = [threading.Thread(target=run, args=(t,)) for t in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == {t: SpanExportResult.SUCCESS for t in batches}
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        for trace_id, spans in batches.items():
            wait_for_span_ids(client, f"{trace_id:032x}", {f"{s.context.span_id:016x}" for s in spans}, timeout=30)


@pytest.mark.slow
def test_memory_stays_bounded_under_a_flood(tiny_queue_server):
    """Eight senders push 600-span requests without pause for ~8 s; the server's RSS stays bounded."""
    server = tiny_queue_server
    stop = threading.Event()
    counts = {"accepted": 0, "refused": 0, "other": 0}
    lock = threading.Lock()
    _, body, _ = _request("flood")  # one body, resent: duplicates are fine for a memory test

    def flood(transport: str) -> None:
        channel = grpc.insecure_channel(server.grpc_endpoint)
        with httpx.Client(timeout=60) as client:
            for _ in range(2000):  # bounded, whatever happens
                if stop.is_set():
                    break
                outcome = Outcome(transport, b"", set(), body)
                if transport == "grpc":
                    _grpc_once(channel, outcome)
                else:
                    _http_once(client, server.traces_url, outcome)
                with lock:
                    key = "accepted" if outcome.accepted else ("refused" if outcome.rejections else "other")
                    counts[key] += 1
        channel.close()

    threads = [threading.Thread(target=flood, args=(t,)) for t in ("grpc", "http") * 4]
    baseline = server.rss_bytes()
    peak = baseline
    for t in threads:
        t.start()
    end = time.monotonic() + 8
    while time.monotonic() < end:
        peak = max(peak, server.rss_bytes())
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(60)
    assert counts["other"] == 0, counts
    assert counts["refused"] > 0 and counts["accepted"] > 0, counts
    assert peak < RSS_LIMIT, f"RSS peaked at {peak / 2**20:.0f} MiB (baseline {baseline / 2**20:.0f} MiB); {counts}"
    assert server.running
    with httpx.Client(base_url=server.query_url, timeout=10) as client:
        assert client.get("/readyz").status_code == 200
    print(f"RSS baseline {baseline / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB, {counts}")


def test_a_refused_batch_makes_analysis_yield_to_ingest(tmp_path: Path) -> None:
    """Once a sender is told to retry, ingest is heavy and the analysis worker takes
    ``heavy_share`` of the time instead of ``busy_share``: under overload every cycle it takes is
    a span not accepted."""

    async def run() -> tuple[list[object], bool, bool]:
        config = StoreConfig(
            path=tmp_path / "journeytrace.duckdb",
            correlator=CorrelatorConfig(phone_hash_key=b"k" * 32),
            max_queued_spans=SPANS_PER_REQUEST,
        )
        async with SpanStore(config) as store:
            before = store._ingest_heavy()
            batches = [decode_body(_request(f"svc-{i}")[1], "default").batch for i in range(4)]
            results = await asyncio.gather(*(store.consume(b) for b in batches), return_exceptions=True)
            return results, before, store._ingest_heavy()

    results, before, after = asyncio.run(run())
    assert not before
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert refused and len(refused) < len(results), results
    assert after

    with duckdb.connect(str(tmp_path / "journeytrace.duckdb")) as db:
        heavy = [False]
        worker = AnalysisWorker(
            db, AnalysisConfig(busy_share=0.5, heavy_share=0.1),
            ingest_busy=lambda: True, ingest_heavy=lambda: heavy[0],
        )  # fmt: skip
        paused = []
        for heavy[0] in (False, True):
            began = time.monotonic()
            worker._yield_to_ingest(0.05)
            paused.append(time.monotonic() - began)
        worker._cursor.close()
    # 0.05 s of work: a 0.05 s pause at half the time, 0.45 s at a tenth.
    assert 0.04 <= paused[0] < 0.3, paused
    assert paused[1] >= 0.4, paused


def test_a_writer_committing_most_of_the_time_makes_ingest_heavy(tmp_path: Path) -> None:
    """Ingest is heavy when the writer commits more than half of the time, even if no sender is
    refused: then every cycle analysis takes delays the commits spans wait for. One commit after
    a pause is not heavy."""
    # Back-to-back commits of 0.3 s: the load climbs past a half within two commits.
    load = 0.0
    for n in range(3):
        load = smoothed_load(load, began=n * 0.3, ended=(n + 1) * 0.3, previous_end=n * 0.3)
    assert load > 0.8
    # Commits of 0.1 s every second: light, however many.
    light = 0.0
    for n in range(10):
        light = smoothed_load(light, began=n + 0.9, ended=n + 1.0, previous_end=float(n))
    assert light < 0.15
    # A heavy spell fades once the writer idles between commits.
    for n in range(3):
        load = smoothed_load(load, began=10 + n + 0.9, ended=10 + n + 1.0, previous_end=10.0 + n)
    assert load < 0.5

    async def settle(store: SpanStore) -> None:
        for _ in range(500):
            if not store.unapplied:
                return
            await asyncio.sleep(0.01)

    async def run() -> tuple[tuple[bool, bool, float], tuple[bool, bool, float]]:
        # No commit interval: a writer with spans waiting commits at once, so it is busy exactly
        # as long as a sender keeps it fed (with the default 0.1 s it gathers between commits).
        config = StoreConfig(
            path=tmp_path / "journeytrace.duckdb", correlator=CorrelatorConfig(phone_hash_key=b"k" * 32),
            commit_interval=0.0,
        )  # fmt: skip
        async with SpanStore(config) as store:
            await asyncio.sleep(0.5)
            await store.consume(decode_body(_request("svc")[1], "default").batch)
            await settle(store)
            light = store._ingest_busy(), store._ingest_heavy(), store._writer_load
            # Then a sender that keeps the next batch waiting whenever a commit ends, yet far
            # fewer spans queued than a commit may take: heavy without being saturated.
            batches = [decode_body(_request(f"svc-{i}")[1], "default").batch for i in range(200)]
            for batch in batches:
                while store.unapplied > 20 * SPANS_PER_REQUEST:
                    await asyncio.sleep(0.002)
                await store.consume(batch)
            loaded = store._ingest_saturated(), store._ingest_heavy(), store._writer_load
            await settle(store)
            return light, loaded

    light, loaded = asyncio.run(run())
    busy, heavy, writer_load = light
    assert busy and not heavy, writer_load
    saturated, heavy, writer_load = loaded
    assert not saturated and heavy and writer_load > 0.5, loaded
