"""End to end: spans sent with the real OpenTelemetry SDK exporters (and hand-built requests)
come back field for field from ``GET /api/journeys/{id}``; ``GET /api/journeys`` lists and filters.
"""

from __future__ import annotations

import base64
import json
import math
import re
import random
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from journeytrace.spans import _fastdecode
from jt_helpers import (
    JSON,
    grpc_export,
    http_export,
    real_spans,
    root_span_id,
    user_attributes,
    new_span_id,
    new_trace_id,
    otlp_json,
    set_attr,
    simple_request,
    wait_for_journey,
)

# --- spans made by the real SDK -------------------------------------------------------------------


class _FixedTraceId(RandomIdGenerator):
    """Root spans get the trace ID the test chose, so the journey ID is known in advance."""

    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id

    def generate_trace_id(self) -> int:
        return self.trace_id


def _provider(trace_id: int, resource: Resource, **kwargs: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource, id_generator=_FixedTraceId(trace_id), **kwargs)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


ALL_ATTRIBUTE_TYPES = {
    "str": "hello ☎ \"quoted\" \\ back\nslash",
    "empty.str": "",
    "bool.true": True,
    "bool.false": False,
    "int": -42,
    "int.big": 2**62 + 12345,
    "float": 3.25,
    "float.neg": -1e-300,
    "str.array": ("a", "", "ü"),
    "bool.array": (True, False, True),
    "int.array": (1, -2, 2**40),
    "float.array": (0.5, -2.25, 1e100),
    "cx.span.type": "ivr",  # a promoted key: stored in its own column, must come back as an attribute
    "cx.queue.name": "billing",
}
"""(No cx.platform.name or phone number: those change the journey's shape and the attribute on
purpose; the correlation tests check them.)"""


def make_sdk_spans(trace_id: int) -> tuple[list[ReadableSpan], list[ReadableSpan]]:
    """One journey from two services.

    The first list is plain SDK output (the decoder's fast path); the second comes from a
    provider with schema URLs, scope attributes and attribute limits (dropped counts), which
    the fast path leaves to the Python decoder.
    """
    t0 = time.time_ns() - 60 * 10**9
    ivr_provider, ivr_memory = _provider(
        trace_id,
        Resource.create(
            {"service.name": "ivr", "deployment.environment": "test", "r.int": 7, "r.bool": True,
             "r.float": 0.25, "r.list": ["x", "y"]}
        ),
    )  # fmt: skip
    desk_provider, desk_memory = _provider(
        trace_id,
        Resource.create({"service.name": "agent-desktop"}, schema_url="https://opentelemetry.io/schemas/1.21.0"),
        span_limits=SpanLimits(max_span_attributes=4),
    )
    ivr = ivr_provider.get_tracer("ivr.scope", "1.0.0")
    desk = desk_provider.get_tracer(
        "desk.scope", "2.5", schema_url="https://example.com/scope-schema", attributes={"scope.attr": "s", "scope.n": 3}
    )

    root = ivr.start_span("ivr call", kind=SpanKind.SERVER, attributes=ALL_ATTRIBUTE_TYPES, start_time=t0)
    root.add_event("menu", {"digit": "1", "n": 2, "ok": True, "f": 0.5, "arr": [1, 2]}, timestamp=t0 + 10)
    root.add_event("silence", timestamp=t0 + 20)
    root_ctx = trace.set_span_in_context(root)
    other = SpanContext(
        trace_id=random.getrandbits(127) | 1, span_id=0xB7AD6B7169203331, is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=TraceState([("other", "1")]),
    )  # fmt: skip
    transfer = ivr.start_span(
        "transfer",
        context=root_ctx,
        kind=SpanKind.CLIENT,
        links=[Link(other, {"link.reason": "transfer", "n": 1, "tags": ["a", "b"]}), Link(root.get_span_context())],
        start_time=t0 + 100,
    )
    transfer.set_status(Status(StatusCode.OK))
    transfer.end(end_time=t0 + 200)
    lookup = ivr.start_span("crm lookup", context=root_ctx, kind=SpanKind.INTERNAL, start_time=t0 + 150)
    lookup.end(end_time=t0 + 160)
    root.end(end_time=t0 + 1000)

    # The agent desktop continues the trace from a propagated (remote) context with a tracestate.
    remote_parent = SpanContext(
        trace_id=trace_id, span_id=transfer.get_span_context().span_id, is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=TraceState([("cx", "abc"), ("vendor", "v1")]),
    )  # fmt: skip
    agent = desk.start_span(
        "agent handles call",
        context=trace.set_span_in_context(NonRecordingSpan(remote_parent)),
        kind=SpanKind.CONSUMER,
        attributes={"cx.agent.id": "a-17", "a1": 1, "a2": 2.5, "a3": True, "a4": "four", "a5": ["five"]},
        start_time=t0 + 300,
    )
    agent.set_status(Status(StatusCode.ERROR, "caller hung up"))
    notify = desk.start_span("notify crm", context=trace.set_span_in_context(agent), kind=SpanKind.PRODUCER, start_time=t0 + 400)
    notify.end(end_time=t0 + 450)
    agent.end(end_time=t0 + 900)

    ivr_spans = list(ivr_memory.get_finished_spans())
    desk_spans = list(desk_memory.get_finished_spans())
    assert len(ivr_spans) == 3 and len(desk_spans) == 2
    assert desk_spans[-1].dropped_attributes == 2  # the SDK really dropped something
    return ivr_spans, desk_spans


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def _attrs(attributes: Any) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in (attributes or {}).items()}


