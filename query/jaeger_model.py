"""A journey (``storage.reads.journey``) in Jaeger's shapes: the v1 trace JSON (viewer-apis.md
§1.4), OTLP JSON for API v3 and the v3 ``TraceSummary`` (§1.5).

Each service + resource of the journey becomes one process, so the legs show as services;
the synthetic journey root and handoff spans are kept, so the journey's shape shows too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from journeytrace.query.responses import identity
from journeytrace.storage.reads import SPAN_KINDS, STATUS_CODES
from journeytrace.storage.search import SPAN_KIND_NAMES
from journeytrace.values import to_otlp_json

_MAX_SAFE_INT = 2**53 - 1
_EMPTY_TRACE_ID = "0" * 32


def _number(names: tuple[str, ...], value: str | int) -> int:
    """An enum's number from the name ``storage.reads`` gives it (or the number it keeps when unknown)."""
    return value if isinstance(value, int) else names.index(value)


def v1_trace_id(hex32: str) -> str:
    """Jaeger's rendering: 16 hex digits when the high 64 bits are zero, else 32."""
    return hex32[16:] if hex32.startswith("0" * 16) else hex32


def _key_value(key: str, value: Any) -> dict[str, Any]:
    """A typed v1 KeyValue; maps and arrays become their JSON text, as Jaeger's translator does."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {
            "key": key,
            "type": "int64",
            "value": value if abs(value) <= _MAX_SAFE_INT else str(value),
        }
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    return {
        "key": key,
        "type": "string",
        "value": json.dumps(value, separators=(",", ":"), ensure_ascii=False),
    }


def _key_values(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [_key_value(k, v) for k, v in attributes.items() if v is not None]


def _span_tags(span: dict[str, Any]) -> list[dict[str, Any]]:
    """Tags in the order of OTel's Jaeger translator: scope, attributes, kind, status, trace state."""
    scope = span.get("scope") or {}
    tags = [_key_value(k, scope[f]) for k, f in (("otel.scope.name", "name"), ("otel.scope.version", "version"))
            if scope.get(f)]  # fmt: skip
    tags += _key_values(span["attributes"])
    kind = _number(SPAN_KINDS, span["kind"])
    if 0 < kind < len(SPAN_KIND_NAMES):
        tags.append(_key_value("span.kind", SPAN_KIND_NAMES[kind]))
    status = _number(STATUS_CODES, span["status_code"])
    if status == 1:
        tags.append(_key_value("otel.status_code", "OK"))
    elif status == 2:
        tags += [_key_value("otel.status_code", "ERROR"), _key_value("error", True)]
    if span.get("status_message"):
        tags.append(_key_value("otel.status_description", span["status_message"]))
    if span.get("trace_state"):
        tags.append(_key_value("w3c.tracestate", span["trace_state"]))
    return tags


