"""OTLP/JSON → ``ExportTraceServiceRequest``.

OTLP/JSON is protobuf's JSON mapping with three differences (OTLP spec, "JSON Protobuf
Encoding"): trace and span IDs are hex, not base64; enums may be integers or names; keys are
lowerCamelCase (snake_case is accepted too). Spans whose IDs are not valid hex are refused
one by one, so the rest of the request is still stored.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from journeytrace.errors import InvalidInput

_ID_FIELDS = (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"))


@dataclass(frozen=True, slots=True)
class JsonDecodeResult:
    request: ExportTraceServiceRequest
    rejected: int
    reasons: tuple[str, ...]


def _hex_ids_to_base64(obj: dict[str, Any]) -> str | None:
    """Rewrite the hex ID fields of a span or link in place; return a problem, or None."""
    for camel, snake in _ID_FIELDS:
        for key in (camel, snake):
            value = obj.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                return f"{camel} must be a hex string"
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                return f"{camel} {value[:40]!r} is not hex"
    return None


def _list(obj: dict[str, Any], camel: str, snake: str) -> list[Any]:
    value = obj.get(camel, obj.get(snake))
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{camel} must be an array")
    return value


def decode(body: bytes) -> JsonDecodeResult:
    """Parse an OTLP/JSON body. Raises ``InvalidInput`` if it is not valid JSON or not OTLP."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput("request body must be a JSON object with a resourceSpans array")
    rejected = 0
    reasons: list[str] = []
    for resource_spans in _list(document, "resourceSpans", "resource_spans"):
        if not isinstance(resource_spans, dict):
            raise InvalidInput("resourceSpans entries must be objects")
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            if not isinstance(scope_spans, dict):
                raise InvalidInput("scopeSpans entries must be objects")
            kept = []
            for span in _list(scope_spans, "spans", "spans"):
                if not isinstance(span, dict):
                    raise InvalidInput("spans entries must be objects")
                problem = _hex_ids_to_base64(span)
                for link in _list(span, "links", "links"):
                    if problem is None and isinstance(link, dict):
                        problem = _hex_ids_to_base64(link)
                if problem is None:
                    kept.append(span)
                else:
                    rejected += 1
                    if len(reasons) < 5:
                        reasons.append(f"span {span.get('name', '')!r}: {problem}")
            scope_spans["spans"] = kept
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error, ValueError, TypeError) as exc:
        raise InvalidInput(f"request body is not an OTLP ExportTraceServiceRequest: {exc}") from None
    return JsonDecodeResult(request=request, rejected=rejected, reasons=tuple(reasons))
