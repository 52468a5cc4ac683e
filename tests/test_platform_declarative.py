"""Declarative (YAML) platform adapters: the shipped Five9 and Talkdesk mappings produce exact
spans from their fixtures, bad YAML is refused naming the file and key, bad records are refused
naming the field, signatures are checked, and posted records become journeys on a real server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import http_export, new_trace_id, real_spans, simple_request, wait_for_journey, wait_until
from journeytrace.config import ConfigError
from journeytrace.receivers.platforms.declarative import (
    SHIPPED_DIR,
    combine,
    load_declarative,
    load_declarative_dir,
)
from journeytrace.receivers.platforms.model import BadPayload, SpanDraft, to_request
from journeytrace.receivers.platforms.registry import JSON, NDJSON, Adapter, adapters

FIXTURES = Path(__file__).parent / "fixtures" / "platforms"
S = 1_000_000_000


def fixture(platform: str, name: str) -> Any:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text())


def parse(platform: str, native: Any, **options: str) -> list[SpanDraft]:
    return adapters()[platform].parse(native, options).spans


def at(iso: str) -> int:
    """Unix ns of an ISO-8601 time (computed independently of the adapter)."""
    return int(datetime.fromisoformat(iso).timestamp()) * S


def shape(spans: list[SpanDraft]) -> list[tuple[Any, ...]]:
    return [(s.key, s.name, s.span_type, s.parent_key, s.kind, s.start_unix_nano, s.end_unix_nano, s.status)
            for s in spans]  # fmt: skip


def by_key(spans: list[SpanDraft]) -> dict[str, SpanDraft]:
    return {s.key: s for s in spans}


def write(tmp_path: Path, text: str, name: str = "custom.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- registry ---------------------------------------------------------------------------------


def test_shipped_yaml_adapters_are_registered_with_the_native_ones() -> None:
    found = adapters()
    assert list(found) == sorted(found)
    for name in ("five9", "talkdesk"):
        adapter = found[name]
        assert isinstance(adapter, Adapter) and adapter.name == name
        assert adapter.content_types == (JSON, NDJSON)
        assert adapter.verify is not None
    assert set(load_declarative_dir(SHIPPED_DIR)) == {"five9", "talkdesk"}


def test_a_declarative_adapter_may_not_shadow_a_native_one(tmp_path: Path) -> None:
    write(tmp_path, (SHIPPED_DIR / "five9.yaml").read_text())
    native = {"five9": Adapter("five9", lambda native, options: None)}  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="'five9' would shadow the native five9 adapter"):
        combine(native, tmp_path)


def test_two_files_for_one_platform_are_refused(tmp_path: Path) -> None:
    text = (SHIPPED_DIR / "talkdesk.yaml").read_text()
    write(tmp_path, text, "a.yaml")
    write(tmp_path, text, "b.yml")
    with pytest.raises(ConfigError, match=r"b\.yml: platform 'talkdesk' is already defined by .*a\.yaml"):
        load_declarative_dir(tmp_path)


# --- Five9 ------------------------------------------------------------------------------------

FIVE9_T0 = at("2025-03-04T10:15:02+00:00")


def test_five9_answered_call() -> None:
    spans = parse("five9", fixture("five9", "normal"))
    assert shape(spans) == [
        ("call", "telephony five9", "telephony", None, "server", FIVE9_T0, FIVE9_T0 + 340 * S, "unset"),
        ("queue", "queue five9", "queue", "call", "consumer", FIVE9_T0, FIVE9_T0 + 45 * S, "unset"),
        ("agent", "agent_interaction five9", "agent_interaction", "call", "internal",
         FIVE9_T0 + 45 * S, FIVE9_T0 + 295 * S, "unset"),
    ]  # fmt: skip
    assert {s.interaction_id for s in spans} == {"300000000000101"}
    assert {s.platform for s in spans} == {"five9"}
    assert all(s.record_version is None for s in spans)
    call, queue, agent = spans
    assert call.attributes == {
        "cx.channel": "voice",
        "cx.direction": "inbound",
        "cx.telephony.ani.number": "+19255550142",
        "cx.telephony.dnis.number": "+18005550100",
        "sip.call_id": "a84b4c76e66710@pbx.example.com",
        "five9.session_id": "8F3C1A2B9D4E4F6A8B7C6D5E4F3A2B1C",
        "five9.campaign": "Inbound Support",
        "five9.call_type": "Inbound",
        "five9.disposition": "Resolved",
        "five9.transfers": 0,
    }
    assert queue.attributes == {"cx.queue.name": "Billing", "cx.queue.exit_reason": "answered"}
    assert agent.attributes == {
        "cx.agent.id": "jordan.smith@example.com",
        "cx.agent.type": "human",
        "cx.agent.skill": "Billing",
        "cx.agent.hold.duration_ms": 20_000,
    }


def test_five9_transfer_with_report_column_names() -> None:
    t0 = at("2025-03-04T11:00:00+00:00")
    spans = parse("five9", fixture("five9", "transfer"))
    assert shape(spans) == [
        ("call", "telephony five9", "telephony", None, "server", t0, t0 + 180 * S, "unset"),
        ("queue", "queue five9", "queue", "call", "consumer", t0, t0 + 20 * S, "unset"),
        ("agent", "agent_interaction five9", "agent_interaction", "call", "internal", t0 + 20 * S, t0 + 180 * S,
         "unset"),
    ]  # fmt: skip
    call = spans[0]
    assert call.interaction_id == "300000000000102"  # from "CALL ID", the report's spelling
    assert call.attributes["five9.session_id"] == "1A2B3C4D5E6F40718293A4B5C6D7E8F9"
    assert call.attributes["cx.journey.outcome"] == "transferred_external"
    assert call.attributes["five9.transfers"] == 1
    assert call.attributes["cx.telephony.ani.number"] == "+14155550199"
    assert call.attributes["cx.telephony.dnis.number"] == "+18005550100"
    assert spans[2].attributes["cx.agent.hold.duration_ms"] == 0


def test_five9_abandoned_in_queue() -> None:
    t0 = at("2025-03-04T12:30:00+00:00")
    spans = parse("five9", fixture("five9", "abandoned"))
    assert shape(spans) == [
        ("call", "telephony five9", "telephony", None, "server", t0, t0 + 90 * S, "unset"),
        ("queue", "queue five9", "queue", "call", "consumer", t0, t0 + 72 * S, "unset"),
    ]  # the agent "[None]" draws no agent span; abandonment is an outcome, not an error
    call, queue = spans
    assert "cx.telephony.ani.number" not in call.attributes  # "anonymous" never links callers
    assert call.attributes["cx.journey.outcome"] == "abandoned"
    assert queue.attributes == {"cx.queue.name": "Billing", "cx.queue.exit_reason": "abandoned"}


def test_five9_record_with_only_the_required_fields() -> None:
    t0 = at("2025-03-04T13:00:00+00:00")
    spans = parse("five9", fixture("five9", "missing_optional"))
    assert shape(spans) == [("call", "telephony five9", "telephony", None, "server", t0, t0 + 50 * S, "unset")]
    assert spans[0].attributes == {"cx.channel": "voice"}


def test_five9_local_times_follow_the_tz_option() -> None:
    spans = parse("five9", fixture("five9", "missing_optional"), tz="America/Los_Angeles")
    assert spans[0].start_unix_nano == at("2025-03-04T13:00:00-08:00")
    with pytest.raises(BadPayload, match="tz 'Mars/Olympus' is not a known time zone"):
        parse("five9", fixture("five9", "missing_optional"), tz="Mars/Olympus")


def test_five9_telephony_failure_is_an_error_status() -> None:
    record = {**fixture("five9", "missing_optional"), "DISPOSITION": "Dial Error"}
    call = parse("five9", record)[0]
    assert (call.status, call.status_message) == ("error", "telecom_problem")
    assert call.attributes["error.type"] == "telecom_problem"


def test_five9_several_records_in_one_body() -> None:
    body = {"records": [fixture("five9", "normal"), fixture("five9", "abandoned")]}
    spans = parse("five9", body)
    assert [(s.interaction_id, s.key) for s in spans] == [
        ("300000000000101", "call"), ("300000000000101", "queue"), ("300000000000101", "agent"),
        ("300000000000103", "call"), ("300000000000103", "queue"),
    ]  # fmt: skip
    assert [(s.interaction_id, s.key) for s in parse("five9", body["records"])] == [
        (s.interaction_id, s.key) for s in spans
    ]


def test_five9_records_missing_required_fields_are_refused_by_name() -> None:
    record = fixture("five9", "normal")
    with pytest.raises(BadPayload, match=r"five9: required field 'CALL_ID' or 'CALL ID' is missing"):
        parse("five9", {k: v for k, v in record.items() if k != "CALL_ID"})
    with pytest.raises(BadPayload, match=r"required field 'CALL TIME' or 'CALL_TIME' is missing"):
        parse("five9", {k: v for k, v in record.items() if k != "CALL TIME"})
    with pytest.raises(BadPayload, match=r"required field 'TIMESTAMP' or 'START_TIMESTAMP' is missing"):
        parse("five9", {k: v for k, v in record.items() if k != "TIMESTAMP"})
    # the second record is bad: the whole body is refused, naming the record
    with pytest.raises(BadPayload, match=r"five9 record 1: required field 'CALL TIME'"):
        parse("five9", [record, {k: v for k, v in record.items() if k != "CALL TIME"}])
    with pytest.raises(BadPayload, match=r"QUEUE TIME '45 seconds' is not a H:MM:SS duration"):
        parse("five9", {**record, "QUEUE TIME": "45 seconds"})
    with pytest.raises(BadPayload, match="TIMESTAMP 'yesterday' is not an RFC 2822 date"):
        parse("five9", {**record, "TIMESTAMP": "yesterday"})
    with pytest.raises(BadPayload, match="TRANSFERS 'two' is not a number"):
        parse("five9", {**record, "TRANSFERS": "two"})
    with pytest.raises(BadPayload, match="five9 record 0: must be a JSON object, got str"):
        parse("five9", ["a", "b"])


# --- Talkdesk ---------------------------------------------------------------------------------


def test_talkdesk_answered_call_from_the_calls_report() -> None:
    t0, t1 = at("2026-04-23T10:22:26+00:00"), at("2026-04-23T10:28:50+00:00")
    spans = parse("talkdesk", fixture("talkdesk", "normal"))
    assert shape(spans) == [
        ("call", "telephony talkdesk", "telephony", None, "server", t0, t1, "unset"),
        ("queue", "queue talkdesk", "queue", "call", "consumer", t0, t0 + 64 * S, "unset"),
        ("agent", "agent_interaction talkdesk", "agent_interaction", "call", "internal", t0 + 64 * S, t1, "unset"),
    ]
    assert {s.interaction_id for s in spans} == {"17378a31cf7546d3acb9621f29a4e883"}
    call, queue, agent = spans
    assert call.attributes == {
        "cx.channel": "voice",
        "cx.direction": "inbound",
        "cx.telephony.ani.number": "+12025550103",
        "cx.telephony.dnis.number": "+12025550102",
        "talkdesk.call_type": "inbound",
        "talkdesk.callsid": "CA16eb3f3ac603f3856dd91e35c573aab4",
        "talkdesk.phone_display_name": "support",
        "talkdesk.disposition_code": "Resolved",
        "talkdesk.ivr_options": "1,2",
        "talkdesk.recording_url": "https://api.example.com/calls/17378a31cf7546d3acb9621f29a4e883/recordings",
        "talkdesk.is_transfer": False,
    }
    assert queue.attributes == {"cx.queue.name": "billing", "cx.queue.exit_reason": "answered"}
    assert agent.attributes == {
        "cx.agent.id": "67b3696b5b004334e155e996",
        "cx.agent.type": "human",
        "cx.agent.hold.duration_ms": 20_000,
        "talkdesk.handling_user_id": "6214d14c79c2f9152b3c5b36",
        "talkdesk.team_id": "005488465d0e434298375f2e9769ceb3",
    }


def test_talkdesk_external_transfer() -> None:
    t0, t1 = at("2026-04-23T11:00:00+00:00"), at("2026-04-23T11:04:00+00:00")
    spans = parse("talkdesk", fixture("talkdesk", "transfer"))
    assert shape(spans) == [
        ("call", "telephony talkdesk", "telephony", None, "server", t0, t1, "unset"),
        ("queue", "queue talkdesk", "queue", "call", "consumer", t0, t0 + 30 * S, "unset"),
        ("agent", "agent_interaction talkdesk", "agent_interaction", "call", "internal", t0 + 30 * S, t1, "unset"),
    ]
    assert spans[0].attributes["cx.journey.outcome"] == "transferred_external"
    assert spans[0].attributes["talkdesk.is_transfer"] is True
    assert spans[1].attributes == {"cx.queue.name": "agents", "cx.queue.exit_reason": "answered"}


def test_talkdesk_abandoned_call() -> None:
    t0 = at("2026-04-23T12:00:00+00:00")
    spans = parse("talkdesk", fixture("talkdesk", "abandoned"))
    assert shape(spans) == [
        ("call", "telephony talkdesk", "telephony", None, "server", t0, t0 + 50 * S, "unset"),
        ("queue", "queue talkdesk", "queue", "call", "consumer", t0, t0 + 42 * S, "unset"),
    ]
    assert spans[0].attributes["cx.direction"] == "inbound"
    assert "cx.journey.outcome" not in spans[0].attributes
    assert spans[1].attributes == {"cx.queue.name": "billing", "cx.queue.exit_reason": "abandoned"}


def test_talkdesk_old_field_names_and_missing_optional_fields() -> None:
    t0 = at("2022-06-30T16:42:24+00:00")
    spans = parse("talkdesk", fixture("talkdesk", "missing_optional"))
    assert shape(spans) == [("call", "telephony talkdesk", "telephony", None, "server", t0, t0 + 14 * S, "unset")]
    assert spans[0].interaction_id == "74458c259bc04bf1988697e3c5623ae2"
    assert spans[0].attributes == {"cx.channel": "voice", "cx.direction": "outbound", "talkdesk.call_type": "outbound"}


def test_talkdesk_records_missing_required_fields_are_refused_by_name() -> None:
    record = fixture("talkdesk", "transfer")
    with pytest.raises(BadPayload, match=r"required field 'end_at' or 'end_time' is missing"):
        parse("talkdesk", {k: v for k, v in record.items() if k != "end_at"})
    with pytest.raises(BadPayload, match=r"required field 'call_id' or 'interaction_id' is missing"):
        parse("talkdesk", {"entries": [{k: v for k, v in record.items() if k != "call_id"}]})
    with pytest.raises(BadPayload, match=r"wait_time 'long' is not a number"):
        parse("talkdesk", {**record, "wait_time": "long"})
    with pytest.raises(BadPayload, match="ends before it starts"):
        to_request(parse("talkdesk", {**record, "end_at": "2026-04-23T10:59:00Z"}))


# --- YAML validation --------------------------------------------------------------------------

MINIMAL = """\
platform: acme
interaction_id: id
spans:
  - key: call
    type: telephony
    start: {path: start, format: iso8601}
    end: {path: end, format: iso8601}
