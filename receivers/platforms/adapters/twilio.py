"""Twilio Programmable Voice: status callbacks, ``<Dial>`` action callbacks, Voice Insights
call summaries and Event Streams CloudEvents, as spans of one interaction per ``CallSid``.

Payloads (cx-platforms.md §3):

- **Status callback** (form POST, or the same parameters as a JSON object): one post per call
  progress event (``initiated``, ``ringing``, ``in-progress``, then one terminal ``completed`` /
  ``busy`` / ``no-answer`` / ``failed`` / ``canceled``), possibly out of order. Every post gives the
  call's root span (key ``call``, ``telephony``) with ``record_version`` = ``SequenceNumber``, so
  the highest-numbered post wins whatever order they arrive in: a non-terminal post is a zero-length
  span at its ``Timestamp``; the terminal post ends at its ``Timestamp`` and starts ``CallDuration``
  seconds earlier.
- **``<Dial>`` action callback** (``DialCallStatus``): a ``handoff`` span ``dial:<DialCallSid>``
  under the parent call's root, ending when the dial ended and lasting ``DialCallDuration``. The
  callback carries no ``Timestamp`` of its own, so its time is ``Timestamp`` if a forwarder added
  one, else the ``received_unix_nano`` option (query parameter, or the endpoint's receive time).
- **Voice Insights Call Summary** (JSON, REST ``/v1/Voice/{CallSid}/Summary`` or the Event
  Streams ``com.twilio.voice.insights.call-summary.*`` data): the same ``call`` span, complete
  (start/end, SIP and Q.850 codes, who hung up, edge media quality as ``cx.audio.*``). It
  outranks every status callback (``record_version`` above any ``SequenceNumber``), and a
  complete summary outranks a partial one. SIP X-headers/UUI exist only in status callbacks, so
  once a summary replaces the span they remain as correlation links, not as span attributes.
- **Event Streams** webhook sink (JSON array of CloudEvents): ``…status-callback.call.*`` events
  (parameters under ``data.request.parameters``) and ``…insights.call-summary.*`` events; other
  types are counted as ignored.

Interaction ID: ``CallSid``. Correlation keys emitted: ``cx.platform.interaction.parent_id``
(``ParentCallSid``), ``cx.platform.interaction.related_id`` (``DialCallSid`` on the dial span),
``sip.call_id`` (``SipCallId``, ``DialSipCallId``, Insights ``sip_call_id``), ``cx.telephony.uui``
(``SipHeader_User-to-User``, RFC 7433 parameters stripped), ``cx.journey.traceparent``
(``traceparent`` / ``X-Traceparent`` SIP header), ``cx.peer.*`` (``X-Amzn-ConnectContactId`` →
Amazon Connect, ``x-inin-cnv`` → Genesys Cloud), ``cx.journey.id`` (``journey_id`` query
parameter on the callback URL), and phone numbers: the customer in ``cx.telephony.ani.number``
(``From`` inbound, ``To`` on API-originated calls), the dialled number in
``cx.telephony.dnis.number`` (a ``<Dial>`` child leg names only its dialled number).

Signatures: ``X-Twilio-Signature`` = base64 HMAC-SHA1 (auth token) of the full URL followed, for
form posts, by every parameter name+value sorted by name; for JSON bodies Twilio adds
``bodySHA256`` (hex SHA-256 of the body) to the URL query and signs the URL alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

from journeytrace import semconv
from journeytrace.phone import normalize
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.model import BadPayload, Parsed, SpanDraft
from journeytrace.receivers.platforms.payloads import get, require, require_object
from journeytrace.receivers.platforms.registry import FORM, JSON, Adapter

PLATFORM = "twilio"
S = 1_000_000_000

# Platform-native attributes (docs/semantic-conventions.md, "Platform-native attributes").
TWILIO_CALL_STATUS = "twilio.call.status"
"""string: the call's status as Twilio reports it (``initiated`` … ``completed``, ``busy``,
``no-answer``, ``failed``, ``canceled``)."""
TWILIO_DIAL_STATUS = "twilio.dial.status"
"""string: ``DialCallStatus`` of a ``<Dial>`` (``completed``, ``busy``, ``no-answer``, ``failed``,
``canceled``)."""
TWILIO_ANSWERED_BY = "twilio.answered_by"
"""string: answering-machine detection result (``human``, ``machine_start``, ``fax``, …)."""
TWILIO_DISCONNECTED_BY = "twilio.disconnected_by"
"""string: Insights ``properties.disconnected_by`` (``caller``, ``callee``, ``twilio``, ``unknown``)."""
TWILIO_INSIGHTS_TAGS = "twilio.insights.tags"
"""string[]: Voice Insights quality tags (``high_jitter``, ``high_packet_loss``, ``low_mos``, …)."""
TWILIO_INSIGHTS_STATE = "twilio.insights.processing_state"
"""string: ``partial``, ``predicted-complete`` or ``complete``."""

RECEIVED_OPTION = "received_unix_nano"
"""Option (query parameter) giving the time a timestamp-less callback was received, Unix ns."""
JOURNEY_OPTION = "journey_id"
"""Option (query parameter on the callback URL) carrying an explicit journey token."""

TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_STATUS_RANK = {"queued": 0, "initiated": 0, "ringing": 1, "in-progress": 2, "answered": 2}
"""Version of a status callback without ``SequenceNumber``: its place in the call's progress."""
_INSIGHTS_VERSION = 1 << 40
"""Insights summaries outrank every status callback ``SequenceNumber``."""
_INSIGHTS_RANK = {"partial": 0, "predicted-complete": 1, "complete": 2}
_INSIGHTS_STATE = {"fail": "failed", "noanswer": "no-answer", "answered": "in-progress", "undialed": "failed"}
"""Insights ``call_state`` in status-callback vocabulary."""

