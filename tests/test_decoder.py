"""The C fast path of the span decoder against the pure-Python reference, by property testing.

``journeytrace.spans.decode_body(bytes, tenant)`` uses ``journeytrace._fastdecode`` when it can;
``decode_request(ExportTraceServiceRequest.FromString(bytes), tenant)`` is the reference. For
any request both must give the same batch (JSON columns compared after parsing, with types).
Also: the common request must really take the fast path; random and mutated bytes never crash
the decoder; and ``journeytrace.values`` converts without loss.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from journeytrace import spans, values
from journeytrace.errors import InvalidInput
from jt_helpers import set_attr, simple_request

I64_MIN, I64_MAX, U64_MAX, U32_MAX = -(2**63), 2**63 - 1, 2**64 - 1, 2**32 - 1
JSON_COLUMNS = ("attributes", "resource_attributes", "events", "links", "extra")
# No example database (the suite must not write outside tests/) and a fixed seed: a run is
# reproducible, and a bug found once is found on every run.
SETTINGS = settings(max_examples=200, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def test_the_c_extension_is_built():
    assert spans._fastdecode is not None, "journeytrace._fastdecode was not built; the C fast path is not in use"
    assert callable(spans._fastdecode.decode)


# --- strategies ---------------------------------------------------------------------------------

KEYS = st.one_of(
    st.sampled_from([
        "a", "b", "", "service.name", "cx.span.type", "cx.platform.name", "cx.platform.interaction.id",
        "cx.telephony.ani.number", "cx.queue.name", "cx.agent.id",
    ]),  # fmt: skip
    st.text(max_size=6),
)


def any_values(rare: bool) -> st.SearchStrategy[Any]:
    """Python values of every AnyValue kind; ``rare`` adds bytes and non-finite doubles."""
    scalars = [
        st.text(max_size=12),
        st.booleans(),
        st.integers(I64_MIN, I64_MAX),
        st.sampled_from([0, 1, -1, I64_MIN, I64_MAX, 2**53 + 1]),
        st.floats(allow_nan=rare, allow_infinity=rare),
        st.sampled_from([0.0, -0.0, 0.1, 1e15, 1e16, 1e-5, 5e-324, 1.7976931348623157e308, 123456789.125]),
        st.none(),
    ]
    if rare:
        scalars += [st.binary(max_size=8), st.sampled_from([math.nan, math.inf, -math.inf])]
    return st.recursive(
        st.one_of(*scalars),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4) | KEYS, inner, max_size=3)
        ),
        max_leaves=8,
    )


def attribute_lists(rare: bool) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """Attribute lists as (key, value) pairs. Duplicated keys (invalid OTLP, but seen) are rare:
    the C decoder hands them to the reference decoder."""
    return st.lists(st.tuples(KEYS, any_values(rare)), max_size=6, unique_by=None if rare else (lambda kv: kv[0]))


def ids(length: int, valid_only: bool) -> st.SearchStrategy[bytes]:
    valid = st.binary(min_size=length, max_size=length).filter(any)
    if valid_only:
        return valid
    return st.one_of(valid, valid, valid, st.binary(max_size=length + 2), st.just(b"\x00" * length))


# Strategies are built once: building them inside the composite costs a validation per draw.
ATTRS = {rare: attribute_lists(rare) for rare in (False, True)}
IDS = {(n, valid_only): ids(n, valid_only) for n in (8, 16) for valid_only in (False, True)}
TEXT = {n: st.text(max_size=n) for n in (4, 6, 8, 10)}
SMALL = st.integers(0, 5)
COUNTS = {n: st.integers(0, n) for n in (1, 2, 3)}
U32 = st.integers(0, U32_MAX)
U64 = st.integers(0, U64_MAX)
I64 = st.integers(0, I64_MAX)
KIND = st.integers(0, 7)
STATUS = st.integers(0, 4)
LINK_TRACE_ID = st.binary(max_size=20)
LINK_SPAN_ID = st.binary(max_size=10)


@st.composite
def requests(draw, rare: bool) -> ExportTraceServiceRequest:
    """A random ExportTraceServiceRequest. Without ``rare``: only what the fast path must handle."""
    request = ExportTraceServiceRequest()
    attrs = ATTRS[rare]
    coin = st.booleans()
    for _ in range(draw(COUNTS[2])):
        rs = request.resource_spans.add()
        if draw(coin):
            rs.resource.SetInParent()
            for key, value in draw(attrs):
                set_attr(rs.resource.attributes, key, value)
            if rare and draw(coin):
                rs.resource.dropped_attributes_count = draw(SMALL)
        if rare and draw(coin):
            rs.schema_url = draw(TEXT[10])
        for _ in range(draw(COUNTS[2])):
            ss = rs.scope_spans.add()
            if draw(coin):
                ss.scope.name = draw(TEXT[8])
                ss.scope.version = draw(TEXT[4])
                if rare and draw(coin):
                    for key, value in draw(attrs):
                        set_attr(ss.scope.attributes, key, value)
                    ss.scope.dropped_attributes_count = draw(SMALL)
            if rare and draw(coin):
                ss.schema_url = draw(TEXT[10])
            for _ in range(draw(COUNTS[3])):
                span = ss.spans.add()
                span.trace_id = draw(IDS[16, not rare])
                span.span_id = draw(IDS[8, not rare])
                if draw(coin):
                    span.parent_span_id = draw(IDS[8, not rare])
                span.trace_state = draw(TEXT[10])
                span.flags = draw(U32)
                span.name = draw(TEXT[10])
                span.kind = draw(KIND)
                times = U64 if rare else I64
                span.start_time_unix_nano = draw(times)
                span.end_time_unix_nano = draw(times)
                for key, value in draw(attrs):
                    set_attr(span.attributes, key, value)
                if draw(coin):
                    span.status.code = draw(STATUS)
                    span.status.message = draw(TEXT[8])
                for _ in range(draw(COUNTS[2])):
                    event = span.events.add()
                    event.time_unix_nano = draw(U64)
                    event.name = draw(TEXT[6])
                    for key, value in draw(attrs):
                        set_attr(event.attributes, key, value)
                    if rare and draw(coin):
                        event.dropped_attributes_count = draw(SMALL)
                for _ in range(draw(COUNTS[1])):
                    link = span.links.add()
                    link.trace_id = draw(LINK_TRACE_ID)
                    link.span_id = draw(LINK_SPAN_ID)
                    link.trace_state = draw(TEXT[6])
                    link.flags = draw(U32)
                    for key, value in draw(attrs):
                        set_attr(link.attributes, key, value)
                    if rare and draw(coin):
                        link.dropped_attributes_count = draw(SMALL)
                if rare and draw(coin):
                    span.dropped_attributes_count = draw(SMALL)
                    span.dropped_events_count = draw(SMALL)
                    span.dropped_links_count = draw(SMALL)
    return request


# --- comparison ---------------------------------------------------------------------------------


def _typed(value: Any) -> Any:
    """A JSON value with its types made explicit, so that 1 != 1.0 != True and 0.0 != -0.0."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return value


