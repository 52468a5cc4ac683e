"""Twilio Voice adapter: status callbacks (form or JSON, out of order), <Dial> action callbacks,
Voice Insights summaries and Event Streams batches become the exact spans we expect; bad
payloads name the missing field; X-Twilio-Signature is checked; and over the wire the
highest SequenceNumber wins whatever the arrival order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import http_export, new_trace_id, real_spans, simple_request, wait_for_journey, wait_until
from journeytrace.receivers.platforms.adapters.twilio import ADAPTER
from journeytrace.receivers.platforms.model import BadPayload, SpanDraft, draft_span_id

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "twilio"
FORM = "application/x-www-form-urlencoded"
INSIGHTS = 1 << 40  # Insights summaries outrank every SequenceNumber

CALL = "CA1b2c3d4e5f60718293a4b5c6d7e8f901"
PARENT = "CA2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a"
CHILD = "CA3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b3b"
ABANDONED = "CA4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c"
FAILED = "CA5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d"
MINIMAL = "CA6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e6e"
DIAL_SIP_CALL_ID = "b7f3e1c0@54.172.60.1"


def at(iso: str) -> int:
    """Unix ns of an ISO time, computed independently of the adapter's parser."""
    moment = datetime.fromisoformat(iso)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


DIAL_END = at("2025-03-04T10:34:25Z")


def posts(name: str) -> list[dict[str, str]]:
    """A ``*.form.json`` fixture: the form posts of one scenario, in delivery order."""
    return json.loads((FIXTURES / name).read_text())


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def only(native: Any, options: dict[str, str] | None = None) -> SpanDraft:
    parsed = ADAPTER.parse(native, options or {})
    assert parsed.ignored == 0
    assert len(parsed.spans) == 1
    return parsed.spans[0]


def attrs(draft: SpanDraft) -> dict[str, Any]:
    """The attributes that reach the span (to_request drops absent ones)."""
    return {k: v for k, v in draft.attributes.items() if v not in (None, "", [], {})}


def shape(draft: SpanDraft) -> tuple:
    return (draft.platform, draft.interaction_id, draft.key, draft.name, draft.span_type, draft.kind,
            draft.start_unix_nano, draft.end_unix_nano, draft.parent_key, draft.status,
            draft.record_version)  # fmt: skip


INBOUND_PARTIES = {
    "cx.channel": "voice", "cx.direction": "inbound", "cx.initiation_method": "inbound",
    "cx.telephony.ani.number": "+14155550100", "cx.telephony.dnis.number": "+14155550199",
}  # fmt: skip
INBOUND_SIP = {
    "sip.call_id": "8f1c2d7a-4b1e@10.0.0.5", "cx.telephony.uui": "04534d4954483132",
    "cx.peer.platform.name": "amazon_connect", "cx.peer.interaction.id": "5a1c9e36-0f4b-4c3e-9d2a-7b8e6f1a2c3d",
}  # fmt: skip


# --- status callbacks ------------------------------------------------------------------------------


def test_each_status_callback_is_the_call_span_versioned_by_sequence_number() -> None:
    ringing, answered, completed = (only(p) for p in posts("inbound_call.form.json"))
    assert shape(ringing) == ("twilio", CALL, "call", "telephony twilio", "telephony", "server",
                              at("2025-03-04T10:18:30Z"), at("2025-03-04T10:18:30Z"), None, "unset", 0)  # fmt: skip
    assert attrs(ringing) == {**INBOUND_PARTIES, **INBOUND_SIP, "twilio.call.status": "ringing"}
    assert shape(answered)[6:] == (at("2025-03-04T10:18:32Z"), at("2025-03-04T10:18:32Z"), None, "unset", 1)
    assert attrs(answered)["twilio.call.status"] == "in-progress"
    # The terminal post ends at its Timestamp and starts CallDuration (187 s) earlier.
    assert shape(completed) == ("twilio", CALL, "call", "telephony twilio", "telephony", "server",
                                at("2025-03-04T10:18:32Z"), at("2025-03-04T10:21:39Z"), None, "unset", 2)  # fmt: skip
    assert attrs(completed) == {
        **INBOUND_PARTIES, **INBOUND_SIP, "twilio.call.status": "completed", "sip.response.status_code": 200,
    }  # fmt: skip


