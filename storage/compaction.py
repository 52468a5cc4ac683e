"""Compaction: DuckDB's row-group vacuum, moved off the commit path.

DuckDB checkpoints inside the COMMIT that takes its own WAL past ``checkpoint_threshold``, and
every checkpoint also *vacuums*: it merges the partly filled row groups that earlier checkpoints
left at the end of each table, rewriting and compressing them again. Commits wait for all of it.
Under a steady 20 k spans/s that made one checkpoint in ~14 s take 0.8-1.2 s (at 900 k stored
spans, 90 k new: 818 ms with vacuuming, 161 ms without), and every span acknowledged meanwhile
became readable that much later: the correlation lag's p99 was 1.37-1.46 s, and 1.00 s without
vacuuming (BENCHMARKS.md, "Correlation lag", eleventh session).

So the store opens DuckDB with vacuuming off (``max_vacuum_tasks = 0``) and the writer vacuums
when it has nothing to commit; under load that never pauses, and at close, it does a brief
compaction (``BRIEF_TASKS``) every ``compact_at_least_every``, since a whole one holds commits
off in proportion to the fragments: 2.9 s for those of 3 M spans, 1.7 s with 8 tasks. Without
vacuuming each checkpoint leaves one partial row group per table it appended to (3 M spans at
256 MB: 32 row groups in ``spans`` against 25; 1.5 M at 64 MB: 19 in every table), which costs
reads little; deleted rows of recent row groups are dropped by the checkpoint that writes them
either way. DuckDB vacuums only while no other transaction is open (a reader's, the analysis
worker's): a compaction that meets one merges nothing, and the fragments wait for the next.
"""

from __future__ import annotations

import duckdb

WHOLE_TASKS = 100
"""DuckDB's own default for ``max_vacuum_tasks``: as much merging as one checkpoint will do (the
idle writer's compaction)."""
BRIEF_TASKS = 8
"""A compaction that holds commits off for a second or two, not for as long as the fragments take."""


def defer_vacuum(db: duckdb.DuckDBPyConnection) -> None:
    """Make checkpoints (automatic ones inside a COMMIT included) skip vacuuming. A global
    setting: it holds for every cursor of ``db``."""
    db.execute("SET GLOBAL max_vacuum_tasks = 0")


def compact(cursor: duckdb.DuckDBPyConnection, tasks: int) -> None:
    """Checkpoint with up to ``tasks`` vacuum tasks, then turn vacuuming off again.

    DuckDB vacuums only in a checkpoint that has something to write, and a checkpoint with an
    empty WAL writes nothing, so the time of the compaction is recorded first (``meta``).
    The checkpoint holds other commits off while it runs (seconds for millions of fragmented
    rows); callers choose a moment when none are waiting. FORCE: a plain CHECKPOINT now and
    then fails while another transaction is open ("other write transactions are active"), where
    FORCE waits for the checkpoint lock (DuckDB >= 1.4; before, it aborted the others).
    """
    cursor.execute(f"SET GLOBAL max_vacuum_tasks = {int(tasks)}")
    try:
        cursor.execute("INSERT OR REPLACE INTO meta VALUES ('compacted_at', CAST(now() AS VARCHAR))")
        cursor.execute("FORCE CHECKPOINT")
    finally:
        defer_vacuum(cursor)