def _rows(result: spans.DecodeResult) -> dict[str, list[Any]]:
    columns = result.batch.table.to_pydict()
    for name in JSON_COLUMNS:
        columns[name] = [None if v is None else _typed(json.loads(v)) for v in columns[name]]
    return columns


def assert_same(fast: spans.DecodeResult, reference: spans.DecodeResult) -> None:
    assert fast.batch.tenant == reference.batch.tenant
    assert fast.batch.table.schema == reference.batch.table.schema
    fast_rows, ref_rows = _rows(fast), _rows(reference)
    for name in ref_rows:
        assert fast_rows[name] == ref_rows[name], f"column {name!r} differs"
    assert (fast.rejected, fast.message) == (reference.rejected, reference.message)


def _reference(body: bytes) -> spans.DecodeResult:
    return spans.decode_request(ExportTraceServiceRequest.FromString(body), "t")


# --- the differential tests ------------------------------------------------------------------------


@SETTINGS
@given(requests(rare=False))
def test_common_requests_take_the_fast_path_and_match_the_reference(request):
    body = request.SerializeToString()
    assert spans._fastdecode.decode(body) is not None, "the C decoder refused a common request"
    assert_same(spans.decode_body(body, "t"), _reference(body))


@SETTINGS
@given(requests(rare=True))
def test_any_request_matches_the_reference(request):
    body = request.SerializeToString()
    assert_same(spans.decode_body(body, "t"), _reference(body))


def _request_with_attributes(pairs: list[tuple[str, Any]]) -> bytes:
    request = simple_request(b"\x01" * 16, 1)
    for key, value in pairs:
        set_attr(request.resource_spans[0].scope_spans[0].spans[0].attributes, key, value)
    return request.SerializeToString()