def expected_span(span: ReadableSpan, wire: ExportTraceServiceRequest, journey_span_ids: set[str]) -> dict[str, Any]:
    """What the API must return for an SDK span (flags and link tracestates are taken from what the
    exporter put on the wire, since they depend on the SDK's encoder).

    On read the correlator makes the journey one tree (docs/correlation.md): a span whose parent
    is not in the journey becomes a child of the synthetic root span and gets ``cx.leg.number``.
    """
    ctx = span.context
    trace_hex = f"{ctx.trace_id:032x}"
    parent = f"{span.parent.span_id:016x}" if span.parent else None
    attributes = _attrs(span.attributes)
    if parent not in journey_span_ids:
        parent = root_span_id(trace_hex)
        attributes["cx.leg.number"] = 1
    wire_span = next(
        s for rs in wire.resource_spans for ss in rs.scope_spans for s in ss.spans
        if s.span_id == ctx.span_id.to_bytes(8, "big")
    )  # fmt: skip
    scope = span.instrumentation_scope
    return {
        "trace_id": trace_hex,
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": parent,
        "trace_state": ctx.trace_state.to_header() or None,
        "flags": wire_span.flags,
        "name": span.name,
        "kind": "SPAN_KIND_" + span.kind.name,
        "service_name": span.resource.attributes["service.name"],
        "start_unix_nano": span.start_time,
        "end_unix_nano": span.end_time,
        "status_code": "STATUS_CODE_" + span.status.status_code.name,
        "status_message": span.status.description or "",
        "attributes": attributes,
        "resource_attributes": _attrs(span.resource.attributes),
        "resource_schema_url": span.resource.schema_url or "",
        "scope": {
            "name": scope.name,
            "version": scope.version or "",
            "attributes": _attrs(scope.attributes),
            "schema_url": scope.schema_url or "",
            "dropped_attributes_count": 0,
        },
        "resource_dropped_attributes_count": 0,
        "events": [
            {"time_unix_nano": e.timestamp, "name": e.name, "attributes": _attrs(e.attributes)} for e in span.events
        ],
        "links": [
            {
                "trace_id": f"{link.context.trace_id:032x}",
                "span_id": f"{link.context.span_id:016x}",
                # The SDK's encoder does not send a link's tracestate; the raw tests cover it.
                "trace_state": wire_link.trace_state,
                "flags": wire_link.flags,
                "attributes": _attrs(link.attributes),
            }
            for link, wire_link in zip(span.links, wire_span.links, strict=True)
        ],
        "dropped_attributes_count": span.dropped_attributes,
        "dropped_events_count": span.dropped_events,
        "dropped_links_count": span.dropped_links,
    }


