"""Amazon Connect adapter: CTRs, EventBridge contact events and flow logs → exact spans, transfer /
consult / conference, versions (CTR ``LastUpdateTimestamp`` beats older CTRs and every contact
event), the bearer token, and the journeys they make over the wire."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import http_export, new_trace_id, real_spans, simple_request, wait_for_journey, wait_until
from journeytrace.receivers.platforms.adapters.amazon_connect import ADAPTER, EVENT_VERSION_OFFSET
from journeytrace.receivers.platforms.model import BadPayload, Event, SpanDraft, draft_span_id

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "amazon_connect"
P = "amazon_connect"
INBOUND = "c2b0c1de-0000-4000-8000-000000000101"
PARENT, CHILD = "c2b0c1de-0000-4000-8000-000000000201", "c2b0c1de-0000-4000-8000-000000000202"
ABANDONED = "c2b0c1de-0000-4000-8000-000000000301"
FAILED = "c2b0c1de-0000-4000-8000-000000000401"
MINIMAL = "c2b0c1de-0000-4000-8000-000000000501"
EXTERNAL = "c2b0c1de-0000-4000-8000-000000000601"
EVENTS = "c2b0c1de-0000-4000-8000-000000000701"
POLYAI_CONVERSATION = "CA5f0e2d4c6b8a09f1e3d5c7b9a1f3e5d7"
TOKEN = "forwarder-token-0123456789"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def at(text: str) -> int:
    """``2025-03-04T10:15:00[.123]Z`` as Unix ns (independent of the adapter's own parser)."""
    parsed = datetime.fromisoformat(text)
    return int(parsed.replace(microsecond=0).timestamp()) * 1_000_000_000 + parsed.microsecond * 1000


def shape(span: SpanDraft) -> dict[str, Any]:
    """Everything about a draft a test pins down."""
    return {
        "id": span.interaction_id, "key": span.key, "name": span.name, "type": span.span_type,
        "start": span.start_unix_nano, "end": span.end_unix_nano, "parent": span.parent_key, "kind": span.kind,
        "status": (span.status, span.status_message), "version": span.record_version,
        "attributes": span.attributes, "events": span.events,
    }  # fmt: skip


def parse(native: Any) -> tuple[dict[tuple[str, str], dict[str, Any]], int, tuple[str, ...]]:
    parsed = ADAPTER.parse(native, {})
    shapes = {(s.interaction_id, s.key): shape(s) for s in parsed.spans}
    assert len(shapes) == len(parsed.spans), "two drafts share an interaction and key"
    assert all(s.platform == P for s in parsed.spans)
    return shapes, parsed.ignored, parsed.notes


def span(
    contact: str, key: str, name: str, type_: str | None, start: int, end: int, version: int | None, *,
    kind: str = "internal", status: tuple[str, str] = ("unset", ""), events: list[Event] | None = None,
    **attributes: Any,
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": contact, "key": key, "name": name, "type": type_, "start": start, "end": end,
        "parent": None if key == "contact" else "contact", "kind": kind, "status": status, "version": version,
        "attributes": attributes, "events": events or [],
    }  # fmt: skip


def a(**names: Any) -> dict[str, Any]:
    """Attribute dicts with dotted names written as ``cx__queue__name``."""
    return {k.replace("__", "."): v for k, v in names.items()}


# --- contact records ---------------------------------------------------------------------------------


def test_inbound_call_with_ivr_queue_agent_holds_acw_and_quality() -> None:
    shapes, ignored, notes = parse(load("ctr_inbound_agent.json"))
    version = at("2025-03-04T10:30:11Z")
    assert (ignored, notes) == (0, ())
    assert list(shapes.values()) == [
        span(INBOUND, "contact", "telephony amazon_connect", "telephony", at("2025-03-04T10:15:00Z"),
             at("2025-03-04T10:29:05Z"), version, kind="server", **a(
                 cx__channel="voice", cx__direction="inbound", cx__initiation_method="inbound",
                 cx__telephony__ani__number="+447700900123", cx__telephony__dnis__number="+442079460000",
                 cx__disconnect__reason="customer_disconnect", cx__disconnect__initiator="customer",
                 aws__connect__disconnect_reason="CUSTOMER_DISCONNECT",
                 aws__connect__potential_disconnect_issue="AGENT_CONNECTIVITY_ISSUE",
                 cx__journey__id="jrn-0f3c9a", **{"aws.connect.attributes.cjt_journey_id": "jrn-0f3c9a",
                                                  "aws.connect.attributes.intent": "billing_dispute"})),
        span(INBOUND, "ivr", "ivr amazon_connect", "ivr", at("2025-03-04T10:15:01Z"), at("2025-03-04T10:16:10Z"),
             version, **a(cx__ivr__outcome="routed")),
        span(INBOUND, "queue", "queue amazon_connect", "queue", at("2025-03-04T10:16:10Z"),
             at("2025-03-04T10:18:02Z"), version, kind="consumer",
             **a(cx__queue__name="Billing", cx__queue__id="q-billing", cx__queue__exit_reason="answered")),
        span(INBOUND, "agent", "agent_interaction amazon_connect", "agent_interaction", at("2025-03-04T10:18:03Z"),
             at("2025-03-04T10:29:05Z"), version, **a(
                 cx__agent__id="ag-7", cx__agent__type="human", cx__agent__routing_profile="Billing RP",
                 cx__agent__hold__count=2, cx__agent__hold__duration_ms=95_000, cx__agent__acw__duration_ms=65_000,
                 cx__audio__mos=3.1, cx__audio__measurement__point="agent_softphone",
                 aws__connect__audio__potential_quality_issues=["HighPacketLoss"])),
    ]  # fmt: skip


def test_transfer_pair_links_legs_and_is_classified_as_a_transfer() -> None:
    shapes, _, _ = parse(load("ctr_transfer.json"))
    parent_version, child_version = at("2025-03-04T11:07:30Z"), at("2025-03-04T11:15:10Z")
    assert shapes[(PARENT, "agent")]["events"] == [Event("cx.transfer", at("2025-03-04T11:05:58Z"))]
    assert shapes[(PARENT, "agent")]["end"] == at("2025-03-04T11:06:00Z")
    assert CHILD not in json.dumps(shapes[(PARENT, "contact")]["attributes"])  # links point backwards only
    assert shapes[(CHILD, "contact")] == span(
        CHILD, "contact", "telephony amazon_connect", "telephony", at("2025-03-04T11:05:50Z"),
        at("2025-03-04T11:14:00Z"), child_version, kind="server", **a(
            cx__channel="voice", cx__direction="inbound", cx__initiation_method="transfer",
            cx__platform__interaction__previous_id=PARENT, cx__platform__interaction__initial_id=PARENT,
            cx__telephony__ani__number="+447700900555", cx__telephony__dnis__number="+442079460000",
            cx__disconnect__reason="customer_disconnect", cx__disconnect__initiator="customer",
            aws__connect__disconnect_reason="CUSTOMER_DISCONNECT", cx__transfer__type="transfer"))  # fmt: skip
    assert shapes[(CHILD, "queue")]["attributes"] == a(
        cx__queue__name="Billing", cx__queue__id="q-billing", cx__queue__exit_reason="answered"
    )
    assert [k for k in shapes] == [(PARENT, k) for k in ("contact", "ivr", "queue", "agent")] + [
        (CHILD, k) for k in ("contact", "ivr", "queue", "agent")
    ]
    assert {s["version"] for (c, _), s in shapes.items()} == {parent_version, child_version}


def test_abandoned_in_queue_is_an_attribute_not_an_error() -> None:
    shapes, _, _ = parse(load("ctr_abandoned.json"))
    version = at("2025-03-04T12:04:33Z")
    assert list(shapes) == [(ABANDONED, "contact"), (ABANDONED, "ivr"), (ABANDONED, "queue")]
    root = shapes[(ABANDONED, "contact")]
    assert root["status"] == ("unset", "")
    assert root["attributes"]["cx.telephony.ani.number"] == "+14155550142"  # normalised to E.164
    assert root["attributes"]["cx.disconnect.reason"] == "customer_disconnect"
    assert shapes[(ABANDONED, "queue")] == span(
        ABANDONED, "queue", "queue amazon_connect", "queue", at("2025-03-04T12:00:31Z"), at("2025-03-04T12:04:31Z"),
        version, kind="consumer",
        **a(cx__queue__name="Support", cx__queue__id="q-support", cx__queue__exit_reason="abandoned"))  # fmt: skip


def test_telecom_problem_is_an_error_on_the_root_and_not_an_abandonment() -> None:
    shapes, _, _ = parse(load("ctr_telecom_failure.json"))
    root = shapes[(FAILED, "contact")]
    assert root["status"] == ("error", "TELECOM_PROBLEM")
    assert root["attributes"]["error.type"] == "telecom_problem"
    assert root["attributes"]["cx.disconnect.reason"] == "telecom_problem"
    assert root["attributes"]["cx.disconnect.initiator"] == "network"
    assert root["attributes"]["aws.connect.potential_disconnect_issue"] == "CUSTOMER_CONNECTIVITY_ISSUE"
    assert "cx.queue.exit_reason" not in shapes[(FAILED, "queue")]["attributes"]
    assert all(s["status"] == ("unset", "") for k, s in shapes.items() if k[1] != "contact")


def test_minimal_record_with_camel_case_keys_is_one_root_span() -> None:
    shapes, ignored, _ = parse(load("ctr_minimal.json"))
    assert ignored == 0
    assert list(shapes.values()) == [
        span(MINIMAL, "contact", "telephony amazon_connect", "telephony", at("2025-03-04T14:00:00Z"),
             at("2025-03-04T14:00:42Z"), None, kind="server")
    ]  # fmt: skip


def test_external_transfer_puts_the_target_on_the_ivr_span_that_ends_at_the_transfer() -> None:
    shapes, _, notes = parse(load("ctr_external_transfer.json"))
    assert notes == ()
    root = shapes[(EXTERNAL, "contact")]["attributes"]
    assert root["cx.peer.platform.name"] == "polyai"
    assert root["cx.peer.interaction.id"] == POLYAI_CONVERSATION
    assert root["cx.telephony.uui"] == "04a1b2c3"
    assert root["aws.connect.attributes.X-User-To-User"] == "04a1b2c3"
    assert "cx.transfer.target" not in root
    assert shapes[(EXTERNAL, "ivr")] == span(
        EXTERNAL, "ivr", "ivr amazon_connect", "ivr", at("2025-03-04T15:00:01Z"), at("2025-03-04T15:00:38Z"),
        at("2025-03-04T15:09:45Z"), events=[Event("cx.transfer", at("2025-03-04T15:00:38Z"))],
        **a(cx__ivr__outcome="handoff", cx__transfer__target="+442079460999"))  # fmt: skip


def test_ivr_outcomes_without_a_queue() -> None:
    record = load("ctr_minimal.json") | {"InitiationMethod": "INBOUND", "Channel": "VOICE"}
    outcomes = {}
    for reason in ("CONTACT_FLOW_DISCONNECT", "CUSTOMER_DISCONNECT", "OTHER"):
        shapes, _, _ = parse(record | {"DisconnectReason": reason})
        outcomes[reason] = shapes[(MINIMAL, "ivr")]["attributes"].get("cx.ivr.outcome")
    assert outcomes == {"CONTACT_FLOW_DISCONNECT": "self_served", "CUSTOMER_DISCONNECT": "abandoned", "OTHER": None}


@pytest.mark.parametrize(
    ("reason", "mapped", "error"),
    [
        ("AGENT_DISCONNECT", "agent_disconnect", False), ("THIRD_PARTY_DISCONNECT", "third_party_disconnect", False),
        ("CONTACT_FLOW_DISCONNECT", "flow_disconnect", False), ("BARGED", "barged", False),
        ("EXPIRED", "expired", False), ("TELECOM_BUSY", "other", False), ("OUTBUND_PREVIEW_DISCARDED", "other", False),
        ("TELECOM_PROBLEM", "telecom_problem", True),
    ],
)  # fmt: skip
def test_disconnect_reasons_map_to_our_enum_and_keep_the_raw_value(reason: str, mapped: str, error: bool) -> None:
    shapes, _, _ = parse(load("ctr_minimal.json") | {"DisconnectReason": reason})
    root = shapes[(MINIMAL, "contact")]
    assert root["attributes"]["cx.disconnect.reason"] == mapped
    assert root["attributes"]["aws.connect.disconnect_reason"] == reason
    assert (root["status"][0] == "error") is error


def test_outbound_and_external_outbound_numbers_and_direction() -> None:
    base = load("ctr_abandoned.json") | {"Queue": None, "ConnectedToSystemTimestamp": None}
    outbound, _, _ = parse(base | {"InitiationMethod": "OUTBOUND"})
    root = outbound[(ABANDONED, "contact")]
    assert (root["kind"], root["attributes"]["cx.direction"]) == ("client", "outbound")
    assert root["attributes"]["cx.telephony.ani.number"] == "+14155550142"
    assert root["attributes"]["cx.telephony.dnis.number"] == "+14155550142"  # Connect dialled the customer
    assert list(outbound) == [(ABANDONED, "contact")]  # no flow before an agent's outbound call
    external, _, _ = parse(base | {"InitiationMethod": "EXTERNAL_OUTBOUND"})
    attributes = external[(ABANDONED, "contact")]["attributes"]
    assert "cx.telephony.ani.number" not in attributes  # the endpoint is a third party, not the customer
    assert attributes["cx.telephony.dnis.number"] == "+14155550142"


def test_chat_contact_has_no_phone_numbers_and_no_telephony_type() -> None:
    record = load("ctr_minimal.json") | {
        "Channel": "CHAT", "InitiationMethod": "API",
        "CustomerEndpoint": {"Type": "EMAIL_ADDRESS", "Address": "someone@example.com"},
    }  # fmt: skip
    shapes, _, _ = parse(record)
    root = shapes[(MINIMAL, "contact")]
    assert (root["name"], root["type"], root["kind"]) == ("contact amazon_connect", None, "server")
    assert root["attributes"] == a(cx__channel="chat", cx__direction="inbound", cx__initiation_method="api")
    assert shapes[(MINIMAL, "ivr")]["type"] == "ivr"


# --- transfer, consult, conference, callback -------------------------------------------------------------


def _pair(parent_changes: dict[str, Any], child_changes: dict[str, Any]) -> list[dict[str, Any]]:
    parent, child = load("ctr_transfer.json")
    for record, changes in ((parent, parent_changes), (child, child_changes)):
        for path, value in changes.items():
            target = record
            *parents, last = path.split(".")
            for name in parents:
                target = target[name]
            target[last] = value
    return [parent, child]


@pytest.mark.parametrize(
    ("parent_changes", "child_changes", "expected"),
    [
        ({}, {}, "transfer"),
        # the child finished first and talked for 1 s: a consult; for 2 minutes: a conference
        ({"TransferCompletedTimestamp": None, "Agent.AfterContactWorkStartTimestamp": "2025-03-04T11:20:00Z"},
         {"Agent.AgentInteractionDuration": 1}, "consult"),
        ({"TransferCompletedTimestamp": None, "Agent.AfterContactWorkStartTimestamp": "2025-03-04T11:20:00Z"},
         {"Agent.AgentInteractionDuration": 120}, "conference"),
        # child after the parent but the parent never completed a transfer: cannot tell
        ({"TransferCompletedTimestamp": None}, {}, None),
        # external legs: hold longer than the third party talked = consult, else conference
        ({"TransferCompletedTimestamp": None, "Agent.CustomerHoldDuration": 90},
         {"InitiationMethod": "EXTERNAL_OUTBOUND", "Agent": None,
          "ExternalThirdParty": {"ExternalThirdPartyInteractionDuration": 60}}, "consult"),
        ({"TransferCompletedTimestamp": None, "Agent.CustomerHoldDuration": 10},
         {"InitiationMethod": "EXTERNAL_OUTBOUND", "Agent": None,
          "ExternalThirdParty": {"ExternalThirdPartyInteractionDuration": 60}}, "conference"),
        ({}, {"InitiationMethod": "EXTERNAL_OUTBOUND", "Agent": None}, "transfer"),
    ],
)  # fmt: skip
def test_transfer_consult_conference_as_aws_describes(
    parent_changes: dict[str, Any], child_changes: dict[str, Any], expected: str | None
) -> None:
    shapes, _, _ = parse(_pair(parent_changes, child_changes))
    assert shapes[(CHILD, "contact")]["attributes"].get("cx.transfer.type") == expected
    assert "cx.transfer.type" not in shapes[(PARENT, "contact")]["attributes"]


def test_a_child_alone_cannot_be_classified_but_a_queue_transfer_can() -> None:
    child = load("ctr_transfer.json")[1]
    shapes, _, _ = parse(child)
    assert "cx.transfer.type" not in shapes[(CHILD, "contact")]["attributes"]
    shapes, _, _ = parse(child | {"InitiationMethod": "QUEUE_TRANSFER"})
    assert shapes[(CHILD, "contact")]["attributes"]["cx.transfer.type"] == "transfer"


def test_queue_exit_callback_requested_or_transferred_without_an_agent() -> None:
    parent = load("ctr_abandoned.json") | {"NextContactId": "c2b0c1de-0000-4000-8000-000000000302"}
    callback = load("ctr_minimal.json") | {
        "ContactId": "c2b0c1de-0000-4000-8000-000000000302", "InitiationMethod": "CALLBACK", "PreviousContactId": ABANDONED,
    }  # fmt: skip
    del callback["contactId"]
    shapes, _, _ = parse([parent, callback])
    assert shapes[(ABANDONED, "queue")]["attributes"]["cx.queue.exit_reason"] == "callback_requested"
    assert shapes[(ABANDONED, "ivr")]["attributes"]["cx.ivr.outcome"] == "routed"
    shapes, _, _ = parse(parent)
    assert shapes[(ABANDONED, "queue")]["attributes"]["cx.queue.exit_reason"] == "transferred"


# --- contact attributes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "platform"),
    [
        ("polyai_conversation_id", "polyai"), ("PolyAI-Conversation-ID", "polyai"), ("polyai_id", "polyai"),
        ("vapiCallId", "vapi"), ("x-twilio-callsid", "twilio"), ("Twilio.CallSid", "twilio"),
        ("twilio_sid", "twilio"), ("x-inin-cnv", "genesys_cloud"), ("genesys_conversation_id", "genesys_cloud"),
        ("retell_call_id", "retell"), ("bland_ai_call_id", "bland"), ("cxone_contact_id", "nice_cxone"),
        ("call_id", None), ("conversation_id", None), ("polyai_intent", None), ("twilio_number", None),
        ("my_vapi_call_id", None),
    ],
)  # fmt: skip
def test_peer_ids_only_from_attribute_names_that_name_the_platform(name: str, platform: str | None) -> None:
    shapes, _, _ = parse(load("ctr_minimal.json") | {"Attributes": {name: "peer-123"}})
    attributes = shapes[(MINIMAL, "contact")]["attributes"]
    assert attributes.get("cx.peer.platform.name") == platform
    assert attributes.get("cx.peer.interaction.id") == ("peer-123" if platform else None)
    assert attributes[f"aws.connect.attributes.{name}"] == "peer-123"


