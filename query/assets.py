"""The Journey Explorer's static files, served from memory.

They are a few dozen small files read once at start-up: answering from a dict costs well under a
millisecond, where reading each file per request through a thread pool made a cold page load
wait ~100 ms for its modules (bench/web_list.py). Each answer carries an ETag, so a browser
revalidates with a 304 instead of downloading again.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load(directory: Path) -> dict[str, Asset]:
    """Every file under ``directory``, by its path relative to it (``list/table.js``)."""
    assets = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            body = path.read_bytes()
            media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            assets[path.relative_to(directory).as_posix()] = Asset(body, media_type, etag_of(body))
    return assets


def etag_of(body: bytes) -> str:
    return f'"{hashlib.sha1(body).hexdigest()[:16]}"'


def respond(asset: Asset, request: Request) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