def assert_span_matches(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        assert key in actual, f"span {expected['name']!r}: field {key!r} missing from the API answer"
        assert actual[key] == value, f"span {expected['name']!r}: field {key!r} is {actual[key]!r}, sent {value!r}"


# --- sending with each transport -------------------------------------------------------------------


def _send_grpc(server, spans, gzip: bool) -> None:
    exporter = GrpcSpanExporter(
        endpoint=server.grpc_endpoint, insecure=True, timeout=15,
        compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
    )  # fmt: skip
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def _send_http(server, spans, gzip: bool) -> None:
    exporter = HttpSpanExporter(
        endpoint=server.traces_url, timeout=15,
        compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
    )  # fmt: skip
    try:
        assert exporter.export(spans) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def _send_json(server, spans, enums_as_ints: bool, snake_case: bool = False) -> None:
    document = otlp_json(encode_spans(spans), enums_as_ints=enums_as_ints, snake_case=snake_case)
    kinds = [s["kind"] for rs in document.get("resourceSpans", document.get("resource_spans", []))
             for ss in rs.get("scopeSpans", rs.get("scope_spans", [])) for s in ss["spans"]]  # fmt: skip
    assert all(isinstance(k, int) for k in kinds) if enums_as_ints else all(isinstance(k, str) for k in kinds)
    response = httpx.post(server.traces_url, json=document, timeout=15)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(JSON)
    parsed = json_format.Parse(response.content, ExportTraceServiceResponse())
    assert not parsed.HasField("partial_success"), parsed


TRANSPORTS = {
    "grpc": lambda server, spans: _send_grpc(server, spans, gzip=False),
    "grpc-gzip": lambda server, spans: _send_grpc(server, spans, gzip=True),
    "http-protobuf": lambda server, spans: _send_http(server, spans, gzip=False),
    "http-protobuf-gzip": lambda server, spans: _send_http(server, spans, gzip=True),
    "http-json-enum-names": lambda server, spans: _send_json(server, spans, enums_as_ints=False),
    "http-json-enum-ints": lambda server, spans: _send_json(server, spans, enums_as_ints=True),
    "http-json-snake-case": lambda server, spans: _send_json(server, spans, enums_as_ints=True, snake_case=True),
}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_sdk_spans_round_trip_every_field(transport, module_server, client):
    trace_id = random.getrandbits(127) | 1
    ivr_spans, desk_spans = make_sdk_spans(trace_id)
    send = TRANSPORTS[transport]
    send(module_server, ivr_spans)  # plain spans: the C fast path on protobuf transports
    send(module_server, desk_spans)  # schema URLs, scope attributes, dropped counts: the Python path

    all_spans = ivr_spans + desk_spans
    trace_hex = f"{trace_id:032x}"
    journey = wait_for_journey(client, trace_hex, len(all_spans))
    assert journey["journey_id"] == trace_hex  # a plain OpenTelemetry trace keeps its trace ID
    assert journey["services"] == ["agent-desktop", "ivr"]
    assert journey["start_unix_nano"] == min(s.start_time for s in all_spans)
    assert journey["end_unix_nano"] == max(s.end_time for s in all_spans)
    sent = real_spans(journey)
    assert len(sent) == len(all_spans), [s["name"] for s in journey["spans"]]
    # Oldest first.
    starts = [(s["start_unix_nano"], s["span_id"]) for s in sent]
    assert starts == sorted(starts)
    # One synthetic root spanning the journey; everything else hangs below it.
    synthetic = [s for s in journey["spans"] if s.get("synthetic")]
    assert [(s["name"], s["span_id"], s["parent_span_id"]) for s in synthetic] == [
        ("journey", root_span_id(trace_hex), None)
    ]
    assert (synthetic[0]["start_unix_nano"], synthetic[0]["end_unix_nano"]) == (
        journey["start_unix_nano"], journey["end_unix_nano"],
    )  # fmt: skip

    by_id = {s["span_id"]: s for s in sent}
    span_ids = {f"{s.context.span_id:016x}" for s in all_spans}
    for spans in (ivr_spans, desk_spans):
        wire = encode_spans(spans)
        for span in spans:
            actual = by_id[f"{span.context.span_id:016x}"]
            assert_span_matches(actual, expected_span(span, wire, span_ids))

    # A few literal checks, so that the test does not only compare the SDK with itself.
    names = {s["name"]: s for s in sent}
    assert names["ivr call"]["parent_span_id"] == root_span_id(trace_hex)
    assert names["ivr call"]["attributes"]["cx.leg.number"] == 1
    assert names["ivr call"]["attributes"]["cx.span.type"] == "ivr"
    assert names["ivr call"]["kind"] == "SPAN_KIND_SERVER"
    assert names["ivr call"]["trace_state"] is None
    assert names["ivr call"]["attributes"]["int.array"] == [1, -2, 2**40]
    assert names["ivr call"]["attributes"]["bool.false"] is False
    assert names["transfer"]["kind"] == "SPAN_KIND_CLIENT"
    assert names["transfer"]["status_code"] == "STATUS_CODE_OK"
    assert names["transfer"]["links"][0]["span_id"] == "b7ad6b7169203331"
    assert names["transfer"]["links"][1]["span_id"] == names["ivr call"]["span_id"]
    assert names["crm lookup"]["kind"] == "SPAN_KIND_INTERNAL"
    assert names["agent handles call"]["kind"] == "SPAN_KIND_CONSUMER"
    assert names["agent handles call"]["status_code"] == "STATUS_CODE_ERROR"
    assert names["agent handles call"]["status_message"] == "caller hung up"
    assert names["agent handles call"]["trace_state"] == "cx=abc,vendor=v1"
    assert names["agent handles call"]["parent_span_id"] == names["transfer"]["span_id"]
    assert names["agent handles call"]["dropped_attributes_count"] == 2
    assert names["agent handles call"]["resource_schema_url"] == "https://opentelemetry.io/schemas/1.21.0"
    assert names["agent handles call"]["scope"] == {
        "name": "desk.scope", "version": "2.5", "attributes": {"scope.attr": "s", "scope.n": 3},
        "schema_url": "https://example.com/scope-schema", "dropped_attributes_count": 0,
    }  # fmt: skip
    assert names["notify crm"]["kind"] == "SPAN_KIND_PRODUCER"
    assert names["ivr call"]["events"][0] == {
        "time_unix_nano": names["ivr call"]["start_unix_nano"] + 10,
        "name": "menu",
        "attributes": {"digit": "1", "n": 2, "ok": True, "f": 0.5, "arr": [1, 2]},
    }


def test_resending_a_span_keeps_one_copy_with_the_latest_content(module_server, client):
    """Exporters retry: a span sent twice is listed once, with the content of the last copy."""
    trace_id = new_trace_id()
    span_id = new_span_id()
    first = simple_request(trace_id, 1, span_ids=[span_id], attributes={"copy": 1})
    second = simple_request(trace_id, 1, span_ids=[span_id], attributes={"copy": 2})
    other = simple_request(trace_id, 1)
    with httpx.Client(timeout=15) as http:
        assert http_export(http, module_server.traces_url, first).status_code == 200
        time.sleep(0.01)
        assert http_export(http, module_server.traces_url, second).status_code == 200
        assert http_export(http, module_server.traces_url, other).status_code == 200
    journey = wait_for_journey(client, trace_id.hex(), 2)
    time.sleep(1.0)  # give a wrongly duplicated copy the time to show up too
    journey = wait_for_journey(client, trace_id.hex(), 2)
    assert len(real_spans(journey)) == 2
    copy = next(s for s in real_spans(journey) if s["span_id"] == span_id.hex())
    assert user_attributes(copy) == {"copy": 2}


def test_customer_phone_number_is_kept_only_as_a_keyed_hash(module_server, client):
    """cx.telephony.ani.number is PII: it comes back as cx.telephony.ani.hash (32 hex), and
    searching by the number in any common notation finds the journey (docs/correlation.md)."""
    trace_id = new_trace_id()
    request = simple_request(trace_id, 1, attributes={"cx.telephony.ani.number": "+1 (555) 010-4477", "k": "v"})
    with httpx.Client(timeout=15) as http:
        assert http_export(http, module_server.traces_url, request).status_code == 200
    (span,) = real_spans(wait_for_journey(client, trace_id.hex(), 1))
    attributes = user_attributes(span)
    assert "cx.telephony.ani.number" not in attributes
    assert "5550104477" not in json.dumps(span)
    assert re.fullmatch(r"[0-9a-f]{32}", attributes["cx.telephony.ani.hash"]), attributes
    assert attributes["k"] == "v"
    for notation in ("+15550104477", "+1-555-010-4477", "0015550104477"):
        found = client.get("/api/journeys", params={"phone": notation}).json()["journeys"]
        assert trace_id.hex() in [j["journey_id"] for j in found], notation
    assert client.get("/api/journeys", params={"phone": "anonymous"}).status_code == 400


# --- hand-built requests: what the SDK cannot produce ------------------------------------------------

I64_MAX = 2**63 - 1
I64_MIN = -(2**63)
NESTED = {
    "nested": {"level1": {"level2": [1, "two", 3.5, True, None, [[], {}], {"deep": {"deeper": ["yes"]}}]}},
    "mixed.array": ["s", 1, 2.5, False, {"k": "v"}, ["inner"]],
    "int.max": I64_MAX,
    "int.min": I64_MIN,
    "zero": 0,
    "neg.zero": -0.0,
    "tiny": 5e-324,
    "huge": 1.7976931348623157e308,
    "empty.array": [],
    "empty.kvlist": {},
    "unset": None,
    "unicode": "日本語 ☎ \u0001 \u007f \U0001f600",
    "": "empty key",
}
"""Attribute values the fast path handles (no bytes, no non-finite doubles)."""


def _raw_span(ss, trace_id: bytes, name: str, attributes: dict[str, Any], start: int):
    span = ss.spans.add()
    span.trace_id = trace_id
    span.span_id = new_span_id()
    span.name = name
    span.kind = 3
    span.start_time_unix_nano = start
    span.end_time_unix_nano = start + 1000
    for key, value in attributes.items():
        set_attr(span.attributes, key, value)
    return span


def _raw_resource(request: ExportTraceServiceRequest, service: str, attributes: dict[str, Any] | None = None):
    rs = request.resource_spans.add()
    set_attr(rs.resource.attributes, "service.name", service)
    for key, value in (attributes or {}).items():
        set_attr(rs.resource.attributes, key, value)
    return rs


def build_rare_request() -> tuple[ExportTraceServiceRequest, dict[str, bytes]]:
    """One request, one trace per aspect; returns it and {aspect: trace_id}."""
    start = time.time_ns() - 30 * 10**9
    request = ExportTraceServiceRequest()
    traces: dict[str, bytes] = {}

    traces["nested"] = new_trace_id()
    rs = _raw_resource(request, "raw-nested", {"r.nested": {"a": [1, {"b": None}]}, "r.max": I64_MAX})
    ss = rs.scope_spans.add()
    _raw_span(ss, traces["nested"], "nested", NESTED, start)
    extreme = _raw_span(ss, traces["nested"], "extreme times", {}, 0)
    extreme.start_time_unix_nano = 0
    extreme.end_time_unix_nano = I64_MAX

    traces["bytes"] = new_trace_id()
    rs = _raw_resource(request, "raw-bytes", {"r.bytes": b"\x00\xffres"})
    ss = rs.scope_spans.add()
    span = _raw_span(ss, traces["bytes"], "bytes", {
        "bin": b"\x00\x01\xfe\xff", "utf8.bytes": b"abc", "empty.bytes": b"",
        "bytes.array": [b"\xde\xad", b"\xbe\xef"], "bytes.nested": {"k": [b"\x80"]},
    }, start)  # fmt: skip
    event = span.events.add()
    event.time_unix_nano = start + 5
    event.name = "bytes event"
    set_attr(event.attributes, "payload", b"\xff\x00")
    link = span.links.add()
    link.trace_id = new_trace_id()
    link.span_id = new_span_id()
    set_attr(link.attributes, "payload", b"\x01\x02\x03")

    traces["nonfinite"] = new_trace_id()
    rs = _raw_resource(request, "raw-nonfinite", {"r.nan": float("nan")})
    ss = rs.scope_spans.add()
    span = _raw_span(ss, traces["nonfinite"], "non-finite", {
        "nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"),
        "array": [1.5, float("nan"), float("-inf")], "finite": 2.5,
    }, start)  # fmt: skip
    event = span.events.add()
    event.time_unix_nano = start + 7
    event.name = "nan event"
    set_attr(event.attributes, "v", float("inf"))

    traces["dropped"] = new_trace_id()
    rs = _raw_resource(request, "raw-dropped")
    ss = rs.scope_spans.add()
    span = _raw_span(ss, traces["dropped"], "dropped", {"k": "v"}, start)
    span.dropped_attributes_count = 4
    span.dropped_events_count = 5
    span.dropped_links_count = 6
    event = span.events.add()
    event.time_unix_nano = start + 1
    event.name = "e"
    event.dropped_attributes_count = 2
    link = span.links.add()
    link.trace_id = new_trace_id()
    link.span_id = new_span_id()
    link.trace_state = "a=b"
    link.flags = 0x301
    link.dropped_attributes_count = 1

    traces["resource_scope_dropped"] = new_trace_id()
    rs = _raw_resource(request, "raw-res-dropped")
    rs.resource.dropped_attributes_count = 3
    ss = rs.scope_spans.add()
    ss.scope.name = "dropping.scope"
    ss.scope.dropped_attributes_count = 7
    _raw_span(ss, traces["resource_scope_dropped"], "resource/scope dropped", {}, start)

    traces["schema"] = new_trace_id()
    rs = _raw_resource(request, "raw-schema")
    rs.schema_url = "https://example.com/resource-schema"
    ss = rs.scope_spans.add()
    ss.schema_url = "https://example.com/scope-schema"
    ss.scope.name = "schema.scope"
    ss.scope.version = "9.9"
    set_attr(ss.scope.attributes, "scope.str", "v")
    set_attr(ss.scope.attributes, "scope.int", I64_MIN)
    set_attr(ss.scope.attributes, "scope.list", [1, "a"])
    span = _raw_span(ss, traces["schema"], "schema", {}, start)
    span.trace_state = "k1=v1,k2=v2"
    span.flags = 0x101
    span.parent_span_id = new_span_id()
    span.status.code = 2
    span.status.message = "raw error"
    span.kind = 5
    return request, traces


