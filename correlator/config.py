"""Correlator settings, and the user rules file that declares extra links.

A rules file (YAML, given with ``--correlation-rules``) lets customers link platforms through
attributes of their own::

    rules:
      - name: connect-to-polyai            # shown as the link's method: rule:connect-to-polyai
        from: {platform: amazon_connect, attribute: aws.connect.attributes.polyai_conversation}
        to:   {platform: polyai, attribute: cx.platform.interaction.id}
        window_seconds: 900                 # optional: both interactions start this close together
        confidence: 0.9                     # optional, default 0.9
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, kw_only=True, slots=True)
class RuleSide:
    platform: str
    attribute: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    name: str
    source: RuleSide
    target: RuleSide
    window_seconds: float | None = None
    confidence: float = 0.9


@dataclass(frozen=True, kw_only=True, slots=True)
class CorrelatorConfig:
    phone_hash_key: bytes
    """HMAC key for customer phone numbers (``journeytrace.phone``)."""
    store_raw_phone_numbers: bool = False
    """Keep ``cx.telephony.ani.number`` in stored attributes; by default only its hash is kept."""
    phone_time_matching: bool = True
    """Link legs by same customer number + transfer target + time (the probabilistic fallback)."""
    window_before_seconds: float = 5.0
    window_after_seconds: float = 60.0
    quiet_period_seconds: float = 1800.0
    """A journey with no new data for this long is ``complete``."""
    rules: tuple[Rule, ...] = field(default_factory=tuple)


class RulesError(ValueError):
    """The rules file cannot be used; the message says where and why."""


def _side(raw: Any, where: str) -> RuleSide:
    if not isinstance(raw, dict) or not isinstance(raw.get("platform"), str) or not isinstance(
        raw.get("attribute"), str
    ):
        raise RulesError(f"{where}: needs 'platform' and 'attribute' strings")
    if '"' in raw["attribute"]:
        raise RulesError(f"{where}: attribute names cannot contain '\"'")
    return RuleSide(platform=raw["platform"], attribute=raw["attribute"])


def load_rules(path: Path) -> tuple[Rule, ...]:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"rules file {path}: {exc}") from exc
    raw_rules = document.get("rules", []) if isinstance(document, dict) else None
    if not isinstance(raw_rules, list):
        raise RulesError(f"rules file {path}: expected a mapping with a 'rules' list")
    rules = []
    for i, raw in enumerate(raw_rules):
        where = f"rules file {path}: rules[{i}]"
        if not isinstance(raw, dict):
            raise RulesError(f"{where}: must be a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise RulesError(f"{where}: 'name' must be letters, digits, '_', '.' or '-'")
        window = raw.get("window_seconds")
        confidence = raw.get("confidence", 0.9)
        if window is not None and (not isinstance(window, int | float) or window <= 0):
            raise RulesError(f"{where}: 'window_seconds' must be a positive number")
        if not isinstance(confidence, int | float) or not 0 < confidence <= 1:
            raise RulesError(f"{where}: 'confidence' must be in (0, 1]")
        rules.append(
            Rule(
                name=name,
                source=_side(raw.get("from"), f"{where}.from"),
                target=_side(raw.get("to"), f"{where}.to"),
                window_seconds=None if window is None else float(window),
                confidence=float(confidence),
            )
        )
    if len({r.name for r in rules}) != len(rules):
        raise RulesError(f"rules file {path}: rule names must be unique")
    return tuple(rules)
