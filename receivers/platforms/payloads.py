"""Reading native payloads: parse the body, find fields whatever their case, fail with the name.

Platforms are loose: EventBridge and Kinesis deliver Connect records with different key case,
Twilio posts forms, most send JSON objects or arrays. A missing required field is a
``BadPayload`` naming it; optional fields are simply absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from journeytrace import jsontext
from journeytrace.receivers.platforms.model import BadPayload

_MISSING = object()


def parse_body(body: bytes, content_type: str) -> Any:
    """A JSON value, a list for JSON lines or concatenated values, or a form as a dict (repeated
    keys keep the last value)."""
    if content_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise BadPayload("form body is not UTF-8") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPayload("body is not UTF-8") from None
    try:
        values = [value for _, value in jsontext.documents(text)]
    except ValueError as exc:
        raise BadPayload(f"body is {exc}") from None
    if not values:
        raise BadPayload("body is empty")
    return values[0] if len(values) == 1 else values  # JSON lines or concatenated records: a list


def get(obj: Any, path: str, default: Any = None) -> Any:
    """``obj`` at the dotted ``path`` (``a.b.0.c``), matching keys case-insensitively; ``default`` if absent."""
    value = _walk(obj, path)
    return default if value is _MISSING or value is None else value


def require(obj: Any, path: str, what: str = "") -> Any:
    """Like ``get`` but a missing or empty value is a ``BadPayload`` naming the field."""
    value = _walk(obj, path)
    if value is _MISSING or value is None or value == "":
        raise BadPayload(f"{what + ': ' if what else ''}required field {path!r} is missing")
    return value


def _walk(obj: Any, path: str) -> Any:
    current = obj
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part in current:
                current = current[part]
                continue
            lowered = part.lower()
            for key, value in current.items():
                if isinstance(key, str) and key.lower() == lowered:
                    current = value
                    break
            else:
                return _MISSING
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def as_list(value: Any) -> list[Any]:
    """A payload that may be one object or an array of them, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def require_object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadPayload(f"{what} must be a JSON object, got {type(value).__name__}")
    return value
