"""Bad input gets a clear error, valid data next to it is kept, and the server keeps serving.

One server for the module, started with ``--max-request-bytes 100000``.
"""

from __future__ import annotations

import gzip
import json

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from jt_helpers import (
    JSON,
    PROTOBUF,
    grpc_export,
    http_export,
    new_span_id,
    new_trace_id,
    otlp_json,
    real_spans,
    simple_request,
    span_ids_hex,
    wait_for_journey,
    wait_for_span_ids,
)

LIMIT = 100_000
SERVER_ARGS = ("--max-request-bytes", str(LIMIT))


@pytest.fixture(scope="module")
def channel(module_server):
    with grpc.insecure_channel(module_server.grpc_endpoint) as ch:
        yield ch


@pytest.fixture(scope="module")
def baseline(module_server, client, channel) -> dict[str, set[str]]:
    """Data accepted before any bad input, over both transports; checked again at the very end."""
    grpc_trace, http_trace = new_trace_id(), new_trace_id()
    grpc_request = simple_request(grpc_trace, 5, service="baseline")
    http_request = simple_request(http_trace, 5, service="baseline")
    grpc_export(channel, grpc_request)
    with httpx.Client(timeout=15) as http:
        assert http_export(http, module_server.traces_url, http_request).status_code == 200
    wait_for_span_ids(client, grpc_trace.hex(), span_ids_hex(grpc_request))
    wait_for_span_ids(client, http_trace.hex(), span_ids_hex(http_request))
    return {grpc_trace.hex(): span_ids_hex(grpc_request), http_trace.hex(): span_ids_hex(http_request)}


def _status_from_protobuf(response: httpx.Response) -> Status:
    assert response.headers["content-type"].startswith(PROTOBUF), response.headers
    return Status.FromString(response.content)


