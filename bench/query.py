"""Query latency at scale: trace by ID, Jaeger search, Tempo TraceQL search, tag values.

Builds (once, cached under ``bench/.data/``) a DuckDB file of ``--spans`` realistic CX spans
(bench/cxdata.py: 20 spans and 3 interactions per journey) by running the server's own commit
path, then starts ``journeytrace serve`` on a copy of it (the cached file never changes), keeps a
background client ingesting live journeys over gRPC at ``--ingest-rate`` spans/s (each starting
as it is sent: ``bench/ingest.py --live``), and times each query over HTTP as Jaeger UI and
Grafana send them. It reports the peak resident memory of the server's two processes, too.

The server's buffer pool is ``--memory-limit`` 2GB, not the server's default 384MB: the 10 M-span
file is 1.3 GB, and a pool smaller than the file makes DuckDB evict and re-read blocks for nearly
every commit and read (under 50 k spans/s, ~4,900 ``madvise`` and ~1,100 block reads a second
against ~630 and none; BENCHMARKS.md, sixteenth session; the server warns when it opens such a
file).

    python bench/query.py                        # 10,000,000 spans (500,000 journeys)
    python bench/query.py --spans 1000000 --samples 100
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))
from cxdata import SPANS_PER_JOURNEY, build_request, fresh_copy  # noqa: E402
from ingest import rss_kib, start_server  # noqa: E402

from journeytrace.correlator import CorrelatorConfig  # noqa: E402
from journeytrace.correlator.pii import protect_phone_numbers  # noqa: E402
from journeytrace.spans import decode_body  # noqa: E402
from journeytrace.storage.intake import to_arrow  # noqa: E402
from journeytrace.storage.store import SpanStore, StoreConfig  # noqa: E402
from journeytrace.storage.wal import Position  # noqa: E402

DAY_NS = 86_400 * 10**9
KEY = "6b" * 32  # the phone-hash key the loaded file and the server share


def build(path: Path, spans: int) -> None:
    """Commit ``spans`` spans through the store's own commit path (correlation included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    config = CorrelatorConfig(phone_hash_key=bytes.fromhex(KEY))
    store = SpanStore(StoreConfig(path=path, correlator=config))
    rng = random.Random(11)
    start = time.time_ns() - DAY_NS
    templates = [build_request(25, rng, start).SerializeToString() for _ in range(64)]
    store._open()
    cursor = store._db.cursor()
    requests = spans // (25 * SPANS_PER_JOURNEY)
    began = time.perf_counter()
    for first in range(0, requests, 500):
        tables = []
        for n in range(first, min(first + 500, requests)):
            batch = decode_body(fresh_copy(templates[n % len(templates)], n), "default").batch
            table = to_arrow(protect_phone_numbers(batch, bytes.fromhex(KEY), keep_raw=False))
            tables.append(_shifted(table, n * DAY_NS // requests))
        store._commit(cursor, pa.concat_tables(tables), Position(0, 0))
        done = min(first + 500, requests) * 25 * SPANS_PER_JOURNEY
        print(f"\rloaded {done:,} spans ({done / (time.perf_counter() - began):,.0f}/s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    cursor.close()
    store.close()


def _shifted(table: pa.Table, offset: int) -> pa.Table:
    """``table`` with its span times moved ``offset`` ns later: journeys arrive in the order they
    happen, over a day, as a contact center's do (a search's newest slice holds the newest data)."""
    for column in ("start_unix_nano", "end_unix_nano"):
        index = table.schema.get_field_index(column)
        table = table.set_column(index, column, pc.add(table[column], offset))
    return table


def sample_ids(path: Path, count: int) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT journey_id FROM journeys ORDER BY hash(journey_id) LIMIT ?", [count]).fetchall()
        return [r[0] for r in rows]


def timed(client: httpx.Client, requests: list[tuple[str, dict]], expect: int = 200) -> dict[str, float]:
    latencies = []
    for path, params in requests:
        began = time.perf_counter()
        response = client.get(path, params=params)
        latencies.append(time.perf_counter() - began)
        if response.status_code != expect:
            raise SystemExit(f"GET {path} {params}: {response.status_code} {response.text[:300]}")
    first = latencies[0]  # the first of its kind on this server: its caches are cold
    in_order = [round(x * 1000, 2) for x in latencies]
    latencies.sort()
    print(f"  {requests[0][0][:40]}: p50 {statistics.median(latencies) * 1000:.1f} ms", file=sys.stderr)
    return {
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p90_ms": round(latencies[int(len(latencies) * 0.9)] * 1000, 1),
        # Of 200, the 199th: one rank above nearest-rank p99 (the 198th), kept for comparison
        # with every run in BENCHMARKS.md. ``latencies_ms`` allows any other definition.
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "first_ms": round(first * 1000, 1),
        "n": len(latencies),
        "latencies_ms": in_order,  # in the order sent, so a run's slow moments can be found again
    }


class _PeakRss:
    """The most resident memory the server and its children (the receiver process) held, sampled
    twice a second on a thread of its own until ``stop()``."""

    def __init__(self, pid: int) -> None:
        self.kib = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(pid,), daemon=True)
        self._thread.start()

    def _sample(self, pid: int) -> None:
        while not self._stopped.wait(0.5):
            self.kib = max(self.kib, rss_kib(pid))

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=200, help="requests per query kind")
    parser.add_argument("--ingest-rate", type=float, default=20_000, help="background spans/s (0: none)")
    parser.add_argument(
        "--warmup", type=float, default=20,
        help="seconds of background ingest before the first query: a kind timed in the load's first seconds "
             "met a lighter one than the kinds after it (BENCHMARKS.md, fifteenth session)",
    )  # fmt: skip
    parser.add_argument("--data", type=Path, default=None, help="data directory (default bench/.data/query-SPANS)")
    parser.add_argument(
        "--analysis", action="store_true",
        help="run the analysis worker: the loaded file's journeys were never analysed, so it works "
             "through all of them during the run (off by default: it would measure that backlog)",
    )  # fmt: skip
    parser.add_argument(
        "--memory-limit", default="2GB",
        help="the server's DuckDB buffer pool (its memory-limit setting; above the file's size, see the docstring)",
    )
    args = parser.parse_args()

    data = args.data or Path(__file__).parent / ".data" / f"query-{args.spans}"
    db = data / "journeytrace.duckdb"
    if not db.exists():
        build(db, args.spans)
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM spans").fetchone()[0]
    ids = sample_ids(db, args.samples)

    # The server runs on a copy: the background ingest adds millions of spans per run, which
    # would otherwise make every run's file bigger than the last one's.
    run = Path(tempfile.mkdtemp(prefix="jt-bench-query-"))
    shutil.copy(db, run / db.name)
    with open(run / db.name, "rb") as copy:  # its writeback would otherwise land mid-measurement
        os.fsync(copy.fileno())
    extra = ("--phone-hash-key", KEY, "--analysis", "true" if args.analysis else "false", "--memory-limit", args.memory_limit)
    _, ports, server = start_server("", data_dir=run, extra=extra)
    peak_rss = _PeakRss(server.pid)
    background = None
    try:
        if args.ingest_rate:
            background = subprocess.Popen([
                sys.executable, str(Path(__file__).with_name("ingest.py")), "--client",
                "--port", str(ports["otlp-grpc-port"]), "--spans", str(10**9), "--streams", "2",
                "--rate", str(args.ingest_rate), "--out", str(run / "background.json"), "--first-copy", str(10**8),
                "--live",  # journeys start as they are sent, not all within the same seconds
            ])  # fmt: skip
            time.sleep(args.warmup)
        now_s = int(time.time())
        window_us = {"start": str((now_s - 2 * 86_400) * 10**6), "end": str(now_s * 10**6)}
        window_s = {"start": str(now_s - 2 * 86_400), "end": str(now_s)}
        results = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{ports['query-port']}", timeout=60) as jaeger, \
             httpx.Client(base_url=f"http://127.0.0.1:{ports['tempo-port']}", timeout=60) as tempo:  # fmt: skip
            results["jaeger_trace_by_id"] = timed(jaeger, [(f"/api/traces/{i}", {}) for i in ids])
            tempo_by_id = [(f"/api/v2/traces/{i}", {}) for i in ids]
            tempo.headers["Accept"] = "application/protobuf"
            results["tempo_trace_by_id_protobuf"] = timed(tempo, tempo_by_id)
            del tempo.headers["Accept"]
            queues = ["Billing", "Support", "Sales", "Retention", "Tech"]
            results["jaeger_search_service_tag"] = timed(jaeger, [
                ("/api/traces", {"service": "amazon-connect", "tags": json.dumps({"cx.queue.name": queues[n % 5]}),
                                 "limit": "20", **window_us})
                for n in range(args.samples)])  # fmt: skip
            results["tempo_traceql_attribute"] = timed(tempo, [
                ("/api/search", {"q": f'{{ span.cx.queue.name = "{queues[n % 5]}" && span.cx.ai.intent.name = "cancel" }}',
                                 "limit": "20", **window_s})
                for n in range(args.samples)])  # fmt: skip
            results["tempo_tag_values"] = timed(tempo, [
                ("/api/v2/search/tag/span.cx.queue.name/values", window_s) for _ in range(args.samples)])
    finally:
        achieved = None
        if background is not None:
            background.send_signal(signal.SIGTERM)
            background.wait(30)
            if (sent := run / "background.json").exists():  # what the background load really did
                counts = json.loads(sent.read_text())
                achieved = round(counts["acked"] / counts["seconds"])
        peak_rss.stop()
        server.send_signal(signal.SIGTERM)
        server.wait(120)
        shutil.rmtree(run, ignore_errors=True)
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, 2 cores, Python {platform.python_version()}",
        "spans_stored": stored, "background_ingest_spans_per_second": args.ingest_rate,
        "background_achieved_spans_per_second": achieved, "analysis": args.analysis, "memory_limit": args.memory_limit,
        "peak_server_rss_mib": peak_rss.kib // 1024, "queries": results,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
