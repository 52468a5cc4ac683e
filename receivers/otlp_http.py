"""OTLP/HTTP receiver: ``POST /v1/traces`` with protobuf or JSON bodies, optionally gzipped.

Status codes follow the OTLP/HTTP spec: 200 with ``partial_success`` for refused spans, 400
for bad data, 413 for oversized bodies, 415 for unknown content types, 503 + ``Retry-After``
when the queue is full (retryable). Error bodies are a ``google.rpc.Status`` in the request's
encoding.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from google.protobuf import json_format
from google.rpc.status_pb2 import Status

from journeytrace.errors import InvalidInput, Overloaded, PayloadTooLarge, PipelineError, retry_after_header
from journeytrace.pipeline import SpanConsumer
from journeytrace.receivers import otlp_json
from journeytrace.receivers.otlp import ExportResult, export
from journeytrace.spans import decode_body, decode_request

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACES_PATH = "/v1/traces"


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpReceiverConfig:
    tenant: str
    max_request_bytes: int


def request_media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _gunzip(body: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"body is not valid gzip: {exc}") from None
    if len(data) > limit:
        raise PayloadTooLarge(f"decompressed body is over the limit of {limit} bytes")
    if not decompressor.eof:
        raise InvalidInput("body is not valid gzip: the stream is truncated")
    return data


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        return _gunzip(body, limit)
    if encoding not in ("identity", ""):
        raise InvalidInput(f"content-encoding {encoding!r} is not supported; use gzip or none")
    return body


def _encode(message: Status | object, media_type: str) -> bytes:
    if media_type == JSON:
        return json_format.MessageToJson(message, indent=None).encode()  # type: ignore[arg-type]
    return message.SerializeToString()  # type: ignore[attr-defined]


def _error_response(error: PipelineError, media_type: str) -> Response:
    if isinstance(error, PayloadTooLarge):
        status, code = 413, 3
    elif isinstance(error, InvalidInput):
        status, code = 400, 3
    else:
        status, code = 503, 14
    headers = {}
    if isinstance(error, Overloaded):
        headers["Retry-After"] = retry_after_header(error)
    elif status == 503:
        headers["Retry-After"] = "1"
    body = _encode(Status(code=code, message=str(error)), media_type)
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def create_app(config: HttpReceiverConfig, consumer: SpanConsumer) -> FastAPI:
    app = FastAPI(title="journeytrace OTLP/HTTP receiver", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(TRACES_PATH)
    async def traces(request: Request) -> Response:
        media_type = request_media_type(request)
        if media_type not in (PROTOBUF, JSON):
            message = (
                f"content-type {media_type or '(none)'!r} is not supported; "
                f"send {PROTOBUF} or {JSON}"
            )
            return Response(
                json.dumps({"code": 3, "message": message}), status_code=415, media_type=JSON
            )
        try:
            consumer.check_capacity()
            body = await read_body(request, config.max_request_bytes)
            if media_type == JSON:
                decoded = otlp_json.decode(body)
                result: ExportResult = await export(
                    decode_request(decoded.request, config.tenant), consumer,
                    rejected=decoded.rejected, reasons=decoded.reasons,
                )  # fmt: skip
            else:
                decoded_body = await asyncio.to_thread(decode_body, body, config.tenant)
                result = await export(decoded_body, consumer)
        except PipelineError as error:
            return _error_response(error, media_type)
        return Response(_encode(result.to_response(), media_type), media_type=media_type)

    return app