def _grpc_error(channel, body, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        grpc_export(channel, body, **kwargs)
    return info.value


# --- malformed protobuf ----------------------------------------------------------------------------


def _invalid_utf8_name() -> bytes:
    request = simple_request(new_trace_id(), 1, name="\u00e9\u00e9\u00e9")
    body = request.SerializeToString()
    assert body.count(b"\xc3\xa9\xc3\xa9\xc3\xa9") == 1
    return body.replace(b"\xc3\xa9\xc3\xa9\xc3\xa9", b"\xc3\x28\xc3\x28\xc3\x28")


MALFORMED = {
    "garbage": b"\xff\xff\xff\xff\xff",
    "truncated": simple_request(new_trace_id(), 3).SerializeToString()[:-7],
    "length-past-end": b"\x0a\x40\x12\x05",
    "wire-type-7": b"\x0f\x00",
    "unmatched-group": b"\x0b\x00",
    "invalid-utf8-string": _invalid_utf8_name(),
    "text": b"this is not protobuf at all",
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_protobuf_grpc_is_invalid_argument(channel, baseline, kind):
    error = _grpc_error(channel, MALFORMED[kind])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert "protobuf" in error.details()


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_protobuf_http_is_400(module_server, otlp_http, baseline, kind):
    response = http_export(otlp_http, "/v1/traces", MALFORMED[kind])
    assert response.status_code == 400, (response.status_code, response.text)
    status = _status_from_protobuf(response)
    assert status.code == 3  # INVALID_ARGUMENT
    assert "protobuf" in status.message


# --- malformed JSON ----------------------------------------------------------------------------------

BAD_JSON = {
    "truncated": b'{"resourceSpans": [',
    "not-an-object": b"[1, 2, 3]",
    "resource-spans-not-array": b'{"resourceSpans": "x"}',
    "span-not-object": b'{"resourceSpans": [{"scopeSpans": [{"spans": [5]}]}]}',
    "wrong-field-type": json.dumps(
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab" * 16, "spanId": "cd" * 8, "name": 5}]}]}]}
    ).encode(),
    "int-as-object": json.dumps(
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab" * 16, "spanId": "cd" * 8, "startTimeUnixNano": {}}]}]}]}
    ).encode(),
    "invalid-utf8": b'{"resourceSpans": [{"resource": {"attributes": [{"key": "\xff"}]}}]}',
    "empty-body": b"",
}


@pytest.mark.parametrize("kind", list(BAD_JSON))
def test_malformed_json_is_400(otlp_http, baseline, kind):
    response = http_export(otlp_http, "/v1/traces", BAD_JSON[kind], content_type=JSON)
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(JSON)
    status = json_format.Parse(response.content, Status())
    assert status.code == 3
    assert status.message


def test_json_content_type_parameters_are_accepted(client, otlp_http, baseline):
    trace_id = new_trace_id()
    request = simple_request(trace_id, 2)
    response = otlp_http.post(
        "/v1/traces", content=json.dumps(otlp_json(request)), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200, response.text
    wait_for_span_ids(client, trace_id.hex(), span_ids_hex(request))


# --- content type and encoding -------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/grpc", None])
def test_wrong_content_type_is_415(otlp_http, baseline, content_type):
    body = simple_request(new_trace_id(), 1).SerializeToString()
    headers = {} if content_type is None else {"content-type": content_type}
    response = otlp_http.post("/v1/traces", content=body, headers=headers)
    assert response.status_code == 415, (response.status_code, response.text)
    assert "application/x-protobuf" in response.text and "application/json" in response.text


def _gzip_cases() -> dict[str, tuple[bytes, str]]:
    valid = simple_request(new_trace_id(), 3).SerializeToString()
    return {
        "not-gzip": (b"definitely not gzip data", "gzip"),
        "truncated-gzip": (gzip.compress(valid)[:-12], "gzip"),
        "corrupt-gzip": (gzip.compress(valid)[:10] + b"\x00" * 20 + gzip.compress(valid)[30:], "gzip"),
        "unsupported-encoding": (valid, "br"),
    }


@pytest.mark.parametrize("kind", list(_gzip_cases()))
def test_bad_content_encoding_is_400(otlp_http, baseline, kind):
    body, encoding = _gzip_cases()[kind]
    response = http_export(otlp_http, "/v1/traces", body, headers={"content-encoding": encoding})
    assert response.status_code == 400, (response.status_code, response.text)
    status = _status_from_protobuf(response)
    assert status.code == 3
    assert ("gzip" in status.message) or ("content-encoding" in status.message)


def test_gzipped_json_is_accepted(client, otlp_http, baseline):
    trace_id = new_trace_id()
    request = simple_request(trace_id, 2)
    body = gzip.compress(json.dumps(otlp_json(request)).encode())
    response = http_export(otlp_http, "/v1/traces", body, content_type=JSON, headers={"content-encoding": "gzip"})
    assert response.status_code == 200, response.text
    wait_for_span_ids(client, trace_id.hex(), span_ids_hex(request))


# --- size limit ------------------------------------------------------------------------------------------


def _request_of_size(size: int, compressible: bool = False) -> ExportTraceServiceRequest:
    blob = "x" * size if compressible else (new_trace_id().hex() * (size // 32 + 1))[:size]
    request = simple_request(new_trace_id(), 1, attributes={"blob": blob})
    assert request.ByteSize() >= size
    return request


def test_oversized_http_body_is_413(otlp_http, baseline):
    response = http_export(otlp_http, "/v1/traces", _request_of_size(int(LIMIT * 1.5)))
    assert response.status_code == 413, (response.status_code, response.text)
    assert str(LIMIT) in _status_from_protobuf(response).message


def test_oversized_chunked_http_body_is_413(otlp_http, baseline):
    """Without a Content-Length (chunked transfer), the limit is enforced while reading."""
    body = _request_of_size(int(LIMIT * 1.5)).SerializeToString()

    def chunks():
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    response = otlp_http.post("/v1/traces", content=chunks(), headers={"content-type": PROTOBUF})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, (response.status_code, response.text)


def test_gzip_bomb_is_413(otlp_http, baseline):
    body = gzip.compress(_request_of_size(LIMIT * 20, compressible=True).SerializeToString())
    assert len(body) < LIMIT / 10
    response = http_export(otlp_http, "/v1/traces", body, headers={"content-encoding": "gzip"})
    assert response.status_code == 413, (response.status_code, response.text)


@pytest.mark.parametrize("factor", [1.5, 5])
def test_oversized_grpc_request_is_invalid_argument(channel, baseline, factor):
    """Over the limit is a permanent error (INVALID_ARGUMENT naming the limit), however far over:
    a RESOURCE_EXHAUSTED would make OTLP exporters retry the same request again and again."""
    error = _grpc_error(channel, _request_of_size(int(LIMIT * factor)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert str(LIMIT) in error.details()


def test_oversized_gzip_grpc_request_is_invalid_argument(channel, baseline):
    error = _grpc_error(channel, _request_of_size(int(LIMIT * 1.5), compressible=True), compression=grpc.Compression.Gzip)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())


def test_request_just_under_the_limit_is_accepted(module_server, client, channel, otlp_http, baseline):
    for send in ("grpc", "http"):
        request = _request_of_size(LIMIT - 2000)
        assert request.ByteSize() < LIMIT
        if send == "grpc":
            grpc_export(channel, request)
        else:
            assert http_export(otlp_http, "/v1/traces", request).status_code == 200
        trace_id = request.resource_spans[0].scope_spans[0].spans[0].trace_id
        journey = wait_for_journey(client, trace_id.hex(), 1)
        assert len(real_spans(journey)[0]["attributes"]["blob"]) == LIMIT - 2000


# --- invalid spans next to valid ones: partial success ------------------------------------------------------


def _mixed_request() -> tuple[ExportTraceServiceRequest, bytes, set[str], int]:
    """3 valid spans of one trace, and 8 invalid spans; returns (request, trace, valid span IDs, invalid count)."""
    trace_id = new_trace_id()
    request = simple_request(trace_id, 3, service="mixed")
    valid = span_ids_hex(request)
    spans = request.resource_spans[0].scope_spans[0].spans

    def bad(name: str, **fields) -> None:
        span = spans.add()
        span.trace_id = trace_id
        span.span_id = new_span_id()
        span.name = name
        span.start_time_unix_nano = 1_700_000_000_000_000_000
        span.end_time_unix_nano = 1_700_000_000_000_000_001
        for key, value in fields.items():
            setattr(span, key, value)

    bad("short-trace-id", trace_id=trace_id[:15])
    bad("long-trace-id", trace_id=trace_id + b"\x01")
    bad("zero-trace-id", trace_id=b"\x00" * 16)
    bad("empty-trace-id", trace_id=b"")
    bad("short-span-id", span_id=b"\x01" * 7)
    bad("zero-span-id", span_id=b"\x00" * 8)
    bad("bad-parent", parent_span_id=b"\x01\x02\x03\x04")
    bad("after-2262", start_time_unix_nano=2**63)
    # Interleave: a valid span after the invalid ones too.
    tail = spans.add()
    tail.CopyFrom(spans[0])
    tail.span_id = new_span_id()
    tail.name = "valid-after-invalid"
    valid.add(tail.span_id.hex())
    return request, trace_id, valid, 8


def _check_mixed(client, response: ExportTraceServiceResponse, trace_id: bytes, valid: set[str], invalid: int) -> None:
    assert response.partial_success.rejected_spans == invalid, response
    message = response.partial_success.error_message
    assert "trace_id" in message and "16 bytes" in message, message
    assert "short-trace-id" in message, message
    assert f"and {invalid - 5} more" in message, message
    journey = wait_for_span_ids(client, trace_id.hex(), valid)
    assert {s["span_id"] for s in real_spans(journey)} == valid
    assert not {s["name"] for s in journey["spans"]} & {"short-span-id", "zero-span-id", "bad-parent", "after-2262"}


def test_invalid_spans_are_refused_one_by_one_grpc(client, channel, baseline):
    request, trace_id, valid, invalid = _mixed_request()
    _check_mixed(client, grpc_export(channel, request), trace_id, valid, invalid)


def test_invalid_spans_are_refused_one_by_one_http_protobuf(client, otlp_http, baseline):
    request, trace_id, valid, invalid = _mixed_request()
    response = http_export(otlp_http, "/v1/traces", request)
    assert response.status_code == 200, response.text
    _check_mixed(client, ExportTraceServiceResponse.FromString(response.content), trace_id, valid, invalid)


def test_invalid_spans_are_refused_one_by_one_http_json(client, otlp_http, baseline):
    request, trace_id, valid, invalid = _mixed_request()
    document = otlp_json(request)
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    # JSON-only problems: IDs that are not hex at all.
    template = dict(spans[0])
    spans.append({**template, "name": "not-hex-trace", "traceId": "zz" * 16, "spanId": new_span_id().hex()})
    spans.append({**template, "name": "odd-hex-span", "spanId": "abc"})
    spans.append({**template, "name": "number-trace", "traceId": 12345, "spanId": new_span_id().hex()})
    spans.append({**template, "name": "bad-link", "spanId": new_span_id().hex(),
                  "links": [{"traceId": trace_id.hex(), "spanId": "not hex"}]})  # fmt: skip
    response = otlp_http.post("/v1/traces", json=document)
    assert response.status_code == 200, response.text
    parsed = json_format.Parse(response.content, ExportTraceServiceResponse())
    assert parsed.partial_success.rejected_spans == invalid + 4, parsed
    message = parsed.partial_success.error_message
    assert "not-hex-trace" in message and "not hex" in message, message
    journey = wait_for_span_ids(client, trace_id.hex(), valid)
    assert {s["span_id"] for s in real_spans(journey)} == valid


def test_request_of_only_invalid_spans(client, channel, otlp_http, baseline):
    trace_id = new_trace_id()
    request = simple_request(trace_id, 2)
    for span in request.resource_spans[0].scope_spans[0].spans:
        span.span_id = b"\x00" * 8
    response = grpc_export(channel, request)
    assert response.partial_success.rejected_spans == 2
    assert "span_id" in response.partial_success.error_message
    http_response = http_export(otlp_http, "/v1/traces", request)
    assert http_response.status_code == 200
    assert ExportTraceServiceResponse.FromString(http_response.content).partial_success.rejected_spans == 2
    assert client.get(f"/api/journeys/{trace_id.hex()}").status_code == 404


def test_empty_request_is_a_plain_success(channel, otlp_http, baseline):
    response = grpc_export(channel, ExportTraceServiceRequest())
    assert not response.HasField("partial_success")
    http_response = http_export(otlp_http, "/v1/traces", b"")
    assert http_response.status_code == 200, http_response.text
    assert not ExportTraceServiceResponse.FromString(http_response.content).HasField("partial_success")


# --- afterwards --------------------------------------------------------------------------------------------


def test_server_still_serves_and_earlier_data_is_intact(module_server, client, channel, otlp_http, baseline):
    """Runs last in this module: after all of the above, the process is up, answers, and lost nothing."""
    assert module_server.running
    assert client.get("/readyz").status_code == 200
    for trace_hex, span_ids in baseline.items():
        journey = client.get(f"/api/journeys/{trace_hex}").json()
        assert {s["span_id"] for s in real_spans(journey)} == span_ids
    trace_id = new_trace_id()
    request = simple_request(trace_id, 4)
    assert not grpc_export(channel, request).HasField("partial_success")
    wait_for_span_ids(client, trace_id.hex(), span_ids_hex(request))
