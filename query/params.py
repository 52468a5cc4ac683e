"""Parsing of query parameters into typed values; each failure is a 400 that says what is wrong."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_INTEGER = re.compile(r"-?[0-9]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class BadParameter(ValueError):
    """A query parameter or path segment cannot be used; the message names it."""


def journey_id(value: str) -> str:
    """A journey ID: 32 hex characters, normalised to lower case."""
    if not _HEX32.fullmatch(value):
        raise BadParameter(f"journey_id {value[:64]!r} is not 32 hex characters")
    return value.lower()


_HEX16 = re.compile(r"[0-9a-fA-F]{16}")


def span_id(value: str) -> str:
    """A span ID: 16 hex characters, normalised to lower case."""
    if not _HEX16.fullmatch(value):
        raise BadParameter(f"span_id {value[:64]!r} is not 16 hex characters")
    return value.lower()


def choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (the first when not given)."""
    if value is None or value == "":
        return allowed[0]
    if value not in allowed:
        raise BadParameter(f"{name} {value[:32]!r} must be one of: {', '.join(allowed)}")
    return value


def timestamp(name: str, value: str | None) -> int | None:
    """Unix nanoseconds from an integer (ns since the epoch) or an ISO 8601 date/time (UTC if no zone)."""
    if value is None or value == "":
        return None
    if _INTEGER.fullmatch(value):
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(
            f"{name} {value[:64]!r} is neither unix nanoseconds nor an ISO 8601 time such as 2026-11-28T09:30:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return (parsed - _EPOCH) // timedelta(microseconds=1) * 1000


def limit(value: str | None, default: int = 20, maximum: int = 1000) -> int:
    if value is None or value == "":
        return default
    if not _INTEGER.fullmatch(value) or not 1 <= int(value) <= maximum:
        raise BadParameter(f"limit {value[:32]!r} must be an integer from 1 to {maximum}")
    return int(value)


def status(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in ("in_progress", "complete"):
        raise BadParameter(f"status {value[:32]!r} must be in_progress or complete")
    return value


OUTCOMES = ("resolved", "transferred_external", "callback_scheduled", "abandoned", "dropped", "unknown")


def outcome(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in OUTCOMES:
        raise BadParameter(f"outcome {value[:32]!r} must be one of {', '.join(OUTCOMES)}")
    return value


_GO_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
             "h": 3600 * 10**9}  # fmt: skip


def go_duration(name: str, value: str) -> int:
    """Nanoseconds from a Go duration string (``1h30m``, ``1.5s``, ``-250ms``, ``0``), as Jaeger
    and Tempo take them in ``minDuration``/``maxDuration``."""
    text = value.strip()
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-") if text[:1] in "+-" else text
    if text == "0":
        return 0
    position, total = 0, 0.0
    while position < len(text):
        match = _GO_DURATION_PART.match(text, position)
        if match is None or match.group(1) in ("", "."):
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    if not text or position < len(text):
        raise BadParameter(f"cannot parse {name} {value[:64]!r}: not a duration such as 250ms, 1.5s or 1h30m")
    return sign * round(total)


def insight_rules(values: tuple[str, ...], known: set[str]) -> tuple[str, ...]:
    """Insight rule IDs to filter by; an unknown one is a 400 naming the known ones."""
    unknown = [v for v in values if v not in known]
    if unknown:
        raise BadParameter(f"insight {unknown[0][:64]!r} is not a known rule; known: {', '.join(sorted(known))}")
    return values


def seconds(name: str, value: str | None, *, default: float, low: float, high: float) -> float:
    """A number of seconds within ``[low, high]``."""
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise BadParameter(f"{name} {value[:32]!r} is not a number of seconds") from None
    if not low <= number <= high:
        raise BadParameter(f"{name} must be between {low:g} and {high:g} seconds")
    return number
