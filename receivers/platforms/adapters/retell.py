"""Retell AI: voice webhooks (``{"event": ..., "call": {PhoneCallResponse}}``) → spans.

Payloads (cx-platforms.md §9): ``call_started`` (the root span so far), ``call_ended`` and
``call_analyzed`` (the final root span, one ``turn`` span per ``transcript_object`` entry timed by
its words, and a ``handoff`` span when the call was transferred). Other events
(``transcript_updated``, ``transfer_*``, unknown names) are counted as ignored; one POST holds one
event, a JSON array of events is accepted too.

Interaction ID: ``call.call_id``. ``record_version`` = event rank (call_started < call_ended <
call_analyzed) × 10^13 + ``end_timestamp`` (else ``start_timestamp``, epoch ms), so later events
replace earlier ones for the same span whatever order they arrive in.

Mapping: ``start_timestamp`` → ``end_timestamp`` (epoch ms); word times are seconds from the call's
start. ``disconnection_reason`` → ``cx.disconnect.reason`` / ``.initiator`` / ``cx.ai.outcome``
(native value kept in ``retell.disconnection_reason``; system failures — dial/SIP/telephony
provider errors, ``error_*``, a cancelled transfer — also set error status and ``error.type`` =
the reason). A customer hang-up is ``abandoned`` when the customer never spoke or
``call_analysis.call_successful`` is false. ``latency.{e2e,asr,llm,tts}.values[]`` (ms, one per
agent response) → ``cx.turn.latency.*`` on the agent turns that answer a customer turn.
``call_cost.combined_cost`` (cents) → ``cx.ai.cost_usd``; ``call_analysis.custom_analysis_data.intent``
→ ``cx.ai.intent.name``. The handoff span is placed at ``end_timestamp`` (when the AI leg ended).

Correlation keys: ``telephony_identifier.twilio_call_sid`` → ``cx.peer.*`` (``twilio``); the
``custom_sip_headers`` (``x-twilio-callsid``, ``x-amzn-connectcontactid``, ``x-inin-cnv``,
``user-to-user``, ``x-cx-journey-id``, ``traceparent``) and the same keys in ``metadata`` /
dynamic variables; the customer's number (``from_number`` inbound, ``to_number`` outbound) →
``cx.telephony.ani.number``; the Retell number dialled (inbound) → ``cx.telephony.dnis.number``;
``transfer_destination`` → ``cx.transfer.target``.

Signature: ``x-retell-signature: v=<epoch ms>,d=<hex HMAC-SHA256(API key, body + epoch ms)>``,
accepted within 5 minutes of its timestamp (retell-python-sdk ``lib/webhook_auth.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any

from journeytrace import semconv
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.adapters import _voice_ai as ai
from journeytrace.receivers.platforms.model import BadPayload, Parsed, SpanDraft
from journeytrace.receivers.platforms.payloads import as_list, get, require, require_object
from journeytrace.receivers.platforms.registry import JSON, NDJSON, Adapter

PLATFORM = "retell"
RETELL_DISCONNECTION_REASON = "retell.disconnection_reason"  # platform-native, as sent
RETELL_CALL_STATUS = "retell.call_status"  # platform-native: registered, ongoing, ended, error

SIGNATURE_WINDOW_MS = 5 * 60 * 1000
_SIGNATURE = re.compile(r"v=(\d+),d=([0-9a-fA-F]+)")

_RANK = {"call_started": 1, "call_ended": 2, "call_analyzed": 3}
_ROLES = {"user": "customer", "agent": "agent", "transfer_target": "third_party"}
_LATENCY_FIELDS = {"e2e": "e2e", "stt": "asr", "llm": "llm", "tts": "tts"}
_TRANSFER_REASONS = {"call_transfer", "transfer_bridged", "transfer_cancelled"}

_SYSTEM_FAILURES = {
    "concurrency_limit_reached", "no_concurrency_fallback", "no_valid_payment", "registered_call_timeout",
}  # fmt: skip
_TELECOM_FAILURES = {
    "dial_failed", "invalid_destination", "sip_routing_error", "telephony_provider_permission_denied",
    "telephony_provider_unavailable",
}  # fmt: skip
_ENDINGS = {
    "user_hangup": ai.CUSTOMER_HANGUP,
    "agent_hangup": ai.AI_HANGUP,
    "call_transfer": ai.AI_TRANSFER,
    "transfer_bridged": ai.AI_TRANSFER,
    "transfer_cancelled": ai.Ending("other", "system", "failed", "transfer_cancelled"),
    "voicemail_reached": ai.Ending("ai_disconnect", "ai"),
    "ivr_reached": ai.Ending("ai_disconnect", "ai"),
    "inactivity": ai.Ending("ai_disconnect", "ai", "abandoned"),
    "max_duration_reached": ai.Ending("expired", "system"),
    "dial_busy": ai.NOT_CONNECTED,
    "dial_no_answer": ai.NOT_CONNECTED,
    "user_declined": ai.Ending("customer_disconnect", "customer"),
    "marked_as_spam": ai.Ending("other", "system"),
    "scam_detected": ai.Ending("ai_disconnect", "ai"),
    "manual_stopped": ai.Ending("api", "system"),
    "call_take_over": ai.Ending("barged", "agent", "handoff"),
}


def ending(reason: str) -> ai.Ending:
    """``disconnection_reason`` in our vocabulary (PhoneCallResponse enum, cx-platforms.md §9.b)."""
    if reason in _ENDINGS:
        return _ENDINGS[reason]
    if reason in _TELECOM_FAILURES:
        return ai.Ending("telecom_problem", "network", "failed", reason)
    if reason in _SYSTEM_FAILURES or reason.startswith("error"):
        return ai.Ending("other", "system", "failed", reason)
    return ai.Ending("other")


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """Every event of the body (one object, or an array) → spans; nothing is returned unless all parse."""
    spans: list[SpanDraft] = []
    ignored = 0
    for item in as_list(native):
        body = require_object(item, "retell webhook event")
        event = str(require(body, "event"))
        if event not in _RANK:
            ignored += 1
            continue
        call = require_object(require(body, "call"), "call")
        require(body, "call.call_id")
        spans.extend(_call_spans(event, call, options))
    return Parsed(spans, ignored)


def _ms(call: Mapping[str, Any], field: str) -> int | None:
    value = get(call, field)
    return None if value is None or value == "" else times.epoch(value, unit="ms", field=f"call.{field}")


def _call_spans(event: str, call: Mapping[str, Any], options: Mapping[str, str]) -> list[SpanDraft]:
    call_id = str(get(call, "call_id"))
    start = _ms(call, "start_timestamp")
    end = _ms(call, "end_timestamp")
    if start is None:
        if end is None:
            raise BadPayload(f"retell call {call_id}: required field 'call.start_timestamp' is missing")
        start = end  # a call that never connected (dial failed) has an end only
    end = max(start, end if end is not None else start)
    stamp = get(call, "end_timestamp") or get(call, "start_timestamp")
    version = _RANK[event] * ai.VERSION_RANK + int(float(stamp))

    turns, roles = _turns(call, call_id, start, ai.include_text(options), version)
    reason = get(call, "disconnection_reason")
    target = ai.transfer_target(get(call, "transfer_destination"))
    handed_off = event != "call_started" and (reason in _TRANSFER_REASONS or target is not None)
    settled = None
    if reason and event != "call_started":
        settled = ai.settle(
            ending(str(reason)), customer_turns=roles.count("customer") if get(call, "transcript_object") else None,
            unsuccessful=get(call, "call_analysis.call_successful") is False,
            transferred=handed_off and reason != "transfer_cancelled",
        )  # fmt: skip
    spans = [_root(call, call_id, start, end, settled, len(roles) if get(call, "transcript_object") else None, version)]
    spans.extend(turns)
    if handed_off:
        error_type = "transfer_cancelled" if reason == "transfer_cancelled" else None
        method = "pstn_transfer" if target and target.startswith("+") else None
        spans.append(ai.handoff_draft(
            PLATFORM, call_id, "transfer", end, to_type="external", target=target,
            attributes={semconv.CX_HANDOFF_METHOD: method}, error_type=error_type, version=version,
        ))  # fmt: skip
    return spans


def _root(call: Mapping[str, Any], call_id: str, start: int, end: int, settled: ai.Ending | None,
          turn_count: int | None, version: int) -> SpanDraft:  # fmt: skip
    direction = get(call, "direction")
    customer = get(call, "from_number") if direction == "inbound" else get(call, "to_number")
    variables: dict[str, Any] = {}
    for path in ("metadata", "retell_llm_dynamic_variables", "collected_dynamic_variables"):
        found = get(call, path)
        variables.update(found if isinstance(found, Mapping) else {})
    intent = get(call, "call_analysis.custom_analysis_data.intent")
    cost = ai.number(get(call, "call_cost.combined_cost"))
    attributes = {
        semconv.CX_CHANNEL: "web" if get(call, "call_type") == "web_call" else "voice",
        semconv.GEN_AI_AGENT_ID: get(call, "agent_id"),
        semconv.GEN_AI_AGENT_NAME: get(call, "agent_name"),
        semconv.CX_TELEPHONY_ANI_NUMBER: ai.phone(customer) if direction in ("inbound", "outbound") else None,
        semconv.CX_TELEPHONY_DNIS_NUMBER: ai.phone(get(call, "to_number")) if direction == "inbound" else None,
        **ai.merge_keys(
            ai.peer("twilio", get(call, "telephony_identifier.twilio_call_sid")),
            ai.correlation_keys(headers=get(call, "custom_sip_headers"), variables=variables),
        ),
        RETELL_CALL_STATUS: get(call, "call_status"),
        RETELL_DISCONNECTION_REASON: get(call, "disconnection_reason"),
        semconv.CX_AI_TURN_COUNT: turn_count,
        semconv.CX_AI_INTENT_NAME: intent if isinstance(intent, str) else None,
        semconv.CX_AI_COST_USD: round(cost / 100, 6) if cost is not None else None,
    }
    return ai.root_draft(
        PLATFORM, call_id, start, end, direction=direction if direction in ("inbound", "outbound") else None,
        attributes=attributes, ending=settled, version=version,
    )  # fmt: skip


def _turns(call: Mapping[str, Any], call_id: str, start: int, text: bool,
           version: int) -> tuple[list[SpanDraft], list[str | None]]:  # fmt: skip
    """Turn spans timed by their first and last word, and every turn's role (timed or not)."""
    entries = [e for e in as_list(get(call, "transcript_object")) if isinstance(e, Mapping)]
    roles = [_ROLES.get(str(get(e, "role"))) for e in entries]
    series = {name: as_list(get(call, f"latency.{field}.values")) for name, field in _LATENCY_FIELDS.items()}
    latencies = ai.latencies_for_responses(roles, series)
    drafts = []
    for index, (entry, role) in enumerate(zip(entries, roles, strict=True)):
        words = [w for w in as_list(get(entry, "words")) if isinstance(w, Mapping)]
        first = ai.number(get(words[0], "start")) if words else None
        last = ai.number(get(words[-1], "end")) if words else None
        if first is None:
            continue  # no word timings: counted in cx.ai.turn_count, no span
        content = get(entry, "content", "")
        drafts.append(ai.turn_draft(
            PLATFORM, call_id, index + 1, start + round(first * ai.S), start + round((last or first) * ai.S),
            role=role, said=content if role == "customer" else None,
            answered=content if role != "customer" else None, latencies=latencies.get(index), text=text,
            version=version,
        ))  # fmt: skip
    return drafts, roles


def signature_problem(header: str | None, body: bytes, secret: str, now_ms: int) -> str | None:
    """Why ``header`` does not sign ``body`` at ``now_ms`` (None when it does)."""
    if not header:
        return "missing x-retell-signature header"
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return "x-retell-signature is not v=<timestamp>,d=<hex digest>"
    stamp, digest = match.groups()
    if abs(now_ms - int(stamp)) > SIGNATURE_WINDOW_MS:
        return "x-retell-signature timestamp is more than 5 minutes away"
    expected = hmac.new(secret.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest.lower()):
        return "x-retell-signature does not match the body"
    return None


def verify(headers: Mapping[str, str], body: bytes, url: str, secret: str) -> str | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    return signature_problem(lowered.get("x-retell-signature"), body, secret, time.time_ns() // 1_000_000)


ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    content_types=(JSON, NDJSON),
    verify=verify,
    description="Retell AI webhooks: call_started, call_ended, call_analyzed",
)
