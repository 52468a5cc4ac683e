"""Every journey's summary, written from its facts: deterministic, offline and free of PII.

A CX manager reading a journey wants four things before any span: why the customer got in
touch, where they went (platforms and the handoffs between them, with how long each took), what
happened on the way (queue waits, agents, holds, failed transfers, drops, what the insight rules
flagged) and how it ended. ``summarize`` writes that as two to four sentences plus the key events
as short strings in time order; the same journey always gives the same text, so it can be stored
and compared, and it is the fallback whenever the optional LLM summarizer (``llm.py``) fails.

Only values that are names (platforms, intents, menu nodes, flows, queues) or numbers we compute
(durations, counts) reach the text, and a name that looks like data (a phone number, an e-mail
address, a long number: see ``redact``) is left out. Customer numbers, transfer targets, agent
names, platform-native attributes and turn texts are never read.

``fingerprint`` hashes what materially changes a summary, so a summary written by a model is
asked for again only when the journey changes in a way a reader would notice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from journeytrace.correlator.analysis import journey_view
from journeytrace.correlator.analysis.model import SEVERITIES, Insight, Summary

from journeytrace import semconv

# What each span type means to a reader, as the role a leg plays and as a handoff endpoint
# (the vocabulary of cx.handoff.from.type / to.type).
_ROLE_OF_TYPE = {"ivr": "ivr", "ai_conversation": "ai", "queue": "queue", "agent_interaction": "human"}
_ROLE_LABELS = {"ivr": "IVR", "ai": "AI agent", "queue": "queue", "human": "agent"}
_HANDOFF_LABELS = {"ivr": "IVR", "ai": "AI", "queue": "queue", "human": "human", "external": "external"}

_OUTCOME_LABELS = {
    "resolved": "resolved",
    "transferred_external": "transferred outside the contact center",
    "callback_scheduled": "callback scheduled",
    "abandoned": "abandoned by the customer",
    "dropped": "call dropped",
    "unknown": "unknown",
}
_QUEUE_EXITS = {
    "answered": "answered", "abandoned": "customer hung up", "callback_requested": "callback requested",
    "overflow": "overflowed", "timeout": "timed out", "transferred": "transferred",
}  # fmt: skip

_ERROR = "STATUS_CODE_ERROR"
_TELECOM_PROBLEM = "telecom_problem"
_HOLD_EVENT = "cx.agent.hold"
_NO_ANSWER_EVENT = "cx.agent.no_answer"
_MAX_TEXT_EVENTS = 5
"""Events named in the paragraph itself; ``key_events`` keeps them all."""
_MAX_TEXT_ISSUES = 3
_MAX_LABEL = 80
_CLOCK_SKEW_NANO = 5_000_000_000
"""A transfer reported this long after the next leg began still led to it: platforms' clocks differ."""


# --- redaction ---------------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
# A run of digits that may be broken by the separators people write numbers with: "+1 (415)
# 555-0100", "4111 1111 1111 1111", "020 7946 0958". Letters end a run, so IDs and hashes stay.
_DIGITS = re.compile(r"(?<!\w)\+?\(?\d(?:[\s().\-/]{0,3}\d)+")


def _replace_digits(match: re.Match[str]) -> str:
    found = match.group()
    digits = sum(c.isdigit() for c in found)
    if digits < 7:  # times, amounts, short codes and postcodes are not identifying
        return found
    separated = not found.isdigit()
    if found.startswith("+") or (separated and digits <= 12) or digits in (10, 11):
        return "[phone]"
    return "[number]"  # card-like (13-19 digits), account numbers, other long runs


def redact(text: str) -> str:
    """``text`` without phone numbers, e-mail addresses, card-like or other long numbers.

    Phone numbers (E.164 or national formats) become ``[phone]``, addresses ``[email]``, and any
    other run of seven or more digits ``[number]``; shorter numbers (times, amounts, postcodes)
    stay. It errs on the side of removing: a long date or an IP address is removed too.
    """
    return _DIGITS.sub(_replace_digits, _EMAIL.sub("[email]", text))


