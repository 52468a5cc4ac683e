"""The span model: the columnar batch every stage hands to the next.

A receiver decodes one OTLP ``ExportTraceServiceRequest`` into one ``SpanBatch`` (an Arrow
table) in a single pass: the C fast path (``_native/fastdecode.c``) writes Arrow buffers
directly with the GIL released; ``decode_request`` is the pure-Python reference it must agree
with. The correlator assigns journey IDs; storage writes the table as one Arrow insert. Attributes are kept whole, as JSON, and the CX keys
that search needs are lifted into their own columns on the way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from journeytrace import semconv
from journeytrace.errors import InvalidInput
from journeytrace.values import attributes_from_proto, dumps, to_otlp_json

try:
    from journeytrace import _fastdecode  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: the Python decoder below does the same work
    _fastdecode = None

INT64_MAX = 2**63 - 1

STRIPPED_KEYS = frozenset(
    (
        semconv.CX_SPAN_TYPE, semconv.CX_PLATFORM_INTERACTION_ID, semconv.CX_QUEUE_NAME, semconv.CX_AGENT_ID,
        semconv.CX_TELEPHONY_ANI_NUMBER,
    )
)  # fmt: skip
"""Promoted attributes whose string values travel only in their column, not in the attributes
JSON: the first four to be stored once (``storage.reads`` puts them back), the customer number
so that it is hashed (``correlator.pii``) before any of it is written."""
_MAX_REASONS = 5


_S = pa.string()
BATCH_SCHEMA = pa.schema(
    [
        ("trace_id", _S), ("span_id", _S), ("parent_span_id", _S), ("trace_state", _S),
        ("flags", pa.uint32()), ("name", _S), ("kind", pa.int32()), ("service_name", _S),
        ("start_unix_nano", pa.int64()), ("end_unix_nano", pa.int64()), ("status_code", pa.int32()),
        ("status_message", _S), ("span_type", _S), ("platform", _S), ("interaction_id", _S),
        ("customer_phone", _S), ("queue", _S), ("agent", _S), ("attributes", _S),
        ("resource_attributes", _S), ("scope_name", _S), ("scope_version", _S), ("events", _S),
        ("links", _S), ("extra", _S),
    ]
)  # fmt: skip
"""Columns of a SpanBatch. ``customer_phone`` is the raw number as sent: storage keeps only its
keyed hash in a column. ``extra`` holds rarely-set OTLP fields (schema URLs, dropped counts,
scope attributes, exact forms of bytes/NaN values) as JSON, or null."""


@dataclass(slots=True)
class SpanBatch:
    """One decoded request: its spans as an Arrow table with ``BATCH_SCHEMA``."""

    tenant: str
    table: pa.Table
    journey_id: pa.Array | None = None
    """Set by the correlator; until then a span's journey is its trace."""
    customer_phone_hash: pa.Array | None = None
    """Keyed hashes of ``customer_phone``, set by the correlator, which then clears the raw column."""
    record_version: pa.Array | None = None
    """Per span, the version of a platform record (platform adapters set it): storage keeps only
    the newest version of a span ID instead of every delivery."""

    def __len__(self) -> int:
        return self.table.num_rows

    def column(self, name: str) -> list[Any]:
        return self.table.column(name).to_pylist()


@dataclass(slots=True)
class _Rows:
    """The Python decoder's column lists, in ``BATCH_SCHEMA`` order."""

    trace_id: list[str] = field(default_factory=list)
    span_id: list[str] = field(default_factory=list)
    parent_span_id: list[str | None] = field(default_factory=list)
    trace_state: list[str | None] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    service_name: list[str] = field(default_factory=list)
    start_unix_nano: list[int] = field(default_factory=list)
    end_unix_nano: list[int] = field(default_factory=list)
    status_code: list[int] = field(default_factory=list)
    status_message: list[str | None] = field(default_factory=list)
    span_type: list[str | None] = field(default_factory=list)
    platform: list[str | None] = field(default_factory=list)
    interaction_id: list[str | None] = field(default_factory=list)
    customer_phone: list[str | None] = field(default_factory=list)
    """Raw number as sent; storage replaces it with a keyed hash and never stores it in a column."""
    queue: list[str | None] = field(default_factory=list)
    agent: list[str | None] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    resource_attributes: list[str] = field(default_factory=list)
    scope_name: list[str | None] = field(default_factory=list)
    scope_version: list[str | None] = field(default_factory=list)
    events: list[str | None] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)
    extra: list[str | None] = field(default_factory=list)

    def to_table(self) -> pa.Table:
        return pa.Table.from_arrays(
            [pa.array(getattr(self, f.name), f.type) for f in BATCH_SCHEMA], schema=BATCH_SCHEMA
        )


