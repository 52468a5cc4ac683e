"""Amazon Connect: contact records (CTRs), EventBridge contact events and flow logs as spans.

Payloads (``POST /v1/platforms/amazon_connect``; one JSON object, a JSON array or JSON lines,
mixed freely; keys are matched case-insensitively):

- **Contact records** as a Kinesis Data Stream or Firehose forwarder delivers them (objects with
  ``ContactId`` and ``InitiationTimestamp``).
- **Contact events** as EventBridge delivers them (``detail-type: "Amazon Connect Contact Event"``,
  ``detail`` object). ``INITIATED``, ``CONNECTED_TO_SYSTEM``, ``QUEUED``, ``CONNECTED_TO_AGENT``,
  ``DISCONNECTED`` and ``COMPLETED`` open or close spans early, with millisecond times; other event
  types (``CONTACT_DATA_UPDATED``, ``AMD_DISABLED``, …) and other detail-types are counted as ignored.
- **Flow logs** (CloudWatch Logs): single entries (``ContactFlowModuleType``/``ContactFlowId``), or a
  CloudWatch Logs subscription message (``logEvents``, or still encoded as ``awslogs.data``); see
  ``amazon_connect_flows``.

The interaction is the contact segment: ``cx.platform.interaction.id`` = ``ContactId``. Every
contact gives a root span (key ``contact``; ``telephony`` for voice, ``InitiationTimestamp`` →
``DisconnectTimestamp``) and under it, when the record shows them: ``ivr`` (time in flows before
the queue), ``queue`` (``EnqueueTimestamp`` → ``DequeueTimestamp``, ``cx.queue.exit_reason``) and
``agent`` (``agent_interaction``, ``ConnectedToAgentTimestamp`` → after-contact work or
disconnect, with hold and ACW aggregates). The CTR has no hold timestamps, so holds are counts and
durations only, never invented events.

Versions: a CTR's ``record_version`` is ``LastUpdateTimestamp`` in ns, so a re-delivered CTR with a
later one replaces the stored spans and an older one never does. Contact events use the latest time
they know offset by ``-2**62``: among themselves the later state wins, and the CTR (the complete,
final record) always wins over them, whatever the arrival order.

Correlation keys emitted on the root span:

- ``cx.platform.interaction.previous_id`` / ``initial_id`` / ``related_id``: ``PreviousContactId``,
  ``InitialContactId`` (when not the contact itself), ``RelatedContactId``.
- ``cx.telephony.ani.number``: the customer's number (``CustomerEndpoint``; for
  ``EXTERNAL_OUTBOUND`` that endpoint is a third party, so it is the dialled number instead);
  ``cx.telephony.dnis.number``: the dialled number (``SystemEndpoint`` inbound, the customer
  outbound). ``cx.transfer.target``: ``TransferredToEndpoint``, on the span that was active at
  the transfer (agent, else ivr, else root), so the phone/time fallback measures from it.
- From contact attributes whose names say what they hold (compared lower-cased, camelCase split,
  any punctuation as ``_``): ``cx.journey.id`` (``cx_journey_id``, ``cjt_journey_id``, ``journeytrace_journey_id``,
  ``journey_id``), ``cx.journey.traceparent`` (``traceparent``, ``x_traceparent``),
  ``cx.telephony.uui`` (``uui``, ``user_to_user``, ``x_user_to_user``), ``sip.call_id``
  (``sip_call_id``, ``x_sip_call_id``, ``sip_callid``), and ``cx.peer.platform.name`` +
  ``cx.peer.interaction.id`` from ``[x_]<platform>_<id>`` where platform is ``polyai``/``poly_ai``, ``vapi``,
  ``twilio``, ``genesys``/``genesys_cloud`` (also ``x_inin_cnv``), ``retell``/``retell_ai``,
  ``bland``/``bland_ai`` or ``cxone``/``nice_cxone`` and id is ``id``, ``sid``, ``call_id``,
  ``call_sid``, ``conversation_id`` or ``contact_id`` (e.g. ``polyai_conversation_id``,
  ``vapi_call_id``, ``twilio_call_sid``). Only one peer fits on a span: the first by attribute
  name wins, the rest are reported in ``Parsed.notes``. Every attribute is also kept as
  ``aws.connect.attributes.<name>`` so correlation rules can name it.

Transfer, consult and conference are told apart as AWS describes ("Identify conferences and
transfers using contact records") when a payload holds both the parent and the child record; the
child root gets ``cx.transfer.type``. A ``QUEUE_TRANSFER`` contact is always a transfer.

Status ``error`` only for ``TELECOM_PROBLEM`` disconnects (``error.type`` ``telecom_problem``);
abandonment and hang-ups are attributes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from journeytrace import semconv
from journeytrace.phone import normalize
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.adapters import amazon_connect_flows as flows
from journeytrace.receivers.platforms.model import BadPayload, Event, Parsed, SpanDraft
from journeytrace.receivers.platforms.payloads import as_list, get, require, require_object
from journeytrace.receivers.platforms.signing import check_bearer
from journeytrace.receivers.platforms.registry import JSON, NDJSON, Adapter

PLATFORM = "amazon_connect"

# Platform-native attributes (docs/semantic-conventions.md, "Platform-native attributes").
AWS_CONNECT_ATTRIBUTES_PREFIX = "aws.connect.attributes."
"""User-defined contact attributes, one attribute per name (as correlation rules already expect)."""
AWS_CONNECT_DISCONNECT_REASON = "aws.connect.disconnect_reason"
"""The raw ``DisconnectReason``, kept because ``cx.disconnect.reason`` folds many values into ``other``."""
AWS_CONNECT_POTENTIAL_DISCONNECT_ISSUE = "aws.connect.potential_disconnect_issue"
"""``DisconnectDetails.PotentialDisconnectIssue``: a suspected, not proven, connectivity or device issue."""
AWS_CONNECT_AUDIO_QUALITY_ISSUES = "aws.connect.audio.potential_quality_issues"
"""``QualityMetrics.*.Audio.PotentialQualityIssues`` (``HighPacketLoss``, ``HighRoundTripTime``, …)."""
AWS_CONNECT_CONTACT_EVENT = "aws.connect.contact_event"
"""On spans built from a contact event: its ``eventType`` (the spans are provisional until the CTR)."""

EVENT_DETAIL_TYPE = "amazon connect contact event"
LIFECYCLE_EVENTS = frozenset(
    {"INITIATED", "CONNECTED_TO_SYSTEM", "QUEUED", "CONNECTED_TO_AGENT", "DISCONNECTED", "COMPLETED"}
)
EVENT_VERSION_OFFSET = -(1 << 62)
"""Added to a contact event's latest time: events order among themselves, and always below any CTR."""

