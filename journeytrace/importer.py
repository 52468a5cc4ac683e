"""``journeytrace import``: backfill a platform's exported records into a running server.

Records go through the same ``POST /v1/platforms/{platform}`` endpoint as live webhooks, so
backfilled data gets the same validation, durability and correlation, and DuckDB keeps its
single writer. Records are sent in chunks; when the server refuses a chunk, its records are
retried one by one so that a bad record is named and the good ones around it still land.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from journeytrace import jsontext

CHUNK = 200


@dataclass
class ImportReport:
    records: int = 0
    spans: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Record:
    where: str
    """``file:line`` (or ``file:row N``) for error messages."""
    value: Any


def read_records(path: Path) -> tuple[str, list[Record]]:
    """``(content type, records)`` of one export file: a JSON array, JSON objects one per line or
    concatenated (Firehose to S3), or CSV."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text))
        rows = [row for row in reader if row]
        return "text/csv", [Record(f"{path}:row {i + 1}", row) for i, row in enumerate(rows)]
    try:
        found = jsontext.documents(text)
    except ValueError:
        found = None
    if found is not None:
        if len(found) == 1 and isinstance(found[0][1], list):  # one JSON array of records
            return "application/json", [Record(f"{path}[{i}]", v) for i, v in enumerate(found[0][1])]
        return "application/json", [Record(f"{path}:{line}", value) for line, value in found]
    records = []  # JSON lines with bad lines among them: keep the good ones, name the bad
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(Record(f"{path}:{number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                records.append(Record(f"{path}:{number}", _Unparsable(exc.msg)))
    return "application/json", records


@dataclass(frozen=True, slots=True)
class _Unparsable:
    reason: str


def _body(content_type: str, records: list[Record], header: list[str] | None) -> bytes:
    if content_type == "text/csv":
        out = io.StringIO()
        writer = csv.writer(out)
        if header:
            writer.writerow(header)
        writer.writerows(r.value for r in records)
        return out.getvalue().encode()
    values = [r.value for r in records]
    return json.dumps(values if len(values) > 1 else values[0]).encode()


def _post(url: str, body: bytes, content_type: str, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for attempt in range(8):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code == 503 and attempt < 7:  # the server is busy: it says when to retry
                time.sleep(float(exc.headers.get("Retry-After", "1")))
                continue
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except json.JSONDecodeError:
                return exc.code, {"error": exc.reason}
    return 503, {"error": "server stayed busy"}


def _chunks(records: list[Record], size: int) -> Iterator[list[Record]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def import_files(
    server: str, platform: str, files: list[Path], *, token: str | None = None, progress: TextIO | None = sys.stderr
) -> ImportReport:
    """Send every record of ``files`` to ``server`` (the OTLP/HTTP base URL); never stops at a bad one."""
    url = f"{server.rstrip('/')}/v1/platforms/{platform}"
    report = ImportReport()
    loaded = []
    for path in files:
        try:
            loaded.append((path, *read_records(path)))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            report.failures.append(f"{path}: {exc}")
    total = sum(len(records) for _, _, records in loaded)
    done = 0
    for _path, content_type, records in loaded:
        header = None
        if content_type == "text/csv" and records and _looks_like_header(records[0].value):
            header, records = records[0].value, records[1:]
        for chunk in _chunks(records, CHUNK):
            good = [r for r in chunk if not isinstance(r.value, _Unparsable)]
            report.failures += [f"{r.where}: not valid JSON ({r.value.reason})" for r in chunk if r not in good]
            status, answer = _post(url, _body(content_type, good, header), content_type, token) if good else (202, {})
            if status == 202:
                report.records += len(good)
                report.spans += int(answer.get("accepted_spans", 0))
            elif status in (400, 413) and len(good) > 1:
                for record in good:  # find the bad ones; keep the rest
                    status, answer = _post(url, _body(content_type, [record], header), content_type, token)
                    if status == 202:
                        report.records += 1
                        report.spans += int(answer.get("accepted_spans", 0))
                    else:
                        report.failures.append(f"{record.where}: {answer.get('error', status)}")
            else:
                message = answer.get("error", f"HTTP {status}")
                report.failures += [f"{r.where}: {message}" for r in good]
                if status in (401, 404, 415):  # no record of this file can succeed
                    break
            done += len(chunk)
            if progress is not None:
                _draw(progress, done, total)
    if progress is not None and total:
        progress.write("\n")
    return report


def _looks_like_header(row: list[str]) -> bool:
    """A CSV first row of names (letters, digits, _ and spaces), not of values."""
    return bool(row) and all(cell and cell.replace("_", "").replace(" ", "").isalnum() and not cell.isdigit()
                             for cell in row) and not any(c[:1].isdigit() for c in row)  # fmt: skip


def _draw(out: TextIO, done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} records")
    out.flush()
