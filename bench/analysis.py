"""Analysis benchmark: how fast the analysis worker turns new journeys into insights and summaries.

Starts `journeytrace serve` on a fresh data directory, sends realistic CX journeys over OTLP/gRPC
with bench/ingest.py's client (20 spans per journey) at a fixed rate, and polls
`GET /api/analytics/overview` (which counts analysed journeys) once a second. Reports how far
analysis trails ingest while it runs, and how long the worker takes to catch up once ingest
stops, which gives its throughput when it has a backlog.

    python bench/analysis.py                           # 400,000 spans at 10,000 spans/s
    python bench/analysis.py --spans 1000000 --rate 0  # as fast as acknowledged: a backlog builds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from cxdata import SPANS_PER_JOURNEY  # noqa: E402
from ingest import start_server  # noqa: E402


def analysed(client: httpx.Client) -> int:
    answer = client.get("/api/analytics/overview", params={"from": 0, "to": time.time_ns() + 86_400 * 10**9})
    return int(answer.json()["journey_count"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=400_000)
    parser.add_argument("--rate", type=float, default=10_000, help="spans/s to send (0: as fast as acknowledged)")
    parser.add_argument("--streams", type=int, default=4)
    args = parser.parse_args()

    data_dir, ports, server = start_server("jt-bench-analysis-")
    out = data_dir / "client.json"
    journeys = args.spans // SPANS_PER_JOURNEY
    sender = subprocess.Popen([
        sys.executable, str(Path(__file__).parent / "ingest.py"), "--client", "--port", str(ports["otlp-grpc-port"]),
        "--spans", str(args.spans), "--streams", str(args.streams), "--rate", str(args.rate), "--out", str(out),
    ])  # fmt: skip
    behind: list[int] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{ports['query-port']}", timeout=60) as client:
            began = time.perf_counter()
            while sender.poll() is None:
                time.sleep(1.0)
                elapsed = time.perf_counter() - began
                sent = min(journeys, int(elapsed * args.rate / SPANS_PER_JOURNEY)) if args.rate else None
                # (journeys sent so far: an upper bound of what analysis could have done)
                done = analysed(client)
                if sent is not None:
                    behind.append(max(0, sent - done))
            if sender.returncode:
                raise SystemExit("client failed")
            ingest_seconds = json.loads(out.read_text())["seconds"]
            # Some of the generated journeys link into one another, so the server holds fewer
            # than were sent: analysis has caught up when the count stops growing.
            stopped = time.perf_counter()
            at_stop = analysed(client)
            final, last_change = at_stop, stopped
            while time.perf_counter() - last_change < 5.0:
                time.sleep(0.25)
                now = analysed(client)
                if now != final:
                    final, last_change = now, time.perf_counter()
            catch_up = last_change - stopped
    finally:
        server.terminate()
        server.wait(timeout=300)
    behind.sort()
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "journeys_sent": journeys,
        "journeys_stored": final,
        "ingest_spans_per_second": round(args.spans / ingest_seconds),
        "journeys_behind_during_ingest_p50": behind[len(behind) // 2] if behind else None,
        "journeys_behind_during_ingest_max": behind[-1] if behind else None,
        "journeys_left_when_ingest_ended": final - at_stop,
        "catch_up_seconds": round(catch_up, 1),
        "catch_up_journeys_per_second": round((final - at_stop) / catch_up) if catch_up > 0.5 else None,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