"""


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (MINIMAL.replace("format: iso8601}\n    end", "format: iso}\n    end"), "spans[0].start.format",
         "'iso' is not one of iso8601, rfc2822, epoch_s, epoch_ms, epoch_ns, auto"),
        (MINIMAL.replace("interaction_id: id\n", ""), "interaction_id", "required key is missing"),
        (MINIMAL + "colour: blue\n", "colour", "unknown key"),
        (MINIMAL.replace("type: telephony", "type: phone"), "spans[0].type", "'phone' is not one of telephony"),
        (MINIMAL.replace("    end:", "    stop:"), "spans[0].stop", "unknown key"),
        (MINIMAL.replace("    end: {path: end, format: iso8601}\n", ""), "spans[0]",
         "give exactly one of end and duration"),
        (MINIMAL.replace("platform: acme", "platform: Acme Corp"), "platform", "must be lowercase"),
        (MINIMAL + "  - {key: q, type: queue, parent: nope, start: {span: call, edge: end},"
                   " duration: {path: w, format: minutes}}\n", "spans[1].parent", "'nope' is not a span"),
        (MINIMAL + "  - {key: q, type: queue, start: {span: later, edge: end}, end: {span: call, edge: end}}\n",
         "spans[1].start.span", "'later' is not a span declared before this one"),
        (MINIMAL + "  - {key: call, type: queue, start: {span: call, edge: end}, end: {span: call, edge: end}}\n",
         "spans[1].key", "'call' is used by another span"),
        (MINIMAL + "  - {key: q, type: queue, start: {span: call, edge: end}, duration: {path: w, format: min}}\n",
         "spans[1].duration.format", "'min' is not one of seconds, ms, hms, days"),
        (MINIMAL + "    attributes: {x: {path: a, map: {b: c}, phone: true}}\n", "spans[0].attributes.x",
         "use at most one of map, phone and type"),
        (MINIMAL + "    attributes: {x: {path: a, type: duration_ms}}\n", "spans[0].attributes.x.format",
         "None is not one of seconds"),
        (MINIMAL + "    attributes: {x: {path: a, typo: 1}}\n", "spans[0].attributes.x.typo", "unknown key"),
        (MINIMAL.replace("format: iso8601}\n    end", "format: iso8601, zone: Mars/Olympus}\n    end"),
         "spans[0].start.zone", "unknown time zone 'Mars/Olympus'"),
        (MINIMAL + "signature: {scheme: hmac-sha256}\n", "signature.header", "required for hmac-sha256"),
        (MINIMAL + "signature: {scheme: rsa, header: X}\n", "signature.scheme", "'rsa' is not one of"),
        (MINIMAL + "record_version: {path: v, format: number}\n", "record_version.format", "'number' is not one of"),
        ("- just a list\n", "", "expected a mapping, got list"),
    ],
)  # fmt: skip
def test_bad_yaml_is_refused_naming_the_file_and_key(tmp_path: Path, text: str, where: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_declarative(path)
    message = str(caught.value)
    assert f"platform adapter file {path}: {where}: " in message
    assert problem in message


def test_unparseable_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "platform: [unclosed\n")
    with pytest.raises(ConfigError, match=f"platform adapter file {path}"):
        load_declarative(path)


# --- the other features of the format, on a custom file ---------------------------------------

CUSTOM = """\
platform: acme
records: data.calls
accept: [{path: event, in: [call.ended]}]
interaction_id: [id, callId]
record_version: {path: seq, format: int}
spans:
  - key: call
    type: telephony
    name: acme call
    start: {path: started, format: epoch_ms}
    end: {path: ended, format: auto}
    attributes:
      cx.peer.platform.name: {value: twilio}
      cx.peer.interaction.id: twilio_sid
      cx.telephony.uui: {path: uui, required: true}
      acme.score: {path: score, type: float}
      acme.vip: {path: vip, type: bool}
      acme.tier: {path: tier, map: {gold: premium}, default: standard}
      acme.tags: tags
    error: {path: result, values: [network_failure]}
  - key: ivr
    type: ivr
    parent: call
    when: menu
    start: {span: call, edge: start}
    duration: {path: menu.seconds, format: seconds}
    attributes:
      cx.ivr.flow.name: menu.name