def _send_raw(transport: str, server, request: ExportTraceServiceRequest) -> None:
    if transport == "grpc":
        with grpc.insecure_channel(server.grpc_endpoint) as channel:
            response = grpc_export(channel, request)
        assert not response.HasField("partial_success"), response
    elif transport == "http-protobuf":
        with httpx.Client(timeout=15) as http:
            response = http_export(http, server.traces_url, request)
        assert response.status_code == 200, response.text
        parsed = ExportTraceServiceResponse.FromString(response.content)
        assert not parsed.HasField("partial_success"), parsed
    else:
        with httpx.Client(timeout=15) as http:
            response = http.post(server.traces_url, json=otlp_json(request))
        assert response.status_code == 200, response.text


RAW_TRANSPORTS = ["grpc", "http-protobuf", "http-json"]


@pytest.fixture(scope="module")
def rare_traces(module_server) -> dict[str, dict[str, bytes]]:
    """The rare-values request, sent once over each transport: {transport: {aspect: trace_id}}."""
    sent = {}
    for transport in RAW_TRANSPORTS:
        request, traces = build_rare_request()
        _send_raw(transport, module_server, request)
        sent[transport] = traces
    # The "nested" aspect alone, so that the C fast path (not the Python fallback) decodes it.
    fast, fast_traces = build_rare_request()
    del fast.resource_spans[1:]
    assert _fastdecode is not None and _fastdecode.decode(fast.SerializeToString()) is not None
    _send_raw("grpc", module_server, fast)
    sent["grpc-fast-path"] = {"nested": fast_traces["nested"]}
    return sent


