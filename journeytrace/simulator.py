"""``journeytrace simulate``: realistic multi-platform contact-center journeys, as native payloads.

Demos and end-to-end tests need journeys that cross platforms the way real integrations do, and
that arrive the way real platforms deliver them. Everything here is sent through
``POST /v1/platforms/{platform}`` exactly as the platform would send it (Twilio forms, Vapi
Server URL messages, Connect CTRs and EventBridge events, Genesys analytics details, PolyAI
Conversations API pages, LiveKit webhooks), so the simulator exercises the adapters and the
correlator rather than a shortcut around them.

Scenarios (cx-platforms.md §1.2, the key each real handoff leaves behind):

- ``polyai_connect``: PolyAI answers, hands off to an Amazon Connect number; Connect IVR → queue →
  human agent. Link: a Connect Lambda writes the PolyAI conversation ID into the contact attribute
  ``polyai_conversation_id`` (most journeys), else only DNIS = ``handoff_destination`` + time.
- ``twilio_vapi``: a Twilio number imported into Vapi (``phoneCallProviderId`` = CallSid); Vapi
  transfers through Twilio (a ``<Dial>`` child leg, ``ParentCallSid``) to a PBX desk, an Amazon
  Connect number or a Genesys number (number + time).
- ``genesys_polyai``: Genesys IVR transfers to PolyAI over SIP (``x-inin-cnv`` and the hop's
  Call-ID reach PolyAI); PolyAI hands back to a Genesys number (number + time).
- ``connect_livekit``: Connect transfers to a LiveKit SIP agent (``X-Amzn-ConnectContactId`` →
  ``sip.amazon.contactId``, UUI set by the flow); some calls escalate back to a Connect queue
  carrying the same UUI.

Trouble, by weight: abandoned queues (or AI calls), dropped calls (telecom problem), failed
transfers and poor audio (low MOS, jitter, loss). Amazon Connect CTRs and Twilio Voice Insights
summaries are *late*: posted ``--late-seconds`` after the journey's other payloads, the way they
arrive minutes after the call; Connect contact events (EventBridge) arrive on time before them.

``journeys()`` is a pure function of its arguments, so tests know what must come out.
"""

from __future__ import annotations

import heapq
import json
import random
import socket
import string
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit

from journeytrace.importer import _post

S = 1_000_000_000
MS = 1_000_000

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
LIVEKIT_JSON = "application/webhook+json"

CONNECT_INSTANCE = "arn:aws:connect:us-east-1:111122223333:instance/7c1f0d2e-5a4b-4c3d-9e8f-0a1b2c3d4e5f"
CONNECT_ACCOUNT = "111122223333"
CONNECT_QUEUES = ("Billing", "Support", "Sales")
CONNECT_AGENTS = ("a.jones", "b.khan", "c.silva", "d.meyer", "e.okafor")
GENESYS_QUEUES = ("Billing", "Claims", "Support")
GENESYS_AGENTS = ("Sam Lee", "Ana Ruiz", "Kim Park", "Tom Berg")
INTENTS = ("billing_dispute", "card_lost", "change_address", "cancel_subscription", "delivery_status")

# Business numbers: the 555-01XX range is reserved for fiction, so nothing real is ever dialled.
POLYAI_NUMBER = "+18005550111"
CONNECT_NUMBER = "+18005550120"
CONNECT_AGENT_NUMBER = "+18005550121"
VAPI_NUMBER = "+18005550130"
GENESYS_NUMBER = "+18005550140"
GENESYS_HANDBACK_NUMBER = "+18005550141"
LIVEKIT_NUMBER = "+18005550150"
PBX_DESK = "+18005550160"
_CUSTOMER_AREAS = ("201", "212", "305", "312", "404", "415", "503", "512", "617", "646", "702", "713", "808",
                   "917", "206", "303", "480", "612", "704", "919")  # fmt: skip

SCENARIOS = {"polyai_connect": 3, "twilio_vapi": 3, "genesys_polyai": 2, "connect_livekit": 2}
TROUBLES = {None: 10, "abandoned": 3, "dropped": 3, "failed_transfer": 2, "poor_audio": 2}
"""Relative weights, among the troubles a scenario can show (``UNSUPPORTED``)."""
UNSUPPORTED = {"genesys_polyai": frozenset({"failed_transfer"})}


# --- what a simulated journey is -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Post:
    """One native payload, as the platform would POST it."""

    platform: str
    content_type: str
    body: bytes
    late: bool = False
    """Delivered after the journey's other payloads (Connect CTRs, Twilio Insights summaries)."""


@dataclass(frozen=True, slots=True)
class Interaction:
    platform: str
    interaction_id: str
    start_ns: int
    """When the interaction starts: legs are interactions in start order."""


@dataclass(frozen=True, slots=True)
class SimulatedJourney:
    number: int
    scenario: str
    trouble: str | None
    interactions: tuple[Interaction, ...]
    posts: tuple[Post, ...]
    expected_outcome: str | None
    """The outcome the correlator should derive (docs/correlation.md), None when no span says one."""
    end_ns: int
    customer: str
    """The caller's number (E.164), for searches by phone."""

    @property
    def platforms(self) -> list[str]:
        """The leg path: platforms in start order, consecutive repeats merged."""
        ordered = [i.platform for i in sorted(self.interactions, key=lambda i: (i.start_ns, i.platform))]
        return [p for n, p in enumerate(ordered) if n == 0 or ordered[n - 1] != p]


@dataclass(slots=True)
class _Builder:
    """The posts and interactions of the journey being generated."""

    rng: random.Random
    t0: int
    customer: str
    posts: list[Post] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    end: int = 0

    def post(self, platform: str, payload: Any, *, late: bool = False, content_type: str = JSON) -> None:
        body = urlencode(payload).encode() if content_type == FORM else json.dumps(payload).encode()
        self.posts.append(Post(platform, content_type, body, late))

    def interaction(self, platform: str, interaction_id: str, start: int, end: int) -> None:
        self.interactions.append(Interaction(platform, interaction_id, start))
        self.end = max(self.end, end)

    def seconds(self, low: float, high: float) -> int:
        """A duration in whole seconds (ns): most platforms report second precision."""
        return round(self.rng.uniform(low, high)) * S

    def millis(self, low: float, high: float) -> int:
        return round(self.rng.uniform(low, high) * 1000) * MS

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def call_sid(self) -> str:
        return "CA" + self.hex(32)

    def token(self, length: int) -> str:
        return "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(length))


