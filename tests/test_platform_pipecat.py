"""normalize_pipecat: real OpenTelemetry SDK spans shaped like Pipecat's (tracers ``pipecat.turn`` and
``pipecat``, otel-conventions §2.1), encoded to OTLP and decoded by ``decode_body``, get our CX
conventions without losing anything; other batches pass through untouched."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from journeytrace.receivers.platforms.pipecat import normalize_pipecat
from journeytrace.spans import SpanBatch, decode_body

CONVERSATION = "6f1d2c3b-aaaa-4bbb-8ccc-000000000001"
UNCHANGED = ("trace_id", "span_id", "parent_span_id", "start_unix_nano", "end_unix_nano", "resource_attributes",
             "scope_name", "status_code", "service_name", "events", "links")  # fmt: skip
S = 1_000_000_000
T = 1764324000 * S


def record(build: Callable[[TracerProvider], None], resource: dict[str, Any] | None = None) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "voicebot", **(resource or {})}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    build(provider)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def batch_of(spans: list[ReadableSpan]) -> SpanBatch:
    decoded = decode_body(encode_spans(spans).SerializeToString(), "default")
    assert decoded.rejected == 0
    return decoded.batch


def pipecat_conversation(provider: TracerProvider, *, conversation: bool = True, extra: dict | None = None) -> None:
    """conversation → turn 1 (completed) → stt, llm, tts; turn 2 closed by the conversation end."""
    turns = provider.get_tracer("pipecat.turn")
    services = provider.get_tracer("pipecat")
    parent = None
    conv = None
    if conversation:
        conv = turns.start_span("conversation", start_time=T, attributes={
            "conversation.id": CONVERSATION, "conversation.type": "voice", **(extra or {})})  # fmt: skip
        parent = trace.set_span_in_context(conv)
    turn = turns.start_span("turn", context=parent, start_time=T + S, attributes={
        "turn.number": 1, "turn.type": "conversation", "conversation.id": CONVERSATION})  # fmt: skip
    in_turn = trace.set_span_in_context(turn)
    stt = services.start_span("stt", context=in_turn, start_time=T + S, attributes={
        "gen_ai.provider.name": "deepgram", "gen_ai.request.model": "nova-3", "gen_ai.operation.name": "stt",
        "transcript": "I want to pay my bill", "is_final": True, "metrics.ttfb": 0.215})  # fmt: skip
    stt.end(end_time=T + 2 * S)
    llm = services.start_span("llm", context=in_turn, start_time=T + 2 * S, attributes={
        "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": "chat",
        "metrics.ttfb": 0.41, "gen_ai.usage.input_tokens": 812, "gen_ai.usage.output_tokens": 35})  # fmt: skip
    llm.end(end_time=T + 3 * S)
    tts = services.start_span("tts", context=in_turn, start_time=T + 3 * S, attributes={
        "gen_ai.provider.name": "cartesia", "gen_ai.operation.name": "tts", "voice_id": "v-1",
        "metrics.ttfb": 0.1875, "tts.interrupted": False})  # fmt: skip
    tts.end(end_time=T + 4 * S)
    turn.set_attribute("turn.user_bot_latency_seconds", 0.8125)
    turn.set_attribute("turn.duration_seconds", 3.0)
    turn.set_attribute("turn.was_interrupted", False)
    turn.end(end_time=T + 4 * S)
    last = turns.start_span("turn", context=parent, start_time=T + 5 * S, attributes={
        "turn.number": 2, "turn.type": "conversation", "conversation.id": CONVERSATION})  # fmt: skip
    last.set_attribute("turn.was_interrupted", True)
    last.set_attribute("turn.ended_by_conversation_end", True)
    last.end(end_time=T + 6 * S)
    if conv is not None:
        conv.end(end_time=T + 6 * S)


def rows(batch: SpanBatch) -> dict[str, list[dict[str, Any]]]:
    """Each span's row (attributes parsed), grouped by span name in batch order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in batch.table.to_pylist():
        row["attributes"] = json.loads(row["attributes"])
        out.setdefault(row["name"], []).append(row)
    return out