def _label(value: Any) -> str | None:
    """``value`` when it is a short name that ``redact`` leaves alone, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > _MAX_LABEL or redact(value) != value:
        return None
    return value


def _words(name: str) -> str:
    """A snake_case name as words: ``billing_dispute`` → ``billing dispute``."""
    return name.replace("_", " ")


def platform_label(name: str | None) -> str:
    """How a platform is named in summaries: ``amazon_connect`` → ``Amazon Connect``."""
    if name in journey_view.PLATFORM_LABELS:
        return journey_view.PLATFORM_LABELS[name]
    return _words(_label(name) or "an unknown platform")


# --- reading the journey -----------------------------------------------------------------------


def _attributes(span: Mapping[str, Any]) -> Mapping[str, Any]:
    return span.get("attributes") or {}


def _span_type(span: Mapping[str, Any]) -> str | None:
    return _attributes(span).get(semconv.CX_SPAN_TYPE)


def _platform(span: Mapping[str, Any]) -> str | None:
    name = _attributes(span).get(semconv.CX_PLATFORM_NAME)
    return name or (span.get("resource_attributes") or {}).get(semconv.CX_PLATFORM_NAME)


def _start(span: Mapping[str, Any]) -> int:
    return int(span.get("start_unix_nano") or 0)


def _in_order(spans: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    """Spans by start time, ties broken by span ID: the same order however they were read."""
    return tuple(sorted(spans, key=lambda s: (_start(s), s.get("span_id") or "")))


def _end(span: Mapping[str, Any]) -> int:
    return int(span.get("end_unix_nano") or 0) or _start(span)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _role(span: Mapping[str, Any]) -> str | None:
    role = _ROLE_OF_TYPE.get(_span_type(span) or "")
    if role == "human" and _attributes(span).get(semconv.CX_AGENT_TYPE) == "ai":
        return "ai"
    return role


def _leg_numbers(spans: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Each span's leg: the ``cx.leg.number`` of its nearest ancestor (or itself) that has one.

    Spans outside every leg (the journey root, handoffs inferred between legs) have none.
    """
    by_id = {s.get("span_id"): s for s in spans}
    found: dict[str, int | None] = {}
    for span_id in by_id:
        chain: list[str] = []
        number: int | None = None
        current = span_id
        while current in by_id and current not in chain:
            if current in found:
                number = found[current]
                break
            chain.append(current)
            leg = _attributes(by_id[current]).get(semconv.CX_LEG_NUMBER)
            if isinstance(leg, int):
                number = leg
                break
            current = by_id[current].get("parent_span_id") or ""
        found.update(dict.fromkeys(chain, number))
    return {span_id: number for span_id, number in found.items() if number is not None}


@dataclass(frozen=True, slots=True)
class _Leg:
    number: int
    platform: str | None
    start: int
    roles: tuple[str, ...]  # ivr, ai, queue, human: in the order the leg reached them

    def label(self) -> str:
        roles = ", ".join(_ROLE_LABELS[r] for r in self.roles)
        return f"{platform_label(self.platform)} ({roles})" if roles else platform_label(self.platform)


@dataclass(frozen=True, slots=True)
class _Handoff:
    source: str | None  # platforms
    target: str | None
    kinds: tuple[str | None, str | None]  # handoff types, e.g. ("ai", "human")
    mode: str | None
    latency_ms: float | None
    at: int

    def label(self) -> str:
        details = [kinds] if (kinds := _kinds_label(*self.kinds)) else []
        if self.mode in ("warm", "cold"):
            details.append(self.mode)
        if self.latency_ms is not None:
            details.append(_duration(int(self.latency_ms * 1e6)))
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{platform_label(self.source)} → {platform_label(self.target)}{suffix}"


@dataclass(frozen=True, slots=True)
class _Event:
    at: int
    text: str
    prose: bool  # named in the paragraph, not only in key_events


@dataclass(frozen=True, slots=True)
class _Journey:
    spans: tuple[Mapping[str, Any], ...]  # in start order
    leg_of: dict[str, int]
    legs: tuple[_Leg, ...]

    @classmethod
    def read(cls, journey: Mapping[str, Any]) -> _Journey:
        spans = _in_order(journey.get("spans") or ())
        leg_of = _leg_numbers(spans)
        roles: dict[int, list[str]] = {}
        for span in spans:
            role, leg = _role(span), leg_of.get(span.get("span_id") or "")
            if role and leg is not None and role not in roles.setdefault(leg, []):
                roles[leg].append(role)
        legs = tuple(
            _Leg(int(leg["leg"]), leg.get("platform"), int(leg.get("start_unix_nano") or 0),
                 tuple(roles.get(int(leg["leg"]), ())))
            for leg in sorted(journey.get("legs") or (), key=lambda leg: leg["leg"])
        )  # fmt: skip
        return cls(spans, leg_of, legs)

    def leg(self, span: Mapping[str, Any]) -> int | None:
        return self.leg_of.get(span.get("span_id") or "")