def test_the_same_callback_as_a_json_object_gives_the_same_span() -> None:
    form = posts("inbound_call.form.json")[2]
    as_json = json.loads(json.dumps(form))
    assert shape(only(as_json)) == shape(only(form))
    assert attrs(only(as_json)) == attrs(only(form))


def test_transfer_gives_parent_child_and_dial_spans() -> None:
    parent, child_initiated, child_completed, dial = posts("transfer.form.json")
    options = {"received_unix_nano": str(DIAL_END)}

    span = only(parent)
    assert shape(span) == ("twilio", PARENT, "call", "telephony twilio", "telephony", "server",
                           at("2025-03-04T10:30:00Z"), at("2025-03-04T10:35:00Z"), None, "unset", 0)  # fmt: skip
    assert attrs(span) == {
        "cx.channel": "voice", "cx.direction": "inbound", "cx.initiation_method": "inbound",
        "cx.telephony.ani.number": "+14155550123", "cx.telephony.dnis.number": "+18005550100",
        "twilio.call.status": "completed",
    }  # fmt: skip

    assert only(child_initiated).record_version == 0
    span = only(child_completed)
    assert shape(span) == ("twilio", CHILD, "call", "telephony twilio", "telephony", "client",
                           at("2025-03-04T10:30:25Z"), DIAL_END, None, "unset", 3)  # fmt: skip
    # A child leg names its dialled number (from a SIP URI) but no customer: its From is only
    # the caller ID the <Dial> presented. It links to the parent by ParentCallSid.
    assert attrs(span) == {
        "cx.channel": "voice", "cx.direction": "outbound", "cx.initiation_method": "outbound",
        "cx.telephony.dnis.number": "+14155550140", "twilio.call.status": "completed",
        "cx.platform.interaction.parent_id": PARENT, "sip.call_id": DIAL_SIP_CALL_ID, "sip.response.status_code": 200,
    }  # fmt: skip

    span = only(dial, options)
    assert shape(span) == ("twilio", PARENT, f"dial:{CHILD}", "dial twilio", "handoff", "producer",
                           at("2025-03-04T10:30:25Z"), DIAL_END, "call", "unset", 0)  # fmt: skip
    assert attrs(span) == {
        "cx.channel": "voice", "twilio.dial.status": "completed", "cx.platform.interaction.related_id": CHILD,
        "sip.call_id": DIAL_SIP_CALL_ID, "sip.response.status_code": 200, "cx.handoff.method": "bridge",
    }  # fmt: skip
    # A Timestamp a forwarder added wins over the receive time.
    stamped = only({**dial, "Timestamp": "Tue, 04 Mar 2025 10:34:26 +0000"}, options)
    assert stamped.end_unix_nano == at("2025-03-04T10:34:26Z")


def test_abandoned_call_is_a_customer_disconnect_not_an_error() -> None:
    ringing, canceled = (only(p) for p in posts("abandoned.form.json"))
    assert ringing.record_version == 0
    assert shape(canceled) == ("twilio", ABANDONED, "call", "telephony twilio", "telephony", "server",
                               at("2025-03-04T11:00:25Z"), at("2025-03-04T11:00:25Z"), None, "unset", 1)  # fmt: skip
    assert attrs(canceled) == {
        "cx.channel": "voice", "cx.direction": "inbound", "cx.initiation_method": "inbound",
        "cx.telephony.ani.number": "+14155550155", "cx.telephony.dnis.number": "+18005550100",
        "twilio.call.status": "canceled", "sip.response.status_code": 487,
        "cx.disconnect.reason": "customer_disconnect",
    }  # fmt: skip