def _journey(client, rare_traces, transport: str, aspect: str, spans: int = 1) -> dict[str, Any]:
    return wait_for_journey(client, rare_traces[transport][aspect].hex(), spans)


@pytest.mark.parametrize("transport", [*RAW_TRANSPORTS, "grpc-fast-path"])
def test_raw_nested_values_and_int64_extremes(transport, client, rare_traces):
    journey = _journey(client, rare_traces, transport, "nested", spans=2)
    span = next(s for s in real_spans(journey) if s["name"] == "nested")
    assert user_attributes(span) == NESTED
    assert math.copysign(1.0, span["attributes"]["neg.zero"]) == -1.0
    assert isinstance(span["attributes"]["zero"], int) and isinstance(span["attributes"]["huge"], float)
    assert span["resource_attributes"] == {
        "service.name": "raw-nested", "r.nested": {"a": [1, {"b": None}]}, "r.max": I64_MAX,
    }  # fmt: skip
    assert span["kind"] == "SPAN_KIND_CLIENT"
    extreme = next(s for s in real_spans(journey) if s["name"] == "extreme times")
    assert (extreme["start_unix_nano"], extreme["end_unix_nano"]) == (0, I64_MAX)
    assert journey["start_unix_nano"] == 0 and journey["end_unix_nano"] == I64_MAX


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("transport", RAW_TRANSPORTS)
def test_raw_bytes_values_come_back_base64(transport, client, rare_traces):
    span = real_spans(_journey(client, rare_traces, transport, "bytes"))[0]
    assert user_attributes(span) == {
        "bin": b64(b"\x00\x01\xfe\xff"),
        "utf8.bytes": b64(b"abc"),
        "empty.bytes": "",
        "bytes.array": [b64(b"\xde\xad"), b64(b"\xbe\xef")],
        "bytes.nested": {"k": [b64(b"\x80")]},
    }
    assert span["resource_attributes"] == {"service.name": "raw-bytes", "r.bytes": b64(b"\x00\xffres")}
    assert span["events"][0]["attributes"] == {"payload": b64(b"\xff\x00")}
    assert span["links"][0]["attributes"] == {"payload": b64(b"\x01\x02\x03")}