def test_journey_token_traceparent_uui_and_sip_call_id_from_attributes() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    names = {"CX-Journey-Id": "J-1", "traceparent": traceparent, "UUI": "04abcd", "SipCallId": "a84b4c76e66710@pc33"}
    shapes, _, _ = parse(load("ctr_minimal.json") | {"Attributes": names})
    attributes = shapes[(MINIMAL, "contact")]["attributes"]
    assert {k: v for k, v in attributes.items() if not k.startswith("aws.")} == {
        "cx.journey.id": "J-1", "cx.journey.traceparent": traceparent, "cx.telephony.uui": "04abcd",
        "sip.call_id": "a84b4c76e66710@pc33",
    }  # fmt: skip


def test_several_peer_ids_keep_the_first_by_name_and_note_the_rest() -> None:
    record = load("ctr_minimal.json") | {"Attributes": {"vapi_call_id": "v-1", "polyai_id": "p-1", "intent": "x"}}
    shapes, _, notes = parse(record)
    attributes = shapes[(MINIMAL, "contact")]["attributes"]
    assert (attributes["cx.peer.platform.name"], attributes["cx.peer.interaction.id"]) == ("polyai", "p-1")
    assert notes == (f"contact {MINIMAL}: peer ID in attribute 'vapi_call_id' not linked: one peer per contact",)


