"""FreeSWITCH CDRs → one ``telephony freeswitch`` span per channel (leg), the generic SIP fallback.

Payloads:

- JSON from ``mod_json_cdr`` (one object, an array, or JSON lines): ``{"channel_data", "variables",
  "callflow", …}``. Variable values may be URL-encoded (``encode-values``, the default); they are
  decoded. A flat object of the variables alone (e.g. an ESL consumer's export) is accepted too.
- CSV from ``mod_cdr_csv`` (``text/csv``) with a header row naming the variables; rows given as lists
  without a header are read in the ``default`` template's order (``DEFAULT_TEMPLATE``).

Mapping: the span runs from the start to the end of the channel — ``start_uepoch`` / ``end_uepoch``
(µs), else ``*_epoch`` (s), else ``*_stamp`` (local time of the switch: ``?tz=`` an IANA zone,
default UTC), else ``callflow.times`` (µs); the answer becomes an ``answered`` event. Span kind
follows ``direction`` (inbound → server, outbound → client). ``hangup_cause`` (Q.850 names) →
``freeswitch.hangup_cause`` and ``cx.telephony.q850_cause`` (``hangup_cause_q850`` or the standard
number of the name); causes that mean the network or switch failed (``FAILURE_CAUSES``:
NORMAL_TEMPORARY_FAILURE, SWITCH_CONGESTION, DESTINATION_OUT_OF_ORDER, MEDIA_TIMEOUT, …) give
status error, ``error.type`` = the lower-cased cause and ``cx.disconnect.reason`` =
``telecom_problem``. Busy, no answer, cancel and normal clearing are outcomes, not errors; an
inbound leg the caller hung up (``sip_hangup_disposition`` ``recv_bye`` / ``recv_cancel``) has
``cx.disconnect.reason`` = ``customer_disconnect``.

RTP quality (inbound audio, measured by the switch: ``cx.audio.measurement.point`` =
``platform_media``): ``rtp_audio_in_mos`` → ``cx.audio.mos``; skipped packets over received plus
skipped → ``cx.audio.packet_loss_pct``; ``rtp_audio_in_jitter_max_variance`` →
``cx.audio.jitter_max_ms``.

Interaction: the channel ``uuid``; its legs are linked as same-platform relations:
``originating_leg_uuid`` → ``cx.platform.interaction.parent_id``, ``bridge_uuid`` (else
``bleg_uuid``, else ``signal_bond``) → ``cx.platform.interaction.related_id``. A CDR is final, so
the version is the end time: a re-posted CDR replaces itself.

Correlation keys: ``sip_call_id`` → ``sip.call_id``; ``caller_id_number`` (else
``sip_from_user``) → ``cx.telephony.ani.number``; ``destination_number`` (else ``sip_to_user``)
→ ``cx.telephony.dnis.number``; SIP headers kept as channel variables (``sip_h_X-CX-Journey-Id``,
``sip_i_…`` or ``sip_rh_…`` alike): ``X-CX-Journey-Id`` → ``cx.journey.id``,
``traceparent`` / ``X-Traceparent`` → ``cx.journey.traceparent``, ``User-to-User`` /
``X-User-to-User`` (or ``sip_user_to_user``) → ``cx.telephony.uui``, ``Session-ID`` →
``cx.telephony.session_id``; the user of ``sip_refer_to`` (a REFER the leg received) →
``cx.transfer.target``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from journeytrace import semconv
from journeytrace.receivers.platforms import payloads, times
from journeytrace.receivers.platforms.model import BadPayload, Event, Parsed, SpanDraft
from journeytrace.receivers.platforms.registry import CSV, JSON, NDJSON, Adapter

PLATFORM = "freeswitch"

# Native FreeSWITCH values kept beside our conventions.
FREESWITCH_HANGUP_CAUSE = "freeswitch.hangup_cause"
FREESWITCH_HANGUP_DISPOSITION = "freeswitch.sip_hangup_disposition"
FREESWITCH_SIP_TERM_STATUS = "freeswitch.sip_term_status"
FREESWITCH_BILLSEC = "freeswitch.billsec"

DEFAULT_TEMPLATE = (
    "caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp", "answer_stamp",
    "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid", "accountcode", "read_codec",
    "write_codec",
)  # fmt: skip
"""``mod_cdr_csv``'s ``default`` template (cdr_csv.conf.xml), the column order of header-less rows."""

