"""Genesys Cloud analytics conversation detail records → spans: exact spans per fixture, bad
payloads, the bearer-token check, and the endpoint end to end (correlation, re-delivery, versions)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import http_export, new_trace_id, real_spans, simple_request, wait_for_journey, wait_until
from journeytrace.receivers.platforms.adapters.genesys_cloud import ADAPTER, phone_number
from journeytrace.receivers.platforms.signing import check_bearer
from journeytrace.receivers.platforms.model import BadPayload, SpanDraft

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "genesys_cloud"
NORMAL_ID = "9f1d7c2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f"
TRANSFER_ID = "5b6c7d8e-1111-4222-8333-944455556666"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def T(clock: str) -> int:
    """``HH:MM:SS[.fff]`` on 2025-03-04 UTC, in Unix ns (computed independently of the adapter)."""
    hms, _, fraction = clock.partition(".")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(datetime(2025, 3, 4, h, m, s, tzinfo=UTC).timestamp()) * 10**9 + int(fraction.ljust(9, "0"))


def shape(span: SpanDraft) -> tuple[Any, ...]:
    return (span.key, span.name, span.span_type, span.start_unix_nano, span.end_unix_nano, span.parent_key,
            span.kind, span.status)  # fmt: skip


def attrs(span: SpanDraft) -> dict[str, Any]:
    """The attributes that will be sent (absent optional values are dropped by ``to_request``)."""
    return {k: v for k, v in span.attributes.items() if v is not None}


def by_key(spans: list[SpanDraft]) -> dict[str, SpanDraft]:
    return {s.key: s for s in spans}


# --- unit: exact spans per fixture ------------------------------------------------------------


def test_normal_call_ivr_queue_agent() -> None:
    parsed = ADAPTER.parse(load("normal.json"), {})
    assert parsed.ignored == 1  # the workflow participant
    assert [shape(s) for s in parsed.spans] == [
        ("conversation", "telephony genesys_cloud", "telephony", T("10:15:02.114"), T("10:29:05.870"), None, "server", "unset"),
        ("ivr:s-ivr", "ivr genesys_cloud", "ivr", T("10:15:02.300"), T("10:15:48.010"), "conversation", "internal", "unset"),
        ("queue:s-acd", "queue genesys_cloud", "queue", T("10:15:48.020"), T("10:17:09.100"), "conversation", "internal", "unset"),
        ("agent:s-agent", "agent_interaction genesys_cloud", "agent_interaction", T("10:17:12.400"), T("10:29:05.870"),
         "conversation", "internal", "unset"),
    ]  # fmt: skip
    assert all(s.platform == "genesys_cloud" and s.interaction_id == NORMAL_ID for s in parsed.spans)
    assert {s.record_version for s in parsed.spans} == {T("10:30:10")}  # the wrap-up end, after conversationEnd
    spans = by_key(parsed.spans)
    assert attrs(spans["conversation"]) == {
        "cx.channel": "voice",
        "cx.direction": "inbound",
        "cx.telephony.ani.number": "+14155550100",
        "cx.telephony.dnis.number": "+18005550199",
        "sip.call_id": "4a1f@sbc.example.net",
        "cx.audio.mos_min": 3.92,
        "genesys.disconnect_type": "endpoint",
        "cx.disconnect.reason": "customer_disconnect",
        "cx.telephony.q850_cause": 16,
    }
    assert attrs(spans["ivr:s-ivr"]) == {
        "cx.ivr.flow.name": "Main IVR",
        "cx.ivr.flow.id": "f-main",
        "cx.ivr.outcome": "routed",
        "genesys.flow.exit_reason": "TRANSFER",
        "genesys.disconnect_type": "transfer",
    }
    assert attrs(spans["queue:s-acd"]) == {
        "cx.queue.name": "Billing",
        "cx.queue.id": "q-billing",
        "cx.queue.exit_reason": "answered",
        "genesys.disconnect_type": "transfer",
    }
    agent = spans["agent:s-agent"]
    assert attrs(agent) == {
        "cx.agent.id": "u-77",
        "cx.agent.name": "Jo Smith",
        "cx.agent.type": "human",
        "cx.agent.hold.count": 1,
        "cx.agent.hold.duration_ms": 40_000,
        "cx.agent.acw.duration_ms": 64_130,
        "genesys.wrapup_code": "wc-billing-resolved",
        "genesys.disconnect_type": "peer",
    }
    assert [(e.name, e.time_unix_nano) for e in agent.events] == [
        ("cx.agent.hold", T("10:20:00")), ("cx.agent.resume", T("10:20:40"))]  # fmt: skip


def test_transfer_to_an_external_number_is_a_handoff_with_target_and_call_id() -> None:
    parsed = ADAPTER.parse(load("transfer.json"), {})  # the {"conversations": [...]} query answer
    assert parsed.ignored == 0
    assert [shape(s) for s in parsed.spans] == [
        ("conversation", "telephony genesys_cloud", "telephony", T("11:00:00"), T("11:12:30"), None, "server", "unset"),
        ("queue:s-a2", "queue genesys_cloud", "queue", T("11:00:00.200"), T("11:01:00"), "conversation", "internal", "unset"),
        ("agent:s-g2", "agent_interaction genesys_cloud", "agent_interaction", T("11:01:05"), T("11:05:00"),
         "conversation", "internal", "unset"),
        ("handoff:s-x2", "handoff human->external", "handoff", T("11:05:00"), T("11:05:04"), "conversation",
         "producer", "unset"),
    ]  # fmt: skip
    spans = by_key(parsed.spans)
    assert attrs(spans["handoff:s-x2"]) == {
        "cx.handoff.from.platform": "genesys_cloud",
        "cx.handoff.from.type": "human",
        "cx.handoff.to.type": "external",
        "cx.handoff.mode": "cold",
        "cx.transfer.target": "+18005550123",
        "sip.call_id": "x2-outbound@edge.example.net",
        "genesys.disconnect_type": "peer",
    }
    root = attrs(spans["conversation"])
    assert root["cx.platform.interaction.related_id"] == "4a5b6c7d-0000-4111-8222-933344445555"
    assert root["genesys.attributes.polyai_conversation"] == "conv-xyz"
    assert root["genesys.attributes.tier"] == "gold"
    assert root["sip.call_id"] == "c2-inbound@sbc.example.net"
    assert root["cx.disconnect.reason"] == "customer_disconnect"
    assert attrs(spans["agent:s-g2"])["cx.agent.acw.duration_ms"] == 30_000
    assert attrs(spans["queue:s-a2"])["cx.queue.exit_reason"] == "answered"


def test_abandoned_in_queue_and_an_unanswered_agent_alert() -> None:
    parsed = ADAPTER.parse(load("abandoned.json"), {})  # an array of records
    assert [shape(s) for s in parsed.spans] == [
        ("conversation", "telephony genesys_cloud", "telephony", T("12:00:00"), T("12:03:10.500"), None, "server", "unset"),
        ("ivr:s-i3", "ivr genesys_cloud", "ivr", T("12:00:00.150"), T("12:00:40"), "conversation", "internal", "unset"),
        ("queue:s-a3", "queue genesys_cloud", "queue", T("12:00:40"), T("12:03:10.500"), "conversation", "internal", "unset"),
    ]  # fmt: skip
    spans = by_key(parsed.spans)
    assert attrs(spans["queue:s-a3"])["cx.queue.exit_reason"] == "abandoned"
    assert attrs(spans["ivr:s-i3"])["cx.ivr.outcome"] == "routed"
    root = spans["conversation"]
    assert attrs(root)["cx.disconnect.reason"] == "customer_disconnect"
    assert [(e.name, e.time_unix_nano, e.attributes) for e in root.events] == [
        ("cx.agent.no_answer", T("12:01:15"), {"cx.agent.id": "u-99", "genesys.disconnect_type": "noAnswerTransfer"})
    ]


def test_failed_transfer_and_transport_failure_are_errors_with_types() -> None:
    parsed = ADAPTER.parse(load("failure.json"), {})
    spans = by_key(parsed.spans)
    assert sorted(spans) == ["agent:s-g4", "conversation", "handoff:s-x4", "queue:s-a4"]
    root = spans["conversation"]
    assert (root.status, root.status_message) == ("error", "telecom_problem")
    assert attrs(root) == {
        "cx.channel": "voice",
        "cx.direction": "inbound",
        "cx.telephony.ani.number": "+14155550133",
        "cx.telephony.dnis.number": "+18005550199",
        "sip.call_id": "c4@sbc.example.net",
        "genesys.disconnect_type": "transportFailure",
        "cx.disconnect.reason": "telecom_problem",
        "cx.telephony.q850_cause": 41,
        "error.type": "telecom_problem",
    }
    handoff = spans["handoff:s-x4"]
    assert shape(handoff) == ("handoff:s-x4", "handoff human->external", "handoff", T("13:02:00"), T("13:02:07.900"),
                              "conversation", "producer", "error")  # fmt: skip
    assert handoff.status_message == "503"
    assert attrs(handoff) == {
        "cx.handoff.from.platform": "genesys_cloud",
        "cx.handoff.from.type": "human",
        "cx.handoff.to.type": "external",
        "cx.handoff.mode": "warm",  # consultTransfer
        "cx.transfer.target": "+442071234567",
        "sip.call_id": "x4@edge.example.net",
        "sip.response.status_code": 503,
        "genesys.disconnect_type": "error",
        "error.type": "503",
    }
    # The agent took the call back after the failed consult: the agent span is fine.
    assert shape(spans["agent:s-g4"])[3:] == (T("13:00:32"), T("13:04:00"), "conversation", "internal", "unset")
    assert spans["queue:s-a4"].status == "unset"


def test_a_record_with_optional_fields_missing_and_open_segments() -> None:
    parsed = ADAPTER.parse(load("minimal.json"), {})
    # No conversationEnd, no sessionIds, no ani/dnis, no flow: open segments end at the latest known time.
    assert [shape(s) for s in parsed.spans] == [
        ("conversation", "telephony genesys_cloud", "telephony", T("14:00:00"), T("14:00:20"), None, "server", "unset"),
        ("ivr:1.0", "ivr genesys_cloud", "ivr", T("14:00:01.500"), T("14:00:20"), "conversation", "internal", "unset"),
    ]  # fmt: skip
    root, ivr = parsed.spans
    assert attrs(root) == {"cx.platform.interaction.previous_id": "0d0d0d0d-aaaa-4bbb-8ccc-dddddddddddd"}
    assert attrs(ivr) == {}
    assert root.record_version == ivr.record_version == T("14:00:20")


def test_an_in_progress_snapshot_is_an_older_version_than_the_final_record() -> None:
    snapshot = ADAPTER.parse(load("in_progress.json"), {}).spans
    final = ADAPTER.parse(load("normal.json"), {}).spans
    assert {s.record_version for s in snapshot} == {T("10:17:12.400")}
    assert max(s.record_version or 0 for s in snapshot) < min(s.record_version or 0 for s in final)
    assert {s.key for s in snapshot} <= {s.key for s in final}  # same span IDs: the final record replaces them
    assert by_key(snapshot)["conversation"].end_unix_nano == T("10:17:12.400")


def test_several_records_in_one_payload_and_an_empty_answer() -> None:
    both = ADAPTER.parse([load("normal.json"), load("failure.json")], {})
    assert {s.interaction_id for s in both.spans} == {NORMAL_ID, "f0f0f0f0-1111-4222-8333-444455556666"}
    assert len(both.spans) == 8 and both.ignored == 1
    assert ADAPTER.parse({"conversations": [], "totalHits": 0}, {}).spans == []


def test_outbound_call_takes_the_customer_number_from_dnis() -> None:
    record = {
        "conversationId": "c-out", "conversationStart": "2025-03-04T15:00:00Z", "conversationEnd": "2025-03-04T15:01:00Z",
        "originatingDirection": "outbound",
        "participants": [{"purpose": "customer", "sessions": [{"sessionId": "s", "mediaType": "voice",
            "ani": "tel:+18005550199", "dnis": "tel:+14155550177",
            "segments": [{"segmentType": "interact", "segmentStart": "2025-03-04T15:00:00Z",
                          "segmentEnd": "2025-03-04T15:01:00Z", "disconnectType": "peer"}]}]}],
    }  # fmt: skip
    (root,) = ADAPTER.parse(record, {}).spans
    assert (root.kind, attrs(root)["cx.telephony.ani.number"]) == ("client", "+14155550177")
    assert attrs(root)["cx.disconnect.reason"] == "flow_disconnect"  # nobody but the system was on the call


def test_an_internal_transfer_with_a_destination_conversation_is_a_zero_length_handoff() -> None:
    record = load("normal.json")
    last_interact = record["participants"][3]["sessions"][0]["segments"][3]
    last_interact.update(disconnectType="consultTransfer", destinationConversationId="dest-conv-1")
    spans = by_key(ADAPTER.parse(record, {}).spans)
    handoff = spans["handoff:s-agent:3"]
    assert shape(handoff) == ("handoff:s-agent:3", "handoff human->human", "handoff", T("10:29:05.870"),
                              T("10:29:05.870"), "conversation", "producer", "unset")  # fmt: skip
    assert attrs(handoff) == {
        "cx.handoff.from.platform": "genesys_cloud",
        "cx.handoff.from.type": "human",
        "cx.handoff.to.type": "human",
        "cx.handoff.mode": "warm",
        "cx.platform.interaction.related_id": "dest-conv-1",
    }


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [("normal.json", "agent_disconnect"), ("transfer.json", "third_party_disconnect")],
)
def test_peer_disconnect_names_whoever_was_last_on_the_call(fixture: str, reason: str) -> None:
    payload = load(fixture)
    record = payload["conversations"][0] if "conversations" in payload else payload
    record["participants"][0]["sessions"][0]["segments"][-1]["disconnectType"] = "peer"
    root = ADAPTER.parse(payload, {}).spans[0]
    assert attrs(root)["cx.disconnect.reason"] == reason
    assert attrs(root)["genesys.disconnect_type"] == "peer"


def test_participant_attributes_carry_a_journey_token_and_traceparent() -> None:
    payload = load("transfer.json")
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    payload["conversations"][0]["participants"][0]["attributes"] = {"cx_journey_id": "j-42", "traceparent": traceparent}
    root = attrs(ADAPTER.parse(payload, {}).spans[0])
    assert root["cx.journey.id"] == "j-42"
    assert root["cx.journey.traceparent"] == traceparent
    assert root["genesys.attributes.cx_journey_id"] == "j-42"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("tel:+14155550100", "+14155550100"), ("sip:+44 20 7946 0123@edge.example;user=phone", "+442079460123"),
     ("TEL:+1 (415) 555-0100", "+14155550100"), ("sip:agent.jo@example.com", None), ("anonymous", None), (None, None)],
)  # fmt: skip
def test_phone_numbers_are_normalised_from_tel_and_sip_uris(value: Any, expected: str | None) -> None:
    assert phone_number(value) == expected


# --- unit: bad payloads ---------------------------------------------------------------------


def _without(path: list[Any]) -> Any:
    record = load("normal.json")
    target = record
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return record


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_without(["conversationId"]), "conversationId"),
        (_without(["conversationStart"]), "conversationStart"),
        (_without(["participants", 0, "sessions", 0, "segments", 0, "segmentStart"]), "segmentStart"),
        ({"conversations": [{"conversationStart": "2025-03-04T10:00:00Z"}]}, "conversationId"),
        ({"detail-type": "v2.detail.events.conversation.{id}.customer.start", "detail": {}}, "conversationId"),
        ("not a record", "JSON object"),
        ({**load("minimal.json"), "conversationStart": "yesterday"}, "conversationStart"),
        ({**load("minimal.json"), "participants": ["p"]}, "participant 0"),
    ],
)
def test_a_payload_that_is_not_a_conversation_record_names_the_field(payload: Any, field: str) -> None:
    with pytest.raises(BadPayload, match=field):
        ADAPTER.parse(payload, {})


def test_a_bad_record_after_a_good_one_rejects_the_whole_payload() -> None:
    with pytest.raises(BadPayload, match="conversationStart"):
        ADAPTER.parse([load("normal.json"), {"conversationId": "x"}], {})


# --- unit: bearer token -----------------------------------------------------------------------

SECRET = "s3cr3t-token-value"


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"Authorization": f"Bearer {SECRET}"}, None),
        ({"authorization": f"bearer {SECRET}"}, None),
        ({"Authorization": "Bearer wrong-token"}, "wrong bearer token"),
        ({"Authorization": f"Basic {SECRET}"}, "not a bearer token"),
        ({"Authorization": "Bearer "}, "not a bearer token"),
        ({}, "missing Authorization header"),
    ],
)
def test_verify_checks_the_bearer_token(headers: dict[str, str], problem: str | None) -> None:
    result = ADAPTER.verify(headers, b"{}", "http://x/v1/platforms/genesys_cloud", SECRET)
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result and SECRET not in result
    assert ADAPTER.verify is check_bearer


# --- end to end -----------------------------------------------------------------------------------


def _post(server: Any, payload: Any, token: str | None = SECRET) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{server.http_base}/v1/platforms/genesys_cloud", json=payload, headers=headers, timeout=30)


def _journey_of(client: httpx.Client, interaction_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        journeys = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
        return journeys[0] if journeys else None

    return wait_until(found, what=f"the journey of {interaction_id}")


def test_end_to_end_signed_posts_correlation_redelivery_and_versions(server_factory, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"genesys_cloud: {SECRET}\n")
    server = server_factory("--platform-secrets", str(secrets))

    assert _post(server, load("normal.json"), token=None).status_code == 401
    wrong = _post(server, load("normal.json"), token="nope")
    assert wrong.status_code == 401 and SECRET not in wrong.text
    bad = _post(server, _without(["conversationId"]))
    assert bad.status_code == 400 and "conversationId" in bad.json()["error"]

    response = _post(server, load("normal.json"))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted_spans": 4, "ignored": 1}
    transfer = _post(server, load("transfer.json"))
    assert transfer.status_code == 202 and transfer.json() == {"accepted_spans": 4, "ignored": 0}

    # The AI vendor the agent transferred to logged the same SIP Call-ID for that hop.
    vendor_start = T("11:05:04.500")
    vendor = simple_request(new_trace_id(), 2, service="acme-voicebot", start=vendor_start, attributes={
        "cx.platform.name": "polyai", "cx.platform.interaction.id": "conv-xyz",
        "sip.call_id": "x2-outbound@edge.example.net"})  # fmt: skip
    with httpx.Client(timeout=30) as otlp:
        assert http_export(otlp, server.traces_url, vendor).status_code == 200

    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        normal = wait_for_journey(client, _journey_of(client, NORMAL_ID)["journey_id"], 4)
        spans = real_spans(normal)
        assert sorted((s["name"], s["attributes"]["cx.span.type"]) for s in spans) == [
            ("agent_interaction genesys_cloud", "agent_interaction"), ("ivr genesys_cloud", "ivr"),
            ("queue genesys_cloud", "queue"), ("telephony genesys_cloud", "telephony")]  # fmt: skip
        assert [leg["platform"] for leg in normal["legs"]] == ["genesys_cloud"]
        assert normal["outcome"] == "resolved"
        root = next(s for s in spans if s["name"] == "telephony genesys_cloud")
        assert "cx.telephony.ani.number" not in root["attributes"] and "cx.telephony.ani.hash" in root["attributes"]
        assert (root["start_unix_nano"], root["end_unix_nano"]) == (T("10:15:02.114"), T("10:29:05.870"))
        children = [s for s in spans if s is not root]
        assert {s["parent_span_id"] for s in children} == {root["span_id"]}

        def linked() -> dict[str, Any] | None:
            record = client.get(f"/api/journeys/{_journey_of(client, TRANSFER_ID)['journey_id']}").json()
            return record if len(record.get("legs", [])) == 2 else None

        journey = wait_until(linked, what="the Genesys leg and the vendor leg in one journey")
        assert [leg["platform"] for leg in journey["legs"]] == ["genesys_cloud", "polyai"]
        assert {c["method"] for c in journey["correlation"]} == {"sip_call_id"}
        assert _journey_of(client, "conv-xyz")["journey_id"] == journey["journey_id"]
        full = wait_for_journey(client, journey["journey_id"], 6)
        handoff = next(s for s in real_spans(full) if s["name"] == "handoff human->external")
        assert handoff["attributes"]["cx.transfer.target"] == "+18005550123"
        assert not any(s["name"].startswith("handoff genesys_cloud->") for s in full["spans"])  # reported, not inferred

        # Re-delivery adds nothing; an older snapshot posted late does not overwrite the final record.
        assert _post(server, load("normal.json")).json() == {"accepted_spans": 4, "ignored": 1}
        assert _post(server, load("in_progress.json")).status_code == 202
        time.sleep(1.5)  # let anything that would (wrongly) replace the spans become visible
        again = wait_for_journey(client, normal["journey_id"], 4)
        assert len(real_spans(again)) == 4
        root = next(s for s in real_spans(again) if s["name"] == "telephony genesys_cloud")
        agent = next(s for s in real_spans(again) if s["name"] == "agent_interaction genesys_cloud")
        assert root["end_unix_nano"] == T("10:29:05.870")
        assert agent["attributes"]["cx.agent.hold.count"] == 1
        assert agent["attributes"]["cx.record.version"] == T("10:30:10")
