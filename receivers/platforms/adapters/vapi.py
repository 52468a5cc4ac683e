"""Vapi: Server URL messages (``{"message": {"type": ..., "call": {...}}}``) → spans.

Payloads (cx-platforms.md §7): ``status-update`` (the call's root span so far), ``transfer-update``
(a ``handoff`` span) and ``end-of-call-report`` (the final root span, one ``turn`` span per spoken
message of ``artifact.messages`` with its latencies from ``artifact.performanceMetrics.turnLatencies``,
and a ``handoff`` span per ``artifact.transfers[]``). Other message types are counted as ignored.
One POST holds one message; a JSON array of messages is accepted too.

Interaction ID: ``call.id``. ``record_version`` = message rank (status-update < transfer-update <
end-of-call-report) × 10^13 + the message ``timestamp`` (epoch ms), so the end-of-call report
replaces what the status updates said, and a late status update never overwrites it.

Mapping: ``endedReason`` → ``cx.disconnect.reason`` / ``cx.disconnect.initiator`` / ``cx.ai.outcome``
(system failures — pipeline, transport, SIP, failed transfers — also set error status and
``error.type`` = the ``endedReason``); the native value stays in ``vapi.ended_reason``. ``cost`` →
``cx.ai.cost_usd``; ``analysis.structuredData.intent`` (when the assistant's analysis plan extracts
one) → ``cx.ai.intent.name``. Turn latencies: ``turnLatency`` → e2e, ``endpointingLatency``,
``transcriberLatency`` → stt, ``voiceLatency`` → tts, ``modelLatency`` → llm (ms), the k-th entry on
the k-th assistant message that answers a customer message. End-of-call report handoffs are
placed at ``endedAt`` (the report carries no transfer time); a ``transfer-update`` has its own.

Correlation keys: ``phoneCallProviderId`` (+ ``phoneCallProvider``) or ``transport.callSid`` →
``cx.peer.platform.name`` / ``cx.peer.interaction.id`` (the Twilio CallSid, Vonage or Telnyx ID);
``customer.number`` → ``cx.telephony.ani.number``; the Vapi number (inbound) →
``cx.telephony.dnis.number``; transfer ``destination`` → ``cx.transfer.target``; UUI / journey
token / traceparent in the transfer's ``sipHeaders`` or in ``variableValues`` / ``metadata``.

Signature: Vapi sends the configured Server URL secret in the ``x-vapi-secret`` header (or as a
bearer token with credential-based auth); ``verify`` compares it in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from journeytrace import semconv
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.adapters import _voice_ai as ai
from journeytrace.receivers.platforms.model import BadPayload, Parsed, SpanDraft
from journeytrace.receivers.platforms.payloads import as_list, get, require, require_object
from journeytrace.receivers.platforms.registry import JSON, NDJSON, Adapter

PLATFORM = "vapi"
VAPI_ENDED_REASON = "vapi.ended_reason"  # platform-native: Vapi's endedReason as sent
VAPI_STATUS = "vapi.status"  # platform-native: status of a status-update

_RANK = {"status-update": 1, "transfer-update": 2, "end-of-call-report": 3}
_ROLES = {"user": "customer", "bot": "agent", "assistant": "agent"}
_PEER_PROVIDERS = {"twilio": "twilio", "vonage": "vonage", "telnyx": "telnyx"}
_TRANSFER_ERRORS = {"failed": "transfer_failed", "no-answer": "target_unreachable", "busy": "transfer_rejected"}
_NOT_TRANSFERRED = {*_TRANSFER_ERRORS, "cancelled", "voicemail"}
_LATENCY_FIELDS = {
    "e2e": "turnLatency", "endpointing": "endpointingLatency", "stt": "transcriberLatency",
    "tts": "voiceLatency", "llm": "modelLatency",
}  # fmt: skip

_ABANDONED = ai.Ending("customer_disconnect", "customer", "abandoned")
_ENDINGS = {
    "customer-ended-call": ai.CUSTOMER_HANGUP,
    "call.in-progress.twilio-completed-call": ai.CUSTOMER_HANGUP,
    "call.in-progress.sip-completed-call": ai.CUSTOMER_HANGUP,
    "vonage-completed": ai.CUSTOMER_HANGUP,
    "customer-ended-call-before-warm-transfer": _ABANDONED,
    "customer-ended-call-after-warm-transfer-attempt": _ABANDONED,
    "customer-ended-call-during-transfer": _ABANDONED,
    "call.ringing.sip-inbound-caller-hungup-before-call-connect": _ABANDONED,
    "customer-busy": ai.NOT_CONNECTED,
    "customer-did-not-answer": ai.NOT_CONNECTED,
    "customer-did-not-give-microphone-permission": ai.NOT_CONNECTED,
    "twilio-reported-customer-misdialed": ai.NOT_CONNECTED,
    "assistant-said-end-call-phrase": ai.AI_HANGUP,
    "call.ringing.hook-executed-say": ai.AI_HANGUP,
    "call.ending.hook-executed-say": ai.AI_HANGUP,
    "assistant-forwarded-call": ai.AI_TRANSFER,
    "call.ringing.hook-executed-transfer": ai.AI_TRANSFER,
    "call.ending.hook-executed-transfer": ai.AI_TRANSFER,
    "silence-timed-out": ai.Ending("ai_disconnect", "ai", "abandoned"),
    "voicemail": ai.Ending("ai_disconnect", "ai"),
    "exceeded-max-duration": ai.Ending("expired", "system"),
    "manually-canceled": ai.Ending("api", "system"),
}


def ending(reason: str) -> ai.Ending:
    """``endedReason`` (~600 values, call-ended-reason.mdx) in our vocabulary: exact values first,
    then the families by their documented prefixes and words."""
    if reason in _ENDINGS:
        return _ENDINGS[reason]
    if reason.startswith("assistant-ended-call"):
        return ai.AI_HANGUP
    if "transfer" in reason or reason == "call.forwarding.operator-busy":
        return ai.Ending("other", "system", "failed", reason)
    if (reason == "phone-call-provider-closed-websocket" or reason.startswith(("twilio-", "vonage-"))
            or "sip" in reason or "transport" in reason):  # fmt: skip
        return ai.Ending("telecom_problem", "network", "failed", reason)
    if any(word in reason for word in ("error", "failed", "fault")) or reason.startswith(
        ("pipeline-", "assistant-not-", "assistant-request-", "assistant-join-", "worker-")
    ):
        return ai.Ending("other", "system", "failed", reason)
    return ai.Ending("other")


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """Every message of the body (one object, or an array) → spans; nothing is returned unless all parse."""
    spans: list[SpanDraft] = []
    ignored = 0
    for item in as_list(native):
        body = require_object(item, "vapi server message")
        message = require_object(require(body, "message"), "message")
        kind = require(body, "message.type")
        handler = _HANDLERS.get(str(kind))
        if handler is None:
            ignored += 1
            continue
        require_object(require(body, "message.call"), "message.call")
        require(body, "message.call.id")
        spans.extend(handler(message, options))
    return Parsed(spans, ignored)


def _call_id(message: Mapping[str, Any]) -> str:
    return str(get(message, "call.id"))


def _version(message: Mapping[str, Any]) -> int:
    stamp = ai.number(get(message, "timestamp"))
    return _RANK[str(get(message, "type"))] * ai.VERSION_RANK + (int(stamp) if stamp is not None else 0)


def _time(value: Any, field: str) -> int | None:
    return None if value is None or value == "" else times.any_time(value, field=field)


def _first_time(message: Mapping[str, Any], paths: tuple[str, ...]) -> int | None:
    for path in paths:
        value = _time(get(message, path), path)
        if value is not None:
            return value
    return None


def _span_times(message: Mapping[str, Any]) -> tuple[int, int]:
    start = _first_time(message, ("startedAt", "call.startedAt", "call.createdAt", "timestamp"))
    if start is None:
        raise BadPayload(f"vapi call {_call_id(message)}: required field 'message.call.createdAt' is missing")
    end = _first_time(message, ("endedAt", "call.endedAt", "timestamp"))
    return start, max(start, end if end is not None else start)


def _direction(call_type: Any) -> str | None:
    return {"inboundPhoneCall": "inbound", "outboundPhoneCall": "outbound"}.get(str(call_type))


def _root_attributes(message: Mapping[str, Any]) -> dict[str, Any]:
    call_type = get(message, "call.type")
    direction = _direction(call_type)
    provider = str(get(message, "call.phoneCallProvider", "")).lower()
    provider_keys = ai.peer(_PEER_PROVIDERS.get(provider), get(message, "call.phoneCallProviderId"))
    if not provider_keys and str(get(message, "call.transport.provider", "")).lower() == "twilio":
        provider_keys = ai.peer("twilio", get(message, "call.transport.callSid"))
    variables: dict[str, Any] = {}
    for path in ("call.metadata", "call.assistantOverrides.variableValues", "artifact.variableValues"):
        found = get(message, path)
        variables.update(found if isinstance(found, Mapping) else {})
    assistant = get(message, "assistant") or get(message, "call.assistant") or {}
    customer = get(message, "customer.number") or get(message, "call.customer.number")
    dialled = get(message, "phoneNumber.number") or get(message, "call.phoneNumber.number")
    return {
        semconv.CX_CHANNEL: "web" if call_type == "webCall" else "voice",
        semconv.GEN_AI_AGENT_ID: get(message, "call.assistantId") or get(assistant, "id"),
        semconv.GEN_AI_AGENT_NAME: get(assistant, "name"),
        semconv.GEN_AI_REQUEST_MODEL: get(assistant, "model.model"),
        semconv.CX_TELEPHONY_ANI_NUMBER: ai.phone(customer),
        semconv.CX_TELEPHONY_DNIS_NUMBER: ai.phone(dialled) if direction == "inbound" else None,
        **ai.merge_keys(provider_keys, ai.correlation_keys(variables=variables)),
    }  # fmt: skip


def _status_update(message: Mapping[str, Any], _options: Mapping[str, str]) -> list[SpanDraft]:
    """The root span as the call stands; it ends at the update (or at ``endedAt`` once ended)."""
    start, end = _span_times(message)
    reason = get(message, "endedReason") or get(message, "call.endedReason")
    attributes = {**_root_attributes(message), VAPI_STATUS: get(message, "status"), VAPI_ENDED_REASON: reason}
    return [ai.root_draft(
        PLATFORM, _call_id(message), start, end, direction=_direction(get(message, "call.type")),
        attributes=attributes, ending=ending(str(reason)) if reason else None, version=_version(message),
    )]  # fmt: skip


def _destination(destination: Any) -> tuple[str, str | None, dict[str, Any]]:
    """``(to type, target, handoff attributes)`` of a TransferDestination (number, sip or assistant)."""
    kind = str(get(destination, "type", ""))
    plan_mode = str(get(destination, "transferPlan.mode", ""))
    attrs: dict[str, Any] = {semconv.CX_HANDOFF_MODE: _mode(plan_mode)}
    if kind == "assistant":
        return "ai", get(destination, "assistantName"), attrs
    if kind == "sip":
        verb = str(get(destination, "transferPlan.sipVerb", "refer")).lower()
        attrs[semconv.CX_HANDOFF_METHOD] = {"refer": "sip_refer", "dial": "sip_invite"}.get(verb)
        attrs.update(ai.correlation_keys(headers=get(destination, "sipHeaders")))
        return "external", ai.transfer_target(get(destination, "sipUri")), attrs
    attrs[semconv.CX_HANDOFF_METHOD] = "pstn_transfer" if kind == "number" else None
    return "external", ai.transfer_target(get(destination, "number")), attrs


def _mode(mode: str) -> str | None:
    return "warm" if mode.startswith("warm") else "cold" if mode.startswith("blind") else None


def _handoff(message: Mapping[str, Any], destination: Any, at: int, seen: dict[str, int],
             status: str | None = None, mode: str | None = None) -> SpanDraft:  # fmt: skip
    """A handoff span keyed by its target (the n-th transfer to the same target gets ``#n``), so
    the transfer-update and the end-of-call report of one transfer are the same span."""
    to_type, target, attrs = _destination(destination)
    if mode:
        attrs[semconv.CX_HANDOFF_MODE] = _mode(mode)
    name = target or "unknown"
    seen[name] = seen.get(name, 0) + 1
    key = f"transfer:{name}" + (f"#{seen[name]}" if seen[name] > 1 else "")
    return ai.handoff_draft(
        PLATFORM, _call_id(message), key, at, to_type=to_type, target=target, attributes=attrs,
        error_type=_TRANSFER_ERRORS.get(status or ""), version=_version(message),
    )  # fmt: skip


def _transfer_update(message: Mapping[str, Any], _options: Mapping[str, str]) -> list[SpanDraft]:
    at = _first_time(message, ("timestamp",))
    if at is None:
        raise BadPayload(f"vapi call {_call_id(message)}: required field 'message.timestamp' is missing")
    return [_handoff(message, get(message, "destination") or {}, at, {})]


def _turns(message: Mapping[str, Any], start: int, text: bool) -> tuple[list[SpanDraft], list[str]]:
    """Turn spans from the spoken messages, and every spoken message's role (timed or not)."""
    messages = get(message, "artifact.messages") or get(message, "messages") or []
    spoken = [(m, _ROLES[str(get(m, "role"))]) for m in as_list(messages)
              if isinstance(m, Mapping) and str(get(m, "role")) in _ROLES]  # fmt: skip
    roles = [role for _, role in spoken]
    per_turn = as_list(get(message, "artifact.performanceMetrics.turnLatencies"))
    series = {name: [get(t, field) for t in per_turn] for name, field in _LATENCY_FIELDS.items()}
    latencies = ai.latencies_for_responses(roles, series)
    drafts = []
    for index, (spoken_message, role) in enumerate(spoken):
        begin = _time(get(spoken_message, "time"), "artifact.messages.time")
        offset = ai.number(get(spoken_message, "secondsFromStart"))
        if begin is None and offset is not None:
            begin = start + round(offset * ai.S)
        if begin is None:
            continue  # no timing: counted in cx.ai.turn_count, no span
        end = _time(get(spoken_message, "endTime"), "artifact.messages.endTime") or begin
        said = get(spoken_message, "message", "")
        drafts.append(ai.turn_draft(
            PLATFORM, _call_id(message), index + 1, begin, end, role=role,
            said=said if role == "customer" else None, answered=said if role == "agent" else None,
            latencies=latencies.get(index), text=text, version=_version(message),
        ))  # fmt: skip
    return drafts, roles


def _end_of_call_report(message: Mapping[str, Any], options: Mapping[str, str]) -> list[SpanDraft]:
    start, end = _span_times(message)
    turns, roles = _turns(message, start, ai.include_text(options))
    reason = get(message, "endedReason") or get(message, "call.endedReason")
    transfers = [t for t in as_list(get(message, "artifact.transfers")) if isinstance(t, Mapping)]
    seen: dict[str, int] = {}
    handoffs = [_handoff(message, get(t, "destination") or {}, end, seen, get(t, "status"), get(t, "mode"))
                for t in transfers]  # fmt: skip
    if not transfers and get(message, "call.destination") and reason == "assistant-forwarded-call":
        handoffs.append(_handoff(message, get(message, "call.destination"), end, seen))
    statuses = [get(t, "status") for t in transfers] or [None] * len(handoffs)
    transferred = any(status not in _NOT_TRANSFERRED for status in statuses)
    has_messages = bool(get(message, "artifact.messages") or get(message, "messages"))
    success = str(get(message, "analysis.successEvaluation", "")).lower()
    settled = ai.settle(
        ending(str(reason)), customer_turns=roles.count("customer") if has_messages else None,
        unsuccessful=success == "false", transferred=transferred,
    ) if reason else None  # fmt: skip
    metrics = get(message, "artifact.performanceMetrics") or {}
    interruptions = [ai.number(get(metrics, k)) for k in ("numUserInterrupted", "numAssistantInterrupted")]
    intent = get(message, "analysis.structuredData.intent")
    attributes = {
        **_root_attributes(message),
        VAPI_ENDED_REASON: reason,
        semconv.CX_AI_TURN_COUNT: len(roles) if has_messages else None,
        semconv.CX_AI_INTERRUPTION_COUNT: int(sum(n for n in interruptions if n is not None))
        if any(n is not None for n in interruptions) else None,
        semconv.CX_AI_INTENT_NAME: intent if isinstance(intent, str) else None,
        semconv.CX_AI_COST_USD: ai.number(get(message, "cost", get(message, "call.cost"))),
    }  # fmt: skip
    root = ai.root_draft(
        PLATFORM, _call_id(message), start, end, direction=_direction(get(message, "call.type")),
        attributes=attributes, ending=settled, version=_version(message),
    )  # fmt: skip
    return [root, *turns, *handoffs]


_HANDLERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, str]], list[SpanDraft]]] = {
    "status-update": _status_update,
    "transfer-update": _transfer_update,
    "end-of-call-report": _end_of_call_report,
}


def verify(headers: Mapping[str, str], body: bytes, url: str, secret: str) -> str | None:
    """The Server URL secret, sent verbatim in ``x-vapi-secret`` (or ``Authorization: Bearer``)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    sent = lowered.get("x-vapi-secret")
    if sent is None:
        authorization = lowered.get("authorization", "")
        sent = authorization[7:] if authorization.lower().startswith("bearer ") else None
    if sent is None:
        return "missing x-vapi-secret header"
    if not hmac.compare_digest(sent.encode(), secret.encode()):
        return "x-vapi-secret does not match"
    return None


ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    content_types=(JSON, NDJSON),
    verify=verify,
    description="Vapi Server URL messages: status-update, transfer-update, end-of-call-report",
)