@dataclass(frozen=True, slots=True)
class DecodeResult:
    batch: SpanBatch
    rejected: int
    message: str
    """Why spans were rejected ("" when none were)."""


def _promoted(value: Any) -> str | None:
    """The column value of a promoted attribute: a string as is, an integer in decimal, else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _exact_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: to_otlp_json(v) for k, v in attrs.items()}


def _span_problem(span: Any) -> str | None:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"trace_id must be 16 bytes and not all zero, got {len(span.trace_id)} bytes"
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"span_id must be 8 bytes and not all zero, got {len(span.span_id)} bytes"
    if len(span.parent_span_id) not in (0, 8):
        return f"parent_span_id must be empty or 8 bytes, got {len(span.parent_span_id)} bytes"
    if span.start_time_unix_nano > INT64_MAX or span.end_time_unix_nano > INT64_MAX:
        return "start/end time is beyond the year 2262 (more than 2^63-1 ns)"
    return None


def decode_request(request: ExportTraceServiceRequest, tenant: str) -> DecodeResult:
    """Decode every valid span of ``request``; invalid spans are counted and described, not kept."""
    b = _Rows()
    rejected = 0
    reasons: list[str] = []
    append_extra = b.extra.append
    for resource_spans in request.resource_spans:
        resource = resource_spans.resource
        resource_attrs = attributes_from_proto(resource.attributes)
        resource_json, resource_exact = dumps(resource_attrs)
        service = _promoted(resource_attrs.get(semconv.SERVICE_NAME)) or semconv.UNKNOWN_SERVICE
        resource_platform = _promoted(resource_attrs.get(semconv.CX_PLATFORM_NAME))
        resource_extra: dict[str, Any] = {}
        if resource_spans.schema_url:
            resource_extra["resource_schema_url"] = resource_spans.schema_url
        if resource.dropped_attributes_count:
            resource_extra["resource_dropped_attributes_count"] = resource.dropped_attributes_count
        if not resource_exact:
            resource_extra["resource_attributes_exact"] = _exact_attributes(resource_attrs)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_name = scope.name or None
            scope_version = scope.version or None
            scope_extra = dict(resource_extra)
            if scope_spans.schema_url:
                scope_extra["scope_schema_url"] = scope_spans.schema_url
            if scope.attributes:
                scope_attrs = attributes_from_proto(scope.attributes)
                scope_extra["scope_attributes"] = _exact_attributes(scope_attrs)
            if scope.dropped_attributes_count:
                scope_extra["scope_dropped_attributes_count"] = scope.dropped_attributes_count
            for span in scope_spans.spans:
                problem = _span_problem(span)
                if problem is not None:
                    rejected += 1
                    if len(reasons) < _MAX_REASONS:
                        reasons.append(f"span {span.name!r}: {problem}")
                    continue
                trace_id = span.trace_id.hex()
                b.trace_id.append(trace_id)
                b.span_id.append(span.span_id.hex())
                b.parent_span_id.append(span.parent_span_id.hex() or None)
                b.trace_state.append(span.trace_state or None)
                b.flags.append(span.flags)
                b.name.append(span.name)
                b.kind.append(span.kind)
                b.service_name.append(service)
                b.start_unix_nano.append(span.start_time_unix_nano)
                b.end_unix_nano.append(span.end_time_unix_nano)
                status = span.status
                b.status_code.append(status.code)
                b.status_message.append(status.message or None)

                attrs = attributes_from_proto(span.attributes)
                get = attrs.get
                b.span_type.append(_promoted(get(semconv.CX_SPAN_TYPE)))
                b.platform.append(_promoted(get(semconv.CX_PLATFORM_NAME, resource_platform)))
                b.interaction_id.append(_promoted(get(semconv.CX_PLATFORM_INTERACTION_ID)))
                b.customer_phone.append(_promoted(get(semconv.CX_TELEPHONY_ANI_NUMBER)))
                b.queue.append(_promoted(get(semconv.CX_QUEUE_NAME)))
                b.agent.append(_promoted(get(semconv.CX_AGENT_ID)))
                attrs_json, exact = dumps(
                    {k: v for k, v in attrs.items() if not (k in STRIPPED_KEYS and isinstance(v, str))}
                )
                b.attributes.append(attrs_json)
                b.resource_attributes.append(resource_json)
                b.scope_name.append(scope_name)
                b.scope_version.append(scope_version)

                extra = scope_extra.copy() if scope_extra else None
                if not exact:
                    extra = extra or {}
                    extra["attributes_exact"] = _exact_attributes(attrs)
                if span.events:
                    events = [
                        {
                            "time_unix_nano": e.time_unix_nano,
                            "name": e.name,
                            "attributes": attributes_from_proto(e.attributes),
                            **({"dropped_attributes_count": e.dropped_attributes_count}
                               if e.dropped_attributes_count else {}),
                        }
                        for e in span.events
                    ]
                    events_json, exact = dumps(events)
                    b.events.append(events_json)
                    if not exact:
                        extra = extra or {}
                        extra["events_exact"] = [_exact_attributes(e["attributes"]) for e in events]
                else:
                    b.events.append(None)
                if span.links:
                    links = [
                        {
                            "trace_id": link.trace_id.hex(),
                            "span_id": link.span_id.hex(),
                            "trace_state": link.trace_state,
                            "flags": link.flags,
                            "attributes": attributes_from_proto(link.attributes),
                            **({"dropped_attributes_count": link.dropped_attributes_count}
                               if link.dropped_attributes_count else {}),
                        }
                        for link in span.links
                    ]
                    links_json, exact = dumps(links)
                    b.links.append(links_json)
                    if not exact:
                        extra = extra or {}
                        extra["links_exact"] = [_exact_attributes(link["attributes"]) for link in links]
                else:
                    b.links.append(None)
                if span.dropped_attributes_count or span.dropped_events_count or span.dropped_links_count:
                    extra = extra or {}
                    extra["dropped_attributes_count"] = span.dropped_attributes_count
                    extra["dropped_events_count"] = span.dropped_events_count
                    extra["dropped_links_count"] = span.dropped_links_count
                append_extra(None if extra is None else json.dumps(extra, separators=(",", ":")))
    message = ""
    if rejected:
        message = f"rejected {rejected} invalid span(s): " + "; ".join(reasons)
        if rejected > len(reasons):
            message += f"; and {rejected - len(reasons)} more"
    return DecodeResult(batch=SpanBatch(tenant, b.to_table()), rejected=rejected, message=message)


def _fast_decode(body: bytes, tenant: str) -> SpanBatch | None:
    """The C decoder's batch, or None when the request needs the Python decoder."""
    if _fastdecode is None:
        return None
    decoded = _fastdecode.decode(body)
    if decoded is None:
        return None
    rows, buffers = decoded
    arrays = []
    for field_, parts in zip(BATCH_SCHEMA, buffers, strict=False):  # "extra" is not in the C output
        if len(parts) == 1:
            arrays.append(pa.Array.from_buffers(field_.type, rows, [None, pa.py_buffer(parts[0])]))
        else:
            validity, offsets, data, nulls = parts
            arrays.append(
                pa.Array.from_buffers(
                    field_.type, rows, [pa.py_buffer(validity), pa.py_buffer(offsets), pa.py_buffer(data)], nulls
                )
            )
    arrays.append(pa.nulls(rows, _S))
    return SpanBatch(tenant, pa.Table.from_arrays(arrays, schema=BATCH_SCHEMA))


def decode_body(body: bytes, tenant: str) -> DecodeResult:
    """Decode a serialized ``ExportTraceServiceRequest``. Raises ``InvalidInput`` if it is malformed.

    The C fast path handles the common request; anything rarer goes through ``decode_request``.
    The C path releases the GIL, so callers may run this on a worker thread.
    """
    batch = _fast_decode(body, tenant)
    if batch is not None:
        return DecodeResult(batch=batch, rejected=0, message="")
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise InvalidInput(f"body is not a valid ExportTraceServiceRequest protobuf: {exc}") from None
    return decode_request(request, tenant)