def columns(row: dict[str, Any]) -> tuple:
    return row["platform"], row["interaction_id"], row["span_type"]


def test_a_batch_without_pipecat_spans_is_returned_as_is() -> None:
    def other(provider: TracerProvider) -> None:
        for name in ("conversation", "turn", "llm"):  # Pipecat's span names, but not its tracers
            provider.get_tracer("my.app").start_span(name, attributes={"conversation.id": "x"}).end()
        provider.get_tracer("pipecatalogue").start_span("stt").end()

    batch = batch_of(record(other))
    assert normalize_pipecat(batch) is batch


def test_conversation_turns_and_services_get_cx_conventions() -> None:
    before = batch_of(record(pipecat_conversation))
    after = normalize_pipecat(before)
    assert after is not before and len(after) == len(before) == 6
    got, original = rows(after), rows(before)

    (conversation,) = got["conversation"]
    assert columns(conversation) == ("pipecat", CONVERSATION, "ai_conversation")
    assert conversation["attributes"] == {
        "conversation.id": CONVERSATION, "conversation.type": "voice", "cx.platform.name": "pipecat",
        "gen_ai.conversation.id": CONVERSATION, "cx.channel": "voice",
    }  # fmt: skip

    first, second = got["turn"]
    assert columns(first) == columns(second) == ("pipecat", CONVERSATION, "turn")
    assert first["attributes"] == {
        **original["turn"][0]["attributes"], "cx.platform.name": "pipecat", "cx.turn.number": 1,
        "cx.turn.end_reason": "completed", "cx.turn.latency.e2e_ms": 812.5,
    }  # fmt: skip
    assert second["attributes"]["cx.turn.end_reason"] == "session_closed"
    assert "cx.turn.latency.e2e_ms" not in second["attributes"]

    (stt,), (llm,), (tts,) = got["stt"], got["llm"], got["tts"]
    assert columns(stt) == columns(llm) == columns(tts) == ("pipecat", CONVERSATION, None)
    assert stt["attributes"] == {**original["stt"][0]["attributes"], "cx.platform.name": "pipecat",
                                 "cx.turn.latency.stt_ms": 215.0}  # fmt: skip
    assert tts["attributes"] == {**original["tts"][0]["attributes"], "cx.platform.name": "pipecat",
                                 "cx.turn.latency.tts_ttfb_ms": 187.5}  # fmt: skip
    assert llm["attributes"] == {**original["llm"][0]["attributes"], "cx.platform.name": "pipecat"}

    # Nothing else changed: IDs, times, names, resource, scope, status.
    for name, spans in got.items():
        for new, old in zip(spans, original[name], strict=True):
            for field in UNCHANGED:
                assert new[field] == old[field], (name, field)


def test_only_pipecat_rows_change_in_a_mixed_batch() -> None:
    def mixed(provider: TracerProvider) -> None:
        pipecat_conversation(provider)
        provider.get_tracer("checkout").start_span("charge", attributes={"amount": 3}).end()

    before = batch_of(record(mixed))
    after = normalize_pipecat(before)
    (charge_before,), (charge_after,) = rows(before)["charge"], rows(after)["charge"]
    assert charge_after == charge_before
    assert columns(charge_after) == (None, None, None)


def test_service_spans_without_their_conversation_in_the_batch() -> None:
    batch = normalize_pipecat(batch_of(record(lambda p: pipecat_conversation(p, conversation=False))))
    got = rows(batch)
    # Turns carry conversation.id themselves and lend it to the services of their trace.
    assert {columns(r) for r in got["turn"]} == {("pipecat", CONVERSATION, "turn")}
    assert columns(got["llm"][0]) == ("pipecat", CONVERSATION, None)

    def services_only(provider: TracerProvider) -> None:
        provider.get_tracer("pipecat").start_span("tts", attributes={"metrics.ttfb": 0.25}).end()

    (tts,) = rows(normalize_pipecat(batch_of(record(services_only))))["tts"]
    assert columns(tts) == ("pipecat", None, None)  # joins its conversation later through the trace ID
    assert tts["attributes"] == {
        "metrics.ttfb": 0.25, "cx.platform.name": "pipecat", "cx.turn.latency.tts_ttfb_ms": 250.0}  # fmt: skip


