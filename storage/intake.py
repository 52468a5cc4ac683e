"""Intake: admission limit and write-ahead log. A batch is acknowledged once it is fsynced.

``consume()`` admits a batch against ``max_queued_spans`` (else ``Overloaded``), turns it into an
Arrow table in the ``spans`` table's column order and queues it for the WAL thread. That thread
appends everything queued as one record, fsyncs, resolves the callers' futures (the receiver
may now acknowledge: a ``kill -9`` from here on loses nothing) and hands the record on
(``on_durable``) to be committed. Spans stay admitted until ``release()`` says they landed.

The intake runs where the receivers run: inside ``SpanStore`` for embedded use, or in the
server's receiver process (``journeytrace.receiving``), which shares only the WAL's files with
the DuckDB writer.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from journeytrace.errors import Overloaded, StorageUnavailable
from journeytrace.ids import OTEL_PLATFORM
from journeytrace.spans import SpanBatch
from journeytrace.storage import schema
from journeytrace.storage.wal import Position, WriteAheadLog

log = logging.getLogger(__name__)

_STR = pa.string()
_I64 = pa.int64()
ARROW_SCHEMA = pa.schema(
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
assert tuple(ARROW_SCHEMA.names) == schema.SPAN_COLUMNS

Durable = Callable[[pa.Table, Position, Position], None]
"""Called on the WAL thread with each fsynced record: its spans, where it starts, where it ends."""


def to_arrow(batch: SpanBatch) -> pa.Table:
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
        [columns[name] if name in columns else table.column(name) for name in ARROW_SCHEMA.names],
        schema=ARROW_SCHEMA,
    )


@dataclass(slots=True)
class _WriteTask:
    table: pa.Table
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


_STOP = object()


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


def _resolve(task: _WriteTask, error: BaseException | None) -> None:
    def settle() -> None:
        if task.future.done():  # the caller gave up (client went away); the data is still written
            return
        if error is None:
            task.future.set_result(None)
        else:
            task.future.set_exception(error)

    task.loop.call_soon_threadsafe(settle)


class WalIntake:
    """Admits batches and makes them durable; owns the WAL thread between ``start`` and ``stop``."""

    def __init__(
        self,
        wal: WriteAheadLog,
        *,
        max_queued_spans: int,
        max_record_spans: int,
        on_durable: Durable,
        on_refusal: Callable[[], None] = lambda: None,
        admitted: int = 0,
    ) -> None:
        """``admitted``: spans already admitted by a previous intake and not yet committed; they
        count against ``max_queued_spans`` until released."""
        self._wal = wal
        self._max_queued = max_queued_spans
        self._max_record = max_record_spans
        self._on_durable = on_durable
        self._on_refusal = on_refusal
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending = admitted
        self._lock = threading.Lock()
        self._closing = False

    @property
    def pending(self) -> int:
        """Spans admitted and not yet released: queued, in the WAL, or being committed."""
        return self._pending

    def start(self, applied: Position) -> None:
        """Open a fresh WAL segment (after ``applied`` and any existing one) and start writing."""
        self._wal.open(applied)
        self._thread = threading.Thread(target=self._loop, name="journeytrace-wal")
        self._thread.start()

    def stop(self) -> None:
        """Refuse new batches, write what was admitted, and stop; ``on_durable`` has seen all of it."""
        self._closing = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._wal.close()

    def _refuse(self, message: str) -> Overloaded:
        self._on_refusal()
        return Overloaded(message)

    def check_capacity(self) -> None:
        """Raise ``Overloaded`` if the queue is full; cheap, so receivers call it before decoding."""
        if self._pending >= self._max_queued:
            raise self._refuse(f"{self._pending} spans are waiting to be written (limit {self._max_queued}); retry later")

    async def consume(self, batch: SpanBatch) -> None:
        """Admit ``batch``; return once it is durable (fsynced in the WAL).

        Raises ``Overloaded`` when too many spans wait to be committed, ``StorageUnavailable``
        when the intake is stopped or the log cannot be written.
        """
        count = len(batch)
        if count == 0:
            return
        if self._closing or self._thread is None:
            raise StorageUnavailable("storage is closed")
        with self._lock:
            if self._pending and self._pending + count > self._max_queued:
                raise self._refuse(
                    f"{self._pending} spans are waiting to be written (limit {self._max_queued}); retry later"
                )
            self._pending += count
        try:
            table = to_arrow(batch)
        except BaseException:
            self.release(count)
            raise
        loop = asyncio.get_running_loop()
        task = _WriteTask(table=table, future=loop.create_future(), loop=loop)
        self._queue.put(task)
        await asyncio.shield(task.future)

    def release(self, count: int) -> None:
        """``count`` admitted spans are committed (or were never written): admit as many more."""
        with self._lock:
            self._pending -= count

    def _loop(self) -> None:
        """Append queued batches to the WAL (one fsync per group), acknowledge, pass them on."""
        while True:
            tasks, stopping = _drain(self._queue, limit=self._max_record)
            if tasks:
                table = pa.concat_tables([t.table for t in tasks])
                try:
                    start, end = self._wal.append(table)
                except Exception as exc:  # disk full, I/O error: refuse, never pretend
                    log.exception("write-ahead log append of %d spans failed", table.num_rows)
                    self.release(table.num_rows)
                    for task in tasks:
                        _resolve(task, StorageUnavailable(f"storage could not write the log: {exc}"))
                else:
                    # Handed on before the acknowledgement: whoever commits knows of every
                    # acknowledged record, even if this process dies right after.
                    self._on_durable(table, start, end)
                    for task in tasks:
                        _resolve(task, None)
            if stopping:
                return
