"""``POST /v1/platforms/{platform}``: a platform's native payload in, its spans stored.

Answers 202 ``{"accepted_spans": n, "ignored": k}`` once the spans are durable (the same
guarantee as OTLP), 400 naming what is wrong with a body, 401 for a missing or wrong signature
when a secret is configured, 404 listing the platforms for an unknown name, 415 for a content
type the platform never sends. A payload is stored whole or not at all.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Mapping

import pyarrow as pa
from fastapi import FastAPI, Request, Response

from journeytrace import semconv
from journeytrace.errors import InvalidInput, Overloaded, PayloadTooLarge, PipelineError
from journeytrace.pipeline import SpanConsumer
from journeytrace.receivers.otlp_http import read_body, request_media_type  # one body reader for both
from journeytrace.receivers.platforms import payloads
from journeytrace.receivers.platforms.model import to_request
from journeytrace.receivers.platforms.registry import CSV, Adapter
from journeytrace.spans import decode_body

PATH = "/v1/platforms/{platform}"


def _json_error(status: int, message: str, **extra: object) -> Response:
    return Response(json.dumps({"error": message, **extra}), status_code=status, media_type="application/json")


def _record_versions(batch_attributes: list[str]) -> pa.Array:
    versions = []
    for text in batch_attributes:
        value = json.loads(text).get(semconv.CX_RECORD_VERSION) if text else None
        versions.append(int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else None)
    return pa.array(versions, pa.int64())


def parse_native(adapter: Adapter, body: bytes, media_type: str) -> object:
    """The body as the adapter's ``parse`` takes it."""
    if media_type == CSV:
        try:
            text = io.StringIO(body.decode("utf-8-sig"))
            return list(csv.reader(text)) if adapter.csv_rows_as_lists else list(csv.DictReader(text))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InvalidInput(f"body is not a UTF-8 CSV file: {exc}") from None
    return payloads.parse_body(body, media_type)


async def ingest(
    adapter: Adapter, native: object, options: Mapping[str, str], consumer: SpanConsumer, tenant: str
) -> tuple[int, int]:
    """Translate one native payload and store its spans; ``(accepted spans, ignored items)``."""
    parsed = adapter.parse(native, options)
    if not parsed.spans:
        return 0, parsed.ignored
    body = to_request(parsed.spans).SerializeToString()
    decoded = await asyncio.to_thread(decode_body, body, tenant)
    if decoded.rejected:
        raise InvalidInput(f"{adapter.name} payload produced invalid spans: {decoded.message}")
    batch = decoded.batch
    batch.record_version = _record_versions(batch.column("attributes"))
    await consumer.consume(batch)
    return len(batch), parsed.ignored


def add_routes(
    app: FastAPI,
    consumer: SpanConsumer,
    *,
    known: Mapping[str, Adapter],
    tenant: str,
    max_request_bytes: int,
    secrets: Mapping[str, str],
    public_url: str | None = None,
) -> None:
    @app.post(PATH, status_code=202)
    async def platform_events(platform: str, request: Request) -> Response:
        adapter = known.get(platform)
        if adapter is None:
            return _json_error(404, f"unknown platform {platform[:40]!r}", platforms=sorted(known))
        media_type = request_media_type(request) or "application/json"
        if media_type not in adapter.content_types:
            return _json_error(
                415, f"{platform} payloads are {' or '.join(adapter.content_types)}, not {media_type!r}"
            )
        try:
            consumer.check_capacity()
            body = await read_body(request, max_request_bytes)
            secret = secrets.get(platform)
            if secret is not None:
                if adapter.verify is None:
                    return _json_error(500, f"a secret is configured for {platform}, which does not sign requests")
                url = str(request.url) if public_url is None else public_url.rstrip("/") + request.url.path
                if request.url.query and public_url is not None:
                    url += "?" + request.url.query
                problem = adapter.verify(request.headers, body, url, secret)
                if problem is not None:
                    return _json_error(401, f"{platform} signature check failed: {problem}")
            native = parse_native(adapter, body, media_type)
            options = dict(request.query_params)
            # Some callbacks carry no time of their own (Twilio <Dial> actions): they happened now.
            options.setdefault("received_unix_nano", str(time.time_ns()))
            accepted, ignored = await ingest(adapter, native, options, consumer, tenant)
        except PayloadTooLarge as error:
            return _json_error(413, str(error))
        except InvalidInput as error:
            return _json_error(400, str(error))
        except PipelineError as error:
            retry_after = error.retry_after if isinstance(error, Overloaded) else 1
            headers = {"Retry-After": str(max(1, round(retry_after)))}
            return Response(json.dumps({"error": str(error)}), status_code=503, media_type="application/json",
                            headers=headers)  # fmt: skip
        return Response(
            json.dumps({"accepted_spans": accepted, "ignored": ignored}), status_code=202, media_type="application/json"
        )