def test_failed_call_is_an_error_with_the_sip_code() -> None:
    initiated, failed = (only(p) for p in posts("failed.form.json"))
    assert (initiated.status, initiated.kind) == ("unset", "client")
    assert shape(failed) == ("twilio", FAILED, "call", "telephony twilio", "telephony", "client",
                             at("2025-03-04T12:00:02Z"), at("2025-03-04T12:00:02Z"), None, "error", 1)  # fmt: skip
    assert failed.status_message == "call failed (SIP 503)"
    # Twilio called the customer: the customer is To, which is also the dialled number.
    assert attrs(failed) == {
        "cx.channel": "voice", "cx.direction": "outbound", "cx.initiation_method": "api",
        "cx.telephony.ani.number": "+14155550177", "cx.telephony.dnis.number": "+14155550177",
        "twilio.call.status": "failed", "sip.response.status_code": 503, "error.type": "503",
        "cx.disconnect.reason": "telecom_problem",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "sip", "error_type"),
    [("busy", "486", None), ("busy", "503", "503"), ("no-answer", "487", None), ("busy", "603", None),
     ("failed", None, "call_failed"), ("completed", "200", None)],
)  # fmt: skip
def test_only_system_failures_are_errors(status: str, sip: str | None, error_type: str | None) -> None:
    post = {**posts("failed.form.json")[1], "CallStatus": status}
    post.pop("SipResponseCode")
    if sip:
        post["SipResponseCode"] = sip
    span = only(post)
    assert span.status == ("error" if error_type else "unset")
    assert span.attributes.get("error.type") == error_type


def test_canceled_api_call_is_an_api_disconnect() -> None:
    post = {**posts("failed.form.json")[1], "CallStatus": "canceled", "SipResponseCode": "487"}
    assert attrs(only(post))["cx.disconnect.reason"] == "api"


def test_minimal_callback_needs_only_sid_status_and_time() -> None:
    (post,) = posts("minimal.form.json")
    span = only(post)
    # No SequenceNumber: a terminal status ranks after every progress event (3).
    assert shape(span) == ("twilio", MINIMAL, "call", "telephony twilio", "telephony", "internal",
                           at("2025-03-04T13:00:00Z"), at("2025-03-04T13:00:00Z"), None, "unset", 3)  # fmt: skip
    assert attrs(span) == {"cx.channel": "voice", "twilio.call.status": "completed"}
    assert only({**post, "CallStatus": "ringing"}).record_version == 1


def test_journey_id_query_parameter_tags_every_span() -> None:
    parsed = ADAPTER.parse(body("event_streams.json"), {"journey_id": "journey-42"})
    assert {s.attributes["cx.journey.id"] for s in parsed.spans} == {"journey-42"}


def test_sip_headers_traceparent_session_id_and_genesys_conversation() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    span = only({**posts("minimal.form.json")[0], "SipHeader_X-Traceparent": traceparent,
                 "SipHeader_Session-ID": "ab30317f1a784dc48ff824d0d3715d86;remote=0",
                 "SipHeader_x-inin-cnv": "conv-9"})  # fmt: skip
    assert attrs(span) == {
        "cx.channel": "voice", "twilio.call.status": "completed", "cx.journey.traceparent": traceparent,
        "cx.telephony.session_id": "ab30317f1a784dc48ff824d0d3715d86",
        "cx.peer.platform.name": "genesys_cloud", "cx.peer.interaction.id": "conv-9",
    }  # fmt: skip


# --- Voice Insights and Event Streams --------------------------------------------------------------


def test_insights_summary_is_the_call_span_with_audio_quality() -> None:
    span = only(body("insights_summary.json"))
    assert shape(span) == ("twilio", CALL, "call", "telephony twilio", "telephony", "server",
                           at("2025-03-04T10:18:30Z"), at("2025-03-04T10:21:39Z"), None, "unset",
                           INSIGHTS + 2)  # fmt: skip
    assert attrs(span) == {
        **INBOUND_PARTIES, "twilio.call.status": "completed", "sip.call_id": "8f1c2d7a-4b1e@10.0.0.5",
        "sip.response.status_code": 200, "cx.telephony.q850_cause": 16, "twilio.answered_by": "unknown",
        "twilio.disconnected_by": "caller", "cx.disconnect.reason": "customer_disconnect",
        "twilio.insights.tags": ["high_packet_loss", "high_jitter"], "twilio.insights.processing_state": "complete",
        "cx.audio.measurement.point": "sbc", "cx.audio.jitter_ms": 6.1, "cx.audio.jitter_max_ms": 42.0,
        "cx.audio.packet_loss_pct": 5.3, "cx.telephony.codec": "pcmu",
    }  # fmt: skip
    partial = only({**body("insights_summary.json"), "processing_state": "partial"})
    assert partial.record_version == INSIGHTS


