"""SpanStore: write-ahead log, one DuckDB writer, a pool of readers.

The path of a batch (datasette's one-writer shape, with a WAL in front):

1. The intake (``storage/intake.py``) admits the batch, appends it to the WAL and fsyncs; the
   receiver may then acknowledge. The store runs its own intake (``consume()``), or the
   server's receiver process runs it and hands each record over (``apply_record()``).
2. The DuckDB writer thread applies every WAL record waiting for it (up to
   ``max_commit_spans``) in one transaction that also records the WAL position, so replay at
   start-up applies each record exactly once. It never sits idle while records wait: under
   load each commit takes what arrived during the previous one (group commit), so commits
   grow with the load; when idle, a commit starts at most once every ``commit_interval``, so
   records that arrive within one join the same commit.

Readers see a batch once step 2 commits it: within ``commit_interval`` plus one commit.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from journeytrace import priority
from journeytrace.config import memory_bytes
from journeytrace.correlator.config import CorrelatorConfig
from journeytrace.correlator.state import correlate
from journeytrace.errors import Overloaded, StorageUnavailable
from journeytrace.spans import SpanBatch
from journeytrace.storage import schema
from journeytrace.storage.analysis import AnalysisConfig, AnalysisWorker
from journeytrace.storage.compaction import BRIEF_TASKS, WHOLE_TASKS, compact, defer_vacuum
from journeytrace.storage.intake import ARROW_SCHEMA, WalIntake
from journeytrace.storage.transactions import begin, out_of_memory, roll_back
from journeytrace.storage.wal import START, Position, WriteAheadLog, wal_directory

log = logging.getLogger(__name__)
T = TypeVar("T")

_INSERT_SPANS = f"INSERT INTO spans ({', '.join(schema.SPAN_COLUMNS)}) SELECT * FROM labelled"


def _replace_older_versions(cursor: duckdb.DuckDBPyConnection, labelled: pa.Table) -> pa.Table:
    """Upsert for versioned spans (platform records): per (tenant, trace, span) keep the newest.

    Deletes stored spans an incoming newer-or-equal version replaces, and returns ``labelled``
    without the incoming spans that are older than what is stored or than another copy in the
    same commit. Runs only for commits holding versioned spans (webhook rates), as it
    joins against the whole ``spans`` table.
    """
    cursor.execute(
        """
        CREATE OR REPLACE TEMP TABLE versioned AS
        SELECT * FROM labelled WHERE record_version IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY tenant, trace_id, span_id ORDER BY record_version DESC) = 1
        """
    )
    cursor.execute(
        """
        CREATE OR REPLACE TEMP TABLE versioned AS
        SELECT v.* FROM versioned v ANTI JOIN spans s
          ON s.tenant = v.tenant AND s.trace_id = v.trace_id AND s.span_id = v.span_id
         AND s.record_version > v.record_version
        """
    )
    cursor.execute(
        """
        DELETE FROM spans USING versioned v
        WHERE spans.tenant = v.tenant AND spans.trace_id = v.trace_id AND spans.span_id = v.span_id
        """
    )
    return cursor.sql(
        "SELECT * FROM labelled WHERE record_version IS NULL UNION ALL SELECT * FROM versioned"
    ).to_arrow_table().cast(labelled.schema)


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreConfig:
    path: Path
    """The DuckDB file; the WAL lives in a ``wal/`` folder beside it."""
    correlator: CorrelatorConfig
    max_queued_spans: int = 300_000
    max_commit_spans: int = 250_000
    commit_interval: float = 0.1
    memory_limit: str = "384MB"
    """DuckDB's buffer pool; its default (80% of RAM) would let the server grow far past 1 GiB."""
    checkpoint_threshold: str = "64MB"
    """How much DuckDB WAL accumulates before DuckDB checkpoints, inside the commit that passes it
    (our own WAL already makes acknowledged spans durable). A checkpoint costs in proportion to
    what it writes, and every span acknowledged meanwhile waits for it: under 20 k spans/s, at
    256 MB one commit in ~14 s took 0.5-0.9 s, at 64 MB one in ~3.5 s takes 0.4-0.6 s, and the
    correlation lag's max fell with it (BENCHMARKS.md, twelfth session). Smaller still makes more
    row groups, one per table per checkpoint until a compaction merges them. DuckDB's default
    (16 MB) was slow while checkpoints also vacuumed (``storage/compaction.py``)."""
    duckdb_threads: int = 1
    """DuckDB's worker threads (its ``threads`` setting; its default is one per core). With two,
    a commit's parallel tasks wait for the one worker whenever a read or the analysis worker
    holds it, and under 50 k spans/s the writer spent ~15 % of its time waiting so: commit p99
    1.4-1.9 s against 0.74-0.81 s with one, the correlation lag's p99 2.4-3.4 s against 1.2-1.7 s
    (BENCHMARKS.md, thirteenth session). Reads run concurrently all the same, each on its own
    reader thread, and were no slower: idle, or under 50 k spans/s of ingest."""
    compact_after_idle: float = 5.0
    """Seconds without anything to commit after which the writer vacuums DuckDB's row groups,
    which checkpoints inside a commit do not (``storage/compaction.py``)."""
    compact_at_least_every: float = 600.0
    """Under load that never leaves the writer ``compact_after_idle`` without work, it compacts
    briefly (``compaction.BRIEF_TASKS``) this often instead."""
    read_threads: int = 4
    writer_nice: int = 0
    """How much lower the writer thread's CPU priority is than the readers' (``Config.writer_nice``)."""
    analysis: AnalysisConfig | None = None
    """Insights, facts and summaries of changed journeys (``storage/analysis.py``); None: off."""