@pytest.mark.parametrize("transport", RAW_TRANSPORTS)
def test_raw_non_finite_doubles_come_back_as_strings(transport, client, rare_traces):
    """JSON has no NaN/Infinity: they are rendered as the strings OTLP/JSON uses, never as null."""
    span = real_spans(_journey(client, rare_traces, transport, "nonfinite"))[0]
    assert user_attributes(span) == {
        "nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "array": [1.5, "NaN", "-Infinity"], "finite": 2.5,
    }  # fmt: skip
    assert span["resource_attributes"] == {"service.name": "raw-nonfinite", "r.nan": "NaN"}
    assert span["events"][0]["attributes"] == {"v": "Infinity"}


@pytest.mark.parametrize("transport", RAW_TRANSPORTS)
def test_raw_span_event_and_link_dropped_counts(transport, client, rare_traces):
    span = real_spans(_journey(client, rare_traces, transport, "dropped"))[0]
    assert span["dropped_attributes_count"] == 4
    assert span["dropped_events_count"] == 5
    assert span["dropped_links_count"] == 6
    assert span["events"][0]["dropped_attributes_count"] == 2
    link = span["links"][0]
    assert link["dropped_attributes_count"] == 1
    assert link["trace_state"] == "a=b"
    assert link["flags"] == 0x301