# --- formats -------------------------------------------------------------------------------------


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / S, UTC)


def iso_s(ns: int) -> str:
    """ISO-8601 UTC, second precision (Connect CTRs)."""
    return _dt(ns - ns % S).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(ns: int) -> str:
    """ISO-8601 UTC with milliseconds (contact events, Genesys, Vapi, PolyAI)."""
    return _dt(ns - ns % MS).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def rfc2822(ns: int) -> str:
    """Twilio's ``Timestamp``: ``Tue, 04 Mar 2025 10:15:02 +0000``."""
    return format_datetime(_dt(ns - ns % S))


def epoch_ms(ns: int) -> int:
    return ns // MS


# --- Amazon Connect ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ConnectContact:
    """One Connect contact's timeline; ``ctr()`` writes it the way Kinesis delivers it."""

    contact_id: str
    start: int
    customer: str
    system: str
    disconnect: int
    reason: str
    ivr_end: int | None = None
    queue: str | None = None
    dequeue: int | None = None
    agent: str | None = None
    agent_connected: int | None = None
    acw_seconds: int = 0
    holds: tuple[int, ...] = ()
    quality: float | None = None
    quality_issues: tuple[str, ...] = ()
    disconnect_issue: str | None = None
    transfer_target: str | None = None
    transfer_completed: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def ctr(self) -> dict[str, Any]:
        acw_end = self.disconnect + self.acw_seconds * S
        record: dict[str, Any] = {
            "AWSAccountId": CONNECT_ACCOUNT,
            "AWSContactTraceRecordFormatVersion": "2017-03-10",
            "InstanceARN": CONNECT_INSTANCE,
            "ContactId": self.contact_id,
            "InitialContactId": None,
            "PreviousContactId": None,
            "NextContactId": None,
            "Channel": "VOICE",
            "InitiationMethod": "INBOUND",
            "InitiationTimestamp": iso_s(self.start),
            "ConnectedToSystemTimestamp": iso_s(self.start),
            "DisconnectTimestamp": iso_s(self.disconnect),
            "LastUpdateTimestamp": iso_s(acw_end + 2 * S),
            "CustomerEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": self.customer},
            "SystemEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": self.system},
            "Queue": None,
            "Agent": None,
            "AgentConnectionAttempts": 1 if self.agent else 0,
            "Attributes": self.attributes,
            "SegmentAttributes": {"connect:Subtype": {"ValueString": "connect:Telephony"}},
            "DisconnectReason": self.reason,
            "TransferCompletedTimestamp": iso_s(self.transfer_completed) if self.transfer_completed else None,
            "TransferredToEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": self.transfer_target}
            if self.transfer_target else None,
            "Recordings": None,
            "Tags": {"aws:connect:instanceId": CONNECT_INSTANCE.rsplit("/", 1)[1]},
        }  # fmt: skip
        if self.disconnect_issue:
            record["DisconnectDetails"] = {"PotentialDisconnectIssue": self.disconnect_issue}
        if self.queue and self.ivr_end is not None:
            dequeue = self.dequeue or self.disconnect
            record["Queue"] = {
                "ARN": f"{CONNECT_INSTANCE}/queue/q-{self.queue.lower()}", "Name": self.queue,
                "EnqueueTimestamp": iso_s(self.ivr_end), "DequeueTimestamp": iso_s(dequeue),
                "Duration": (dequeue - self.ivr_end) // S,
            }  # fmt: skip
        if self.agent and self.agent_connected is not None:
            record["Agent"] = self._agent(acw_end)
            if self.quality is not None:
                record["QualityMetrics"] = {"Agent": {"Audio": {
                    "QualityScore": self.quality, "PotentialQualityIssues": list(self.quality_issues)}}}  # fmt: skip
        return record

    def _agent(self, acw_end: int) -> dict[str, Any]:
        assert self.agent_connected is not None
        return {
            "ARN": f"{CONNECT_INSTANCE}/agent/{self.agent.replace('.', '-')}",
            "Username": self.agent,
            "RoutingProfile": {"ARN": f"{CONNECT_INSTANCE}/routing-profile/rp-voice", "Name": "Voice agents"},
            "ConnectedToAgentTimestamp": iso_s(self.agent_connected),
            "AgentInteractionDuration": (self.disconnect - self.agent_connected) // S - sum(self.holds),
            "CustomerHoldDuration": sum(self.holds),
            "AgentInitiatedHoldDuration": 0,
            "NumberOfHolds": len(self.holds),
            "LongestHoldDuration": max(self.holds, default=0),
            "AfterContactWorkStartTimestamp": iso_s(self.disconnect),
            "AfterContactWorkEndTimestamp": iso_s(acw_end),
            "AfterContactWorkDuration": self.acw_seconds,
        }

    def initiated_event(self) -> dict[str, Any]:
        """The EventBridge ``INITIATED`` event: on time, long before the CTR."""
        return {
            "version": "0", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.contact_id)), "detail-type": "Amazon Connect Contact Event",
            "source": "aws.connect", "account": CONNECT_ACCOUNT, "time": iso_s(self.start), "region": "us-east-1",
            "resources": [f"{CONNECT_INSTANCE}/contact/{self.contact_id}"],
            "detail": {"eventType": "INITIATED", "contactId": self.contact_id, "channel": "VOICE",
                       "instanceArn": CONNECT_INSTANCE, "initiationMethod": "INBOUND",
                       "initiationTimestamp": iso_ms(self.start)},
        }  # fmt: skip