Q850 = {
    "UNSPECIFIED": 0, "UNALLOCATED_NUMBER": 1, "NO_ROUTE_TRANSIT_NET": 2, "NO_ROUTE_DESTINATION": 3,
    "CHANNEL_UNACCEPTABLE": 6, "CALL_AWARDED_DELIVERED": 7, "NORMAL_CLEARING": 16, "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18, "NO_ANSWER": 19, "SUBSCRIBER_ABSENT": 20, "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22, "REDIRECTION_TO_NEW_DESTINATION": 23, "EXCHANGE_ROUTING_ERROR": 25,
    "DESTINATION_OUT_OF_ORDER": 27, "INVALID_NUMBER_FORMAT": 28, "FACILITY_REJECTED": 29,
    "RESPONSE_TO_STATUS_ENQUIRY": 30, "NORMAL_UNSPECIFIED": 31, "NORMAL_CIRCUIT_CONGESTION": 34,
    "NETWORK_OUT_OF_ORDER": 38, "NORMAL_TEMPORARY_FAILURE": 41, "SWITCH_CONGESTION": 42,
    "ACCESS_INFO_DISCARDED": 43, "REQUESTED_CHAN_UNAVAIL": 44, "PRE_EMPTED": 45,
    "FACILITY_NOT_SUBSCRIBED": 50, "OUTGOING_CALL_BARRED": 52, "INCOMING_CALL_BARRED": 54,
    "BEARERCAPABILITY_NOTAUTH": 57, "BEARERCAPABILITY_NOTAVAIL": 58, "SERVICE_UNAVAILABLE": 63,
    "BEARERCAPABILITY_NOTIMPL": 65, "CHAN_NOT_IMPLEMENTED": 66, "FACILITY_NOT_IMPLEMENTED": 69,
    "SERVICE_NOT_IMPLEMENTED": 79, "INVALID_CALL_REFERENCE": 81, "INCOMPATIBLE_DESTINATION": 88,
    "INVALID_MSG_UNSPECIFIED": 95, "MANDATORY_IE_MISSING": 96, "MESSAGE_TYPE_NONEXIST": 97,
    "WRONG_MESSAGE": 98, "IE_NONEXIST": 99, "INVALID_IE_CONTENTS": 100, "WRONG_CALL_STATE": 101,
    "RECOVERY_ON_TIMER_EXPIRE": 102, "MANDATORY_IE_LENGTH_ERROR": 103, "PROTOCOL_ERROR": 111,
    "INTERWORKING": 127,
}  # fmt: skip
"""FreeSWITCH hangup cause names → ITU-T Q.850 cause values (FreeSWITCH-only causes have none)."""

FAILURE_CAUSES = frozenset({
    "UNALLOCATED_NUMBER", "NO_ROUTE_TRANSIT_NET", "NO_ROUTE_DESTINATION", "CHANNEL_UNACCEPTABLE",
    "EXCHANGE_ROUTING_ERROR", "DESTINATION_OUT_OF_ORDER", "INVALID_NUMBER_FORMAT", "NORMAL_CIRCUIT_CONGESTION",
    "NETWORK_OUT_OF_ORDER", "NORMAL_TEMPORARY_FAILURE", "SWITCH_CONGESTION", "REQUESTED_CHAN_UNAVAIL",
    "BEARERCAPABILITY_NOTAVAIL", "SERVICE_UNAVAILABLE", "INCOMPATIBLE_DESTINATION", "RECOVERY_ON_TIMER_EXPIRE",
    "MANDATORY_IE_MISSING", "PROTOCOL_ERROR", "INTERWORKING", "MEDIA_TIMEOUT", "GATEWAY_DOWN", "INVALID_GATEWAY",
    "PROGRESS_TIMEOUT", "SYSTEM_SHUTDOWN", "CRASH",
})  # fmt: skip
"""Hangup causes that mean the call failed for a network or switch reason (otel-conventions §6.7:
final 4xx other than busy / cancel / decline, 5xx, media timeout)."""