# --- contact events ----------------------------------------------------------------------------------------


def test_contact_event_opens_spans_with_millisecond_times_below_any_ctr_version() -> None:
    shapes, ignored, _ = parse(load("event_connected_to_agent.json"))
    version = EVENT_VERSION_OFFSET + at("2025-03-04T11:06:31.250Z")
    assert ignored == 0
    assert version < 0
    assert list(shapes.values()) == [
        span(CHILD, "contact", "telephony amazon_connect", "telephony", at("2025-03-04T11:05:50.412Z"),
             at("2025-03-04T11:06:31.250Z"), version, kind="server", **a(
                 cx__channel="voice", cx__direction="inbound", cx__initiation_method="transfer",
                 cx__platform__interaction__previous_id=PARENT, cx__platform__interaction__initial_id=PARENT,
                 aws__connect__contact_event="CONNECTED_TO_AGENT")),
        span(CHILD, "ivr", "ivr amazon_connect", "ivr", at("2025-03-04T11:05:50.412Z"),
             at("2025-03-04T11:05:52.020Z"), version, **a(cx__ivr__outcome="routed")),
        span(CHILD, "queue", "queue amazon_connect", "queue", at("2025-03-04T11:05:52.020Z"),
             at("2025-03-04T11:06:31.250Z"), version, kind="consumer",
             **a(cx__queue__id="q-billing", cx__queue__exit_reason="answered")),
        span(CHILD, "agent", "agent_interaction amazon_connect", "agent_interaction", at("2025-03-04T11:06:31.250Z"),
             at("2025-03-04T11:06:31.250Z"), version, **a(cx__agent__id="ag-2", cx__agent__type="human")),
    ]  # fmt: skip


