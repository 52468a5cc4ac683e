"""Send one small contact-center journey to a local journeytrace and print where to see it.

    make run                              # in one terminal
    .venv/bin/python examples/send_spans.py
"""

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create({"service.name": "acme-voicebot", "cx.platform.name": "vapi"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint="localhost:4317", insecure=True)))
tracer = provider.get_tracer("examples.send_spans")

with tracer.start_as_current_span(
    "ai_conversation vapi",
    kind=trace.SpanKind.SERVER,
    attributes={"cx.span.type": "ai_conversation", "cx.platform.interaction.id": "call-123", "cx.channel": "voice"},
) as conversation:
    with tracer.start_as_current_span("turn", attributes={"cx.turn.number": 1, "cx.turn.latency.e2e_ms": 820}):
        pass
    with tracer.start_as_current_span(
        "handoff ai->queue",
        kind=trace.SpanKind.PRODUCER,
        attributes={"cx.span.type": "handoff", "cx.handoff.reason": "customer_request"},
    ):
        pass

provider.shutdown()
trace_id = format(conversation.get_span_context().trace_id, "032x")
print(f"sent; see it at http://localhost:16686/api/journeys/{trace_id} (searchable within a second)")