_INBOUND = frozenset({"inbound", "trunking-originating"})
_CUSTOMER_IS_TO = frozenset({"outbound-api", "trunking-terminating"})
"""Directions where Twilio called the customer (``To``). On inbound calls ``From`` is the customer;
on ``outbound-dial`` child legs ``From`` is whatever caller ID the ``<Dial>`` presented (often a
business number), so a child leg names no customer and relies on its ``ParentCallSid`` link."""
_INITIATION = {"inbound": "inbound", "trunking-originating": "inbound", "outbound-api": "api",
               "outbound-dial": "outbound", "trunking-terminating": "outbound"}  # fmt: skip

_PEER_HEADERS = {"x-amzn-connectcontactid": "amazon_connect", "x-inin-cnv": "genesys_cloud"}
_UUI_HEADERS = frozenset({"user-to-user", "x-user-to-user"})
_TRACEPARENT_HEADERS = frozenset({"traceparent", "x-traceparent"})

_EDGE_FOR_CALL_TYPE = {"carrier": "carrier_edge", "sip": "sip_edge", "trunking": "sip_edge", "client": "sdk_edge"}
_EDGES = ("sdk_edge", "carrier_edge", "sip_edge", "client_edge")
_MEASUREMENT_POINT = {"carrier_edge": "carrier", "sip_edge": "sbc", "sdk_edge": "agent_softphone",
                      "client_edge": "platform_media"}  # fmt: skip

_STATUS_EVENT_TYPES = ("com.twilio.voice.status-callback.call.", "com.twilio.voice.webhook.status-callback.call.")
_SUMMARY_EVENT_TYPE = "com.twilio.voice.insights.call-summary."
_EVENT_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress", "completed": "completed"}
_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


# --- reading parameters -------------------------------------------------------------------------


def _param(params: Mapping[str, Any], name: str) -> str | None:
    """A parameter by its Twilio name (``CallSid``) or its snake_case twin (``call_sid``), as
    stripped text; None when absent or empty."""
    value = get(params, name)
    if value is None:
        value = get(params, _SNAKE.sub("_", name).lower())
    if value is None or isinstance(value, Mapping | list):
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    """An integer parameter; None when absent or not a number (Twilio sends numbers as text)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _required(params: Mapping[str, Any], name: str, what: str) -> str:
    value = _param(params, name)
    if value is None:
        raise BadPayload(f"{what}: required field {name!r} is missing")
    return value


def _number(value: str | None) -> str | None:
    """A phone number as E.164 for the correlator, from ``+1…``, ``tel:`` or ``sip:+1…@host``;
    None for client identities, anonymous callers and other non-numbers."""
    if not value:
        return None
    text = value.strip()
    lowered = text.lower()
    for scheme in ("sips:", "sip:", "tel:"):
        if lowered.startswith(scheme):
            text = text[len(scheme) :]
            break
    return normalize(text.split("@", 1)[0].split(";", 1)[0])


def _direction(raw: str | None) -> str | None:
    """Twilio's direction in its webhook spelling (Insights writes ``outbound_api``)."""
    return raw.strip().lower().replace("_", "-") if raw else None


