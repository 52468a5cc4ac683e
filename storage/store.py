"""SpanStore: the one writer thread, the reader pool, and the admission limit in front of them.

Writes follow datasette's shape: callers put ``(table, future)`` on a queue and await the
future; the writer thread takes everything queued (up to ``max_commit_spans``), inserts it as
one Arrow table in one transaction, commits, and only then resolves the futures. So an awaited
``consume()`` means the spans are in DuckDB's write-ahead log and survive ``kill -9``.
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

from journeytrace.errors import Overloaded, StorageUnavailable
from journeytrace.phone import keyed_hash
from journeytrace.spans import SpanBatch
from journeytrace.storage import schema

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
    ]
)  # fmt: skip
assert tuple(_ARROW_SCHEMA.names) == schema.SPAN_COLUMNS

_INSERT_SPANS = f"INSERT INTO spans ({', '.join(schema.SPAN_COLUMNS)}) SELECT * FROM incoming"
_UPSERT_JOURNEYS = """
INSERT INTO journeys
SELECT tenant, journey_id, min(start_unix_nano), max(end_unix_nano),
       list_sort(list_distinct(list(service_name))), max(received_unix_nano)
FROM incoming GROUP BY tenant, journey_id
ON CONFLICT (tenant, journey_id) DO UPDATE SET
    start_unix_nano = least(journeys.start_unix_nano, excluded.start_unix_nano),
    end_unix_nano = greatest(journeys.end_unix_nano, excluded.end_unix_nano),
    services = list_sort(list_distinct(list_concat(journeys.services, excluded.services))),
    updated_unix_nano = excluded.updated_unix_nano
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreConfig:
    path: Path
    max_queued_spans: int = 200_000
    max_commit_spans: int = 100_000
    read_threads: int = 4


@dataclass(slots=True)
class _WriteTask:
    table: pa.Table
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


_STOP = object()


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
    """Owns the DuckDB database: one writer thread, a pool of reader threads, bounded admission."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._db: duckdb.DuckDBPyConnection | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._phone_key = b""
        self.spans_written = 0

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
        db = duckdb.connect(str(self.config.path))
        found = schema.migrate(db)
        if found and found < schema.SCHEMA_VERSION:
            log.info("migrated %s from schema version %d to %d", self.config.path, found, schema.SCHEMA_VERSION)
        row = db.execute("SELECT value FROM meta WHERE key = 'phone_hash_key'").fetchone()
        assert row is not None
        self._phone_key = bytes.fromhex(row[0])
        self._db = db
        self._readers = ThreadPoolExecutor(self.config.read_threads, thread_name_prefix="duckdb-read")
        self._writer = threading.Thread(target=self._write_loop, args=(db.cursor(),), name="duckdb-write")
        self._writer.start()

    def close(self) -> None:
        """Write everything already queued, then close. Safe to call twice or before open."""
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join()
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        if self._db is not None:
            self._db.execute("CHECKPOINT")
            self._db.close()
            self._db = None

    # writing -------------------------------------------------------------------------------

    def check_capacity(self) -> None:
        """Raise ``Overloaded`` if the queue is full; cheap, so receivers call it before decoding."""
        if self._pending >= self.config.max_queued_spans:
            raise Overloaded(
                f"{self._pending} spans are waiting to be written (limit {self.config.max_queued_spans}); retry later"
            )

    def phone_hash(self, number: str) -> str | None:
        """The keyed hash this store indexes customer phone numbers by."""
        return keyed_hash(self._phone_key, number)

    async def consume(self, batch: SpanBatch) -> None:
        """Store ``batch``; return once it is committed. Raises Overloaded or StorageUnavailable."""
        count = len(batch)
        if count == 0:
            return
        if self._writer is None:
            raise StorageUnavailable("storage is closed")
        with self._pending_lock:
            if self._pending and self._pending + count > self.config.max_queued_spans:
                raise Overloaded(
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
        self._queue.put(task)
        await asyncio.shield(task.future)

    def _to_arrow(self, batch: SpanBatch) -> pa.Table:
        n = len(batch)
        phone_hashes = [None if p is None else self.phone_hash(p) for p in batch.customer_phone]
        columns = [
            pa.array([batch.tenant] * n, _STR),
            pa.array(batch.journey_id, _STR), pa.array(batch.trace_id, _STR),
            pa.array(batch.span_id, _STR), pa.array(batch.parent_span_id, _STR),
            pa.array(batch.trace_state, _STR), pa.array(batch.flags, pa.uint32()),
            pa.array(batch.name, _STR), pa.array(batch.kind, pa.int32()),
            pa.array(batch.service_name, _STR), pa.array(batch.start_unix_nano, _I64),
            pa.array(batch.end_unix_nano, _I64), pa.array(batch.status_code, pa.int32()),
            pa.array(batch.status_message, _STR), pa.array(batch.span_type, _STR),
            pa.array(batch.platform, _STR), pa.array(batch.interaction_id, _STR),
            pa.array(phone_hashes, _STR), pa.array(batch.queue, _STR), pa.array(batch.agent, _STR),
            pa.array(batch.attributes, _STR), pa.array(batch.resource_attributes, _STR),
            pa.array(batch.scope_name, _STR), pa.array(batch.scope_version, _STR),
            pa.array(batch.events, _STR), pa.array(batch.links, _STR), pa.array(batch.extra, _STR),
            pa.array([time.time_ns()] * n, _I64),
        ]  # fmt: skip
        return pa.Table.from_arrays(columns, schema=_ARROW_SCHEMA)

    def _release(self, count: int) -> None:
        with self._pending_lock:
            self._pending -= count

    def _write_loop(self, cursor: duckdb.DuckDBPyConnection) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            tasks: list[_WriteTask] = [first]
            rows = first.table.num_rows
            while rows < self.config.max_commit_spans:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                tasks.append(item)
                rows += item.table.num_rows
            error: BaseException | None = None
            try:
                self._commit(cursor, pa.concat_tables([t.table for t in tasks]))
                self.spans_written += rows
            except Exception as exc:  # a failed commit must never kill the writer
                log.exception("commit of %d spans failed", rows)
                try:
                    cursor.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                error = StorageUnavailable(f"storage could not commit: {exc}")
            self._release(rows)
            for task in tasks:
                _resolve(task, error)
        cursor.close()

    @staticmethod
    def _commit(cursor: duckdb.DuckDBPyConnection, incoming: pa.Table) -> None:
        cursor.register("incoming", incoming)
        try:
            cursor.execute("BEGIN")
            cursor.execute(_INSERT_SPANS)
            cursor.execute(_UPSERT_JOURNEYS)
            cursor.execute("COMMIT")
        finally:
            cursor.unregister("incoming")

    # reading -------------------------------------------------------------------------------

    async def read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn(cursor)`` on a reader thread; it sees the last committed state."""
        if self._readers is None:
            raise StorageUnavailable("storage is closed")
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read, fn)

    def _read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            assert self._db is not None
            cursor = self._local.cursor = self._db.cursor()
        return fn(cursor)