def _logs(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    logs = []
    for event in events:
        attributes = event.get("attributes") or {}
        fields = _key_values(attributes)
        if "event" not in attributes:
            fields.insert(0, _key_value("event", event.get("name", "")))
        logs.append({"timestamp": event.get("time_unix_nano", 0) // 1000, "fields": fields})
    return logs


def _references(span: dict[str, Any], trace_id: str) -> tuple[list[dict[str, Any]], list[str] | None]:
    """Parent first (CHILD_OF), then one per link (FOLLOWS_FROM unless the link says child_of);
    a link to the parent only changes the parent's type; links without a trace ID are dropped
    with a span warning, as Jaeger's adjuster does."""
    references: list[dict[str, Any]] = []
    parent = span.get("parent_span_id")
    if parent:
        references.append({"refType": "CHILD_OF", "traceID": v1_trace_id(trace_id), "spanID": parent})
    warnings = None
    for link in span.get("links") or ():
        linked = (link.get("trace_id") or "").lower()
        if not linked or linked == _EMPTY_TRACE_ID:
            warnings = ["Invalid span link removed"]
            continue
        child_of = (link.get("attributes") or {}).get("opentracing.ref_type") == "child_of"
        if parent and link.get("span_id") == parent and linked == trace_id:
            references[0]["refType"] = "CHILD_OF" if child_of else "FOLLOWS_FROM"
            continue
        references.append({"refType": "CHILD_OF" if child_of else "FOLLOWS_FROM", "traceID": v1_trace_id(linked),
                           "spanID": link.get("span_id", "")})  # fmt: skip
    return references, warnings


def _process(span: dict[str, Any]) -> dict[str, Any]:
    resource = {k: v for k, v in (span.get("resource_attributes") or {}).items() if k != "service.name"}
    return {"serviceName": span["service_name"], "tags": _key_values(resource)}


def v1_trace(journey: dict[str, Any]) -> dict[str, Any]:
    """The journey as one Jaeger v1 trace: µs times, processes ``p1``, ``p2``… in order of first
    appearance (identical service + tags share one), every span under the journey's trace ID."""
    trace_id = journey["journey_id"]
    processes: dict[str, dict[str, Any]] = {}
    process_ids: dict[bytes, str] = {}
    spans = []
    for span in journey["spans"]:
        process = _process(span)
        key = identity(process)
        if key not in process_ids:
            process_ids[key] = f"p{len(process_ids) + 1}"
            processes[process_ids[key]] = process
        references, warnings = _references(span, trace_id)
        converted: dict[str, Any] = {
            "traceID": v1_trace_id(trace_id),
            "spanID": span["span_id"],
            "operationName": span["name"],
            "references": references,
            "startTime": span["start_unix_nano"] // 1000,
            "duration": max(0, span["end_unix_nano"] - span["start_unix_nano"]) // 1000,
            "tags": _span_tags(span),
            "logs": _logs(span.get("events") or ()),
            "processID": process_ids[key],
            "warnings": warnings,
        }
        if span.get("flags"):
            converted["flags"] = span["flags"] & 0xFF
        spans.append(converted)
    return {
        "traceID": v1_trace_id(trace_id),
        "spans": spans,
        "processes": processes,
        "warnings": None,
    }


def _otlp_attributes(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": to_otlp_json(v)} for k, v in attributes.items() if v is not None]


def _otlp_span(span: dict[str, Any], trace_id: str) -> dict[str, Any]:
    """One span in OTLP JSON as Jaeger's v3 API writes it: hex IDs, enums as numbers, 64-bit
    times as decimal strings, zero values left out."""
    out: dict[str, Any] = {"traceId": trace_id, "spanId": span["span_id"]}
    if span.get("parent_span_id"):
        out["parentSpanId"] = span["parent_span_id"]
    if span.get("trace_state"):
        out["traceState"] = span["trace_state"]
    if span.get("flags"):
        out["flags"] = span["flags"]
    out["name"] = span["name"]
    kind = _number(SPAN_KINDS, span["kind"])
    if kind:
        out["kind"] = kind
    out["startTimeUnixNano"] = str(span["start_unix_nano"])
    out["endTimeUnixNano"] = str(span["end_unix_nano"])
    if span["attributes"]:
        out["attributes"] = _otlp_attributes(span["attributes"])
    events = [
        {"timeUnixNano": str(e.get("time_unix_nano", 0)), "name": e.get("name", ""),
         **({"attributes": _otlp_attributes(e["attributes"])} if e.get("attributes") else {})}
        for e in span.get("events") or ()
    ]  # fmt: skip
    if events:
        out["events"] = events
    links = [
        {"traceId": link.get("trace_id", ""), "spanId": link.get("span_id", ""),
         **({"attributes": _otlp_attributes(link["attributes"])} if link.get("attributes") else {})}
        for link in span.get("links") or ()
    ]  # fmt: skip
    if links:
        out["links"] = links
    code = _number(STATUS_CODES, span["status_code"])
    status = {**({"message": span["status_message"]} if span.get("status_message") else {}),
              **({"code": code} if code else {})}  # fmt: skip
    if status:
        out["status"] = status
    return out


def otlp_resource_spans(journey: dict[str, Any]) -> list[dict[str, Any]]:
    """The journey's spans as OTLP ``resourceSpans``: one per service + resource, one scope
    entry per instrumentation scope within it, both in order of first appearance."""
    grouped: dict[bytes, dict[str, Any]] = {}
    for span in journey["spans"]:
        resource = {
            "service.name": span["service_name"],
            **(span.get("resource_attributes") or {}),
        }
        resource_key = identity(resource)
        if resource_key not in grouped:
            grouped[resource_key] = {
                "resource": {"attributes": _otlp_attributes(resource)},
                "scopes": {},
            }
        scope = span.get("scope") or {}
        scope_json = {k: scope[k] for k in ("name", "version") if scope.get(k)}
        scopes = grouped[resource_key]["scopes"]
        scope_key = identity(scope_json)
        if scope_key not in scopes:
            scopes[scope_key] = {"scope": scope_json, "spans": []}
        scopes[scope_key]["spans"].append(_otlp_span(span, journey["journey_id"]))
    return [{"resource": g["resource"], "scopeSpans": list(g["scopes"].values())} for g in grouped.values()]


def trace_summary(journey: dict[str, Any]) -> dict[str, Any]:
    """The v3 ``TraceSummary``: root = the earliest-starting span without a parent."""
    spans = journey["spans"]
    ids = {s["span_id"] for s in spans}
    roots = [s for s in spans if not s.get("parent_span_id")]
    root = min(roots or spans, key=lambda s: (s["start_unix_nano"], s["span_id"]))
    per_service: dict[str, list[int]] = {}
    errors = 0
    for span in spans:
        failed = _number(STATUS_CODES, span["status_code"]) == 2
        errors += failed
        counts = per_service.setdefault(span["service_name"], [0, 0])
        counts[0] += 1
        counts[1] += failed
    return {
        "traceId": journey["journey_id"],
        "rootServiceName": root["service_name"],
        "rootOperationName": root["name"],
        "minStartTimeUnixNano": str(min(s["start_unix_nano"] for s in spans)),
        "maxEndTimeUnixNano": str(max(s["end_unix_nano"] for s in spans)),
        "spanCount": len(spans),
        "errorSpanCount": errors,
        "orphanSpanCount": sum(1 for s in spans if s.get("parent_span_id") and s["parent_span_id"] not in ids),
        "services": [
            {"name": name, "spanCount": n, "errorSpanCount": e} for name, (n, e) in sorted(per_service.items())
        ],
    }
