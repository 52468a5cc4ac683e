"""Journey summaries: the deterministic one over real and built journeys, and the LLM one against
a real OpenAI-compatible HTTP server running in a thread (what it is sent, caching, fallback).
"""

from __future__ import annotations

import copy
import json
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from journeytrace import semconv
from journeytrace.correlator.analysis import llm, summary
from journeytrace.correlator.analysis.model import Insight

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "journeys").glob("*.json"))
S = 1_000_000_000
T0 = 1_800_000_000 * S

# Raw PII put into built journeys: none of it may appear in a summary or leave in a request.
CUSTOMER = "+14155550123"
TRANSFER_TARGET = "+18005550199"
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
ACCOUNT = "12345678"
AGENT_NAME = "Jane Doe"
PII = (CUSTOMER, "4155550123", "555-0123", "555 0123", TRANSFER_TARGET, "8005550199", EMAIL, CARD,
       "4111111111111111", ACCOUNT, AGENT_NAME)  # fmt: skip
PHONE_LIKE = re.compile(r"\+?\d(?:[\s().-]{0,2}\d){6,}")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=\.)\s+(?=[A-Z])", text)


# --- a small journey builder: the read API's shape, as tests need it ----------------------------


class Builder:
    """Builds a journey dict as ``GET /api/journeys/{id}`` returns it (times in seconds from T0)."""

    def __init__(self, journey_id: str = "a" * 32) -> None:
        self.journey_id = journey_id
        self.spans: list[dict[str, Any]] = []
        self.legs: list[dict[str, Any]] = []
        self._ids = iter(f"{n:016x}" for n in range(1, 10_000))
        self.root = self.span("journey", 0, 0, {semconv.CX_SPAN_TYPE: "journey"}, parent=None)

    def span(self, name: str, start: float, end: float, attributes: dict[str, Any], *, parent: str | None = "root",
             status: str = "STATUS_CODE_UNSET", message: str = "") -> str:  # fmt: skip
        span_id = next(self._ids)
        parent_id = self.root if parent == "root" else parent
        self.spans.append({
            "trace_id": self.journey_id, "span_id": span_id, "parent_span_id": parent_id, "name": name,
            "kind": "SPAN_KIND_INTERNAL", "service_name": "svc", "start_unix_nano": T0 + int(start * S),
            "end_unix_nano": T0 + int(end * S), "status_code": status, "status_message": message,
            "attributes": attributes, "resource_attributes": {}, "events": [], "links": [],
        })  # fmt: skip
        return span_id

    def leg(self, platform: str, start: float, end: float, span_type: str = "telephony", **attributes: Any) -> str:
        """A new leg: its root span (with ``cx.leg.number``) and its entry in ``legs``."""
        number = len(self.legs) + 1
        interaction = f"{platform}-{number}"
        self.legs.append({"leg": number, "platform": platform, "interaction_ids": [interaction],
                          "start_unix_nano": T0 + int(start * S), "end_unix_nano": T0 + int(end * S)})  # fmt: skip
        return self.span(f"{span_type} {platform}", start, end, {
            semconv.CX_SPAN_TYPE: span_type, semconv.CX_PLATFORM_NAME: platform,
            semconv.CX_PLATFORM_INTERACTION_ID: interaction, semconv.CX_LEG_NUMBER: number, **attributes})  # fmt: skip

    def child(self, parent: str, span_type: str, platform: str, start: float, end: float, **kwargs: Any) -> str:
        attributes = {semconv.CX_SPAN_TYPE: span_type, semconv.CX_PLATFORM_NAME: platform,
                      **kwargs.pop("attributes", {})}  # fmt: skip
        return self.span(f"{span_type} {platform}", start, end, attributes, parent=parent, **kwargs)

    def inferred_handoff(self, source: str, target: str, at: float, latency_ms: int) -> None:
        self.span(f"handoff {source}->{target}", at, at + latency_ms / 1000, {
            semconv.CX_SPAN_TYPE: "handoff", semconv.CX_HANDOFF_FROM_PLATFORM: source,
            semconv.CX_HANDOFF_TO_PLATFORM: target, semconv.CX_HANDOFF_LATENCY_MS: latency_ms,
            semconv.CX_HANDOFF_SYNTHETIC: True})  # fmt: skip

    def build(self, outcome: str | None, status: str = "complete") -> dict[str, Any]:
        start = min(s["start_unix_nano"] for s in self.spans[1:])
        end = max(s["end_unix_nano"] for s in self.spans[1:])
        self.spans[0].update(start_unix_nano=start, end_unix_nano=end)
        platforms = [leg["platform"] for leg in self.legs]
        return {
            "journey_id": self.journey_id, "start_unix_nano": start, "end_unix_nano": end,
            "duration_nano": end - start, "status": status, "leg_count": len(self.legs),
            "platforms": [p for i, p in enumerate(platforms) if i == 0 or platforms[i - 1] != p],
            "services": [], "interaction_count": len(self.legs), "customer_phone_hash": "5d38af7772a00ff70255a16987",
            "outcome": outcome, "updated_unix_nano": end, "legs": self.legs, "correlation": [],
            "spans": self.spans,
        }  # fmt: skip