def _connect_agent_contact(b: _Builder, start: int, system: str, trouble: str | None,
                           attributes: dict[str, str]) -> tuple[ConnectContact, str | None]:  # fmt: skip
    """A contact that goes IVR → queue → agent (or drops / is abandoned in the queue); and the
    outcome it should give the journey."""
    contact = ConnectContact(b.uuid(), start, b.customer, system, 0, "CUSTOMER_DISCONNECT", attributes=attributes)
    contact.ivr_end = start + b.seconds(4, 15)
    contact.queue = b.rng.choice(CONNECT_QUEUES)
    if trouble == "abandoned":
        contact.disconnect = contact.ivr_end + b.seconds(60, 400)
        return contact, "abandoned"
    if trouble == "dropped":
        contact.disconnect = contact.ivr_end + b.seconds(20, 200)
        contact.reason, contact.disconnect_issue = "TELECOM_PROBLEM", "CUSTOMER_CONNECTIVITY_ISSUE"
        return contact, "dropped"
    contact.dequeue = contact.ivr_end + b.seconds(10, 180)
    contact.agent = b.rng.choice(CONNECT_AGENTS)
    contact.agent_connected = contact.dequeue + S
    contact.holds = tuple(round(b.rng.uniform(20, 90)) for _ in range(b.rng.choice((0, 0, 1, 2))))
    contact.disconnect = contact.agent_connected + b.seconds(120, 720) + sum(contact.holds) * S
    contact.reason = b.rng.choice(("CUSTOMER_DISCONNECT", "CUSTOMER_DISCONNECT", "AGENT_DISCONNECT"))
    contact.acw_seconds = round(b.rng.uniform(20, 120))
    if trouble == "poor_audio":
        contact.quality = round(b.rng.uniform(1.8, 2.9), 2)
        contact.quality_issues = tuple(b.rng.sample(("HighPacketLoss", "HighJitterBuffer", "HighRoundTripTime"), 2))
    else:
        contact.quality = round(b.rng.uniform(4.1, 4.7), 2)
    return contact, "resolved"


def _post_connect(b: _Builder, contact: ConnectContact) -> None:
    """The contact event on time, the CTR late (Connect emits it after after-contact work)."""
    b.post("amazon_connect", contact.initiated_event())
    b.post("amazon_connect", contact.ctr(), late=True)
    b.interaction("amazon_connect", contact.contact_id, contact.start,
                  contact.disconnect + contact.acw_seconds * S)  # fmt: skip


# --- PolyAI ----------------------------------------------------------------------------------------


_POLYAI_LINES = (
    ("I was charged twice this month", "Sorry about that. Can I take your account number?"),
    ("It's on the letter, one moment", "Thanks. I can see two payments on the third."),
    ("Can you refund one of them", "I'll need to pass you to the billing team for a refund."),
    ("I lost my card yesterday", "I'm sorry to hear that. I can block it for you now."),
    ("Yes please", "Done. Would you like a replacement sent to your address on file?"),
    ("I moved house actually", "No problem, a colleague can update your address."),
)


def _polyai_turns(b: _Builder, start: int, customer_turns: int) -> tuple[list[dict[str, Any]], int]:
    """A greeting and ``customer_turns`` exchanges; returns the turns and when the last one ends."""
    greeting_at = start + b.millis(0.6, 1.5)
    turns = [_polyai_turn("", "Hello, you're through to Acme. How can I help?", None, greeting_at, 0, [])]
    at = greeting_at + b.seconds(4, 8)
    intent = b.rng.choice(INTENTS)
    for n in range(customer_turns):
        said, answer = _POLYAI_LINES[(n + b.rng.randrange(len(_POLYAI_LINES))) % len(_POLYAI_LINES)]
        latency = round(b.rng.uniform(0.5, 1.6), 2)
        turns.append(_polyai_turn(said, answer, at, at + round(latency * S), latency, [intent] if n == 0 else []))
        at += b.seconds(7, 18)
    return turns, at


def _polyai_turn(said: str, answer: str, said_at: int | None, answer_at: int, latency: float,
                 intents: list[str]) -> dict[str, Any]:  # fmt: skip
    return {
        "user_input": said, "user_input_dtmf": "", "user_input_datetime": iso_ms(said_at) if said_at else "",
        "agent_response": answer, "agent_response_datetime": iso_ms(answer_at), "latency": latency,
        "translated_user_input": "", "english_agent_response": "", "intents": intents, "entities": [],
        "is_ood": False, "is_silence": not said and said_at is not None,
    }  # fmt: skip