_STOP = object()
_SMALLEST_PART = 500
"""Spans below which a commit that ran out of memory is retried as it is rather than halved."""


def _advise_on_pool(path: Path, memory_limit: str) -> None:
    """Say so when the file has outgrown the buffer pool. DuckDB then evicts blocks for nearly
    every commit and read, reads them back from the file, and after each eviction hands its
    freed memory back to the kernel: under 50 k spans/s on a 10 M-span (1.3 GB) file, ~4,900
    ``madvise`` and ~1,100 block reads a second with 384MB, against ~630 and none with 2GB,
    and reads by ID p99 38-115 ms against 27-73 ms (BENCHMARKS.md, sixteenth session)."""
    size = path.stat().st_size if path.exists() else 0
    if size > memory_bytes(memory_limit):
        log.warning(
            "%s is %d MB, more than memory-limit (%s): reads and correlation will keep evicting "
            "and re-reading it; a memory-limit above the file's size keeps them fast (docs/performance.md)",
            path, size // 10**6, memory_limit,
        )


def smoothed_load(load: float, began: float, ended: float, previous_end: float) -> float:
    """The writer's load after a commit that ran from ``began`` to ``ended``, the one before it
    having ended at ``previous_end``: the share of the time since then spent committing, averaged
    with the load before, so the last few commits count and one slow commit alone does not
    make ingest heavy."""
    share = (ended - began) / max(ended - previous_end, 1e-9)
    return (load + min(share, 1.0)) / 2


