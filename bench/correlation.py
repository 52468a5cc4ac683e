"""Correlation lag: how soon after its last span is acknowledged a journey is readable under its
final ID, while the server ingests a steady background load.

A probe thread sends multi-platform journeys whose legs arrive in reverse order (the latest leg
first, the earliest last — so the journey ID changes when the last leg lands and stored spans
must be rewritten). For each, it measures the time from the acknowledgement of the last leg to
``GET /api/journeys/{final id}`` showing all three legs. Meanwhile a client process sends CX
journeys over gRPC (bench/cxdata.py) as fast as the server takes them.

    python bench/correlation.py --probes 200
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest import start_server  # noqa: E402

from journeytrace.ids import journey_trace_id  # noqa: E402

S = 1_000_000_000


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


def probe(otlp_url: str, query_url: str, count: int, lags: list[float], stop: threading.Event) -> None:
    with httpx.Client(timeout=30) as client:
        for n in range(count):
            if stop.is_set():
                return
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
                    break
                if time.perf_counter() - acked > 30:
                    raise SystemExit(f"journey {final} not readable after 30 s")
                time.sleep(0.005)
            lags.append(time.perf_counter() - acked)
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--background-spans", type=int, default=3_000_000)
    parser.add_argument("--background-rate", type=float, default=20_000, help="spans/s; 0 = as fast as possible")
    args = parser.parse_args()
    data_dir, ports, server = start_server("jt-corr-")
    query_url = f"http://127.0.0.1:{ports['query-port']}"
    background = subprocess.Popen([
        sys.executable, str(Path(__file__).parent / "ingest.py"), "--client", "--port", str(ports["otlp-grpc-port"]),
        "--spans", str(args.background_spans), "--out", str(data_dir / "background.json"),
        "--rate", str(args.background_rate),
    ])  # fmt: skip
    lags: list[float] = []
    stop = threading.Event()
    try:
        probe(f"http://127.0.0.1:{ports['otlp-http-port']}/v1/traces", query_url, args.probes, lags, stop)
    finally:
        background.terminate()
        background.wait()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=300)
    lags.sort()
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "probes": len(lags),
        "background_spans_per_second": args.background_rate or "max",
        "lag_p50_s": round(statistics.median(lags), 3),
        "lag_p99_s": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 3),
        "lag_max_s": round(lags[-1], 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
