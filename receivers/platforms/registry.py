"""Which platforms journeytrace understands, and how to reach each adapter.

An adapter module in ``adapters/`` exposes ``ADAPTER``; it is found by name, so adding a
platform means adding one module (and its fixtures and tests), nothing else. Platforms whose
webhooks are flat JSON records can instead be described by a YAML file in ``declarative/``
(see ``declarative.py``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from journeytrace.receivers.platforms import adapters as _adapters_package
from journeytrace.receivers.platforms.model import Parsed

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
CSV = "text/csv"
NDJSON = "application/x-ndjson"


@dataclass(frozen=True, slots=True)
class Adapter:
    name: str
    """The URL name and ``cx.platform.name``."""
    parse: Callable[[Any, Mapping[str, str]], Parsed]
    """``(native payload, options) → spans``; pure. The payload is the parsed JSON value, a form
    as a dict, or CSV rows as dicts; options are the request's query parameters (e.g. ``tz`` for
    CDRs written in local time) plus ``received_unix_nano``, when the request arrived."""
    content_types: tuple[str, ...] = (JSON, NDJSON)
    verify: Callable[[Mapping[str, str], bytes, str, str], str | None] | None = None
    """``(headers, body, url, secret) → None`` if signed correctly, else why not; None = unsigned platform."""
    description: str = ""
    csv_rows_as_lists: bool = False
    """Hand CSV bodies over as lists of cells rather than dicts keyed by a header row, for
    formats whose files have no header (Asterisk ``Master.csv``)."""


@cache
def adapters() -> dict[str, Adapter]:
    """Every adapter by name: the modules in ``adapters/``, then the shipped declarative YAML
    ones (which may not take a module's name)."""
    from journeytrace.receivers.platforms import declarative  # it imports this module

    found: dict[str, Adapter] = {}
    for module in pkgutil.iter_modules(_adapters_package.__path__):
        adapter = getattr(importlib.import_module(f"{_adapters_package.__name__}.{module.name}"), "ADAPTER", None)
        if isinstance(adapter, Adapter):
            found[adapter.name] = adapter
    return declarative.combine(found, declarative.SHIPPED_DIR)