def test_event_lifecycle_later_state_has_the_higher_version_and_unknown_types_are_ignored() -> None:
    parsed = ADAPTER.parse(load("events_lifecycle.json"), {})
    assert parsed.ignored == 2  # CONTACT_DATA_UPDATED and a Contact Lens event
    roots = [s for s in parsed.spans if s.key == "contact"]
    assert [r.attributes["aws.connect.contact_event"] for r in roots] == ["INITIATED", "QUEUED", "DISCONNECTED"]
    versions = [r.record_version or 0 for r in roots]
    assert versions == sorted(versions) and len(set(versions)) == 3
    queues = [s for s in parsed.spans if s.key == "queue"]
    assert [q.attributes.get("cx.queue.exit_reason") for q in queues] == [None, "abandoned"]
    assert queues[-1].end_unix_nano == at("2025-03-04T16:04:11.125Z")
    assert roots[0].end_unix_nano == roots[0].start_unix_nano == at("2025-03-04T16:00:00.250Z")


# --- flow logs -----------------------------------------------------------------------------------------------


def test_flow_log_entries_are_one_ivr_span_per_flow_with_block_events() -> None:
    shapes, ignored, _ = parse(load("flow_logs.json"))
    main_start, queue_start, last = (at(t) for t in (
        "2025-03-04T10:15:01.120Z", "2025-03-04T10:16:10.200Z", "2025-03-04T10:17:10.200Z"))  # fmt: skip

    def block(time_text: str, block_type: str) -> Event:
        return Event("cx.ivr.block", at(time_text), {"aws.connect.flow.block_type": block_type})

    assert ignored == 0
    assert list(shapes.values()) == [
        span(INBOUND, f"flow:f-main:{main_start}", "ivr amazon_connect", "ivr", main_start, queue_start, last,
             events=[block("2025-03-04T10:15:01.120Z", "SetLoggingBehavior"),
                     block("2025-03-04T10:15:03.400Z", "GetUserInput"), block("2025-03-04T10:16:09.581Z", "SetQueue")],
             **a(cx__ivr__flow__id="f-main", cx__ivr__flow__name="Main IVR")),
        span(INBOUND, f"flow:f-queue:{queue_start}", "ivr amazon_connect", "ivr", queue_start, last, last,
             events=[block("2025-03-04T10:16:10.200Z", "PlayPrompt"), block("2025-03-04T10:17:10.200Z", "Loop")],
             **a(cx__ivr__flow__id="f-queue", cx__ivr__flow__name="Customer queue flow")),
    ]  # fmt: skip
    assert "Press 1" not in json.dumps([s["events"] for s in shapes.values()], default=str)


