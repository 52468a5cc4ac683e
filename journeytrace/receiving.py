"""The receiver process: OTLP receivers, platform webhooks, phone-number hashing and the WAL intake.

Under 50 k spans/s, receiving OTLP held Python's GIL ~45 % of the time, and the DuckDB writer and
the readers waited for it (BENCHMARKS.md, fourteenth session). In a process of its own the
receiving side acknowledges spans once they are in the write-ahead log, as Tempo's distributors
hand spans to its ingesters, and the server process keeps its GIL for committing and reading.

The two processes share the WAL's files and a pipe:

- to the server: ``("ready",)`` once every receiver listens, or ``("failed", kind, message)``;
  ``("record", start, end)`` for each fsynced record, sent before its senders are acknowledged;
  ``("refused",)`` when a sender was told to retry later;
- from the server: ``("applied", rows)`` after each commit, and ``("stop",)``: stop accepting,
  write what was admitted, hand it over and exit (closing the pipe).

If the receiver process dies, the server starts another; if the server dies, the kernel kills
the receiver process (``PR_SET_PDEATHSIG``), and a restart replays the WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from journeytrace import priority
from journeytrace.config import Config, ConfigError
from journeytrace.correlator import Correlator, CorrelatorConfig
from journeytrace.storage import SpanStore
from journeytrace.storage.intake import WalIntake
from journeytrace.storage.wal import Position, WriteAheadLog, wal_directory

log = logging.getLogger("journeytrace")

_PR_SET_PDEATHSIG = 1
_REFUSAL_NOTICE_INTERVAL = 0.2
"""Seconds between two ("refused",) messages: the server only needs to know it happened lately."""
_RESTARTS_PER_MINUTE = 5
"""More deaths than this in a minute, and the server stops instead of starting another."""


# the receiver process ----------------------------------------------------------------------


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _lower_priority(increment: int) -> None:
    """Give the cores to the server process first when both want them.

    Under 50 k spans/s on two cores, a read by ID that took over 40 ms had mostly slept while the
    writer held the GIL between its DuckDB statements, waiting for a core it shared with this
    process (BENCHMARKS.md, seventeenth session). With this process at nice 5, the p99 of reads
    by ID was lower in each of ten alternating pairs of runs, saturated ingest did not fall, and
    a steady 50 k spans/s held within 1 % (eighteenth session). Called before the process starts
    its own threads: Linux keeps a nice value per thread, and a new thread inherits its
    starter's. Threads that imports started already (pyarrow's jemalloc) are lowered one by one.
    """
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # not Linux: the process's priority is its threads'
        threads = [0]
    for thread in threads:
        priority.lower(increment, thread)


def _main(config: Config, correlator: CorrelatorConfig, applied: Position, admitted: int, conn: Connection) -> None:
    """Entry point of the receiver process."""
    _die_with_parent()
    _lower_priority(config.receiver_nice)
    # Ctrl-C reaches the whole process group; the server decides when receiving stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_receive(config, correlator, applied, admitted, conn))
    finally:
        conn.close()


async def _receive(
    config: Config, correlator: CorrelatorConfig, applied: Position, admitted: int, conn: Connection
) -> None:
    from journeytrace.server import receivers  # the server module imports this one

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    send_lock = threading.Lock()
    last_notice = [0.0]

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    def refused() -> None:
        now = time.monotonic()
        if now - last_notice[0] >= _REFUSAL_NOTICE_INTERVAL:
            last_notice[0] = now
            send(("refused",))

    intake = WalIntake(
        WriteAheadLog(wal_directory(config.database_path)),
        max_queued_spans=config.max_queued_spans, max_record_spans=config.max_commit_spans,
        on_durable=lambda _table, start, end: send(("record", start, end)), on_refusal=refused,
        admitted=admitted,
    )  # fmt: skip

    def listen() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "applied":
                intake.release(message[1])
            elif message[0] == "stop":
                break
        loop.call_soon_threadsafe(stop.set)

    intake.start(applied)
    threading.Thread(target=listen, name="journeytrace-pipe", daemon=True).start()
    try:
        async with receivers(config, Correlator(correlator, intake)):
            send(("ready",))
            await stop.wait()
    except ConfigError as exc:
        send(("failed", "config", str(exc)))
    except OSError as exc:
        send(("failed", "os", str(exc)))
    finally:
        intake.stop()  # every admitted batch is in the WAL and handed over


# the server's side -------------------------------------------------------------------------


class ReceiverProcess:
    """Runs the receiver process for ``store``, hands its WAL records to the store, restarts it
    if it dies, and stops it first at shutdown."""

    def __init__(
        self, config: Config, correlator: CorrelatorConfig, store: SpanStore, *, on_ready: Callable[[bool], None]
    ) -> None:
        self._config = config
        self._correlator = correlator
        self._store = store
        self._on_ready = on_ready  # receiving (True) or not (False); called on the event loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: Any = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._follower: threading.Thread | None = None
        self._started: asyncio.Future[None] | None = None
        self._stopping = False
        self._last_end = store.replayed_to
        self._restarts: list[float] = []  # time.monotonic() of each restart
        self.lost = asyncio.Event()
        """Set when the receiver process died and could not be restarted: the server should stop."""
        store.on_applied = lambda rows: self._send(("applied", rows))

    async def start(self) -> None:
        """Start the receiver process; return once it listens, or raise why it cannot."""
        self._loop = asyncio.get_running_loop()
        self._spawn()
        await self._wait_started()

    def _spawn(self) -> None:
        assert self._loop is not None
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._started = self._loop.create_future()
        with self._send_lock:
            self._conn = ours
        # Spans the previous receiver process admitted and the store has not committed yet.
        admitted = self._store.unapplied
        self._process = context.Process(
            target=_main, name="journeytrace-receivers",
            args=(self._config, self._correlator, self._last_end, admitted, theirs),
        )  # fmt: skip
        self._process.start()
        theirs.close()
        self._follower = threading.Thread(target=self._follow, args=(ours,), name="journeytrace-follow")
        self._follower.start()

    async def _wait_started(self) -> None:
        assert self._started is not None
        await self._started
        self._on_ready(True)

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):  # it died; its successor is told at its start
                    self._conn.send(message)

    def _settle(self, error: BaseException | None) -> None:
        def settle() -> None:
            if self._started is not None and not self._started.done():
                if error is None:
                    self._started.set_result(None)
                else:
                    self._started.set_exception(error)

        assert self._loop is not None
        self._loop.call_soon_threadsafe(settle)

    def _follow(self, conn: Connection) -> None:
        """Hand each record to the store, in order, until the receiver process closes the pipe."""
        ready = False
        failure: BaseException | None = None
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "record":
                _, start, end = message
                self._store.apply_record(start, end)
                self._last_end = end
            elif kind == "refused":
                self._store.note_refusal()
            elif kind == "ready":
                ready = True
                self._settle(None)
            elif kind == "failed":
                _, what, text = message
                failure = ConfigError(text) if what == "config" else OSError(text)
        conn.close()
        self._process.join()
        if self._stopping:
            self._settle(OSError("the server is stopping"))
            return
        code = self._process.exitcode
        if not ready:  # it could not start; another would not either
            self._settle(failure or OSError(f"the receiver process exited with code {code} before it listened"))
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._on_ready, False)
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < 60] + [now]
        if len(self._restarts) > _RESTARTS_PER_MINUTE:
            log.error("the receiver process exited (code %s), %d times within a minute; stopping", code, len(self._restarts))
            self._loop.call_soon_threadsafe(self.lost.set)
            return
        log.error("the receiver process exited (code %s); starting another", code)
        self._loop.call_soon_threadsafe(self._restart)

    def _restart(self) -> None:
        if self._stopping:
            return
        self._spawn()
        task = asyncio.ensure_future(self._wait_started())
        task.add_done_callback(lambda t: not t.cancelled() and t.exception() and self.lost.set())

    async def stop(self) -> None:
        """Stop receiving; return once every record the receiver process wrote is handed over."""
        self._stopping = True
        self._on_ready(False)
        self._send(("stop",))
        if self._follower is not None:
            await asyncio.to_thread(self._follower.join)
        with self._send_lock:
            self._conn = None