def ai_to_human(*, outcome: str | None = "resolved", texts: bool = True) -> dict[str, Any]:
    """Vapi AI (intent billing) → warm transfer → Amazon Connect queue → agent; raw PII everywhere."""
    b = Builder()
    ai = b.leg("vapi", 0, 60, "ai_conversation", **{
        semconv.CX_AI_INTENT_NAME: "billing", semconv.CX_AI_TURN_COUNT: 3, semconv.CX_AI_OUTCOME: "handoff",
        semconv.CX_TELEPHONY_ANI_NUMBER: CUSTOMER, semconv.CX_CHANNEL: "voice"})  # fmt: skip
    said = [f"Hi, my number is {CUSTOMER}, email {EMAIL}", f"My card is {CARD} and account {ACCOUNT}",
            "I want a person please " + "really " * 80]  # fmt: skip
    for n, text in enumerate(said, 1):
        extra = {semconv.CX_TURN_INPUT_TEXT: text, semconv.CX_TURN_OUTPUT_TEXT: "Let me help."} if texts else {}
        b.child(ai, "turn", "vapi", n * 15, n * 15 + 10, attributes={semconv.CX_TURN_NUMBER: n, **extra})
    b.child(ai, "handoff", "vapi", 60, 60, attributes={
        semconv.CX_HANDOFF_FROM_TYPE: "ai", semconv.CX_HANDOFF_TO_TYPE: "human", semconv.CX_HANDOFF_MODE: "warm",
        semconv.CX_HANDOFF_FROM_PLATFORM: "vapi", semconv.CX_TRANSFER_TARGET: TRANSFER_TARGET})  # fmt: skip
    call = b.leg("amazon_connect", 62, 500, **{semconv.CX_TELEPHONY_ANI_NUMBER: CUSTOMER,
                                               "aws.connect.attributes.account": ACCOUNT})  # fmt: skip
    b.child(call, "queue", "amazon_connect", 62, 152,
            attributes={semconv.CX_QUEUE_NAME: "Billing", semconv.CX_QUEUE_EXIT_REASON: "answered"})  # fmt: skip
    b.child(call, "agent_interaction", "amazon_connect", 152, 452, attributes={
        semconv.CX_AGENT_NAME: AGENT_NAME, semconv.CX_AGENT_ID: "u-1", semconv.CX_AGENT_HOLD_COUNT: 1,
        semconv.CX_AGENT_HOLD_DURATION_MS: 30_000})  # fmt: skip
    return b.build(outcome)


