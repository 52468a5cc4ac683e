"""NICE CXone contact records → spans: exact synthesized timelines per fixture, master/child
contacts, options (time zone, country code), bad payloads, and the endpoint end to end."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import http_export, new_trace_id, real_spans, simple_request, wait_for_journey, wait_until
from journeytrace.receivers.platforms.adapters.nice_cxone import ADAPTER, phone_number
from journeytrace.receivers.platforms.model import BadPayload, SpanDraft

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "nice_cxone"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def T(clock: str) -> int:
    """``HH:MM:SS`` on 2025-03-04 UTC, in Unix ns (computed independently of the adapter)."""
    h, m, s = (int(x) for x in clock.split(":"))
    return int(datetime(2025, 3, 4, h, m, s, tzinfo=UTC).timestamp()) * 10**9


def shape(span: SpanDraft) -> tuple[Any, ...]:
    return (span.key, span.name, span.span_type, span.start_unix_nano, span.end_unix_nano, span.parent_key,
            span.kind, span.status)  # fmt: skip


def attrs(span: SpanDraft) -> dict[str, Any]:
    return {k: v for k, v in span.attributes.items() if v is not None}


SYNTH = {"cx.span.synthesized": True}


# --- unit: exact spans per fixture ------------------------------------------------------------


def test_normal_call_is_laid_out_back_to_back_from_contact_start() -> None:
    parsed = ADAPTER.parse(load("normal.json"), {})
    assert parsed.ignored == 0
    # preQueue 46 s, inQueue 81 s, agent 362 s; total 489 s.
    assert [shape(s) for s in parsed.spans] == [
        ("contact", "telephony nice_cxone", "telephony", T("10:15:02"), T("10:23:11"), None, "server", "unset"),
        ("ivr", "ivr nice_cxone", "ivr", T("10:15:02"), T("10:15:48"), "contact", "internal", "unset"),
        ("queue", "queue nice_cxone", "queue", T("10:15:48"), T("10:17:09"), "contact", "internal", "unset"),
        ("agent", "agent_interaction nice_cxone", "agent_interaction", T("10:17:09"), T("10:23:11"), "contact",
         "internal", "unset"),
    ]  # fmt: skip
    assert all(s.platform == "nice_cxone" and s.interaction_id == "501234567890" for s in parsed.spans)
    assert {s.record_version for s in parsed.spans} == {T("10:24:20")}  # lastUpdateTime
    contact, ivr, queue, agent = parsed.spans
    assert attrs(contact) == {
        "cx.channel": "voice",
        "cx.direction": "inbound",
        "cx.telephony.ani.number": "4155550100",
        "cx.telephony.dnis.number": "8005550199",
        "cx.disconnect.reason": "customer_disconnect",
        "nice_cxone.end_reason": "Contact Hung Up",
    }  # masterContactId is the contact itself: no parent
    assert attrs(ivr) == {"cx.ivr.outcome": "routed", **SYNTH}
    assert attrs(queue) == {"cx.queue.name": "Billing_IB", "cx.queue.id": "4012345", "cx.queue.exit_reason": "answered",
                            **SYNTH}  # fmt: skip
    assert attrs(agent) == {
        "cx.agent.id": "1234",
        "cx.agent.name": "Jo Smith",
        "cx.agent.type": "human",
        "cx.agent.skill": "Billing_IB",
        "cx.agent.hold.count": 1,
        "cx.agent.hold.duration_ms": 40_000,
        "cx.agent.acw.duration_ms": 65_000,
        **SYNTH,
    }


def test_country_code_option_makes_national_numbers_e164() -> None:
    contact = ADAPTER.parse(load("normal.json"), {"country_code": "1"}).spans[0]
    assert attrs(contact)["cx.telephony.ani.number"] == "+14155550100"
    assert attrs(contact)["cx.telephony.dnis.number"] == "+18005550199"


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [("4155550100", "1", "+14155550100"), ("14155550100", "1", "+14155550100"), ("02079460123", "44", "+442079460123"),
     ("+44 20 7946 0123", "1", "+442079460123"), ("4155550100", None, "4155550100"), ("5001", "1", "5001"),
     ("anonymous", "1", None), (None, "1", None)],
)  # fmt: skip
def test_phone_numbers(value: Any, country: str | None, expected: str | None) -> None:
    assert phone_number(value, country) == expected


def test_a_transfer_makes_a_child_contact_whose_master_is_the_parent() -> None:
    parsed = ADAPTER.parse(load("transfer.json"), {})  # {"completedContacts": [...]}
    assert [(s.interaction_id, *shape(s)) for s in parsed.spans] == [
        ("501234567880", "contact", "telephony nice_cxone", "telephony", T("11:00:00"), T("11:02:50"), None, "server", "unset"),
        ("501234567880", "ivr", "ivr nice_cxone", "ivr", T("11:00:00"), T("11:00:20"), "contact", "internal", "unset"),
        ("501234567880", "queue", "queue nice_cxone", "queue", T("11:00:20"), T("11:00:50"), "contact", "internal", "unset"),
        ("501234567880", "agent", "agent_interaction nice_cxone", "agent_interaction", T("11:00:50"), T("11:02:50"),
         "contact", "internal", "unset"),
        ("501234567880", "handoff", "handoff human", "handoff", T("11:02:50"), T("11:02:50"), "contact", "producer", "unset"),
        ("501234567895", "contact", "telephony nice_cxone", "telephony", T("11:02:50"), T("11:06:25"), None, "server", "unset"),
        ("501234567895", "queue", "queue nice_cxone", "queue", T("11:02:50"), T("11:03:05"), "contact", "internal", "unset"),
        ("501234567895", "agent", "agent_interaction nice_cxone", "agent_interaction", T("11:03:05"), T("11:06:25"),
         "contact", "internal", "unset"),
    ]  # fmt: skip
    first_root, _, _, _, handoff, child_root, _, child_agent = parsed.spans
    assert attrs(handoff) == {
        "cx.handoff.from.platform": "nice_cxone",
        "cx.handoff.from.type": "human",
        "cx.handoff.mode": "cold",
        "nice_cxone.transfer_indicator": "Blind",
        **SYNTH,
    }
    assert "cx.platform.interaction.parent_id" not in attrs(first_root)
    assert attrs(child_root)["cx.platform.interaction.parent_id"] == "501234567880"
    assert "cx.disconnect.reason" not in attrs(first_root)  # no end reason given
    assert attrs(child_agent)["cx.agent.hold.count"] == 2
    assert {s.record_version for s in parsed.spans[5:]} == {T("11:07:10")}


def test_abandoned_in_queue_waits_until_abandon_seconds() -> None:
    parsed = ADAPTER.parse(load("abandoned.json"), {})
    # No inQueueSeconds: the wait runs from the end of the 40 s pre-queue to abandonSeconds (190 s).
    assert [shape(s) for s in parsed.spans] == [
        ("contact", "telephony nice_cxone", "telephony", T("12:00:00"), T("12:03:10"), None, "server", "unset"),
        ("ivr", "ivr nice_cxone", "ivr", T("12:00:00"), T("12:00:40"), "contact", "internal", "unset"),
        ("queue", "queue nice_cxone", "queue", T("12:00:40"), T("12:03:10"), "contact", "internal", "unset"),
    ]  # fmt: skip
    assert attrs(parsed.spans[2])["cx.queue.exit_reason"] == "abandoned"
    assert attrs(parsed.spans[0])["cx.disconnect.reason"] == "customer_disconnect"


def test_abandoned_before_any_skill_is_an_abandoned_ivr() -> None:
    record = {"contactId": 7, "contactStart": "2025-03-04T12:00:00Z", "preQueueSeconds": 30, "abandoned": "Y",
              "abandonSeconds": 30, "totalDurationSeconds": 30}  # fmt: skip
    spans = ADAPTER.parse(record, {}).spans
    assert [s.key for s in spans] == ["contact", "ivr"]
    assert attrs(spans[1])["cx.ivr.outcome"] == "abandoned"


def test_a_telecom_failure_is_an_error_on_the_contact_only() -> None:
    parsed = ADAPTER.parse(load("failure.json"), {})
    contact = parsed.spans[0]
    assert shape(contact) == ("contact", "telephony nice_cxone", "telephony", T("13:00:00"), T("13:01:15"), None,
                              "server", "error")  # fmt: skip
    assert contact.status_message == "telecom_problem"
    assert attrs(contact) == {
        "cx.channel": "voice",
        "cx.direction": "inbound",
        "cx.telephony.ani.number": "+442079460123",
        "cx.telephony.dnis.number": "8005550199",
        "cx.disconnect.reason": "telecom_problem",
        "nice_cxone.end_reason": "Telecom Error",
        "error.type": "telecom_problem",
    }
    assert [(s.key, s.status) for s in parsed.spans[1:]] == [("ivr", "unset"), ("queue", "unset"), ("agent", "unset")]
    assert "cx.queue.id" not in attrs(parsed.spans[2])  # skillName only


def test_a_record_with_optional_fields_missing() -> None:
    (contact,) = ADAPTER.parse(load("minimal.json"), {}).spans
    assert shape(contact) == ("contact", "telephony nice_cxone", "telephony", T("14:00:00"), T("14:00:00"), None,
                              "server", "unset")  # fmt: skip
    assert attrs(contact) == {}
    assert contact.record_version is None
    # A time without an offset is in the business unit's zone when the tz option names it.
    (local,) = ADAPTER.parse(load("minimal.json"), {"tz": "America/New_York"}).spans
    assert local.start_unix_nano == T("19:00:00")
    # An unknown zone is the sender's mistake: a BadPayload (400), not a server error.
    with pytest.raises(BadPayload, match="tz 'Mars/Olympus' is not a known time zone"):
        ADAPTER.parse(load("minimal.json"), {"tz": "Mars/Olympus"})


def test_outbound_contact_takes_the_customer_number_from_to_addr() -> None:
    record = {"contactId": 9, "contactStart": "2025-03-04T15:00:00Z", "isOutbound": True, "fromAddr": "8005550199",
              "toAddr": "4155550177", "skillName": "OB_Sales", "agentId": 5, "agentSeconds": 60}  # fmt: skip
    spans = ADAPTER.parse(record, {"country_code": "1"}).spans
    assert [s.key for s in spans] == ["contact", "agent"]  # no queue for an agent-dialled call
    assert spans[0].kind == "client"
    assert attrs(spans[0])["cx.telephony.ani.number"] == "+14155550177"
    assert attrs(spans[0])["cx.direction"] == "outbound"
    assert (spans[1].start_unix_nano, spans[1].end_unix_nano) == (T("15:00:00"), T("15:01:00"))


def test_a_chat_contact_has_no_telephony_span_type() -> None:
    record = {"contactId": 10, "contactStart": "2025-03-04T15:00:00Z", "mediaTypeName": "Chat"}
    (contact,) = ADAPTER.parse(record, {}).spans
    assert (contact.name, contact.span_type, attrs(contact)["cx.channel"]) == ("contact nice_cxone", None, "chat")


# --- unit: bad payloads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"contactStart": "2025-03-04T10:00:00Z"}, "contactId"),
        ({"contactId": 1}, "contactStart"),
        ({"completedContacts": [{"contactId": 1}]}, "contactStart"),
        ({"contactId": 1, "contactStart": "not a time"}, "contactStart"),
        ({"contactId": 1, "contactStart": "2025-03-04T10:00:00Z", "inQueueSeconds": "lots"}, "inQueueSeconds"),
        ({"contactId": 1, "contactStart": "2025-03-04T10:00:00Z", "agentSeconds": -5}, "agentSeconds"),
        ({"contactId": 1, "contactStart": "2025-03-04T10:00:00Z", "agentId": 2, "agentSeconds": 5, "holdCount": "x"},
         "holdCount"),
        ([load("normal.json"), 42], "JSON object"),
    ],
)  # fmt: skip
def test_a_payload_that_is_not_a_contact_record_names_the_field(payload: Any, field: str) -> None:
    with pytest.raises(BadPayload, match=field):
        ADAPTER.parse(payload, {})


def test_cxone_does_not_sign_requests() -> None:
    assert ADAPTER.verify is None


# --- end to end -----------------------------------------------------------------------------------


def _post(server: Any, payload: Any, query: str = "") -> httpx.Response:
    return httpx.post(f"{server.http_base}/v1/platforms/nice_cxone{query}", json=payload, timeout=30)


def _journey_of(client: httpx.Client, interaction_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        journeys = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
        return journeys[0] if journeys else None

    return wait_until(found, what=f"the journey of {interaction_id}")


def test_end_to_end_master_and_child_contacts_an_ai_leg_redelivery_and_versions(server_factory) -> None:
    server = server_factory()
    bad = _post(server, {"contactStart": "2025-03-04T10:00:00Z"})
    assert bad.status_code == 400 and "contactId" in bad.json()["error"]

    response = _post(server, load("transfer.json"), "?country_code=1")
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted_spans": 8, "ignored": 0}
    assert _post(server, load("normal.json"), "?country_code=1").json() == {"accepted_spans": 4, "ignored": 0}

    # An AI vendor got the child contact over SIP with its contactId in an X-header.
    ai = simple_request(new_trace_id(), 2, service="acme-voicebot", start=T("11:06:30"), attributes={
        "cx.platform.name": "polyai", "cx.platform.interaction.id": "poly-77",
        "cx.peer.platform.name": "nice_cxone", "cx.peer.interaction.id": "501234567895"})  # fmt: skip
    with httpx.Client(timeout=30) as otlp:
        assert http_export(otlp, server.traces_url, ai).status_code == 200

    with httpx.Client(base_url=server.query_url, timeout=30) as client:

        def linked() -> dict[str, Any] | None:
            record = client.get(f"/api/journeys/{_journey_of(client, '501234567880')['journey_id']}").json()
            return record if record.get("interaction_count") == 3 else None

        journey = wait_until(linked, what="both contacts and the AI leg in one journey")
        assert [leg["platform"] for leg in journey["legs"]] == ["nice_cxone", "polyai"]
        assert journey["legs"][0]["interaction_ids"] == ["501234567880", "501234567895"]
        assert {c["method"] for c in journey["correlation"]} == {"parent_id", "foreign_id"}
        full = wait_for_journey(client, journey["journey_id"], 10)
        cxone = [s for s in real_spans(full) if s["attributes"].get("cx.platform.name") == "nice_cxone"]
        assert sorted(s["attributes"]["cx.span.type"] for s in cxone) == sorted(
            ["telephony", "ivr", "queue", "agent_interaction", "handoff", "telephony", "queue", "agent_interaction"])
        queues = {s["attributes"].get("cx.queue.name") for s in cxone if s["attributes"]["cx.span.type"] == "queue"}
        assert queues == {"Sales_IB", "Billing_IB"}
        roots = [s for s in cxone if s["attributes"]["cx.span.type"] == "telephony"]
        assert all("cx.telephony.ani.hash" in s["attributes"] for s in roots)
        assert {s["attributes"]["cx.telephony.dnis.number"] for s in roots} == {"+18005550199"}
        # The platform reported its own handoff: none is inferred between the CXone leg and the next.
        assert not any(s.get("synthetic") and s["attributes"].get("cx.span.type") == "handoff" for s in full["spans"])

        # The same customer number (country code added) finds the other contact by phone search.
        by_phone = client.get("/api/journeys", params={"phone": "+14155550100"}).json()["journeys"]
        assert [j["journey_id"] for j in by_phone] == [_journey_of(client, "501234567890")["journey_id"]]

        # Re-delivery adds nothing; an older version (earlier lastUpdateTime) does not overwrite a newer one.
        assert _post(server, load("normal.json"), "?country_code=1").json() == {"accepted_spans": 4, "ignored": 0}
        older = {**load("normal.json"), "lastUpdateTime": "2025-03-04T10:20:00.000Z", "ACWSeconds": 0,
                 "agentSeconds": 100, "totalDurationSeconds": 227}  # fmt: skip
        assert _post(server, older, "?country_code=1").status_code == 202
        time.sleep(1.5)  # let anything that would (wrongly) replace the spans become visible
        normal = wait_for_journey(client, _journey_of(client, "501234567890")["journey_id"], 4)
        spans = real_spans(normal)
        assert len(spans) == 4
        agent = next(s for s in spans if s["attributes"]["cx.span.type"] == "agent_interaction")
        assert agent["attributes"]["cx.agent.acw.duration_ms"] == 65_000
        assert agent["end_unix_nano"] == T("10:23:11")
        assert normal["outcome"] == "resolved"
