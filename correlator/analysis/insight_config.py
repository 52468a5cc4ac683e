"""Insight thresholds: one frozen section per rule, every value with a default, all overridable.

``InsightConfig.from_mapping`` reads overrides from YAML already loaded into a mapping, keyed by
rule ID (docs/insights.md lists every key)::

    slow_handoff: {warning_ms: 3000}
    many_legs: {enabled: false}

Every section has ``enabled``. Threshold pairs are named ``warning_<unit>`` / ``critical_<unit>``
and compare strictly (a value *beyond* the threshold triggers; for MOS, below it). A mistake —
an unknown rule or key, a wrong type, a negative number, a critical threshold milder than the
warning one — is an ``InsightConfigError`` (a ``ValueError``) that names it, so a bad file stops startup instead of silently
changing what is detected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar


class InsightConfigError(ValueError):
    """The insights configuration cannot be used; the message says which rule and key, and why."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Toggle:
    """A rule with nothing to tune."""

    enabled: bool = True


# --- technical -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class DroppedDuringTransfer:
    enabled: bool = True
    window_s: float = 30.0
    """A drop counts as during the transfer when the sending leg drops within this long after the
    transfer began, or the receiving leg drops this soon after it started (before any queue,
    agent or AI picked the call up)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class HandoffFailed:
    enabled: bool = True
    window_s: float = 120.0
    """How long after a transfer the next leg must have begun. Raise it when the receiving platform
    only reports late (Connect contact records without EventBridge contact events)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SlowHandoff:
    enabled: bool = True
    warning_ms: float = 8000.0
    critical_ms: float = 15000.0


@dataclass(frozen=True, kw_only=True, slots=True)
class LowMos:
    lower_is_worse: ClassVar[bool] = True
    enabled: bool = True
    warning_mos: float = 3.5
    critical_mos: float = 2.5
    platform_flags: bool = True
    """Also report a platform's own low-MOS flag (Twilio Voice Insights ``low_mos``) on spans
    without a MOS value."""


@dataclass(frozen=True, kw_only=True, slots=True)
class HighJitter:
    enabled: bool = True
    warning_ms: float = 30.0
    critical_ms: float = 60.0
    platform_flags: bool = True
    """Also report Connect ``HighJitterBuffer`` / Twilio ``high_jitter`` on spans without a jitter value."""


@dataclass(frozen=True, kw_only=True, slots=True)
class HighPacketLoss:
    enabled: bool = True
    warning_pct: float = 1.0
    critical_pct: float = 2.5
    platform_flags: bool = True
    """Also report Connect ``HighPacketLoss`` / Twilio ``high_packet_loss`` on spans without a loss value."""


@dataclass(frozen=True, kw_only=True, slots=True)
class HighRtt:
    enabled: bool = True
    warning_ms: float = 300.0
    critical_ms: float = 500.0
    platform_flags: bool = True
    """Also report Connect ``HighRoundTripTime`` / Twilio ``high_latency`` on spans without an RTT value."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OneWayAudio:
    enabled: bool = True
    silent_turns: int = 3
    """Consecutive AI turns in which the customer was not heard at all (the AI spoke again with no
    customer speech between) before the conversation counts as one-way audio."""


@dataclass(frozen=True, kw_only=True, slots=True)
class HighTurnLatency:
    enabled: bool = True
    warning_ms: float = 2500.0
    critical_ms: float = 4000.0


@dataclass(frozen=True, kw_only=True, slots=True)
class DataPending:
    enabled: bool = True
    amazon_connect_wait_s: float = 1800.0
    """How long after a contact ends its contact record may still arrive (usually 5–20 min)."""
    twilio_wait_s: float = 2400.0
    """How long after a call ends its complete Voice Insights summary may still arrive (up to 30 min)."""


# --- operational -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class LongQueueWait:
    enabled: bool = True
    warning_s: float = 180.0
    critical_s: float = 600.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SlowAgentConnection:
    enabled: bool = True
    warning_s: float = 10.0
    critical_s: float = 15.0


@dataclass(frozen=True, kw_only=True, slots=True)
class EndedOnHold:
    enabled: bool = True
    resume_tolerance_s: float = 1.0
    """A resume this close to the end of the agent's span is the hold ending with the call
    (Genesys closes a final hold segment at the disconnect)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ManyLegs:
    enabled: bool = True
    max_legs: int = 4
    """More legs than this is many."""


