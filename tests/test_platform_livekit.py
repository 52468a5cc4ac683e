"""LiveKit webhooks: exact spans per fixture, bad payloads, the JWT signature, and the endpoint end to end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from jt_helpers import real_spans, simple_request, wait_for_journey
from journeytrace.receivers.platforms.adapters.livekit import ADAPTER, verify
from journeytrace.receivers.platforms.model import BadPayload, SpanDraft

FIXTURES = Path(__file__).parent / "fixtures" / "platforms" / "livekit"
S = 1_000_000_000
T = 1764324000 * S
API_KEY, API_SECRET = "APIkey123", "s3cret-for-tests"
SECRET = f"{API_KEY}:{API_SECRET}"


def fixture(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def shape(span: SpanDraft) -> tuple:
    return (span.interaction_id, span.key, span.name, span.span_type, span.start_unix_nano, span.end_unix_nano,
            span.parent_key, span.kind, span.status, span.record_version)  # fmt: skip


SIP_NORMAL = {
    "livekit.participant.sid": "PA_sip1",
    "livekit.participant.kind": "SIP",
    "sip.call_id": "a84b4c76e66710@pbx.example.com",
    "livekit.sip.call_id": "SCL_4fQnormal",
    "livekit.sip.call_status": "active",
    "cx.telephony.trunk.id": "ST_trunk1",
    "cx.telephony.ani.number": "+14155550100",
    "cx.telephony.dnis.number": "+14155550133",
    "cx.channel": "voice",
    "cx.peer.platform.name": "twilio",
    "cx.peer.interaction.id": "CA0123456789abcdef0123456789abcdef",
    "cx.journey.id": "jrn-livekit-1",
}


# --- parse: exact spans -------------------------------------------------------------------------


def test_normal_call_gives_room_and_participant_sessions() -> None:
    parsed = ADAPTER.parse(fixture("normal_call"), {})
    assert parsed.ignored == 1  # track_published
    assert [shape(s) for s in parsed.spans] == [
        ("RM_normal1", "room", "ai_conversation livekit", "ai_conversation", T, T, None, "internal", "unset", T),
        ("RM_normal1", "participant:PA_sip1", "telephony livekit", "telephony", T + S, T + S, "room", "server",
         "unset", T + S),
        ("RM_normal1", "participant:PA_agent1", "ai_conversation livekit", "ai_conversation", T + 2 * S, T + 2 * S,
         "room", "internal", "unset", T + 2 * S),
        ("RM_normal1", "participant:PA_sip1", "telephony livekit", "telephony", T + S, T + 95 * S, "room", "server",
         "unset", T + 95 * S + 1),
        ("RM_normal1", "participant:PA_agent1", "ai_conversation livekit", "ai_conversation", T + 2 * S, T + 96 * S,
         "room", "internal", "unset", T + 96 * S + 1),
        ("RM_normal1", "room", "ai_conversation livekit", "ai_conversation", T, T + 97 * S, None, "internal", "unset",
         T + 97 * S + 1),
    ]  # fmt: skip
    joined_sip, left_sip, left_agent = parsed.spans[1], parsed.spans[3], parsed.spans[4]
    assert joined_sip.attributes == SIP_NORMAL  # other sip.h.* headers and the room name are not kept
    assert left_sip.attributes == {
        **SIP_NORMAL, "livekit.participant.disconnect_reason": "CLIENT_INITIATED",
        "cx.disconnect.reason": "customer_disconnect"}  # fmt: skip
    assert left_agent.attributes == {
        "livekit.participant.sid": "PA_agent1", "livekit.participant.kind": "AGENT", "gen_ai.agent.id": "agent-AJ_x1",
        "gen_ai.agent.name": "support-agent", "livekit.participant.disconnect_reason": "CLIENT_INITIATED",
        "cx.disconnect.reason": "ai_disconnect"}  # fmt: skip
    assert parsed.spans[0].attributes == {"cx.channel": "voice"}
    assert all(s.platform == "livekit" and s.service_name == "livekit" for s in parsed.spans)


def test_abandoned_call_is_an_outcome_not_an_error_and_carries_connect_peer_and_uui() -> None:
    parsed = ADAPTER.parse(fixture("abandoned"), {})
    t = T + 1000 * S
    assert parsed.ignored == 0
    assert [shape(s) for s in parsed.spans] == [
        ("RM_abandon1", "room", "ai_conversation livekit", "ai_conversation", t, t, None, "internal", "unset", t),
        ("RM_abandon1", "participant:PA_sip2", "telephony livekit", "telephony", t, t, "room", "server", "unset", t),
        ("RM_abandon1", "participant:PA_sip2", "telephony livekit", "telephony", t, t + 4 * S, "room", "server",
         "unset", t + 4 * S + 1),
        ("RM_abandon1", "room", "ai_conversation livekit", "ai_conversation", t, t + 5 * S, None, "internal", "unset",
         t + 5 * S + 1),
    ]  # fmt: skip
    left = parsed.spans[2].attributes
    assert left["cx.peer.platform.name"] == "amazon_connect"
    assert left["cx.peer.interaction.id"] == "3f1c2b7a-0000-4000-8000-00000000c0de"
    assert left["cx.telephony.uui"] == "04a1b2c3"  # header parameters dropped
    assert left["cx.disconnect.reason"] == "customer_disconnect"
    assert "error.type" not in left


def test_failures_are_errors_with_an_error_type() -> None:
    parsed = ADAPTER.parse(fixture("failure"), {})
    t = T + 2000 * S
    assert parsed.ignored == 1  # egress_started
    trunk, aborted = parsed.spans[2], parsed.spans[3]
    assert shape(trunk) == ("RM_fail1", "participant:PA_sip3", "telephony livekit", "telephony", t + S, t + 7 * S,
                            "room", "server", "error", t + 7 * S + 1)  # fmt: skip
    assert trunk.status_message == "participant disconnected: SIP_TRUNK_FAILURE"
    assert trunk.attributes["error.type"] == "sip_trunk_failure"
    assert trunk.attributes["cx.disconnect.reason"] == "telecom_problem"
    assert "cx.telephony.dnis.number" not in trunk.attributes
    assert shape(aborted) == ("RM_fail1", "participant:PA_web3", "ai_conversation livekit", "ai_conversation",
                              t + 8 * S, t + 8 * S, "room", "internal", "error", t + 8 * S + 1)  # fmt: skip
    assert aborted.attributes == {
        "livekit.participant.sid": "PA_web3", "livekit.participant.kind": "STANDARD",
        "cx.disconnect.reason": "telecom_problem", "error.type": "connection_aborted"}  # fmt: skip


def test_optional_fields_missing_snake_case_and_room_name_as_interaction() -> None:
    parsed = ADAPTER.parse(fixture("minimal"), {})
    t = T + 3000 * S
    assert [shape(s) for s in parsed.spans] == [
        ("bare-room", "participant:PA_min", "ai_conversation livekit", "ai_conversation", t, t, "room", "internal",
         "unset", t),
        ("bare-room", "participant:PA_min", "ai_conversation livekit", "ai_conversation", t + 2 * S, t + 30 * S,
         "room", "internal", "unset", t + 30 * S + 1),
        ("bare-room", "room", "ai_conversation livekit", "ai_conversation", t + 31 * S, t + 31 * S, None, "internal",
         "unset", t + 31 * S + 1),
    ]  # fmt: skip
    assert parsed.spans[1].attributes == {"livekit.participant.sid": "PA_min", "livekit.participant.kind": "STANDARD"}


def test_numeric_kind_and_millisecond_times() -> None:
    event = {"event": "participant_joined", "createdAt": "1764324001", "room": {"sid": "RM_n"},
             "participant": {"sid": "PA_n", "kind": 3, "joinedAtMs": "1764324000500"}}  # fmt: skip
    (span,) = ADAPTER.parse(event, {}).spans
    assert (span.span_type, span.start_unix_nano) == ("telephony", T + S // 2)


# --- bad payloads --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"room": {"sid": "RM_1"}, "createdAt": "1"}, "'event'"),
        ({"event": "room_started", "createdAt": "1764324000"}, "'room.sid'"),
        ({"event": "room_started", "room": {"sid": "RM_1"}}, "'createdAt'"),
        ({"event": "participant_joined", "createdAt": "1764324000", "room": {"sid": "RM_1"}}, "'participant'"),
        ({"event": "participant_left", "createdAt": "1764324000", "room": {"sid": "RM_1"}, "participant": {}},
         "'sid'"),
        ({"event": "room_started", "createdAt": "soon", "room": {"sid": "RM_1"}}, "createdAt"),
        (["not an object"], "must be a JSON object"),
    ],
)  # fmt: skip
def test_bad_payloads_name_the_field(payload: Any, field: str) -> None:
    with pytest.raises(BadPayload, match=field):
        ADAPTER.parse(payload, {})


def test_one_bad_event_rejects_the_whole_batch() -> None:
    events = fixture("normal_call") + [{"event": "room_finished", "room": {"sid": "RM_x"}}]
    with pytest.raises(BadPayload, match="createdAt"):
        ADAPTER.parse(events, {})


# --- signature -----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(body: bytes, *, key: str = API_KEY, secret: str = API_SECRET, **claims: Any) -> str:
    """A LiveKit webhook token: HS256 JWT over {iss, sha256(body), exp, nbf}."""
    now = int(time.time())
    body_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    payload = {"iss": key, "nbf": now - 5, "exp": now + 600, "sha256": body_hash, **claims}
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64url(json.dumps(payload).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


BODY = b'{"event":"room_started","createdAt":"1764324000","room":{"sid":"RM_1"}}'


def test_signature_right() -> None:
    assert verify({"Authorization": sign(BODY)}, BODY, "http://x/v1/platforms/livekit", SECRET) is None
    assert verify({"authorization": "Bearer " + sign(BODY)}, BODY, "", SECRET) is None


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing Authorization"),
        ({"Authorization": "not-a-jwt"}, "not a JWT"),
        ({"Authorization": sign(BODY, secret="other-secret")}, "signature does not match"),
        ({"Authorization": sign(BODY, key="OtherKey")}, "issuer"),
        ({"Authorization": sign(BODY + b" ")}, "body hash"),
        ({"Authorization": sign(BODY, exp=int(time.time()) - 3600)}, "expired"),
        ({"Authorization": sign(BODY, nbf=int(time.time()) + 3600)}, "not valid yet"),
    ],
)  # fmt: skip
def test_signature_wrong_or_missing(headers: dict[str, str], reason: str) -> None:
    problem = verify(headers, BODY, "", SECRET)
    assert problem is not None and reason in problem
    assert API_SECRET not in problem


def test_signature_rejects_other_algorithms_and_a_malformed_secret() -> None:
    token = sign(BODY)
    _, payload, signature = token.split(".")
    none_alg = f"{_b64url(json.dumps({'alg': 'none'}).encode())}.{payload}.{signature}"
    assert "HS256" in (verify({"Authorization": none_alg}, BODY, "", SECRET) or "")
    assert "api-key:api-secret" in (verify({"Authorization": token}, BODY, "", "no-colon") or "")


# --- end to end ----------------------------------------------------------------------------------


def post_events(http: httpx.Client, base: str, events: list[dict[str, Any]], *, signed: bool = True) -> list[dict]:
    answers = []
    for event in events:
        body = json.dumps(event).encode()
        headers = {"content-type": "application/webhook+json"}
        if signed:
            headers["Authorization"] = sign(body)
        response = http.post(f"{base}/v1/platforms/livekit", content=body, headers=headers)
        assert response.status_code == 202, response.text
        answers.append(response.json())
    return answers


def test_end_to_end_signed_webhooks_link_to_the_twilio_leg(server_factory, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f'livekit: "{SECRET}"\n')
    server = server_factory("--platform-secrets", str(secrets))
    events = fixture("normal_call")
    with httpx.Client(timeout=30) as http, httpx.Client(base_url=server.query_url, timeout=30) as client:
        # Unsigned and wrongly signed requests are refused before anything is stored.
        body = json.dumps(events[0]).encode()
        assert http.post(f"{server.http_base}/v1/platforms/livekit", content=body,
                         headers={"content-type": "application/json"}).status_code == 401  # fmt: skip
        assert http.post(f"{server.http_base}/v1/platforms/livekit", content=body,
                         headers={"content-type": "application/json",
                                  "Authorization": sign(body, secret="wrong")}).status_code == 401  # fmt: skip

        # The Twilio leg that carried the call into LiveKit (its CallSid is sip.twilio.callSid).
        twilio_leg = {"cx.platform.name": "twilio", "cx.platform.interaction.id": "CA0123456789abcdef0123456789abcdef"}
        twilio = simple_request(b"\x11" * 16, 1, service="twilio", name="telephony twilio", start=T - 5 * S,
                                attributes=twilio_leg)
        assert http.post(server.traces_url, content=twilio.SerializeToString(),
                         headers={"content-type": "application/x-protobuf"}).status_code == 200  # fmt: skip

        # Closing events first: the opening ones that arrive later must not replace them.
        order = [events[6], events[4], events[5], events[0], events[1], events[2], events[3]]
        answers = post_events(http, server.http_base, order)
        assert [a["accepted_spans"] for a in answers] == [1, 1, 1, 1, 1, 1, 0]
        assert answers[-1]["ignored"] == 1

        # Acknowledged events are committed a moment later, one request's perhaps before another's:
        # wait for the journey whole, then look it up by the room's ID.
        expected_id = hashlib.sha256(b"cx-journey:jrn-livekit-1").hexdigest()[:32]
        journey = wait_for_journey(client, expected_id, 4)
        (summary,) = client.get("/api/journeys", params={"interaction_id": "RM_normal1"}).json()["journeys"]
        assert summary["journey_id"] == expected_id
        assert [leg["platform"] for leg in journey["legs"]] == ["twilio", "livekit"]
        assert {c["method"] for c in journey["correlation"]} >= {"foreign_id"}
        livekit = {s["attributes"].get("livekit.participant.sid", "room"): s
                   for s in real_spans(journey) if s["attributes"].get("cx.platform.name") == "livekit"}  # fmt: skip
        assert sorted(livekit) == ["PA_agent1", "PA_sip1", "room"]
        assert (livekit["room"]["start_unix_nano"], livekit["room"]["end_unix_nano"]) == (T, T + 97 * S)
        assert livekit["PA_sip1"]["end_unix_nano"] == T + 95 * S
        assert livekit["PA_sip1"]["attributes"]["cx.span.type"] == "telephony"
        assert livekit["PA_sip1"]["attributes"]["cx.platform.interaction.id"] == "RM_normal1"
        assert "cx.telephony.ani.number" not in livekit["PA_sip1"]["attributes"]  # hashed before storage
        assert livekit["PA_sip1"]["attributes"]["cx.telephony.ani.hash"]
        assert livekit["PA_agent1"]["end_unix_nano"] == T + 96 * S

        # A re-delivery (all of it, as JSON lines) adds no span.
        lines = "\n".join(json.dumps(e) for e in events).encode()
        headers = {"content-type": "application/x-ndjson", "Authorization": sign(lines)}
        response = http.post(f"{server.http_base}/v1/platforms/livekit", content=lines, headers=headers)
        assert response.status_code == 202 and response.json() == {"accepted_spans": 6, "ignored": 1}
        time.sleep(1.5)
        again = wait_for_journey(client, expected_id, 4)
        assert len(real_spans(again)) == len(real_spans(journey)) == 4
        room = next(s for s in real_spans(again) if s["name"] == "ai_conversation livekit"
                    and "livekit.participant.sid" not in s["attributes"])  # fmt: skip
        assert room["end_unix_nano"] == T + 97 * S
