"""Genesys Cloud: analytics conversation detail records → spans.

Payloads: the analytics conversation detail record (``GET /api/v2/analytics/conversations/{id}/details``),
an array of them, or the query / jobs-results answer ``{"conversations": [...]}`` (its other keys,
``totalHits``, ``cursor``, are paging). A stream forwarder authenticates with
``Authorization: Bearer <secret>`` (``verify``).

Interaction ID: ``conversationId`` (one conversation covers IVR, queues and internal transfers).

Spans (cx-platforms.md §4.e), all children of the root:

- ``conversation`` (root, ``telephony`` for voice, ``conversationStart`` → ``conversationEnd``): channel,
  direction, customer ANI / dialled number and SIP Call-ID from the customer session, disconnect
  reason from the customer session's last ``disconnectType`` (``error`` / ``transportFailure`` is a
  telecom problem: status error), Q.850 cause, worst MOS, unanswered agent alerts as events.
- ``ivr:<sessionId>`` per ``ivr`` session: flow name/id and ``cx.ivr.outcome``.
- ``queue:<sessionId>`` per ``acd`` session: queue ID (the acd participant's name as queue name,
  else the ID) and ``cx.queue.exit_reason`` (``tAbandon`` → abandoned; an agent connected from it
  → answered; else timeout / transferred by ``disconnectType``).
- ``agent:<sessionId>`` per ``agent`` / ``user`` session that interacted: hold count, duration and
  events, after-call work, wrap-up code.
- ``handoff:<sessionId>`` per ``external`` session (a third party dialled by a transfer): target
  number, the hop's SIP Call-ID, warm/cold, failure when it never connected for a system reason;
  ``handoff:<sessionId>:<n>`` for an agent / IVR transfer segment with a target that no external
  session explains (internal transfer, consult into another conversation).

Correlation keys: ``sip.call_id`` (session ``protocolCallId``), ``cx.telephony.ani.number`` /
``.dnis.number`` (``tel:`` URIs → E.164), ``cx.transfer.target`` (external number),
``cx.platform.interaction.previous_id`` (segment ``sourceConversationId``), ``.related_id``
(``associatedConversationId``, ``consultationConversationIds``, segment ``destinationConversationId``),
and ``cx.journey.id`` / ``cx.journey.traceparent`` from participant attributes of those names. The
``x-inin-cnv`` SIP header Genesys sends to AI vendors *is* the conversationId, so the vendor's leg
links to this one by ``cx.peer.interaction.id``; nothing extra is needed here. Participant
attributes are also kept as ``genesys.attributes.<name>`` for user correlation rules.

Versions: Genesys names no last-updated field, so ``record_version`` is the latest time the record
holds (``conversationEnd`` or a later segment end, e.g. wrap-up): a record that grew supersedes the
snapshot it grew from. Times are ISO-8601 UTC; metric values are milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from journeytrace import semconv
from journeytrace.phone import normalize
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.model import Event, Parsed, SpanDraft
from journeytrace.receivers.platforms.payloads import as_list, get, require, require_object
from journeytrace.receivers.platforms.signing import check_bearer
from journeytrace.receivers.platforms.registry import Adapter

PLATFORM = "genesys_cloud"

GENESYS_DISCONNECT_TYPE = "genesys.disconnect_type"
GENESYS_WRAPUP_CODE = "genesys.wrapup_code"
GENESYS_FLOW_EXIT_REASON = "genesys.flow.exit_reason"
GENESYS_ATTRIBUTES_PREFIX = "genesys.attributes."

TRANSFERS = frozenset(
    {"transfer", "consulttransfer", "conferencetransfer", "forwardtransfer", "noanswertransfer", "notavailabletransfer"}
)
WARM_TRANSFERS = frozenset({"consulttransfer", "conferencetransfer"})
FAILURES = frozenset({"error", "transportfailure"})
BUSINESS_SIP_CODES = frozenset({486, 487, 603})
"""Busy, cancelled, declined: the callee's choice, not a system failure."""
AGENT_PURPOSES = frozenset({"agent", "user"})
HANDLED_PURPOSES = AGENT_PURPOSES | {"customer", "ivr", "acd", "external"}
CHANNELS = {"voice": "voice", "callback": "voice", "chat": "chat", "email": "email", "message": "messaging",
            "video": "video", "screenshare": "video", "cobrowse": "web"}  # fmt: skip
