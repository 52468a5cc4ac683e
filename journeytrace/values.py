"""OTLP ``AnyValue`` <-> Python values <-> JSON, without losing a type.

Attributes are stored as plain JSON objects (``{"http.status_code": 200}``) because that is
what SQL and the read APIs search. Plain JSON cannot hold bytes or non-finite doubles; for the
rare value that has them, the OTLP JSON form (``{"bytesValue": "..."}``) is kept as well, so
reading it back gives exactly what was sent.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

_encoder = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def from_proto(value: AnyValue) -> Any:
    """The Python value of an AnyValue: str, bool, int, float, bytes, list, dict or None."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [from_proto(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: from_proto(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value
    return None


def attributes_from_proto(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    """A ``repeated KeyValue`` as a dict; for a duplicated key the last value wins."""
    return {kv.key: from_proto(kv.value) for kv in kvs}


def to_proto(value: Any, out: AnyValue) -> None:
    """Fill ``out`` with the AnyValue for a Python value (the inverse of ``from_proto``)."""
    if isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, list):
        array = out.array_value
        array.SetInParent()
        for item in value:
            to_proto(item, array.values.add())
    elif isinstance(value, dict):
        kvlist = out.kvlist_value
        kvlist.SetInParent()
        for key, item in value.items():
            kv = kvlist.values.add()
            kv.key = key
            to_proto(item, kv.value)


def to_otlp_json(value: Any) -> dict[str, Any]:
    """The OTLP JSON encoding of a Python value (int64 as a string, bytes as base64)."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return {"arrayValue": {"values": [to_otlp_json(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": to_otlp_json(v)} for k, v in value.items()]}}
    return {}


def from_otlp_json(value: dict[str, Any]) -> Any:
    """The Python value of an OTLP JSON AnyValue (the inverse of ``to_otlp_json``)."""
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    if "arrayValue" in value:
        return [from_otlp_json(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {kv["key"]: from_otlp_json(kv.get("value", {})) for kv in value["kvlistValue"].get("values", [])}
    return None


def json_safe(value: Any) -> Any:
    """``value`` with bytes as base64 strings and non-finite doubles as "NaN"/"Infinity"/"-Infinity"."""
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return to_otlp_json(value)["doubleValue"]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def dumps(value: Any) -> tuple[str, bool]:
    """Compact JSON for ``value`` and whether it is exact.

    Bytes become base64 strings and non-finite doubles become "NaN"/"Infinity" strings; in
    that case the second item is False and the caller keeps ``to_otlp_json`` alongside.
    """
    try:
        return _encoder.encode(value), True
    except (TypeError, ValueError):
        return _encoder.encode(_plain(value)), False