_HEADERS = {
    "x-cx-journey-id": semconv.CX_JOURNEY_ID,
    "traceparent": semconv.CX_TRACEPARENT,
    "x-traceparent": semconv.CX_TRACEPARENT,
    "user-to-user": semconv.CX_TELEPHONY_UUI,
    "x-user-to-user": semconv.CX_TELEPHONY_UUI,
    "session-id": semconv.CX_TELEPHONY_SESSION_ID,
}
_HEADER_PREFIXES = ("sip_h_", "sip_i_", "sip_rh_", "sip_ph_")
_CUSTOMER_HANGUPS = frozenset({"recv_bye", "recv_cancel", "recv_refuse"})


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """One span per CDR in ``native`` (JSON CDRs, CSV rows as dicts or lists)."""
    zone = times.zone_option(options)
    rows = payloads.as_list(native)
    if rows and all(isinstance(row, list) for row in rows):
        records = _from_lists(rows)
    else:
        records = [payloads.require_object(row, f"FreeSWITCH CDR {n}") for n, row in enumerate(rows, 1)]
    return Parsed([_span(record, zone, n) for n, record in enumerate(records, 1)])



def _from_lists(rows: list[list[Any]]) -> list[dict[str, Any]]:
    first = [str(cell).strip() for cell in rows[0]]
    if "uuid" in first:
        return [dict(zip(first, row, strict=False)) for row in rows[1:] if any(row)]
    out = []
    for n, row in enumerate(rows, 1):
        if len(row) != len(DEFAULT_TEMPLATE):
            raise BadPayload(
                f"FreeSWITCH CDR {n}: a CSV row without a header must follow the default template "
                f"({len(DEFAULT_TEMPLATE)} columns), this one has {len(row)}"
            )
        out.append(dict(zip(DEFAULT_TEMPLATE, row, strict=True)))
    return out


def _variables(record: Mapping[str, Any], n: int) -> dict[str, str]:
    """The channel variables, URL-decoded, blanks dropped; a flat record is its own variables."""
    raw = record.get("variables", record)
    if not isinstance(raw, Mapping):
        raise BadPayload(f"FreeSWITCH CDR {n}: variables must be a JSON object")
    out = {}
    for key, value in raw.items():
        if value is None or isinstance(value, Mapping | list):
            continue
        text = unquote(value) if isinstance(value, str) and "%" in value else str(value)
        if text.strip():
            out[str(key)] = text.strip()
    return out


def _callflow_time(record: Mapping[str, Any], name: str) -> int | None:
    """``callflow[0].times.<name>`` (µs; the first callflow is the channel's latest profile)."""
    callflow = record.get("callflow")
    first = callflow[0] if isinstance(callflow, list) and callflow else callflow
    value = payloads.get(first, f"times.{name}") if isinstance(first, Mapping) else None
    return times.epoch(value, unit="us", field=f"callflow.times.{name}") if value not in (None, "0", 0) else None


