"""Bland AI: the post-call webhook body / ``GET /v1/calls/{id}`` call object → spans.

Payloads (cx-platforms.md §8): one call object, a JSON array of them, or ``{"calls": [...]}``.
Each becomes an ``ai_conversation`` root span (``started_at`` → ``started_at`` +
``corrected_duration`` seconds, else + ``call_length`` minutes), one ``turn`` span per spoken
``transcripts[]`` entry (``user`` → customer, ``assistant`` / ``robot`` → agent; ``agent-action``
entries are actions, not speech, and are skipped), ordered by ``created_at`` and each running to
the next one, and a ``handoff`` span at ``transferred_at`` when ``transferred_to`` is set.

Interaction ID: ``call_id`` (``c_id`` when ``call_id`` is absent). Bland has no update time or
sequence number, so spans are not versioned: a re-delivery replaces itself by span ID.

Mapping: ``call_ended_by`` (``USER`` / ``ASSISTANT``) → ``cx.disconnect.reason`` / ``.initiator``;
``cx.ai.outcome`` = ``handoff`` when transferred, ``failed`` (error status, ``error.type`` =
``call_failed``) when ``error_message`` is set or ``status`` is ``failed``/``error``, none when
the call never connected (``no-answer``, ``busy``, ``canceled``) or reached voicemail, else
``resolved`` — or ``abandoned`` when the customer hung up without saying anything. ``price`` →
``cx.ai.cost_usd``; ``analysis.intent`` (when the analysis schema extracts one) →
``cx.ai.intent.name``; ``pathway_id`` → ``gen_ai.agent.id``. Native values stay in ``bland.*``.
The text of ``summary``, ``transcripts`` and ``concatenated_transcript`` is never recorded.

Correlation keys: the customer's number (``from`` inbound, ``to`` outbound; written with its
``+country`` code from ``variables`` when the top-level field lacks it) → ``cx.telephony.ani.number``;
the Bland number (inbound ``to``) → ``cx.telephony.dnis.number``; ``transferred_to`` →
``cx.transfer.target`` (so the next leg links by number and time); a journey token, SIP Call-ID,
UUI, Twilio CallSid or Connect contact ID injected into ``metadata`` / ``request_data`` /
``variables`` under the names in ``_voice_ai`` (``cx_journey_id``, ``sip_call_id``, ``uui``,
``twilio_call_sid``, ``connect_contact_id``, …). Bland does not sign its webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from journeytrace import semconv
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.adapters import _voice_ai as ai
from journeytrace.receivers.platforms.model import BadPayload, Parsed, SpanDraft
from journeytrace.receivers.platforms.payloads import as_list, get, require_object
from journeytrace.receivers.platforms.registry import JSON, NDJSON, Adapter

PLATFORM = "bland"
BLAND_CALL_ENDED_BY = "bland.call_ended_by"  # platform-native, as sent
BLAND_STATUS = "bland.status"  # platform-native: status / queue_status
BLAND_ANSWERED_BY = "bland.answered_by"  # platform-native: human, voicemail, …

_ROLES = {"user": "customer", "assistant": "agent", "robot": "agent"}
_ENDED_BY = {"USER": ai.CUSTOMER_HANGUP, "ASSISTANT": ai.AI_HANGUP}
_NOT_CONNECTED = {"no-answer", "busy", "canceled", "cancelled"}
_FAILED = {"failed", "error"}


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """Every call object of the body → spans; nothing is returned unless all parse."""
    calls = native.get("calls") if isinstance(native, Mapping) and isinstance(native.get("calls"), list) else native
    spans: list[SpanDraft] = []
    for item in as_list(calls):
        spans.extend(_call_spans(require_object(item, "bland call"), ai.include_text(options)))
    return Parsed(spans)


def _time(call: Mapping[str, Any], field: str) -> int | None:
    value = get(call, field)
    return None if value is None or value == "" else times.any_time(value, field=field)


def ending(call: Mapping[str, Any]) -> ai.Ending | None:
    """How the call ended, or None while it is still queued or live."""
    status = str(get(call, "status") or get(call, "queue_status") or "").lower()
    ended_by = str(get(call, "call_ended_by", "")).upper()
    base = _ENDED_BY.get(ended_by)
    if get(call, "error_message") or status in _FAILED:
        return ai.Ending(base.disconnect if base else "other", base.initiator if base else "system", "failed",
                         "call_failed")  # fmt: skip
    if status in _NOT_CONNECTED:
        return ai.NOT_CONNECTED
    if not ended_by and get(call, "completed") is not True:
        return None
    base = base or ai.Ending("other")
    if str(get(call, "answered_by", "")).lower() == "voicemail":
        return ai.Ending(base.disconnect, base.initiator)
    return base


def _call_spans(call: Mapping[str, Any], text: bool) -> list[SpanDraft]:
    call_id = get(call, "call_id") or get(call, "c_id")
    if not call_id:
        raise BadPayload("bland call: required field 'call_id' is missing")
    call_id = str(call_id)
    start = _time(call, "started_at") or _time(call, "created_at")
    if start is None:
        raise BadPayload(f"bland call {call_id}: required field 'started_at' is missing")
    end = _end(call, start)
    turns, roles = _turns(call, call_id, _time(call, "transferred_at") or end, text)
    transferred_to = ai.transfer_target(get(call, "transferred_to"))
    settled = ending(call)
    if settled is not None:
        transcripts = [t for t in as_list(get(call, "transcripts")) if isinstance(t, Mapping)]
        settled = ai.settle(settled, customer_turns=roles.count("customer") if transcripts else None,
                            transferred=transferred_to is not None)  # fmt: skip
    spans = [_root(call, call_id, start, end, settled, len(roles) if get(call, "transcripts") else None), *turns]
    if transferred_to is not None:
        at = _time(call, "transferred_at") or end
        spans.append(ai.handoff_draft(
            PLATFORM, call_id, "transfer", at, to_type="external", target=transferred_to,
            attributes={semconv.CX_HANDOFF_METHOD: "pstn_transfer" if transferred_to.startswith("+") else None},
        ))  # fmt: skip
    return spans


def _end(call: Mapping[str, Any], start: int) -> int:
    """``corrected_duration`` (seconds, a string) or ``call_length`` (minutes) after the start;
    else the last transcript or transfer time. (``end_at`` is the scheduled cut-off, not the end.)"""
    seconds = ai.number(get(call, "corrected_duration"))
    minutes = ai.number(get(call, "call_length"))
    if seconds is not None:
        return start + round(seconds * ai.S)
    if minutes is not None:
        return start + round(minutes * 60 * ai.S)
    stamps = [_time(t, "created_at") for t in as_list(get(call, "transcripts")) if isinstance(t, Mapping)]
    return max([start, _time(call, "transferred_at") or start, *(s for s in stamps if s is not None)])


def _root(call: Mapping[str, Any], call_id: str, start: int, end: int, settled: ai.Ending | None,
          turn_count: int | None) -> SpanDraft:  # fmt: skip
    inbound = get(call, "inbound") is True
    direction = "inbound" if inbound else "outbound" if get(call, "inbound") is False else None
    customer_field = "from" if inbound else "to"
    customer = ai.with_plus(ai.phone(get(call, customer_field)), [get(call, f"variables.{customer_field}")])
    dialled = ai.with_plus(ai.phone(get(call, "to")), [get(call, "variables.to")]) if inbound else None
    variables: dict[str, Any] = {}
    for path in ("variables", "request_data", "metadata"):
        found = get(call, path)
        variables.update(found if isinstance(found, Mapping) else {})
    intent = get(call, "analysis.intent")
    attributes = {
        semconv.CX_CHANNEL: "voice",
        semconv.GEN_AI_AGENT_ID: get(call, "pathway_id"),
        semconv.CX_TELEPHONY_ANI_NUMBER: customer if direction else None,
        semconv.CX_TELEPHONY_DNIS_NUMBER: dialled,
        **ai.correlation_keys(variables=variables),
        BLAND_CALL_ENDED_BY: get(call, "call_ended_by"),
        BLAND_STATUS: get(call, "status") or get(call, "queue_status"),
        BLAND_ANSWERED_BY: get(call, "answered_by"),
        semconv.CX_AI_TURN_COUNT: turn_count,
        semconv.CX_AI_INTENT_NAME: intent if isinstance(intent, str) else None,
        semconv.CX_AI_COST_USD: ai.number(get(call, "price")),
    }
    return ai.root_draft(PLATFORM, call_id, start, end, direction=direction, attributes=attributes, ending=settled)


def _turns(call: Mapping[str, Any], call_id: str, end: int, text: bool) -> tuple[list[SpanDraft], list[str]]:
    """Turn spans, each from its ``created_at`` to the next spoken entry's (the last to ``end``:
    the transfer, else the call's end), and every spoken entry's role."""
    entries = [t for t in as_list(get(call, "transcripts")) if isinstance(t, Mapping) and str(get(t, "user")) in _ROLES]
    timed = sorted(
        ((_time(t, "created_at"), i, t) for i, t in enumerate(entries)),
        key=lambda item: (item[0] is None, item[0] or 0, item[1]),
    )
    roles = [_ROLES[str(get(t, "user"))] for _, _, t in timed]
    drafts = []
    for index, (begin, _, entry) in enumerate(timed):
        if begin is None:
            continue  # no timing: counted in cx.ai.turn_count, no span
        following = timed[index + 1][0] if index + 1 < len(timed) else None
        role = roles[index]
        said = get(entry, "text", "")
        drafts.append(ai.turn_draft(
            PLATFORM, call_id, index + 1, begin, following if following is not None else max(begin, end), role=role,
            said=said if role == "customer" else None, answered=said if role == "agent" else None, text=text,
        ))  # fmt: skip
    return drafts, roles


ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    content_types=(JSON, NDJSON),
    description="Bland AI call objects (post-call webhook, GET /v1/calls/{id})",
)
