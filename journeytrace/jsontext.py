"""JSON documents as exports and streams write them: one value, JSON lines, or values simply
concatenated (Kinesis Firehose writes Connect contact records to S3 with no separator)."""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()


def documents(text: str) -> list[tuple[int, Any]]:
    """Every top-level JSON value in ``text`` with the line it starts on.

    Raises ``ValueError`` naming the line and column of the first value that is not JSON.
    """
    values = []
    position, length = 0, len(text)
    while True:
        while position < length and text[position].isspace():
            position += 1
        if position >= length:
            return values
        try:
            value, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        values.append((text.count("\n", 0, position) + 1, value))
        position = end