ANSWER_WINDOW_NS = 30_000_000_000
"""An agent whose interaction starts up to this long after a queue session ends was routed by it."""
PAIR_SLACK_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    kind: str
    start: int
    end: int
    disconnect: str
    """``disconnectType`` lower-cased for comparisons (``native_disconnect`` keeps Genesys' spelling)."""
    raw: Mapping[str, Any]

    @property
    def native_disconnect(self) -> str | None:
        return get(self.raw, "disconnectType")


@dataclass(slots=True)
class Session:
    key: str
    purpose: str
    participant: Mapping[str, Any]
    raw: Mapping[str, Any]
    segments: list[Segment] = field(default_factory=list)

    @property
    def start(self) -> int:
        return min(s.start for s in self.segments)

    @property
    def end(self) -> int:
        return max(s.end for s in self.segments)

    def first(self, kind: str) -> Segment | None:
        return next((s for s in self.segments if s.kind == kind), None)

    def disconnected(self) -> Segment | None:
        """The last segment that says how it ended."""
        ended = [s for s in self.segments if s.disconnect]
        return max(ended, key=lambda s: (s.end, s.index)) if ended else None

    def last_disconnect(self) -> str:
        segment = self.disconnected()
        return segment.disconnect if segment else ""

    def native_disconnect(self) -> str | None:
        segment = self.disconnected()
        return segment.native_disconnect if segment else None

    def metrics(self) -> dict[str, Any]:
        return {str(get(m, "name")): get(m, "value") for m in as_list(get(self.raw, "metrics")) if get(m, "name")}


@dataclass(frozen=True, slots=True)
class Transfer:
    """An agent or IVR segment that ended in a transfer."""

    session: Session
    segment: Segment
    from_type: str
    target: str | None


# --- payload shape ------------------------------------------------------------------------------


def conversations(native: Any) -> list[Mapping[str, Any]]:
    """The conversation records in any of the shapes Genesys returns them in."""
    if isinstance(native, Mapping) and get(native, "conversationId") is None and isinstance(
        get(native, "conversations"), list
    ):
        native = get(native, "conversations")
    return [require_object(item, "a Genesys conversation record") for item in as_list(native)]


def _time(value: Any, what: str) -> int:
    return times.iso8601(value, field=what) if isinstance(value, str) else times.any_time(value, field=what)


def _sessions(conversation: Mapping[str, Any], cid: str) -> tuple[list[Session], int]:
    """Every session of a handled participant (segments parsed), and how many participants were skipped."""
    sessions: list[Session] = []
    skipped = 0
    for p_index, participant in enumerate(as_list(get(conversation, "participants"))):
        participant = require_object(participant, f"conversation {cid} participant {p_index}")
        purpose = str(get(participant, "purpose", "")).lower()
        if purpose not in HANDLED_PURPOSES:
            skipped += 1
            continue
        for s_index, raw in enumerate(as_list(get(participant, "sessions"))):
            raw = require_object(raw, f"conversation {cid} participant {p_index} session {s_index}")
            key = str(get(raw, "sessionId") or f"{get(participant, 'participantId', p_index)}.{s_index}")
            sessions.append(Session(key, purpose, participant, raw))
    return sessions, skipped