def _handoffs(view: _Journey) -> tuple[list[_Handoff], list[_Event]]:
    """One handoff per pair of consecutive legs, and the reported transfers that led nowhere.

    A platform's own handoff span (in the leg it left) says what kind of handoff it was; the
    handoff journeytrace inferred between the legs says how long the next leg took to start.
    Without either, the kinds are the roles the two legs played.
    """
    inferred, reported = [], []
    for span in view.spans:
        if _span_type(span) == "handoff":
            synthetic = _attributes(span).get(semconv.CX_HANDOFF_SYNTHETIC) is True
            (inferred if synthetic else reported).append(span)
    used: set[str] = set()
    found = []
    for before, after in itertools.pairwise(view.legs):
        own = [s for s in reported if view.leg(s) == before.number and _start(s) <= after.start + _CLOCK_SKEW_NANO]
        report = own[-1] if own else None
        between = [s for s in inferred
                   if _attributes(s).get(semconv.CX_HANDOFF_FROM_PLATFORM) == before.platform
                   and _attributes(s).get(semconv.CX_HANDOFF_TO_PLATFORM) == after.platform]  # fmt: skip
        guess = min(between, key=lambda s: abs(_end(s) - after.start), default=None)
        stated = (_number(_attributes(s).get(semconv.CX_HANDOFF_LATENCY_MS)) for s in (guess, report) if s)
        latency = next((ms for ms in stated if ms is not None), None)
        if latency is None and report is not None:
            latency = max(0.0, (after.start - _end(report)) / 1e6)
        if report is not None:
            used.add(report.get("span_id") or "")
            attrs = _attributes(report)
            kinds = (attrs.get(semconv.CX_HANDOFF_FROM_TYPE), attrs.get(semconv.CX_HANDOFF_TO_TYPE))
            mode = attrs.get(semconv.CX_HANDOFF_MODE)
        else:
            kinds = (before.roles[-1] if before.roles else None, after.roles[0] if after.roles else None)
            mode = None
        found.append(_Handoff(before.platform, after.platform, kinds, mode, latency, after.start))
    last = view.legs[-1].number if view.legs else None
    dangling = [
        _Event(_start(s), f"{_transfer(s)} did not reach another leg", True)
        for s in reported if last is not None and view.leg(s) == last
        and (s.get("span_id") or "") not in used and s.get("status_code") != _ERROR
    ]  # fmt: skip
    return found, dangling


def _kinds_label(source: Any, target: Any) -> str | None:
    """``AI → human``; None unless both ends are known kinds."""
    if source in _HANDOFF_LABELS and target in _HANDOFF_LABELS:
        return f"{_HANDOFF_LABELS[source]} → {_HANDOFF_LABELS[target]}"
    return None


def _transfer(span: Mapping[str, Any]) -> str:
    """``Transfer from Vapi (AI → human)``: a handoff span as the start of a sentence."""
    attrs = _attributes(span)
    kinds = _kinds_label(attrs.get(semconv.CX_HANDOFF_FROM_TYPE), attrs.get(semconv.CX_HANDOFF_TO_TYPE))
    return f"Transfer from {platform_label(_platform(span))}" + (f" ({kinds})" if kinds else "")


# --- what it says ------------------------------------------------------------------------------


def _intent(spans: Sequence[Mapping[str, Any]]) -> tuple[str | None, str]:
    """The reason for contact, and how the first sentence puts it.

    The AI's intent is the customer's own words classified; lacking one, the deepest IVR menu
    choice, then the flow or the queue they were routed to, stand in for it.
    """
    for span_type in ("ai_conversation", "turn"):
        for span in spans:
            if _span_type(span) == span_type and (name := _label(_attributes(span).get(semconv.CX_AI_INTENT_NAME))):
                return name, f"about {_words(name)}"
    for span in spans:
        path = _attributes(span).get(semconv.CX_IVR_MENU_PATH)
        nodes = [n for n in map(_label, path) if n] if isinstance(path, list) else []
        if nodes:
            return nodes[-1], f"and chose {' > '.join(map(_words, nodes))} in the IVR menu"
    for attribute, phrase in ((semconv.CX_IVR_FLOW_NAME, "through the {} flow"),
                              (semconv.CX_QUEUE_NAME, "for the {} queue")):  # fmt: skip
        for span in spans:
            if name := _label(_attributes(span).get(attribute)):
                return name, phrase.format(name)
    return None, "for an unknown reason"