def dropped_call() -> dict[str, Any]:
    """Amazon Connect IVR (menu main > billing) → PolyAI, which drops on a telecom problem."""
    b = Builder("b" * 32)
    call = b.leg("amazon_connect", 0, 20)
    b.child(call, "ivr", "amazon_connect", 0, 20,
            attributes={semconv.CX_IVR_MENU_PATH: ["main", "billing"], semconv.CX_IVR_OUTCOME: "handoff"})  # fmt: skip
    b.inferred_handoff("amazon_connect", "polyai", 20, 1500)
    b.leg("polyai", 21.5, 80, "ai_conversation", **{semconv.CX_DISCONNECT_REASON: "telecom_problem"})
    return b.build("dropped")


def abandoned_in_queue() -> dict[str, Any]:
    """One Amazon Connect leg: the Main IVR flow, then 400 s in the Sales queue until the customer hangs up."""
    b = Builder("c" * 32)
    call = b.leg("amazon_connect", 0, 420)
    b.child(call, "ivr", "amazon_connect", 0, 20, attributes={semconv.CX_IVR_FLOW_NAME: "Main IVR"})
    b.child(call, "queue", "amazon_connect", 20, 420,
            attributes={semconv.CX_QUEUE_NAME: "Sales", semconv.CX_QUEUE_EXIT_REASON: "abandoned"})  # fmt: skip
    return b.build("abandoned")


def insight(rule: str, severity: str, explanation: str, span_id: str = "0000000000000001") -> Insight:
    return Insight(rule=rule, category="technical", severity=severity, span_id=span_id, explanation=explanation)  # type: ignore[arg-type]


# --- the deterministic summary over the 40 real journeys ----------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem[:8])
def test_fixture_summaries(path: Path) -> None:
    journey = load(path)
    written = summary.summarize(journey)
    assert written.source == "facts" and written.model is None
    assert written.text and 2 <= len(sentences(written.text)) <= 4, written.text
    assert written.outcome == journey["outcome"]
    assert written.platforms == tuple(journey["platforms"])
    assert written.key_events and all(event for event in written.key_events)
    # The legs' platforms, in order.
    position = 0
    for leg in journey["legs"]:
        found = written.text.find(summary.platform_label(leg["platform"]), position)
        assert found >= 0, (leg["platform"], written.text)
        position = found + 1
    endings = {"resolved": "Outcome: resolved", "dropped": "Outcome: call dropped", "abandoned": "Outcome: abandoned",
               None: "Outcome: not known yet"}  # fmt: skip
    assert written.text[written.text.index("Outcome: "):].startswith(endings[journey["outcome"]])
    # No phone numbers, and nothing raw from the attributes (numbers, hashes, IDs).
    for text in (written.text, *written.key_events):
        assert not PHONE_LIKE.search(text), text
    raw = {v for s in journey["spans"] for k, v in s["attributes"].items()
           if isinstance(v, str) and len(v) > 8 and (k.endswith((".number", ".hash", ".id", ".target")))}  # fmt: skip
    assert raw and not any(v in written.text for v in raw)
    assert summary.summarize(copy.deepcopy(journey)) == written


def test_fixture_intents_come_from_the_ai() -> None:
    journey = load(next(p for p in FIXTURES if p.stem.startswith("3ffb0a70")))  # Genesys → PolyAI (card_lost) → Genesys
    written = summary.summarize(journey)
    assert written.intent == "card_lost"
    assert written.text.startswith("The customer called about card lost.")
    assert "Genesys Cloud (IVR) → PolyAI (AI agent) → Genesys Cloud (IVR, queue, agent)" in written.text
    assert "PolyAI → Genesys Cloud (AI → human, 4.0 s)" in written.text
    assert "Call dropped on Genesys Cloud (telecom problem)" in written.key_events


def test_summary_does_not_depend_on_span_order() -> None:
    for path in FIXTURES[:10]:
        journey = load(path)
        shuffled = copy.deepcopy(journey)
        random.Random(7).shuffle(shuffled["spans"])
        assert summary.summarize(shuffled) == summary.summarize(journey)
        assert summary.fingerprint(shuffled) == summary.fingerprint(journey)


