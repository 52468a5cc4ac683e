"""Customer phone numbers leave the receiving path as keyed hashes.

Runs before the write-ahead log, so by default a raw customer number never touches disk. The
decoder has already taken a string ``cx.telephony.ani.number`` out of the attributes JSON into
the batch's ``customer_phone`` column; here that column is replaced by the number's keyed hash
(HMAC-SHA256, ``journeytrace.phone``), which storage keeps in ``customer_phone_hash`` and the
read APIs show as ``cx.telephony.ani.hash``. The raw number goes back into the JSON only with
``store_raw_phone_numbers``. The common case parses no JSON at all. The dialled number and a
transfer target (rarer) get a ``.hash`` twin beside them, which the phone + time matcher
compares.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from journeytrace import semconv
from journeytrace.phone import keyed_hash
from journeytrace.spans import SpanBatch
from journeytrace.values import to_otlp_json

_TWINNED = (
    (semconv.CX_TELEPHONY_DNIS_NUMBER, semconv.CX_TELEPHONY_DNIS_HASH),
    (semconv.CX_TRANSFER_TARGET, semconv.CX_TRANSFER_TARGET_HASH),
)
_ANI = (semconv.CX_TELEPHONY_ANI_NUMBER, semconv.CX_TELEPHONY_ANI_HASH)


def _hash_twins(attrs: dict[str, Any], key: bytes, keep_raw: bool, pairs: tuple[tuple[str, str], ...],
                *, otlp_json: bool = False) -> bool:  # fmt: skip
    """Add ``.hash`` twins (and drop a raw customer number) in place; ``otlp_json`` when the
    values are OTLP JSON AnyValues (the exact form kept in ``extra``)."""
    changed = False
    for raw_key, hash_key in pairs:
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


_cached_hash = functools.lru_cache(maxsize=65536)(keyed_hash)  # callers ring more than once
_SLOW_PATTERN = r'"cx\.(telephony\.(dnis|ani)\.number|transfer\.target)"'




def protect_phone_numbers(batch: SpanBatch, key: bytes, *, keep_raw: bool) -> SpanBatch:
    """Hash phone numbers in ``batch``; the raw customer number survives only with ``keep_raw``.

    Runs on the receiving path for every request, so it makes as few Arrow calls as it can and
    touches in Python only the rows that hold a number.
    """
    table = batch.table
    n = len(table)
    phones = table.column("customer_phone")
    attributes = table.column("attributes")
    extra = table.column("extra")
    # Rows the decoder could not fully clean: dialled numbers, transfer targets, customer numbers
    # that are not strings (left in the JSON), and spans whose exact attribute form is kept.
    slow_mask = pc.match_substring_regex(attributes, _SLOW_PATTERN)
    if extra.null_count < n:
        slow_mask = pc.or_(slow_mask, pc.fill_null(pc.match_substring(extra, '"attributes_exact"'), False))
    slow = pc.indices_nonzero(slow_mask).to_pylist() if pc.any(slow_mask).as_py() else []
    if phones.null_count == n and not slow:
        return replace(batch, table=table, customer_phone_hash=pa.nulls(n, pa.string()))

    hashes: list[str | None] = [None] * n
    new_attributes = attributes.to_pylist() if keep_raw or slow else None
    if phones.null_count < n:
        for i, number in enumerate(phones.to_pylist()):
            if number is None:
                continue
            hashes[i] = _cached_hash(key, number)
            if keep_raw and new_attributes is not None:  # opted in: the number goes back as it came
                text = new_attributes[i]
                member = f'"{semconv.CX_TELEPHONY_ANI_NUMBER}":{json.dumps(number, ensure_ascii=False)}'
                if f'"{semconv.CX_TELEPHONY_ANI_NUMBER}"' not in text:
                    new_attributes[i] = text[:-1] + ("," if text != "{}" else "") + member + "}"
    new_extra = extra.to_pylist() if slow else None
    for i in slow:
        assert new_attributes is not None
        attrs = json.loads(new_attributes[i])
        if _hash_twins(attrs, key, keep_raw, (_ANI, *_TWINNED)):
            new_attributes[i] = json.dumps(attrs, separators=(",", ":"), ensure_ascii=False)
        if new_extra and new_extra[i] and "attributes_exact" in new_extra[i]:
            fields = json.loads(new_extra[i])
            if _hash_twins(fields["attributes_exact"], key, keep_raw, (_ANI, *_TWINNED), otlp_json=True):
                new_extra[i] = json.dumps(fields, separators=(",", ":"))
    columns = {"customer_phone": pa.nulls(n, pa.string())}
    if new_attributes is not None:
        columns["attributes"] = pa.array(new_attributes, pa.string())
    if new_extra is not None:
        columns["extra"] = pa.array(new_extra, pa.string())
    table = pa.Table.from_arrays(
        [columns.get(name, table.column(name)) for name in table.schema.names], schema=table.schema
    )
    return replace(
        batch, table=table, customer_phone_hash=pa.array(hashes, pa.string())
    )
