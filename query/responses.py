"""JSON responses encoded by orjson, and the keys that group equal JSON values.

Reads return plain JSON-ready values, so the query side skips FastAPI's encoder (which walks every
value of a 5,000-span journey several times over) and encodes once: orjson writes a 4.7 MB journey
in ~8 ms where ``json.dumps`` takes ~50 ms (bench/web_journey.py). A value orjson refuses (an
integer beyond 64 bits from a platform payload, a non-string key) falls back to ``json``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.responses import Response


def identity(value: Any) -> bytes:
    """A key equal for equal JSON-ready values whatever the order of their dicts' keys: how the
    trace renderers group spans by resource, scope and process. ``json.dumps(sort_keys=True)``
    took a fifth to a quarter of those loops; with orjson a 22-span journey's Jaeger v1 went
    0.26 -> 0.20 ms, its Tempo protobuf 0.42 -> 0.30 ms (BENCHMARKS.md, twentieth session). A
    value orjson refuses (an integer beyond 64 bits) falls back to ``json``, and only such values
    take that path, so equal values always get equal keys."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str).encode()


def dumps(body: Any, *, pretty: bool = False) -> bytes:
    """UTF-8 JSON of ``body``; NaN and infinities become ``null`` (JSON has no spelling for them)."""
    try:
        return orjson.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(_finite(body), ensure_ascii=False, indent=2 if pretty else None,
                          separators=None if pretty else (",", ":"))  # fmt: skip
        return text.encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_response(body: Any, status: int = 200, *, pretty: bool = False) -> Response:
    return Response(dumps(body, pretty=pretty), status_code=status, media_type="application/json")