# --- the deterministic summary over built journeys -------------------------------------------------


def test_ai_to_human_handoff() -> None:
    written = summary.summarize(ai_to_human())
    assert written.intent == "billing"
    assert written.outcome == "resolved"
    text = written.text
    assert text.startswith("The customer called about billing.")
    assert "It went Vapi (AI agent) → Amazon Connect (queue, agent) over 8 min 20 s" in text
    assert "handoff Vapi → Amazon Connect (AI → human, warm, 2.0 s)" in text
    assert "Waited 1 min 30 s in the Billing queue (answered)" in text
    assert "Agent on Amazon Connect talked 5 min" in text
    assert "Put on hold 1 time, 30 s in all" in text
    assert text.endswith("Outcome: resolved.")
    assert written.key_events == (
        "AI agent on Vapi: 3 turns in 1 min",
        "Handoff Vapi → Amazon Connect (AI → human, warm, 2.0 s)",
        "Waited 1 min 30 s in the Billing queue (answered)",
        "Agent on Amazon Connect talked 5 min",
        "Put on hold 1 time, 30 s in all",
    )
    for secret in (*PII, "Jane", "my number", "really"):
        assert secret not in text and not any(secret in e for e in written.key_events), secret


def test_dropped_call() -> None:
    written = summary.summarize(dropped_call())
    assert written.intent == "billing"
    assert written.text.startswith("The customer called and chose main > billing in the IVR menu.")
    assert "Amazon Connect (IVR) → PolyAI (AI agent)" in written.text
    assert "handoff Amazon Connect → PolyAI (IVR → AI, 1.5 s)" in written.text
    assert "Call dropped on PolyAI (telecom problem)." in written.text
    assert written.text.endswith("Outcome: call dropped.")
    assert written.key_events[-1] == "Call dropped on PolyAI (telecom problem)"


def test_abandoned_in_queue() -> None:
    written = summary.summarize(abandoned_in_queue())
    assert written.intent == "Main IVR"
    assert written.text == (
        "The customer called through the Main IVR flow. It stayed on Amazon Connect (IVR, queue) for 7 min. "
        "Waited 6 min 40 s in the Sales queue (customer hung up). Outcome: abandoned by the customer."
    )
    assert written.key_events == ("Waited 6 min 40 s in the Sales queue (customer hung up)",)


def test_unknown_reason_and_no_outcome_yet() -> None:
    b = Builder()
    b.leg("twilio", 0, 30)
    journey = b.build(None, status="in_progress")
    written = summary.summarize(journey)
    assert written.intent is None
    assert written.text == (
        "The customer called for an unknown reason. It stayed on Twilio for 30 s. Outcome: not known yet."
    )
    assert summary.summarize({**journey, "status": "complete"}).text.endswith("Outcome: not reported.")


def test_failed_and_dangling_transfers() -> None:
    b = Builder()
    ai = b.leg("vapi", 0, 60, "ai_conversation", **{semconv.CX_AI_INTENT_NAME: "refund"})
    b.child(ai, "handoff", "vapi", 30, 31, status="STATUS_CODE_ERROR", message=f"dial {TRANSFER_TARGET} failed",
            attributes={semconv.CX_HANDOFF_FROM_TYPE: "ai", semconv.CX_HANDOFF_TO_TYPE: "human"})  # fmt: skip
    b.child(ai, "handoff", "vapi", 55, 55,
            attributes={semconv.CX_HANDOFF_FROM_TYPE: "ai", semconv.CX_HANDOFF_TO_TYPE: "queue"})  # fmt: skip
    b.leg("twilio", 31, 34, **{semconv.SIP_RESPONSE_STATUS_CODE: 503})
    written = summary.summarize(b.build("abandoned"))
    events = written.key_events
    assert "Transfer from Vapi (AI → human) failed" in events  # the status message holds a number: left out
    assert "Call on Twilio failed (SIP 503)" in events
    assert "Transfer from Vapi (AI → queue) did not reach another leg" not in events  # leg 2 followed it
    assert not any(TRANSFER_TARGET in e or "8005550199" in e for e in events)

    b = Builder()
    ai = b.leg("vapi", 0, 60, "ai_conversation")
    b.child(ai, "handoff", "vapi", 55, 55,
            attributes={semconv.CX_HANDOFF_FROM_TYPE: "ai", semconv.CX_HANDOFF_TO_TYPE: "human"})  # fmt: skip
    written = summary.summarize(b.build(None))
    assert "Transfer from Vapi (AI → human) did not reach another leg" in written.text