def test_failed_insights_summary_is_an_error() -> None:
    summary = body("insights_summary.json")
    summary["call_state"] = "fail"
    summary["properties"] = {**summary["properties"], "last_sip_response_num": 502, "disconnected_by": "twilio"}
    span = only(summary)
    assert (span.status, span.attributes["error.type"]) == ("error", "502")
    assert span.attributes["twilio.call.status"] == "failed"
    assert span.attributes["cx.disconnect.reason"] == "telecom_problem"


def test_event_streams_batch_keeps_the_newest_version_and_ignores_unknown_types() -> None:
    parsed = ADAPTER.parse(body("event_streams.json"), {})
    assert parsed.ignored == 1  # com.twilio.voice.twiml.call.redirected
    by_call = {s.interaction_id: s for s in parsed.spans}
    assert len(parsed.spans) == 2
    completed = by_call["CA7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f"]  # the ringing event (seq 1) is superseded
    assert shape(completed) == ("twilio", "CA7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "call", "telephony twilio", "telephony",
                                "client", at("2025-03-04T14:00:05Z"), at("2025-03-04T14:01:40Z"), None, "unset",
                                3)  # fmt: skip
    assert attrs(completed) == {
        "cx.channel": "voice", "cx.direction": "outbound", "cx.initiation_method": "api",
        "cx.telephony.ani.number": "+14155550188", "cx.telephony.dnis.number": "+14155550188",
        "twilio.call.status": "completed", "twilio.answered_by": "human",
    }  # fmt: skip
    agent = by_call["CA8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a"]
    assert shape(agent) == ("twilio", "CA8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a", "call", "telephony twilio", "telephony",
                            "client", at("2025-03-04T14:00:10.250Z"), at("2025-03-04T14:01:40Z"), None, "unset",
                            INSIGHTS + 2)  # fmt: skip
    assert attrs(agent) == {
        "cx.channel": "voice", "cx.direction": "outbound", "cx.initiation_method": "outbound",
        "twilio.call.status": "completed", "cx.platform.interaction.parent_id": "CA7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
        "twilio.disconnected_by": "callee", "twilio.insights.processing_state": "complete",
        "cx.audio.measurement.point": "agent_softphone", "cx.audio.jitter_ms": 3.5, "cx.audio.jitter_max_ms": 12.0,
        "cx.audio.packet_loss_pct": 0.444, "cx.audio.mos": 4.31, "cx.audio.mos_min": 3.9, "cx.audio.rtt_ms": 88.0,
        "cx.telephony.codec": "opus",
    }  # fmt: skip


def test_event_streams_status_event_with_empty_parameters_uses_the_envelope() -> None:
    event = body("event_streams.json")[1]
    event["data"]["request"]["parameters"] = {}
    span = only([event])
    assert (span.interaction_id, span.end_unix_nano, span.attributes["twilio.call.status"]) == (
        "CA7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", at("2025-03-04T14:01:40Z"), "completed")  # fmt: skip


# --- bad payloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["CallSid", "CallStatus", "Timestamp"])
def test_status_callback_missing_required_field_names_it(field: str) -> None:
    post = dict(posts("inbound_call.form.json")[2])
    del post[field]
    with pytest.raises(BadPayload, match=field):
        ADAPTER.parse(post, {})


def test_dial_action_without_any_time_names_timestamp() -> None:
    with pytest.raises(BadPayload, match="'Timestamp'.*received_unix_nano"):
        ADAPTER.parse(posts("transfer.form.json")[3], {})


def test_bad_payloads_name_the_problem() -> None:
    with pytest.raises(BadPayload, match="'CallSid'"):
        ADAPTER.parse({"hello": "world"}, {})
    with pytest.raises(BadPayload, match="RFC 2822"):
        ADAPTER.parse({**posts("minimal.form.json")[0], "Timestamp": "yesterday"}, {})
    with pytest.raises(BadPayload, match="'start_time'"):
        ADAPTER.parse({"call_sid": CALL, "call_state": "completed"}, {})
    with pytest.raises(BadPayload, match="'type'"):
        ADAPTER.parse([{"data": {}}], {})
    with pytest.raises(BadPayload, match="JSON object"):
        ADAPTER.parse("CA123", {})
    with pytest.raises(BadPayload, match="empty"):
        ADAPTER.parse([], {})
    # A bad event anywhere in a batch fails the whole batch before anything is returned.
    batch = body("event_streams.json")
    del batch[2]["data"]["start_time"]
    with pytest.raises(BadPayload, match="'start_time'"):
        ADAPTER.parse(batch, {})


