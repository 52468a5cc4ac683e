"""Decoder throughput: the C fast path against the pure-Python reference, on one CX request.

    python bench/decode.py
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).parent))
from cxdata import build_request  # noqa: E402

from journeytrace import spans  # noqa: E402


def rate(fn, body: bytes, rounds: int) -> float:
    began = time.perf_counter()
    for _ in range(rounds):
        fn(body)
    return rounds * 500 / (time.perf_counter() - began)


def main() -> None:
    body = build_request(25, random.Random(1), 1_790_000_000 * 10**9).SerializeToString()
    assert spans._fastdecode is not None, "the C extension is not built"
    fast = rate(lambda b: spans.decode_body(b, "t"), body, 400)
    reference = rate(lambda b: spans.decode_request(ExportTraceServiceRequest.FromString(b), "t"), body, 40)
    print(f"C decoder (Arrow table):  {fast:>10,.0f} spans/s")
    print(f"Python reference decoder: {reference:>10,.0f} spans/s")


if __name__ == "__main__":
    main()
