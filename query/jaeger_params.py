"""Parsing of the Jaeger APIs' parameters (viewer-apis.md §1.2, §1.3, §1.5); failures are
``BadParameter`` with a message the viewers show as is."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime

from journeytrace.query import params
from journeytrace.query.params import BadParameter

_HEX = re.compile(r"[0-9a-fA-F]{1,32}")
_INTEGER = re.compile(r"-?[0-9]+")
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")


def trace_id(value: str) -> str:
    """A trace ID as 32 lowercase hex digits, from 1-32 hex digits (left-padded with zeros, as
    Jaeger does) or the base64 (standard or URL-safe, padded or not) of 16 bytes."""
    if _HEX.fullmatch(value):
        return value.lower().rjust(32, "0")
    padded = value + "=" * (-len(value) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise BadParameter(f"trace ID {value[:64]!r} is neither 1 to 32 hex digits nor base64 of 16 bytes")
    return raw.hex()


def go_duration(name: str, value: str | None) -> int | None:
    """Nanoseconds from a Go duration string such as ``1.5s``, ``100ms`` or ``1h30m``; None if absent."""
    if value is None or value == "":
        return None
    return params.go_duration(name, value)


def duration_range(minimum: int | None, maximum: int | None) -> None:
    if minimum is not None and maximum is not None and maximum < minimum:
        raise BadParameter("'maxDuration' must be greater than or equal to 'minDuration'")


def integer(name: str, value: str | None, default: int) -> int:
    """An integer parameter (µs or ms since the epoch, a limit); ``default`` when absent or empty."""
    if value is None or value == "":
        return default
    if not _INTEGER.fullmatch(value):
        raise BadParameter(f"cannot parse {name} {value[:32]!r}: not an integer")
    return int(value)


def tags_json(values: list[str]) -> list[tuple[str, str]]:
    """The ``tags`` parameters: each a JSON object of tag values (Jaeger reads strings; a number
    or bool from a client's logfmt parser is taken as its JSON text)."""
    tags: list[tuple[str, str]] = []
    for value in values:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadParameter(f"malformed 'tags' parameter, cannot unmarshal JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise BadParameter('malformed \'tags\' parameter, expected a JSON object such as {"error":"true"}')
        for key, item in parsed.items():
            if isinstance(item, dict | list) or item is None:
                raise BadParameter(f"malformed 'tags' parameter, the value of {key!r} is not a string")
            tags.append((key, item if isinstance(item, str) else json.dumps(item)))
    return tags


def tag_pairs(values: list[str]) -> list[tuple[str, str]]:
    """The legacy ``tag=key:value`` parameters, split on the first colon."""
    tags = []
    for value in values:
        key, colon, item = value.partition(":")
        if not colon:
            raise BadParameter(f"malformed 'tag' parameter {value[:64]!r}, expected key:value")
        tags.append((key, item))
    return tags


def rfc3339_ns(name: str, value: str | None) -> int:
    """Unix nanoseconds of a required RFC 3339 time with up to nanosecond precision."""
    if not value:
        raise BadParameter(f"{name} is required")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise BadParameter(f"cannot parse {name} {value[:64]!r}: not an RFC 3339 time such as 2026-11-28T09:30:00Z")
    day, clock, fraction, zone = match.groups()
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone in 'Zz' else zone}")
    except ValueError:
        raise BadParameter(f"cannot parse {name} {value[:64]!r}: no such date or time") from None
    seconds = int((parsed - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    return seconds * 10**9 + int((fraction or "").ljust(9, "0"))
