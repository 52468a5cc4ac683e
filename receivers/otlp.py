"""The one place OTLP trace requests enter the pipeline; both transports call ``export``."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from journeytrace.pipeline import SpanConsumer
from journeytrace.receivers.platforms.pipecat import normalize_pipecat
from journeytrace.spans import DecodeResult


@dataclass(frozen=True, slots=True)
class ExportResult:
    accepted: int
    rejected: int
    message: str

    def to_response(self) -> ExportTraceServiceResponse:
        """The OTLP response; ``partial_success`` is set only when spans were refused."""
        response = ExportTraceServiceResponse()
        if self.rejected or self.message:
            response.partial_success.rejected_spans = self.rejected
            response.partial_success.error_message = self.message
        return response


async def export(
    result: DecodeResult,
    consumer: SpanConsumer,
    *,
    rejected: int = 0,
    reasons: tuple[str, ...] = (),
) -> ExportResult:
    """Hand a decoded request's valid spans to ``consumer``; return once they are durable.

    Pipecat's spans are already OpenTelemetry; they get our CX conventions here, on the way in.

    ``rejected``/``reasons`` carry spans a transport already refused before decoding (OTLP JSON
    with bad hex IDs), so the response counts them too.
    """
    await consumer.consume(normalize_pipecat(result.batch))
    messages = [*reasons, result.message] if result.message else list(reasons)
    return ExportResult(
        accepted=len(result.batch),
        rejected=rejected + result.rejected,
        message="; ".join(messages),
    )
