"""SpanStore: admission limit, write-ahead log, one DuckDB writer, a pool of readers.

The path of a batch (datasette's one-writer shape, with a WAL in front):

1. ``consume()`` admits the batch against ``max_queued_spans`` (else ``Overloaded``), turns it
   into an Arrow table and queues it for the WAL thread.
2. The WAL thread appends everything queued as one record and fsyncs, then resolves the
   callers' futures: the receiver may now acknowledge. A ``kill -9`` from here on loses nothing.
3. The DuckDB writer thread applies every WAL record waiting for it (up to
   ``max_commit_spans``) in one transaction that also records the WAL position, so replay at
   start-up applies each record exactly once. It never sits idle while records wait: under
   load each commit takes what arrived during the previous one (group commit), so commits
   grow with the load; when idle, it waits at most ``commit_interval`` after its last commit
   to gather more.

Readers see a batch once step 3 commits it: within ``commit_interval`` plus one commit.
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

from journeytrace.correlator.config import CorrelatorConfig
from journeytrace.correlator.state import correlate
from journeytrace.errors import Overloaded, StorageUnavailable
from journeytrace.ids import OTEL_PLATFORM
from journeytrace.spans import SpanBatch
from journeytrace.storage import schema
from journeytrace.storage.analysis import AnalysisConfig, AnalysisWorker
from journeytrace.storage.compaction import BRIEF_TASKS, WHOLE_TASKS, compact, defer_vacuum
from journeytrace.storage.transactions import begin, out_of_memory, roll_back
from journeytrace.storage.wal import START, Position, WriteAheadLog

log = logging.getLogger(__name__)
T = TypeVar("T")

_STR = pa.string()
_I64 = pa.int64()
_ARROW_SCHEMA = pa.schema(
    [
        ("tenant", _STR), ("journey_id", _STR), ("trace_id", _STR), ("span_id", _STR),
        ("parent_span_id", _STR), ("trace_state", _STR), ("flags", pa.uint32()), ("name", _STR),
        ("kind", pa.int32()), ("service_name", _STR), ("start_unix_nano", _I64),
        ("end_unix_nano", _I64), ("status_code", pa.int32()), ("status_message", _STR),
        ("span_type", _STR), ("platform", _STR), ("interaction_id", _STR),
        ("customer_phone_hash", _STR), ("queue", _STR), ("agent", _STR), ("attributes", _STR),
        ("resource_attributes", _STR), ("scope_name", _STR), ("scope_version", _STR),
        ("events", _STR), ("links", _STR), ("extra", _STR), ("received_unix_nano", _I64),
        ("interaction", _STR), ("record_version", _I64),
    ]
)  # fmt: skip
assert tuple(_ARROW_SCHEMA.names) == schema.SPAN_COLUMNS

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
    analysis: AnalysisConfig | None = None
    """Insights, facts and summaries of changed journeys (``storage/analysis.py``); None: off."""


@dataclass(slots=True)
class _WriteTask:
    table: pa.Table
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


_STOP = object()
_SMALLEST_PART = 500
"""Spans below which a commit that ran out of memory is retried as it is rather than halved."""


def _drain(source: queue.Queue[Any], limit: int) -> tuple[list[_WriteTask], bool]:
    """Block for one task, then take whatever else is queued (up to ``limit`` spans)."""
    tasks: list[_WriteTask] = []
    rows = 0
    item = source.get()
    while True:
        if item is _STOP:
            return tasks, True
        tasks.append(item)
        rows += item.table.num_rows
        if rows >= limit:
            return tasks, False
        try:
            item = source.get_nowait()
        except queue.Empty:
            return tasks, False


def smoothed_load(load: float, began: float, ended: float, previous_end: float) -> float:
    """The writer's load after a commit that ran from ``began`` to ``ended``, the one before it
    having ended at ``previous_end``: the share of the time since then spent committing, averaged
    with the load before, so the last few commits count and one slow commit alone does not
    make ingest heavy."""
    share = (ended - began) / max(ended - previous_end, 1e-9)
    return (load + min(share, 1.0)) / 2


def _meta(db: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return None if row is None else str(row[0])


def _resolve(task: _WriteTask, error: BaseException | None) -> None:
    def settle() -> None:
        if task.future.done():  # the caller gave up (client went away); the data is still written
            return
        if error is None:
            task.future.set_result(None)
        else:
            task.future.set_exception(error)

    task.loop.call_soon_threadsafe(settle)


class SpanStore:
    """Owns the data directory: WAL, DuckDB file, writer threads and reader pool."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._db: duckdb.DuckDBPyConnection | None = None
        self._wal = WriteAheadLog(config.path.parent / "wal")
        self._wal_queue: queue.Queue[Any] = queue.Queue()
        self._apply_queue: queue.Queue[Any] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._closing = False
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
        found = schema.migrate(db)
        if found and found < schema.SCHEMA_VERSION:
            log.info("migrated %s from schema version %d to %d", self.config.path, found, schema.SCHEMA_VERSION)
        self._wal.open(self._replay(db))
        self._db = db
        if self.config.analysis is not None:
            self.analysis = AnalysisWorker(
                db, self.config.analysis, ingest_busy=self._ingest_busy, ingest_heavy=self._ingest_heavy
            )
            self.analysis.start()
            self.analysis.notify()  # journeys committed before a restart may be unanalysed
        self._readers = ThreadPoolExecutor(self.config.read_threads, thread_name_prefix="duckdb-read")
        self._threads = [
            threading.Thread(target=self._wal_loop, name="journeytrace-wal"),
            threading.Thread(target=self._apply_loop, args=(db.cursor(),), name="duckdb-write"),
        ]
        for thread in self._threads:
            thread.start()

    def _replay(self, db: duckdb.DuckDBPyConnection) -> Position:
        """Apply WAL records that were acknowledged but not yet in DuckDB when the process died.

        Returns the applied position, which new WAL segments must come after.
        """
        applied = _meta(db, "wal_applied")
        after = Position.parse(applied) if applied else START
        replayed = 0
        for position, table in self._wal.replay(after):
            self._commit_in_parts(db, [(table, position)])
            replayed += table.num_rows
            after = position
        if replayed:
            log.info("replayed %d acknowledged spans from the write-ahead log", replayed)
        self._wal.remove_all()
        return after

    def close(self) -> None:
        """Commit everything already accepted, then close. Safe to call twice or before open."""
        self._closing = True
        if self._threads:
            self._wal_queue.put(_STOP)
            for thread in self._threads:
                thread.join()
            self._threads = []
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

    def _ingest_busy(self) -> bool:
        """Whether spans are being written now: some wait to be committed (a commit of 250,000
        spans takes seconds), or a commit ended within the last second."""
        return self._pending > 0 or time.monotonic() - self._last_commit < 1.0

    def _ingest_saturated(self) -> bool:
        """Whether the writer cannot keep up: a full commit's worth of spans waits, or a sender
        was told to retry within the last second. Every CPU cycle then costs ingest."""
        return self._pending >= self.config.max_commit_spans or time.monotonic() - self._last_refusal < 1.0

    def _ingest_heavy(self) -> bool:
        """Whether ingest needs the writer most of the time: saturated, or committing for more
        than half of the time lately. Then a span waits for the commit under way and its own,
        so every cycle analysis takes lengthens both (BENCHMARKS.md, correlation lag,
        thirteenth session)."""
        return self._ingest_saturated() or (self._ingest_busy() and self._writer_load > 0.5)

    def _refuse(self, message: str) -> Overloaded:
        self._last_refusal = time.monotonic()
        return Overloaded(message)

    def check_capacity(self) -> None:
        """Raise ``Overloaded`` if the queue is full; cheap, so receivers call it before decoding."""
        if self._pending >= self.config.max_queued_spans:
            raise self._refuse(
                f"{self._pending} spans are waiting to be written (limit {self.config.max_queued_spans}); retry later"
            )

    async def consume(self, batch: SpanBatch) -> None:
        """Store ``batch``; return once it is durable (fsynced in the WAL).

        Raises ``Overloaded`` when too many spans wait to be committed, ``StorageUnavailable``
        when the store is closed or the log cannot be written.
        """
        count = len(batch)
        if count == 0:
            return
        if self._closing or not self._threads:
            raise StorageUnavailable("storage is closed")
        with self._pending_lock:
            if self._pending and self._pending + count > self.config.max_queued_spans:
                raise self._refuse(
                    f"{self._pending} spans are waiting to be written (limit {self.config.max_queued_spans}); "
                    "retry later"
                )
            self._pending += count
        try:
            table = self._to_arrow(batch)
        except BaseException:
            self._release(count)
            raise
        loop = asyncio.get_running_loop()
        task = _WriteTask(table=table, future=loop.create_future(), loop=loop)
        self._wal_queue.put(task)
        await asyncio.shield(task.future)

    def _to_arrow(self, batch: SpanBatch) -> pa.Table:
        """The batch in the ``spans`` table's column order; journeys are assigned at commit."""
        n = len(batch)
        table = batch.table
        interaction = pc.binary_join_element_wise(
            pc.fill_null(table.column("platform"), OTEL_PLATFORM),
            pc.coalesce(table.column("interaction_id"), table.column("trace_id")),
            ":",
        )
        columns = {
            "tenant": pa.array([batch.tenant] * n, _STR),
            "journey_id": pa.nulls(n, _STR),
            "customer_phone_hash": batch.customer_phone_hash if batch.customer_phone_hash is not None
            else pa.nulls(n, _STR),
            "received_unix_nano": pa.array([time.time_ns()] * n, _I64),
            "interaction": interaction,
            "record_version": batch.record_version if batch.record_version is not None else pa.nulls(n, _I64),
        }  # fmt: skip
        return pa.Table.from_arrays(
            [columns[name] if name in columns else table.column(name) for name in _ARROW_SCHEMA.names],
            schema=_ARROW_SCHEMA,
        )

    def _release(self, count: int) -> None:
        with self._pending_lock:
            self._pending -= count

    def _wal_loop(self) -> None:
        """Append queued batches to the WAL (one fsync per group), acknowledge, pass them on."""
        while True:
            tasks, stopping = _drain(self._wal_queue, limit=self.config.max_commit_spans)
            if tasks:
                table = pa.concat_tables([t.table for t in tasks])
                try:
                    position = self._wal.append(table)
                except Exception as exc:  # disk full, I/O error: refuse, never pretend
                    log.exception("write-ahead log append of %d spans failed", table.num_rows)
                    self._release(table.num_rows)
                    for task in tasks:
                        _resolve(task, StorageUnavailable(f"storage could not write the log: {exc}"))
                else:
                    for task in tasks:
                        _resolve(task, None)
                    self._apply_queue.put((table, position))
            if stopping:
                self._apply_queue.put(_STOP)
                return

    def _apply_loop(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Apply WAL records to DuckDB in large transactions; retry until they land."""
        stopping = False
        last_commit = last_compaction = time.monotonic()
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
            # Past the deadline (a busy writer), this only drains what is already queued.
            deadline = last_commit + self.config.commit_interval
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
            began = time.monotonic()
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
            self._release(rows)
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
            known = pa.array(["\x1f".join(k) for k in assignment], _STR)
            journeys = pc.take(pa.array(list(assignment.values()), _STR), pc.index_in(keys, value_set=known))
            labelled = incoming.set_column(_ARROW_SCHEMA.get_field_index("journey_id"), "journey_id", journeys)
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
