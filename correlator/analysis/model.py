"""What analysis produces: insights and summaries, as plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Category = Literal["technical", "operational", "conversational"]
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")


@dataclass(frozen=True, kw_only=True, slots=True)
class Insight:
    """One detected issue or notable event of a journey.

    ``span_id`` names the span it is about (the journey root's span ID for journey-wide
    insights); ``value`` and ``threshold`` are in ``unit`` (None for yes/no rules).
    """

    rule: str  # stable rule ID, e.g. "slow_handoff"
    category: Category
    severity: Severity
    span_id: str
    explanation: str  # one line, for people
    value: float | None = None
    threshold: float | None = None
    unit: str | None = None  # "ms", "%", "count", "mos", ...
    platform: str | None = None
    queue: str | None = None
    agent: str | None = None
    flow: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Evaluation:
    """The insights of a journey at one moment, and when they could change without new data.

    Rules that depend on time passing (a handoff that never began, a record still expected)
    set ``recheck_at_unix_nano``; the analysis worker re-evaluates the journey then.
    """

    insights: tuple[Insight, ...]
    recheck_at_unix_nano: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Summary:
    """A journey's summary: one paragraph plus the facts it was written from."""

    text: str
    intent: str | None
    key_events: tuple[str, ...]
    outcome: str | None
    source: Literal["facts", "llm"] = "facts"
    model: str | None = None
    platforms: tuple[str, ...] = field(default_factory=tuple)
