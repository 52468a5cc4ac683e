"""Customer phone numbers leave the receiving path as keyed hashes.

Runs before the write-ahead log, so by default a raw customer number never touches disk:
``cx.telephony.ani.number`` is replaced by ``cx.telephony.ani.hash`` (HMAC-SHA256, see
``journeytrace.phone``). The dialled number and a transfer target get a ``.hash`` twin beside
them, which is what the phone + time matcher compares.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from journeytrace import semconv
from journeytrace.phone import keyed_hash
from journeytrace.spans import SpanBatch
from journeytrace.values import to_otlp_json

_HASHED = (
    (semconv.CX_TELEPHONY_ANI_NUMBER, semconv.CX_TELEPHONY_ANI_HASH),
    (semconv.CX_TELEPHONY_DNIS_NUMBER, semconv.CX_TELEPHONY_DNIS_HASH),
    (semconv.CX_TRANSFER_TARGET, semconv.CX_TRANSFER_TARGET_HASH),
)


def _hash_attributes(attrs: dict[str, Any], key: bytes, keep_raw: bool, *, otlp_json: bool = False) -> bool:
    """Add the hash twins (and drop the raw customer number) in place; ``otlp_json`` when values
    are OTLP JSON AnyValues (the exact form kept in ``extra``)."""
    changed = False
    for raw_key, hash_key in _HASHED:
        value = attrs.get(raw_key)
        if otlp_json:
            value = value.get("stringValue") if isinstance(value, dict) else None
        if isinstance(value, str) and hash_key not in attrs:
            hashed = keyed_hash(key, value)
            if hashed is not None:
                attrs[hash_key] = to_otlp_json(hashed) if otlp_json else hashed
                changed = True
        if raw_key == semconv.CX_TELEPHONY_ANI_NUMBER and not keep_raw and raw_key in attrs:
            del attrs[raw_key]
            changed = True
    return changed


def protect_phone_numbers(batch: SpanBatch, key: bytes, *, keep_raw: bool) -> SpanBatch:
    """Hash phone numbers in ``batch`` (and drop raw customer numbers unless ``keep_raw``)."""
    table = batch.table
    phones = table.column("customer_phone")
    hashes = pa.array(
        [None if p is None else keyed_hash(key, p) for p in phones.to_pylist()] if phones.null_count < len(phones)
        else [None] * len(phones),
        pa.string(),
    )  # fmt: skip
    attributes = table.column("attributes")
    candidates = pc.or_(
        pc.match_substring(attributes, '"cx.telephony.'), pc.match_substring(attributes, '"cx.transfer.target"')
    )
    rows = pc.indices_nonzero(candidates).to_pylist()
    if rows:
        new_attributes = attributes.to_pylist()
        new_extra = table.column("extra").to_pylist()
        for i in rows:
            attrs = json.loads(new_attributes[i])
            if _hash_attributes(attrs, key, keep_raw):
                new_attributes[i] = json.dumps(attrs, separators=(",", ":"), ensure_ascii=False)
            if new_extra[i] and "attributes_exact" in new_extra[i]:
                extra = json.loads(new_extra[i])
                if _hash_attributes(extra["attributes_exact"], key, keep_raw, otlp_json=True):
                    new_extra[i] = json.dumps(extra, separators=(",", ":"))
        table = table.set_column(
            table.schema.get_field_index("attributes"), "attributes", pa.array(new_attributes, pa.string())
        )
        table = table.set_column(table.schema.get_field_index("extra"), "extra", pa.array(new_extra, pa.string()))
    customer_phone = table.schema.get_field_index("customer_phone")
    table = table.set_column(customer_phone, "customer_phone", pa.nulls(len(table), pa.string()))
    return SpanBatch(batch.tenant, table, journey_id=batch.journey_id, customer_phone_hash=hashes)