@pytest.mark.parametrize("transport", RAW_TRANSPORTS)
def test_raw_resource_and_scope_dropped_counts(transport, client, rare_traces):
    """Resource.dropped_attributes_count and InstrumentationScope.dropped_attributes_count are
    stored (``extra``) and must be returned, named like their schema_url neighbours."""
    span = real_spans(_journey(client, rare_traces, transport, "resource_scope_dropped"))[0]
    assert span.get("resource_dropped_attributes_count") == 3, sorted(span)
    assert span["scope"].get("dropped_attributes_count") == 7, span["scope"]


@pytest.mark.parametrize("transport", RAW_TRANSPORTS)
def test_raw_schema_urls_scope_attributes_and_span_fields(transport, client, rare_traces):
    span = real_spans(_journey(client, rare_traces, transport, "schema"))[0]
    assert span["resource_schema_url"] == "https://example.com/resource-schema"
    assert span["scope"] == {
        "name": "schema.scope", "version": "9.9", "schema_url": "https://example.com/scope-schema",
        "dropped_attributes_count": 0,
        "attributes": {"scope.str": "v", "scope.int": I64_MIN, "scope.list": [1, "a"]},
    }  # fmt: skip
    assert span["trace_state"] == "k1=v1,k2=v2"
    assert span["flags"] == 0x101
    assert span["status_code"] == "STATUS_CODE_ERROR"
    assert span["status_message"] == "raw error"
    assert span["kind"] == "SPAN_KIND_CONSUMER"
    assert len(span["parent_span_id"]) == 16
    # Its parent was never sent, so on read it hangs below the journey's synthetic root.
    assert span["parent_span_id"] == root_span_id(span["trace_id"])
    assert span["attributes"] == {"cx.leg.number": 1}


# --- listing journeys -------------------------------------------------------------------------------

SECOND = 10**9


@pytest.fixture(scope="module")
def listed(module_server, client) -> dict[str, Any]:
    """Journeys at known times in 2001 (far from every other test's spans), with unique service names."""
    base = int(datetime(2001, 2, 3, 4, 5, 6, tzinfo=timezone.utc).timestamp()) * SECOND
    tag = uuid.uuid4().hex[:8]
    svc_a, svc_b = f"list-{tag}-a", f"list-{tag}-b"
    ids = {name: new_trace_id() for name in ("j1", "j2", "j3")}
    request = ExportTraceServiceRequest()
    request.MergeFrom(simple_request(ids["j1"], 2, service=svc_a, start=base + 1 * SECOND))
    request.MergeFrom(simple_request(ids["j2"], 1, service=svc_b, start=base + 2 * SECOND))
    request.MergeFrom(simple_request(ids["j3"], 1, service=svc_a, start=base + 3 * SECOND))
    request.MergeFrom(simple_request(ids["j3"], 1, service=svc_b, start=base + 3 * SECOND + 500))
    # 25 journeys of one more service, a day later, to test the default limit.
    many = [new_trace_id() for _ in range(25)]
    for i, trace_id in enumerate(many):
        request.MergeFrom(simple_request(trace_id, 1, service=f"list-{tag}-many", start=base + 86400 * SECOND + i))
    with httpx.Client(timeout=15) as http:
        assert http_export(http, module_server.traces_url, request).status_code == 200
    for trace_id in [*ids.values(), *many]:
        wait_for_journey(client, trace_id.hex(), 1)
    wait_for_journey(client, ids["j1"].hex(), 2)
    wait_for_journey(client, ids["j3"].hex(), 2)
    return {"base": base, "a": svc_a, "b": svc_b, "many": f"list-{tag}-many", "many_ids": many,
            **{k: v.hex() for k, v in ids.items()}}  # fmt: skip


def _list(client, **params) -> list[dict[str, Any]]:
    response = client.get("/api/journeys", params=params)
    assert response.status_code == 200, response.text
    return response.json()["journeys"]


def _ids(journeys) -> list[str]:
    return [j["journey_id"] for j in journeys]


def test_list_window_is_newest_first_with_summaries(client, listed):
    base = listed["base"]
    journeys = _list(client, **{"from": base, "to": base + 10 * SECOND})
    assert _ids(journeys) == [listed["j3"], listed["j2"], listed["j1"]]
    j3, _, j1 = journeys
    assert j1["start_unix_nano"] == base + SECOND
    assert j1["end_unix_nano"] == base + SECOND + 1000 + 500
    assert j1["duration_nano"] == 1500
    assert j1["services"] == [listed["a"]]
    assert j3["services"] == sorted([listed["a"], listed["b"]])
    assert j3["end_unix_nano"] == base + 3 * SECOND + 1000