def _polyai_conversation(b: _Builder, conversation_id: str, start: int, dialled: str, turns: list[dict[str, Any]],
                         polyai_seconds: int, total_seconds: int, handoff_to: str | None,
                         state: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    intent = next((t["intents"][0] for t in turns if t["intents"]), None)
    return {
        "id": conversation_id, "account_id": "acct-acme", "project_id": "proj-acme-cs", "variant_id": "var-1",
        "variant_name": "default", "environment": "live", "started_at": iso_ms(start), "channel": "VOICE-SIP",
        "from_number": b.customer, "to_number": dialled, "in_progress": False, "num_turns": len(turns),
        "total_duration": total_seconds, "polyai_duration": polyai_seconds, "handoff": handoff_to is not None,
        "handoff_reason": "needs_human" if handoff_to else None, "handoff_destination": handoff_to,
        "num_silences": 0, "num_ood": 0, "state": state, "metrics": {"intent": intent} if intent else {},
        "turns": turns,
    }  # fmt: skip


# --- scenario: PolyAI → Amazon Connect queue → human -----------------------------------------------


def _polyai_connect(b: _Builder, trouble: str | None) -> str | None:
    conversation_id = b.call_sid()  # PolyAI's telephony runs on Twilio: its IDs are CallSids
    start = b.t0 + b.millis(0.5, 2.0)
    if trouble == "abandoned" and b.rng.random() < 0.3:  # hung up on the AI before saying anything
        turns, _ = _polyai_turns(b, start, 0)
        total = b.seconds(8, 20) // S
        b.post("polyai", {"conversations": [_polyai_conversation(
            b, conversation_id, start, POLYAI_NUMBER, turns, total, total, None, {})], "cursor": None})  # fmt: skip
        b.interaction("polyai", conversation_id, start, start + total * S)
        return "abandoned"
    turns, last = _polyai_turns(b, start, b.rng.randint(2, 5))
    handoff = last + b.seconds(3, 8)
    polyai_seconds = (handoff - start) // S
    handoff = start + polyai_seconds * S
    transfer_seconds = b.seconds(2, 5) // S
    shared_id = b.uuid()
    b.post("polyai", {"conversations": [_polyai_conversation(
        b, conversation_id, start, POLYAI_NUMBER, turns, polyai_seconds, polyai_seconds + transfer_seconds,
        CONNECT_NUMBER, {"shared_id": shared_id})], "cursor": None})  # fmt: skip
    b.interaction("polyai", conversation_id, start, handoff + transfer_seconds * S)
    # A Connect Lambda reads PolyAI's Handoff API by shared_id and stores the conversation ID.
    attributes = {"polyai_shared_id": shared_id, "intent": str(turns[1]["intents"][0])}
    if b.rng.random() < 0.7:
        attributes["polyai_conversation_id"] = conversation_id
    contact_start = handoff + b.seconds(1, 3) + S
    if trouble == "failed_transfer":  # the transferred call never makes it past the flow
        contact = ConnectContact(b.uuid(), contact_start, b.customer, CONNECT_NUMBER,
                                 contact_start + b.seconds(2, 8), "TELECOM_PROBLEM",
                                 disconnect_issue="CUSTOMER_CONNECTIVITY_ISSUE", attributes=attributes)  # fmt: skip
        outcome: str | None = "dropped"
    else:
        contact, outcome = _connect_agent_contact(b, contact_start, CONNECT_NUMBER, trouble, attributes)
    _post_connect(b, contact)
    return outcome


# --- Twilio -------------------------------------------------------------------------------------------


def _twilio_status(call_sid: str, status: str, sequence: int, at: int, *, caller: str, called: str,
                   direction: str, duration_s: int | None = None, parent: str | None = None,
                   sip_code: int | None = None) -> dict[str, str]:  # fmt: skip
    """One status callback, as Twilio form-posts it."""
    form = {
        "CallSid": call_sid, "AccountSid": "AC5ee0c1d2b3a49586778695a4b3c2d1e0", "From": caller, "To": called,
        "Direction": direction, "CallStatus": status, "ApiVersion": "2010-04-01",
        "CallbackSource": "call-progress-events", "SequenceNumber": str(sequence), "Timestamp": rfc2822(at),
    }  # fmt: skip
    if parent:
        form["ParentCallSid"] = parent
    if duration_s is not None:
        form["CallDuration"] = str(duration_s)
        form["Duration"] = str(max(1, -(-duration_s // 60)))
    if sip_code is not None:
        form["SipResponseCode"] = str(sip_code)
    return form


def _post_twilio_call(b: _Builder, call_sid: str, start: int, end: int, *, caller: str, called: str,
                      direction: str, parent: str | None = None, status: str = "completed",
                      sip_code: int | None = None) -> None:  # fmt: skip
    """``initiated``, then the terminal callback (which says how long the call lasted)."""
    b.post("twilio", _twilio_status(call_sid, "initiated", 0, start, caller=caller, called=called,
                                    direction=direction, parent=parent), content_type=FORM)  # fmt: skip
    b.post("twilio", _twilio_status(call_sid, status, 3, end, caller=caller, called=called, direction=direction,
                                    duration_s=(end - start) // S if status == "completed" else 0, parent=parent,
                                    sip_code=sip_code), content_type=FORM)  # fmt: skip
    b.interaction("twilio", call_sid, start if status == "completed" else end, end)


def _twilio_insights(b: _Builder, call_sid: str, start: int, end: int, caller: str, called: str) -> dict[str, Any]:
    """A Voice Insights call summary of a call with a bad carrier edge: jitter and packet loss."""
    received = b.rng.randint(8000, 40000)
    loss = round(b.rng.uniform(3.0, 9.0), 1)
    lost = round(received * loss / (100 - loss))
    return {
        "account_sid": "AC5ee0c1d2b3a49586778695a4b3c2d1e0", "call_sid": call_sid, "call_type": "carrier",
        "call_state": "completed", "answered_by": "unknown", "processing_state": "complete",
        "created_time": iso_s(start), "start_time": iso_s(start), "end_time": iso_s(end),
        "duration": (end - start) // S, "connect_duration": (end - start) // S - 1,
        "from": {"caller": caller, "connection": "mobile", "country_code": "US"},
        "to": {"callee": called, "connection": "landline", "country_code": "US"},
        "properties": {"direction": "inbound", "disconnected_by": "caller", "pdd_ms": b.rng.randint(900, 2500),
                       "last_sip_response_num": 200, "q850_cause": 16, "media_region": "us1",
                       "signaling_region": "us1"},
        "carrier_edge": {
            "properties": {"direction": "inbound", "edge_location": "ashburn"},
            "metrics": {
                "inbound": {"codec": 0, "codec_name": "pcmu", "packets_received": received, "packets_lost": lost,
                            "packets_loss_percentage": loss,
                            "jitter": {"avg": round(b.rng.uniform(25, 60), 1),
                                       "max": round(b.rng.uniform(90, 240), 1)}},
                "outbound": {"codec": 0, "codec_name": "pcmu", "packets_sent": received + lost},
            },
        },
        "tags": ["high_jitter", "high_packet_loss"],
        "url": f"https://insights.twilio.com/v1/Voice/{call_sid}/Summary",
    }  # fmt: skip


# --- Vapi ------------------------------------------------------------------------------------------------


def _vapi_messages(b: _Builder, start: int,
                   customer_turns: int) -> tuple[list[dict[str, Any]], list[dict[str, int]], int]:  # fmt: skip
    """System prompt, greeting and ``customer_turns`` exchanges; also the per-turn latencies and
    when the last message ends."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "message": "You are Acme's support assistant.", "time": epoch_ms(start),
         "secondsFromStart": 0}
    ]  # fmt: skip
    latencies = []
    at = start + b.millis(0.4, 1.0)
    greeting_end = at + b.millis(1.5, 3.0)
    messages.append(_vapi_message("bot", "Hi, this is Acme. How can I help?", at, greeting_end, start))
    at = greeting_end + b.millis(1.0, 3.0)
    for n in range(customer_turns):
        said, answer = _POLYAI_LINES[(n + b.rng.randrange(len(_POLYAI_LINES))) % len(_POLYAI_LINES)]
        said_end = at + b.millis(1.2, 4.0)
        messages.append(_vapi_message("user", said, at, said_end, start))
        turn = {"transcriberLatency": b.rng.randint(120, 300), "endpointingLatency": b.rng.randint(200, 600),
                "modelLatency": b.rng.randint(250, 900), "voiceLatency": b.rng.randint(150, 400)}  # fmt: skip
        turn["turnLatency"] = sum(turn.values())
        latencies.append(turn)
        reply_at = said_end + turn["turnLatency"] * MS
        reply_end = reply_at + b.millis(2.0, 5.0)
        messages.append(_vapi_message("bot", answer, reply_at, reply_end, start))
        at = reply_end + b.millis(1.0, 4.0)
    return messages, latencies, at


def _vapi_message(role: str, text: str, begin: int, end: int, start: int) -> dict[str, Any]:
    return {"role": role, "message": text, "time": epoch_ms(begin), "endTime": epoch_ms(end),
            "secondsFromStart": round((begin - start) / S, 2)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class VapiCall:
    call_id: str
    twilio_sid: str
    created: int
    started: int
    ended: int
    ended_reason: str
    messages: list[dict[str, Any]]
    latencies: list[dict[str, int]]
    transfers: list[dict[str, Any]]
    success: bool


def _vapi_call(b: _Builder, call: VapiCall) -> dict[str, Any]:
    """The call object every Vapi Server URL message carries."""
    return {
        "id": call.call_id, "orgId": "org-acme", "type": "inboundPhoneCall", "createdAt": iso_ms(call.created),
        "phoneCallProvider": "twilio", "phoneCallTransport": "pstn", "phoneCallProviderId": call.twilio_sid,
        "assistantId": "asst-support-3", "customer": {"number": b.customer}, "phoneNumber": {"number": VAPI_NUMBER},
    }  # fmt: skip


def _post_vapi(b: _Builder, call: VapiCall) -> None:
    """A ``status-update`` (in progress) and the ``end-of-call-report``."""
    in_progress = {"message": {"type": "status-update", "status": "in-progress", "timestamp": epoch_ms(call.started),
                               "call": {**_vapi_call(b, call), "status": "in-progress"}}}  # fmt: skip
    users = sum(1 for m in call.messages if m["role"] == "user")
    report = {"message": {
        "type": "end-of-call-report", "timestamp": epoch_ms(call.ended) + b.rng.randint(800, 4000),
        "endedReason": call.ended_reason, "startedAt": iso_ms(call.started), "endedAt": iso_ms(call.ended),
        "cost": round(0.05 + (call.ended - call.started) / S * 0.0012, 4),
        "call": {**_vapi_call(b, call), "status": "ended"},
        "assistant": {"id": "asst-support-3", "name": "Acme support",
                      "model": {"provider": "openai", "model": "gpt-4o"}},
        "customer": {"number": b.customer}, "phoneNumber": {"number": VAPI_NUMBER},
        "artifact": {"messages": call.messages, "transfers": call.transfers, "performanceMetrics": {
            "turnLatencies": call.latencies, "numUserInterrupted": b.rng.randint(0, 1),
            "numAssistantInterrupted": b.rng.randint(0, 2)}},
        "analysis": {"successEvaluation": "true" if call.success else "false",
                     "structuredData": {"intent": b.rng.choice(INTENTS)} if users else {}},
    }}  # fmt: skip
    b.post("vapi", in_progress)
    b.post("vapi", report)
    b.interaction("vapi", call.call_id, call.started, call.ended)


def _vapi_transfer(number: str, status: str) -> dict[str, Any]:
    return {"destination": {"type": "number", "number": number, "transferPlan": {"mode": "blind-transfer"}},
            "mode": "blind-transfer", "status": status}  # fmt: skip


# --- Genesys Cloud --------------------------------------------------------------------------------------


def _segment(kind: str, start: int, end: int, disconnect: str | None = None, **extra: Any) -> dict[str, Any]:
    segment: dict[str, Any] = {"segmentType": kind, "segmentStart": iso_ms(start), "segmentEnd": iso_ms(end)}
    if disconnect:
        segment["disconnectType"] = disconnect
    return {**segment, **extra}


def _genesys_customer(b: _Builder, dialled: str, start: int, end: int, disconnect: str,
                      poor_audio: bool = False) -> dict[str, Any]:  # fmt: skip
    session: dict[str, Any] = {
        "sessionId": f"s-{b.hex(8)}", "mediaType": "voice", "direction": "inbound", "provider": "Edge",
        "ani": f"tel:{b.customer}", "dnis": f"tel:{dialled}", "protocolCallId": f"{b.hex(16)}@sbc.example.net",
        "segments": [_segment("interact", start, end, disconnect,
                              q850ResponseCodes=[41 if disconnect == "transportFailure" else 16])],
    }  # fmt: skip
    received = b.rng.randint(20000, 90000)
    discarded = b.rng.randint(1500, 6000) if poor_audio else b.rng.randint(0, 200)
    mos = round(b.rng.uniform(2.3, 3.1) if poor_audio else b.rng.uniform(4.0, 4.4), 2)
    session["mediaEndpointStats"] = [{"minMos": mos, "maxLatencyMs": b.rng.randint(60, 400),
                                      "receivedPackets": received, "discardedPackets": discarded}]  # fmt: skip
    return {"participantId": f"p-{b.hex(8)}", "purpose": "customer", "sessions": [session]}


def _genesys_ivr(b: _Builder, peer: str, start: int, end: int, flow: str, transfer_to: str | None) -> dict[str, Any]:
    flow_info: dict[str, Any] = {"flowId": f"f-{flow.lower().replace(' ', '-')}", "flowName": flow,
                                 "flowType": "INBOUNDCALL", "exitReason": "TRANSFER",
                                 "transferType": "EXTERNAL" if transfer_to else "ACD"}  # fmt: skip
    if transfer_to:
        flow_info["transferTargetAddress"] = f"tel:{transfer_to}"
    return {"participantId": f"p-{b.hex(8)}", "purpose": "ivr", "participantName": flow, "sessions": [{
        "sessionId": f"s-{b.hex(8)}", "peerId": peer, "mediaType": "voice", "flow": flow_info,
        "segments": [_segment("ivr", start, end, "transfer")]}]}  # fmt: skip


def _genesys_queue_and_agent(b: _Builder, peer: str, enqueued: int, end: int,
                             trouble: str | None) -> list[dict[str, Any]]:  # fmt: skip
    """The acd participant and, unless the caller gave up, the agent who answered."""
    queue = b.rng.choice(GENESYS_QUEUES)
    queue_id = f"q-{queue.lower()}"
    if trouble == "abandoned":
        return [{"participantId": f"p-{b.hex(8)}", "purpose": "acd", "participantName": queue, "sessions": [{
            "sessionId": f"s-{b.hex(8)}", "peerId": peer,
            "metrics": [{"name": "nOffered", "value": 1}, {"name": "tAbandon", "value": (end - enqueued) // MS}],
            "segments": [_segment("interact", enqueued, end, "peer", queueId=queue_id)]}]}]  # fmt: skip
    answered = enqueued + b.seconds(10, 200)
    acd = {"participantId": f"p-{b.hex(8)}", "purpose": "acd", "participantName": queue, "sessions": [{
        "sessionId": f"s-{b.hex(8)}", "peerId": peer,
        "metrics": [{"name": "nOffered", "value": 1}, {"name": "tAcd", "value": (answered - enqueued) // MS}],
        "segments": [_segment("interact", enqueued, answered, "transfer", queueId=queue_id)]}]}  # fmt: skip
    wrapup_end = end + b.seconds(20, 90)
    agent = {"participantId": f"p-{b.hex(8)}", "purpose": "agent", "userId": f"u-{b.hex(6)}",
             "participantName": b.rng.choice(GENESYS_AGENTS), "sessions": [{
                 "sessionId": f"s-{b.hex(8)}", "peerId": peer, "mediaType": "voice", "segments": [
                     _segment("alert", answered, answered + b.seconds(2, 6), queueId=queue_id),
                     _segment("interact", answered + 6 * S, end, "peer", queueId=queue_id),
                     _segment("wrapup", end, wrapup_end, wrapUpCode="wc-resolved")]}]}  # fmt: skip
    return [acd, agent]


def _genesys_conversation(conversation_id: str, start: int, end: int, participants: list[dict[str, Any]],
                          min_mos: float | None = None) -> dict[str, Any]:  # fmt: skip
    record: dict[str, Any] = {"conversationId": conversation_id, "conversationStart": iso_ms(start),
                              "conversationEnd": iso_ms(end), "originatingDirection": "inbound",
                              "divisionIds": ["d-main"], "participants": participants}  # fmt: skip
    if min_mos is not None:
        record["mediaStatsMinConversationMos"] = min_mos
    return record


def _genesys_agent_conversation(b: _Builder, start: int, dialled: str, flow: str,
                                trouble: str | None) -> tuple[dict[str, Any], int, str | None]:  # fmt: skip
    """An inbound Genesys conversation: short IVR → queue → agent (abandoned, dropped during the
    talk, or with poor audio); the record, its end, and the outcome it should give the journey."""
    enqueued = start + b.seconds(3, 12)
    if trouble == "abandoned":
        end = enqueued + b.seconds(60, 400)
        outcome: str | None = "abandoned"
    else:
        end = enqueued + b.seconds(10, 200) + 6 * S + b.seconds(120, 600)
        outcome = "dropped" if trouble == "dropped" else "resolved"
    customer = _genesys_customer(b, dialled, start, end, "transportFailure" if trouble == "dropped" else "endpoint",
                                 poor_audio=trouble == "poor_audio")  # fmt: skip
    peer = customer["sessions"][0]["sessionId"]
    participants = [customer, _genesys_ivr(b, peer, start + 200 * MS, enqueued, flow, None),
                    *_genesys_queue_and_agent(b, peer, enqueued, end, trouble)]  # fmt: skip
    mos = customer["sessions"][0]["mediaEndpointStats"][0]["minMos"]
    conversation_id = b.uuid()
    return _genesys_conversation(conversation_id, start, end, participants, mos), end, outcome


# --- scenario: Twilio → Vapi → human ------------------------------------------------------------------


def _twilio_vapi(b: _Builder, trouble: str | None) -> str | None:
    parent = b.call_sid()
    call_start = b.t0
    vapi_created = call_start + b.millis(0.3, 0.8)
    vapi_started = vapi_created + b.millis(0.4, 1.0)
    human = b.rng.choice(("pbx", "connect", "genesys"))
    destination = {"pbx": PBX_DESK, "connect": CONNECT_NUMBER, "genesys": GENESYS_NUMBER}[human]
    if trouble == "abandoned" and human == "pbx":  # the caller hangs up on the assistant's greeting
        messages, latencies, last = _vapi_messages(b, vapi_started, 0)
        ended = last + b.seconds(2, 6)
        _post_vapi(b, VapiCall(b.uuid(), parent, vapi_created, vapi_started, ended, "customer-ended-call",
                               messages, latencies, [], False))  # fmt: skip
        _post_twilio_call(b, parent, call_start, ended + S, caller=b.customer, called=VAPI_NUMBER,
                          direction="inbound")  # fmt: skip
        return "abandoned"
    messages, latencies, last = _vapi_messages(b, vapi_started, b.rng.randint(2, 4))
    vapi_id = b.uuid()
    if trouble == "dropped":  # the media stream from Twilio dies mid-conversation
        ended = last + b.seconds(1, 5)
        _post_vapi(b, VapiCall(vapi_id, parent, vapi_created, vapi_started, ended,
                               "phone-call-provider-closed-websocket", messages, latencies, [], False))  # fmt: skip
        _post_twilio_call(b, parent, call_start, ended, caller=b.customer, called=VAPI_NUMBER, direction="inbound")
        return "dropped"
    transfer_at = last + b.seconds(1, 3)
    child = b.call_sid()
    if trouble == "failed_transfer":  # the dial to the human fails; the assistant apologises, the caller leaves
        ended = transfer_at + b.seconds(20, 60)
        _post_vapi(b, VapiCall(vapi_id, parent, vapi_created, vapi_started, ended, "customer-ended-call", messages,
                               latencies, [_vapi_transfer(destination, "failed")], False))  # fmt: skip
        _post_twilio_call(b, child, transfer_at, transfer_at + b.seconds(1, 4), caller=b.customer, called=destination,
                          direction="outbound-dial", parent=parent, status="failed", sip_code=503)  # fmt: skip
        _post_twilio_call(b, parent, call_start, ended + S, caller=b.customer, called=VAPI_NUMBER, direction="inbound")
        return "abandoned"
    _post_vapi(b, VapiCall(vapi_id, parent, vapi_created, vapi_started, transfer_at, "assistant-forwarded-call",
                           messages, latencies, [_vapi_transfer(destination, "completed")], True))  # fmt: skip
    answered = transfer_at + b.seconds(2, 4)
    outcome: str | None
    if human == "pbx":
        human_end = answered + b.seconds(90, 600)
        outcome = None  # a PBX desk reports nothing about how the call went
    elif human == "connect":
        contact, outcome = _connect_agent_contact(b, answered, CONNECT_NUMBER, trouble, {})
        _post_connect(b, contact)
        human_end = contact.disconnect
    else:
        record, human_end, outcome = _genesys_agent_conversation(b, answered, GENESYS_NUMBER, "Vapi transfers",
                                                                 trouble)  # fmt: skip
        b.post("genesys_cloud", {"totalHits": 1, "conversations": [record]})
        b.interaction("genesys_cloud", record["conversationId"], answered, human_end)
    _post_twilio_call(b, child, transfer_at + S, human_end, caller=b.customer, called=destination,
                      direction="outbound-dial", parent=parent, sip_code=200)  # fmt: skip
    _post_twilio_call(b, parent, call_start, human_end + S, caller=b.customer, called=VAPI_NUMBER, direction="inbound")
    if trouble == "poor_audio":
        b.post("twilio", _twilio_insights(b, parent, call_start, human_end + S, b.customer, VAPI_NUMBER), late=True)
    return outcome


# --- scenario: Genesys → PolyAI → Genesys ------------------------------------------------------------


def _genesys_polyai(b: _Builder, trouble: str | None) -> str | None:
    first_id = b.uuid()
    start = b.t0
    to_polyai = start + b.seconds(8, 25)
    answered = to_polyai + b.seconds(1, 3)
    hop_call_id = f"{b.hex(24)}@edge.genesys.example.net"
    uui = "04" + b.hex(16)
    conversation_id = b.call_sid()
    turns, last = _polyai_turns(b, answered, b.rng.randint(2, 4))
    polyai_seconds = (last + b.seconds(3, 8) - answered) // S
    handoff = answered + polyai_seconds * S
    transfer_seconds = 2
    first_end = handoff + transfer_seconds * S
    headers = {"Call-ID": hop_call_id, "x-inin-cnv": first_id, "X-User-to-User": f"{uui};encoding=hex"}
    b.post("polyai", [_polyai_conversation(
        b, conversation_id, answered, POLYAI_NUMBER, turns, polyai_seconds, polyai_seconds + transfer_seconds,
        GENESYS_HANDBACK_NUMBER, {"sip_headers": headers, "shared_id": b.uuid()})])  # fmt: skip
    b.interaction("polyai", conversation_id, answered, first_end)

    customer = _genesys_customer(b, GENESYS_NUMBER, start, first_end, "transfer")
    peer = customer["sessions"][0]["sessionId"]
    external = {"participantId": f"p-{b.hex(8)}", "purpose": "external", "participantName": "PolyAI", "sessions": [{
        "sessionId": f"s-{b.hex(8)}", "peerId": peer, "direction": "outbound", "ani": f"tel:{GENESYS_NUMBER}",
        "dnis": f"tel:{POLYAI_NUMBER}", "protocolCallId": hop_call_id,
        "segments": [_segment("dialing", to_polyai, answered),
                     _segment("interact", answered, first_end, "transfer")]}]}  # fmt: skip
    ivr = _genesys_ivr(b, peer, start + 150 * MS, to_polyai, "Main IVR", POLYAI_NUMBER)
    first = _genesys_conversation(first_id, start, first_end, [customer, ivr, external])
    b.post("genesys_cloud", first)
    b.interaction("genesys_cloud", first_id, start, first_end)

    back = first_end + b.seconds(1, 3)
    record, end, outcome = _genesys_agent_conversation(b, back, GENESYS_HANDBACK_NUMBER, "PolyAI handback", trouble)
    b.post("genesys_cloud", {"totalHits": 1, "conversations": [record]})
    b.interaction("genesys_cloud", record["conversationId"], back, end)
    return outcome


# --- scenario: LiveKit SIP agent behind Amazon Connect -----------------------------------------------


def _livekit_event(event: str, at: int, room: dict[str, Any], participant: dict[str, Any] | None = None,
                   event_id: str = "") -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {"event": event, "id": event_id, "createdAt": str(at // S), "room": room}
    if participant is not None:
        body["participant"] = participant
    return body


def _post_livekit(b: _Builder, contact_id: str, uui: str, joined: int, left: int, reason: str) -> None:
    """A room with the SIP caller (transferred from Connect) and the AI agent."""
    room_sid = "RM_" + b.token(12)
    room = {"sid": room_sid, "name": f"connect-{b.token(8)}", "creationTime": str(joined // S), "emptyTimeout": 300,
            "numParticipants": 2}  # fmt: skip
    sip = {"sid": "PA_" + b.token(12), "identity": f"sip_{b.token(10)}", "name": "Phone caller", "kind": "SIP",
           "joinedAt": str(joined // S), "state": "ACTIVE", "attributes": {
               "sip.callID": "SCL_" + b.token(12), "sip.callIDFull": f"{b.hex(20)}@sip.connect.example.net",
               "sip.phoneNumber": b.customer, "sip.trunkPhoneNumber": LIVEKIT_NUMBER, "sip.callStatus": "active",
               "sip.trunkID": "ST_connect", "sip.amazon.contactId": contact_id,
               "sip.amazon.initialContactId": contact_id, "sip.h.user-to-user": f"{uui};encoding=hex"}}  # fmt: skip
    agent = {"sid": "PA_" + b.token(12), "identity": f"agent-AJ_{b.token(8)}", "name": "acme-voice-agent",
             "kind": "AGENT", "joinedAt": str(joined // S + 1), "state": "ACTIVE"}  # fmt: skip
    agent_left = left + S
    events = [
        _livekit_event("room_started", joined, room),
        _livekit_event("participant_joined", joined, room, sip),
        _livekit_event("participant_joined", joined + S, room, agent),
        _livekit_event("participant_left", left, room, {**sip, "state": "DISCONNECTED", "disconnectReason": reason}),
        _livekit_event("participant_left", agent_left, room,
                       {**agent, "state": "DISCONNECTED", "disconnectReason": "CLIENT_INITIATED"}),
        _livekit_event("room_finished", agent_left + S, room),
    ]
    for event in events:
        event["id"] = "EV_" + b.token(12)
        b.post("livekit", event, content_type=LIVEKIT_JSON)
    b.interaction("livekit", room_sid, joined, agent_left + S)


def _connect_livekit(b: _Builder, trouble: str | None) -> str | None:
    start = b.t0
    uui = "04" + b.hex(16)
    first = ConnectContact(b.uuid(), start, b.customer, CONNECT_NUMBER, 0, "THIRD_PARTY_DISCONNECT",
                           attributes={"uui": uui, "intent": b.rng.choice(INTENTS)})  # fmt: skip
    to_ai = start + b.seconds(5, 15)
    first.transfer_target, first.transfer_completed = LIVEKIT_NUMBER, to_ai
    if trouble == "failed_transfer":  # the SIP trunk to LiveKit is down: the call dies in the transfer
        first.disconnect, first.reason = to_ai + b.seconds(2, 6), "TELECOM_PROBLEM"
        first.disconnect_issue = "CUSTOMER_CONNECTIVITY_ISSUE"
        _post_connect(b, first)
        return "dropped"
    joined = to_ai + S
    escalate = trouble in ("abandoned", "poor_audio") or (trouble is None and b.rng.random() < 0.5)
    left = joined + b.seconds(40, 240)
    reason = "MEDIA_FAILURE" if trouble == "dropped" else "CLIENT_INITIATED"
    _post_livekit(b, first.contact_id, uui, joined, left, reason)
    first.disconnect = left
    if trouble == "dropped":
        _post_connect(b, first)
        return "dropped"
    if not escalate:
        first.reason = "CUSTOMER_DISCONNECT"
        _post_connect(b, first)
        return None  # LiveKit reports no outcome of its own
    # The agent escalates: a SIP REFER to Connect's agent line carrying the UUI it received.
    first.reason = "THIRD_PARTY_DISCONNECT"
    _post_connect(b, first)
    second, outcome = _connect_agent_contact(b, left + b.seconds(1, 3), CONNECT_AGENT_NUMBER, trouble, {"uui": uui})
    _post_connect(b, second)
    return outcome


# --- generation -------------------------------------------------------------------------------------


_BUILDERS: dict[str, Callable[[_Builder, str | None], str | None]] = {
    "polyai_connect": _polyai_connect,
    "twilio_vapi": _twilio_vapi,
    "genesys_polyai": _genesys_polyai,
    "connect_livekit": _connect_livekit,
}


def _customer_numbers(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct fictional US numbers (NXX-555-01XX), so unrelated journeys never share a caller."""
    pool = len(_CUSTOMER_AREAS) * 100
    picks = rng.sample(range(pool), min(count, pool))
    picks += [rng.randrange(pool) for _ in range(count - len(picks))]
    return [f"+1{_CUSTOMER_AREAS[p // 100]}55501{p % 100:02d}" for p in picks]


def _weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def journeys(seed: int, count: int, start_ns: int, scenarios: Sequence[str] | None = None) -> list[SimulatedJourney]:
    """``count`` journeys, the first starting at ``start_ns`` and the next a few seconds to half a
    minute apart; the same arguments always give the same payloads. ``scenarios`` restricts the
    choice (default: all, by weight)."""
    rng = random.Random(seed)
    weights = {name: weight for name, weight in SCENARIOS.items() if scenarios is None or name in scenarios}
    numbers = _customer_numbers(rng, count)
    result = []
    t0 = start_ns - start_ns % S
    for number in range(count):
        scenario = _weighted(rng, weights)
        trouble = _weighted(rng, {t: w for t, w in TROUBLES.items() if t not in UNSUPPORTED.get(scenario, ())})
        builder = _Builder(random.Random(rng.getrandbits(64)), t0, numbers[number])
        outcome = _BUILDERS[scenario](builder, trouble)
        result.append(SimulatedJourney(number, scenario, trouble, tuple(builder.interactions), tuple(builder.posts),
                                       outcome, builder.end, builder.customer))  # fmt: skip
        t0 += rng.randint(3, 30) * S
    return result


# --- sending ----------------------------------------------------------------------------------------


@dataclass
class SendReport:
    posts: int = 0
    spans: int = 0
    failures: list[str] = field(default_factory=list)


def wait_ready(query_url: str, server: str, timeout_s: float) -> bool:
    """Poll ``/readyz`` on the query port, then wait for the OTLP/HTTP port to accept connections
    (the receivers open a moment after storage reports ready)."""
    deadline = time.monotonic() + timeout_s
    target = urlsplit(server)
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(query_url.rstrip("/") + "/readyz", timeout=2) as response:
                if response.status == 200:
                    with socket.create_connection((target.hostname or "localhost", target.port or 80), timeout=1):
                        return True
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.25)
    return False


def send(server: str, simulated: list[SimulatedJourney], *, rate: float, late_seconds: float,
         token: str | None = None, progress: TextIO | None = sys.stderr) -> SendReport:  # fmt: skip
    """Post every journey's payloads, ``rate`` journeys per second; late posts go ``late_seconds``
    after the rest of their journey."""
    base = server.rstrip("/")
    report = SendReport()
    pending: list[tuple[float, int, Post]] = []
    sequence = 0
    began = time.monotonic()
    for index, journey in enumerate(simulated):
        due = began + index / rate if rate > 0 else began
        _send_due(base, pending, due, token, report)
        _sleep_until(due)
        for post in journey.posts:
            if post.late:
                heapq.heappush(pending, (time.monotonic() + late_seconds, sequence, post))
                sequence += 1
            else:
                _send_one(base, post, token, report)
        if progress is not None and (index + 1) % 10 == 0:
            print(f"simulate: {index + 1}/{len(simulated)} journeys sent", file=progress)
    _send_due(base, pending, float("inf"), token, report)
    return report


def _sleep_until(due: float) -> None:
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _send_due(base: str, pending: list[tuple[float, int, Post]], until: float, token: str | None,
              report: SendReport) -> None:  # fmt: skip
    """Send the late posts due before ``until`` (all of them, waiting as needed, when it is infinite)."""
    while pending and pending[0][0] <= until:
        due, _, post = heapq.heappop(pending)
        _sleep_until(due)
        _send_one(base, post, token, report)


def _send_one(base: str, post: Post, token: str | None, report: SendReport) -> None:
    try:
        status, answer = _post(f"{base}/v1/platforms/{post.platform}", post.body, post.content_type, token)
    except (OSError, urllib.error.URLError) as exc:
        status, answer = 0, {"error": str(getattr(exc, "reason", exc))}
    report.posts += 1
    if status == 202:
        report.spans += int(answer.get("accepted_spans", 0))
    else:
        report.failures.append(f"{post.platform}: HTTP {status}: {str(answer.get('error', answer))[:300]}")


def simulate(server: str, *, count: int, rate: float, seed: int, late_seconds: float, token: str | None = None,
             scenarios: Sequence[str] | None = None, progress: TextIO | None = sys.stderr) -> SendReport:
    """Generate ``count`` journeys that ended a minute ago and send them."""
    draft = journeys(seed, count, 0, scenarios)
    latest = max((j.end_ns for j in draft), default=0)
    simulated = journeys(seed, count, time.time_ns() - latest - 60 * S, scenarios)
    return send(server, simulated, rate=rate, late_seconds=late_seconds, token=token, progress=progress)