FLOW_METHODS = frozenset({"INBOUND", "TRANSFER", "QUEUE_TRANSFER", "API", "WEBRTC_API", "FLOW", "DISCONNECT"})
"""Initiation methods whose contacts start in a flow (the ``ivr`` span)."""
OUTBOUND_METHODS = frozenset({"OUTBOUND", "CALLBACK", "EXTERNAL_OUTBOUND", "AGENT_REPLY"})
CHANNELS = {"VOICE": "voice", "CHAT": "chat", "TASK": "task", "EMAIL": "email"}

DISCONNECT_REASONS = {
    "CUSTOMER_DISCONNECT": "customer_disconnect",
    "AGENT_DISCONNECT": "agent_disconnect",
    "THIRD_PARTY_DISCONNECT": "third_party_disconnect",
    "CONTACT_FLOW_DISCONNECT": "flow_disconnect",
    "TELECOM_PROBLEM": "telecom_problem",
    "BARGED": "barged",
    "API": "api",
    "EXPIRED": "expired",
}
"""Connect ``DisconnectReason`` → ``cx.disconnect.reason``; anything else (busy, unanswered,
outbound-campaign results, ``OTHER``) is ``other``, with the raw value kept beside it."""
DISCONNECT_INITIATORS = {
    "CUSTOMER_DISCONNECT": "customer",
    "AGENT_DISCONNECT": "agent",
    "BARGED": "agent",
    "THIRD_PARTY_DISCONNECT": "third_party",
    "CONTACT_FLOW_DISCONNECT": "system",
    "API": "system",
    "EXPIRED": "system",
    "TELECOM_PROBLEM": "network",
}
SYSTEM_FAILURES = frozenset({"TELECOM_PROBLEM"})

