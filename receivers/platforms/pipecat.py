"""Pipecat already speaks OpenTelemetry; this adds our CX conventions to its spans on the way in.

Pipecat (``setup_tracing`` + ``PipelineTask(enable_tracing=True, conversation_id=…)``) exports a
trace per conversation: ``conversation`` → ``turn`` → ``stt`` / ``llm`` / ``tts`` (and, for
speech-to-speech services, ``llm_setup``, ``llm_request``, ``llm_response``, …). A span is
recognised as Pipecat's by its instrumentation scope: the tracers are named ``pipecat.turn``
(conversation, turn) and ``pipecat`` (services), otel-conventions §2.1. Nothing else is needed;
span names and attributes then decide what is added:

==================  ===================================================================================
span                added (never overwriting a value the sender set)
==================  ===================================================================================
every Pipecat span  ``platform`` column / ``cx.platform.name`` = ``pipecat``; ``interaction_id`` column
                    (``cx.platform.interaction.id``) = ``conversation.id``, taken from the span or, for
                    service spans (which do not carry it), from a conversation or turn span of the same
                    trace in the same batch; without one the span still joins its conversation through
                    the shared trace ID
``conversation``    ``span_type`` = ``ai_conversation``; ``gen_ai.conversation.id`` = ``conversation.id``;
                    ``cx.channel`` = ``voice`` when ``conversation.type`` is ``voice``; a
                    ``twilio.call_sid`` passed in ``additional_span_attributes`` → peer ``twilio``
``turn``            ``span_type`` = ``turn``; ``cx.turn.number`` = ``turn.number``; ``cx.turn.end_reason`` =
                    ``session_closed`` (``turn.ended_by_conversation_end``), ``interrupted``
                    (``turn.was_interrupted``) or ``completed``; ``cx.turn.latency.e2e_ms`` =
                    ``turn.user_bot_latency_seconds`` × 1000
``stt`` / ``tts``   ``cx.turn.latency.stt_ms`` / ``cx.turn.latency.tts_ttfb_ms`` = ``metrics.ttfb`` × 1000,
                    on the service span itself (its turn may have been exported in another batch)
``llm`` and others  left untyped: they are GenAI spans (``gen_ai.operation.name``), which is how the
                    conventions type AI stages
==================  ===================================================================================

Every original attribute is kept. ``normalize_pipecat`` returns a batch without Pipecat spans
unchanged (the very same object) after one vectorised look at the scope column.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from journeytrace import semconv
from journeytrace.spans import SpanBatch
from journeytrace.values import dumps, to_otlp_json

PLATFORM = "pipecat"
SCOPES = ("pipecat", "pipecat.turn")
"""Tracer names Pipecat creates its spans with; any ``pipecat.*`` scope counts."""

CONVERSATION_ID = "conversation.id"
_SPAN_TYPES = {"conversation": "ai_conversation", "turn": "turn"}
_TTFB_ATTRIBUTE = {"stt": semconv.CX_TURN_LATENCY_STT_MS, "tts": semconv.CX_TURN_LATENCY_TTS_TTFB_MS}


def _is_pipecat_scope(scope: str | None) -> bool:
    return scope is not None and (scope in SCOPES or scope.startswith("pipecat."))


def _ms(seconds: Any) -> float | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return round(seconds * 1000.0, 3)


def _additions(name: str, attrs: dict[str, Any], platform_missing: bool) -> dict[str, Any]:
    """The attributes our conventions add to one Pipecat span (absent keys only)."""
    add: dict[str, Any] = {}
    if platform_missing:
        add[semconv.CX_PLATFORM_NAME] = PLATFORM
    if name == "conversation":
        add[semconv.GEN_AI_CONVERSATION_ID] = attrs.get(CONVERSATION_ID)
        if attrs.get("conversation.type") == "voice":
            add[semconv.CX_CHANNEL] = "voice"
        call_sid = attrs.get("twilio.call_sid")
        if isinstance(call_sid, str) and call_sid and semconv.CX_PEER_INTERACTION_ID not in attrs:
            add[semconv.CX_PEER_PLATFORM_NAME] = "twilio"
            add[semconv.CX_PEER_INTERACTION_ID] = call_sid
    elif name == "turn":
        number = attrs.get("turn.number")
        add[semconv.CX_TURN_NUMBER] = number if isinstance(number, int) and not isinstance(number, bool) else None
        if attrs.get("turn.ended_by_conversation_end") is True:
            add[semconv.CX_TURN_END_REASON] = "session_closed"
        elif "turn.was_interrupted" in attrs:
            add[semconv.CX_TURN_END_REASON] = "interrupted" if attrs["turn.was_interrupted"] is True else "completed"
        add[semconv.CX_TURN_LATENCY_E2E_MS] = _ms(attrs.get("turn.user_bot_latency_seconds"))
    elif name in _TTFB_ATTRIBUTE:
        add[_TTFB_ATTRIBUTE[name]] = _ms(attrs.get("metrics.ttfb"))
    return {k: v for k, v in add.items() if v is not None and k not in attrs}


def normalize_pipecat(batch: SpanBatch) -> SpanBatch:
    """``batch`` with CX conventions added to Pipecat's spans; the same object if it has none."""
    table = batch.table
    scopes = table.column("scope_name")
    if scopes.null_count == len(table):
        return batch
    candidates = pc.fill_null(pc.starts_with(scopes, "pipecat"), False)
    if not pc.any(candidates).as_py():
        return batch
    scope_list = scopes.to_pylist()
    rows = [i for i in pc.indices_nonzero(candidates).to_pylist() if _is_pipecat_scope(scope_list[i])]
    if not rows:
        return batch

    names = table.column("name").to_pylist()
    trace_ids = table.column("trace_id").to_pylist()
    attributes = table.column("attributes").to_pylist()
    extra = table.column("extra").to_pylist()
    span_types = table.column("span_type").to_pylist()
    platforms = table.column("platform").to_pylist()
    interactions = table.column("interaction_id").to_pylist()

    parsed = {i: json.loads(attributes[i]) for i in rows}
    conversation_of: dict[str, str] = {}
    for i in rows:
        conversation = parsed[i].get(CONVERSATION_ID)
        if isinstance(conversation, str) and conversation and names[i] in _SPAN_TYPES:
            conversation_of.setdefault(trace_ids[i], conversation)

    for i in rows:
        attrs = parsed[i]
        add = _additions(names[i], attrs, platforms[i] is None)
        if platforms[i] is None:
            platforms[i] = PLATFORM
        if interactions[i] is None:
            own = attrs.get(CONVERSATION_ID)
            interactions[i] = own if isinstance(own, str) and own else conversation_of.get(trace_ids[i])
        if span_types[i] is None:
            span_types[i] = _SPAN_TYPES.get(names[i])
        if not add:
            continue
        attributes[i] = dumps({**attrs, **add})[0]
        if extra[i] and '"attributes_exact"' in extra[i]:
            fields = json.loads(extra[i])
            fields["attributes_exact"].update({k: to_otlp_json(v) for k, v in add.items()})
            extra[i] = json.dumps(fields, separators=(",", ":"))

    columns = {
        "attributes": pa.array(attributes, pa.string()),
        "extra": pa.array(extra, pa.string()),
        "span_type": pa.array(span_types, pa.string()),
        "platform": pa.array(platforms, pa.string()),
        "interaction_id": pa.array(interactions, pa.string()),
    }
    table = pa.Table.from_arrays(
        [columns.get(name, table.column(name)) for name in table.schema.names], schema=table.schema
    )
    return replace(batch, table=table)