def test_insights_in_summary() -> None:
    journey = ai_to_human()
    handoff = next(s["span_id"] for s in journey["spans"] if s["name"] == "handoff vapi")
    queue = next(s["span_id"] for s in journey["spans"] if s["name"] == "queue amazon_connect")
    found = (
        insight("long_queue_wait", "warning", "Waited 90 s in queue Billing (threshold 60 s)", queue),
        insight("repeat_caller", "info", "Same customer called 2 h ago"),
        insight("slow_handoff", "critical", f"Handoff to {CUSTOMER} took 2000 ms (threshold 1000 ms)", handoff),
    )
    written = summary.summarize(journey, found)
    assert written.text.endswith(
        "Outcome: resolved; flagged: Handoff to [phone] took 2000 ms (threshold 1000 ms) (critical); "
        "Waited 90 s in queue Billing (threshold 60 s) (warning)."
    )
    assert "Same customer" not in written.text  # info insights are key events only
    events = written.key_events
    # In time order: the journey root's insight at its start, the others at their spans'.
    order = [events.index(e) for e in ("Info: Same customer called 2 h ago",
                                       "Critical: Handoff to [phone] took 2000 ms (threshold 1000 ms)",
                                       "Warning: Waited 90 s in queue Billing (threshold 60 s)")]  # fmt: skip
    assert order == sorted(order)
    assert len(sentences(written.text)) == 4


def test_labels_that_look_like_data_are_left_out() -> None:
    b = Builder()
    call = b.leg("amazon_connect", 0, 100)
    b.child(call, "queue", "amazon_connect", 0, 100, attributes={semconv.CX_QUEUE_NAME: f"callback {CUSTOMER}"})
    written = summary.summarize(b.build(None))
    assert written.intent is None and "Waited 1 min 40 s in a queue" in written.text
    assert "4155550123" not in written.text


def test_many_events_are_cut_short_in_the_text() -> None:
    b = Builder()
    call = b.leg("amazon_connect", 0, 1000)
    for n in range(8):
        b.child(call, "queue", "amazon_connect", n * 100, n * 100 + 50, attributes={semconv.CX_QUEUE_NAME: f"Q{n}"})
    written = summary.summarize(b.build("resolved"))
    assert len(written.key_events) == 8
    assert "Q4 queue; 3 more." in written.text and "Q5" not in written.text


# --- fingerprint ------------------------------------------------------------------------------------


def test_fingerprint_is_stable() -> None:
    journey = ai_to_human()
    found = (insight("slow_handoff", "warning", "slow"),)
    first = summary.fingerprint(journey, found)
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert summary.fingerprint(copy.deepcopy(journey), list(found)) == first
    # Times, updates and explanations that do not change what a summary says.
    later = copy.deepcopy(journey)
    later["updated_unix_nano"] += 5 * S
    later["spans"][-1]["end_unix_nano"] += S
    assert summary.fingerprint(later, (replace(found[0], explanation="slower", value=3.0),)) == first
    # AI turns count by order of magnitude: 3 -> 4 turns changes it, 4 -> 5 does not.
    more = copy.deepcopy(journey)
    more["spans"].append({**copy.deepcopy(more["spans"][2]), "span_id": "ffffffffffffffff"})
    assert summary.fingerprint(more, found) != first
    most = copy.deepcopy(more)
    most["spans"].append({**copy.deepcopy(most["spans"][2]), "span_id": "eeeeeeeeeeeeeeee"})
    assert summary.fingerprint(most, found) == summary.fingerprint(more, found)