@pytest.mark.parametrize(
    "pairs",
    [
        [("cx.queue.name", 5), ("cx.queue.name", "billing")],  # a promoted key: the last value wins
        [("cx.agent.id", "a-1"), ("cx.agent.id", True)],
        [("k", 1), ("k", "two")],
        [("cx.span.type", "ivr"), ("x", [1.5, -0.0, {"n": None}])],
    ],
    ids=["promoted-int-then-str", "promoted-str-then-bool", "plain-duplicate", "promoted-plus-nested"],
)
def test_duplicate_and_promoted_keys_match_the_reference(pairs):
    """Repeated keys are invalid OTLP: the C decoder leaves them to the reference decoder (whose
    last value wins), so the JSON never holds one key twice; unique keys stay on the fast path."""
    body = _request_with_attributes(pairs)
    unique = len({k for k, _ in pairs}) == len(pairs)
    assert (spans._fastdecode.decode(body) is not None) == unique
    assert_same(spans.decode_body(body, "t"), _reference(body))


# --- robustness: random and mutated bytes ------------------------------------------------------------


def _decode_or_invalid(body: bytes) -> spans.DecodeResult | None:
    try:
        return spans.decode_body(body, "t")
    except InvalidInput:
        return None


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(st.binary(max_size=300))
@example(b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01")  # 10-byte length varint
@example(b"\x0a\x02\x12\x00" * 3)
@example(b"\x0b\x0c")  # a group
def test_random_bytes_never_crash_the_decoder(body):
    _decode_or_invalid(body)


def _valid_body() -> bytes:
    request = simple_request(b"\x07" * 16, 2, attributes={"s": "x\u00e9", "n": 5, "l": [1.5, {"k": True}]})
    span = request.resource_spans[0].scope_spans[0].spans[0]
    event = span.events.add()
    event.name = "ev"
    set_attr(event.attributes, "e", "v")
    link = span.links.add()
    link.trace_id = b"\x02" * 16
    link.span_id = b"\x03" * 8
    span.status.message = "msg"
    return request.SerializeToString()


VALID = _valid_body()


@st.composite
def mutations(draw) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, len(data) - 1)) if data else 0
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0x80, 0xC3, 0xFF, 0x28, 0x0A, 0x12, 0x2A]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 3))]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(mutations())
def test_mutated_requests_never_crash_the_decoder(body):
    _decode_or_invalid(body)


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(mutations())
def test_fast_path_accepts_only_what_protobuf_accepts(body):
    """Whatever the C decoder takes must be a valid protobuf message decoding to the same batch."""
    if spans._fastdecode.decode(body) is None:
        return
    try:
        reference = _reference(body)
    except Exception as exc:  # noqa: BLE001 -- reported as the failure
        raise AssertionError(f"the C decoder accepted bytes that protobuf rejects: {exc}") from None
    assert_same(spans.decode_body(body, "t"), reference)


def test_fast_path_rejects_invalid_utf8_in_a_repeated_string_field():
    """Protobuf rejects a message whose string field holds invalid UTF-8, even if a later
    occurrence of the same field replaces it; so must the fast path (else it stores a request
    that the reference decoder refuses as malformed)."""
    request = simple_request(b"\x01" * 16, 1, name="ok")
    span = request.resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    span = b"\x2a\x02\xc3\x28" + span  # name = b"\xc3\x28" (invalid UTF-8), then the real name
    scope_spans = b"\x12" + bytes([len(span)]) + span
    resource_spans = b"\x12" + bytes([len(scope_spans)]) + scope_spans
    body = b"\x0a" + bytes([len(resource_spans)]) + resource_spans
    with pytest.raises(Exception, match="UTF-8"):
        ExportTraceServiceRequest.FromString(body)
    with pytest.raises(InvalidInput):
        spans.decode_body(body, "t")


# --- journeytrace.values ------------------------------------------------------------------------------


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_value(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(any_values(rare=True))
def test_values_otlp_json_round_trip(value):
    encoded = values.to_otlp_json(value)
    assert _same_value(values.from_otlp_json(json.loads(json.dumps(encoded))), value)


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(any_values(rare=True))
def test_values_proto_round_trip(value):
    message = AnyValue()
    values.to_proto(value, message)
    reparsed = AnyValue.FromString(message.SerializeToString())
    assert _same_value(values.from_proto(reparsed), value)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(any_values(rare=True))
def test_values_dumps_is_valid_json_and_exact_only_when_lossless(value):
    text, exact = values.dumps(value)
    def no_constants(name: str) -> Any:
        raise AssertionError(f"dumps wrote the non-JSON literal {name}")

    parsed = json.loads(text, parse_constant=no_constants)
    if exact:
        assert _same_value(parsed, value)
    else:
        assert not _same_value(parsed, value)