# --- signatures ------------------------------------------------------------------------------------

TOKEN = "12345678901234567890123456789012"
URL = "https://journeytrace.example.com/v1/platforms/twilio?tenant=acme"


def twilio_signature(url: str, params: dict[str, str] | None = None, token: str = TOKEN) -> str:
    """The documented algorithm, written out independently of the adapter."""
    text = url + "".join(f"{name}{params[name]}" for name in sorted(params or {}))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def test_signature_matches_twilio_sdk_test_vector() -> None:
    # The vector Twilio's own SDK tests use (twilio/twilio-java#424): token "12345".
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
              "From": "+14158675309", "To": "+18005551212"}  # fmt: skip
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    form = str(httpx.QueryParams(params)).encode()
    headers = {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "Content-Type": FORM}
    assert ADAPTER.verify(headers, form, url, "12345") is None
    assert ADAPTER.verify(headers, form, url, "12346") == "X-Twilio-Signature does not match"


def test_form_signature_right_wrong_missing() -> None:
    params = posts("minimal.form.json")[0]
    form = str(httpx.QueryParams(params)).encode()
    good = {"X-Twilio-Signature": twilio_signature(URL, params), "Content-Type": f"{FORM}; charset=utf-8"}
    assert ADAPTER.verify(good, form, URL, TOKEN) is None
    assert ADAPTER.verify({**good, "X-Twilio-Signature": twilio_signature(URL, params, "other")}, form, URL, TOKEN)
    tampered = str(httpx.QueryParams({**params, "CallStatus": "failed"})).encode()
    assert ADAPTER.verify(good, tampered, URL, TOKEN) == "X-Twilio-Signature does not match"
    assert ADAPTER.verify({"Content-Type": FORM}, form, URL, TOKEN) == "missing X-Twilio-Signature header"
    problem = ADAPTER.verify({**good, "X-Twilio-Signature": "bad"}, form, URL, TOKEN)
    assert problem is not None and TOKEN not in problem


def test_signature_with_or_without_the_default_port() -> None:
    params = posts("minimal.form.json")[0]
    form = str(httpx.QueryParams(params)).encode()
    signed_with_port = twilio_signature("https://journeytrace.example.com:443/v1/platforms/twilio?tenant=acme", params)
    assert ADAPTER.verify({"x-twilio-signature": signed_with_port, "content-type": FORM}, form, URL, TOKEN) is None


def test_json_signature_uses_body_sha256() -> None:
    raw = json.dumps(body("insights_summary.json")).encode()
    url = f"{URL}&bodySHA256={hashlib.sha256(raw).hexdigest()}"
    headers = {"X-Twilio-Signature": twilio_signature(url), "Content-Type": "application/json"}
    assert ADAPTER.verify(headers, raw, url, TOKEN) is None
    assert ADAPTER.verify(headers, raw + b" ", url, TOKEN) == "bodySHA256 does not match the body"
    unsigned = {"X-Twilio-Signature": twilio_signature(URL), "Content-Type": "application/json"}
    assert "bodySHA256" in (ADAPTER.verify(unsigned, raw, URL, TOKEN) or "")


# --- over the wire ---------------------------------------------------------------------------------

S = 1_000_000_000


def journey_of(client: httpx.Client, interaction_id: str) -> dict:
    def found() -> dict | None:
        journeys = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
        return journeys[0] if journeys else None

    return wait_until(found, what=f"the journey of {interaction_id}")


def post_form(http: httpx.Client, url: str, form: dict[str, str], **kwargs: Any) -> httpx.Response:
    return http.post(url, data=form, **kwargs)


def call_span(client: httpx.Client, call_sid: str) -> dict:
    journey = wait_for_journey(client, journey_of(client, call_sid)["journey_id"], 1)
    spans = [s for s in real_spans(journey) if s["attributes"].get("cx.platform.interaction.id") == call_sid]
    assert len(spans) == 1, spans
    return spans[0]


