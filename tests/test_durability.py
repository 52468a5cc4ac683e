"""An acknowledged span survives ``kill -9``, of the server or of its receiver process.

Several threads export SDK spans with the real OTLP exporters (gRPC and HTTP) as fast as the
server takes them; the server is killed with SIGKILL while they are still sending, restarted on
the same data directory, and every span whose ``export()`` returned SUCCESS must be there. This
is done twice in a row, so that the log written after a replay is itself replayed. Killing only
the receiver process, the server starts another and commits every span the dead one acknowledged.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from jt_helpers import Server, process_alive, wait_for_span_ids, wait_until

BATCH = 50
THREADS = ("grpc", "grpc", "http", "http")


class SpanSource:
    """SDK spans of one trace (children of a remote parent), made on demand."""

    def __init__(self, trace_id: int, service: str) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("durability")
        parent = SpanContext(trace_id, random.getrandbits(63) | 1, is_remote=True, trace_flags=TraceFlags(1))
        self.context = trace.set_span_in_context(NonRecordingSpan(parent))
        self.counter = 0

    def batch(self, n: int) -> list[ReadableSpan]:
        for _ in range(n):
            self.counter += 1
            with self.tracer.start_as_current_span(
                f"span-{self.counter}", context=self.context, kind=SpanKind.SERVER,
                attributes={"seq": self.counter, "cx.queue.name": "billing"},
            ):  # fmt: skip
                pass
        spans = list(self.memory.get_finished_spans())
        self.memory.clear()
        return spans


class Sender(threading.Thread):
    """Exports batches until told to stop; remembers exactly the spans that were acknowledged."""

    def __init__(self, kind: str, server: Server, trace_id: int, index: int) -> None:
        super().__init__(daemon=True, name=f"sender-{kind}-{index}")
        self.kind = kind
        self.server = server
        self.trace_id = trace_id
        self.source = SpanSource(trace_id, f"durability-{kind}-{index}")
        self.acked: set[str] = set()
        self.failed_exports = 0
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def _exporter(self):
        if self.kind == "grpc":
            return GrpcSpanExporter(endpoint=self.server.grpc_endpoint, insecure=True, timeout=3)
        return HttpSpanExporter(endpoint=self.server.traces_url, timeout=3)

    def run(self) -> None:
        exporter = self._exporter()
        try:
            while not self.stop_event.is_set():
                spans = self.source.batch(BATCH)
                if exporter.export(spans) == SpanExportResult.SUCCESS:
                    self.acked.update(f"{s.context.span_id:016x}" for s in spans)
                else:
                    self.failed_exports += 1
                    time.sleep(0.05)
        except BaseException as exc:  # surfaced by the test
            self.error = exc
        finally:
            exporter.shutdown()


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _round(server: Server, senders: list[Sender], target: int) -> None:
    """Start the senders, kill -9 the server once ``target`` more spans are acknowledged, stop them."""
    before = sum(len(s.acked) for s in senders)
    for sender in senders:
        sender.start()
    _wait(lambda: sum(len(s.acked) for s in senders) >= before + target, 90, f"{target} acknowledged spans")
    assert all(s.is_alive() for s in senders), [s.error for s in senders]
    receiver = server.receiver_pid()
    assert receiver is not None
    server.kill9()
    # The kernel kills the receiver process with the server: nothing holds the ports on restart.
    _wait(lambda: not process_alive(receiver), 5, "the receiver process to die with the server")
    # The senders keep trying against the dead server for a moment (those exports fail).
    time.sleep(0.5)
    for sender in senders:
        sender.stop_event.set()
    for sender in senders:
        sender.join(30)
        assert not sender.is_alive(), f"{sender.name} did not stop"
        assert sender.error is None, sender.error


@pytest.mark.slow
def test_acknowledged_spans_survive_kill_9(server_factory):
    server = server_factory()
    trace_ids = [random.getrandbits(127) | 1 for _ in THREADS]

    first = [Sender(kind, server, trace_ids[i], i) for i, kind in enumerate(THREADS)]
    _round(server, first, target=4000)
    assert sum(s.failed_exports for s in first) > 0, "the kill should have made some exports fail"

    server.start()
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        for sender in first:
            assert sender.acked
            wait_for_span_ids(client, f"{sender.trace_id:032x}", sender.acked, timeout=30)

    # Second round on the restarted server (after a replay), killed again.
    second = [Sender(kind, server, trace_ids[i], i) for i, kind in enumerate(THREADS)]
    for old, new in zip(first, second, strict=True):
        new.source.counter = old.source.counter  # new span names, same traces
    _round(server, second, target=2000)

    server.start()
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        total = 0
        for old, new in zip(first, second, strict=True):
            acked = old.acked | new.acked
            total += len(acked)
            journey = wait_for_span_ids(client, f"{old.trace_id:032x}", acked, timeout=30)
            by_id = {s["span_id"]: s for s in journey["spans"]}
            sample = random.sample(sorted(acked), 20)
            for span_id in sample:
                assert by_id[span_id]["attributes"]["cx.queue.name"] == "billing"
        assert total >= 6000

    # Finally a clean stop: exit code 0, and the data is still there on the next start.
    assert server.stop() == 0
    server.start()
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        for old, new in zip(first, second, strict=True):
            wait_for_span_ids(client, f"{old.trace_id:032x}", old.acked | new.acked, timeout=30)


@pytest.mark.slow
def test_a_killed_receiver_process_is_replaced_and_what_it_acknowledged_is_kept(server_factory):
    server = server_factory()
    first = server.receiver_pid()
    assert first is not None and first != server.pid
    trace_ids = [random.getrandbits(127) | 1 for _ in THREADS]
    senders = [Sender(kind, server, trace_ids[i], i) for i, kind in enumerate(THREADS)]
    for sender in senders:
        sender.start()

    def acked() -> int:
        return sum(len(s.acked) for s in senders)

    _wait(lambda: acked() >= 3000, 90, "3000 acknowledged spans")
    os.kill(first, signal.SIGKILL)
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        # Queries are the server process's: they are answered while no receiver runs.
        assert client.get("/api/services").status_code == 200

        def replacement() -> int | None:
            pid = server.receiver_pid()
            return None if pid in (None, first) else pid

        second = wait_until(replacement, timeout=30, what="a new receiver process")
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=30, what="ready again")
        resumed = acked()
        _wait(lambda: acked() >= resumed + 2000, 90, "2000 spans acknowledged by the new receiver process")
        for sender in senders:
            sender.stop_event.set()
        for sender in senders:
            sender.join(30)
            assert sender.error is None, sender.error
        assert server.running and server.starts == 1 and server.receiver_pid() == second
        for sender in senders:
            wait_for_span_ids(client, f"{sender.trace_id:032x}", sender.acked, timeout=30)
    assert server.stop() == 0
