"""One journey, as ``GET /api/journeys/{id}`` returns it, indexed the way the insight rules read it.

The rules ask the same questions over and over — which interaction a span belongs to, which
interaction came next after a transfer, which turns make up a conversation — so the answers are
computed here once, from the journey dict alone, and never from storage. Nothing here decides
whether something is an issue; that is the rules' job (``rules_*.py``).

Also here: what a rule produces (``Finding``, ``Recheck``) and the few formatting helpers every
explanation uses, so that all explanations read alike and none can carry a phone number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from journeytrace.correlator.analysis.model import Severity

from journeytrace import semconv

Span = Mapping[str, Any]

S = 1_000_000_000
MS = 1_000_000

STATUS_ERROR = "STATUS_CODE_ERROR"
EVENT_TRANSFER = "cx.transfer"
EVENT_AGENT_HOLD = "cx.agent.hold"
EVENT_AGENT_RESUME = "cx.agent.resume"
EVENT_AGENT_NO_ANSWER = "cx.agent.no_answer"
TWILIO_CALL_STATUS = "twilio.call.status"
TWILIO_DIAL_STATUS = "twilio.dial.status"
POLYAI_TURN_IS_SILENCE = "polyai.turn.is_silence"
TWILIO_UNCONNECTED = frozenset({"busy", "no-answer", "failed", "canceled"})
"""Twilio call / dial statuses of a call that never connected."""

STAGES = ("ivr", "queue", "agent_interaction", "ai_conversation")
"""Span types that put the customer somewhere (a transfer's destination can be one of them)."""
TRANSFER_TOLERANCE_NS = 5 * S
"""A leg that starts up to this long before a transfer's recorded time still follows it: platforms
stamp transfers at second precision and on their own clocks (the correlator's ``ani_time`` window
uses the same 5 s)."""

PLATFORM_LABELS = {
    "amazon_connect": "Amazon Connect", "twilio": "Twilio", "genesys_cloud": "Genesys Cloud",
    "nice_cxone": "NICE CXone", "polyai": "PolyAI", "vapi": "Vapi", "bland": "Bland", "retell": "Retell",
    "livekit": "LiveKit", "pipecat": "Pipecat", "asterisk": "Asterisk", "freeswitch": "FreeSWITCH",
    "five9": "Five9", "talkdesk": "Talkdesk", "sip": "SIP", "vonage": "Vonage", "telnyx": "Telnyx",
}  # fmt: skip
"""Display names of the platforms journeytrace has adapters for; summaries use them too."""
_PHONE_LIKE = re.compile(r"\+?\d[\d ().-]{5,}\d")
"""Seven or more digits, possibly spaced or punctuated: anything that could be a phone number."""


# --- what rules produce ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One insight as a rule states it; the engine adds the category and the span's context."""

    rule: str
    span_id: str
    severity: Severity
    explanation: str
    value: float | None = None
    threshold: float | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Recheck:
    """A rule's answer may change at this time without new data (a window closes)."""

    rule: str
    at_unix_nano: int


# --- reading spans ----------------------------------------------------------------------------------


def attr(span: Span, name: str) -> Any:
    return (span.get("attributes") or {}).get(name)


def span_type(span: Span) -> str | None:
    return attr(span, semconv.CX_SPAN_TYPE)


def platform_of(span: Span) -> str | None:
    return attr(span, semconv.CX_PLATFORM_NAME) or (span.get("resource_attributes") or {}).get(semconv.CX_PLATFORM_NAME)


def is_synthetic(span: Span) -> bool:
    """Spans journeytrace inferred on read (the journey root, handoffs between legs)."""
    return bool(span.get("synthetic")) or bool(attr(span, semconv.CX_HANDOFF_SYNTHETIC))


def start(span: Span) -> int:
    return int(span.get("start_unix_nano") or 0)


def end(span: Span) -> int:
    return max(start(span), int(span.get("end_unix_nano") or 0))


def is_error(span: Span) -> bool:
    return span.get("status_code") == STATUS_ERROR


def number(value: Any) -> float | None:
    """A numeric attribute as a float; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def texts(value: Any) -> tuple[str, ...]:
    """A string-array attribute (or a lone string) as a tuple of strings."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def events(span: Span, *names: str) -> list[Mapping[str, Any]]:
    """The span's events with one of ``names``, in time order."""
    found = [e for e in span.get("events") or [] if e.get("name") in names]
    return sorted(found, key=lambda e: int(e.get("time_unix_nano") or 0))


def dropped(span: Span) -> bool:
    """The span says the call dropped: a telecom-problem disconnect, or the outcome stated outright."""
    return (
        attr(span, semconv.CX_DISCONNECT_REASON) == "telecom_problem"
        or attr(span, semconv.CX_JOURNEY_OUTCOME) == "dropped"
    )


def never_connected(span: Span) -> bool:
    """A call leg that failed before it connected: zero length with an error, or a Twilio status saying so."""
    status = attr(span, TWILIO_CALL_STATUS)
    return status in TWILIO_UNCONNECTED or (end(span) == start(span) and is_error(span))


# --- formatting explanations --------------------------------------------------------------------------


def label(platform: str | None) -> str:
    """A platform's display name (``amazon_connect`` → ``Amazon Connect``)."""
    if not platform:
        return "an unnamed platform"
    return PLATFORM_LABELS.get(platform, platform)


def name_of(span: Span) -> str:
    """Who produced the span, for explanations: its platform's display name, else its service."""
    platform = platform_of(span)
    return label(platform) if platform else str(span.get("service_name") or "an unnamed service")


def duration(seconds: float) -> str:
    """``0.8 s``, ``45 s``, ``2 min 5 s``, ``1 h 3 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        minutes, rest = divmod(total, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(total // 60, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def figure(value: float) -> str:
    """A measured value without noise: ``33.7``, ``2``, ``0.25``."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def clean(text: str) -> str:
    """One line, with anything that could be a phone number masked (names and values come from
    platform data, and an explanation must never carry a customer's number)."""
    return _PHONE_LIKE.sub("[number]", " ".join(text.split()))


def level(value: float, warning: float, critical: float, *, lower_is_worse: bool = False) -> tuple[Severity, float] | None:
    """The severity ``value`` reaches and the threshold it crossed (strictly beyond it), or None."""
    levels: tuple[tuple[Severity, float], ...] = (("critical", critical), ("warning", warning))
    for severity, threshold in levels:
        if (value < threshold) if lower_is_worse else (value > threshold):
            return severity, threshold
    return None


# --- the journey ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interaction:
    """One platform interaction (``platform:interaction id``) and its spans, in start order."""

    key: tuple[str, str]
    platform: str | None
    spans: tuple[Span, ...]
    root: Span
    start: int
    end: int

    def of_type(self, *types: str) -> list[Span]:
        return [s for s in self.spans if span_type(s) in types]


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer a platform reported, and what followed it.

    ``next`` is the interaction that followed it, however late (``JourneyView._next_interaction``);
    ``continued`` the first IVR, queue, agent or AI span of the transferring interaction itself
    that began at the transfer or after (a transfer to a queue or agent inside one platform, as
    Genesys Cloud reports it); ``failure`` is why a platform says the transfer failed, None when
    none says so.
    """

    span: Span
    at: int
    source: Interaction
    next: Interaction | None
    continued: Span | None
    failure: str | None

    @property
    def followed_at(self) -> int | None:
        """When the customer's path went on after the transfer: the earlier of ``next`` and ``continued``."""
        times = [t for t in (self.next.start if self.next else None,
                             start(self.continued) if self.continued else None) if t is not None]  # fmt: skip
        return min(times, default=None)


class JourneyView:
    """A journey dict with the indexes the rules need; read-only, built once per evaluation."""

    def __init__(self, journey: Mapping[str, Any], *, now_unix_nano: int, previous_journey_id: str | None = None,
                 previous_journey_start_unix_nano: int | None = None) -> None:  # fmt: skip
        self.journey = journey
        self.now = now_unix_nano
        self.previous_journey_id = previous_journey_id
        self.previous_journey_start = previous_journey_start_unix_nano
        spans = [s for s in journey.get("spans") or [] if s.get("span_id")]
        self.spans: list[Span] = sorted(spans, key=lambda s: (start(s), str(s["span_id"])))
        self.by_id: dict[str, Span] = {str(s["span_id"]): s for s in self.spans}

    @property
    def start(self) -> int:
        return int(self.journey.get("start_unix_nano") or (start(self.spans[0]) if self.spans else 0))

    @cached_property
    def root_span_id(self) -> str:
        """The synthetic ``journey`` span's ID: journey-wide insights name it."""
        root = next((s for s in self.spans if span_type(s) == "journey"), None)
        if root is None:
            root = next((s for s in self.spans if not s.get("parent_span_id")), None)
        return str(root["span_id"]) if root is not None else str(self.journey.get("journey_id", ""))

    def of_type(self, *types: str) -> list[Span]:
        return [s for s in self.spans if span_type(s) in types and not is_synthetic(s)]

    # --- interactions ---

    def interaction_key(self, span: Span) -> tuple[str, str] | None:
        """The span's interaction as the correlator names it; None for synthetic spans."""
        if is_synthetic(span):
            return None
        platform = platform_of(span) or "otel"
        interaction_id = (
            attr(span, semconv.CX_PLATFORM_INTERACTION_ID) or attr(span, semconv.CX_ORIGINAL_TRACE_ID) or span.get("trace_id")
        )
        return platform, str(interaction_id)

    def interaction_of(self, span: Span) -> Interaction | None:
        key = self.interaction_key(span)
        return self.interactions.get(key) if key is not None else None

    @cached_property
    def interactions(self) -> dict[tuple[str, str], Interaction]:
        """Every interaction of the journey, in start order."""
        grouped: dict[tuple[str, str], list[Span]] = {}
        for span in self.spans:
            key = self.interaction_key(span)
            if key is not None:
                grouped.setdefault(key, []).append(span)
        found = []
        for key, members in grouped.items():
            ids = {str(s["span_id"]) for s in members}
            tops = [s for s in members if s.get("parent_span_id") not in ids]
            root = next((s for s in tops if attr(s, semconv.CX_LEG_NUMBER) is not None), tops[0] if tops else members[0])
            found.append(Interaction(
                key=key, platform=None if key[0] == "otel" else key[0], spans=tuple(members), root=root,
                start=min(start(s) for s in members), end=max(end(s) for s in members),
            ))  # fmt: skip
        found.sort(key=lambda i: (i.start, i.key))
        return {i.key: i for i in found}

    def leg_interactions(self, leg: Mapping[str, Any]) -> list[Interaction]:
        """The interactions of one entry of the journey's ``legs``."""
        keys = [(str(leg.get("platform")), str(i)) for i in leg.get("interaction_ids") or []]
        return [self.interactions[k] for k in keys if k in self.interactions]

    # --- transfers ---

    @cached_property
    def transfers(self) -> list[Transfer]:
        """Every transfer a platform reported, in time order.

        A transfer is a ``handoff`` span a platform sent (its start is the transfer's time), or,
        on an interaction that sent none, a span naming ``cx.transfer.target`` (the time of its
        ``cx.transfer`` event, else its end: the moment the correlator measures from).
        """
        found = []
        for interaction in self.interactions.values():
            handoffs = interaction.of_type("handoff")
            if handoffs:
                marks = [(s, start(s)) for s in handoffs]
            else:
                marks = []
                for span in interaction.spans:
                    moments = events(span, EVENT_TRANSFER)
                    if moments or attr(span, semconv.CX_TRANSFER_TARGET) is not None:
                        at = int(moments[0].get("time_unix_nano") or 0) if moments else end(span)
                        marks.append((span, at))
            for span, at in marks:
                following = self._next_interaction(interaction, at)
                continued = next((s for s in interaction.of_type(*STAGES)
                                  if s is not span and start(s) >= at - TRANSFER_TOLERANCE_NS), None)  # fmt: skip
                found.append(Transfer(span, at, interaction, following, continued, self._failure(span, following)))
        found.sort(key=lambda t: (t.at, str(t.span["span_id"])))
        return found

    def _next_interaction(self, source: Interaction, at: int) -> Interaction | None:
        """The first other interaction starting at (or just before) the transfer; failing that, one
        that began after the source and was still running then (a consult call the transfer completed)."""
        others = [i for i in self.interactions.values() if i.key != source.key]
        after = next((i for i in others if i.start >= at - TRANSFER_TOLERANCE_NS), None)
        if after is not None:
            return after
        return next((i for i in others if i.start >= source.start and i.end >= at - TRANSFER_TOLERANCE_NS), None)

    @staticmethod
    def _failure(span: Span, following: Interaction | None) -> str | None:
        if is_error(span):
            return str(attr(span, semconv.ERROR_TYPE) or span.get("status_message") or "error")
        if attr(span, TWILIO_DIAL_STATUS) in TWILIO_UNCONNECTED:
            return f"dial {attr(span, TWILIO_DIAL_STATUS)}"
        if following is not None and never_connected(following.root):
            why = following.root.get("status_message") or attr(following.root, TWILIO_CALL_STATUS) or "failed"
            return f"the receiving {name_of(following.root)} leg never connected ({why})"
        return None

    # --- conversations ---

    @cached_property
    def conversations(self) -> list[tuple[Span, list[Span]]]:
        """Each span that has ``turn`` children, with its turns in order (start, then turn number)."""
        grouped: dict[str, list[Span]] = {}
        for span in self.of_type("turn"):
            parent = str(span.get("parent_span_id") or "")
            if parent in self.by_id:
                grouped.setdefault(parent, []).append(span)
        result = []
        for parent_id, turns in grouped.items():
            turns.sort(key=lambda t: (start(t), number(attr(t, semconv.CX_TURN_NUMBER)) or 0.0, str(t["span_id"])))
            result.append((self.by_id[parent_id], turns))
        result.sort(key=lambda pair: (start(pair[0]), str(pair[0]["span_id"])))
        return result


# --- turns --------------------------------------------------------------------------------------------------


def role(turn: Span) -> str | None:
    """``customer``, ``agent`` (the AI), ``third_party``, or None for a turn holding both sides."""
    return attr(turn, semconv.CX_TURN_ROLE)


def customer_text(turn: Span) -> str | None:
    """What the customer said in the turn, when the text was kept (``?include_text=true``)."""
    text = attr(turn, semconv.CX_TURN_INPUT_TEXT) if role(turn) in (None, "customer") else None
    return text if isinstance(text, str) and text.strip() else None


def agent_text(turn: Span) -> str | None:
    """What the AI agent said in the turn, when the text was kept."""
    text = attr(turn, semconv.CX_TURN_OUTPUT_TEXT) if role(turn) in (None, "agent") else None
    return text if isinstance(text, str) and text.strip() else None


def customer_spoke(turn: Span) -> bool:
    """The customer said something in the turn (a silence marker or an empty input says not)."""
    if role(turn) not in (None, "customer") or attr(turn, POLYAI_TURN_IS_SILENCE) is True:
        return False
    if customer_text(turn) is not None:
        return True
    chars = number(attr(turn, semconv.CX_TURN_INPUT_CHAR_COUNT))
    if chars is not None:
        return chars > 0
    return role(turn) == "customer"  # a customer turn without counts exists because they spoke
