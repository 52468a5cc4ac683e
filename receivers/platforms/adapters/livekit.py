"""LiveKit webhooks → spans: one span per room, one per participant session.

Payloads: ``WebhookEvent`` JSON (``{"event", "id", "createdAt", "room", "participant", …}``, the
protobuf-JSON camelCase form; snake_case keys are accepted too), one event per request or a
JSON array / JSON lines of them. Handled events:

- ``room_started`` / ``room_finished`` → the interaction's root span ``ai_conversation livekit``
  (key ``room``), from ``room.creationTime`` to the ``room_finished`` event time. A LiveKit room
  in a contact-center journey is a voice-AI session, hence ``ai_conversation``.
- ``participant_joined`` / ``participant_left`` / ``participant_connection_aborted`` → one span
  per participant session (key ``participant:<sid>``, child of ``room``): ``telephony livekit``
  (type ``telephony``) for a SIP participant (``kind`` SIP, or a ``sip.callID`` attribute),
  ``ai_conversation livekit`` for any other participant (the agent, a web caller). It runs from
  ``joinedAt`` to the leave event; until ``participant_left`` arrives it is zero-length at the join.
- every other event (tracks, egress, ingress, agent jobs, unknown names) is counted in ``ignored``.

Spans are versioned by the event's ``createdAt`` (ns, +1 for the closing event so that a join
and a leave within the same second still order), so the closing event replaces the opening one
whatever order they arrive in, and a re-delivery replaces itself.

Interaction: ``room.sid`` (``RM_…``), or ``room.name`` when the event carries no sid. The room
name is not stored as an attribute: LiveKit's SIP dispatch rules put the caller's number in it.

Correlation keys, from a SIP participant's ``attributes`` (LiveKit SIP, cx-platforms §10.b):
``sip.callIDFull`` (the trunk's SIP Call-ID header) → ``sip.call_id``; ``sip.twilio.callSid`` →
peer ``twilio``; ``sip.amazon.contactId`` → peer ``amazon_connect`` (the first of the two present);
``sip.phoneNumber`` (the external party) → ``cx.telephony.ani.number``; ``sip.trunkPhoneNumber``
→ ``cx.telephony.dnis.number``; SIP headers copied by the trunk (``sip.h.<lower-case name>``):
``x-cx-journey-id`` → ``cx.journey.id``, ``traceparent`` / ``x-traceparent`` →
``cx.journey.traceparent``, ``user-to-user`` / ``x-user-to-user`` → ``cx.telephony.uui`` (without
``;encoding=…``),
``session-id`` → ``cx.telephony.session_id``. LiveKit's own call ID ``sip.callID`` (``SCL_…``) is
kept as ``livekit.sip.call_id``: it names no SIP dialog, so it is not ``sip.call_id``.

Signature: LiveKit puts a JWT in ``Authorization`` (HS256 with the API secret, ``iss`` = API key,
claim ``sha256`` = base64 SHA-256 of the body). The configured secret is
``"<api key>:<api secret>"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from journeytrace import semconv
from journeytrace.receivers.platforms import payloads, times
from journeytrace.receivers.platforms.model import BadPayload, Parsed, SpanDraft
from journeytrace.receivers.platforms.registry import JSON, NDJSON, Adapter

PLATFORM = "livekit"
WEBHOOK_JSON = "application/webhook+json"
"""The content type LiveKit sends its webhooks with."""

# Native LiveKit values kept beside our conventions.
LIVEKIT_PARTICIPANT_SID = "livekit.participant.sid"
LIVEKIT_PARTICIPANT_KIND = "livekit.participant.kind"
LIVEKIT_DISCONNECT_REASON = "livekit.participant.disconnect_reason"
LIVEKIT_SIP_CALL_ID = "livekit.sip.call_id"
LIVEKIT_SIP_CALL_STATUS = "livekit.sip.call_status"

ROOM_EVENTS = frozenset({"room_started", "room_finished"})
PARTICIPANT_EVENTS = frozenset({"participant_joined", "participant_left", "participant_connection_aborted"})
CLOSING_EVENTS = frozenset({"room_finished", "participant_left", "participant_connection_aborted"})

_KIND_NUMBERS = {0: "STANDARD", 1: "INGRESS", 2: "EGRESS", 3: "SIP", 4: "AGENT", 7: "CONNECTOR", 8: "BRIDGE"}
"""``ParticipantInfo.Kind`` when sent as a number; protobuf-JSON omits STANDARD (0) altogether."""

_PEERS = (("sip.twilio.callSid", "twilio"), ("sip.amazon.contactId", "amazon_connect"))
_SIP_HEADERS = {
    "sip.h.x-cx-journey-id": semconv.CX_JOURNEY_ID,
    "sip.h.traceparent": semconv.CX_TRACEPARENT,
    "sip.h.x-traceparent": semconv.CX_TRACEPARENT,
    "sip.h.user-to-user": semconv.CX_TELEPHONY_UUI,
    "sip.h.x-user-to-user": semconv.CX_TELEPHONY_UUI,
    "sip.h.session-id": semconv.CX_TELEPHONY_SESSION_ID,
}

_DISCONNECTS: dict[str, tuple[str, str | None]] = {
    # disconnect_reason → (cx.disconnect.reason, error.type when it is a system failure)
    "SIP_TRUNK_FAILURE": ("telecom_problem", "sip_trunk_failure"),
    "MEDIA_FAILURE": ("telecom_problem", "media_failure"),
    "CONNECTION_TIMEOUT": ("telecom_problem", "connection_timeout"),
    "JOIN_FAILURE": ("telecom_problem", "join_failure"),
    "SIGNAL_CLOSE": ("telecom_problem", "signal_close"),
    "SERVER_SHUTDOWN": ("other", "server_shutdown"),
    "STATE_MISMATCH": ("other", "state_mismatch"),
    "AGENT_ERROR": ("ai_disconnect", "agent_error"),
    "USER_UNAVAILABLE": ("third_party_disconnect", None),
    "USER_REJECTED": ("third_party_disconnect", None),
    "PARTICIPANT_REMOVED": ("api", None),
    "ROOM_DELETED": ("api", None),
    "ROOM_CLOSED": ("api", None),
    "DUPLICATE_IDENTITY": ("other", None),
    "MIGRATION": ("other", None),
}

JWT_LEEWAY_S = 60
"""Clock skew tolerated on ``exp`` / ``nbf`` (LiveKit's own verifier allows a minute)."""


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """Spans for every room and participant event in ``native``; other events are ignored."""
    spans: list[SpanDraft] = []
    ignored = 0
    for event in payloads.as_list(native):
        payloads.require_object(event, "LiveKit webhook event")
        name = str(payloads.require(event, "event", "LiveKit webhook"))
        if name in ROOM_EVENTS:
            spans.append(_room_span(event, name))
        elif name in PARTICIPANT_EVENTS:
            spans.append(_participant_span(event, name))
        else:
            ignored += 1
    return Parsed(spans, ignored)


def _field(obj: Any, camel: str, snake: str) -> Any:
    """A protobuf-JSON field in either of its spellings."""
    value = payloads.get(obj, camel)
    return payloads.get(obj, snake) if value is None else value


def _epoch_s(obj: Any, name: str, camel: str, snake: str) -> int | None:
    """A LiveKit seconds field (or its ``…Ms`` twin) in ns; None when absent or zero."""
    millis = _field(obj, camel + "Ms", snake + "_ms")
    if millis not in (None, "0", 0):
        return times.epoch(millis, unit="ms", field=f"{name}Ms")
    seconds = _field(obj, camel, snake)
    if seconds in (None, "0", 0):
        return None
    return times.epoch(seconds, unit="s", field=name)


def _event_time(event: Any) -> int:
    created = _epoch_s(event, "createdAt", "createdAt", "created_at")
    if created is None:
        raise BadPayload("LiveKit webhook: required field 'createdAt' is missing")
    return created


def _interaction_id(event: Any) -> str:
    room = payloads.get(event, "room")
    if room is None:
        raise BadPayload("LiveKit webhook: required field 'room.sid' is missing")
    payloads.require_object(room, "room")
    sid, name = payloads.get(room, "sid"), payloads.get(room, "name")
    if not sid and not name:
        raise BadPayload("LiveKit webhook: required field 'room.sid' is missing")
    return str(sid or name)


def _version(event_name: str, created: int) -> int:
    return created + (1 if event_name in CLOSING_EVENTS else 0)


def _room_span(event: Any, name: str) -> SpanDraft:
    interaction = _interaction_id(event)
    created = _event_time(event)
    start = _epoch_s(payloads.get(event, "room"), "room.creationTime", "creationTime", "creation_time") or created
    end = max(start, created) if name == "room_finished" else start
    return SpanDraft(
        platform=PLATFORM,
        interaction_id=interaction,
        key="room",
        name="ai_conversation livekit",
        span_type="ai_conversation",
        start_unix_nano=start,
        end_unix_nano=end,
        attributes={semconv.CX_CHANNEL: "voice"},
        record_version=_version(name, created),
        service_name=PLATFORM,
    )


def _kind(participant: Any, attributes: Mapping[str, Any]) -> str:
    kind = payloads.get(participant, "kind")
    if isinstance(kind, int):
        kind = _KIND_NUMBERS.get(kind, str(kind))
    kind = str(kind).upper() if kind is not None else "STANDARD"
    return "SIP" if "sip.callID" in attributes else kind


def _participant_span(event: Any, name: str) -> SpanDraft:
    interaction = _interaction_id(event)
    created = _event_time(event)
    participant = payloads.require_object(payloads.require(event, "participant", "LiveKit webhook"), "participant")
    sid = str(payloads.require(participant, "sid", "LiveKit webhook participant"))
    sip_attributes = payloads.get(participant, "attributes") or {}
    if not isinstance(sip_attributes, Mapping):
        raise BadPayload("LiveKit webhook: participant.attributes must be a JSON object")
    kind = _kind(participant, sip_attributes)
    start = _epoch_s(participant, "participant.joinedAt", "joinedAt", "joined_at") or created
    end = max(start, created) if name in CLOSING_EVENTS else start
    attributes: dict[str, Any] = {LIVEKIT_PARTICIPANT_SID: sid, LIVEKIT_PARTICIPANT_KIND: kind}
    status, status_message = "unset", ""
    if kind == "SIP":
        attributes |= _sip_attributes(sip_attributes)
    elif kind == "AGENT":
        attributes[semconv.GEN_AI_AGENT_ID] = payloads.get(participant, "identity")
        attributes[semconv.GEN_AI_AGENT_NAME] = payloads.get(participant, "name")
    if name == "participant_connection_aborted":
        attributes[semconv.CX_DISCONNECT_REASON] = "telecom_problem"
        attributes[semconv.ERROR_TYPE] = "connection_aborted"
        status, status_message = "error", "participant connection aborted"
    elif name == "participant_left":
        reason = _field(participant, "disconnectReason", "disconnect_reason")
        if reason is not None:
            reason = str(reason).upper()
            attributes[LIVEKIT_DISCONNECT_REASON] = reason
            cx_reason, error_type = _disconnect(reason, kind)
            attributes[semconv.CX_DISCONNECT_REASON] = cx_reason
            if error_type is not None:
                attributes[semconv.ERROR_TYPE] = error_type
                status, status_message = "error", f"participant disconnected: {reason}"
    is_sip = kind == "SIP"
    return SpanDraft(
        platform=PLATFORM,
        interaction_id=interaction,
        key=f"participant:{sid}",
        name="telephony livekit" if is_sip else "ai_conversation livekit",
        span_type="telephony" if is_sip else "ai_conversation",
        start_unix_nano=start,
        end_unix_nano=end,
        attributes=attributes,
        parent_key="room",
        kind="server" if is_sip else "internal",
        status=status,
        status_message=status_message,
        record_version=_version(name, created),
        service_name=PLATFORM,
    )


def _disconnect(reason: str, kind: str) -> tuple[str, str | None]:
    """``cx.disconnect.reason`` and, for a system failure, ``error.type`` of a participant leaving."""
    if reason == "CLIENT_INITIATED":
        return {"SIP": "customer_disconnect", "AGENT": "ai_disconnect"}.get(kind, "customer_disconnect"), None
    return _DISCONNECTS.get(reason, ("other", None))


def _sip_attributes(sip: Mapping[str, Any]) -> dict[str, Any]:
    """Our correlation keys from a SIP participant's attributes (phone numbers raw: the
    correlator hashes them before storage)."""
    out: dict[str, Any] = {
        semconv.SIP_CALL_ID: sip.get("sip.callIDFull"),
        LIVEKIT_SIP_CALL_ID: sip.get("sip.callID"),
        LIVEKIT_SIP_CALL_STATUS: sip.get("sip.callStatus"),
        semconv.CX_TELEPHONY_TRUNK_ID: sip.get("sip.trunkID"),
        semconv.CX_TELEPHONY_ANI_NUMBER: sip.get("sip.phoneNumber"),
        semconv.CX_TELEPHONY_DNIS_NUMBER: sip.get("sip.trunkPhoneNumber"),
        semconv.CX_CHANNEL: "voice",
    }
    for attribute, peer in _PEERS:
        if sip.get(attribute):
            out[semconv.CX_PEER_PLATFORM_NAME] = peer
            out[semconv.CX_PEER_INTERACTION_ID] = str(sip[attribute])
            break
    lowered = {str(k).lower(): v for k, v in sip.items()}
    for header, attribute in _SIP_HEADERS.items():
        value = lowered.get(header)
        if value and out.get(attribute) is None:
            out[attribute] = _uui(str(value)) if attribute == semconv.CX_TELEPHONY_UUI else str(value)
    return {k: v for k, v in out.items() if v is not None}


def _uui(value: str) -> str:
    """A User-to-User value without its header parameters (``04a1…;encoding=hex`` → ``04a1…``), as
    every adapter records it, so that both sides of a transfer compare equal."""
    return value.split(";", 1)[0].strip()


# --- signature ---------------------------------------------------------------------------------


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify(headers: Mapping[str, str], body: bytes, url: str, secret: str) -> str | None:
    """None if ``Authorization`` holds a valid LiveKit webhook JWT for ``body``, else why not."""
    api_key, sep, api_secret = secret.partition(":")
    if not sep or not api_key or not api_secret:
        return "the configured livekit secret must be 'api-key:api-secret'"
    token = next((str(v) for k, v in headers.items() if k.lower() == "authorization"), "").strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        return "missing Authorization header"
    parts = token.split(".")
    if len(parts) != 3:
        return "Authorization is not a JWT"
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, UnicodeDecodeError):
        return "Authorization is not a JWT"
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "Authorization is not a JWT"
    if header.get("alg") != "HS256":
        return "JWT algorithm must be HS256"
    expected = hmac.new(api_secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return "JWT signature does not match"
    if not hmac.compare_digest(str(claims.get("iss", "")).encode(), api_key.encode()):
        return "JWT issuer is not the configured API key"
    now = time.time()
    if isinstance(claims.get("exp"), int | float) and now > claims["exp"] + JWT_LEEWAY_S:
        return "JWT has expired"
    if isinstance(claims.get("nbf"), int | float) and now < claims["nbf"] - JWT_LEEWAY_S:
        return "JWT is not valid yet"
    body_hash = base64.b64encode(hashlib.sha256(body).digest())
    if not hmac.compare_digest(str(claims.get("sha256", "")).encode(), body_hash):
        return "body hash does not match the JWT sha256 claim"
    return None


ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    content_types=(JSON, WEBHOOK_JSON, NDJSON),
    verify=verify,
    description="LiveKit webhooks: rooms and participant sessions (SIP participants as telephony)",
)
