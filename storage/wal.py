"""Write-ahead log: acknowledged spans are on disk before DuckDB sees them.

DuckDB commits have a fixed cost (~10 ms) that small, frequent OTLP requests cannot amortize,
so the store acknowledges a request once its batch is appended here and fsynced, and applies
batches to DuckDB in large transactions afterwards. The position of the last applied record
is committed in the same DuckDB transaction as its spans, so replay after a crash applies each
record exactly once.

Layout: ``<dir>/<segment:08d>.wal`` files of records ``[u32 length][u32 crc32][payload]``,
where the payload is an Arrow IPC stream (LZ4) holding one table. A torn record at the end of
a segment (a crash mid-write) ends replay of that segment; it was never acknowledged.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.ipc as ipc

_HEADER = struct.Struct("<II")
_IPC_OPTIONS = ipc.IpcWriteOptions(compression="lz4")


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """Just past a record: segment number and byte offset."""

    segment: int
    offset: int

    def __str__(self) -> str:
        return f"{self.segment}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> Position:
        segment, offset = text.split(":")
        return cls(int(segment), int(offset))


START = Position(0, 0)


def wal_directory(database: Path) -> Path:
    """Where the WAL of the DuckDB file ``database`` lives."""
    return database.parent / "wal"


def _segment_number(path: Path) -> int:
    return int(path.stem)


class WriteAheadLog:
    """Append-only segments. One writer appends (a thread of the store, or the receiver
    process); the applier reads records and truncates."""

    def __init__(self, directory: Path, segment_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._file: BinaryIO | None = None
        self._segment = 0
        self._offset = 0

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob("*.wal"), key=_segment_number)

    def replay(self, after: Position) -> Iterator[tuple[Position, pa.Table]]:
        """Every intact record past ``after``, oldest first."""
        for path in self.segments():
            segment = _segment_number(path)
            if segment < after.segment:
                continue
            data = path.read_bytes()
            offset = 0
            while (payload := _payload_at(data, offset)) is not None:  # None: end, or a torn tail
                offset += _HEADER.size + len(payload)
                position = Position(segment, offset)
                if position > after:
                    yield position, _table(payload)

    def open(self, applied: Position) -> None:
        """Start a fresh segment numbered after any existing one and after ``applied``.

        Never append after a torn tail, and never reuse a number at or below the applied
        position, or replay would skip the new records.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = self.segments()
        last = _segment_number(existing[-1]) if existing else 0
        self._segment = max(last, applied.segment) + 1
        self._start_segment()

    def _start_segment(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = open(self.directory / f"{self._segment:08d}.wal", "ab", buffering=0)
        self._offset = 0
        _fsync_dir(self.directory)

    def append(self, table: pa.Table) -> tuple[Position, Position]:
        """Write ``table`` as one record and fsync; return where the record starts and ends."""
        if self._offset >= self.segment_bytes:
            self._segment += 1
            self._start_segment()
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
            writer.write_table(table)
        payload = sink.getvalue().to_pybytes()
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        f = self._file
        assert f is not None, "WriteAheadLog.open() was not called"
        f.write(record)
        os.fsync(f.fileno())
        start = Position(self._segment, self._offset)
        self._offset += len(record)
        return start, Position(self._segment, self._offset)

    def read(self, start: Position, end: Position) -> pa.Table:
        """The record appended between ``start`` and ``end`` (by this process or another)."""
        with open(self.directory / f"{end.segment:08d}.wal", "rb") as f:
            f.seek(start.offset)
            data = f.read(end.offset - start.offset)
        payload = _payload_at(data, 0)
        if payload is None or _HEADER.size + len(payload) != len(data):
            raise ValueError(f"no intact write-ahead log record between {start} and {end}")
        return _table(payload)

    def truncate(self, applied: Position) -> None:
        """Delete every segment whose records are all applied (never the one being written)."""
        for path in self.segments():
            segment = _segment_number(path)
            if segment < applied.segment and segment != self._segment:
                path.unlink(missing_ok=True)

    def remove_all(self) -> None:
        """Delete every segment; only once all of them are applied."""
        self.close()
        for path in self.segments():
            path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _payload_at(data: bytes, offset: int) -> bytes | None:
    """The payload of the record at ``offset``; None past the last record, or if it is torn
    (a crash mid-write: that record was never acknowledged)."""
    if offset + _HEADER.size > len(data):
        return None
    length, crc = _HEADER.unpack_from(data, offset)
    payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
    return payload if len(payload) == length and zlib.crc32(payload) == crc else None


def _table(payload: bytes) -> pa.Table:
    return ipc.open_stream(pa.py_buffer(payload)).read_all()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