def test_cloudwatch_subscription_decoded_or_as_awslogs_data_gives_the_same_spans() -> None:
    message = load("cloudwatch_subscription.json")
    decoded = ADAPTER.parse(message, {})
    encoded = {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(message).encode())).decode()}}
    assert ADAPTER.parse(encoded, {}) == decoded
    assert decoded.ignored == 1  # the log line that is not a flow-log entry
    assert [(s.interaction_id, s.attributes["cx.ivr.flow.name"], len(s.events)) for s in decoded.spans] == [
        (ABANDONED, "Support IVR", 2)
    ]
    control = {"messageType": "CONTROL_MESSAGE", "logEvents": [{"id": "1", "timestamp": 1, "message": "CWL CONTROL"}]}
    assert (ADAPTER.parse(control, {}).spans, ADAPTER.parse(control, {}).ignored) == ([], 1)


# --- bad payloads ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"Channel": "VOICE"}, "'ContactId'"),
        ({"ContactId": "c-1", "DisconnectTimestamp": "2025-03-04T10:00:00Z"}, "'InitiationTimestamp'"),
        ({"ContactId": "c-1", "InitiationTimestamp": "yesterday"}, "InitiationTimestamp"),
        ({"ContactId": "c-1", "InitiationTimestamp": "2025-03-04T10:00:00Z", "Agent": {"NumberOfHolds": "two"}},
         "Agent.NumberOfHolds"),
        ({"detail-type": "Amazon Connect Contact Event", "source": "aws.connect", "detail": {"eventType": "QUEUED"}},
         "'contactId'"),
        ({"detail-type": "Amazon Connect Contact Event", "source": "aws.connect", "detail": {"contactId": "c-1"}},
         "'eventType'"),
        ({"detail-type": "Amazon Connect Contact Event", "source": "aws.connect", "detail": "QUEUED"}, "detail"),
        ({"ContactFlowModuleType": "PlayPrompt", "ContactId": "c-1"}, "'Timestamp'"),
        ({"ContactFlowModuleType": "PlayPrompt", "Timestamp": "2025-03-04T10:00:00Z"}, "'ContactId'"),
        ({"awslogs": {"data": "not base64!"}}, "awslogs.data"),
        ("a string", "item 0"),
    ],
)  # fmt: skip
def test_bad_payloads_name_the_field(payload: Any, message: str) -> None:
    with pytest.raises(BadPayload, match=message.replace(".", r"\.")):
        ADAPTER.parse(payload, {})


