"""OTLP/gRPC receiver: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

The method is registered with raw-bytes requests so that oversized and malformed messages get
an INVALID_ARGUMENT naming the problem, instead of gRPC's generic deserialization error.
gzip (``grpc-encoding: gzip``) is handled by gRPC itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo

from journeytrace.errors import InvalidInput, Overloaded, PipelineError
from journeytrace.pipeline import SpanConsumer
from journeytrace.receivers.otlp import export
from journeytrace.spans import decode_body

log = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
GRPC_HARD_LIMIT_FACTOR = 16


@dataclass(frozen=True, kw_only=True, slots=True)
class GrpcReceiverConfig:
    host: str
    port: int
    tenant: str
    max_request_bytes: int


def _status(error: PipelineError) -> tuple[grpc.StatusCode, tuple[tuple[str, bytes], ...]]:
    """The gRPC status for a pipeline error; retryable ones carry RetryInfo, as OTLP asks."""
    if isinstance(error, InvalidInput):
        return grpc.StatusCode.INVALID_ARGUMENT, ()
    delay = error.retry_after if isinstance(error, Overloaded) else 1.0
    retry = RetryInfo(retry_delay=Duration(seconds=int(delay), nanos=int((delay % 1) * 1e9)))
    metadata = (("google.rpc.retryinfo-bin", retry.SerializeToString()),)
    if isinstance(error, Overloaded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, metadata
    return grpc.StatusCode.UNAVAILABLE, metadata


class OtlpGrpcReceiver:
    """Serves TraceService/Export on ``config.port`` until ``stop()``."""

    def __init__(self, config: GrpcReceiverConfig, consumer: SpanConsumer) -> None:
        self.config = config
        self._consumer = consumer
        self._server: grpc.aio.Server | None = None

    async def _export(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            self._consumer.check_capacity()
            if len(body) > self.config.max_request_bytes:
                raise InvalidInput(
                    f"request is {len(body)} bytes; the limit is {self.config.max_request_bytes} bytes"
                )
            # The C decoder releases the GIL: decoding on a worker thread overlaps other requests.
            decoded = await asyncio.to_thread(decode_body, body, self.config.tenant)
            result = await export(decoded, self._consumer)
        except PipelineError as error:
            code, metadata = _status(error)
            if metadata:
                context.set_trailing_metadata(metadata)
            await context.abort(code, str(error))
        return result.to_response().SerializeToString()

    async def start(self) -> None:
        # gRPC's own limit sits far above ours so that we, not gRPC, explain an oversized request
        # (INVALID_ARGUMENT, which exporters do not retry); it still bounds the memory one message
        # can take, and past it gRPC answers RESOURCE_EXHAUSTED itself.
        limit = min(GRPC_HARD_LIMIT_FACTOR * self.config.max_request_bytes, 2**31 - 1)
        server = grpc.aio.server(
            options=[("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 0)]
        )
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {"Export": grpc.unary_unary_rpc_method_handler(self._export)},
        )
        server.add_generic_rpc_handlers((handler,))
        address = f"{self.config.host}:{self.config.port}"
        if server.add_insecure_port(address) == 0:
            raise OSError(f"cannot listen for OTLP/gRPC on {address}")
        await server.start()
        self._server = server
        log.info("OTLP/gRPC receiver listening on %s", address)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let in-flight exports finish (up to ``grace`` seconds). Safe to call twice."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
