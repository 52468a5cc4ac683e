"""Asterisk CDRs: exact spans per fixture (CSV with and without a header, JSON, AMI names),
bad payloads, and the endpoint end to end (linked to a FreeSWITCH leg by its SIP Call-ID)."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import real_spans, wait_for_journey, wait_until
from journeytrace.receivers.platforms.adapters.asterisk import ADAPTER
from journeytrace.receivers.platforms.http import parse_native
from journeytrace.receivers.platforms.model import BadPayload, Event, SpanDraft

FIXTURES = Path(__file__).parent / "fixtures" / "platforms"
S = 1_000_000_000
T = 1764324000 * S  # 2025-11-28 10:00:00 UTC


def native(name: str, platform: str = "asterisk") -> Any:
    path = FIXTURES / platform / name
    media_type = "text/csv" if name.endswith(".csv") else "application/json"
    return parse_native(ADAPTER, path.read_bytes(), media_type)


def shape(span: SpanDraft) -> tuple:
    return (span.interaction_id, span.key, span.name, span.span_type, span.start_unix_nano, span.end_unix_nano,
            span.parent_key, span.status, span.status_message, span.record_version, span.events)  # fmt: skip


# --- parse: exact spans -------------------------------------------------------------------------


def test_normal_call_csv_with_header_in_local_time() -> None:
    parsed = ADAPTER.parse(native("normal_call.csv"), {"tz": "America/New_York"})
    (span,) = parsed.spans
    assert parsed.ignored == 0
    assert shape(span) == ("1764324000.1", "cdr:1764324000.1:1", "telephony asterisk", "telephony", T, T + 120 * S,
                           None, "unset", "", T + 120 * S, [Event("answered", T + 6 * S)])  # fmt: skip
    assert span.attributes == {
        "asterisk.uniqueid": "1764324000.1", "asterisk.disposition": "ANSWERED",
        "asterisk.channel": "PJSIP/carrier-00000001", "asterisk.dstchannel": "PJSIP/1002-00000002",
        "asterisk.dcontext": "from-trunk", "asterisk.lastapp": "Dial", "asterisk.billsec": 114, "cx.channel": "voice",
        "cx.telephony.ani.number": "+14155550100", "cx.telephony.dnis.number": "2000",
        "sip.call_id": "fs-to-ast-0001@sbc.example.com",
    }  # fmt: skip
    assert (span.platform, span.service_name) == ("asterisk", "asterisk")


def test_the_same_csv_read_as_utc_by_default() -> None:
    (span,) = ADAPTER.parse(native("normal_call.csv"), {}).spans
    assert span.start_unix_nano == T - 5 * 3600 * S


def test_master_csv_without_header_uses_the_cdr_csv_column_order() -> None:
    rows = list(csv.reader((FIXTURES / "asterisk" / "master.csv").open()))
    parsed = ADAPTER.parse(rows, {})
    assert [shape(s) for s in parsed.spans] == [
        ("1764324000.1", "cdr:1764324000.1:1", "telephony asterisk", "telephony", T, T + 120 * S, None, "unset", "",
         T + 120 * S, [Event("answered", T + 6 * S)]),
        ("1764324000.1", "cdr:1764324001.2:2", "telephony asterisk", "telephony", T + S, T + 120 * S, None, "unset",
         "", T + 120 * S, [Event("answered", T + 6 * S)]),
    ]  # fmt: skip
    assert parsed.spans[1].attributes["asterisk.lastapp"] == "AppDial"
    assert parsed.spans[1].attributes["cx.telephony.ani.number"] == "+14155550100"


def test_master_csv_layouts_by_column_count() -> None:
    base = ["", "+14155550100", "2000", "ctx", "clid", "PJSIP/a-1", "PJSIP/b-2", "Dial", "x",
            "2025-11-28 10:00:00", "", "2025-11-28 10:00:09", "9", "0", "BUSY", "DOCUMENTATION"]  # fmt: skip
    (with_ids,) = ADAPTER.parse([base + ["111.1", "note"]], {}).spans  # loguniqueid + loguserfield
    assert (with_ids.interaction_id, with_ids.attributes["asterisk.userfield"]) == ("111.1", "note")
    (linked,) = ADAPTER.parse([base + ["111.2", "", "", "111.1", "7"]], {}).spans  # + newcdrcolumns
    assert (linked.interaction_id, linked.key) == ("111.1", "cdr:111.2:7")
    assert linked.status == "unset" and linked.attributes["asterisk.disposition"] == "BUSY"
    with pytest.raises(BadPayload, match="required field 'uniqueid'"):
        ADAPTER.parse([base], {})  # neither loguniqueid nor newcdrcolumns: no channel ID
    with pytest.raises(BadPayload, match="this one has 12"):
        ADAPTER.parse([base[:12]], {})


def test_rows_as_lists_with_a_header_row() -> None:
    rows = list(csv.reader((FIXTURES / "asterisk" / "normal_call.csv").open()))
    (span,) = ADAPTER.parse(rows, {"tz": "America/New_York"}).spans
    assert (span.key, span.start_unix_nano) == ("cdr:1764324000.1:1", T)


def test_transfer_ami_names_and_transfer_target() -> None:
    parsed = ADAPTER.parse(native("transfer.json"), {})
    t = T + 600 * S
    assert [shape(s) for s in parsed.spans] == [
        ("1764324600.10", "cdr:1764324600.10:10", "telephony asterisk", "telephony", t, t + 60 * S, None, "unset", "",
         t + 60 * S, [Event("answered", t + 5 * S)]),
        ("1764324600.10", "cdr:1764324605.11:11", "telephony asterisk", "telephony", t + 5 * S, t + 60 * S, None,
         "unset", "", t + 60 * S, [Event("answered", t + 5 * S)]),
    ]  # fmt: skip
    first, second = (s.attributes for s in parsed.spans)
    assert first["cx.journey.id"] == "jrn-ast-transfer"
    assert first["asterisk.userfield"] == "vip"
    assert "cx.transfer.target" not in first
    assert second["cx.transfer.target"] == "+14155550199"
    assert second["asterisk.lastapp"] == "Transfer"


def test_abandoned_call_is_not_an_error() -> None:
    (span,) = ADAPTER.parse(native("abandoned.json"), {}).spans
    t = T + 1000 * S
    assert shape(span) == ("1764325000.20", "cdr:1764325000.20:20", "telephony asterisk", "telephony", t,
                           t + 25 * S, None, "unset", "", t + 25 * S, [])  # fmt: skip
    assert span.attributes["asterisk.disposition"] == "NO ANSWER"
    assert "error.type" not in span.attributes and "cx.disconnect.reason" not in span.attributes


def test_congestion_and_failed_are_errors() -> None:
    congestion, failed = ADAPTER.parse(native("failure.csv"), {}).spans
    t = T + 1500 * S
    assert shape(congestion) == ("1764325500.40", f"cdr:1764325500.40:{t}:PJSIP/carrier-00000041",
                                 "telephony asterisk", "telephony", t, t + 2 * S, None, "error", "call congestion",
                                 t + 2 * S, [])  # fmt: skip
    assert {k: congestion.attributes[k] for k in ("error.type", "cx.disconnect.reason", "cx.telephony.q850_cause")} \
        == {"error.type": "congestion", "cx.disconnect.reason": "telecom_problem", "cx.telephony.q850_cause": 34}
    assert (failed.status, failed.status_message, failed.attributes["error.type"]) == ("error", "call failed", "failed")
    assert "cx.telephony.q850_cause" not in failed.attributes and "sip.call_id" not in failed.attributes


def test_minimal_json_with_epoch_times_and_no_linkedid() -> None:
    (span,) = ADAPTER.parse(native("minimal.json"), {}).spans
    t = T + 2000 * S
    assert shape(span) == ("1764326000.30", f"cdr:1764326000.30:{t}:", "telephony asterisk", "telephony", t,
                           t + 3 * S, None, "unset", "", t + 3 * S, [])  # fmt: skip
    assert span.attributes == {"asterisk.uniqueid": "1764326000.30", "cx.channel": "voice"}


def test_custom_cdr_columns_carry_sip_correlation_keys() -> None:
    record = {"UniqueID": "1.1", "start": "2025-11-28 10:00:00", "SIP Call ID": "hop@pbx",
              "X-User-to-User": "04ab;encoding=hex", "hangupcause": "16",
              "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}  # fmt: skip
    (span,) = ADAPTER.parse(record, {}).spans
    assert {k: v for k, v in span.attributes.items() if not k.startswith("asterisk.")} == {
        "cx.channel": "voice", "sip.call_id": "hop@pbx", "cx.telephony.uui": "04ab",
        "cx.journey.traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "cx.telephony.q850_cause": 16,
    }  # fmt: skip


def test_missing_end_uses_the_duration() -> None:
    (span,) = ADAPTER.parse({"uniqueid": "1.1", "start": "2025-11-28 10:00:00", "duration": "42"}, {}).spans
    assert (span.start_unix_nano, span.end_unix_nano) == (T, T + 42 * S)


# --- bad payloads --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "options", "message"),
    [
        ({"linkedid": "1.1", "start": "2025-11-28 10:00:00"}, {}, "required field 'uniqueid'"),
        ({"uniqueid": "1.1", "end": "2025-11-28 10:00:00"}, {}, "required field 'start'"),
        ({"uniqueid": "1.1", "start": "yesterday"}, {}, "start"),
        ({"uniqueid": "1.1", "start": "2025-11-28 10:00:00"}, {"tz": "Mars/Olympus"}, "is not a known time zone"),
        ({"foo": "bar"}, {}, "no known CDR field names"),
        ("a string", {}, "must be a JSON object"),
        ([{"uniqueid": "1.1", "start": "2025-11-28 10:00:00"}, {"uniqueid": "1.2"}], {},
         "CDR 2: required field 'start'"),
    ],
)  # fmt: skip
def test_bad_payloads_name_the_field(payload: Any, options: dict[str, str], message: str) -> None:
    with pytest.raises(BadPayload, match=message):
        ADAPTER.parse(payload, options)


# --- end to end ----------------------------------------------------------------------------------


def post(http: httpx.Client, base: str, platform: str, body: bytes, media_type: str, **params: str) -> httpx.Response:
    return http.post(f"{base}/v1/platforms/{platform}", content=body, params=params,
                     headers={"content-type": media_type})  # fmt: skip


def test_end_to_end_cdr_csv_joins_the_freeswitch_leg_by_sip_call_id(server_factory) -> None:
    server = server_factory()
    csv_body = (FIXTURES / "asterisk" / "normal_call.csv").read_bytes()
    with httpx.Client(timeout=30) as http, httpx.Client(base_url=server.query_url, timeout=30) as client:
        answer = post(http, server.http_base, "asterisk", csv_body, "text/csv", tz="America/New_York")
        assert answer.status_code == 202 and answer.json() == {"accepted_spans": 1, "ignored": 0}
        fs_body = (FIXTURES / "freeswitch" / "normal_call.json").read_bytes()
        answer = post(http, server.http_base, "freeswitch", fs_body, "application/json")
        assert answer.status_code == 202 and answer.json() == {"accepted_spans": 2, "ignored": 0}

        def merged() -> dict | None:
            found = client.get("/api/journeys", params={"interaction_id": "1764324000.1"}).json()["journeys"]
            return found[0] if found and found[0]["interaction_count"] == 3 else None

        summary = wait_until(merged, what="the Asterisk leg joining the FreeSWITCH legs")
        journey = wait_for_journey(client, summary["journey_id"], 3)
        assert [leg["platform"] for leg in journey["legs"]] == ["freeswitch", "asterisk"]
        methods = {c["method"] for c in journey["correlation"]}
        assert {"sip_call_id", "parent_id"} <= methods
        (cdr,) = [s for s in real_spans(journey) if s["attributes"].get("cx.platform.name") == "asterisk"]
        assert (cdr["start_unix_nano"], cdr["end_unix_nano"]) == (T, T + 120 * S)
        assert cdr["attributes"]["cx.span.type"] == "telephony"
        assert cdr["attributes"]["cx.platform.interaction.id"] == "1764324000.1"
        assert "cx.telephony.ani.number" not in cdr["attributes"]
        assert [e["name"] for e in cdr["events"] if e["name"] != "cx.insight"] == ["answered"]

        # Re-posting the same CDR file stores no second copy.
        assert post(http, server.http_base, "asterisk", csv_body, "text/csv", tz="America/New_York").status_code == 202
        time.sleep(1.5)
        again = wait_for_journey(client, summary["journey_id"], 3)
        assert len(real_spans(again)) == 3

        # Master.csv has no header row: its fixed column order is used. A bad zone is refused.
        headerless = post(http, server.http_base, "asterisk", (FIXTURES / "asterisk" / "master.csv").read_bytes(),
                          "text/csv")  # fmt: skip
        assert headerless.status_code == 202 and headerless.json()["accepted_spans"] >= 1
        bad_zone = post(http, server.http_base, "asterisk", csv_body, "text/csv", tz="Nowhere/Land")
        assert bad_zone.status_code == 400 and "is not a known time zone" in bad_zone.json()["error"]
        failure = post(http, server.http_base, "asterisk", (FIXTURES / "asterisk" / "failure.csv").read_bytes(),
                       "text/csv")  # fmt: skip
        assert failure.json() == {"accepted_spans": 2, "ignored": 0}
        failed = wait_until(lambda: client.get("/api/journeys", params={"interaction_id": "1764325500.40"})
                            .json()["journeys"])  # fmt: skip
        (span,) = real_spans(wait_for_journey(client, failed[0]["journey_id"], 1))
        assert (span["status_code"], span["status_message"]) == ("STATUS_CODE_ERROR", "call congestion")
        assert span["attributes"]["error.type"] == "congestion"
        assert span["attributes"]["cx.telephony.q850_cause"] == 34