def test_one_bad_record_rejects_the_whole_batch() -> None:
    good = load("ctr_abandoned.json")
    with pytest.raises(BadPayload, match="item 1"):
        ADAPTER.parse([good, 42], {})
    with pytest.raises(BadPayload, match="'ContactId'"):
        ADAPTER.parse([good, {"Channel": "VOICE"}], {})


def test_empty_batch_is_no_spans() -> None:
    assert ADAPTER.parse([], {}).spans == []


# --- bearer token ---------------------------------------------------------------------------------------------


def test_bearer_token_right_wrong_missing() -> None:
    body, url = b"{}", "http://localhost/v1/platforms/amazon_connect"
    assert ADAPTER.verify is not None
    assert ADAPTER.verify({"Authorization": f"Bearer {TOKEN}"}, body, url, TOKEN) is None
    assert ADAPTER.verify({"authorization": f"bearer  {TOKEN} "}, body, url, TOKEN) is None
    assert ADAPTER.verify({"Authorization": "Bearer wrong"}, body, url, TOKEN) == "wrong bearer token"
    assert ADAPTER.verify({}, body, url, TOKEN) == "missing Authorization header"
    assert (
        ADAPTER.verify({"Authorization": f"Basic {TOKEN}"}, body, url, TOKEN) == "Authorization is not a bearer token"
    )
    assert ADAPTER.verify({"Authorization": "Bearer "}, body, url, TOKEN) == "Authorization is not a bearer token"


# --- over the wire --------------------------------------------------------------------------------------------


def post(http: httpx.Client, server: Any, payload: Any, **kwargs: Any) -> httpx.Response:
    return http.post(f"{server.http_base}/v1/platforms/{P}", json=payload, **kwargs)


