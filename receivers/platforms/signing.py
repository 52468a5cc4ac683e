"""Checks shared by the adapters that verify requests with a plain shared secret."""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A request header by case-insensitive name."""
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def check_bearer(headers: Mapping[str, str], body: bytes, url: str, secret: str) -> str | None:
    """``Authorization: Bearer <secret>``, as stream forwarders (Connect, Genesys) send it: None
    if it matches, else why not (never quoting the secret). An ``Adapter.verify``."""
    del body, url
    value = header(headers, "authorization")
    if not value:
        return "missing Authorization header"
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "Authorization is not a bearer token"
    if not hmac.compare_digest(token.strip().encode(), secret.encode()):
        return "wrong bearer token"
    return None
