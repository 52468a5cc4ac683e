"""PolyAI: Conversations API v3 records (polled) → spans.

Payloads (cx-platforms.md §6): one ``Conversation`` object, a JSON array of them, or the API's
page ``{"conversations": [...], "cursor": ...}`` as returned. Each becomes an ``ai_conversation``
root span (``started_at`` → ``started_at`` + ``total_duration`` seconds), one ``turn`` span per
``turns[]`` entry (a PolyAI turn is one exchange: the customer's input, then the agent's
response; it runs from ``user_input_datetime`` — or ``agent_response_datetime`` when the customer
said nothing — to the next turn, the last one to the end of the PolyAI portion), and a ``handoff``
span at ``started_at`` + ``polyai_duration`` when ``handoff`` is true.

Interaction ID: the conversation ``id``. The record has no update time or sequence number, so
spans are not versioned: a re-poll of the same conversation replaces it by span ID (the latest
delivery wins on read).

Mapping: turn ``latency`` (s) → ``cx.turn.latency.e2e_ms``; the turn's first ``intents[]`` →
``cx.ai.intent.name`` on the turn, and ``metrics.intent`` (else the first intent of the call) on
the root; ``is_ood`` / ``is_silence`` → ``polyai.turn.*``; the text of ``user_input`` /
``agent_response`` is never recorded, only its length (``?include_text=true`` adds it). DTMF
digits are never recorded. ``cx.ai.outcome``: none while ``in_progress``, ``handoff`` when handed
off, ``abandoned`` when the customer never said anything, else ``resolved``. PolyAI reports no
disconnect reason, so ``cx.disconnect.reason`` is not set.

Correlation keys: ``from_number`` (the caller) → ``cx.telephony.ani.number`` and ``to_number``
→ ``cx.telephony.dnis.number`` (swapped roles for ``direction`` = ``outbound``);
``handoff_destination`` → ``cx.transfer.target``; SIP headers PolyAI received (``sip_headers``,
when the project copies them into the record or its ``state``: ``Call-ID`` → ``sip.call_id``,
``X-User-to-User`` → ``cx.telephony.uui``, ``x-inin-cnv`` → Genesys, ``X-Amzn-ConnectContactId``
→ Amazon Connect, ``X-Twilio-CallSid`` → Twilio) and ``state`` variables (``connect_contact_id``,
``sip_call_id``, ``uui``, ``cx_journey_id``, … — PolyAI's Connect integration asks for the
ContactId to be written into a variable). When nothing else names a foreign ID and the ``id`` has
the shape of a Twilio CallSid (``CA`` + 32 hex), it is taken as the Twilio CallSid of the call
(cx-platforms.md §6.c: likely, unconfirmed). PolyAI has no webhook signature (it is polled).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from journeytrace import semconv
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.adapters import _voice_ai as ai
from journeytrace.receivers.platforms.model import Parsed, SpanDraft
from journeytrace.receivers.platforms.payloads import as_list, get, require, require_object
from journeytrace.receivers.platforms.registry import JSON, NDJSON, Adapter

PLATFORM = "polyai"
POLYAI_ENVIRONMENT = "polyai.environment"  # platform-native: live, sandbox, pre-release
POLYAI_TURN_OOD = "polyai.turn.is_ood"  # platform-native: input understood as out of domain
POLYAI_TURN_SILENCE = "polyai.turn.is_silence"  # platform-native: the customer said nothing

_TWILIO_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """Every conversation of the body → spans; nothing is returned unless all parse."""
    records = get(native, "conversations") if isinstance(native, Mapping) and "conversations" in native else native
    spans: list[SpanDraft] = []
    for item in as_list(records):
        spans.extend(_conversation_spans(require_object(item, "polyai conversation"), ai.include_text(options)))
    return Parsed(spans)


def _time(value: Any, field: str) -> int | None:
    return None if value is None or value == "" else times.any_time(value, field=field)


def _seconds(record: Mapping[str, Any], field: str, start: int) -> int | None:
    value = ai.number(get(record, field))
    return None if value is None else start + round(value * ai.S)


def _conversation_spans(record: Mapping[str, Any], text: bool) -> list[SpanDraft]:
    conversation_id = str(require(record, "id", "polyai conversation"))
    start = times.any_time(require(record, "started_at", f"polyai conversation {conversation_id}"), field="started_at")
    turns = [t for t in as_list(get(record, "turns")) if isinstance(t, Mapping)]
    turn_starts = [
        _time(get(t, "user_input_datetime"), "turns.user_input_datetime")
        or _time(get(t, "agent_response_datetime"), "turns.agent_response_datetime")
        for t in turns
    ]
    latest = max([start, *(s for s in turn_starts if s is not None)])
    end = _seconds(record, "total_duration", start) or latest
    polyai_end = _seconds(record, "polyai_duration", start) or end
    handed_off = get(record, "handoff") is True

    spans = [_root(record, conversation_id, start, end, turns, handed_off)]
    for index, (turn, begin) in enumerate(zip(turns, turn_starts, strict=True)):
        if begin is None:
            continue  # no timing: counted in cx.ai.turn_count, no span
        following = next((s for s in turn_starts[index + 1:] if s is not None), None)
        spans.append(_turn(conversation_id, index + 1, turn, begin, following or max(polyai_end, begin), text))
    if handed_off:
        spans.append(ai.handoff_draft(
            PLATFORM, conversation_id, "handoff", polyai_end, to_type="human",
            target=ai.transfer_target(get(record, "handoff_destination")),
            attributes={semconv.CX_HANDOFF_REASON: get(record, "handoff_reason")},
        ))  # fmt: skip
    return spans


def _outcome(record: Mapping[str, Any], turns: list[Mapping[str, Any]], handed_off: bool) -> ai.Ending | None:
    if get(record, "in_progress") is True:
        return None
    if handed_off:
        return ai.Ending(outcome="handoff")
    if turns:
        spoke = any(get(t, "user_input") or get(t, "user_input_dtmf") for t in turns)
    else:
        spoke = (ai.number(get(record, "num_turns")) or 0) > 0  # transcripts withheld: trust the count
    return ai.Ending(outcome="resolved" if spoke else "abandoned")


def _first_intent(turns: list[Mapping[str, Any]]) -> str | None:
    for turn in turns:
        intents = [i for i in as_list(get(turn, "intents")) if isinstance(i, str) and i]
        if intents:
            return intents[0]
    return None


def _root(record: Mapping[str, Any], conversation_id: str, start: int, end: int,
          turns: list[Mapping[str, Any]], handed_off: bool) -> SpanDraft:  # fmt: skip
    direction = str(get(record, "direction", "")).lower() or None
    outbound = direction == "outbound"
    channel = str(get(record, "channel", "")).upper()
    metric_intent = get(record, "metrics.intent")
    headers = get(record, "sip_headers") or get(record, "state.sip_headers")
    guessed_peer = ai.peer("twilio", conversation_id) if _TWILIO_CALL_SID.fullmatch(conversation_id) else {}
    turn_count = ai.number(get(record, "num_turns"))
    attributes = {
        semconv.CX_CHANNEL: "voice" if channel.startswith("VOICE") else "chat" if "CHAT" in channel else None,
        semconv.GEN_AI_AGENT_ID: get(record, "project_id"),
        POLYAI_ENVIRONMENT: get(record, "environment"),
        semconv.CX_TELEPHONY_ANI_NUMBER: ai.phone(get(record, "to_number" if outbound else "from_number")),
        semconv.CX_TELEPHONY_DNIS_NUMBER: None if outbound else ai.phone(get(record, "to_number")),
        **ai.merge_keys(ai.correlation_keys(headers=headers, variables=get(record, "state")), guessed_peer),
        semconv.CX_AI_TURN_COUNT: int(turn_count) if turn_count is not None else len(turns) or None,
        semconv.CX_AI_INTENT_NAME: metric_intent if isinstance(metric_intent, str) else _first_intent(turns),
    }
    return ai.root_draft(
        PLATFORM, conversation_id, start, end, direction=direction, attributes=attributes,
        ending=_outcome(record, turns, handed_off),
    )  # fmt: skip


def _turn(conversation_id: str, number: int, turn: Mapping[str, Any], begin: int, end: int, text: bool) -> SpanDraft:
    latency = ai.number(get(turn, "latency"))
    intents = [i for i in as_list(get(turn, "intents")) if isinstance(i, str) and i]
    return ai.turn_draft(
        PLATFORM, conversation_id, number, begin, end, role=None,
        said=get(turn, "user_input", ""), answered=get(turn, "agent_response", ""),
        latencies={"e2e": latency * 1000} if latency is not None and get(turn, "user_input_datetime") else None,
        text=text,
        attributes={
            semconv.CX_AI_INTENT_NAME: intents[0] if intents else None,
            POLYAI_TURN_OOD: get(turn, "is_ood") if isinstance(get(turn, "is_ood"), bool) else None,
            POLYAI_TURN_SILENCE: get(turn, "is_silence") if isinstance(get(turn, "is_silence"), bool) else None,
        },
    )  # fmt: skip


ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    content_types=(JSON, NDJSON),
    description="PolyAI Conversations API v3 records (one, an array, or {conversations: [...]})",
)
