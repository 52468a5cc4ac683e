"""Where a commit's correlating time goes, statement by statement, against N stored spans.

Loads ``--preload`` spans (bench/cxdata.py journeys, fresh IDs) into a new store in 100 k-span
commits, then correlates ``--rounds`` batches of ``--commit`` spans, each in a transaction that
is rolled back (so every round meets the same stored data), timing every SQL statement the
correlator runs. Prints each round's ``correlate()`` time and the statements by their time per
round: the lookups that scan whole hash columns grow with ``--preload``, the rest with
``--commit``.

    python bench/correlate_statements.py                    # 3 M stored, 8 batches of 12 k
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from cxdata import build_request, fresh_copy  # noqa: E402

from journeytrace.correlator import CorrelatorConfig  # noqa: E402
from journeytrace.correlator import state  # noqa: E402
from journeytrace.correlator.pii import protect_phone_numbers  # noqa: E402
from journeytrace.spans import decode_body  # noqa: E402
from journeytrace.storage.intake import to_arrow  # noqa: E402
from journeytrace.storage.store import SpanStore, StoreConfig  # noqa: E402
from journeytrace.storage.wal import Position  # noqa: E402

KEY = b"k" * 32


class TimedCursor:
    """A DuckDB cursor that adds each statement's time to a table keyed by its first words."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()

    def execute(self, sql: str, *args: Any) -> Any:
        key = re.sub(r"\s+", " ", sql.strip())[:90]
        started = time.perf_counter()
        result = self._cursor.execute(sql, *args)
        self.seconds[key] += time.perf_counter() - started
        self.calls[key] += 1
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preload", type=int, default=3_000_000)
    parser.add_argument("--commit", type=int, default=12_000)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    config = CorrelatorConfig(phone_hash_key=KEY)
    store = SpanStore(StoreConfig(path=Path(tempfile.mkdtemp(prefix="jt-stmt-")) / "jt.duckdb", correlator=config))
    rng = random.Random(3)
    templates = [build_request(25, rng, 1_790_000_000 * 10**9 + i * 10**9).SerializeToString() for i in range(16)]
    requests = (args.preload + args.commit * args.rounds) // 500 + 2
    spans = pa.concat_tables([
        to_arrow(protect_phone_numbers(decode_body(fresh_copy(templates[k % 16], k), "default").batch, KEY, keep_raw=False))
        for k in range(requests)
    ])  # fmt: skip
    store._open()
    assert store._db is not None
    cursor = store._db.cursor()
    started = time.time()
    for offset in range(0, args.preload, 100_000):
        store._commit(cursor, spans.slice(offset, min(100_000, args.preload - offset)), Position(0, 0))
    store._db.execute("CHECKPOINT")
    print(f"stored {args.preload:,} spans in {time.time() - started:.0f} s", flush=True)
    timed = TimedCursor(cursor)
    offset = args.preload
    correlating = 0.0
    for n in range(args.rounds):
        cursor.execute("BEGIN")
        cursor.register("incoming", spans.slice(offset, args.commit).combine_chunks())
        started = time.perf_counter()
        state.correlate(timed, config)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        correlating += elapsed
        print(f"round {n}: correlate {elapsed:.3f} s", flush=True)
        cursor.execute("ROLLBACK")
        offset += args.commit
    for key, seconds in timed.seconds.most_common(25):
        print(f"{seconds / args.rounds * 1e3:7.1f} ms/round {timed.calls[key] / args.rounds:4.1f}x  {key}")
    statements = sum(timed.seconds.values())
    print(f"all statements: {statements / args.rounds * 1e3:.0f} ms/round")
    # The rest is Python holding the GIL (fetching results included), which every reader waits on.
    print(f"outside statements: {(correlating - statements) / args.rounds * 1e3:.0f} ms/round")
    store.close()


if __name__ == "__main__":
    main()
