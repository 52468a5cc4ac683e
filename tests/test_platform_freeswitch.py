"""FreeSWITCH CDRs: exact spans per fixture (mod_json_cdr with URL-encoded values, mod_cdr_csv
with and without a header), bad payloads, and the endpoint end to end (a-leg and b-leg as one journey)."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import real_spans, wait_for_journey, wait_until
from journeytrace.receivers.platforms.adapters.freeswitch import ADAPTER
from journeytrace.receivers.platforms.http import parse_native
from journeytrace.receivers.platforms.model import BadPayload, Event, SpanDraft

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "freeswitch"
S = 1_000_000_000
T = 1764324000 * S  # 2025-11-28 10:00:00 UTC
A_LEG = "8b0c5f4e-1111-4a0a-9a0a-00000000000a"
B_LEG = "91ad7c2e-2222-4b0b-9b0b-00000000000b"


def native(name: str) -> Any:
    media_type = "text/csv" if name.endswith(".csv") else "application/json"
    return parse_native(ADAPTER, (FIXTURES / name).read_bytes(), media_type)


def shape(span: SpanDraft) -> tuple:
    return (span.interaction_id, span.key, span.name, span.span_type, span.kind, span.start_unix_nano,
            span.end_unix_nano, span.parent_key, span.status, span.status_message, span.record_version,
            span.events)  # fmt: skip


# --- parse: exact spans -------------------------------------------------------------------------


def test_normal_call_a_and_b_leg() -> None:
    parsed = ADAPTER.parse(native("normal_call.json"), {})
    a_end, b_end = T + 121 * S + 500_000_000, T + 121 * S
    assert parsed.ignored == 0
    assert [shape(s) for s in parsed.spans] == [
        (A_LEG, "channel", "telephony freeswitch", "telephony", "server", T - 2 * S + 250_000_000, a_end, None,
         "unset", "", a_end, [Event("answered", T + 6 * S)]),
        (B_LEG, "channel", "telephony freeswitch", "telephony", "client", T - S, b_end, None, "unset", "", b_end,
         [Event("answered", T + 6 * S)]),
    ]  # fmt: skip
    a_leg, b_leg = (s.attributes for s in parsed.spans)
    assert a_leg == {
        "freeswitch.hangup_cause": "NORMAL_CLEARING", "freeswitch.sip_hangup_disposition": "recv_bye",
        "freeswitch.sip_term_status": "200", "freeswitch.billsec": 115, "cx.channel": "voice",
        "cx.direction": "inbound", "cx.telephony.q850_cause": 16, "cx.telephony.codec": "PCMU",
        "sip.call_id": "carrier-7781@198.51.100.7", "cx.telephony.ani.number": "+14155550100",
        "cx.telephony.dnis.number": "+14155550199", "cx.platform.interaction.related_id": B_LEG,
        "cx.audio.mos": 4.32, "cx.audio.packet_loss_pct": 1.667, "cx.audio.jitter_max_ms": 12.5,
        "cx.audio.measurement.point": "platform_media", "cx.journey.id": "jrn-fs-1",
        "cx.disconnect.reason": "customer_disconnect",
    }  # fmt: skip
    assert b_leg["cx.platform.interaction.parent_id"] == A_LEG
    assert b_leg["cx.platform.interaction.related_id"] == A_LEG
    assert b_leg["sip.call_id"] == "fs-to-ast-0001@sbc.example.com"
    assert "cx.disconnect.reason" not in b_leg  # the switch sent the BYE on its outbound leg
    assert all(s.platform == "freeswitch" and s.service_name == "freeswitch" for s in parsed.spans)


def test_transfer_by_refer_gives_the_target_and_uui() -> None:
    (span,) = ADAPTER.parse(native("transfer.json"), {}).spans
    t = T + 600 * S
    assert shape(span) == ("c3c3c3c3-3333-4c0c-9c0c-00000000000c", "channel", "telephony freeswitch", "telephony",
                           "server", t, t + 60 * S, None, "unset", "", t + 60 * S,
                           [Event("answered", t + 2 * S)])  # fmt: skip
    assert span.attributes["cx.transfer.target"] == "+14155550199"
    assert span.attributes["cx.telephony.uui"] == "04a1b2c3"  # header parameters dropped
    assert span.attributes["freeswitch.sip_hangup_disposition"] == "recv_refer"
    assert "cx.disconnect.reason" not in span.attributes


def test_failures_are_errors_with_q850_cause_and_poor_audio() -> None:
    temporary, media = ADAPTER.parse(native("failure.json"), {}).spans
    t = T + 1500 * S
    assert shape(temporary) == ("d4d4d4d4-4444-4d0d-9d0d-00000000000d", "channel", "telephony freeswitch",
                                "telephony", "client", t, t + 2 * S, None, "error",
                                "hangup cause NORMAL_TEMPORARY_FAILURE", t + 2 * S, [])  # fmt: skip
    assert {k: temporary.attributes[k] for k in ("error.type", "cx.telephony.q850_cause", "cx.disconnect.reason")} \
        == {"error.type": "normal_temporary_failure", "cx.telephony.q850_cause": 41,
            "cx.disconnect.reason": "telecom_problem"}  # fmt: skip
    assert (media.status, media.attributes["error.type"]) == ("error", "media_timeout")
    assert "cx.telephony.q850_cause" not in media.attributes  # a FreeSWITCH-only cause has no Q.850 value
    assert (media.attributes["cx.audio.mos"], media.attributes["cx.audio.packet_loss_pct"]) == (1.9, 20.0)


def test_abandoned_csv_with_header_in_local_time() -> None:
    (span,) = ADAPTER.parse(native("abandoned.csv"), {"tz": "Europe/Berlin"}).spans
    t = T + 2400 * S  # 11:40 in Berlin is 10:40 UTC
    assert shape(span) == ("a7a7a7a7-7777-4a7a-9a7a-0000000000a7", "channel", "telephony freeswitch", "telephony",
                           "internal", t, t + 21 * S, None, "unset", "", t + 21 * S, [])  # fmt: skip
    assert span.attributes == {
        "freeswitch.hangup_cause": "ORIGINATOR_CANCEL", "freeswitch.billsec": 0, "cx.channel": "voice",
        "cx.telephony.codec": "PCMA", "cx.telephony.ani.number": "+4930555010",
        "cx.telephony.dnis.number": "+4930555099",
    }  # fmt: skip


def test_default_template_rows_without_header() -> None:
    rows = list(csv.reader((FIXTURES / "abandoned_default_template.csv").open()))
    (span,) = ADAPTER.parse(rows, {"tz": "Europe/Berlin"}).spans
    (expected,) = ADAPTER.parse(native("abandoned.csv"), {"tz": "Europe/Berlin"}).spans
    assert span == expected


def test_minimal_flat_variables() -> None:
    (span,) = ADAPTER.parse(native("minimal.json"), {}).spans
    t = T + 1800 * S
    assert shape(span) == ("f6f6f6f6-6666-4f0f-9f0f-00000000000f", "channel", "telephony freeswitch", "telephony",
                           "internal", t, t, None, "unset", "", t, [])  # fmt: skip
    assert span.attributes == {"cx.channel": "voice"}


def test_callflow_times_when_the_variables_have_none() -> None:
    record = {"variables": {"uuid": "u-1"},
              "callflow": {"caller_profile": {"uuid": "u-1"},
                           "times": {"created_time": str(T // 1000), "answered_time": "0",
                                     "hangup_time": str(T // 1000 + 5_000_000)}}}  # fmt: skip
    (span,) = ADAPTER.parse(record, {}).spans
    assert (span.start_unix_nano, span.end_unix_nano, span.events) == (T, T + 5 * S, [])


# --- bad payloads --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "options", "message"),
    [
        ({"variables": {"start_epoch": "1764324000"}}, {}, "required field 'variables.uuid'"),
        ({"variables": {"uuid": "u"}}, {}, "required field 'variables.start_epoch'"),
        ({"variables": {"uuid": "u", "start_stamp": "28/11/2025"}}, {}, "start_stamp"),
        ({"variables": {"uuid": "u", "start_epoch": "1764324000"}}, {"tz": "Not/AZone"}, "is not a known time zone"),
        ({"variables": "uuid=u"}, {}, "variables must be a JSON object"),
        ([{"variables": {"uuid": "u", "start_epoch": "1764324000"}}, 7], {}, "CDR 2 must be a JSON object"),
        ([["a", "b"]], {}, "default template"),
    ],
)  # fmt: skip
def test_bad_payloads_name_the_field(payload: Any, options: dict[str, str], message: str) -> None:
    with pytest.raises(BadPayload, match=message):
        ADAPTER.parse(payload, options)


# --- end to end ----------------------------------------------------------------------------------


def test_end_to_end_legs_link_and_redelivery_adds_nothing(server_factory) -> None:
    server = server_factory()
    body = (FIXTURES / "normal_call.json").read_bytes()
    url = f"{server.http_base}/v1/platforms/freeswitch"
    with httpx.Client(timeout=30) as http, httpx.Client(base_url=server.query_url, timeout=30) as client:
        answer = http.post(url, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 202 and answer.json() == {"accepted_spans": 2, "ignored": 0}

        def found() -> list[dict]:
            return client.get("/api/journeys", params={"interaction_id": B_LEG}).json()["journeys"]

        (summary,) = wait_until(found, what="the FreeSWITCH journey")
        journey = wait_for_journey(client, summary["journey_id"], 2)
        assert summary["journey_id"] == client.get("/api/journeys", params={"interaction_id": A_LEG}).json()[
            "journeys"][0]["journey_id"]  # fmt: skip
        assert journey["interaction_count"] == 2
        assert [leg["platform"] for leg in journey["legs"]] == ["freeswitch"]
        assert "parent_id" in {c["method"] for c in journey["correlation"]}
        spans = {s["attributes"]["cx.platform.interaction.id"]: s for s in real_spans(journey)}
        assert spans[A_LEG]["kind"] == "SPAN_KIND_SERVER" and spans[B_LEG]["kind"] == "SPAN_KIND_CLIENT"
        assert spans[A_LEG]["attributes"]["cx.audio.mos"] == 4.32
        assert "cx.telephony.ani.number" not in spans[A_LEG]["attributes"]

        assert http.post(url, content=body, headers={"content-type": "application/json"}).status_code == 202
        time.sleep(1.5)
        assert len(real_spans(wait_for_journey(client, summary["journey_id"], 2))) == 2

        csv_answer = http.post(url, params={"tz": "Europe/Berlin"}, content=(FIXTURES / "abandoned.csv").read_bytes(),
                               headers={"content-type": "text/csv"})  # fmt: skip
        assert csv_answer.status_code == 202 and csv_answer.json() == {"accepted_spans": 1, "ignored": 0}
        abandoned = wait_until(lambda: client.get("/api/journeys", params={
            "interaction_id": "a7a7a7a7-7777-4a7a-9a7a-0000000000a7"}).json()["journeys"])  # fmt: skip
        (span,) = real_spans(wait_for_journey(client, abandoned[0]["journey_id"], 1))
        assert (span["start_unix_nano"], span["status_code"]) == (T + 2400 * S, "STATUS_CODE_UNSET")
