"""Amazon Connect flow logs → ``ivr`` spans (a helper of ``amazon_connect``; no ``ADAPTER`` here).

Connect writes one CloudWatch log entry per flow block it runs (``ContactId``, ``ContactFlowId``,
``ContactFlowName``, ``ContactFlowModuleType``, ``Timestamp`` with milliseconds). Per contact,
consecutive entries of the same flow become one ``ivr`` span (from its first block to the first
block of the next flow, or to its own last block), child of the contact's root span (key
``contact``), with every block as a ``cx.ivr.block`` event naming only its block type: block
parameters and results can hold customer data, so they are not copied.

The span key is the flow and the time of its first block, stable across re-deliveries; its
``record_version`` is the latest block time the payload knew for the contact, so a delivery that saw
more of the flow replaces one that saw less. A flow whose entries are split across deliveries at a
flow boundary's first block shows as one span per delivery.

Entries arrive as plain objects or inside a CloudWatch Logs subscription message, either decoded
(``logEvents[].message`` holding the entry as JSON) or as delivered to a subscriber
(``awslogs.data``: base64 of gzip of that message).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from journeytrace import semconv
from journeytrace.receivers.platforms import times
from journeytrace.receivers.platforms.model import BadPayload, Event, SpanDraft
from journeytrace.receivers.platforms.payloads import as_list, get, require

PLATFORM = "amazon_connect"

# Platform-native attributes (docs/semantic-conventions.md, "Platform-native attributes").
AWS_CONNECT_FLOW_BLOCK_TYPE = "aws.connect.flow.block_type"
"""On a ``cx.ivr.block`` event: the flow block's ``ContactFlowModuleType`` (``GetUserInput``, …)."""
BLOCK_EVENT = "cx.ivr.block"


def subscription_entries(message: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], int]:
    """The flow-log entries of one CloudWatch Logs subscription message, and how many log events
    were skipped (control messages, lines that are not JSON objects)."""
    encoded = get(message, "awslogs.data")
    if encoded is not None:
        message = _decode_awslogs(encoded)
    if str(get(message, "messageType", "DATA_MESSAGE")).upper() != "DATA_MESSAGE":
        return [], 1
    entries: list[Mapping[str, Any]] = []
    skipped = 0
    for event in as_list(get(message, "logEvents")):
        try:
            entry = json.loads(str(get(event, "message", "")))
        except json.JSONDecodeError:
            entry = None
        if isinstance(entry, Mapping) and get(entry, "ContactId") is not None:
            entries.append(entry)
        else:
            skipped += 1
    return entries, skipped


def _decode_awslogs(encoded: Any) -> Mapping[str, Any]:
    try:
        decoded = json.loads(gzip.decompress(base64.b64decode(str(encoded), validate=True)))
    except (binascii.Error, OSError, EOFError, ValueError):
        raise BadPayload("awslogs.data is not base64-encoded gzip JSON") from None
    if not isinstance(decoded, Mapping):
        raise BadPayload("awslogs.data must hold a JSON object")
    return decoded


@dataclass(frozen=True, slots=True)
class Block:
    at: int
    flow_id: str | None
    flow_name: str | None
    block_type: str | None


def _text(entry: Mapping[str, Any], path: str) -> str | None:
    value = get(entry, path)
    return None if value is None or value == "" else str(value)


def _block(entry: Mapping[str, Any]) -> tuple[str, Block]:
    contact_id = str(require(entry, "ContactId", "flow log entry"))
    at = times.any_time(require(entry, "Timestamp", f"flow log entry of {contact_id}"), field="Timestamp")
    return contact_id, Block(at, _text(entry, "ContactFlowId"), _text(entry, "ContactFlowName"),
                             _text(entry, "ContactFlowModuleType"))  # fmt: skip


def flow_spans(entries: list[Mapping[str, Any]]) -> list[SpanDraft]:
    """One ``ivr`` span per run of consecutive entries of one flow, per contact."""
    by_contact: dict[str, list[Block]] = {}
    for entry in entries:
        contact_id, block = _block(entry)
        by_contact.setdefault(contact_id, []).append(block)
    spans: list[SpanDraft] = []
    for contact_id, blocks in by_contact.items():
        blocks.sort(key=lambda b: (b.at, b.block_type or ""))
        runs: list[list[Block]] = []
        for block in blocks:
            if runs and runs[-1][-1].flow_id == block.flow_id:
                runs[-1].append(block)
            else:
                runs.append([block])
        for run, following in zip(runs, [*runs[1:], None], strict=True):
            spans.append(_flow_span(contact_id, run, following[0].at if following else None, blocks[-1].at))
    return spans


def _flow_span(contact_id: str, run: list[Block], next_start: int | None, version: int) -> SpanDraft:
    first = run[0]
    flow_id = first.flow_id.rsplit("/", 1)[-1] if first.flow_id else None
    attributes = {
        semconv.CX_IVR_FLOW_ID: flow_id,
        semconv.CX_IVR_FLOW_NAME: next((b.flow_name for b in run if b.flow_name), None),
    }
    return SpanDraft(
        platform=PLATFORM,
        interaction_id=contact_id,
        key=f"flow:{flow_id or '-'}:{first.at}",
        name=f"ivr {PLATFORM}",
        span_type="ivr",
        start_unix_nano=first.at,
        end_unix_nano=next_start if next_start is not None else run[-1].at,
        parent_key="contact",
        attributes={k: v for k, v in attributes.items() if v is not None},
        events=[
            Event(BLOCK_EVENT, b.at, {AWS_CONNECT_FLOW_BLOCK_TYPE: b.block_type} if b.block_type else {}) for b in run
        ],
        record_version=version,
    )
