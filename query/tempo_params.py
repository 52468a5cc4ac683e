"""Parameters of the Tempo API, parsed the way Tempo parses them (grafana/tempo ``pkg/api/http.go``).

Each failure raises ``BadParameter`` with the message the 400 answer carries.
"""

from __future__ import annotations

import re

from journeytrace.query import params
from journeytrace.query.params import BadParameter

_HEX = re.compile(r"[0-9a-fA-F]+")
_UINT32_MAX = 2**32 - 1


def trace_id(value: str) -> str:
    """32 lowercase hex digits from 1-32 hex digits: Tempo left-pads short IDs with zeros, so
    ``abc`` and ``00…0abc`` name the same trace (``pkg/util/traceid.go``)."""
    if not _HEX.fullmatch(value) or len(value) > 32:
        raise BadParameter(f"trace ID {value[:64]!r} is not 1 to 32 hex digits")
    return value.lower().rjust(32, "0")


def go_duration(name: str, value: str) -> int:
    """Nanoseconds from a Go duration string (``1h30m``, ``1.5s``, ``250ms``, ``0``); must be ≥ 0."""
    if value.strip().startswith("-"):
        raise BadParameter(f"invalid {name}: {value[:64]!r} is negative")
    return params.go_duration(name, value)


def positive_int(name: str, value: str | None, default: int, *, allow_zero: bool = False) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or (int(value) == 0 and not allow_zero):
        floor = "a non-negative" if allow_zero else "a positive"
        raise BadParameter(f"invalid {name}: {value[:32]!r} must be {floor} integer")
    return int(value)


def time_range(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """Unix seconds to nanoseconds; both absent (or 0) means no time bound, otherwise end > start."""
    seconds = []
    for name, value in (("start", start), ("end", end)):
        if value in (None, ""):
            seconds.append(0)
        elif not value.isdigit() or int(value) > _UINT32_MAX:
            raise BadParameter(f"invalid {name}: {value[:32]!r} must be unix seconds")
        else:
            seconds.append(int(value))
    first, last = seconds
    if first == 0 and last == 0:
        return None, None
    if last <= first:
        raise BadParameter("http parameter start must be before end")
    return first * 10**9, last * 10**9


_LOGFMT_PAIR = re.compile(r'\s*([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_UNQUOTE = re.compile(r"\\(.)")


def logfmt(text: str) -> dict[str, str]:
    """``k=v k2="v 2"`` as a dict; a duplicated key or anything that is not a pair is an error."""
    pairs: dict[str, str] = {}
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _LOGFMT_PAIR.match(text, position)
        if match is None:
            raise BadParameter(f"invalid tags: cannot read logfmt at character {position + 1}")
        key, raw = match.groups()
        if key in pairs:
            raise BadParameter(f"invalid tags: duplicate tag {key!r}")
        pairs[key] = _UNQUOTE.sub(r"\1", raw[1:-1]) if raw.startswith('"') else raw
        position = match.end()
    return pairs


_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def _traceql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def tags_query(tags: dict[str, str]) -> str:
    """The TraceQL equivalent of legacy ``tags`` search: each value a case-insensitive substring
    of the span or resource attribute (``name`` is the span name), all on the same span."""
    conditions = []
    for key, value in tags.items():
        pattern = "(?i).*" + _RE2_SPECIAL.sub(r"\\\1", value) + ".*"
        field = "name" if key == "name" else "." + (key if re.fullmatch(r"[\w.\-/:]+", key) else _traceql_string(key))
        conditions.append(f"{field} =~ {_traceql_string(pattern)}")
    return "{ " + " && ".join(conditions) + " }" if conditions else "{}"
