"""``query.responses.dumps``: orjson for every answer, ``json`` for what orjson refuses, and the same
JSON either way (non-finite numbers become null, which JSON can spell)."""

from __future__ import annotations

import json

from journeytrace.query.responses import dumps


def test_values_orjson_refuses_fall_back_to_the_same_json() -> None:
    body = {"big": 2**70, "spans": [{"ratio": 1.5, "name": "ivr ☎"}], "missing": float("nan")}
    assert json.loads(dumps(body)) == {"big": 2**70, "spans": [{"ratio": 1.5, "name": "ivr ☎"}], "missing": None}
    assert json.loads(dumps(body, pretty=True)) == json.loads(dumps(body))
    assert b"\n  " in dumps(body, pretty=True)


def test_non_finite_numbers_are_null_on_both_paths() -> None:
    assert dumps({"x": float("nan"), "y": float("-inf")}) == b'{"x":null,"y":null}'
    assert json.loads(dumps({"x": float("inf"), "big": 2**64})) == {"x": None, "big": 2**64}
