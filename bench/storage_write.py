"""Why storage writes Arrow tables: DuckDB insert throughput by method and batch size.

Compares, for the same decoded CX spans, ``INSERT ... SELECT FROM <arrow table>`` against
``executemany`` with row tuples (the Python client has no appender API), each in its own
transaction, for the ``spans`` table alone (correlation is measured by bench/ingest.py).

    python bench/storage_write.py
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from cxdata import build_request, fresh_copy  # noqa: E402

from journeytrace.spans import decode_body  # noqa: E402
from journeytrace.storage import schema  # noqa: E402
from journeytrace.storage.intake import to_arrow  # noqa: E402
from journeytrace.storage.store import _INSERT_SPANS  # noqa: E402


def spans(count: int) -> pa.Table:
    rng = random.Random(3)
    templates = [build_request(25, rng, 1_790_000_000 * 10**9 + i).SerializeToString() for i in range(8)]
    tables = []
    for n in range(count // 500):
        body = fresh_copy(templates[n % len(templates)], n)
        tables.append(to_arrow(decode_body(body, "default").batch))
    return pa.concat_tables(tables)


def run(table: pa.Table, batch_rows: int, method: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        schema.migrate(con)
        placeholders = ", ".join("?" * len(schema.SPAN_COLUMNS))
        began = time.perf_counter()
        for offset in range(0, table.num_rows, batch_rows):
            part = table.slice(offset, batch_rows)
            con.execute("BEGIN")
            part = part.set_column(1, "journey_id", part.column("trace_id"))
            con.register("labelled", part)
            if method == "arrow":
                con.execute(_INSERT_SPANS)
            else:
                rows = list(zip(*(col.to_pylist() for col in part.columns), strict=True))
                con.executemany(f"INSERT INTO spans VALUES ({placeholders})", rows)
            con.execute("COMMIT")
            con.unregister("labelled")
        elapsed = time.perf_counter() - began
        con.close()
    return table.num_rows / elapsed


def main() -> None:
    table = spans(200_000)
    print(f"{'method':<12}{'rows/commit':>12}{'spans/s':>12}")
    for method, sizes, rows in (("arrow", (500, 2_000, 10_000, 100_000), table), ("executemany", (2_000,), table.slice(0, 10_000))):
        for size in sizes:
            print(f"{method:<12}{size:>12,}{run(rows, size, method):>12,.0f}")


if __name__ == "__main__":
    main()