def settle(http: httpx.Client, client: httpx.Client, url: str, n: int) -> None:
    """Post a marker call and wait until it is visible: spans are applied in arrival order, so
    everything posted before it has been applied too."""
    marker = {**posts("minimal.form.json")[0], "CallSid": f"CA{n:032x}"}
    assert post_form(http, url, marker).status_code == 202
    journey_of(client, marker["CallSid"])


def test_out_of_order_callbacks_redelivery_and_insights_over_the_wire(server_factory) -> None:
    server = server_factory()
    url = f"{server.http_base}/v1/platforms/twilio"
    ringing, answered, completed = posts("inbound_call.form.json")
    with httpx.Client(base_url=server.query_url, timeout=30) as client, httpx.Client(timeout=30) as http:
        for post in (completed, ringing, answered):  # completed first
            response = post_form(http, url, post)
            assert (response.status_code, response.json()) == (202, {"accepted_spans": 1, "ignored": 0})
        settle(http, client, url, 1)
        span = call_span(client, CALL)
        assert span["span_id"] == draft_span_id("twilio", CALL, "call").hex()
        assert span["start_unix_nano"] == at("2025-03-04T10:18:32Z")
        assert span["end_unix_nano"] == at("2025-03-04T10:21:39Z")
        assert span["attributes"]["twilio.call.status"] == "completed"
        assert span["attributes"]["cx.span.type"] == "telephony"
        assert span["kind"] == "SPAN_KIND_SERVER"
        # The customer's number is stored only as its keyed hash.
        assert "cx.telephony.ani.number" not in span["attributes"] and "cx.telephony.ani.hash" in span["attributes"]

        # Re-delivering every post changes nothing.
        for post in (ringing, answered, completed):
            assert post_form(http, url, post).status_code == 202
        settle(http, client, url, 2)
        assert call_span(client, CALL)["attributes"]["twilio.call.status"] == "completed"

        # The Insights summary (JSON) replaces the call span with the complete picture ...
        response = http.post(url, json=body("insights_summary.json"))
        assert (response.status_code, response.json()) == (202, {"accepted_spans": 1, "ignored": 0})
        wait_until(lambda: "cx.audio.jitter_ms" in call_span(client, CALL)["attributes"], what="the Insights span")
        # ... and a late status callback (an older version) does not overwrite it.
        assert post_form(http, url, completed).status_code == 202
        settle(http, client, url, 3)
        span = call_span(client, CALL)
        assert span["start_unix_nano"] == at("2025-03-04T10:18:30Z")
        assert span["attributes"]["cx.audio.packet_loss_pct"] == 5.3
        assert span["attributes"]["twilio.insights.tags"] == ["high_packet_loss", "high_jitter"]

        # A failed call is stored with error status; a bad body is a 400 naming the field.
        for post in posts("failed.form.json"):
            assert post_form(http, url, post).status_code == 202
        wait_until(lambda: call_span(client, FAILED)["status_code"] == "STATUS_CODE_ERROR", what="the failed call")
        assert call_span(client, FAILED)["attributes"]["error.type"] == "503"
        bad = post_form(http, url, {"CallStatus": "completed"})
        assert bad.status_code == 400 and "CallSid" in bad.json()["error"]


