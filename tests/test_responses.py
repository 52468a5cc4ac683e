"""``query.responses.dumps``: orjson for every answer, ``json`` for what orjson refuses, and the same
JSON either way (non-finite numbers become null, which JSON can spell)."""

from __future__ import annotations

import json
from typing import Any

from journeytrace.query import jaeger_model, tempo_trace
from journeytrace.query.responses import dumps, identity


def test_values_orjson_refuses_fall_back_to_the_same_json() -> None:
    body = {"big": 2**70, "spans": [{"ratio": 1.5, "name": "ivr ☎"}], "missing": float("nan")}
    assert json.loads(dumps(body)) == {"big": 2**70, "spans": [{"ratio": 1.5, "name": "ivr ☎"}], "missing": None}
    assert json.loads(dumps(body, pretty=True)) == json.loads(dumps(body))
    assert b"\n  " in dumps(body, pretty=True)


def test_non_finite_numbers_are_null_on_both_paths() -> None:
    assert dumps({"x": float("nan"), "y": float("-inf")}) == b'{"x":null,"y":null}'
    assert json.loads(dumps({"x": float("inf"), "big": 2**64})) == {"x": None, "big": 2**64}


def test_identity_ignores_key_order_and_takes_what_orjson_refuses() -> None:
    """The renderers group spans by ``identity`` of their resource, scope and process: the same
    value in any key order is one group, a different value another, and an integer beyond 64 bits
    (which orjson refuses) is a key like any other rather than an error."""
    assert identity({"a": 1, "b": [1, {"y": 2, "x": 3}]}) == identity({"b": [1, {"x": 3, "y": 2}], "a": 1})
    assert identity({"a": 1}) != identity({"a": 2})
    big = {"service.name": "genesys-cloud", "conversation.number": 2**70}
    assert identity(big) == identity(dict(reversed(big.items())))
    assert identity(big) != identity({**big, "conversation.number": 2**70 + 1})


def test_both_trace_renderers_group_a_resource_with_a_big_integer() -> None:
    """Two spans whose resource is the same in a different key order are one resource in Jaeger v1,
    Jaeger v3 (OTLP JSON) and Tempo protobuf; in the JSON renderers an integer beyond 64 bits in it
    too (protobuf has no such integer)."""

    def journey(resource: dict[str, Any]) -> dict[str, Any]:
        spans = [{
            "trace_id": "ab" * 16, "span_id": f"{n:016x}", "parent_span_id": None, "name": f"phase {n}",
            "kind": "SPAN_KIND_INTERNAL", "start_unix_nano": n * 10**9, "end_unix_nano": n * 10**9 + 5,
            "status_code": "STATUS_CODE_UNSET", "status_message": "", "service_name": "genesys-cloud",
            "attributes": {}, "events": [], "links": [], "scope": {"name": "journeytrace", "version": "1"},
            "resource_attributes": dict(reversed(resource.items())) if n == 2 else resource,
        } for n in (1, 2)]  # fmt: skip
        return {"journey_id": "ab" * 16, "spans": spans}

    big = journey({"deployment.id": 2**70, "service.name": "genesys-cloud"})
    assert len(jaeger_model.v1_trace(big)["processes"]) == 1
    assert len(jaeger_model.otlp_resource_spans(big)) == 1
    assert len(tempo_trace.traces_data(journey({"deployment.id": 7, "service.name": "genesys-cloud"})).resource_spans) == 1
