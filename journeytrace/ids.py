"""Deterministic IDs shared by the correlator, the read APIs and the SDK.

Following otel-conventions §3.5 option A: a journey ID that is a UUID (or already 32 hex
digits) is its own trace ID; any other journey ID is hashed. Everyone who knows the journey ID
derives the same trace ID and root span ID without asking the server.
"""

from __future__ import annotations

import hashlib
import re

_HEX32 = re.compile(r"[0-9a-f]{32}")

OTEL_PLATFORM = "otel"
"""The platform of spans that name none: their interaction is their original trace."""


def journey_trace_id(journey_id: str) -> str:
    """The 32-hex trace ID of a journey ID."""
    if is_trace_id_like(journey_id):
        return journey_id.strip().lower().replace("-", "")
    return hashlib.sha256(b"cx-journey:" + journey_id.encode()).hexdigest()[:32]


# What Python's str.strip() strips (str.isspace), as an RE2 character class.
_SPACE_CLASS = r"[\t\n\x{0b}\f\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"


def journey_trace_id_sql(expression: str) -> str:
    """SQL for ``journey_trace_id`` of ``expression``, the same for every string (tests/test_correlator.py):
    the correlator names journeys in SQL, so no Python runs per interaction while it holds the GIL."""
    return f"CASE WHEN {is_trace_id_like_sql(expression)} THEN {_compact_sql(expression)} ELSE left(sha256('cx-journey:' || {expression}), 32) END"


def is_trace_id_like_sql(expression: str) -> str:
    """SQL for ``is_trace_id_like`` of ``expression``."""
    compact = _compact_sql(expression)
    return f"(regexp_full_match({compact}, '[0-9a-f]{{32}}') AND {compact} <> '{'0' * 32}')"


def _compact_sql(expression: str) -> str:
    return f"replace(regexp_replace(lower({expression}), '^{_SPACE_CLASS}+|{_SPACE_CLASS}+$', '', 'g'), '-', '')"


def is_trace_id_like(value: str) -> bool:
    """A value ``journey_trace_id`` keeps as is: 32 hex digits, or a UUID."""
    compact = value.strip().lower().replace("-", "")
    return bool(_HEX32.fullmatch(compact)) and compact != "0" * 32


def root_span_id(trace_id: str) -> str:
    """The span ID of a journey's synthetic root span."""
    return hashlib.sha256(b"cx-root:" + trace_id.encode()).hexdigest()[:16]


def synthetic_span_id(trace_id: str, name: str) -> str:
    """The span ID of another synthetic span of a journey (e.g. ``handoff 2``)."""
    return hashlib.sha256(f"cx-synthetic:{trace_id}:{name}".encode()).hexdigest()[:16]


def interaction_key(platform: str, interaction_id: str) -> str:
    """One platform interaction, e.g. ``amazon_connect:3f1c...``; plain OTel traces are ``otel:<trace id>``."""
    return f"{platform}:{interaction_id}"


def journey_key_sql(expression: str = "journey_id") -> str:
    """SQL for ``journeys.journey_key`` of ``expression``: the first 60 bits of a (hex) journey ID
    as an integer, which a lookup compares before the ID itself (an integer filter is far
    cheaper than a string one, and it is indexed)."""
    return f"CASE WHEN regexp_full_match({expression}, '[0-9a-f]{{32}}') THEN ('0x' || left({expression}, 15))::BIGINT END"


JOURNEY_KEY_SQL = journey_key_sql()


def journey_key(journey_id: str) -> int | None:
    """``journeys.journey_key`` of ``journey_id``, exactly as ``JOURNEY_KEY_SQL`` computes it."""
    if _HEX32.fullmatch(journey_id):
        return int(journey_id[:15], 16)
    return None


def lookup_hash_sql(expression: str) -> str:
    """SQL for the 64-bit lookup hash of a key (``storage/schema.py`` v10): DuckDB finds rows by
    an index on it. md5, not DuckDB's ``hash()``, so stored values never depend on the version."""
    return f"md5_number_lower({expression})"