def test_fingerprint_changes_with_material_changes() -> None:
    journey = ai_to_human()
    found = (insight("slow_handoff", "warning", "slow"),)
    base = summary.fingerprint(journey, found)

    def changed(**updates: Any) -> dict[str, Any]:
        return {**copy.deepcopy(journey), **updates}

    late_record = copy.deepcopy(journey)  # a contact record arriving late adds its spans
    late_record["spans"].append({**copy.deepcopy(journey["spans"][-2]), "span_id": "dddddddddddddddd"})
    new_leg = copy.deepcopy(journey)
    new_leg["legs"].append({"leg": 3, "platform": "genesys_cloud", "interaction_ids": ["g"],
                            "start_unix_nano": T0 + 600 * S, "end_unix_nano": T0 + 700 * S})  # fmt: skip
    other_intent = copy.deepcopy(journey)
    other_intent["spans"][1]["attributes"][semconv.CX_AI_INTENT_NAME] = "refund"
    error = copy.deepcopy(journey)
    error["spans"][-1]["status_code"] = "STATUS_CODE_ERROR"
    variants = {
        "outcome": (changed(outcome="dropped"), found),
        "status": (changed(status="in_progress"), found),
        "journey": (changed(journey_id="f" * 32), found),
        "late record": (late_record, found),
        "new leg": (new_leg, found),
        "intent": (other_intent, found),
        "error": (error, found),
        "new insight": (journey, (*found, insight("long_queue_wait", "warning", "long"))),
        "severity": (journey, (replace(found[0], severity="critical"),)),
        "no insight": (journey, ()),
    }
    prints = {name: summary.fingerprint(j, i) for name, (j, i) in variants.items()}
    assert base not in prints.values(), prints
    assert len(set(prints.values())) == len(prints)


# --- redaction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("call +14155550123 now", "call [phone] now"),
    ("call +1 (415) 555-0123 now", "call [phone] now"),
    ("+44 20 7946 0958", "[phone]"),
    ("(415) 555-0123", "[phone]"),
    ("415.555.0123", "[phone]"),
    ("020 7946 0958", "[phone]"),
    ("4155550123", "[phone]"),
    ("write to jane.doe+cx@mail.example.co.uk today", "write to [email] today"),
    ("card 4111 1111 1111 1111 exp 12/27", "card [number] exp 12/27"),
    ("card 4111-1111-1111-1111", "card [number]"),
    ("card 4111111111111111", "card [number]"),
    ("account 12345678", "account [number]"),
    ("reference 1234567890123456789012", "reference [number]"),
    ("postcode 94107, flat 12, 3 bags, 10:30, $1,250.00", "postcode 94107, flat 12, 3 bags, 10:30, $1,250.00"),
    ("trace 5b8aa5a2d2c872e8321cf37308d69df2 span a6bee5d05aade8c2",) * 2,
    ("waited 3 min 24 s, MOS 3.1", "waited 3 min 24 s, MOS 3.1"),
])  # fmt: skip
def test_redact(text: str, expected: str) -> None:
    assert llm.redact(text) == expected
    assert llm.redact(expected) == expected


# --- the LLM summarizer against a real HTTP server -------------------------------------------------

REPLY = "The customer wanted billing help; the AI handed over to an agent and it was resolved."
KEY = "sk-test-0123456789-secret"


