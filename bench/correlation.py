"""Correlation lag: how soon after its last span is acknowledged a journey is readable under its
final ID, while the server ingests a steady background load.

A probe sends multi-platform journeys whose legs arrive in reverse order (the latest leg
first, the earliest last — so the journey ID changes when the last leg lands and stored spans
must be rewritten). For each, it measures the time from the acknowledgement of the last leg to
``GET /api/journeys/{final id}`` showing all three legs. Meanwhile a client process sends CX
journeys over gRPC (bench/cxdata.py) at a steady rate. Only probes that begin and end while
the background load runs count as under load; a few probes after it show the idle lag.

    python bench/correlation.py                 # probes while 3 M spans arrive at 20 k/s, then 30 idle
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest import start_server  # noqa: E402

from journeytrace.ids import journey_trace_id  # noqa: E402

S = 1_000_000_000
POLL_SECONDS = 0.02
"""How often the probe asks for its journey. Every 5 ms (as until the third session) cost the
server a third of a core in lookups of a not-yet-existing ID, load a real viewer never puts on
it; 20 ms adds at most 20 ms (10 on average) to a measured lag."""


def leg_request(platform: str, interaction_id: str, start: int, attributes: dict[str, str]) -> dict:
    trace_id = os.urandom(16).hex()  # each leg is its own trace, as separate platforms send them
    spans = [
        {
            "traceId": trace_id,
            "spanId": f"{i + 1:016x}",
            "name": f"{platform} {i}",
            "startTimeUnixNano": str(start + i * S),
            "endTimeUnixNano": str(start + (i + 30) * S),
            "attributes": [
                {"key": k, "value": {"stringValue": v}}
                for k, v in {"cx.platform.name": platform, "cx.platform.interaction.id": interaction_id,
                             **attributes}.items()  # fmt: skip
            ],
        }
        for i in range(3)
    ]
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": platform}}]},
                               "scopeSpans": [{"spans": spans}]}]}  # fmt: skip


def probe_once(client: httpx.Client, otlp_url: str, query_url: str, n: int) -> float:
    """Send one three-leg journey, latest leg first; return seconds from the last acknowledgement
    until the journey reads whole under its final ID."""
    t0 = time.time_ns() - 300 * S
    first = f"probe-{n}-{time.time_ns()}-twilio"
    legs = [
        ("amazon_connect", f"{first}-connect", t0 + 60 * S, {"sip.call_id": f"{first}-sip"}),
        ("vapi", f"{first}-vapi", t0 + 5 * S, {"cx.peer.platform.name": "twilio", "cx.peer.interaction.id": first,
                                               "sip.call_id": f"{first}-sip"}),  # fmt: skip
        ("twilio", first, t0, {}),
    ]
    for platform, interaction, start, attributes in legs:
        response = client.post(otlp_url, json=leg_request(platform, interaction, start, attributes))
        response.raise_for_status()
    acked = time.perf_counter()
    final = journey_trace_id(f"twilio:{first}")
    while True:
        answer = client.get(f"{query_url}/api/journeys/{final}")
        if answer.status_code == 200 and answer.json().get("interaction_count") == 3:
            return time.perf_counter() - acked
        if time.perf_counter() - acked > 30:
            raise SystemExit(f"journey {final} not readable after 30 s")
        time.sleep(POLL_SECONDS)


def summary(lags: list[float]) -> dict[str, object]:
    if not lags:
        return {"probes": 0}
    lags = sorted(lags)
    return {
        "probes": len(lags),
        "lag_p50_s": round(statistics.median(lags), 3),
        "lag_p99_s": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 3),
        "lag_max_s": round(lags[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=1000, help="at most this many probes under load")
    parser.add_argument("--idle-probes", type=int, default=30, help="probes after the background load ends")
    parser.add_argument("--background-spans", type=int, default=3_000_000)
    parser.add_argument("--background-rate", type=float, default=20_000, help="spans/s; 0 = as fast as possible")
    parser.add_argument("--analysis", choices=("true", "false"), default="true", help="the server's analysis worker")
    args = parser.parse_args()
    data_dir, ports, server = start_server("jt-corr-", extra=("--analysis", args.analysis))
    query_url = f"http://127.0.0.1:{ports['query-port']}"
    otlp_url = f"http://127.0.0.1:{ports['otlp-http-port']}/v1/traces"
    background = subprocess.Popen([
        sys.executable, str(Path(__file__).parent / "ingest.py"), "--client", "--port", str(ports["otlp-grpc-port"]),
        "--spans", str(args.background_spans), "--out", str(data_dir / "background.json"),
        "--rate", str(args.background_rate),
    ])  # fmt: skip
    loaded: list[float] = []
    idle: list[float] = []
    try:
        with httpx.Client(timeout=30) as client:
            n = 0
            # A probe counts as loaded only if the background ran from its first leg to its read.
            while len(loaded) < args.probes and background.poll() is None:
                lag = probe_once(client, otlp_url, query_url, n)
                if background.poll() is None:
                    loaded.append(lag)
                n += 1
                time.sleep(0.05)
            background.wait()
            time.sleep(2)  # let the writer drain what the background sent last
            for _ in range(args.idle_probes):
                idle.append(probe_once(client, otlp_url, query_url, n))
                n += 1
                time.sleep(0.05)
    finally:
        background.terminate()
        background.wait()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=300)
        shutil.rmtree(data_dir, ignore_errors=True)  # millions of spans: ~0.7 GB a run
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "background_spans_per_second": args.background_rate or "max",
        "analysis": args.analysis,
        "under_load": summary(loaded),
        "idle": summary(idle),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