def _meta(cursor: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = cursor.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
    return str(rows[0][0]) if rows else None


class SpanStore:
    """Owns the data directory: WAL, DuckDB file, writer threads and reader pool."""

    def __init__(self, config: StoreConfig, *, own_intake: bool = True) -> None:
        """``own_intake``: spans come in through ``consume()``. Without it another process
        writes the WAL and hands each record over with ``apply_record()``."""
        self.config = config
        self._db: duckdb.DuckDBPyConnection | None = None
        self._wal = WriteAheadLog(wal_directory(config.path))
        self._intake = (
            WalIntake(
                self._wal, max_queued_spans=config.max_queued_spans, max_record_spans=config.max_commit_spans,
                on_durable=lambda table, _start, end: self._queue_record(table, end), on_refusal=self.note_refusal,
            )  # fmt: skip
            if own_intake
            else None
        )
        self.on_applied: Callable[[int], None] = self._intake.release if self._intake else lambda _rows: None
        """Called on the writer thread with the number of spans each commit applied."""
        self.replayed_to = START
        """The WAL position start-up replay reached: a new intake's segments must come after it."""
        self._apply_queue: queue.Queue[Any] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._unapplied = 0  # spans handed to the writer and not yet committed
        self._unapplied_lock = threading.Lock()
        self.analysis: AnalysisWorker | None = None
        self._last_commit = 0.0  # time.monotonic() of the writer's last commit
        self._writer_load = 0.0  # share of its time the writer spends committing, smoothed over commits
        self._last_refusal = -1e9  # time.monotonic() of the last batch turned away as Overloaded

    # lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> SpanStore:
        await asyncio.to_thread(self._open)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.close)

    @property
    def is_open(self) -> bool:
        return self._db is not None

    def _open(self) -> None:
        self.config.path.parent.mkdir(parents=True, exist_ok=True)
        db = duckdb.connect(
            str(self.config.path),
            config={
                "memory_limit": self.config.memory_limit,
                "checkpoint_threshold": self.config.checkpoint_threshold,
                "threads": self.config.duckdb_threads,
            },
        )
        defer_vacuum(db)
        _advise_on_pool(self.config.path, self.config.memory_limit)
        # Setting up on a cursor closed when done: a query left open on a long-lived connection
        # (a fetchone that did not read its result to the end) keeps its transaction open, and
        # DuckDB skips automatic checkpoints while another transaction is open. A server
        # restarted on its files once never checkpointed again so, its DuckDB WAL and memory
        # growing with everything it ingested (2.8 GB of WAL within a minute of 50 k spans/s;
        # BENCHMARKS.md, sixteenth session).
        with db.cursor() as setup:
            found = schema.migrate(setup)
            if found and found < schema.SCHEMA_VERSION:
                log.info("migrated %s from schema version %d to %d", self.config.path, found, schema.SCHEMA_VERSION)
            self.replayed_to = self._replay(setup)
        self._db = db
        if self.config.analysis is not None:
            self.analysis = AnalysisWorker(
                db, self.config.analysis, ingest_busy=self._ingest_busy, ingest_heavy=self._ingest_heavy
            )
            self.analysis.start()
            self.analysis.notify()  # journeys committed before a restart may be unanalysed
        self._readers = ThreadPoolExecutor(self.config.read_threads, thread_name_prefix="duckdb-read")
        self._writer = threading.Thread(target=self._apply_loop, args=(db.cursor(),), name="duckdb-write")
        self._writer.start()
        if self._intake is not None:
            self._intake.start(self.replayed_to)

    def _replay(self, cursor: duckdb.DuckDBPyConnection) -> Position:
        """Apply WAL records that were acknowledged but not yet in DuckDB when the process died.

        Returns the applied position, which new WAL segments must come after.
        """
        applied = _meta(cursor, "wal_applied")
        after = Position.parse(applied) if applied else START
        replayed = 0
        for position, table in self._wal.replay(after):
            self._commit_in_parts(cursor, [(table, position)])
            replayed += table.num_rows
            after = position
        if replayed:
            log.info("replayed %d acknowledged spans from the write-ahead log", replayed)
        self._wal.remove_all()
        return after

    def close(self) -> None:
        """Commit everything already accepted, then close. Safe to call twice or before open.

        Without an own intake, the process writing the WAL must have stopped, and every record
        it wrote been handed over, before this is called."""
        if self._intake is not None:
            self._intake.stop()  # every record it acknowledged is now queued for the writer
        if self._writer is not None:
            self._apply_queue.put(_STOP)
            self._writer.join()
            self._writer = None
            self._wal.remove_all()  # the writer applied every record before it stopped
        if self.analysis is not None:
            self.analysis.stop()  # what it had not reached yet, it resumes after a restart
            self.analysis = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        if self._db is not None:
            compact(self._db, BRIEF_TASKS)  # the rest at the next pause: a shutdown should be quick
            self._db.close()
            self._db = None

    @property
    def unapplied(self) -> int:
        """Spans handed to the writer and not yet committed."""
        return self._unapplied

    def _ingest_busy(self) -> bool:
        """Whether spans are being written now: some wait to be committed (a commit of 250,000
        spans takes seconds), or a commit ended within the last second."""
        return self._unapplied > 0 or time.monotonic() - self._last_commit < 1.0

    def _ingest_saturated(self) -> bool:
        """Whether the writer cannot keep up: a full commit's worth of spans waits, or a sender
        was told to retry within the last second. Every CPU cycle then costs ingest."""
        return self._unapplied >= self.config.max_commit_spans or time.monotonic() - self._last_refusal < 1.0

    def _ingest_heavy(self) -> bool:
        """Whether ingest needs the writer most of the time: saturated, or committing for more
        than half of the time lately. Then a span waits for the commit under way and its own,
        so every cycle analysis takes lengthens both (BENCHMARKS.md, correlation lag,
        thirteenth session)."""
        return self._ingest_saturated() or (self._ingest_busy() and self._writer_load > 0.5)

    # writing -------------------------------------------------------------------------------

    def note_refusal(self) -> None:
        """A sender was just told to retry later (the intake was full): ingest is saturated."""
        self._last_refusal = time.monotonic()

    def check_capacity(self) -> None:
        """Raise ``Overloaded`` if the own intake is full; cheap, so receivers call it before decoding."""
        if self._intake is None:
            raise StorageUnavailable("this store takes spans from another process's intake")
        self._intake.check_capacity()

    async def consume(self, batch: SpanBatch) -> None:
        """Store ``batch`` through the own intake; return once it is durable (fsynced in the WAL).

        Raises ``Overloaded`` when too many spans wait to be committed, ``StorageUnavailable``
        when the store is closed or the log cannot be written.
        """
        if self._intake is None:
            raise StorageUnavailable("this store takes spans from another process's intake")
        await self._intake.consume(batch)

    def apply_record(self, start: Position, end: Position) -> int:
        """Queue for commit the WAL record another process appended between ``start`` and
        ``end``; returns its span count. Records must be handed over in the order written."""
        table = self._wal.read(start, end)
        self._queue_record(table, end)
        return table.num_rows

    def _queue_record(self, table: pa.Table, end: Position) -> None:
        with self._unapplied_lock:
            self._unapplied += table.num_rows
        self._apply_queue.put((table, end))

    def _applied(self, rows: int) -> None:
        with self._unapplied_lock:
            self._unapplied -= rows
        self.on_applied(rows)

    def _apply_loop(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Apply WAL records to DuckDB in large transactions; retry until they land."""
        priority.lower(self.config.writer_nice)  # DuckDB runs the writer's statements on this thread (duckdb_threads=1)
        stopping = False
        last_commit = last_began = last_compaction = time.monotonic()
        owed = False  # a commit since the last compaction
        while not stopping:
            try:
                first = self._apply_queue.get(timeout=self.config.compact_after_idle if owed else None)
            except queue.Empty:
                owed = not self._compact(cursor, WHOLE_TASKS)
                last_compaction = time.monotonic()
                continue
            if first is _STOP:
                break
            items = [first]
            rows = first[0].num_rows
            # At most one commit starts per interval: records that arrive meanwhile join it. Past
            # the deadline (a busy writer, whose commits take longer), this only drains what is
            # already queued. Counted from the last commit's end, every commit waited the
            # interval; under 50 k spans/s the lag's p99 fell from 0.81-1.21 to 0.54-0.73 s
            # (BENCHMARKS.md, fourteenth session).
            deadline = last_began + self.config.commit_interval
            while rows < self.config.max_commit_spans:
                try:
                    item = self._apply_queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                items.append(item)
                rows += item[0].num_rows
            position = items[-1][1]
            delay = 0.1
            began = last_began = time.monotonic()
            while True:
                try:
                    self._commit_in_parts(cursor, items)
                    break
                except Exception:  # acknowledged data: keep it (in the WAL and here) and retry
                    left = sum(t.num_rows for t, _ in items)
                    log.exception("commit of %d spans failed; retrying in %.1fs", left, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
            ended = time.monotonic()
            self._writer_load = smoothed_load(self._writer_load, began, ended, last_commit)
            last_commit = self._last_commit = ended
            if self.analysis is not None:
                self.analysis.notify()
            self._applied(rows)
            self._wal.truncate(position)
            owed = True
            if last_commit - last_compaction >= self.config.compact_at_least_every:
                self._compact(cursor, BRIEF_TASKS)  # the rest when it pauses: still owed
                last_compaction = time.monotonic()
        cursor.close()

    def _compact(self, cursor: duckdb.DuckDBPyConnection, tasks: int) -> bool:
        """Vacuum DuckDB's row groups now; whether it worked (if not, the next pause tries again)."""
        started = time.perf_counter()
        try:
            compact(cursor, tasks)
        except duckdb.Error as error:
            log.warning("compacting the database failed (%s); trying again at the next pause", error)
            return False
        log.debug("compacted the database in %.3f s", time.perf_counter() - started)
        return True

    def _commit_in_parts(
        self, cursor: duckdb.DuckDBPyConnection, items: list[tuple[pa.Table, Position | None]], count: int = 0
    ) -> None:
        """Commit the first ``count`` (0: all) WAL records ``(spans, position)`` of ``items``,
        removing each from ``items`` once it has landed, so a retry after a failure repeats none.

        A group DuckDB has no memory for is halved: a commit's working memory grows with what it
        correlates (17,000 one-span journeys needed more than a 48 MB pool), and retrying the
        same group would fail forever. Halves split at record boundaries, so each records its own
        WAL position; a record too big alone is split by rows, its first part recording no
        position (``None``): a crash between the parts replays the whole record, and reads keep
        one copy of a span stored twice.
        """
        count = count or len(items)
        group = items[:count]
        try:
            self._commit(cursor, pa.concat_tables([t for t, _ in group]), group[-1][1])
            del items[:count]
            return
        except duckdb.Error as error:
            rows = sum(t.num_rows for t, _ in group)
            if not out_of_memory(error) or rows < 2 * _SMALLEST_PART:
                raise
            log.warning("%d spans do not fit DuckDB's memory-limit in one commit; committing them in two", rows)
        if count == 1:
            table, position = items[0]
            half = table.num_rows // 2
            items[:1] = [(table.slice(0, half), None), (table.slice(half), position)]
            count = 2
        first = count // 2
        self._commit_in_parts(cursor, items, first)
        self._commit_in_parts(cursor, items, count - first)

    def _commit(self, cursor: duckdb.DuckDBPyConnection, incoming: pa.Table, position: Position | None) -> None:
        """Correlate and insert one group of WAL records, and record the WAL position (unless
        None), atomically."""
        # One chunk per request (500 rows) makes DuckDB's Arrow scan, insert and checkpoint
        # about twice as slow as one contiguous table (bench/writer.py); the copy is cheaper.
        incoming = incoming.combine_chunks()
        started = time.perf_counter()
        try:
            begin(cursor)  # inside: a BEGIN out of memory can leave a transaction aborted
            cursor.register("incoming", incoming)
            assignment = correlate(cursor, self.config.correlator)
            correlated = time.perf_counter()
            cursor.unregister("incoming")
            keys = pc.binary_join_element_wise(incoming.column("tenant"), incoming.column("interaction"), "\x1f")
            known = pc.binary_join_element_wise(assignment.column("tenant"), assignment.column("interaction"), "\x1f")
            journeys = pc.take(assignment.column("journey_id"), pc.index_in(keys, value_set=known))
            labelled = incoming.set_column(ARROW_SCHEMA.get_field_index("journey_id"), "journey_id", journeys)
            cursor.register("labelled", labelled)
            if labelled.column("record_version").null_count < labelled.num_rows:
                labelled = _replace_older_versions(cursor, labelled)
                cursor.unregister("labelled")
                cursor.register("labelled", labelled)
            cursor.execute(_INSERT_SPANS)
            cursor.unregister("labelled")
            # An UPDATE of the one row costs a third of INSERT OR REPLACE's primary-key check.
            if position is not None and cursor.execute(
                "UPDATE meta SET value = ? WHERE key = 'wal_applied'", [str(position)]
            ).fetchone() == (0,):
                cursor.execute("INSERT INTO meta VALUES ('wal_applied', ?)", [str(position)])
            inserted = time.perf_counter()
            cursor.execute("COMMIT")
        except BaseException:
            roll_back(cursor)
            raise
        done = time.perf_counter()
        log.debug(
            "committed %d spans in %.3f s (correlate %.3f, insert %.3f, commit %.3f)",
            incoming.num_rows, done - started, correlated - started, inserted - correlated, done - inserted,
        )

    # reading -------------------------------------------------------------------------------

    async def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn(cursor)`` on a reader thread; it sees the last committed state."""
        if self._readers is None:
            raise StorageUnavailable("storage is closed")
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read, fn)

    def _read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        # Any step can find DuckDB's pool full while the writer works, BEGIN included: each
        # answers Overloaded (503 + Retry-After), never a 500.
        try:
            cursor = self._reader_cursor()
            try:
                # One transaction per read: a reader that runs several queries (a journey's record,
                # then its spans) sees one snapshot, never half of a commit that landed in between.
                cursor.execute("BEGIN TRANSACTION")
                return fn(cursor)
            finally:
                self._end_read(cursor)
        except duckdb.Error as error:
            if out_of_memory(error):  # the writer holds the pool; another try may fit
                raise Overloaded("this query needs more memory than the store's memory-limit has free now; retry") from error
            raise

    def _reader_cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            assert self._db is not None
            cursor = self._local.cursor = self._db.cursor()
        return cursor

    def _end_read(self, cursor: duckdb.DuckDBPyConnection) -> None:
        try:
            roll_back(cursor)
        except duckdb.Error:
            # A cursor whose transaction would not end would refuse the next BEGIN: this
            # thread's next read opens a new one.
            self._local.cursor = None
            cursor.close()
            raise