class ModelServer(ThreadingHTTPServer):
    """An OpenAI-compatible chat-completions endpoint that records what it is asked."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.mode = "ok"
        self.reply = REPLY
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def do_POST(self) -> None:  # http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "raw": body,
                                     "json": json.loads(body)})  # fmt: skip
        mode = self.server.mode
        if mode == "slow":
            time.sleep(1.5)
        if mode == "error":
            self._send(500, b'{"error": {"message": "overloaded"}}')
        elif mode == "garbage":
            self._send(200, b"<html>not a completion")
        elif mode == "wrong shape":
            self._send(200, b'{"choices": []}')
        else:
            content = "" if mode == "empty" else self.server.reply
            answer = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                   "finish_reason": "stop"}]}  # fmt: skip
            self._send(200, json.dumps(answer).encode())

    def _send(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def model() -> Iterator[ModelServer]:
    server = ModelServer()
    server.thread.start()
    yield server
    server.shutdown()
    server.server_close()


def summarizer(base_url: str, **overrides: Any) -> llm.LlmSummarizer:
    settings: dict[str, Any] = {"model": "test-model", "api_key": KEY, "failure_backoff_seconds": 0, **overrides}
    return llm.LlmSummarizer(llm.LlmConfig(base_url=base_url, **settings))


def test_llm_request_and_answer(model: ModelServer) -> None:
    journey = ai_to_human()
    fallback = summary.summarize(journey)
    client = summarizer(model.base_url, max_text_chars=60)
    try:
        written = client.summarize(journey, (insight("slow_handoff", "warning", f"call {CUSTOMER} slow"),), fallback)
    finally:
        client.close()
    assert written == replace(fallback, text=REPLY, source="llm", model="test-model")
    (request,) = model.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    body = request["json"]
    assert body["model"] == "test-model"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    raw = request["raw"].decode()
    for secret in PII:
        assert secret not in raw, secret
        assert json.dumps(secret)[1:-1] not in raw, secret
    facts = json.loads(body["messages"][1]["content"])
    assert facts["journey"]["outcome"] == "resolved"
    assert facts["journey"]["platforms"] == ["vapi", "amazon_connect"]
    assert facts["rules_summary"]["intent"] == "billing"
    assert facts["issues"][0]["explanation"] == "call [phone] slow"
    turns = [s for s in facts["spans"] if s["type"] == "turn"]
    said = [t["attributes"][semconv.CX_TURN_INPUT_TEXT] for t in turns]
    assert said[0] == "Hi, my number is [phone], email [email]"  # the turn texts go, redacted
    assert said[1] == "My card is [number] and account [number]"
    assert len(said[2]) == 60 and said[2].endswith("…")  # and cut short
    handoff = next(s for s in facts["spans"] if s["type"] == "handoff")
    assert handoff["attributes"][semconv.CX_HANDOFF_TO_TYPE] == "human"
    assert semconv.CX_TRANSFER_TARGET not in handoff["attributes"]
    assert all(semconv.CX_TELEPHONY_ANI_NUMBER not in s.get("attributes", {}) for s in facts["spans"])


def test_llm_without_key_sends_no_authorization(model: ModelServer) -> None:
    client = llm.LlmSummarizer(llm.LlmConfig(base_url=model.base_url + "/", model="m"))
    try:
        journey = abandoned_in_queue()
        assert client.summarize(journey, (), summary.summarize(journey)).source == "llm"
    finally:
        client.close()
    assert model.requests[0]["path"] == "/v1/chat/completions"
    assert "Authorization" not in model.requests[0]["headers"]


def test_llm_answers_are_redacted_and_unwrapped(model: ModelServer) -> None:
    model.reply = f"<think>the number is {CUSTOMER}</think>\n  Customer {CUSTOMER} ({EMAIL}) was helped.  "
    client = summarizer(model.base_url)
    try:
        journey = ai_to_human()
        written = client.summarize(journey, (), summary.summarize(journey))
    finally:
        client.close()
    assert written.text == "Customer [phone] ([email]) was helped."


def test_llm_cache_and_refresh(model: ModelServer) -> None:
    journey = ai_to_human()
    client = summarizer(model.base_url)
    try:
        first = client.summarize(journey, (), summary.summarize(journey))
        again = client.summarize(copy.deepcopy(journey), (), summary.summarize(journey))
        assert first == again and first.source == "llm"
        assert len(model.requests) == 1  # same material state: no second call

        model.reply = "Now it dropped."
        dropped = {**journey, "outcome": "dropped"}
        written = client.summarize(dropped, (), summary.summarize(dropped))
        assert len(model.requests) == 2 and written.text == "Now it dropped."
        assert written.outcome == "dropped"

        flagged = (insight("slow_handoff", "critical", "slow"),)
        client.summarize(dropped, flagged, summary.summarize(dropped, flagged))
        assert len(model.requests) == 3
    finally:
        client.close()


def test_llm_cache_is_bounded(model: ModelServer) -> None:
    client = summarizer(model.base_url, cache_size=1)
    try:
        first, second = ai_to_human(), abandoned_in_queue()
        for journey in (first, second, first):
            client.summarize(journey, (), summary.summarize(journey))
    finally:
        client.close()
    assert len(model.requests) == 3


@pytest.mark.parametrize("mode", ["error", "garbage", "wrong shape", "empty", "slow"])
def test_llm_failures_fall_back(model: ModelServer, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    model.mode = mode
    journey = ai_to_human()
    fallback = summary.summarize(journey)
    client = summarizer(model.base_url, timeout_seconds=0.3)
    try:
        with caplog.at_level("WARNING", logger=llm.__name__):
            assert client.summarize(journey, (), fallback) is fallback
    finally:
        client.close()
    assert len(model.requests) == 1
    (record,) = [r for r in caplog.records if r.name == llm.__name__]
    message = record.getMessage()
    assert journey["journey_id"] in message
    for secret in (KEY, *PII, "billing", "overloaded", "not a completion"):
        assert secret not in message, secret


def test_llm_connection_refused_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    journey = dropped_call()
    fallback = summary.summarize(journey)
    client = summarizer(f"http://127.0.0.1:{port}/v1")
    try:
        with caplog.at_level("WARNING", logger=llm.__name__):
            assert client.summarize(journey, (), fallback) is fallback
    finally:
        client.close()
    assert "cannot reach the endpoint" in caplog.text and KEY not in caplog.text


def test_llm_backs_off_after_a_failure(model: ModelServer) -> None:
    journey = ai_to_human()
    fallback = summary.summarize(journey)
    model.mode = "error"
    client = summarizer(model.base_url, failure_backoff_seconds=60)
    try:
        assert client.summarize(journey, (), fallback) is fallback
        model.mode = "ok"
        assert client.summarize(journey, (), fallback) is fallback  # still backing off: not asked
        assert len(model.requests) == 1
    finally:
        client.close()
    client = summarizer(model.base_url)  # no back-off: the next journey asks again
    try:
        model.mode = "error"
        client.summarize(journey, (), fallback)
        model.mode = "ok"
        assert client.summarize(journey, (), fallback).source == "llm"
        assert len(model.requests) == 3
    finally:
        client.close()


def test_prompt_leaves_out_turns_first() -> None:
    journey = ai_to_human()
    messages = llm.prompt_for(journey, (), summary.summarize(journey), max_spans=5)
    facts = json.loads(messages[1]["content"])
    assert [s["type"] for s in facts["spans"]] == ["journey", "ai_conversation", "handoff", "telephony", "queue"]
    assert facts["spans_left_out"] == len(journey["spans"]) - 5
    assert facts["spans"][1]["start_s"] == 0.0 and facts["spans"][1]["duration_s"] == 60.0


def test_config_hides_the_key() -> None:
    config = llm.LlmConfig(base_url="http://x/v1", model="m", api_key=KEY)
    assert KEY not in repr(config) and KEY not in str(config)