def _events(view: _Journey, handoffs: Sequence[_Handoff], insights: Sequence[Insight]) -> list[_Event]:
    events = [_Event(h.at, f"Handoff {h.label()}", False) for h in handoffs]
    for span in view.spans:
        where = platform_label(_platform(span))
        kind = _span_type(span)
        if kind == "ai_conversation":
            events += _conversation(view, span, where)
        elif kind == "queue":
            events.append(_queue(span))
        elif kind == "agent_interaction":
            events += _agent(span, where)
        events += [_Event(int(e.get("time_unix_nano") or _start(span)), "An agent did not answer", True)
                   for e in span.get("events") or () if e.get("name") == _NO_ANSWER_EVENT]  # fmt: skip
        events += _failures(span, where)
    starts = {s.get("span_id"): _start(s) for s in view.spans}
    for found in insights:
        text = f"{found.severity.capitalize()}: {redact(found.explanation)}"
        events.append(_Event(starts.get(found.span_id, 0), text, False))
    return events


def _conversation(view: _Journey, span: Mapping[str, Any], where: str) -> list[_Event]:
    turns = _number(_attributes(span).get(semconv.CX_AI_TURN_COUNT))
    if turns is None:
        turns = sum(1 for s in view.spans if _span_type(s) == "turn" and s.get("parent_span_id") == span.get("span_id"))
    if not turns:
        return []
    took = _duration(_end(span) - _start(span))
    return [_Event(_start(span), f"AI agent on {where}: {int(turns)} turns in {took}", False)]


def _queue(span: Mapping[str, Any]) -> _Event:
    attrs = _attributes(span)
    waited = _number(attrs.get(semconv.CX_QUEUE_WAIT_DURATION))
    wait = _duration(int(waited * 1e9) if waited is not None else _end(span) - _start(span))
    name = _label(attrs.get(semconv.CX_QUEUE_NAME))
    text = f"Waited {wait} in the {name} queue" if name else f"Waited {wait} in a queue"
    exit_reason = _QUEUE_EXITS.get(attrs.get(semconv.CX_QUEUE_EXIT_REASON) or "")
    return _Event(_start(span), f"{text} ({exit_reason})" if exit_reason else text, True)


def _agent(span: Mapping[str, Any], where: str) -> list[_Event]:
    attrs = _attributes(span)
    who = "AI agent" if _role(span) == "ai" else "Agent"
    events = [_Event(_start(span), f"{who} on {where} talked {_duration(_end(span) - _start(span))}", True)]
    holds = _number(attrs.get(semconv.CX_AGENT_HOLD_COUNT))
    if holds is None:
        holds = sum(1 for e in span.get("events") or () if e.get("name") == _HOLD_EVENT)
    if holds:
        held = _number(attrs.get(semconv.CX_AGENT_HOLD_DURATION_MS))
        total = f", {_duration(int(held * 1e6))} in all" if held else ""
        times = "time" if holds == 1 else "times"
        events.append(_Event(_start(span), f"Put on hold {int(holds)} {times}{total}", True))
    return events


def _failures(span: Mapping[str, Any], where: str) -> list[_Event]:
    """A drop, a failed transfer or call, or another error the span reports."""
    attrs, kind = _attributes(span), _span_type(span)
    if attrs.get(semconv.CX_DISCONNECT_REASON) == _TELECOM_PROBLEM:
        return [_Event(_end(span), f"Call dropped on {where} (telecom problem)", True)]
    sip = _number(attrs.get(semconv.SIP_RESPONSE_STATUS_CODE))
    if span.get("status_code") != _ERROR and (sip is None or sip < 400):
        return []
    reason = f"SIP {int(sip)}" if sip is not None and sip >= 400 else None
    reason = reason or _label(span.get("status_message")) or _label(attrs.get(semconv.ERROR_TYPE))
    because = f" ({reason})" if reason else ""
    if kind == "handoff":
        return [_Event(_start(span), f"{_transfer(span)} failed{because}", True)]
    if kind == "telephony":
        return [_Event(_end(span), f"Call on {where} failed{because}", True)]
    role = _ROLE_LABELS.get(_role(span) or "")
    return [_Event(_end(span), f"Error on {where}{' ' + role if role else ''}{because}", True)]