# --- attributes shared by every payload ----------------------------------------------------------


def _party_attributes(direction: str | None, caller: str | None, callee: str | None) -> dict[str, Any]:
    """Direction, customer number (ANI) and dialled number (DNIS) by the call's direction."""
    attributes: dict[str, Any] = {semconv.CX_CHANNEL: "voice"}
    if direction is None:
        attributes[semconv.CX_TELEPHONY_DNIS_NUMBER] = _number(callee)
        return attributes
    attributes[semconv.CX_DIRECTION] = "inbound" if direction in _INBOUND else "outbound"
    attributes[semconv.CX_INITIATION_METHOD] = _INITIATION.get(direction)
    customer = callee if direction in _CUSTOMER_IS_TO else caller if direction in _INBOUND else None
    attributes[semconv.CX_TELEPHONY_ANI_NUMBER] = _number(customer)
    attributes[semconv.CX_TELEPHONY_DNIS_NUMBER] = _number(callee)
    return attributes


def _kind(direction: str | None) -> str:
    if direction is None:
        return "internal"
    return "server" if direction in _INBOUND else "client"


def _sip_headers(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Correlation keys from SIP headers Twilio passes as ``<prefix><Header-Name>`` parameters."""
    attributes: dict[str, Any] = {}
    lowered_prefix = prefix.lower()
    for key, value in params.items():
        if not isinstance(key, str) or not key.lower().startswith(lowered_prefix) or not isinstance(value, str):
            continue
        header, text = key[len(prefix) :].lower(), value.strip()
        if not text:
            continue
        if header in _UUI_HEADERS:
            attributes[semconv.CX_TELEPHONY_UUI] = text.split(";", 1)[0].strip()
        elif header in _TRACEPARENT_HEADERS:
            attributes[semconv.CX_TRACEPARENT] = text
        elif header == "session-id":
            attributes[semconv.CX_TELEPHONY_SESSION_ID] = text.split(";", 1)[0].strip()
        elif header in _PEER_HEADERS:
            attributes[semconv.CX_PEER_PLATFORM_NAME] = _PEER_HEADERS[header]
            attributes[semconv.CX_PEER_INTERACTION_ID] = text
    return attributes


def _failure(status: str | None, sip_code: int | None) -> str | None:
    """``error.type`` when the call failed for a system reason: a failed call, or a final SIP 5xx/6xx
    other than 600 Busy Everywhere / 603 Decline. Busy, no answer and hang-ups are outcomes."""
    if status == "failed":
        return str(sip_code) if sip_code else "call_failed"
    if sip_code is not None and sip_code >= 500 and sip_code not in (600, 603):
        return str(sip_code)
    return None


def _apply_outcome(draft: SpanDraft, status: str | None, direction: str | None, sip_code: int | None) -> None:
    """Error status for telecom failures; ``cx.disconnect.reason`` where the status says who left."""
    error_type = _failure(status, sip_code)
    if error_type is not None:
        draft.status, draft.status_message = "error", f"call {status}" + (f" (SIP {sip_code})" if sip_code else "")
        draft.attributes[semconv.ERROR_TYPE] = error_type
        draft.attributes[semconv.CX_DISCONNECT_REASON] = "telecom_problem"
    elif status == "canceled":
        reason = "api" if direction in _CUSTOMER_IS_TO else "customer_disconnect"
        draft.attributes.setdefault(semconv.CX_DISCONNECT_REASON, reason)


# --- status callbacks ----------------------------------------------------------------------------


def _status_version(params: Mapping[str, Any], status: str) -> int:
    sequence = _int(_param(params, "SequenceNumber"))
    if sequence is not None and sequence >= 0:
        return sequence
    return 3 if status in TERMINAL else _STATUS_RANK.get(status, 0)


def _status_callback(params: Mapping[str, Any], *, fallback_time: str | None = None,
                     fallback_status: str | None = None, fallback_sid: str | None = None) -> SpanDraft:  # fmt: skip
    """The call's root span as this one status callback knows it."""
    what = "Twilio status callback"
    call_sid = _param(params, "CallSid") or fallback_sid
    if call_sid is None:
        raise BadPayload(f"{what}: required field 'CallSid' is missing")
    status = (_param(params, "CallStatus") or fallback_status or "").lower()
    if not status:
        raise BadPayload(f"{what}: required field 'CallStatus' is missing")
    timestamp = _param(params, "Timestamp") or fallback_time
    if timestamp is None:
        raise BadPayload(f"{what}: required field 'Timestamp' is missing")
    at = times.any_time(timestamp, field="Timestamp")
    start = at
    if status in TERMINAL:
        start = at - (_int(_param(params, "CallDuration")) or 0) * S
    direction = _direction(_param(params, "Direction"))
    sip_code = _int(_param(params, "SipResponseCode"))
    attributes = _party_attributes(direction, _param(params, "From"), _param(params, "To"))
    attributes.update({
        TWILIO_CALL_STATUS: status,
        semconv.CX_INTERACTION_PARENT_ID: _param(params, "ParentCallSid"),
        semconv.SIP_CALL_ID: _param(params, "SipCallId"),
        semconv.SIP_RESPONSE_STATUS_CODE: sip_code,
        TWILIO_ANSWERED_BY: _param(params, "AnsweredBy"),
    })  # fmt: skip
    attributes.update(_sip_headers(params, "SipHeader_"))
    draft = SpanDraft(
        platform=PLATFORM, interaction_id=call_sid, key="call", name="telephony twilio", span_type="telephony",
        start_unix_nano=start, end_unix_nano=at, attributes=attributes, kind=_kind(direction),
        record_version=_status_version(params, status),
    )  # fmt: skip
    _apply_outcome(draft, status, direction, sip_code)
    return draft


# --- <Dial> action callbacks ---------------------------------------------------------------------


def _dial_action(params: Mapping[str, Any], options: Mapping[str, str]) -> SpanDraft:
    """The dial leg as the parent call saw it: a handoff span under the parent's root."""
    what = "Twilio <Dial> action callback"
    call_sid = _required(params, "CallSid", what)
    dial_status = _required(params, "DialCallStatus", what).lower()
    received = _param(params, "Timestamp") or options.get(RECEIVED_OPTION)
    if received is None:
        raise BadPayload(
            f"{what}: required field 'Timestamp' is missing (Twilio sends none on action callbacks; "
            f"pass the receive time as the {RECEIVED_OPTION!r} query parameter)"
        )
    end = times.any_time(received, field="Timestamp")
    start = end - (_int(_param(params, "DialCallDuration")) or 0) * S
    dial_sid = _param(params, "DialCallSid")
    sip_code = _int(_param(params, "DialSipResponseCode"))
    attributes: dict[str, Any] = {
        semconv.CX_CHANNEL: "voice",
        TWILIO_DIAL_STATUS: dial_status,
        semconv.CX_INTERACTION_RELATED_ID: dial_sid,
        semconv.SIP_CALL_ID: _param(params, "DialSipCallId"),
        semconv.SIP_RESPONSE_STATUS_CODE: sip_code,
        semconv.CX_HANDOFF_METHOD: "bridge",
    }
    attributes.update(_sip_headers(params, "DialSipHeader_"))
    draft = SpanDraft(
        platform=PLATFORM, interaction_id=call_sid, key=f"dial:{dial_sid}" if dial_sid else "dial",
        name="dial twilio", span_type="handoff", start_unix_nano=start, end_unix_nano=end,
        attributes=attributes, parent_key="call", kind="producer", record_version=0,
    )  # fmt: skip
    error_type = _failure(dial_status, sip_code)
    if error_type is not None:
        draft.status = "error"
        draft.status_message = f"dial {dial_status}" + (f" (SIP {sip_code})" if sip_code else "")
        draft.attributes[semconv.ERROR_TYPE] = error_type
    return draft


# --- Voice Insights call summaries ---------------------------------------------------------------


def _edge_metrics(summary: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The edge whose media quality describes the call: the call type's own edge, else the first
    edge that has metrics."""
    preferred = _EDGE_FOR_CALL_TYPE.get(str(get(summary, "call_type", "")).lower())
    for edge in ((preferred,) if preferred else ()) + _EDGES:
        metrics = get(summary, f"{edge}.metrics")
        if isinstance(metrics, Mapping) and (get(metrics, "inbound") or get(metrics, "outbound")):
            return edge, metrics
    return None


def _audio_attributes(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``cx.audio.*`` from the media Twilio received on the chosen edge (MOS/RTT from whichever
    direction reports them)."""
    found = _edge_metrics(summary)
    if found is None:
        return {}
    edge, metrics = found
    inbound = get(metrics, "inbound") or get(metrics, "outbound")

    def either(path: str) -> Any:
        value = get(inbound, path)
        return value if value is not None else get(metrics, f"outbound.{path}")

    loss = _float(get(inbound, "packets_loss_percentage"))
    lost, received = _float(get(inbound, "packets_lost")), _float(get(inbound, "packets_received"))
    if loss is None and lost is not None and received is not None and lost + received > 0:
        loss = round(100.0 * lost / (lost + received), 3)
    return {
        semconv.CX_AUDIO_MEASUREMENT_POINT: _MEASUREMENT_POINT[edge],
        semconv.CX_AUDIO_JITTER_MS: _float(get(inbound, "jitter.avg")),
        semconv.CX_AUDIO_JITTER_MAX_MS: _float(get(inbound, "jitter.max")),
        semconv.CX_AUDIO_PACKET_LOSS_PCT: loss,
        semconv.CX_AUDIO_MOS: _float(either("mos.avg")),
        semconv.CX_AUDIO_MOS_MIN: _float(either("mos.min")),
        semconv.CX_AUDIO_RTT_MS: _float(either("rtt.avg")),
        semconv.CX_TELEPHONY_CODEC: get(inbound, "codec_name"),
    }


def _disconnect_by(direction: str | None, disconnected_by: str | None) -> str | None:
    """``customer_disconnect`` when the customer's side sent the BYE; other sides are left raw."""
    if direction is None or disconnected_by not in ("caller", "callee"):
        return None
    customer_side = "callee" if direction in _CUSTOMER_IS_TO else "caller"
    return "customer_disconnect" if disconnected_by == customer_side else None


def _insights_summary(summary: Mapping[str, Any], state: str | None = None) -> SpanDraft:
    """The call's root span from a Voice Insights call summary (outranks status callbacks)."""
    what = "Twilio Voice Insights call summary"
    call_sid = require(summary, "call_sid", what)
    started = get(summary, "start_time") or get(summary, "created_time")
    if started is None:
        raise BadPayload(f"{what}: required field 'start_time' is missing")
    start = times.any_time(started, field="start_time")
    ended = get(summary, "end_time")
    end = times.any_time(ended, field="end_time") if ended is not None else start
    state = state or str(get(summary, "processing_state", "partial")).lower()
    raw_state = str(get(summary, "call_state", "")).lower() or None
    status = _INSIGHTS_STATE.get(raw_state, raw_state) if raw_state else None
    direction = _direction(get(summary, "properties.direction"))
    sip_code = _int(get(summary, "properties.last_sip_response_num"))
    disconnected_by = get(summary, "properties.disconnected_by")
    attributes = _party_attributes(direction, get(summary, "from.caller"), get(summary, "to.callee"))
    raw_tags = get(summary, "tags")
    tags = [tag for tag in raw_tags if isinstance(tag, str)] if isinstance(raw_tags, list) else None
    attributes.update({
        TWILIO_CALL_STATUS: status,
        semconv.CX_INTERACTION_PARENT_ID: get(summary, "parent_call_sid"),
        semconv.SIP_CALL_ID: get(summary, "properties.sip_call_id") or get(summary, "sip_edge.properties.sip_call_id"),
        semconv.SIP_RESPONSE_STATUS_CODE: sip_code,
        semconv.CX_TELEPHONY_Q850_CAUSE: _int(get(summary, "properties.q850_cause")),
        TWILIO_ANSWERED_BY: get(summary, "answered_by"),
        TWILIO_DISCONNECTED_BY: disconnected_by,
        semconv.CX_DISCONNECT_REASON: _disconnect_by(direction, disconnected_by),
        TWILIO_INSIGHTS_TAGS: tags,
        TWILIO_INSIGHTS_STATE: state,
    })  # fmt: skip
    attributes.update(_audio_attributes(summary))
    draft = SpanDraft(
        platform=PLATFORM, interaction_id=str(call_sid), key="call", name="telephony twilio",
        span_type="telephony", start_unix_nano=start, end_unix_nano=max(start, end), attributes=attributes,
        kind=_kind(direction), record_version=_INSIGHTS_VERSION + _INSIGHTS_RANK.get(state, 0),
    )  # fmt: skip
    _apply_outcome(draft, status, direction, sip_code)
    return draft


# --- Event Streams -------------------------------------------------------------------------------


def _cloud_event(event: Any, index: int) -> SpanDraft | None:
    """One CloudEvent's span; None for an event type this adapter does not read."""
    event = require_object(event, f"Event Streams event {index}")
    event_type = str(require(event, "type", f"Event Streams event {index}"))
    if event_type.startswith(_SUMMARY_EVENT_TYPE):
        data = require_object(require(event, "data", f"Event Streams event {index}"), f"event {index} data")
        return _insights_summary(data, event_type[len(_SUMMARY_EVENT_TYPE) :])
    for prefix in _STATUS_EVENT_TYPES:
        if event_type.startswith(prefix):
            data = require_object(require(event, "data", f"Event Streams event {index}"), f"event {index} data")
            parameters = get(data, "request.parameters")
            return _status_callback(
                parameters if isinstance(parameters, Mapping) else {},
                fallback_time=_param(data, "timestamp"),
                fallback_status=_EVENT_STATUS.get(event_type[len(prefix) :]),
                fallback_sid=_param(data, "sid"),
            )
    return None


def _is_cloud_event(obj: Mapping[str, Any]) -> bool:
    return get(obj, "specversion") is not None or (get(obj, "type") is not None and get(obj, "data") is not None)


def _newest(drafts: list[SpanDraft]) -> list[SpanDraft]:
    """One draft per span: an Event Streams batch may hold several versions of one call's span."""
    chosen: dict[tuple[str, str], SpanDraft] = {}
    for draft in drafts:
        key = (draft.interaction_id, draft.key)
        current = chosen.get(key)
        if current is None or (draft.record_version or 0) >= (current.record_version or 0):
            chosen[key] = draft
    return list(chosen.values())


# --- entry points --------------------------------------------------------------------------------


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """Any Twilio Voice payload (see the module docstring) as spans."""
    ignored = 0
    drafts: list[SpanDraft] = []
    if isinstance(native, list):
        if not native:
            raise BadPayload("Event Streams batch is empty")
        for index, event in enumerate(native):
            draft = _cloud_event(event, index)
            if draft is None:
                ignored += 1
            else:
                drafts.append(draft)
    else:
        payload = require_object(native, "Twilio payload")
        if _is_cloud_event(payload):
            draft = _cloud_event(payload, 0)
            if draft is None:
                ignored += 1
            else:
                drafts.append(draft)
        elif get(payload, "call_sid") is not None:
            drafts.append(_insights_summary(payload))
        elif get(payload, "DialCallStatus") is not None:
            drafts.append(_dial_action(payload, options))
        else:
            drafts.append(_status_callback(payload))
    journey = (options.get(JOURNEY_OPTION) or "").strip()
    if journey:
        for draft in drafts:
            draft.attributes[semconv.CX_JOURNEY_ID] = journey
    return Parsed(spans=_newest(drafts), ignored=ignored)


# --- signatures ----------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _signature(secret: str, url: str, params: list[tuple[str, str]]) -> bytes:
    """Twilio's signature: URL, then each parameter's name+value, by name (values of a repeated
    name sorted too), HMAC-SHA1 with the auth token, base64."""
    text = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest())


def _url_variants(url: str) -> list[str]:
    """The URL with and without its port: Twilio signs either, depending on how it was configured."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    default_port = 443 if parts.scheme == "https" else 80
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    without = urlunsplit(parts._replace(netloc=userinfo + host))
    with_port = urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{parts.port or default_port}"))
    return [url] + [u for u in (without, with_port) if u != url]


def verify(headers: Mapping[str, str], body: bytes, url: str, secret: str) -> str | None:
    """None when ``X-Twilio-Signature`` signs this request with ``secret`` (the auth token)."""
    signature = _header(headers, "X-Twilio-Signature")
    if not signature:
        return "missing X-Twilio-Signature header"
    content_type = (_header(headers, "content-type") or "").split(";", 1)[0].strip().lower()
    if content_type == FORM:
        try:
            params = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return "form body is not UTF-8"
    else:
        body_hash = parse_qs(urlsplit(url).query).get("bodySHA256")
        if not body_hash:
            return "a JSON body must be signed through a bodySHA256 query parameter"
        if not hmac.compare_digest(hashlib.sha256(body).hexdigest().encode(), body_hash[0].lower().encode()):
            return "bodySHA256 does not match the body"
        params = []
    expected = signature.strip().encode("utf-8", "replace")
    if any(hmac.compare_digest(_signature(secret, candidate, params), expected) for candidate in _url_variants(url)):
        return None
    return "X-Twilio-Signature does not match"


ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    content_types=(FORM, JSON),
    verify=verify,
    description="Twilio Voice status callbacks, <Dial> action callbacks, Voice Insights summaries, Event Streams",
)
