"""Compaction (storage/compaction.py): checkpoints inside commits do not vacuum; the writer
vacuums when it pauses, and at close.

A checkpoint leaves a partly filled row group at the end of each table it appended to; DuckDB's
vacuum merges them. Fragments that survive several checkpoints prove the commits did not vacuum;
their merging proves the idle writer (or close) did.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import duckdb
from jt_helpers import new_trace_id, simple_request

from journeytrace.correlator import CorrelatorConfig
from journeytrace.spans import decode_body
from journeytrace.storage.store import SpanStore, StoreConfig

KEY = b"k" * 32
COMMITS = 12
SPANS_PER_COMMIT = 2_000


def _config(path: Path, compact_after_idle: float, compact_at_least_every: float = 3600) -> StoreConfig:
    # A 256 KB DuckDB WAL: every commit of 2,000 spans checkpoints.
    return StoreConfig(
        path=path, correlator=CorrelatorConfig(phone_hash_key=KEY), commit_interval=0.0,
        checkpoint_threshold="256KB", compact_after_idle=compact_after_idle, compact_at_least_every=compact_at_least_every,
    )  # fmt: skip


def _row_groups(db: duckdb.DuckDBPyConnection) -> int:
    (count,) = db.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('spans')").fetchone() or (0,)
    return count


def _stored(db: duckdb.DuckDBPyConnection) -> int:
    (count,) = db.execute("SELECT count(*) FROM spans").fetchone() or (0,)
    return count


async def _write(store: SpanStore, commits: int = COMMITS) -> None:
    """``commits`` separate commits: each batch is written once the one before it is readable."""
    already = await store.read(_stored)
    for n in range(1, commits + 1):
        body = simple_request(new_trace_id(), SPANS_PER_COMMIT).SerializeToString()
        await store.consume(decode_body(body, "default").batch)
        for _ in range(200):
            if await store.read(_stored) == already + n * SPANS_PER_COMMIT:
                break
            await asyncio.sleep(0.02)


def test_commits_leave_fragments_that_close_merges(tmp_path: Path) -> None:
    path = tmp_path / "journeytrace.duckdb"

    async def run() -> int:
        async with SpanStore(_config(path, compact_after_idle=3600)) as store:
            await _write(store)
            return await store.read(_row_groups)

    fragments = asyncio.run(run())
    # 24,000 spans fit one row group (122,880 rows); checkpoints that vacuumed would keep it one.
    assert fragments >= COMMITS // 2, fragments
    with duckdb.connect(str(path), read_only=True) as db:
        assert _row_groups(db) == 1
        assert _stored(db) == COMMITS * SPANS_PER_COMMIT
        (compacted_at,) = db.execute("SELECT value FROM meta WHERE key = 'compacted_at'").fetchone() or ("",)
        assert compacted_at


def test_the_writer_compacts_once_it_has_been_idle(tmp_path: Path) -> None:
    path = tmp_path / "journeytrace.duckdb"

    async def run() -> tuple[int, int]:
        async with SpanStore(_config(path, compact_after_idle=2.0)) as store:
            await _write(store)
            fragmented = await store.read(_row_groups)
            # No reads meanwhile: DuckDB vacuums only while no other transaction is open.
            await asyncio.sleep(4)
            return fragmented, await store.read(_row_groups)

    fragmented, compacted = asyncio.run(run())
    assert fragmented >= COMMITS // 2, fragmented
    assert compacted == 1, "the idle writer did not merge the row groups"


def test_under_load_that_never_pauses_the_writer_compacts_briefly_on_schedule(tmp_path: Path) -> None:
    """``compact_at_least_every`` 0: a brief compaction after every commit keeps fragments from piling up."""

    async def run() -> int:
        async with SpanStore(_config(tmp_path / "journeytrace.duckdb", 3600, compact_at_least_every=0)) as store:
            await _write(store)
            # One more commit and its compaction with no reads meanwhile (see above).
            body = simple_request(new_trace_id(), SPANS_PER_COMMIT).SerializeToString()
            await store.consume(decode_body(body, "default").batch)
            await asyncio.sleep(2)
            return await store.read(_row_groups)

    assert asyncio.run(run()) < COMMITS // 2  # 13 without these compactions


def test_the_store_opens_duckdb_with_its_settings(tmp_path: Path) -> None:
    """Checkpoint size and worker threads are the store's, not DuckDB's defaults (one thread per
    core, 16 MB): both are measured choices (``StoreConfig``)."""

    def settings(cursor: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
        row = cursor.execute(
            "SELECT current_setting('threads'), current_setting('checkpoint_threshold'), current_setting('memory_limit')"
        ).fetchone()
        return tuple(str(v) for v in row or ())

    async def run() -> tuple[str, ...]:
        async with SpanStore(_config(tmp_path / "journeytrace.duckdb", compact_after_idle=3600)) as store:
            return await store.read(settings)

    threads, threshold, memory = asyncio.run(run())
    assert threads == "1"
    assert threshold == "250.0 KiB"  # 256 KB, as DuckDB prints it
    assert memory == "366.2 MiB"  # StoreConfig's default 384 MB


def test_a_reopened_store_keeps_checkpointing(tmp_path: Path) -> None:
    """DuckDB skips its automatic checkpoints while another transaction is open. Opening a file
    whose meta table already held a WAL position once left the read of it open on the store's
    main connection, for good: a restarted server never checkpointed again, and its DuckDB WAL
    and memory grew with everything it ingested (BENCHMARKS.md, sixteenth session)."""
    path = tmp_path / "journeytrace.duckdb"
    duckdb_wal = tmp_path / "journeytrace.duckdb.wal"

    async def run() -> tuple[int, int]:
        async with SpanStore(_config(path, compact_after_idle=3600)) as store:
            await _write(store, 4)
            first = duckdb_wal.stat().st_size if duckdb_wal.exists() else 0
        async with SpanStore(_config(path, compact_after_idle=3600)) as store:  # meta now holds wal_applied
            await _write(store, 4)
            return first, duckdb_wal.stat().st_size if duckdb_wal.exists() else 0

    first, reopened = asyncio.run(run())
    # A commit of 2,000 spans writes ~0.7 MB of DuckDB WAL, past the 256 KB threshold: each checkpoints.
    assert first < 1_500_000, first
    assert reopened < 1_500_000, f"the reopened store let DuckDB's WAL grow to {reopened:,} bytes"