def journey_of(client: httpx.Client, interaction_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        journeys = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
        return journeys[0] if journeys else None

    return wait_until(found, what=f"the journey of {interaction_id}")


def contact_spans(client: httpx.Client, contact: str) -> dict[str, dict[str, Any]]:
    """The stored spans of one contact by span ID."""
    journey = client.get(f"/api/journeys/{journey_of(client, contact)['journey_id']}").json()
    return {s["span_id"]: s for s in real_spans(journey) if s["attributes"]["cx.platform.interaction.id"] == contact}


def settle(http: httpx.Client, client: httpx.Client, server: Any, n: int) -> None:
    """Post a marker contact and wait for it: spans are applied in arrival order."""
    marker = load("ctr_minimal.json") | {"contactId": f"marker-{n}-{time.time_ns()}"}
    assert post(http, server, marker).status_code == 202
    journey_of(client, marker["contactId"])


def sid(contact: str, key: str) -> str:
    return draft_span_id(P, contact, key).hex()


def test_ctr_and_flow_logs_make_one_resolved_journey_and_redelivery_adds_nothing(module_server, client) -> None:
    with httpx.Client(timeout=30) as http:
        response = post(http, module_server, load("ctr_inbound_agent.json"))
        assert (response.status_code, response.json()) == (202, {"accepted_spans": 4, "ignored": 0})
        response = post(http, module_server, load("flow_logs.json"))
        assert (response.status_code, response.json()) == (202, {"accepted_spans": 2, "ignored": 0})
        journey = wait_for_journey(client, journey_of(client, INBOUND)["journey_id"], 6)
        assert journey["outcome"] == "resolved"
        assert [leg["platform"] for leg in journey["legs"]] == [P]
        spans = {s["span_id"]: s for s in real_spans(journey)}
        assert sorted(s["attributes"]["cx.span.type"] for s in spans.values()) == [
            "agent_interaction", "ivr", "ivr", "ivr", "queue", "telephony"]  # fmt: skip
        root = spans[sid(INBOUND, "contact")]
        assert (root["start_unix_nano"], root["end_unix_nano"]) == (
            at("2025-03-04T10:15:00Z"),
            at("2025-03-04T10:29:05Z"),
        )
        assert "cx.telephony.ani.number" not in root["attributes"] and "cx.telephony.ani.hash" in root["attributes"]
        assert root["attributes"]["cx.journey.id"] == "jrn-0f3c9a"
        assert all(s["parent_span_id"] == root["span_id"] for k, s in spans.items() if k != root["span_id"])
        agent = spans[sid(INBOUND, "agent")]
        assert agent["attributes"]["cx.agent.hold.duration_ms"] == 95_000

        # Re-delivered CTR and flow logs: the same span IDs, so no duplicates.
        assert post(http, module_server, load("ctr_inbound_agent.json")).status_code == 202
        assert post(http, module_server, load("flow_logs.json")).status_code == 202
        settle(http, client, module_server, 1)
        assert len(real_spans(client.get(f"/api/journeys/{journey['journey_id']}").json())) == 6


def test_older_ctr_never_overwrites_a_newer_one_over_the_wire(module_server, client) -> None:
    newer = load("ctr_abandoned.json")
    newer["Attributes"] = {"intent": "newer"}
    older = copy.deepcopy(newer) | {"LastUpdateTimestamp": "2025-03-04T12:04:32Z"}
    older["Attributes"] = {"intent": "older"}
    newest = copy.deepcopy(newer) | {"LastUpdateTimestamp": "2025-03-04T12:09:00Z"}
    newest["Attributes"] = {"intent": "newest"}
    root = sid(ABANDONED, "contact")
    with httpx.Client(timeout=30) as http:
        assert post(http, module_server, newer).json() == {"accepted_spans": 3, "ignored": 0}
        assert post(http, module_server, older).status_code == 202
        settle(http, client, module_server, 2)
        spans = contact_spans(client, ABANDONED)
        assert len(spans) == 3
        assert spans[root]["attributes"]["aws.connect.attributes.intent"] == "newer"
        assert spans[root]["attributes"]["cx.record.version"] == at("2025-03-04T12:04:33Z")
        assert journey_of(client, ABANDONED)["outcome"] == "abandoned"

        assert post(http, module_server, newest).status_code == 202
        wait_until(
            lambda: contact_spans(client, ABANDONED)[root]["attributes"]["aws.connect.attributes.intent"] == "newest",
            what="the newest CTR",
        )
        assert len(contact_spans(client, ABANDONED)) == 3


def test_events_open_the_contact_and_the_ctr_replaces_them_for_good(module_server, client) -> None:
    event = load("event_connected_to_agent.json")
    with httpx.Client(timeout=30) as http:
        assert post(http, module_server, event).json() == {"accepted_spans": 4, "ignored": 0}
        queue = wait_until(lambda: contact_spans(client, CHILD).get(sid(CHILD, "queue")), what="the event's spans")
        assert "cx.queue.name" not in queue["attributes"]  # events carry no queue names
        assert queue["start_unix_nano"] == at("2025-03-04T11:05:52.020Z")

        # Both CTRs as JSON lines (as a forwarder writes them): the child replaces the event's spans.
        lines = "\n".join(json.dumps(record) for record in load("ctr_transfer.json"))
        response = http.post(f"{module_server.http_base}/v1/platforms/{P}", content=lines,
                             headers={"Content-Type": "application/x-ndjson"})  # fmt: skip
        assert (response.status_code, response.json()) == (202, {"accepted_spans": 8, "ignored": 0})
        wait_until(lambda: "cx.queue.name" in contact_spans(client, CHILD)[sid(CHILD, "queue")]["attributes"],
                   what="the CTR over the event")  # fmt: skip

        # The same event delivered late changes nothing.
        assert post(http, module_server, event).status_code == 202
        settle(http, client, module_server, 3)
        child = contact_spans(client, CHILD)
        assert len(child) == 4
        assert all("aws.connect.contact_event" not in s["attributes"] for s in child.values())
        assert child[sid(CHILD, "contact")]["attributes"]["cx.transfer.type"] == "transfer"
        assert child[sid(CHILD, "queue")]["start_unix_nano"] == at("2025-03-04T11:05:52Z")

        journey = client.get(f"/api/journeys/{journey_of(client, CHILD)['journey_id']}").json()
        assert journey["interaction_count"] == 2
        assert [(leg["platform"], leg["interaction_ids"]) for leg in journey["legs"]] == [(P, [PARENT, CHILD])]
        assert {c["method"] for c in journey["correlation"]} == {"parent_id"}


def polyai_leg(conversation: str, start: int, **attributes: Any) -> bytes:
    request = simple_request(new_trace_id(), 2, service="polyai", name="polyai span", start=start, attributes={
        "cx.platform.name": "polyai", "cx.platform.interaction.id": conversation, **attributes})  # fmt: skip
    return request.SerializeToString()


def test_external_transfer_links_to_the_ai_leg_by_foreign_id_or_by_number_and_time(module_server, client) -> None:
    transfer_at = at("2025-03-04T15:00:38Z")
    # Without the PolyAI ID: another customer, joined only by number, target and time.
    by_phone = load("ctr_external_transfer.json") | {
        "ContactId": "c2b0c1de-0000-4000-8000-000000000602", "Attributes": {},
        "CustomerEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": "+447700900889"},
    }  # fmt: skip
    with httpx.Client(timeout=30) as http:
        for record in (load("ctr_external_transfer.json"), by_phone):
            assert post(http, module_server, record).json() == {"accepted_spans": 2, "ignored": 0}
        legs = (
            polyai_leg(POLYAI_CONVERSATION, transfer_at + 2_000_000_000),
            polyai_leg("CA-polyai-by-phone", transfer_at + 3_000_000_000, **{
                "cx.telephony.ani.number": "+447700900889", "cx.telephony.dnis.number": "+442079460999"}),
        )  # fmt: skip
        for body in legs:
            assert http_export(http, module_server.traces_url, body).status_code == 200

        for contact, method in ((EXTERNAL, "foreign_id"), (by_phone["ContactId"], "ani_time")):
            record = wait_until(lambda c=contact: (j := journey_of(client, c))["interaction_count"] == 2 and j,
                                what=f"{contact} joined to its AI leg")  # fmt: skip
            journey = client.get(f"/api/journeys/{record['journey_id']}").json()
            assert [leg["platform"] for leg in journey["legs"]] == [P, "polyai"]
            assert [c["method"] for c in journey["correlation"]] == [method]
            handoff = next(s for s in journey["spans"] if s.get("synthetic") and s["name"] == f"handoff {P}->polyai")
            assert handoff["start_unix_nano"] == transfer_at  # measured from the span naming the target


