"""Ingest benchmark: durable spans/s over OTLP/gRPC, peak server RSS, bytes on disk per span.

Starts `journeytrace serve` on free ports with a fresh data directory, then a separate client
process sends realistic CX journeys (20 spans, ~10 attributes each; bench/cxdata.py) over
several concurrent gRPC streams. A span counts only once the server acknowledged it, and the
server acknowledges only after the DuckDB commit. At the end the server is stopped and the
stored spans are counted in the file, so the figure is "acknowledged and committed".

    python bench/ingest.py                      # 5,000,000 spans, 4 streams
    python bench/ingest.py --spans 500000 --streams 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any
from pathlib import Path

import duckdb
import grpc
import httpx

sys.path.insert(0, str(Path(__file__).parent))
from cxdata import SPANS_PER_JOURNEY, build_request, fresh_copy  # noqa: E402

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LIVE_AGE_NS = 300 * 10**9
"""With ``live``, how long before it is sent a journey started: its spans (up to ~3 minutes of
call) are over when they arrive, as a platform reports them."""


def client(
    port: int, total_spans: int, streams: int, journeys_per_request: int, out: Path, rate: float = 0,
    first_copy: int = 0, live: bool = False,
) -> None:  # fmt: skip
    """Send requests until ``total_spans`` are acknowledged (at most ``rate`` spans/s if set);
    write the counts to ``out``. Copies are numbered from ``first_copy``, so a second client
    (or data loaded earlier) gets IDs of its own.

    Without ``live`` every journey starts within the same 17 seconds an hour ago (16 templates),
    which is enough for throughput. With ``live`` each second's requests come from a template
    built that second, so start times advance with the clock as a contact center's do; a search
    running meanwhile then finds the newest journeys spread over time, not thousands of them
    within seconds of each other."""
    rng = random.Random(7)
    start_ns = time.time_ns() - 3600 * 10**9
    templates = [
        build_request(journeys_per_request, rng, start_ns + i * 10**9).SerializeToString() for i in range(16)
    ]
    spans_per_request = journeys_per_request * SPANS_PER_JOURNEY
    requests_total = total_spans // spans_per_request
    lock = threading.Lock()
    state = {"next": 0, "acked": 0, "retries": 0}
    current: dict[str, Any] = {"second": None, "template": b""}

    def template(n: int) -> bytes:
        if not live:
            return templates[n % len(templates)]
        with lock:
            second = int(time.time())
            if current["second"] != second:
                now = time.time_ns()
                current.update(second=second, template=build_request(journeys_per_request, rng, now - LIVE_AGE_NS).SerializeToString())
            return current["template"]

    def worker() -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)])
        export = channel.unary_unary(EXPORT)
        while True:
            with lock:
                n = state["next"]
                if n >= requests_total:
                    break
                state["next"] += 1
            if rate:
                delay = began + n * spans_per_request / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            body = fresh_copy(template(n), first_copy + n)
            while True:
                try:
                    export(body, timeout=60)
                    break
                except grpc.RpcError as exc:
                    if exc.code() not in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
                        raise
                    with lock:
                        state["retries"] += 1
                    time.sleep(0.05)
            with lock:
                state["acked"] += spans_per_request
        channel.close()

    def report() -> None:
        with lock:
            counts = {"acked": state["acked"], "seconds": time.perf_counter() - began, "retries": state["retries"]}
        out.write_text(json.dumps(counts))

    def stopped(_signum: int, _frame: object) -> None:  # a background load is stopped: say what it did
        report()
        os._exit(0)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(streams)]
    began = time.perf_counter()
    signal.signal(signal.SIGTERM, stopped)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report()


def start_server(
    prefix: str, *, data_dir: Path | None = None, extra: tuple[str, ...] = ()
) -> tuple[Path, dict[str, int], subprocess.Popen[bytes]]:
    """`journeytrace serve` on free ports, once it is ready; on a fresh data directory unless one
    is given (a cached file may take a while to open: up to a minute is allowed). The server logs at
    ``warning`` unless ``JT_BENCH_LOG_LEVEL`` says otherwise (``debug`` times every commit)."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix=prefix))
    ports = {name: free_port() for name in ("otlp-grpc-port", "otlp-http-port", "query-port", "tempo-port")}
    cmd = [sys.executable, "-m", "journeytrace", "serve", "--data-dir", str(data_dir), "--log-level", os.environ.get("JT_BENCH_LOG_LEVEL", "warning"), *extra]
    for name, port in ports.items():
        cmd += [f"--{name}", str(port)]
    server = subprocess.Popen(cmd)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{ports['query-port']}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return data_dir, ports, server


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its children (the receiver process), in KiB."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if int(stat.parent.name) == pid or parent == pid:
                for line in (stat.parent / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # it ended while being read
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=5_000_000)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--journeys-per-request", type=int, default=25)
    parser.add_argument("--rate", type=float, default=0, help="spans/s to send at most (default: as fast as acknowledged)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first-copy", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--live", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args.port, args.spans, args.streams, args.journeys_per_request, args.out, args.rate, args.first_copy, args.live)
        return

    data_dir, ports, server = start_server("jt-bench-")
    result_file = data_dir / "client.json"
    client_cmd = [
        sys.executable, __file__, "--client", "--port", str(ports["otlp-grpc-port"]),
        "--spans", str(args.spans), "--streams", str(args.streams),
        "--journeys-per-request", str(args.journeys_per_request), "--out", str(result_file),
    ]  # fmt: skip
    peak_rss = 0
    sender = subprocess.Popen(client_cmd)
    while sender.poll() is None:
        peak_rss = max(peak_rss, rss_kib(server.pid))
        time.sleep(0.2)
    if sender.returncode:
        server.kill()
        raise SystemExit("client failed")
    sent = json.loads(result_file.read_text())
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=300)
    db_file = data_dir / "journeytrace.duckdb"
    with duckdb.connect(str(db_file), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM spans").fetchone()[0]
    size = db_file.stat().st_size
    shutil.rmtree(data_dir, ignore_errors=True)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "spans_acknowledged": sent["acked"],
        "spans_stored": stored,
        "seconds": round(sent["seconds"], 2),
        "durable_spans_per_second": round(sent["acked"] / sent["seconds"]),
        "retries_after_backpressure": sent["retries"],
        "peak_server_rss_mib": round(peak_rss / 1024),  # both processes, sampled every 0.2 s
        "bytes_on_disk_per_span": round(size / max(stored, 1), 1),
        "streams": args.streams,
        "spans_per_request": args.journeys_per_request * SPANS_PER_JOURNEY,
    }
    print(json.dumps(report, indent=2))
    if stored < sent["acked"]:
        raise SystemExit(f"LOST SPANS: {sent['acked']} acknowledged but {stored} stored")


if __name__ == "__main__":
    main()
