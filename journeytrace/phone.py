"""Customer phone numbers are PII: they are searched by keyed hash, never by raw value.

A plain SHA-256 of an E.164 number is reversible by enumerating the number space, so the
hash is an HMAC keyed with a secret that never leaves the data directory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

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


def load_or_create_key(path: Path) -> bytes:
    """The phone-hash key in ``path``, created (random, mode 0600) on first start."""
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key