def test_transfer_links_parent_child_and_another_platform(server_factory) -> None:
    server = server_factory()
    url = f"{server.http_base}/v1/platforms/twilio"
    parent, child_initiated, child_completed, dial = posts("transfer.form.json")
    with httpx.Client(base_url=server.query_url, timeout=30) as client, httpx.Client(timeout=30) as http:
        for post in (child_completed, parent, child_initiated):
            assert post_form(http, url, post).status_code == 202
        response = post_form(http, url, dial, params={"received_unix_nano": str(DIAL_END)})
        assert (response.status_code, response.json()) == (202, {"accepted_spans": 1, "ignored": 0})
        # The far end of the <Dial><Sip> hop, reported by another platform over OTLP.
        far_end = simple_request(new_trace_id(), 2, service="livekit", name="livekit span",
                                 start=at("2025-03-04T10:30:26Z"), attributes={
            "cx.platform.name": "livekit", "cx.platform.interaction.id": "RM_far_end",
            "sip.call_id": DIAL_SIP_CALL_ID})  # fmt: skip
        assert http_export(http, server.traces_url, far_end).status_code == 200

        def linked() -> dict | None:
            record = client.get(f"/api/journeys/{journey_of(client, PARENT)['journey_id']}").json()
            return record if record.get("interaction_count") == 3 else None

        record = wait_until(linked, what="the three interactions in one journey")
        journey = wait_for_journey(client, record["journey_id"], 5)
        assert [leg["platform"] for leg in journey["legs"]] == ["twilio", "livekit"]
        assert journey["legs"][0]["interaction_ids"] == [PARENT, CHILD]
        assert {c["method"] for c in journey["correlation"]} == {"parent_id", "sip_call_id"}
        spans = {(s["attributes"]["cx.platform.interaction.id"], s["name"]): s for s in real_spans(journey)}
        dial_span = spans[(PARENT, "dial twilio")]
        assert dial_span["parent_span_id"] == draft_span_id("twilio", PARENT, "call").hex()
        assert dial_span["attributes"]["cx.span.type"] == "handoff"
        assert (dial_span["start_unix_nano"], dial_span["end_unix_nano"]) == (at("2025-03-04T10:30:25Z"), DIAL_END)
        child_span = spans[(CHILD, "telephony twilio")]
        assert child_span["attributes"]["twilio.call.status"] == "completed"  # seq 3 beat the later-posted seq 0
        assert all(s["trace_id"] == journey["journey_id"] for s in journey["spans"])

        # Re-posting the whole scenario adds no span.
        for post in (parent, child_initiated, child_completed):
            assert post_form(http, url, post).status_code == 202
        assert post_form(http, url, dial, params={"received_unix_nano": str(DIAL_END)}).status_code == 202
        settle(http, client, url, 4)
        assert len(real_spans(wait_for_journey(client, journey["journey_id"], 5))) == 5


def test_signed_posts_only_are_stored(server_factory, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f'twilio: "{TOKEN}"\n')
    server = server_factory("--platform-secrets", str(secrets))
    url = f"{server.http_base}/v1/platforms/twilio"
    abandoned = posts("abandoned.form.json")
    rejected = posts("minimal.form.json")[0]
    with httpx.Client(base_url=server.query_url, timeout=30) as client, httpx.Client(timeout=30) as http:
        unsigned = post_form(http, url, rejected)
        assert unsigned.status_code == 401 and "missing X-Twilio-Signature" in unsigned.json()["error"]
        forged = post_form(http, url, rejected, headers={"X-Twilio-Signature": twilio_signature(url, rejected, "x")})
        assert forged.status_code == 401 and TOKEN not in forged.text
        moved = post_form(http, url + "?tenant=other", rejected,
                          headers={"X-Twilio-Signature": twilio_signature(url, rejected)})  # fmt: skip
        assert moved.status_code == 401  # the signature covers the URL

        signed = post_form(http, url, abandoned[1], headers={"X-Twilio-Signature": twilio_signature(url, abandoned[1])})
        assert (signed.status_code, signed.json()) == (202, {"accepted_spans": 1, "ignored": 0})
        raw = json.dumps(body("event_streams.json")).encode()
        json_url = f"{url}?bodySHA256={hashlib.sha256(raw).hexdigest()}"
        response = http.post(json_url, content=raw, headers={
            "Content-Type": "application/json", "X-Twilio-Signature": twilio_signature(json_url)})  # fmt: skip
        assert (response.status_code, response.json()) == (202, {"accepted_spans": 2, "ignored": 1})

        span = call_span(client, ABANDONED)
        assert span["attributes"]["twilio.call.status"] == "canceled"
        assert span["attributes"]["cx.disconnect.reason"] == "customer_disconnect"
        assert span["status_code"] == "STATUS_CODE_UNSET"
        journey_of(client, "CA8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a8a")
        # Spans apply in arrival order and later posts are visible, so the rejected ones would be too.
        assert client.get("/api/journeys", params={"interaction_id": MINIMAL}).json()["journeys"] == []
        assert len(client.get("/api/journeys").json()["journeys"]) == 2  # the abandoned call; CA7 with its child CA8