def test_values_the_sender_set_are_kept() -> None:
    extra = {"cx.span.type": "ai_conversation", "cx.platform.interaction.id": "CA-own-id", "cx.journey.id": "jrn-1",
             "gen_ai.conversation.id": "own", "twilio.call_sid": "CA0123456789abcdef0123456789abcdef"}  # fmt: skip
    batch = normalize_pipecat(batch_of(record(lambda p: pipecat_conversation(p, extra=extra),
                                              resource={"cx.platform.name": "acme_voice"})))  # fmt: skip
    (conversation,) = rows(batch)["conversation"]
    assert columns(conversation) == ("acme_voice", "CA-own-id", "ai_conversation")
    attrs = conversation["attributes"]
    assert "cx.platform.name" not in attrs  # the resource names the platform
    assert attrs["gen_ai.conversation.id"] == "own"
    assert attrs["cx.journey.id"] == "jrn-1"
    assert (attrs["cx.peer.platform.name"], attrs["cx.peer.interaction.id"]) == (
        "twilio", "CA0123456789abcdef0123456789abcdef")
    assert columns(rows(batch)["turn"][0]) == ("acme_voice", CONVERSATION, "turn")


def test_exact_attribute_form_gets_the_additions_too() -> None:
    def with_bytes(provider: TracerProvider) -> None:
        span = provider.get_tracer("pipecat").start_span("stt", attributes={"metrics.ttfb": 0.5})
        span.set_attribute("audio.sample", b"\x00\x01")
        span.end()

    before = batch_of(record(with_bytes))
    (extra_before,) = before.column("extra")
    assert "attributes_exact" in extra_before
    (extra_after,) = normalize_pipecat(before).column("extra")
    exact = json.loads(extra_after)["attributes_exact"]
    assert exact["cx.turn.latency.stt_ms"] == {"doubleValue": 500.0}
    assert exact["cx.platform.name"] == {"stringValue": "pipecat"}
    assert exact["audio.sample"] == json.loads(extra_before)["attributes_exact"]["audio.sample"]


@pytest.mark.parametrize(("interrupted", "reason"), [(True, "interrupted"), (False, "completed")])
def test_turn_end_reason(interrupted: bool, reason: str) -> None:
    def one_turn(provider: TracerProvider) -> None:
        provider.get_tracer("pipecat.turn").start_span("turn", attributes={
            "turn.number": 4, "conversation.id": "c", "turn.was_interrupted": interrupted}).end()  # fmt: skip

    (turn,) = rows(normalize_pipecat(batch_of(record(one_turn))))["turn"]
    assert turn["attributes"]["cx.turn.end_reason"] == reason
    assert turn["attributes"]["cx.turn.number"] == 4


def test_pipecat_over_the_wire_becomes_an_ai_conversation_leg(server_factory) -> None:
    """The real OTLP/HTTP exporter sends a Pipecat bot's spans; the journey names the conversation
    as a pipecat interaction with typed spans, found by the conversation ID."""
    import httpx
    from jt_helpers import wait_for_journey, wait_until
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    server = server_factory()
    spans = record(pipecat_conversation)
    assert OTLPSpanExporter(endpoint=server.traces_url).export(spans).name == "SUCCESS"
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        found = wait_until(lambda: client.get("/api/journeys", params={"interaction_id": CONVERSATION}).json()["journeys"])
        journey = wait_for_journey(client, found[0]["journey_id"], len(spans))
        assert [leg["platform"] for leg in journey["legs"]] == ["pipecat"]
        types = {s["name"]: s["attributes"].get("cx.span.type") for s in journey["spans"] if not s.get("synthetic")}
        assert types == {"conversation": "ai_conversation", "turn": "turn", "stt": None, "llm": None, "tts": None}