def test_list_from_and_to_are_inclusive(client, listed):
    base = listed["base"]
    assert _ids(_list(client, **{"from": base + 2 * SECOND, "to": base + 10 * SECOND})) == [listed["j3"], listed["j2"]]
    assert _ids(_list(client, **{"from": base, "to": base + 2 * SECOND})) == [listed["j2"], listed["j1"]]
    assert _ids(_list(client, **{"from": base + 2 * SECOND + 1, "to": base + 3 * SECOND - 1})) == []


@pytest.mark.parametrize(
    "start, end",
    [
        ("2001-02-03T04:05:06Z", "2001-02-03T04:05:16Z"),
        ("2001-02-03T04:05:06", "2001-02-03T04:05:16"),  # no zone: UTC
        ("2001-02-03T06:05:06+02:00", "2001-02-03T05:05:16+01:00"),
        ("2001-02-03T04:05:06.000000Z", "2001-02-03 04:05:16Z"),
    ],
)
def test_list_accepts_iso_8601(client, listed, start, end):
    assert _ids(_list(client, **{"from": start, "to": end})) == [listed["j3"], listed["j2"], listed["j1"]]


def test_list_iso_fractional_seconds(client, listed):
    assert _ids(_list(client, **{"from": "2001-02-03T04:05:07.5Z", "to": "2001-02-03T04:05:09.000001Z"})) == [
        listed["j3"],
        listed["j2"],
    ]


def test_list_service_filter(client, listed):
    assert _ids(_list(client, service=listed["a"])) == [listed["j3"], listed["j1"]]
    assert _ids(_list(client, service=listed["b"])) == [listed["j3"], listed["j2"]]
    assert _list(client, service="no-such-service-" + uuid.uuid4().hex) == []


def test_list_limit(client, listed):
    base = listed["base"]
    window = {"from": base, "to": base + 10 * SECOND}
    assert _ids(_list(client, **window, limit=2)) == [listed["j3"], listed["j2"]]
    assert _ids(_list(client, **window, limit=1)) == [listed["j3"]]
    many = _list(client, service=listed["many"])
    assert len(many) == 20  # the default limit
    expected_newest_first = [t.hex() for t in reversed(listed["many_ids"])]
    assert _ids(many) == expected_newest_first[:20]
    assert _ids(_list(client, service=listed["many"], limit=1000)) == expected_newest_first


def test_list_before_1970_with_fractional_seconds(module_server, client):
    """An ISO time before the epoch with a fraction: 1969-12-31T23:59:59.5Z is -0.5 s, not +0.5 s."""
    trace_id = new_trace_id()
    service = "epoch-" + uuid.uuid4().hex[:8]
    with httpx.Client(timeout=15) as http:
        request = simple_request(trace_id, 1, service=service, start=200_000_000)  # 0.2 s after the epoch
        assert http_export(http, module_server.traces_url, request).status_code == 200
    wait_for_journey(client, trace_id.hex(), 1)
    assert _ids(_list(client, service=service, **{"from": "-500000000"})) == [trace_id.hex()]
    assert _ids(_list(client, service=service, **{"from": "1969-12-31T23:59:59.5Z"})) == [trace_id.hex()]


# --- errors from the query API ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "journey_id",
    ["xyz", "0" * 31, "0" * 33, "g" * 32, "0123456789abcdef0123456789abcde ", "%20" + "0" * 30],
)
def test_bad_journey_id_is_400(client, journey_id):
    response = client.get(f"/api/journeys/{journey_id}")
    assert response.status_code == 400, response.text
    assert "journey_id" in response.json()["error"]


def test_unknown_journey_is_404_and_upper_case_ids_work(module_server, client):
    unknown = new_trace_id().hex()
    response = client.get(f"/api/journeys/{unknown}")
    assert response.status_code == 404
    assert unknown in response.json()["error"]

    trace_id = new_trace_id()
    with httpx.Client(timeout=15) as http:
        assert http_export(http, module_server.traces_url, simple_request(trace_id, 1)).status_code == 200
    wait_for_journey(client, trace_id.hex(), 1)
    upper = client.get(f"/api/journeys/{trace_id.hex().upper()}")
    assert upper.status_code == 200
    assert upper.json()["journey_id"] == trace_id.hex()


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "1.5", "²", " 5"])
def test_bad_limit_is_400(client, limit):
    response = client.get("/api/journeys", params={"limit": limit})
    assert response.status_code == 400, (response.status_code, response.text)
    assert "limit" in response.json()["error"]


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "2026-11-28T25:00:00Z", "1e9", "--5", "²"])
def test_bad_from_or_to_is_400(client, name, value):
    response = client.get("/api/journeys", params={name: value})
    assert response.status_code == 400, (response.status_code, response.text)
    assert name in response.json()["error"]


def test_health_endpoints(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