def _time(v: Mapping[str, str], record: Mapping[str, Any], which: str, zone: str | None, n: int) -> int | None:
    for suffix, unit in (("uepoch", "us"), ("epoch", "s")):
        value = v.get(f"{which}_{suffix}")
        if value not in (None, "0"):
            return times.epoch(value, unit=unit, field=f"FreeSWITCH CDR {n}: {which}_{suffix}")
    stamp = v.get(f"{which}_stamp")
    if stamp is not None:
        return times.iso8601(stamp, field=f"FreeSWITCH CDR {n}: {which}_stamp", zone=zone)
    flow_name = {"start": "created_time", "answer": "answered_time", "end": "hangup_time"}[which]
    return _callflow_time(record, flow_name)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _quality(v: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    mos = _float(v.get("rtp_audio_in_mos"))
    if mos is not None and mos > 0:
        out[semconv.CX_AUDIO_MOS] = mos
    received, skipped = _float(v.get("rtp_audio_in_packet_count")), _float(v.get("rtp_audio_in_skip_packet_count"))
    if received is not None and skipped is not None and received + skipped > 0:
        out[semconv.CX_AUDIO_PACKET_LOSS_PCT] = round(100.0 * skipped / (received + skipped), 3)
    jitter = _float(v.get("rtp_audio_in_jitter_max_variance"))
    if jitter is not None:
        out[semconv.CX_AUDIO_JITTER_MAX_MS] = jitter
    if out:
        out[semconv.CX_AUDIO_MEASUREMENT_POINT] = "platform_media"
    return out


def _headers(v: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in v.items():
        lowered = key.lower()
        prefix = next((p for p in _HEADER_PREFIXES if lowered.startswith(p)), None)
        attribute = _HEADERS.get(lowered[len(prefix) :]) if prefix else None
        if attribute is not None:
            out.setdefault(attribute, value)
    if "sip_user_to_user" in v:
        out.setdefault(semconv.CX_TELEPHONY_UUI, v["sip_user_to_user"])
    if semconv.CX_TELEPHONY_UUI in out:  # without ``;encoding=hex``, as every adapter records it
        out[semconv.CX_TELEPHONY_UUI] = out[semconv.CX_TELEPHONY_UUI].split(";", 1)[0].strip()
    return out


def _span(record: Mapping[str, Any], zone: str | None, n: int) -> SpanDraft:
    v = _variables(record, n)
    uuid = v.get("uuid") or payloads.get(record, "callflow.0.caller_profile.uuid")
    if not uuid:
        raise BadPayload(f"FreeSWITCH CDR {n}: required field 'variables.uuid' is missing")
    start = _time(v, record, "start", zone, n)
    if start is None:
        raise BadPayload(f"FreeSWITCH CDR {n}: required field 'variables.start_epoch' is missing")
    end = _time(v, record, "end", zone, n)
    if end is None:
        end = start + int(_float(v.get("duration")) or 0) * 1_000_000_000
    answer = _time(v, record, "answer", zone, n)
    cause = v.get("hangup_cause", "").upper() or None
    q850 = v.get("hangup_cause_q850")
    direction = v.get("direction", "").lower()
    attributes: dict[str, Any] = {
        FREESWITCH_HANGUP_CAUSE: cause,
        FREESWITCH_HANGUP_DISPOSITION: v.get("sip_hangup_disposition"),
        FREESWITCH_SIP_TERM_STATUS: v.get("sip_term_status"),
        FREESWITCH_BILLSEC: int(_float(v.get("billsec")) or 0) if "billsec" in v else None,
        semconv.CX_CHANNEL: "voice",
        semconv.CX_DIRECTION: direction if direction in ("inbound", "outbound") else None,
        semconv.CX_TELEPHONY_Q850_CAUSE: int(q850) if q850 and q850.isdigit() else Q850.get(cause or ""),
        semconv.CX_TELEPHONY_CODEC: v.get("read_codec"),
        semconv.SIP_CALL_ID: v.get("sip_call_id"),
        semconv.CX_TELEPHONY_ANI_NUMBER: v.get("caller_id_number") or v.get("sip_from_user"),
        semconv.CX_TELEPHONY_DNIS_NUMBER: v.get("destination_number") or v.get("sip_to_user"),
        semconv.CX_TRANSFER_TARGET: _uri_user(v.get("sip_refer_to")),
        semconv.CX_INTERACTION_PARENT_ID: _other(v.get("originating_leg_uuid"), uuid),
        semconv.CX_INTERACTION_RELATED_ID: _other(
            v.get("bridge_uuid") or v.get("bleg_uuid") or v.get("signal_bond"), uuid
        ),
        **_quality(v),
        **_headers(v),
    }
    status, message = "unset", ""
    if cause in FAILURE_CAUSES:
        status, message = "error", f"hangup cause {cause}"
        attributes[semconv.ERROR_TYPE] = cause.lower()
        attributes[semconv.CX_DISCONNECT_REASON] = "telecom_problem"
    elif direction == "inbound" and v.get("sip_hangup_disposition") in _CUSTOMER_HANGUPS:
        attributes[semconv.CX_DISCONNECT_REASON] = "customer_disconnect"
    return SpanDraft(
        platform=PLATFORM,
        interaction_id=str(uuid),
        key="channel",
        name="telephony freeswitch",
        span_type="telephony",
        start_unix_nano=start,
        end_unix_nano=max(start, end),
        attributes={k: val for k, val in attributes.items() if val is not None},
        kind={"inbound": "server", "outbound": "client"}.get(direction, "internal"),
        status=status,
        status_message=message,
        events=[Event("answered", answer)] if answer is not None else [],
        record_version=max(start, end),
        service_name=PLATFORM,
    )


def _uri_user(value: str | None) -> str | None:
    """The user part of a SIP URI (``<sip:+14155550199@host;transport=udp>`` → ``+14155550199``)."""
    if not value:
        return None
    user = value.strip().strip("<>").removeprefix("sip:").removeprefix("sips:").removeprefix("tel:")
    return user.split("@")[0].split(";")[0].strip() or None


def _other(value: str | None, uuid: str) -> str | None:
    """A related leg's uuid, unless it names this leg itself."""
    return value if value and value != uuid else None


ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    csv_rows_as_lists=True,
    content_types=(JSON, NDJSON, CSV),
    description="FreeSWITCH CDRs (mod_json_cdr JSON, mod_cdr_csv CSV): one telephony span per channel",
)
