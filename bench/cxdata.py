"""Realistic contact-center spans for benchmarks: one journey = 20 spans, ~10 attributes each.

A journey is an inbound call through Amazon Connect (telephony, IVR, queue), an AI voice agent
with turns (LLM/STT/TTS), a handoff, and a human agent. Trace IDs start with ``MARKER`` so a
sender can give every copy of a serialized request fresh journeys with ``fresh_copy``; platform
IDs (contact IDs, SIP Call-IDs) carry ``TEXT_MARKER`` for the same reason, or every copy would
correlate with every other.
"""

from __future__ import annotations

import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

MARKER = b"\xab" * 12  # first 12 bytes of every template trace ID
TEXT_MARKER = "JTMARKERJTMARKERJTMARKER"  # in every platform ID: 24 characters, the hex of 12 bytes


def fresh_copy(template: bytes, n: int) -> bytes:
    """A serialized template request with new trace and platform IDs (same length, so still valid)."""
    prefix = b"\x01" + n.to_bytes(11, "big")
    return template.replace(MARKER, prefix).replace(TEXT_MARKER.encode(), prefix.hex().encode())
SPANS_PER_JOURNEY = 20

_PLATFORMS = [("amazon-connect", "amazon_connect"), ("vapi", "vapi"), ("genesys-cloud", "genesys_cloud")]
_QUEUES = ["Billing", "Support", "Sales", "Retention", "Tech"]
_SHAPE = (
    ["telephony", "ivr", "ivr"]
    + ["ai_conversation"] + ["turn"] * 10
    + ["handoff", "queue", "agent_interaction", "telephony", "ivr", "agent_interaction"]
)  # fmt: skip
assert len(_SHAPE) == SPANS_PER_JOURNEY


def _attr(span: Span, key: str, value: object) -> None:
    kv = span.attributes.add()
    kv.key = key
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = str(value)


def build_request(journeys: int, rng: random.Random, start_ns: int) -> ExportTraceServiceRequest:
    """One OTLP request holding ``journeys`` whole journeys, grouped by platform resource."""
    request = ExportTraceServiceRequest()
    scopes = {}
    for service, platform in _PLATFORMS:
        rs = request.resource_spans.add()
        for key, value in (("service.name", service), ("cx.platform.name", platform),
                           ("deployment.environment.name", "prod")):
            kv = rs.resource.attributes.add()
            kv.key, kv.value.string_value = key, value
        ss = rs.scope_spans.add()
        ss.scope.name = "journeytrace.bench"
        scopes[service] = (ss, platform)
    for j in range(journeys):
        trace_id = MARKER + j.to_bytes(4, "big")
        contact_id = f"{TEXT_MARKER}-{j:04d}-{rng.getrandbits(32):08x}"
        phone = f"+1415555{rng.randrange(10000):04d}"
        queue = rng.choice(_QUEUES)
        t = start_ns + rng.randrange(10**9)
        root_id = None
        for i, kind in enumerate(_SHAPE):
            service = "vapi" if kind in ("ai_conversation", "turn", "handoff") else (
                "amazon-connect" if i < 16 else "genesys-cloud")
            ss, platform = scopes[service]
            span = ss.spans.add()
            span.trace_id = trace_id
            span.span_id = rng.getrandbits(64).to_bytes(8, "big")
            if root_id is None:
                root_id = span.span_id
            else:
                span.parent_span_id = root_id
            span.name = f"{kind} {platform}"
            span.kind = Span.SPAN_KIND_SERVER if kind == "telephony" else Span.SPAN_KIND_INTERNAL
            duration = rng.randrange(200_000_000, 30_000_000_000)
            span.start_time_unix_nano = t
            span.end_time_unix_nano = t + duration
            t += duration // 3
            _attr(span, "cx.span.type", kind)
            _attr(span, "cx.platform.interaction.id", contact_id)
            _attr(span, "cx.channel", "voice")
            _attr(span, "cx.leg.number", 1 if i < 14 else 2)
            if kind == "telephony":
                _attr(span, "cx.telephony.ani.number", phone)
                _attr(span, "cx.direction", "inbound")
                _attr(span, "sip.call_id", f"{TEXT_MARKER}-{j:04d}-{i:02d}@sip.example.com")
                _attr(span, "cx.audio.mos", round(rng.uniform(3.0, 4.5), 2))
                _attr(span, "cx.audio.jitter_ms", round(rng.uniform(1, 40), 1))
                _attr(span, "cx.audio.packet_loss_pct", round(rng.uniform(0, 2), 2))
            elif kind == "turn":
                _attr(span, "cx.turn.number", i - 3)
                _attr(span, "cx.turn.latency.e2e_ms", rng.randrange(400, 2500))
                _attr(span, "gen_ai.request.model", "gpt-4o-mini")
                _attr(span, "gen_ai.usage.input_tokens", rng.randrange(50, 900))
                _attr(span, "gen_ai.usage.output_tokens", rng.randrange(10, 200))
                _attr(span, "cx.turn.end_reason", "completed")
            else:
                _attr(span, "cx.queue.name", queue)
                _attr(span, "cx.agent.id", f"agent-{rng.randrange(500)}")
                _attr(span, "cx.ivr.flow.name", "Main Inbound")
                _attr(span, "cx.initiation_method", "inbound")
                _attr(span, "cx.ai.intent.name", rng.choice(["billing", "outage", "cancel"]))
                _attr(span, "cx.disconnect.reason", "customer_disconnect")
    return request