@dataclass(frozen=True, kw_only=True, slots=True)
class IvrLoop:
    enabled: bool = True
    max_node_visits: int = 2
    """Visiting one menu node (``cx.ivr.menu.path``) more often than this is a loop."""
    max_retries: int = 2
    """More no-input / no-match retries (``cx.ivr.retry_count``) than this is a loop."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RepeatCaller:
    enabled: bool = True
    window_h: float = 24.0


# --- conversational -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AiHandedOffEarly:
    enabled: bool = True
    first_turns: int = 3
    """The request for a human must come within this many customer turns."""
    phrases: tuple[str, ...] = (
        "agent", "human", "representative", "operator", "real person", "live person", "actual person",
        "speak to someone", "talk to someone",
    )  # fmt: skip
    """Whole words or phrases (case-insensitive) that ask for a human."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ContextLost:
    enabled: bool = True
    verification_phrases: tuple[str, ...] = (
        "account number", "date of birth", "verify", "verification", "security question", "postcode",
        "post code", "zip code", "pin", "passcode", "last four digits", "confirm your identity",
    )  # fmt: skip
    """Whole words or phrases in the AI's turns that show it collected identification."""
    auth_steps: tuple[str, ...] = (
        "auth", "verif", "identif", "idv", "pin", "passcode", "security question", "account number",
        "date of birth", "dob",
    )  # fmt: skip
    """Word beginnings that mark an IVR menu node or flow as an identification step."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadAir:
    enabled: bool = True
    warning_s: float = 10.0
    critical_s: float = 20.0


@dataclass(frozen=True, kw_only=True, slots=True)
class InterruptionBurst:
    enabled: bool = True
    count: int = 3
    """Interrupted turns (``cx.turn.end_reason = interrupted``) …"""
    window_s: float = 30.0
    """… within this long make a burst."""
    conversation_count: int = 6
    """Without per-turn end reasons: at least this many interruptions in the conversation
    (``cx.ai.interruption_count``)."""


# --- all of them ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class InsightConfig:
    """Every rule's settings; field names are rule IDs (``insights.RULES``)."""

    call_dropped: Toggle = Toggle()
    call_dropped_during_transfer: DroppedDuringTransfer = DroppedDuringTransfer()
    handoff_failed: HandoffFailed = HandoffFailed()
    slow_handoff: SlowHandoff = SlowHandoff()
    low_mos: LowMos = LowMos()
    high_jitter: HighJitter = HighJitter()
    high_packet_loss: HighPacketLoss = HighPacketLoss()
    high_rtt: HighRtt = HighRtt()
    one_way_audio: OneWayAudio = OneWayAudio()
    high_turn_latency: HighTurnLatency = HighTurnLatency()
    data_pending: DataPending = DataPending()
    abandoned_in_queue: Toggle = Toggle()
    long_queue_wait: LongQueueWait = LongQueueWait()
    slow_agent_connection: SlowAgentConnection = SlowAgentConnection()
    ended_on_hold: EndedOnHold = EndedOnHold()
    many_legs: ManyLegs = ManyLegs()
    transfer_loop: Toggle = Toggle()
    ivr_loop: IvrLoop = IvrLoop()
    repeat_caller: RepeatCaller = RepeatCaller()
    ai_handed_off_early: AiHandedOffEarly = AiHandedOffEarly()
    context_lost_at_handoff: ContextLost = ContextLost()
    dead_air: DeadAir = DeadAir()
    interruption_burst: InterruptionBurst = InterruptionBurst()

    def enabled(self, rule: str) -> bool:
        return bool(getattr(self, rule).enabled)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> InsightConfig:
        """The defaults with ``data``'s overrides (``{rule: {key: value}}``); ``InsightConfigError`` on any mistake."""
        if not isinstance(data, Mapping):
            raise InsightConfigError(f"insights config: expected a mapping of rule IDs to settings, got {type(data).__name__}")
        defaults = cls()
        rules = [f.name for f in fields(cls)]
        changes: dict[str, Any] = {}
        for rule, overrides in data.items():
            if rule not in rules:
                raise InsightConfigError(f"insights config: unknown rule {rule!r} (rules: {', '.join(rules)})")
            if not isinstance(overrides, Mapping):
                raise InsightConfigError(f"insights config: {rule} must be a mapping of settings, got {type(overrides).__name__}")
            changes[rule] = _section(rule, getattr(defaults, rule), overrides)
        return replace(defaults, **changes)


def _section(rule: str, section: Any, overrides: Mapping[str, Any]) -> Any:
    known = {f.name: getattr(section, f.name) for f in fields(section)}
    values = {}
    for key, value in overrides.items():
        if key not in known:
            raise InsightConfigError(f"insights config: {rule}: unknown key {key!r} (keys: {', '.join(known)})")
        values[key] = _coerce(f"{rule}.{key}", known[key], value)
    updated = replace(section, **values)
    lower_is_worse = getattr(type(section), "lower_is_worse", False)
    for name in known:
        if name.startswith("warning_") and (twin := "critical_" + name.removeprefix("warning_")) in known:
            warning, critical = getattr(updated, name), getattr(updated, twin)
            if (critical > warning) if lower_is_worse else (critical < warning):
                relation = "at most" if lower_is_worse else "at least"
                raise InsightConfigError(f"insights config: {rule}.{twin} ({critical}) must be {relation} {name} ({warning})")
    return updated


def _coerce(where: str, default: Any, value: Any) -> Any:
    """``value`` as the type of ``default``, or a ``ValueError`` saying what was expected."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InsightConfigError(f"insights config: {where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InsightConfigError(f"insights config: {where} must be a whole number ≥ 0, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise InsightConfigError(f"insights config: {where} must be a number ≥ 0, got {value!r}")
        return float(value)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InsightConfigError(f"insights config: {where} must be a list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)
