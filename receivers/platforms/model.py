"""What every platform adapter produces: ``SpanDraft``s, turned into one OTLP request.

Adapters are pure functions from a platform's native payload to drafts; they never do I/O.
The endpoint (``http.py``) turns drafts into an ``ExportTraceServiceRequest`` and sends it
down the same path as OTLP, so adapter spans get the same validation, durability and
correlation as any other span.

IDs are deterministic: the trace ID comes from the platform and interaction ID, the span ID
from those plus the draft's ``key``. A re-delivered or updated record therefore produces the
same span IDs, and storage replaces the older version (``record_version``) instead of storing a
duplicate; an older version never overwrites a newer one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from journeytrace import semconv
from journeytrace.errors import InvalidInput
from journeytrace.values import to_proto

KIND = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
STATUS = {"unset": 0, "ok": 1, "error": 2}


class BadPayload(InvalidInput):
    """The body is not this platform's shape; the message names the missing or bad field."""


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    time_unix_nano: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanDraft:
    """One span of one platform interaction, before it has IDs."""

    platform: str
    """``cx.platform.name`` vocabulary: ``amazon_connect``, ``twilio``, ``genesys_cloud``, …"""
    interaction_id: str
    """The platform's own ID of the interaction (ContactId, CallSid, conversationId, …)."""
    key: str
    """Unique within the interaction and stable across re-deliveries (e.g. ``"contact"``, ``"queue"``,
    ``"turn-3"``): the span ID is derived from it."""
    name: str
    span_type: str | None
    """``cx.span.type``: telephony, ivr, ai_conversation, turn, queue, agent_interaction, handoff, …"""
    start_unix_nano: int
    end_unix_nano: int
    attributes: dict[str, Any] = field(default_factory=dict)
    parent_key: str | None = None
    """``key`` of the parent span in the same interaction; None for the interaction's root."""
    kind: str = "internal"
    status: str = "unset"
    status_message: str = ""
    events: list[Event] = field(default_factory=list)
    record_version: int | None = None
    """Newer versions of the same span replace older ones (e.g. Connect ``LastUpdateTimestamp`` in ns)."""
    service_name: str | None = None
    """``service.name``; defaults to the platform name with dashes."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """An adapter's answer: the spans, and how many payload items it skipped as unknown."""

    spans: list[SpanDraft]
    ignored: int = 0
    notes: tuple[str, ...] = ()


def interaction_trace_id(platform: str, interaction_id: str) -> bytes:
    """The trace ID adapter spans of one interaction are sent with (the correlator rewrites it)."""
    return hashlib.sha256(f"cx-interaction:{platform}:{interaction_id}".encode()).digest()[:16]


def draft_span_id(platform: str, interaction_id: str, key: str) -> bytes:
    return hashlib.sha256(f"cx-span:{platform}:{interaction_id}:{key}".encode()).digest()[:8]


def to_request(drafts: list[SpanDraft]) -> ExportTraceServiceRequest:
    """One OTLP request holding ``drafts``, one resource per (service, platform)."""
    request = ExportTraceServiceRequest()
    scopes: dict[tuple[str, str], Any] = {}
    for draft in drafts:
        if draft.end_unix_nano < draft.start_unix_nano:
            raise BadPayload(f"{draft.platform} {draft.interaction_id}: span {draft.key!r} ends before it starts")
        service = draft.service_name or draft.platform.replace("_", "-")
        scope = scopes.get((service, draft.platform))
        if scope is None:
            resource_spans = request.resource_spans.add()
            for key, value in ((semconv.SERVICE_NAME, service), (semconv.CX_PLATFORM_NAME, draft.platform)):
                kv = resource_spans.resource.attributes.add()
                kv.key, kv.value.string_value = key, value
            scope = scopes[(service, draft.platform)] = resource_spans.scope_spans.add()
            scope.scope.name = "journeytrace.receivers.platforms"
        span: Span = scope.spans.add()
        span.trace_id = interaction_trace_id(draft.platform, draft.interaction_id)
        span.span_id = draft_span_id(draft.platform, draft.interaction_id, draft.key)
        if draft.parent_key is not None:
            span.parent_span_id = draft_span_id(draft.platform, draft.interaction_id, draft.parent_key)
        span.name = draft.name
        span.kind = KIND[draft.kind]
        span.start_time_unix_nano = draft.start_unix_nano
        span.end_time_unix_nano = draft.end_unix_nano
        span.status.code = STATUS[draft.status]  # type: ignore[assignment]
        span.status.message = draft.status_message
        attributes: dict[str, Any] = {
            semconv.CX_PLATFORM_NAME: draft.platform,
            semconv.CX_PLATFORM_INTERACTION_ID: draft.interaction_id,
        }
        if draft.span_type:
            attributes[semconv.CX_SPAN_TYPE] = draft.span_type
        if draft.record_version is not None:
            attributes[semconv.CX_RECORD_VERSION] = draft.record_version
        attributes.update(draft.attributes)
        for key, value in attributes.items():
            if value is None or value == "" or value == [] or value == {}:
                continue  # absent optional fields are absent, not empty
            kv = span.attributes.add()
            kv.key = key
            to_proto(value, kv.value)
        for event in draft.events:
            e = span.events.add()
            e.name, e.time_unix_nano = event.name, event.time_unix_nano
            for key, value in event.attributes.items():
                if value is None:
                    continue
                kv = e.attributes.add()
                kv.key = key
                to_proto(value, kv.value)
    _ = Status  # the enum values above are Status.StatusCode numbers
    return request