def _duration(nanos: int) -> str:
    """Under a second in ms, else as the insights write it (``journey_view.duration``)."""
    if nanos < 1_000_000_000:
        return f"{max(nanos, 0) // 1_000_000} ms"
    return journey_view.duration(nanos / 1e9)


def _series(items: Sequence[str], limit: int) -> str:
    shown = list(items[:limit])
    if len(items) > limit:
        shown.append(f"{len(items) - limit} more")
    return "; ".join(shown)


def summarize(journey: Mapping[str, Any], insights: Sequence[Insight] = ()) -> Summary:
    """The journey's summary: why, where, what happened, how it ended."""
    view = _Journey.read(journey)
    intent, reason = _intent(view.spans)
    handoffs, dangling = _handoffs(view)
    events = sorted(_events(view, handoffs, insights) + dangling, key=lambda e: e.at)
    events = list({e.text: e for e in reversed(events)}.values())[::-1]  # first occurrence of each text wins
    channel = next((c for s in view.spans if (c := _label(_attributes(s).get(semconv.CX_CHANNEL)))), "voice")
    contact = "called" if channel == "voice" else f"got in touch by {_words(channel)}"
    sentences = [f"The customer {contact} {reason}."]

    duration = _duration(int(journey.get("duration_nano") or 0))
    if len(view.legs) > 1:
        path = " → ".join(leg.label() for leg in view.legs)
        moves = [h.label() for h in handoffs]
        joined = ", ".join(moves[:-1]) + f" and {moves[-1]}" if len(moves) > 1 else moves[0]
        handoff_word = "handoffs" if len(moves) > 1 else "handoff"
        sentences.append(f"It went {path} over {duration}, with {handoff_word} {joined}.")
    elif view.legs:
        sentences.append(f"It stayed on {view.legs[0].label()} for {duration}.")
    else:
        sentences.append("No platform has reported any part of it yet.")

    happened = [e.text for e in events if e.prose]
    if happened:
        sentences.append(_series(happened, _MAX_TEXT_EVENTS) + ".")

    outcome = journey.get("outcome")
    if outcome is None:
        ending = "not known yet" if journey.get("status") == "in_progress" else "not reported"
    else:
        ending = _OUTCOME_LABELS.get(outcome) or _label(outcome) or "unknown"
    flagged = sorted((i for i in insights if i.severity != "info"), key=lambda i: -SEVERITIES.index(i.severity))
    issues = [f"{redact(i.explanation)} ({i.severity})" for i in flagged]
    sentences.append(f"Outcome: {ending}" + (f"; flagged: {_series(issues, _MAX_TEXT_ISSUES)}." if issues else "."))
    return Summary(
        text=" ".join(sentences),
        intent=intent,
        key_events=tuple(e.text for e in events),
        outcome=outcome,
        platforms=tuple(journey.get("platforms") or ()),
    )


def fingerprint(journey: Mapping[str, Any], insights: Sequence[Insight] = ()) -> str:
    """A short hash of what a summary rests on, to ask a model again only when it changes.

    The journey's ID, legs, outcome, status, intent, what was flagged, the spans of each type and
    the errors count exactly; AI turns only by order of magnitude, so a conversation still
    streaming its turns does not ask for a new summary at every turn. The ID makes it a cache
    key of its own: two journeys of the same shape still get summaries of their own.
    """
    spans = journey.get("spans") or ()
    types = Counter(_span_type(s) or "" for s in spans)
    turns = types.pop("turn", 0)
    queues = [s for s in spans if _span_type(s) == "queue"]
    material = {
        "journey": journey.get("journey_id"),
        "legs": [leg.get("platform") for leg in sorted(journey.get("legs") or (), key=lambda leg: leg["leg"])],
        "outcome": journey.get("outcome"),
        "status": journey.get("status"),
        "intent": _intent(_in_order(spans))[0],
        "insights": sorted({(i.rule, i.severity) for i in insights}),
        "spans": sorted(types.items()),
        "turns": turns.bit_length(),
        "errors": sum(1 for s in spans if s.get("status_code") == _ERROR),
        "queue_exits": sorted({str(_attributes(s).get(semconv.CX_QUEUE_EXIT_REASON)) for s in queues}),
    }
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]
