"""Writer benchmark: the storage commit path alone (correlate + insert + commit), no network.

Decodes realistic CX spans (bench/cxdata.py, fresh IDs per copy) once, then commits them to a
fresh DuckDB file in groups the size the server's writer uses under load, timing every SQL
statement. Shows where the writer spends its time, without the receivers competing for CPU.

    python bench/writer.py                          # 1,500,000 spans in commits of 125,000
    python bench/writer.py --spans 3000000 --commit 250000 --top 15
    python bench/writer.py --small-commits 50       # then what a 3-span commit costs, per statement
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from cxdata import build_request, fresh_copy  # noqa: E402

from journeytrace.correlator import CorrelatorConfig  # noqa: E402
from journeytrace.correlator.pii import protect_phone_numbers  # noqa: E402
from journeytrace.spans import decode_body  # noqa: E402
from journeytrace.storage.intake import to_arrow  # noqa: E402
from journeytrace.storage.store import SpanStore, StoreConfig  # noqa: E402
from journeytrace.storage.wal import Position  # noqa: E402


class TimedCursor:
    """A cursor that adds each statement's wall time to ``timings`` under its first words."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, timings: dict[str, float]) -> None:
        self._cursor = cursor
        self._timings = timings

    def execute(self, sql: str, *args: object) -> duckdb.DuckDBPyConnection:
        began = time.perf_counter()
        result = self._cursor.execute(sql, *args)
        words = " ".join(sql.split())
        self._timings[words[:90]] += time.perf_counter() - began
        return self

    def fetchall(self) -> list:
        return self._cursor.fetchall()

    def fetchone(self) -> tuple | None:
        return self._cursor.fetchone()

    def __getattr__(self, name: str) -> object:
        return getattr(self._cursor, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_500_000)
    parser.add_argument("--commit", type=int, default=125_000, help="spans per commit")
    parser.add_argument("--top", type=int, default=12, help="statements to list")
    parser.add_argument("--small-commits", type=int, default=0, metavar="N",
                        help="after the load, commit N batches of 3 spans (fresh IDs) and time their statements")
    parser.add_argument("--set", action="append", default=[], metavar="SETTING=VALUE",
                        help="a DuckDB setting to try, e.g. checkpoint_threshold=1GB (repeatable)")
    args = parser.parse_args()

    config = CorrelatorConfig(phone_hash_key=b"k" * 32)
    with tempfile.TemporaryDirectory() as tmp:
        store = SpanStore(StoreConfig(path=Path(tmp) / "jt.duckdb", correlator=config))
        rng = random.Random(3)
        templates = [build_request(25, rng, 1_790_000_000 * 10**9 + i * 10**9).SerializeToString() for i in range(16)]
        tables = []
        for n in range(args.spans // 500):
            batch = decode_body(fresh_copy(templates[n % len(templates)], n), "default").batch
            tables.append(to_arrow(protect_phone_numbers(batch, b"k" * 32, keep_raw=False)))
        spans = pa.concat_tables(tables)  # one chunk per request, as the server has them
        copies = args.spans // 500
        small = [  # the first 3 spans of a fresh request: part of one new journey
            to_arrow(protect_phone_numbers(
                decode_body(fresh_copy(templates[n % len(templates)], copies + n), "default").batch, b"k" * 32,
                keep_raw=False)).slice(0, 3)
            for n in range(args.small_commits)
        ]  # fmt: skip
        print(f"{spans.num_rows} spans decoded", file=sys.stderr)

        store._open()
        timings: dict[str, float] = collections.defaultdict(float)
        for setting in args.set:
            name, _, value = setting.partition("=")
            store._db.execute(f"SET {name} = '{value}'")  # a benchmark flag typed by its operator
        cursor = TimedCursor(store._db.cursor(), timings)
        began = time.perf_counter()
        for offset in range(0, spans.num_rows, args.commit):
            t0 = time.perf_counter()
            store._commit(cursor, spans.slice(offset, args.commit), Position(0, 0))
            print(f"commit at {offset:>9}: {time.perf_counter() - t0:.2f} s", file=sys.stderr)
        store._db.execute("CHECKPOINT")  # deferred work is still work
        elapsed = time.perf_counter() - began
        if args.small_commits:
            bulk = dict(timings)  # the load's statements, reported below
            timings.clear()
            small_commits(store, cursor, timings, small, args.top)
            timings.clear()
            timings.update(bulk)
        store.close()
        size = (Path(tmp) / "jt.duckdb").stat().st_size
    print(f"{spans.num_rows} spans, {args.commit} per commit: {spans.num_rows / elapsed:,.0f} spans/s, "
          f"{size / spans.num_rows:.0f} bytes/span on disk")
    print("µs per span by statement:")
    for sql, seconds in sorted(timings.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {seconds / spans.num_rows * 1e6:6.2f}  {sql}")


def small_commits(
    store: SpanStore, cursor: TimedCursor, timings: dict[str, float], batches: list[pa.Table], top: int
) -> None:
    """Commit small batches (fresh IDs) against the loaded file: the fixed cost of a commit,
    which is what a lightly loaded server's readers wait for. ``timings`` is ``cursor``'s."""
    took = []
    for batch in batches:
        t0 = time.perf_counter()
        store._commit(cursor, batch, Position(0, 0))
        took.append(time.perf_counter() - t0)
    took.sort()
    print(f"{len(batches)} commits of {batches[0].num_rows} spans: p50 {took[len(took) // 2] * 1e3:.1f} ms, "
          f"max {took[-1] * 1e3:.1f} ms")
    print("ms per commit by statement:")
    for sql, seconds in sorted(timings.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {seconds / len(batches) * 1e3:6.2f}  {sql}")


if __name__ == "__main__":
    main()