def _fill_segments(sessions: list[Session], cid: str, horizon: int) -> None:
    """Parse every session's segments; an open segment ends at ``horizon`` (the record's latest time)."""
    for session in sessions:
        for index, raw in enumerate(as_list(get(session.raw, "segments"))):
            raw = require_object(raw, f"conversation {cid} session {session.key} segment {index}")
            what = f"conversation {cid} session {session.key} segment {index}"
            start = _time(require(raw, "segmentStart", what), f"{what} segmentStart")
            end_value = get(raw, "segmentEnd")
            end = _time(end_value, f"{what} segmentEnd") if end_value is not None else max(horizon, start)
            kind = str(get(raw, "segmentType", "")).lower()
            session.segments.append(Segment(index, kind, start, end, str(get(raw, "disconnectType", "")).lower(), raw))
        session.segments.sort(key=lambda s: (s.start, s.index))


def _latest_time(conversation: Mapping[str, Any], cid: str) -> int:
    """The latest time the record holds: the version, and the end of anything still open."""
    latest = _time(require(conversation, "conversationStart", f"conversation {cid}"), "conversationStart")
    if get(conversation, "conversationEnd") is not None:
        latest = max(latest, _time(get(conversation, "conversationEnd"), "conversationEnd"))
    for participant in as_list(get(conversation, "participants")):
        for session in as_list(get(participant, "sessions")):
            for segment in as_list(get(session, "segments")):
                for name in ("segmentStart", "segmentEnd"):
                    value = get(segment, name)
                    if value is not None:
                        latest = max(latest, _time(value, f"conversation {cid} {name}"))
    return latest


# --- values ------------------------------------------------------------------------------------


def phone_number(value: Any) -> str | None:
    """``tel:+1555…``, ``sip:+1555…@host;user=phone`` or a bare number as E.164; None otherwise."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    for scheme in ("tel:", "sips:", "sip:"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    return normalize(text.split(";", 1)[0].split("@", 1)[0])


def _target(value: Any) -> str | None:
    """A transfer target: E.164 when it is a number, else the address as given (queue, URI)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return phone_number(value) or value.strip()


def _last_code(segment: Segment, name: str) -> int | None:
    codes = [c for c in as_list(get(segment.raw, name)) if isinstance(c, int)]
    return codes[-1] if codes else None


PEER_DISCONNECTS = {"agent": "agent_disconnect", "external": "third_party_disconnect"}
"""Who hung up on the customer when its session ended by ``peer`` (nobody else: the flow)."""


def _disconnect_reason(disconnect: str, last_peer: str | None) -> str | None:
    """``cx.disconnect.reason`` for the customer session's last ``disconnectType``."""
    if disconnect == "endpoint":
        return "customer_disconnect"
    if disconnect == "peer":
        return PEER_DISCONNECTS.get(last_peer or "", "flow_disconnect")
    if disconnect == "client":
        return "agent_disconnect"
    if disconnect in FAILURES:
        return "telecom_problem"
    if disconnect == "timeout":
        return "expired"
    if not disconnect or disconnect in TRANSFERS:
        return None
    return "other"


# --- spans -------------------------------------------------------------------------------------


