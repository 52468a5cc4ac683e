"""Customer phone numbers are PII: they are searched by keyed hash, never by raw value.

A plain SHA-256 of an E.164 number is reversible by enumerating the number space, so the
hash is an HMAC keyed with a secret that never leaves the data directory.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"\+?[0-9]{3,15}")


def normalize(number: str) -> str | None:
    """The number as ``+digits`` (or bare digits for short codes), or None if it is not a number.

    Anonymous, withheld and malformed values ("anonymous", "restricted", "sip:foo@bar") give None,
    so they never link unrelated callers.
    """
    cleaned = _SEPARATORS.sub("", number)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not _E164.fullmatch(cleaned):
        return None
    return cleaned


def keyed_hash(key: bytes, number: str) -> str | None:
    """The searchable hash of a phone number (32 hex characters), or None if it is not a number."""
    normalized = normalize(number)
    if normalized is None:
        return None
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()[:32]
