"""What reading journeys costs in-process, by how many are read at once, and which query spends it.

Opens bench/query.py's file (read-only; build it first with that bench) and times
``reads.journeys`` for 1, 2, 5 and 20 journeys at a time (a trace by ID, a search page of a
few, a full page), and the journey-row query (``_journey_rows``) and the spans query
(``_span_rows``) inside it. No server, no load: a change's cost per read, before the load
benches say what it does under ingest.

    python bench/journey_reads.py                  # the 10 M-span file
    python bench/journey_reads.py --data bench/.data/query-1000000
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from query import sample_ids  # noqa: E402

from journeytrace.storage import reads, schema  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / ".data" / "query-10000000")
    parser.add_argument("--reads", type=int, default=40, help="reads per batch size (each twice: the first pass warms)")
    args = parser.parse_args()
    db = args.data / "journeytrace.duckdb"
    sizes = (1, 2, 5, 20)
    ids = sample_ids(db, args.reads * max(sizes))
    with duckdb.connect(str(db), read_only=True) as con:
        version = schema.current_version(con)
    if version < schema.SCHEMA_VERSION:  # read a migrated copy: the cached file never changes
        copy = Path(tempfile.mkdtemp(prefix="jt-bench-reads-")) / db.name
        shutil.copy(db, copy)
        with duckdb.connect(str(copy)) as con:
            schema.migrate(con)
        db = copy
    con = duckdb.connect(str(db), read_only=True, config={"threads": 1})  # as the server runs it
    cursor = con.cursor()
    spent: collections.defaultdict[str, list[float]] = collections.defaultdict(list)

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name].append(time.perf_counter() - started)
        return wrapper

    reads._journey_rows = timed("journey rows", reads._journey_rows)  # type: ignore[method-assign]
    reads._span_rows = timed("spans", reads._span_rows)  # type: ignore[method-assign]
    results: dict[str, dict[str, float]] = {}
    for size in sizes:
        batches = [ids[k:k + size] for k in range(0, args.reads * size, size)]
        for _pass in ("warm-up", "timed"):  # the second pass's times are kept
            spent.clear()
            for batch in batches:
                cursor.execute("BEGIN TRANSACTION")
                started = time.perf_counter()
                found = reads.journeys(cursor, "default", batch, quiet_before=0)
                spent["journeys"].append(time.perf_counter() - started)
                cursor.execute("ROLLBACK")
                assert all(found), "every sampled ID names a journey"
        results[f"{size} at once"] = {k: round(statistics.median(v) * 1000, 2) for k, v in spent.items()}
        print(f"{size:3d} at once: " + ", ".join(f"{k} {v} ms" for k, v in results[f"{size} at once"].items()), file=sys.stderr)
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "data": str(args.data), "median_ms": results}, indent=2))
    con.close()
    if db.parent != args.data:
        shutil.rmtree(db.parent)


if __name__ == "__main__":
    main()