class _Builder:
    """The spans of one conversation; one method per span type."""

    def __init__(self, conversation: Mapping[str, Any], cid: str, sessions: list[Session], version: int) -> None:
        self.conversation = conversation
        self.cid = cid
        self.sessions = [s for s in sessions if s.segments]
        self.version = version
        self.start = _time(require(conversation, "conversationStart", f"conversation {cid}"), "conversationStart")
        end = get(conversation, "conversationEnd")
        self.end = max(_time(end, "conversationEnd") if end is not None else version, self.start)
        self.drafts: list[SpanDraft] = []
        self.root_events: list[Event] = []

    def draft(self, key: str, span_type: str | None, start: int, end: int, attributes: dict[str, Any],
              **kwargs: Any) -> SpanDraft:  # fmt: skip
        name = kwargs.pop("name", None) or f"{span_type or 'conversation'} {PLATFORM}"
        parent = kwargs.pop("parent_key", "conversation")
        span = SpanDraft(PLATFORM, self.cid, key, name, span_type, start, max(end, start), attributes,
                         parent_key=parent, record_version=self.version, **kwargs)  # fmt: skip
        self.drafts.append(span)
        return span

    def of(self, *purposes: str) -> list[Session]:
        return [s for s in self.sessions if s.purpose in purposes]

    def build(self) -> list[SpanDraft]:
        for session in self.of("ivr"):
            self.ivr(session)
        for session in self.of("acd"):
            self.queue(session)
        for session in self.of(*AGENT_PURPOSES):
            self.agent(session)
        self.handoffs()
        self.root()
        return self.drafts[-1:] + self.drafts[:-1]  # the root first

    def root(self) -> None:
        customer = next(iter(self.of("customer")), None)
        raw = customer.raw if customer else {}
        media = str(get(raw, "mediaType", "")).lower()
        direction = str(get(self.conversation, "originatingDirection", "") or get(raw, "direction", "")).lower()
        dialled = phone_number(get(raw, "dnis")) or phone_number(get(raw, "sessionDnis"))
        caller = dialled if direction == "outbound" else phone_number(get(raw, "ani"))
        attributes: dict[str, Any] = {
            semconv.CX_CHANNEL: CHANNELS.get(media, media or None),
            semconv.CX_DIRECTION: direction or None,
            semconv.CX_TELEPHONY_ANI_NUMBER: caller,
            semconv.CX_TELEPHONY_DNIS_NUMBER: dialled,
            semconv.SIP_CALL_ID: get(raw, "protocolCallId"),
            semconv.CX_AUDIO_MOS_MIN: get(self.conversation, "mediaStatsMinConversationMos"),
            semconv.CX_JOURNEY_CONTAINED: get(self.conversation, "selfServed"),
            semconv.CX_INTERACTION_PREVIOUS_ID: self.source_conversation(),
            semconv.CX_INTERACTION_RELATED_ID: get(self.conversation, "associatedConversationId")
            or next(iter(as_list(get(self.conversation, "consultationConversationIds"))), None),
        }
        attributes.update(self.participant_attributes())
        status, error_type = "unset", None
        if customer is not None:
            last = max(customer.segments, key=lambda s: (s.end, s.index))
            disconnect = customer.last_disconnect()
            attributes[GENESYS_DISCONNECT_TYPE] = customer.native_disconnect()
            attributes[semconv.CX_DISCONNECT_REASON] = _disconnect_reason(disconnect, self.last_peer())
            attributes[semconv.CX_TELEPHONY_Q850_CAUSE] = _last_code(last, "q850ResponseCodes")
            sip_code = _last_code(last, "sipResponseCodes")
            attributes[semconv.SIP_RESPONSE_STATUS_CODE] = sip_code
            if disconnect in FAILURES:
                status = "error"
                error_type = str(sip_code) if sip_code and sip_code >= 400 else "telecom_problem"
        attributes[semconv.ERROR_TYPE] = error_type
        voice = media in ("", "voice", "callback")
        kind = "client" if direction == "outbound" else "server"
        self.draft("conversation", "telephony" if voice else None, self.start, self.end, attributes,
                   parent_key=None, kind=kind, status=status, status_message=error_type or "",
                   events=sorted(self.root_events, key=lambda e: e.time_unix_nano))  # fmt: skip

    def source_conversation(self) -> str | None:
        for session in self.sessions:
            for segment in session.segments:
                source = get(segment.raw, "sourceConversationId")
                if source and source != self.cid:
                    return str(source)
        return None

    def participant_attributes(self) -> dict[str, Any]:
        """Participant attributes (the customer's win): journey token, traceparent, all as ``genesys.attributes.*``."""
        found: dict[str, Any] = {}
        ordered = sorted(self.sessions, key=lambda s: s.purpose != "customer")
        for participant in {id(s.participant): s.participant for s in reversed(ordered)}.values():
            attrs = get(participant, "attributes")
            if not isinstance(attrs, Mapping):
                continue
            for name, value in attrs.items():
                if not isinstance(value, str):
                    continue
                found[GENESYS_ATTRIBUTES_PREFIX + str(name)] = value
                lowered = str(name).lower()
                if lowered in ("cx.journey.id", "cx_journey_id"):
                    found[semconv.CX_JOURNEY_ID] = value
                elif lowered in ("traceparent", "cx.journey.traceparent"):
                    found[semconv.CX_TRACEPARENT] = value
        return found

    def last_peer(self) -> str | None:
        """Which role was last connected to the customer: ``ivr``, ``agent`` or ``external``."""
        peers = [(max(seg.end for seg in s.segments if seg.kind in ("ivr", "interact", "hold")), s.purpose)
                 for s in self.sessions if s.purpose in ("ivr", "external", *AGENT_PURPOSES)
                 and any(seg.kind in ("ivr", "interact") for seg in s.segments)]  # fmt: skip
        if not peers:
            return None
        purpose = max(peers)[1]
        return "agent" if purpose in AGENT_PURPOSES else purpose

    def ivr(self, session: Session) -> None:
        flow = get(session.raw, "flow") or {}
        disconnect = session.last_disconnect()
        exit_reason = str(get(flow, "exitReason", "")).upper()
        status, outcome = "unset", None
        if disconnect in FAILURES or "ERROR" in exit_reason:
            status, outcome = "error", "error"
        elif disconnect in TRANSFERS or "TRANSFER" in exit_reason:
            outcome = "handoff" if self.ivr_transfer_target(session) else "routed"
        elif get(self.conversation, "selfServed") is True:
            outcome = "self_served"
        elif disconnect == "peer":
            outcome = "abandoned"
        elif disconnect in ("endpoint", "client", "system"):
            outcome = "self_served"
        attributes = {
            semconv.CX_IVR_FLOW_NAME: get(flow, "flowName"),
            semconv.CX_IVR_FLOW_ID: get(flow, "flowId"),
            semconv.CX_IVR_OUTCOME: outcome,
            GENESYS_FLOW_EXIT_REASON: get(flow, "exitReason"),
            GENESYS_DISCONNECT_TYPE: session.native_disconnect(),
            semconv.ERROR_TYPE: "flow_error" if status == "error" else None,
        }
        self.draft(f"ivr:{session.key}", "ivr", session.start, session.end, attributes, status=status,
                   status_message="flow_error" if status == "error" else "")  # fmt: skip

    def ivr_transfer_target(self, session: Session) -> str | None:
        """Where a flow transferred the call, unless it only routed it to a queue (the queue span says that)."""
        flow = get(session.raw, "flow") or {}
        if str(get(flow, "transferType", "")).upper() in ("ACD", "QUEUE"):
            return None
        return _target(get(flow, "transferTargetAddress"))

    def queue(self, session: Session) -> None:
        metrics = session.metrics()
        disconnect = session.last_disconnect()
        queue_id = next((get(s.raw, "queueId") for s in session.segments if get(s.raw, "queueId")), None)
        if "tAbandon" in metrics or "tShortAbandon" in metrics:
            reason = "abandoned"
        elif "tAnswered" in metrics or self.answered_from(session, queue_id):
            reason = "answered"
        elif disconnect == "timeout":
            reason = "timeout"
        elif disconnect in TRANSFERS:
            reason = "transferred"
        elif disconnect in ("peer", "endpoint"):
            reason = "abandoned"
        else:
            reason = None
        failed = disconnect in FAILURES
        attributes = {
            semconv.CX_QUEUE_NAME: get(session.participant, "participantName") or queue_id,
            semconv.CX_QUEUE_ID: queue_id,
            semconv.CX_QUEUE_EXIT_REASON: reason,
            GENESYS_DISCONNECT_TYPE: session.native_disconnect(),
            semconv.ERROR_TYPE: "routing_error" if failed else None,
        }
        self.draft(f"queue:{session.key}", "queue", session.start, session.end, attributes,
                   status="error" if failed else "unset", status_message="routing_error" if failed else "")  # fmt: skip

    def answered_from(self, queue: Session, queue_id: Any) -> bool:
        """Whether an agent connected to the customer from this queue session."""
        for agent in self.of(*AGENT_PURPOSES):
            interact = agent.first("interact")
            if interact is None:
                continue
            agent_queue = next((get(s.raw, "queueId") for s in agent.segments if get(s.raw, "queueId")), None)
            if agent_queue is not None and queue_id is not None:
                if agent_queue == queue_id and interact.start >= queue.start:
                    return True
            elif queue.start <= interact.start <= queue.end + ANSWER_WINDOW_NS:
                return True
        return False

    def agent(self, session: Session) -> None:
        active = [s for s in session.segments if s.kind in ("interact", "hold")]
        if not any(s.kind == "interact" for s in active):
            alert = session.first("alert")
            if alert is not None:  # offered but never answered: a marker on the conversation
                self.root_events.append(Event("cx.agent.no_answer", alert.end, {
                    semconv.CX_AGENT_ID: get(session.participant, "userId"),
                    GENESYS_DISCONNECT_TYPE: alert.native_disconnect}))  # fmt: skip
            return
        holds = [s for s in session.segments if s.kind == "hold"]
        wrapups = [s for s in session.segments if s.kind == "wrapup"]
        metrics = session.metrics()
        acw_ms = sum(s.end - s.start for s in wrapups) // 1_000_000 if wrapups else metrics.get("tAcw")
        last = max(active, key=lambda s: (s.end, s.index))
        failed = last.disconnect in FAILURES
        events = [e for s in holds for e in (Event("cx.agent.hold", s.start), Event("cx.agent.resume", s.end))]
        attributes = {
            semconv.CX_AGENT_ID: get(session.participant, "userId"),
            semconv.CX_AGENT_NAME: get(session.participant, "participantName"),
            semconv.CX_AGENT_TYPE: "human",
            semconv.CX_AGENT_HOLD_COUNT: len(holds),
            semconv.CX_AGENT_HOLD_DURATION_MS: sum(s.end - s.start for s in holds) // 1_000_000,
            semconv.CX_AGENT_ACW_DURATION_MS: acw_ms,
            GENESYS_WRAPUP_CODE: next((get(s.raw, "wrapUpCode") for s in wrapups if get(s.raw, "wrapUpCode")), None),
            GENESYS_DISCONNECT_TYPE: last.native_disconnect,
            semconv.ERROR_TYPE: "softphone_disconnect" if failed else None,
        }
        self.draft(f"agent:{session.key}", "agent_interaction", min(s.start for s in active),
                   max(s.end for s in active), attributes, events=events, status="error" if failed else "unset",
                   status_message="softphone_disconnect" if failed else "")  # fmt: skip

    def transfers(self) -> list[Transfer]:
        """Agent and IVR segments that transferred the customer somewhere, in time order."""
        found = []
        for session in self.of(*AGENT_PURPOSES, "ivr"):
            for segment in session.segments:
                if segment.disconnect not in TRANSFERS:
                    continue
                if session.purpose == "ivr":
                    target = self.ivr_transfer_target(session)
                    if target is None:
                        continue  # routed to a queue: the queue span covers it
                    found.append(Transfer(session, segment, "ivr", target))
                elif segment.kind in ("interact", "hold"):  # alert segments "transfer" on no-answer
                    addresses = [a for a in as_list(get(session.raw, "destinationAddresses")) if isinstance(a, str)]
                    found.append(Transfer(session, segment, "human", _target(addresses[-1]) if addresses else None))
        return sorted(found, key=lambda t: (t.segment.end, t.session.key))

    def handoffs(self) -> None:
        pending = self.transfers()
        for external in sorted(self.of("external"), key=lambda s: (s.start, s.key)):
            number = _target(get(external.raw, "dnis") or get(external.raw, "addressTo"))
            earlier = [t for t in pending if t.segment.end <= external.start + PAIR_SLACK_NS]
            same = [t for t in earlier if t.target in (None, number)]
            transfer = (same or earlier or [None])[-1]
            if transfer is not None:
                pending.remove(transfer)
            self.external_handoff(external, number, transfer)
        for transfer in pending:
            related = get(transfer.segment.raw, "destinationConversationId")
            if transfer.target is None and related is None:
                continue
            at = transfer.segment.end
            to_type = "external" if phone_number(transfer.target) else (
                "queue" if any(at - PAIR_SLACK_NS <= q.start <= at + ANSWER_WINDOW_NS for q in self.of("acd"))
                else "human")  # fmt: skip
            self.handoff(f"handoff:{transfer.session.key}:{transfer.segment.index}", at, at, transfer, to_type,
                         {semconv.CX_TRANSFER_TARGET: transfer.target})  # fmt: skip

    def external_handoff(self, external: Session, number: str | None, transfer: Transfer | None) -> None:
        connected = external.first("interact")
        last = max(external.segments, key=lambda s: (s.end, s.index))
        sip_code = _last_code(last, "sipResponseCodes")
        rejected = sip_code is not None and sip_code >= 400 and sip_code not in BUSINESS_SIP_CODES
        failed = connected is None and (last.disconnect in FAILURES or rejected)
        error_type = (str(sip_code) if sip_code and sip_code >= 400 else "target_unreachable") if failed else None
        start = transfer.segment.end if transfer is not None else external.start
        end = connected.start if connected is not None else external.end
        attributes = {
            semconv.CX_TRANSFER_TARGET: number,
            semconv.SIP_CALL_ID: get(external.raw, "protocolCallId"),
            semconv.SIP_RESPONSE_STATUS_CODE: sip_code,
            GENESYS_DISCONNECT_TYPE: last.native_disconnect,
            semconv.ERROR_TYPE: error_type,
        }
        self.handoff(f"handoff:{external.key}", start, end, transfer, "external", attributes,
                     status="error" if failed else "unset", status_message=error_type or "")  # fmt: skip

    def handoff(self, key: str, start: int, end: int, transfer: Transfer | None, to_type: str,
                attributes: dict[str, Any], **kwargs: Any) -> None:  # fmt: skip
        from_type = transfer.from_type if transfer is not None else None
        disconnect = transfer.segment.disconnect if transfer is not None else ""
        related = get(transfer.segment.raw, "destinationConversationId") if transfer is not None else None
        attributes = {
            semconv.CX_HANDOFF_FROM_PLATFORM: PLATFORM,
            semconv.CX_HANDOFF_FROM_TYPE: from_type,
            semconv.CX_HANDOFF_TO_TYPE: to_type,
            semconv.CX_HANDOFF_MODE: ("warm" if disconnect in WARM_TRANSFERS else "cold") if disconnect else None,
            semconv.CX_INTERACTION_RELATED_ID: related,
            **attributes,
        }  # fmt: skip
        name = f"handoff {from_type or PLATFORM}->{to_type}"
        self.draft(key, "handoff", start, end, attributes, name=name, kind="producer", **kwargs)


def parse(native: Any, options: Mapping[str, str]) -> Parsed:
    """Spans of every conversation in the payload; skipped participants (workflow, voicemail, …) are ``ignored``."""
    spans: list[SpanDraft] = []
    ignored = 0
    for conversation in conversations(native):
        cid = str(require(conversation, "conversationId", "Genesys conversation"))
        version = _latest_time(conversation, cid)
        sessions, skipped = _sessions(conversation, cid)
        _fill_segments(sessions, cid, version)
        ignored += skipped
        spans += _Builder(conversation, cid, sessions, version).build()
    return Parsed(spans, ignored)




ADAPTER = Adapter(
    name=PLATFORM,
    parse=parse,
    verify=check_bearer,  # Connect/Genesys do not sign; their stream forwarders send a bearer token
    description="Genesys Cloud analytics conversation detail records (one, an array, or {conversations: [...]})",
)