JOURNEY_ID_NAMES = frozenset({"cx_journey_id", "cjt_journey_id", "journeytrace_journey_id", "journey_id"})
TRACEPARENT_NAMES = frozenset({"traceparent", "x_traceparent"})
UUI_NAMES = frozenset({"uui", "user_to_user", "x_user_to_user"})
SIP_CALL_ID_NAMES = frozenset({"sip_call_id", "x_sip_call_id", "sip_callid"})
PEER_PLATFORMS = {
    "polyai": "polyai", "poly_ai": "polyai", "vapi": "vapi", "twilio": "twilio", "genesys": "genesys_cloud",
    "genesys_cloud": "genesys_cloud", "retell": "retell", "retell_ai": "retell", "bland": "bland",
    "bland_ai": "bland", "cxone": "nice_cxone", "nice_cxone": "nice_cxone",
}  # fmt: skip
_PEER_NAME = re.compile(
    r"(?:x_)?(?P<platform>" + "|".join(sorted(PEER_PLATFORMS, key=len, reverse=True)) + r")_"
    r"(?:call_?sid|call_?id|conversation_?id|contact_?id|sid|id)"
)
_PEER_EXACT = {"x_inin_cnv": "genesys_cloud"}
_SEPARATORS = re.compile(r"[^a-z0-9]+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


# --- the contact, whichever record it came from ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quality:
    score: float | None
    issues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Queue:
    arn: str | None
    name: str | None
    enqueued: int
    dequeued: int | None


@dataclass(frozen=True, slots=True)
class Agent:
    arn: str | None
    routing_profile: str | None
    connected: int | None
    acw_start: int | None
    acw_ms: int | None
    hold_count: int | None
    hold_ms: int | None
    interaction_ms: int | None
    quality: Quality | None


@dataclass(frozen=True, slots=True)
class Contact:
    """What a CTR or a contact event says about one contact, in one shape for the span builder."""

    contact_id: str
    initiated: int
    last_known: int
    """The latest time the record knows of: the end of spans still open."""
    version: int | None
    source: str
    """``ctr`` or the contact event's ``eventType``."""
    initial_id: str | None = None
    previous_id: str | None = None
    related_id: str | None = None
    next_id: str | None = None
    channel: str | None = None
    method: str | None = None
    connected_to_system: int | None = None
    disconnected: int | None = None
    customer: str | None = None
    system: str | None = None
    transfer_target: str | None = None
    transfer_completed: int | None = None
    disconnect_reason: str | None = None
    disconnect_issue: str | None = None
    external_ms: int | None = None
    queue: Queue | None = None
    agent: Agent | None = None
    customer_quality: Quality | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


def _time(value: Any, name: str) -> int:
    return times.any_time(value, field=name)


def _opt_time(obj: Any, path: str) -> int | None:
    value = get(obj, path)
    return None if value is None or value == "" else _time(value, path)


def _opt_str(obj: Any, path: str) -> str | None:
    value = get(obj, path)
    return None if value is None or value == "" else str(value)


def _opt_int(obj: Any, path: str) -> int | None:
    value = get(obj, path)
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise BadPayload(f"{path} {str(value)[:40]!r} is not a number") from None


def _seconds_ms(obj: Any, path: str) -> int | None:
    seconds = _opt_int(obj, path)
    return None if seconds is None else seconds * 1000


def _acw_ms(obj: Any, duration_path: str | None, timestamps: str) -> int | None:
    """After-contact work in ms: the CTR's duration (seconds) if given, else end − start. (The
    contact event's ``afterContactWorkDuration`` has no documented unit, so it is not trusted.)"""
    if duration_path is not None and (ms := _seconds_ms(obj, duration_path)) is not None:
        return ms
    start, end = _opt_time(obj, f"{timestamps}StartTimestamp"), _opt_time(obj, f"{timestamps}EndTimestamp")
    return (end - start) // 1_000_000 if start is not None and end is not None else None


def _upper(value: str | None) -> str | None:
    return value.upper() if value else None


def _resource_id(arn: str | None) -> str | None:
    """The last path segment of an ARN (the queue, agent or flow ID without the account)."""
    return arn.rsplit("/", 1)[-1] if arn else None


def _phone(endpoint: Any) -> str | None:
    """An endpoint's number in E.164, or None when it is not a phone number (chat, withheld, …)."""
    kind = _opt_str(endpoint, "Type")
    address = _opt_str(endpoint, "Address")
    if address is None or (kind is not None and kind.upper() != "TELEPHONE_NUMBER"):
        return None
    return normalize(address)


def _transfer_target(endpoint: Any) -> str | None:
    address = _opt_str(endpoint, "Address")
    return None if address is None else normalize(address) or address


def _quality(obj: Any, path: str) -> Quality | None:
    audio = get(obj, path)
    if not isinstance(audio, Mapping):
        return None
    score = get(audio, "QualityScore")
    issues = tuple(str(i) for i in as_list(get(audio, "PotentialQualityIssues")))
    if score is None and not issues:
        return None
    try:
        return Quality(float(score) if score is not None else None, issues)
    except (TypeError, ValueError):
        raise BadPayload(f"{path}.QualityScore {str(score)[:40]!r} is not a number") from None


def _latest(*values: int | None) -> int:
    return max(v for v in values if v is not None)


def contact_from_ctr(record: Mapping[str, Any]) -> Contact:
    """A contact record as a ``Contact``; ``BadPayload`` names a missing ``ContactId`` or start."""
    contact_id = str(require(record, "ContactId", "contact record"))
    initiated = _time(require(record, "InitiationTimestamp", f"contact record {contact_id}"), "InitiationTimestamp")
    last_update = _opt_time(record, "LastUpdateTimestamp")
    queue: Queue | None = None
    agent: Agent | None = None
    if (enqueued := _opt_time(record, "Queue.EnqueueTimestamp")) is not None:
        dequeued = _opt_time(record, "Queue.DequeueTimestamp")
        duration = _seconds_ms(record, "Queue.Duration")
        if dequeued is None and duration is not None:
            dequeued = enqueued + duration * 1_000_000
        queue = Queue(_opt_str(record, "Queue.ARN"), _opt_str(record, "Queue.Name"), enqueued, dequeued)
    if isinstance(get(record, "Agent"), Mapping):
        agent = Agent(
            arn=_opt_str(record, "Agent.ARN"),
            routing_profile=_opt_str(record, "Agent.RoutingProfile.Name"),
            connected=_opt_time(record, "Agent.ConnectedToAgentTimestamp"),
            acw_start=_opt_time(record, "Agent.AfterContactWorkStartTimestamp"),
            acw_ms=_acw_ms(record, "Agent.AfterContactWorkDuration", "Agent.AfterContactWork"),
            hold_count=_opt_int(record, "Agent.NumberOfHolds"),
            hold_ms=_seconds_ms(record, "Agent.CustomerHoldDuration"),
            interaction_ms=_seconds_ms(record, "Agent.AgentInteractionDuration"),
            quality=_quality(record, "QualityMetrics.Agent.Audio"),
        )
    disconnected = _opt_time(record, "DisconnectTimestamp")
    connected = _opt_time(record, "ConnectedToSystemTimestamp")
    transfer_completed = _opt_time(record, "TransferCompletedTimestamp")
    known: list[int | None] = [initiated, connected, disconnected, transfer_completed]
    known += [queue.dequeued] if queue else []
    known += [agent.connected, agent.acw_start] if agent else []
    attributes = get(record, "Attributes", {})
    method = _opt_str(record, "InitiationMethod")
    return Contact(
        contact_id=contact_id,
        initiated=initiated,
        last_known=_latest(*known),
        version=last_update,
        source="ctr",
        initial_id=_opt_str(record, "InitialContactId"),
        previous_id=_opt_str(record, "PreviousContactId"),
        related_id=_opt_str(record, "RelatedContactId"),
        next_id=_opt_str(record, "NextContactId"),
        channel=_opt_str(record, "Channel"),
        method=_upper(method),
        connected_to_system=connected,
        disconnected=disconnected,
        customer=_phone(get(record, "CustomerEndpoint")),
        system=_phone(get(record, "SystemEndpoint")),
        transfer_target=_transfer_target(get(record, "TransferredToEndpoint")),
        transfer_completed=transfer_completed,
        disconnect_reason=_upper(_opt_str(record, "DisconnectReason")),
        disconnect_issue=_opt_str(record, "DisconnectDetails.PotentialDisconnectIssue"),
        external_ms=_seconds_ms(record, "ExternalThirdParty.ExternalThirdPartyInteractionDuration"),
        queue=queue,
        agent=agent,
        customer_quality=_quality(record, "QualityMetrics.Customer.Audio"),
        attributes={str(k): str(v) for k, v in attributes.items() if v is not None}
        if isinstance(attributes, Mapping)
        else {},
    )


def contact_from_event(envelope: Mapping[str, Any]) -> Contact | None:
    """A lifecycle contact event as a (provisional) ``Contact``; None for event types that carry
    no lifecycle times. ``BadPayload`` names a missing ``detail.contactId`` or ``detail.eventType``."""
    detail = require_object(require(envelope, "detail", "contact event"), "contact event detail")
    contact_id = str(require(detail, "contactId", "contact event"))
    event_type = str(require(detail, "eventType", f"contact event for {contact_id}")).upper()
    initiated = _opt_time(detail, "initiationTimestamp")
    if event_type not in LIFECYCLE_EVENTS or initiated is None:
        return None
    queue: Queue | None = None
    agent: Agent | None = None
    if (enqueued := _opt_time(detail, "queueInfo.enqueueTimestamp")) is not None:
        queue = Queue(_opt_str(detail, "queueInfo.queueArn"), None, enqueued, None)
    if isinstance(get(detail, "agentInfo"), Mapping):
        agent = Agent(
            arn=_opt_str(detail, "agentInfo.agentArn"),
            routing_profile=None,
            connected=_opt_time(detail, "agentInfo.connectedToAgentTimestamp"),
            acw_start=_opt_time(detail, "agentInfo.afterContactWorkStartTimestamp"),
            acw_ms=_acw_ms(detail, None, "agentInfo.afterContactWork"),
            hold_count=None,
            hold_ms=None,
            interaction_ms=None,
            quality=None,
        )
    envelope_time = _opt_time(envelope, "time")
    disconnected = _opt_time(detail, "disconnectTimestamp")
    connected = _opt_time(detail, "connectedToSystemTimestamp")
    known: list[int | None] = [initiated, connected, disconnected, envelope_time]
    known += [queue.enqueued] if queue else []
    known += [agent.connected, agent.acw_start] if agent else []
    last_known = _latest(*known)
    method = _opt_str(detail, "initiationMethod")
    return Contact(
        contact_id=contact_id,
        initiated=initiated,
        last_known=last_known,
        version=EVENT_VERSION_OFFSET + last_known,
        source=event_type,
        initial_id=_opt_str(detail, "initialContactId"),
        previous_id=_opt_str(detail, "previousContactId"),
        related_id=_opt_str(detail, "relatedContactId"),
        channel=_opt_str(detail, "channel"),
        method=_upper(method),
        connected_to_system=connected,
        disconnected=disconnected,
        disconnect_reason=_upper(_opt_str(detail, "disconnectReason")),
        queue=queue,
        agent=agent,
    )


# --- how contacts relate ---------------------------------------------------------------------------


def transfer_type(parent: Contact, child: Contact) -> str | None:
    """Transfer, consult or conference, by AWS's rules; None when the records cannot tell."""
    if child.method == "EXTERNAL_OUTBOUND" or child.agent is None:
        if parent.transfer_completed is not None and (child.disconnected or 0) > parent.transfer_completed:
            return "transfer"
        hold = parent.agent.hold_ms if parent.agent else None
        if hold is None or child.external_ms is None:
            return None
        return "consult" if hold > child.external_ms else "conference"
    parent_acw = parent.agent.acw_start if parent.agent else None
    if parent_acw is None or child.agent.acw_start is None:
        return None
    if child.agent.acw_start > parent_acw:
        return "transfer" if parent.transfer_completed is not None else None
    return "consult" if (child.agent.interaction_ms or 0) <= 2000 else "conference"


@dataclass(frozen=True, slots=True)
class Relations:
    """What the other records of one payload say about each contact."""

    transfer_types: Mapping[str, str]
    callback_parents: frozenset[str]
    """Contacts a ``CALLBACK`` contact in the payload came from (the customer asked for a callback)."""


def relations(contacts: list[Contact]) -> Relations:
    """Transfer types and callbacks among ``contacts`` (the newest version of each counts)."""
    newest: dict[str, Contact] = {}
    for contact in contacts:
        held = newest.get(contact.contact_id)
        if held is None or (contact.version or 0) >= (held.version or 0):
            newest[contact.contact_id] = contact
    types: dict[str, str] = {}
    callbacks: set[str] = set()
    for child in newest.values():
        parent = newest.get(child.previous_id) if child.previous_id else None
        if child.method == "QUEUE_TRANSFER":
            types[child.contact_id] = "transfer"
        elif child.method == "CALLBACK" and child.previous_id:
            callbacks.add(child.previous_id)
        elif child.method in ("TRANSFER", "EXTERNAL_OUTBOUND") and parent is not None:
            kind = transfer_type(parent, child)
            if kind is not None:
                types[child.contact_id] = kind
    return Relations(types, frozenset(callbacks))


# --- contact attributes ------------------------------------------------------------------------------


def _normal_name(name: str) -> str:
    """``x-Twilio-CallSid``, ``twilio.callSid`` and ``TWILIO_CALL_SID`` all as ``..._call_sid``."""
    return _SEPARATORS.sub("_", _CAMEL_BOUNDARY.sub("_", name).lower()).strip("_")


def attribute_keys(attributes: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Span attributes for the correlation keys the contact attributes carry, and notes on any
    peer IDs that did not fit (only one peer per span)."""
    out: dict[str, str] = {}
    peers: list[tuple[str, str, str]] = []
    for name in sorted(attributes):
        value = attributes[name].strip()
        if not value:
            continue
        normal = _normal_name(name)
        if normal in JOURNEY_ID_NAMES:
            out.setdefault(semconv.CX_JOURNEY_ID, value)
        elif normal in TRACEPARENT_NAMES:
            out.setdefault(semconv.CX_TRACEPARENT, value)
        elif normal in UUI_NAMES:
            out.setdefault(semconv.CX_TELEPHONY_UUI, value)
        elif normal in SIP_CALL_ID_NAMES:
            out.setdefault(semconv.SIP_CALL_ID, value)
        elif (platform := _peer_platform(normal)) is not None:
            peers.append((name, platform, value))
    notes: list[str] = []
    if peers:
        _, platform, value = peers[0]
        out[semconv.CX_PEER_PLATFORM_NAME] = platform
        out[semconv.CX_PEER_INTERACTION_ID] = value
        notes = [f"peer ID in attribute {name!r} not linked: one peer per contact" for name, _, _ in peers[1:]]
    return out, notes


def _peer_platform(normal_name: str) -> str | None:
    if normal_name in _PEER_EXACT:
        return _PEER_EXACT[normal_name]
    match = _PEER_NAME.fullmatch(normal_name)
    return PEER_PLATFORMS[match["platform"]] if match else None


# --- spans ---------------------------------------------------------------------------------------------


def _queue_exit(contact: Contact, relations: Relations) -> str | None:
    if contact.agent is not None and contact.agent.connected is not None:
        return "answered"
    if contact.disconnected is None:
        return None  # still waiting
    if contact.contact_id in relations.callback_parents:
        return "callback_requested"
    if contact.next_id or contact.transfer_completed is not None:
        return "transferred"
    if contact.disconnect_reason in SYSTEM_FAILURES:
        return None  # dropped, not abandoned: the root span says so
    return "abandoned"


def _ivr_outcome(contact: Contact) -> str | None:
    if contact.queue is not None:
        return "routed"
    if contact.disconnected is None:
        return None
    if contact.transfer_completed is not None or contact.next_id:
        return "handoff"
    return {"CONTACT_FLOW_DISCONNECT": "self_served", "CUSTOMER_DISCONNECT": "abandoned"}.get(
        contact.disconnect_reason or ""
    )


def _quality_attributes(quality: Quality | None, point: str) -> dict[str, Any]:
    if quality is None:
        return {}
    return {
        semconv.CX_AUDIO_MOS: quality.score,
        semconv.CX_AUDIO_MEASUREMENT_POINT: point,
        AWS_CONNECT_AUDIO_QUALITY_ISSUES: list(quality.issues),
    }


def _draft(
    contact: Contact,
    key: str,
    name: str,
    span_type: str | None,
    start: int,
    end: int,
    attributes: Mapping[str, Any],
    **kw: Any,
) -> SpanDraft:
    """A span of ``contact``; absent (None or empty) attributes are left out."""
    return SpanDraft(
        platform=PLATFORM,
        interaction_id=contact.contact_id,
        key=key,
        name=name,
        span_type=span_type,
        start_unix_nano=start,
        end_unix_nano=max(start, end),
        parent_key=None if key == "contact" else "contact",
        record_version=contact.version,
        attributes={k: v for k, v in attributes.items() if v is not None and v != "" and v != []},
        **kw,
    )


def _root(contact: Contact, relations: Relations, keys: Mapping[str, str]) -> SpanDraft:
    outbound = contact.method in OUTBOUND_METHODS or (
        contact.method == "API" and (contact.channel or "").upper() == "VOICE"
    )
    voice = (contact.channel or "VOICE").upper() == "VOICE"
    reason = contact.disconnect_reason
    if contact.method == "EXTERNAL_OUTBOUND":
        ani, dnis = None, contact.customer
    else:
        ani, dnis = contact.customer, contact.customer if outbound else contact.system
    attributes: dict[str, Any] = {
        semconv.CX_CHANNEL: CHANNELS.get((contact.channel or "").upper()),
        semconv.CX_DIRECTION: "outbound" if outbound else "inbound" if contact.method else None,
        semconv.CX_INITIATION_METHOD: contact.method.lower() if contact.method else None,
        semconv.CX_INTERACTION_PREVIOUS_ID: contact.previous_id,
        semconv.CX_INTERACTION_INITIAL_ID: contact.initial_id if contact.initial_id != contact.contact_id else None,
        semconv.CX_INTERACTION_RELATED_ID: contact.related_id,
        semconv.CX_TELEPHONY_ANI_NUMBER: ani,
        semconv.CX_TELEPHONY_DNIS_NUMBER: dnis,
        semconv.CX_DISCONNECT_REASON: (DISCONNECT_REASONS.get(reason, "other") if reason else None),
        semconv.CX_DISCONNECT_INITIATOR: DISCONNECT_INITIATORS.get(reason or ""),
        AWS_CONNECT_DISCONNECT_REASON: reason,
        AWS_CONNECT_POTENTIAL_DISCONNECT_ISSUE: contact.disconnect_issue,
        semconv.CX_TRANSFER_TYPE: relations.transfer_types.get(contact.contact_id),
        AWS_CONNECT_CONTACT_EVENT: None if contact.source == "ctr" else contact.source,
        **_quality_attributes(contact.customer_quality, "customer_edge"),
        **keys,
    }
    attributes.update({AWS_CONNECT_ATTRIBUTES_PREFIX + k: v for k, v in contact.attributes.items()})
    failed = reason in SYSTEM_FAILURES
    if failed and reason:
        attributes[semconv.ERROR_TYPE] = reason.lower()
    return _draft(
        contact, "contact", f"{'telephony' if voice else 'contact'} {PLATFORM}", "telephony" if voice else None,
        contact.initiated, contact.disconnected or contact.last_known, attributes=attributes,
        kind="client" if outbound else "server", status="error" if failed else "unset",
        status_message=reason if failed and reason else "",
    )  # fmt: skip


def _ivr(contact: Contact) -> SpanDraft | None:
    if contact.method not in FLOW_METHODS:
        return None
    start = contact.connected_to_system or contact.initiated
    end = (contact.queue.enqueued if contact.queue else None) or contact.transfer_completed
    return _draft(
        contact, "ivr", f"ivr {PLATFORM}", "ivr", start, end or contact.disconnected or contact.last_known,
        attributes={semconv.CX_IVR_OUTCOME: _ivr_outcome(contact)},
    )  # fmt: skip


def _queue(contact: Contact, relations: Relations) -> SpanDraft | None:
    queue = contact.queue
    if queue is None:
        return None
    agent_connected = contact.agent.connected if contact.agent else None
    end = queue.dequeued or agent_connected or contact.disconnected or contact.last_known
    attributes = {
        semconv.CX_QUEUE_NAME: queue.name,
        semconv.CX_QUEUE_ID: _resource_id(queue.arn),
        semconv.CX_QUEUE_EXIT_REASON: _queue_exit(contact, relations),
    }
    return _draft(contact, "queue", f"queue {PLATFORM}", "queue", queue.enqueued, end, attributes=attributes,
                  kind="consumer")  # fmt: skip


def _agent(contact: Contact) -> SpanDraft | None:
    agent = contact.agent
    if agent is None or agent.connected is None:
        return None
    attributes = {
        semconv.CX_AGENT_ID: _resource_id(agent.arn),
        semconv.CX_AGENT_TYPE: "human",
        semconv.CX_AGENT_ROUTING_PROFILE: agent.routing_profile,
        semconv.CX_AGENT_HOLD_COUNT: agent.hold_count,
        semconv.CX_AGENT_HOLD_DURATION_MS: agent.hold_ms,
        semconv.CX_AGENT_ACW_DURATION_MS: agent.acw_ms,
        **_quality_attributes(agent.quality, "agent_softphone"),
    }
    end = agent.acw_start or contact.disconnected or contact.last_known
    return _draft(contact, "agent", f"agent_interaction {PLATFORM}", "agent_interaction", agent.connected, end,
                  attributes=attributes)  # fmt: skip


def _mark_transfer(contact: Contact, spans: list[SpanDraft]) -> None:
    """Name the transfer target on the span active at the transfer (agent, else ivr, else root), and
    mark the moment it completed: the phone/time matcher measures from that span's end."""
    if contact.transfer_target is None and contact.transfer_completed is None:
        return
    by_key = {s.key: s for s in spans}
    at = contact.transfer_completed
    agent = by_key.get("agent")
    if agent is not None and (at is None or agent.start_unix_nano <= at):
        holder = agent
    else:
        holder = by_key.get("ivr") or by_key["contact"]
    if contact.transfer_target is not None:
        holder.attributes[semconv.CX_TRANSFER_TARGET] = contact.transfer_target
    if at is not None:
        holder.events.append(Event("cx.transfer", at))


def contact_spans(contact: Contact, relations: Relations) -> tuple[list[SpanDraft], list[str]]:
    """The spans of one contact, and notes about what could not be expressed."""
    keys, notes = attribute_keys(contact.attributes)
    spans = [_root(contact, relations, keys)]
    spans += [s for s in (_ivr(contact), _queue(contact, relations), _agent(contact)) if s is not None]
    _mark_transfer(contact, spans)
    return spans, [f"contact {contact.contact_id}: {n}" for n in notes]


# --- the adapter -----------------------------------------------------------------------------------------


def _kind(item: Mapping[str, Any]) -> str:
    if get(item, "detail-type") is not None or (get(item, "detail") is not None and get(item, "source")):
        return "event"
    if get(item, "logEvents") is not None or get(item, "awslogs") is not None:
        return "cloudwatch"
    if get(item, "ContactFlowModuleType") is not None or (
        get(item, "ContactFlowId") is not None and get(item, "InitiationTimestamp") is None
    ):
        return "flow"
    return "ctr"


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """CTRs, contact events and flow-log entries (any mix) → spans; see the module docstring."""
    del options  # nothing to configure: every Connect time is UTC
    contacts: list[Contact] = []
    flow_entries: list[Mapping[str, Any]] = []
    ignored = 0
    for index, item in enumerate(as_list(native)):
        item = require_object(item, f"item {index}")
        kind = _kind(item)
        if kind == "event":
            detail_type = str(get(item, "detail-type", "")).lower()
            contact = contact_from_event(item) if detail_type == EVENT_DETAIL_TYPE else None
            if contact is None:
                ignored += 1
            else:
                contacts.append(contact)
        elif kind == "cloudwatch":
            entries, skipped = flows.subscription_entries(item)
            flow_entries += entries
            ignored += skipped
        elif kind == "flow":
            flow_entries.append(item)
        else:
            contacts.append(contact_from_ctr(item))
    spans = flows.flow_spans(flow_entries)
    notes: list[str] = []
    related = relations([c for c in contacts if c.source == "ctr"])
    for contact in contacts:
        drafts, contact_notes = contact_spans(contact, related)
        spans += drafts
        notes += contact_notes
    return Parsed(spans, ignored, tuple(notes))




ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    content_types=(JSON, NDJSON),
    verify=check_bearer,  # Connect/Genesys do not sign; their stream forwarders send a bearer token
    description="Amazon Connect contact records (Kinesis/Firehose), EventBridge contact events, flow logs",
)
