"""A journey as an OTLP ``TracesData``: the body of Tempo's trace-by-ID answers.

Grafana's Tempo data source decodes ``tempopb.Trace`` (v1) and ``tempopb.TraceByIDResponse``
(v2), both wire-compatible with OTLP ``TracesData`` (viewer-apis.md §2.4), so the message is
built with ``opentelemetry-proto`` and framed by hand for v2.
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status, TracesData

from journeytrace.query.responses import identity
from journeytrace.values import to_proto


def _set_attributes(target: Any, attributes: dict[str, Any]) -> None:
    for key, value in attributes.items():
        if value is None:
            continue
        kv = target.add()
        kv.key = key
        to_proto(value, kv.value)


def _enum(enum: Any, value: str | int) -> int:
    """The number of an enum value read as its name (``SPAN_KIND_SERVER``) or kept as a number."""
    return value if isinstance(value, int) else int(enum.Value(value))


def _fill_span(out: Span, span: dict[str, Any]) -> None:
    out.trace_id = bytes.fromhex(span["trace_id"])
    out.span_id = bytes.fromhex(span["span_id"])
    if span.get("parent_span_id"):
        out.parent_span_id = bytes.fromhex(span["parent_span_id"])
    if span.get("trace_state"):
        out.trace_state = span["trace_state"]
    out.flags = span.get("flags") or 0
    out.name = span["name"]
    out.kind = _enum(Span.SpanKind, span["kind"])  # type: ignore[assignment]
    out.start_time_unix_nano = span["start_unix_nano"]
    out.end_time_unix_nano = span["end_unix_nano"]
    _set_attributes(out.attributes, span["attributes"])
    out.dropped_attributes_count = span.get("dropped_attributes_count", 0)
    for event in span.get("events", ()):
        e = out.events.add()
        e.time_unix_nano = event.get("time_unix_nano", 0)
        e.name = event.get("name", "")
        _set_attributes(e.attributes, event.get("attributes", {}))
        e.dropped_attributes_count = event.get("dropped_attributes_count", 0)
    out.dropped_events_count = span.get("dropped_events_count", 0)
    for link in span.get("links", ()):
        ln = out.links.add()
        ln.trace_id = bytes.fromhex(link["trace_id"])
        ln.span_id = bytes.fromhex(link["span_id"])
        ln.trace_state = link.get("trace_state") or ""
        ln.flags = link.get("flags") or 0
        _set_attributes(ln.attributes, link.get("attributes", {}))
        ln.dropped_attributes_count = link.get("dropped_attributes_count", 0)
    out.dropped_links_count = span.get("dropped_links_count", 0)
    out.status.code = _enum(Status.StatusCode, span["status_code"])  # type: ignore[assignment]
    out.status.message = span.get("status_message") or ""


def traces_data(journey: dict[str, Any]) -> TracesData:
    """Every span of a journey (synthetic ones included) grouped as OTLP does it: one
    ResourceSpans per distinct resource, one ScopeSpans per scope within it, in first-seen order
    of the journey's start-ordered spans, so the same journey always gives the same bytes."""
    data = TracesData()
    resources: dict[bytes, ResourceSpans] = {}
    scopes: dict[tuple[bytes, bytes], ScopeSpans] = {}
    for span in journey["spans"]:
        resource_key = identity([span["resource_attributes"], span.get("resource_schema_url", ""),
                                 span.get("resource_dropped_attributes_count", 0)])  # fmt: skip
        rs = resources.get(resource_key)
        if rs is None:
            rs = resources[resource_key] = data.resource_spans.add()
            _set_attributes(rs.resource.attributes, span["resource_attributes"])
            rs.resource.dropped_attributes_count = span.get("resource_dropped_attributes_count", 0)
            rs.schema_url = span.get("resource_schema_url", "")
        scope = span.get("scope") or {}
        scope_key = (resource_key, identity(scope))
        ss = scopes.get(scope_key)
        if ss is None:
            ss = scopes[scope_key] = rs.scope_spans.add()
            ss.scope.name = scope.get("name", "")
            ss.scope.version = scope.get("version", "")
            _set_attributes(ss.scope.attributes, scope.get("attributes", {}))
            ss.scope.dropped_attributes_count = scope.get("dropped_attributes_count", 0)
            ss.schema_url = scope.get("schema_url", "")
        _fill_span(ss.spans.add(), span)
    return data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def v2_protobuf(data: TracesData) -> bytes:
    """A ``tempopb.TraceByIDResponse`` holding ``data`` as field 1 (complete, so no status field)."""
    body = data.SerializeToString()
    return b"\x0a" + _varint(len(body)) + body


def otlp_json(data: TracesData) -> list[dict[str, Any]]:
    """The resource spans as OTLP/JSON per the OTLP specification -- trace and span IDs as hex,
    enums as numbers, 64-bit integers as strings -- rather than Tempo's base64 IDs and enum names
    (grafana/tempo#5437): Grafana never reads this form, and the OTLP receivers read it back."""
    document = json_format.MessageToDict(data, use_integers_for_enums=True)
    resource_spans: list[dict[str, Any]] = document.get("resourceSpans", [])
    for rs in resource_spans:
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                _hex_ids(span)
                for link in span.get("links", []):
                    _hex_ids(link)
    return resource_spans


def _hex_ids(obj: dict[str, Any]) -> None:
    for key in ("traceId", "spanId", "parentSpanId"):
        if key in obj:
            obj[key] = base64.b64decode(obj[key]).hex()
