"""Every platform's timestamps, as Unix nanoseconds.

Platforms disagree: ISO-8601 with or without a fraction or offset (Connect, Genesys, Vapi),
RFC 2822 (Twilio), epoch seconds, milliseconds or nanoseconds (Retell, LiveKit, PolyAI), and
local wall-clock times with no zone at all (Asterisk and FreeSWITCH CDRs).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from journeytrace.receivers.platforms.model import BadPayload

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)


def iso8601(value: str, *, field: str = "timestamp", zone: str | None = None) -> int:
    """``2026-11-28T10:00:00.123456Z`` (any fraction, ``Z`` or offset; no zone → ``zone`` or UTC)."""
    match = _ISO.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise BadPayload(f"{field} {str(value)[:40]!r} is not an ISO-8601 timestamp")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError as exc:
        raise BadPayload(f"{field} {value[:40]!r}: {exc}") from None
    if offset is None:
        aware = naive.replace(tzinfo=_zone(zone) if zone else UTC)
    else:
        aware = datetime.fromisoformat(f"{naive.isoformat()}{'+00:00' if offset.upper() == 'Z' else offset}")
    nanos = int((fraction or "0").ljust(9, "0"))
    return int(aware.timestamp()) * 1_000_000_000 + nanos


def rfc2822(value: str, *, field: str = "timestamp") -> int:
    """``Sat, 28 Nov 2026 10:00:00 +0000`` (Twilio)."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise BadPayload(f"{field} {str(value)[:40]!r} is not an RFC 2822 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp()) * 1_000_000_000


def epoch(value: int | float | str, *, unit: str | None = None, field: str = "timestamp") -> int:
    """Epoch time in ``unit`` (``s``, ``ms``, ``us``, ``ns``); without a unit, guessed by magnitude
    (valid for dates between 1973 and 2286)."""
    try:
        number = float(value) if isinstance(value, str) and not value.strip().lstrip("-").isdigit() else int(value)
    except (TypeError, ValueError):
        raise BadPayload(f"{field} {str(value)[:40]!r} is not an epoch time") from None
    if unit is None:
        magnitude = abs(number)
        unit = "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" if magnitude < 1e17 else "ns"
    scale = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}.get(unit)
    if scale is None:
        raise BadPayload(f"unknown epoch unit {unit!r}")
    return int(number * scale) if isinstance(number, float) else number * scale


def any_time(value: object, *, field: str = "timestamp", zone: str | None = None) -> int:
    """Whichever of the formats above ``value`` is in."""
    if isinstance(value, bool) or value is None:
        raise BadPayload(f"{field} is missing or not a time")
    if isinstance(value, int | float):
        return epoch(value, field=field)
    text = str(value).strip()
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return epoch(text, field=field)
    if _ISO.match(text):
        return iso8601(text, field=field, zone=zone)
    return rfc2822(text, field=field)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadPayload(f"tz {name[:60]!r} is not a known time zone (an IANA name such as Europe/Berlin)") from None


def zone_option(options: Mapping[str, str]) -> str | None:
    """The ``tz`` option of a request, checked: local times without an offset (CDRs, some
    contact records) are read in it; None means UTC."""
    zone = options.get("tz") or None
    if zone is not None:
        _zone(zone)
    return zone