"""


def test_custom_file_records_accept_versions_and_attribute_types(tmp_path: Path) -> None:
    adapter = load_declarative(write(tmp_path, CUSTOM))
    body = {"data": {"calls": [
        {"event": "call.ended", "callId": "c-1", "seq": 7, "started": 1_700_000_000_123,
         "ended": "2023-11-14T22:13:30Z", "twilio_sid": "CA01", "uui": "04abcd", "score": "0.75", "vip": "yes",
         "tier": "GOLD", "tags": ["a", "b"],
         "result": "network_failure", "menu": {"seconds": 1.5, "name": "main"}},
        {"event": "call.started", "callId": "c-2"},
        {"event": "call.ended", "id": "c-3", "seq": 1, "started": 1_700_000_000_000, "ended": 1_700_000_010,
         "uui": "04ef", "tier": "silver"},
    ]}}  # fmt: skip
    parsed = adapter.parse(body, {})
    assert parsed.ignored == 1
    start1 = 1_700_000_000_123_000_000
    assert shape(parsed.spans) == [
        ("call", "acme call", "telephony", None, "internal", start1, at("2023-11-14T22:13:30+00:00"), "error"),
        ("ivr", "ivr acme", "ivr", "call", "internal", start1, start1 + 1_500_000_000, "unset"),
        ("call", "acme call", "telephony", None, "internal", 1_700_000_000 * S, 1_700_000_010 * S, "unset"),
    ]
    first, ivr, third = parsed.spans
    assert [s.interaction_id for s in parsed.spans] == ["c-1", "c-1", "c-3"]
    assert [s.record_version for s in parsed.spans] == [7, 7, 1]
    assert first.attributes == {
        "cx.peer.platform.name": "twilio", "cx.peer.interaction.id": "CA01", "cx.telephony.uui": "04abcd",
        "acme.score": 0.75, "acme.vip": True, "acme.tier": "premium", "acme.tags": ["a", "b"],
        "error.type": "network_failure",
    }  # fmt: skip
    assert first.status_message == "network_failure"
    assert ivr.attributes == {"cx.ivr.flow.name": "main"}
    assert third.attributes == {"cx.peer.platform.name": "twilio", "cx.telephony.uui": "04ef", "acme.tier": "standard"}
    with pytest.raises(BadPayload, match=r"acme record 0: required field 'uui' is missing"):
        adapter.parse({"data": {"calls": [{**body["data"]["calls"][2], "uui": ""}, {}]}}, {})
    with pytest.raises(BadPayload, match=r"acme: required field 'data.calls' is missing"):
        adapter.parse({"calls": []}, {})
    with pytest.raises(BadPayload, match="vip 'maybe' is not a boolean"):
        adapter.parse({"data": {"calls": {**body["data"]["calls"][2], "vip": "maybe"}}}, {})


def test_phone_normalisation_with_a_country_code(tmp_path: Path) -> None:
    text = MINIMAL + "    attributes:\n      n: {path: n, phone: {country_code: '44', national_digits: 10}}\n"
    adapter = load_declarative(write(tmp_path, text))
    record = {"id": "1", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:01Z"}
    numbers = {"2079460000": "+442079460000", "442079460000": "+442079460000", "+1 415 555 0100": "+14155550100",
               "0044 20 7946 0000": "+442079460000", "12345": "12345", "withheld": None}  # fmt: skip
    for raw, expected in numbers.items():
        assert adapter.parse({**record, "n": raw}, {}).spans[0].attributes.get("n") == expected, raw


def test_a_time_taken_from_a_span_that_was_not_drawn(tmp_path: Path) -> None:
    text = MINIMAL + (
        "  - {key: ivr, type: ivr, parent: call, when: menu, start: {span: call, edge: start},"
        " duration: {path: menu, format: seconds}}\n"
        "  - {key: q, type: queue, parent: call, start: {span: ivr, edge: end}, end: {span: call, edge: end}}\n"
    )
    adapter = load_declarative(write(tmp_path, text))
    record = {"id": "1", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"}
    assert [s.start_unix_nano for s in adapter.parse({**record, "menu": 5}, {}).spans] == [
        at("2026-01-01T00:00:00+00:00"), at("2026-01-01T00:00:00+00:00"), at("2026-01-01T00:00:05+00:00"),
    ]  # fmt: skip
    with pytest.raises(BadPayload, match="a span time comes from span 'ivr', which this record does not draw"):
        adapter.parse(record, {})


# --- signatures -------------------------------------------------------------------------------


def test_shipped_adapters_check_a_bearer_token() -> None:
    verify = adapters()["five9"].verify
    assert verify is not None
    assert verify({"authorization": "Bearer s3cret"}, b"{}", "http://x", "s3cret") is None
    assert verify({"Authorization": "s3cret"}, b"{}", "http://x", "s3cret") is None
    assert verify({"Authorization": "Bearer wrong"}, b"{}", "http://x", "s3cret") == "wrong token"
    assert verify({}, b"{}", "http://x", "s3cret") == "missing Authorization header"


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_hmac_signature_of_the_body(tmp_path: Path, encoding: str) -> None:
    signature = f"{{scheme: hmac-sha256, header: X-Acme-Signature, encoding: {encoding}, prefix: 'sha256='}}"
    text = MINIMAL + f"signature: {signature}\n"
    verify = load_declarative(write(tmp_path, text)).verify
    assert verify is not None
    body = b'{"id": "1"}'
    digest = hmac.new(b"k3y", body, hashlib.sha256).digest()
    good = "sha256=" + (digest.hex().upper() if encoding == "hex" else base64.b64encode(digest).decode())
    assert verify({"x-acme-signature": good}, body, "http://x", "k3y") is None
    assert verify({"X-Acme-Signature": good}, body + b" ", "http://x", "k3y") == "signature does not match the body"
    assert verify({"X-Acme-Signature": good}, body, "http://x", "other") == "signature does not match the body"
    assert verify({"X-Acme-Signature": good[7:]}, body, "http://x", "k3y") == (
        "X-Acme-Signature does not start with 'sha256='"
    )
    assert verify({}, body, "http://x", "k3y") == "missing X-Acme-Signature header"


# --- end to end -------------------------------------------------------------------------------


def post(server: Any, platform: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.http_base}/v1/platforms/{platform}", json=body, headers=headers, timeout=30)


def journey_of(client: httpx.Client, interaction_id: str, interactions: int = 1) -> dict:
    def found() -> dict | None:
        journeys = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
        return journeys[0] if journeys and journeys[0]["interaction_count"] == interactions else None

    return wait_until(found, what=f"the journey of {interaction_id}")


def test_five9_and_talkdesk_records_become_journeys(server_factory, tmp_path: Path) -> None:
    secrets = write(tmp_path, "talkdesk: td-token\n", "secrets.yaml")
    server = server_factory("--platform-secrets", str(secrets))
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        response = post(server, "five9", {"records": [fixture("five9", "normal"), fixture("five9", "abandoned")]})
        assert (response.status_code, response.json()) == (202, {"accepted_spans": 5, "ignored": 0})
        assert post(server, "talkdesk", fixture("talkdesk", "normal")).status_code == 401
        response = post(server, "talkdesk", fixture("talkdesk", "normal"), Authorization="Bearer td-token")
        assert (response.status_code, response.json()) == (202, {"accepted_spans": 3, "ignored": 0})
        response = post(server, "five9", {k: v for k, v in fixture("five9", "normal").items() if k != "CALL TIME"})
        assert response.status_code == 400 and "'CALL TIME'" in response.json()["error"]

        five9 = journey_of(client, "300000000000101")
        detail = wait_for_journey(client, five9["journey_id"], 3)
        spans = real_spans(detail)
        assert sorted((s["name"], s["attributes"]["cx.span.type"]) for s in spans) == [
            ("agent_interaction five9", "agent_interaction"), ("queue five9", "queue"),
            ("telephony five9", "telephony"),
        ]  # fmt: skip
        assert [leg["platform"] for leg in detail["legs"]] == ["five9"]
        assert {s["attributes"]["cx.platform.interaction.id"] for s in spans} == {"300000000000101"}
        queue = next(s for s in spans if s["name"] == "queue five9")
        assert (queue["start_unix_nano"], queue["end_unix_nano"]) == (FIVE9_T0, FIVE9_T0 + 45 * S)
        assert "cx.telephony.ani.number" not in spans[0]["attributes"]  # stored as a hash only
        by_phone = client.get("/api/journeys", params={"phone": "+19255550142"}).json()["journeys"]
        assert [j["journey_id"] for j in by_phone] == [five9["journey_id"]]

        abandoned = journey_of(client, "300000000000103")
        assert abandoned["journey_id"] != five9["journey_id"]
        assert wait_until(lambda: client.get(f"/api/journeys/{abandoned['journey_id']}").json()["outcome"],
                          what="the outcome") == "abandoned"  # fmt: skip

        talkdesk = journey_of(client, "17378a31cf7546d3acb9621f29a4e883")
        td_spans = real_spans(wait_for_journey(client, talkdesk["journey_id"], 3))
        assert sorted(s["name"] for s in td_spans) == ["agent_interaction talkdesk", "queue talkdesk",
                                                      "telephony talkdesk"]  # fmt: skip

        # A re-delivery replaces the same spans instead of adding copies.
        assert post(server, "five9", fixture("five9", "normal")).status_code == 202
        time.sleep(1.5)
        again = wait_for_journey(client, five9["journey_id"], 3)
        assert sorted(s["span_id"] for s in real_spans(again)) == sorted(s["span_id"] for s in spans)


def test_a_five9_record_joins_the_otlp_leg_with_the_same_sip_call_id(server_factory) -> None:
    server = server_factory()
    record = fixture("five9", "normal")
    ai_start = FIVE9_T0 - 120 * S  # the AI agent answered first, then transferred to Five9 over SIP
    otlp = simple_request(
        new_trace_id(), 2, service="acme-voicebot", name="ai_conversation", start=ai_start,
        attributes={"cx.platform.name": "vapi", "cx.platform.interaction.id": "vapi-call-9",
                    "cx.span.type": "ai_conversation", "sip.call_id": record["SIP_CALL_ID"]},
    )  # fmt: skip
    with httpx.Client(base_url=server.query_url, timeout=30) as client, httpx.Client(timeout=30) as sender:
        assert http_export(sender, server.traces_url, otlp).status_code == 200
        assert post(server, "five9", record).status_code == 202
        journey = journey_of(client, "300000000000101", interactions=2)
        assert journey_of(client, "vapi-call-9", interactions=2)["journey_id"] == journey["journey_id"]
        detail = wait_for_journey(client, journey["journey_id"], 5)
        assert [leg["platform"] for leg in detail["legs"]] == ["vapi", "five9"]
        assert [c["method"] for c in detail["correlation"]] == ["sip_call_id"]
        assert {s["trace_id"] for s in detail["spans"]} == {journey["journey_id"]}