def test_bad_payload_is_400_naming_the_field_and_nothing_is_stored(module_server, client) -> None:
    with httpx.Client(timeout=30) as http:
        bad_batch = [load("ctr_telecom_failure.json"), {"Channel": "VOICE"}]
        response = post(http, module_server, bad_batch)
        assert response.status_code == 400 and "ContactId" in response.json()["error"]
        settle(http, client, module_server, 4)
        assert client.get("/api/journeys", params={"interaction_id": FAILED}).json()["journeys"] == []


def test_only_posts_with_the_bearer_token_are_stored(server_factory, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f'amazon_connect: "{TOKEN}"\n')
    server = server_factory("--platform-secrets", str(secrets))
    with httpx.Client(base_url=server.query_url, timeout=30) as client, httpx.Client(timeout=30) as http:
        record = load("ctr_telecom_failure.json")
        missing = post(http, server, record)
        assert missing.status_code == 401 and "missing Authorization" in missing.json()["error"]
        wrong = post(http, server, record, headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401 and TOKEN not in wrong.text
        right = post(http, server, record, headers={"Authorization": f"Bearer {TOKEN}"})
        assert (right.status_code, right.json()) == (202, {"accepted_spans": 3, "ignored": 0})
        journey = wait_for_journey(client, journey_of(client, FAILED)["journey_id"], 3)
        assert journey["outcome"] == "dropped"
        root = next(s for s in real_spans(journey) if s["span_id"] == sid(FAILED, "contact"))
        assert root["status_code"] == "STATUS_CODE_ERROR"
        assert [j["journey_id"] for j in client.get("/api/journeys").json()["journeys"]] == [journey["journey_id"]]
