"""TraceQL (Grafana Tempo's query language): a parser and a compiler to DuckDB SQL.

The subset is phases 1 and 2 of ``viewer-apis.md`` §3.5: spanset filters ``{ ... }`` with
``&&``, ``||``, ``!`` and parentheses; the eight comparison operators; scoped (``span.``,
``resource.``, ``event.``, ``link.``) and unscoped (``.x``) attributes; intrinsics and their
``span:``/``trace:`` forms; every literal kind; ``{A} && {B}`` and ``{A} || {B}``; and the
pipeline stages ``count()``, ``avg/min/max/sum(...)`` and ``select(...)``. ``with (...)`` hints
are parsed and ignored. Anything else is a ``TraceQLError`` naming what was expected, so the
HTTP layer can answer 400 with a useful message.

Semantics follow Tempo where journeys allow it:

* ``&&`` and ``||`` share one precedence level and associate to the left (Tempo's yacc grammar),
  so ``a || b && c`` is ``(a || b) && c``.
* Comparisons are type-strict: ``span.code = 200`` does not match the string ``"200"``; a number
  literal compares numerically with integer and float attributes alike; an absent attribute
  matches nothing but ``= nil``. An array attribute matches ``=``/``=~`` (and the orderings) when
  any element does, ``!=``/``!~`` when none does. ``=~`` is a fully anchored RE2 match.
* Unscoped ``.x`` is the span attribute ``x`` if the span has it, else the resource attribute.
* ``event.x``/``link.x`` and ``event:name``/``link:traceID``/``link:spanID`` match when any
  event (link) of the span matches.
* The journey is the trace. ``traceDuration``, ``trace:id`` and the search time range use the
  ``journeys`` table. The journey's root is its synthetic ``journey`` span, which is never stored
  and has no useful name, so ``rootName``/``rootServiceName`` are those of the journey's earliest
  stored span without a parent (the first contact), NULL if it has none.

The compiled SQL only ever holds ``?`` placeholders for values and attribute names: a query
cannot change the SQL text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal as TypingLiteral

import duckdb

from journeytrace import semconv
from journeytrace.storage.search import SpanBounds

# --------------------------------------------------------------------------------------- errors


class TraceQLError(ValueError):
    """A query that cannot be parsed or run; ``position`` is the 0-based character offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"parse error at {position}: {message}")
        self.message = message
        self.position = position


# ------------------------------------------------------------------------------------------ AST

LiteralType = TypingLiteral["string", "int", "float", "duration", "bool", "nil", "status", "kind"]
Scope = TypingLiteral["span", "resource", "event", "link", ""]


@dataclass(frozen=True, slots=True)
class Literal:
    """A static value. Durations are integer nanoseconds; status/kind keywords their names."""

    type: LiteralType
    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Attribute:
    """``span.x``, ``resource.x``, ``event.x``, ``link.x`` or unscoped ``.x`` (scope "")."""

    scope: Scope
    name: str


@dataclass(frozen=True, slots=True)
class Intrinsic:
    """An intrinsic by its canonical name (``span:name`` is ``name``, ``trace:duration`` is
    ``traceDuration``; forms without an unscoped alias keep their colon name, e.g. ``span:id``)."""

    name: str


Field = Attribute | Intrinsic
Operand = Field | Literal


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right``; when one side is a field it is ``left`` (the parser mirrors the operator)."""

    left: Operand
    op: str
    right: Operand


@dataclass(frozen=True, slots=True)
class Not:
    operand: FieldExpr


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: TypingLiteral["&&", "||"]
    left: FieldExpr
    right: FieldExpr


@dataclass(frozen=True, slots=True)
class Static:
    """``{ true }`` or ``{ false }``."""

    value: bool


FieldExpr = Comparison | Not | BoolOp | Static


@dataclass(frozen=True, slots=True)
class SpansetFilter:
    """``{ expr }``; ``expr`` None for ``{}``, which matches every span."""

    expr: FieldExpr | None


@dataclass(frozen=True, slots=True)
class SpansetOp:
    """``{A} && {B}``: traces with a span matching A and one matching B (both kinds returned);
    ``{A} || {B}``: the union."""

    op: TypingLiteral["&&", "||"]
    left: SpansetExpr
    right: SpansetExpr


SpansetExpr = SpansetFilter | SpansetOp


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``count() op N`` (``field`` None) or ``avg|min|max|sum(field) op N``: keeps the traces
    whose matched spans satisfy it."""

    function: TypingLiteral["count", "avg", "min", "max", "sum"]
    field: Field | None
    op: str
    value: Literal


@dataclass(frozen=True, slots=True)
class Select:
    """``select(a, b)``: report these values with every matched span."""

    fields: tuple[Field, ...]


Stage = Aggregate | Select


@dataclass(frozen=True, slots=True)
class Query:
    spansets: SpansetExpr
    pipeline: tuple[Stage, ...] = ()


# ------------------------------------------------------------------------------------- language

COMPARISONS = ("=", "!=", ">", ">=", "<", "<=", "=~", "!~")
_MIRROR = {"=": "=", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">=", "=~": "=~", "!~": "!~"}
# Longest first, so that "!=" is not read as "!" then "=". Structural and arithmetic operators
# are tokens only so that errors can name them.
_PUNCTUATION = (
    "!>>", "!<<", "&>>", "&<<", "&&", "||", "!=", "!~", "=~", ">=", "<=", ">>", "<<", "!>", "!<", "&>", "&<",
    "&~", "{", "}", "(", ")", ",", "|", "!", "=", ">", "<", "~", "+", "-", "*", "/", "%", "^",
)  # fmt: skip
_ATTRIBUTE_END = frozenset("{}()=~!<>&|^,")
STATUSES = {"unset": 0, "ok": 1, "error": 2}
KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_SCOPES = ("span", "resource", "event", "link")
_UNSUPPORTED_SCOPES = ("parent", "instrumentation")

_STRING_INTRINSICS = frozenset(
    ("name", "statusMessage", "rootName", "rootServiceName", "span:id", "span:parentID", "trace:id",
     "instrumentation:name", "instrumentation:version")
)  # fmt: skip
_LIST_INTRINSICS = frozenset(("event:name", "link:traceID", "link:spanID"))
"""String intrinsics with one value per event/link: they match when any value does."""
_DURATION_INTRINSICS = frozenset(("duration", "traceDuration"))
_ID_INTRINSICS = frozenset(("span:id", "span:parentID", "trace:id", "link:traceID", "link:spanID"))
INTRINSICS = frozenset(
    ("name", "status", "statusMessage", "kind", "duration", "traceDuration", "rootName", "rootServiceName")
)
_COLON_INTRINSICS = {
    "span:name": "name", "span:status": "status", "span:statusMessage": "statusMessage", "span:kind": "kind",
    "span:duration": "duration", "trace:duration": "traceDuration", "trace:rootName": "rootName",
    "trace:rootService": "rootServiceName",
    **{n: n for n in _STRING_INTRINSICS | _LIST_INTRINSICS if ":" in n},
}  # fmt: skip
_UNSUPPORTED_INTRINSICS = frozenset(
    ("childCount", "nestedSetLeft", "nestedSetRight", "nestedSetParent", "parent", "span:childCount",
     "event:timeSinceStart")
)  # fmt: skip
_UNSUPPORTED_STAGES = frozenset(
    ("by", "coalesce", "rate", "count_over_time", "quantile_over_time", "histogram_over_time")
)
_MAX_DEPTH = 64

# --------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TypingLiteral["punct", "ident", "string", "int", "float", "duration", "attribute", "colon", "end"]
    text: str
    """Source text (for messages and keyword matching)."""
    position: int
    value: object = None

    def describe(self) -> str:
        if self.kind == "end":
            return "end of query"
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return f"'{text}'"


_PROM_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?", re.ASCII
)
_PROM_UNITS = (365 * 86400 * 10**9, 7 * 86400 * 10**9, 86400 * 10**9, 3600 * 10**9, 60 * 10**9, 10**9, 10**6)
_GO_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_GO_UNITS = {
    "ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
}  # fmt: skip
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
"""Go's one-character string escapes, as bytes."""
_DURATION_RUNES = frozenset("nsumhµdwy.0123456789")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_DIGITS = frozenset("0123456789")


def parse_duration(text: str) -> int | None:
    """Nanoseconds of a TraceQL duration (Prometheus style first, then Go's), or None."""
    prom = _PROM_DURATION.fullmatch(text)
    if text and prom and any(prom.groups()):
        return sum(int(g) * unit for g, unit in zip(prom.groups(), _PROM_UNITS, strict=True) if g)
    total, position = Fraction(0), 0
    while position < len(text):
        part = _GO_PART.match(text, position)
        if part is None or part.group(1) in ("", "."):
            return None
        total += Fraction(part.group(1)) * _GO_UNITS[part.group(2)]
        position = part.end()
    return int(total) if position else None


def _is_attribute_rune(ch: str) -> bool:
    return not ch.isspace() and ch not in _ATTRIBUTE_END


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def error(self, message: str, position: int | None = None) -> TraceQLError:
        return TraceQLError(message, self.position if position is None else position)

    def tokens(self) -> list[_Token]:
        out = []
        while True:
            token = self._next()
            out.append(token)
            if token.kind == "end":
                return out

    def _next(self) -> _Token:
        text, n = self.text, len(self.text)
        while self.position < n and text[self.position].isspace():
            self.position += 1
        start = self.position
        if start >= n:
            return _Token("end", "", n)
        ch = text[start]
        if ch == '"':
            return self._string(start)
        if ch == "`":
            end = text.find("`", start + 1)
            if end < 0:
                raise self.error("expected '`' to close the string but found end of query", n)
            self.position = end + 1
            return _Token("string", text[start : end + 1], start, text[start + 1 : end])
        if ch in _DIGITS or (ch == "." and start + 1 < n and text[start + 1] in _DIGITS):
            return self._number(start)
        if ch == ".":
            self.position += 1
            return self._attribute("", start)
        if ch.isalpha() or ch == "_":
            end = start + 1
            while end < n and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[start:end]
            self.position = end
            if end < n and text[end] == "." and word in _SCOPES + _UNSUPPORTED_SCOPES:
                if word in _UNSUPPORTED_SCOPES:
                    raise self.error(f"{word}. attributes are not supported", start)
                self.position += 1
                return self._attribute(word, start)  # type: ignore[arg-type]
            if end < n and text[end] == ":" and word in ("span", "trace", "event", "link", "instrumentation"):
                stop = end + 1
                while stop < n and (text[stop].isalnum() or text[stop] == "_"):
                    stop += 1
                name = text[start:stop]
                self.position = stop
                if name in _UNSUPPORTED_INTRINSICS:
                    raise self.error(f"{name} is not supported", start)
                if name not in _COLON_INTRINSICS:
                    raise self.error(f"expected an intrinsic such as {word}:name but found '{name}'", start)
                return _Token("colon", name, start, _COLON_INTRINSICS[name])
            return _Token("ident", word, start)
        for punct in _PUNCTUATION:
            if text.startswith(punct, start):
                self.position += len(punct)
                return _Token("punct", punct, start)
        raise self.error(f"expected a value, field or operator but found '{ch}'", start)

    def _attribute(self, scope: Scope, start: int) -> _Token:
        text, n = self.text, len(self.text)
        parts: list[str] = []
        while self.position < n:
            ch = text[self.position]
            if ch == '"':
                parts.append(self._quoted_name())
            elif _is_attribute_rune(ch):
                parts.append(ch)
                self.position += 1
            else:
                break
        name = "".join(parts)
        if not name:
            prefix = f"{scope}." if scope else "."
            raise self.error(f"expected an attribute name after '{prefix}'")
        return _Token("attribute", text[start : self.position], start, Attribute(scope, name))

    def _quoted_name(self) -> str:
        """A quoted part of an attribute name: only ``\\"`` and ``\\\\`` escapes (Tempo's lexer)."""
        text, n = self.text, len(self.text)
        start = self.position
        self.position += 1
        out = []
        while self.position < n:
            ch = text[self.position]
            if ch == '"':
                self.position += 1
                return "".join(out)
            if ch == "\\":
                if self.position + 1 < n and text[self.position + 1] in '"\\':
                    out.append(text[self.position + 1])
                    self.position += 2
                    continue
                raise self.error('expected \\" or \\\\ after \\ in an attribute name')
            out.append(ch)
            self.position += 1
        raise self.error("expected '\"' to close the attribute name but found end of query", start)

    def _string(self, start: int) -> _Token:
        """A double-quoted string with Go's escapes."""
        text, n = self.text, len(self.text)
        out = bytearray()
        i = start + 1
        while i < n:
            ch = text[i]
            if ch == '"':
                self.position = i + 1
                return _Token("string", text[start : i + 1], start, out.decode("utf-8", "replace"))
            if ch == "\n":
                break
            if ch != "\\":
                out += ch.encode("utf-8", "surrogatepass")
                i += 1
                continue
            i = self._escape(i, out)
        found = "end of line" if i < n else "end of query"
        raise self.error(f"expected '\"' to close the string but found {found}", start)

    def _escape(self, i: int, out: bytearray) -> int:
        text = self.text
        kind = text[i + 1 : i + 2]
        if kind in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[kind])
            return i + 2
        digits = {"x": 2, "u": 4, "U": 8}.get(kind)
        if digits is not None:
            code = text[i + 2 : i + 2 + digits]
            if len(code) == digits and all(c in "0123456789abcdefABCDEF" for c in code):
                value = int(code, 16)
                if kind == "x":
                    out.append(value)
                    return i + 2 + digits
                if value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF:
                    out += chr(value).encode()
                    return i + 2 + digits
        elif kind in "01234567" and kind:
            code = text[i + 1 : i + 4]
            if len(code) == 3 and all(c in "01234567" for c in code) and int(code, 8) <= 255:
                out.append(int(code, 8))
                return i + 4
        raise self.error("expected a valid escape (\\n, \\t, \\\", \\\\, \\xFF, \\u00e9, ...) after \\", i)

    def _number(self, start: int) -> _Token:
        text = self.text
        match = _NUMBER.match(text, start)
        assert match is not None
        end = match.end()
        suffix_end = end
        while suffix_end < len(text) and text[suffix_end] in _DURATION_RUNES:
            suffix_end += 1
        if suffix_end > end:
            nanos = parse_duration(text[start:suffix_end])
            if nanos is not None:
                self.position = suffix_end
                return _Token("duration", text[start:suffix_end], start, nanos)
        self.position = end
        number = match.group()
        if number.isdigit():
            return _Token("int", number, start, int(number))
        return _Token("float", number, start, float(number))


# --------------------------------------------------------------------------------------- parser


def parse(text: str) -> Query:
    """The query ``text`` as an AST; raises ``TraceQLError`` saying where and what was expected."""
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _Lexer(text).tokens()
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token.kind in ("punct", "ident") and token.text in texts

    def fail(self, expected: str, token: _Token | None = None) -> TraceQLError:
        token = token or self.peek()
        return TraceQLError(f"expected {expected} but found {token.describe()}", token.position)

    def expect(self, text: str) -> _Token:
        if not self.at(text):
            raise self.fail(f"'{text}'")
        return self.advance()

    def nested(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise TraceQLError(f"the query nests more than {_MAX_DEPTH} levels deep", self.peek().position)

    def query(self) -> Query:
        spansets = self.spanset_expr()
        stages: list[Stage] = []
        while self.at("|"):
            self.advance()
            stages.append(self.stage())
        if self.at("with"):
            self.hints()
        if self.peek().kind != "end":
            more = "'|', 'with'" if stages else "'&&', '||', '|', 'with'"
            raise self.fail(f"{more} or end of query")
        return Query(spansets, tuple(stages))

    def spanset_expr(self) -> SpansetExpr:
        left = self.spanset_primary()
        while self.at("&&", "||"):
            op = self.advance().text
            left = SpansetOp(op, left, self.spanset_primary())  # type: ignore[arg-type]
        return left

    def spanset_primary(self) -> SpansetExpr:
        self.nested()
        try:
            if self.at("("):
                self.advance()
                inner = self.spanset_expr()
                self.expect(")")
                return inner
            self.expect_opening_brace()
            if self.at("}"):
                self.advance()
                return SpansetFilter(None)
            expr = self.field_expr()
            if not self.at("}"):
                raise self.fail("'}'" if self.at("&&", "||") else "'&&', '||' or '}'")
            self.advance()
            return SpansetFilter(expr)
        finally:
            self.depth -= 1

    def expect_opening_brace(self) -> None:
        if not self.at("{"):
            raise self.fail("'{' or '('")
        self.advance()

    def field_expr(self) -> FieldExpr:
        left = self.unary()
        while self.at("&&", "||"):
            op = self.advance().text
            left = BoolOp(op, left, self.unary())  # type: ignore[arg-type]
        return left

    def unary(self) -> FieldExpr:
        self.nested()
        try:
            if self.at("!"):
                self.advance()
                return Not(self.unary())
            if self.at("("):
                self.advance()
                inner = self.field_expr()
                if not self.at(")"):
                    raise self.fail("'&&', '||' or ')'")
                self.advance()
                return inner
            left_token = self.peek()
            left = self.operand()
            if self.peek().kind == "punct" and self.peek().text in COMPARISONS:
                op_token = self.advance()
                right_token = self.peek()
                right = self.operand()
                return _comparison(left, left_token, op_token, right, right_token)
            if isinstance(left, Literal) and left.type == "bool":
                return Static(bool(left.value))
            raise self.fail("a comparison operator (=, !=, >, >=, <, <=, =~, !~)")
        finally:
            self.depth -= 1

    def operand(self) -> Operand:
        token = self.peek()
        if token.kind == "attribute":
            self.advance()
            assert isinstance(token.value, Attribute)
            return token.value
        if token.kind == "colon":
            self.advance()
            return Intrinsic(str(token.value))
        if token.kind in ("string", "int", "float", "duration"):
            self.advance()
            return Literal(token.kind, token.value)  # type: ignore[arg-type]
        if self.at("-"):
            self.advance()
            number = self.peek()
            if number.kind not in ("int", "float", "duration"):
                raise self.fail("a number or duration after '-'")
            self.advance()
            return Literal(number.kind, -number.value)  # type: ignore[arg-type, operator]
        if token.kind == "ident":
            word = token.text
            literal = _keyword(word)
            if literal is not None:
                self.advance()
                return literal
            if word in INTRINSICS:
                self.advance()
                return Intrinsic(word)
            if word in _UNSUPPORTED_INTRINSICS:
                raise TraceQLError(f"{word} is not supported", token.position)
        raise self.fail("an attribute, intrinsic or value")

    def field(self) -> Field:
        token = self.peek()
        operand = self.operand()
        if isinstance(operand, Literal):
            raise self.fail("an attribute or intrinsic", token)
        return operand

    def stage(self) -> Stage:
        token = self.advance()
        word = token.text if token.kind == "ident" else ""
        if word == "select":
            self.expect("(")
            fields = [self.field()]
            while self.at(","):
                self.advance()
                fields.append(self.field())
            self.expect(")")
            return Select(tuple(fields))
        if word in ("count", "avg", "min", "max", "sum"):
            self.expect("(")
            field: Field | None = None
            if word != "count":
                field_token = self.peek()
                field = self.field()
                if isinstance(field, Intrinsic) and field.name not in _DURATION_INTRINSICS:
                    raise TraceQLError(f"expected a numeric field but found '{field_token.text}'", field_token.position)
            self.expect(")")
            op = self.peek()
            if op.kind != "punct" or op.text not in COMPARISONS[:6]:
                raise self.fail("a comparison operator (=, !=, >, >=, <, <=)")
            self.advance()
            value_token = self.peek()
            value = self.operand()
            if not isinstance(value, Literal) or value.type not in ("int", "float", "duration"):
                raise self.fail("a number or duration", value_token)
            return Aggregate(word, field, op.text, value)  # type: ignore[arg-type]
        if word in _UNSUPPORTED_STAGES:
            raise TraceQLError(f"{word}() is not supported", token.position)
        raise self.fail("count(), avg(), min(), max(), sum() or select()", token)

    def hints(self) -> None:
        """``with (name = value, ...)``: accepted and ignored."""
        self.advance()
        self.expect("(")
        while True:
            if self.peek().kind != "ident":
                raise self.fail("a hint name")
            self.advance()
            self.expect("=")
            value_token = self.peek()
            if not isinstance(self.operand(), Literal):
                raise self.fail("a value", value_token)
            if not self.at(","):
                break
            self.advance()
        self.expect(")")


def _keyword(word: str) -> Literal | None:
    if word in ("true", "false"):
        return Literal("bool", word == "true")
    if word == "nil":
        return Literal("nil", None)
    if word in STATUSES:
        return Literal("status", word)
    if word in KINDS:
        return Literal("kind", word)
    return None


_regex_check = duckdb.connect()
_regex_lock = threading.Lock()


def _check_regex(pattern: str, position: int) -> None:
    """Reject a pattern RE2 (DuckDB's regex engine) cannot compile, before the query runs."""
    try:
        with _regex_lock:
            _regex_check.execute("SELECT regexp_full_match('', ?)", [pattern]).fetchone()
    except duckdb.Error as exc:
        detail = str(exc).split(": ", 1)[-1]
        raise TraceQLError(f"expected a valid regular expression but found {detail}", position) from None


def _comparison(
    left: Operand, left_token: _Token, op_token: _Token, right: Operand, right_token: _Token
) -> Comparison:
    """Check the operand types of ``left op right`` and put the field (if any) on the left."""
    op = op_token.text
    if isinstance(left, Literal) and not isinstance(right, Literal):
        left, right, left_token, right_token, op = right, left, right_token, left_token, _MIRROR[op]
    if not isinstance(right, Literal):
        raise TraceQLError("expected a value to compare with, but found two fields", right_token.position)
    assert isinstance(right, Literal)
    found = f"{right.type} {right_token.text}"
    if op in ("=~", "!~"):
        if right.type != "string":
            raise TraceQLError(
                f"expected a string (regular expression) after {op} but found {found}", right_token.position
            )
        _check_regex(str(right.value), right_token.position)
    if right.type in ("nil", "bool", "status", "kind") and op not in ("=", "!="):
        raise TraceQLError(f"expected = or != with {right.type} but found {op}", op_token.position)
    if isinstance(left, Intrinsic):
        name = left.name
        if name == "status" and right.type != "status":
            raise TraceQLError(f"expected a status (error, ok, unset) but found {found}", right_token.position)
        if name == "kind" and right.type != "kind":
            raise TraceQLError(f"expected a kind ({', '.join(KINDS)}) but found {found}", right_token.position)
        if name in ("status", "kind") and op not in ("=", "!="):
            raise TraceQLError(f"expected = or != with {name} but found {op}", op_token.position)
        if name in _DURATION_INTRINSICS and right.type not in ("duration", "int", "float"):
            raise TraceQLError(f"expected a duration such as 1.5s but found {found}", right_token.position)
        if name in _STRING_INTRINSICS | _LIST_INTRINSICS and right.type not in ("string", "nil"):
            raise TraceQLError(f"expected a string but found {found}", right_token.position)
    return Comparison(left, op, right)


# ------------------------------------------------------------------------------------- compiler

# Attribute keys whose values are stored only in a column (spans.STRIPPED_KEYS; the customer's
# number as its hash) or mirrored in one for speed.
_SPAN_COLUMNS = {
    "cx.span.type": "span_type", "cx.platform.interaction.id": "interaction_id", "cx.queue.name": "queue",
    "cx.agent.id": "agent", "cx.telephony.ani.hash": "customer_phone_hash",
}  # fmt: skip
_RESOURCE_COLUMNS = {"service.name": "service_name"}
_INSIGHT_ATTRIBUTES = frozenset((semconv.CX_INSIGHT_RULES, semconv.CX_INSIGHT_RULE))
_UNSCOPED_COLUMNS = {"cx.platform.name": "platform"}
"""``platform`` is the span's cx.platform.name, else its resource's: the unscoped rule exactly."""

_NUMERIC_JSON = "('BIGINT', 'UBIGINT', 'DOUBLE')"
_INTRINSIC_SQL = {
    "name": "name", "statusMessage": "coalesce(status_message, '')", "rootName": "root_name",
    "rootServiceName": "root_service", "span:id": "span_id", "span:parentID": "parent_span_id",
    "trace:id": "journey_id", "instrumentation:name": "scope_name", "instrumentation:version": "scope_version",
    "event:name": "json_extract_string(coalesce(events, '[]'), '$[*].name')",
    "link:traceID": "json_extract_string(coalesce(links, '[]'), '$[*].trace_id')",
    "link:spanID": "json_extract_string(coalesce(links, '[]'), '$[*].span_id')",
    "duration": "(end_unix_nano - start_unix_nano)", "traceDuration": "(j_end - j_start)",
    "status": "status_code", "kind": "kind",
}  # fmt: skip
_ROOT_INTRINSICS = frozenset(("rootName", "rootServiceName"))
_ENUM_SQL = {
    "status": "CASE status_code WHEN 0 THEN 'unset' WHEN 1 THEN 'ok' WHEN 2 THEN 'error' END",
    "kind": "CASE kind WHEN 0 THEN 'unspecified' WHEN 1 THEN 'internal' WHEN 2 THEN 'server' "
    "WHEN 3 THEN 'client' WHEN 4 THEN 'producer' WHEN 5 THEN 'consumer' END",
}
_SPAN_ROW = "journey_id, trace_id, span_id, name, service_name, start_unix_nano, end_unix_nano"


def json_pointer(key: str) -> str:
    """The JSON pointer (RFC 6901) of a top-level key: any key, with no quoting rules to get wrong."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True, slots=True)
class _Source:
    """Where an attribute's value is: ``json`` a JSON value (scalar or array); ``text`` a VARCHAR
    column holding its string form, used for string comparisons; ``many`` when ``json`` is a
    list of values (one per event or link) that matches when any element does."""

    json: str
    text: str | None = None
    many: bool = False


class _Compiler:
    """Builds SQL with a marker per parameter; ``finish`` turns markers into ``?`` in text order,
    so fragments can be composed (and a parameter reused) in any order."""

    def __init__(self) -> None:
        self.values: list[object] = []
        self.filters: list[tuple[str, str]] = []
        self.needs_roots = False  # whether the filters join the roots CTE (set before compiling them)

    def param(self, value: object) -> str:
        self.values.append(value)
        return f"\x00{len(self.values) - 1}\x00"

    def finish(self, sql: str) -> tuple[str, list[object]]:
        params: list[object] = []

        def place(match: re.Match[str]) -> str:
            params.append(self.values[int(match.group(1))])
            return "?"

        return re.sub("\x00(\\d+)\x00", place, sql), params

    # --- values

    def source(self, attribute: Attribute) -> _Source:
        name = attribute.name
        if name in _INSIGHT_ATTRIBUTES and attribute.scope in ("span", ""):
            # The rule IDs of the journey's insights (the analysis worker's table), as the JSON
            # array the journey root span shows: any span of such a journey matches.
            return _Source(
                "(SELECT to_json(list(i.rule ORDER BY i.rule)) FROM journey_insights i "
                "WHERE i.tenant = sp.tenant AND i.journey_id = sp.journey_id)"
            )
        if attribute.scope == "span":
            return _Source(f"json_extract(attributes, {self.param(json_pointer(name))})", _SPAN_COLUMNS.get(name))
        if attribute.scope == "resource":
            pointer = self.param(json_pointer(name))
            return _Source(f"json_extract(resource_attributes, {pointer})", _RESOURCE_COLUMNS.get(name))
        if attribute.scope in ("event", "link"):
            pointer = self.param(json_pointer(name))
            column = "events" if attribute.scope == "event" else "links"
            return _Source(
                f"list_transform(json_extract(coalesce({column}, '[]'), '$[*].attributes'), "
                f"lambda a: json_extract(a, {pointer}))",
                many=True,
            )
        span = self.source(Attribute("span", name))
        resource = self.source(Attribute("resource", name))
        text = _UNSCOPED_COLUMNS.get(name)
        if text is None and (span.text or resource.text):
            text = f"coalesce({span.text or _as_text(span.json)}, {resource.text or _as_text(resource.json)})"
        return _Source(f"coalesce({span.json}, {resource.json})", text)

    def value_json(self, field: Field) -> str:
        """The field's value as JSON, for ``select``."""
        if isinstance(field, Intrinsic):
            return f"to_json({_ENUM_SQL.get(field.name, _INTRINSIC_SQL[field.name])})"
        source = self.source(field)
        if source.text and field.scope == "span":
            return f"coalesce({source.json}, to_json({source.text}))"
        if source.text and field.scope == "":
            return f"CASE WHEN {source.json} IS NULL THEN to_json({source.text}) ELSE {source.json} END"
        return source.json

    def number(self, field: Field) -> str:
        """The field's numeric value (NULL when it is not a number), for aggregates."""
        if isinstance(field, Intrinsic):
            return _INTRINSIC_SQL[field.name]
        source = self.source(field)
        if source.many:
            return f"list_max(list_transform({source.json}, lambda x: {_as_number('x')}))"
        return _as_number(source.json)

    # --- predicates

    def predicate(self, expr: FieldExpr | None) -> str:
        if expr is None:
            return "true"
        if isinstance(expr, Static):
            return "true" if expr.value else "false"
        if isinstance(expr, Not):
            return f"(NOT {self.predicate(expr.operand)})"
        if isinstance(expr, BoolOp):
            joiner = " AND " if expr.op == "&&" else " OR "
            return f"({self.predicate(expr.left)}{joiner}{self.predicate(expr.right)})"
        assert isinstance(expr.right, Literal)
        if isinstance(expr.left, Literal):
            return "true" if _static_compare(expr.left, expr.op, expr.right) else "false"
        if isinstance(expr.left, Intrinsic):
            return self.intrinsic_predicate(expr.left.name, expr.op, expr.right)
        return self.attribute_predicate(self.source(expr.left), expr.op, expr.right)

    def intrinsic_predicate(self, name: str, op: str, literal: Literal) -> str:
        column = _INTRINSIC_SQL[name]
        if literal.type == "nil" and name in _LIST_INTRINSICS:
            return f"(len({column}) {'=' if op == '=' else '>'} 0)"
        if literal.type == "nil":
            return f"({column} IS {'' if op == '=' else 'NOT '}NULL)"
        if name in ("status", "kind"):
            table = STATUSES if name == "status" else KINDS
            return f"({column} {op} {self.param(table[str(literal.value)])})"
        value = literal.value
        if name in _ID_INTRINSICS and op not in ("=~", "!~"):
            value = str(value).lower()
        if name in _LIST_INTRINSICS:
            test = _compare("x", op, self.param(value))
            return f"coalesce(len(list_filter({column}, lambda x: {test})) > 0, false)"
        return f"coalesce({_compare(column, op, self.param(value))}, false)"

    def attribute_predicate(self, source: _Source, op: str, literal: Literal) -> str:
        if literal.type == "nil":
            present = f"({source.json} IS NOT NULL AND json_type({source.json}) <> 'NULL')"
            if source.many:
                present = f"len(list_filter({source.json}, lambda x: x IS NOT NULL AND json_type(x) <> 'NULL')) > 0"
            if source.text:
                present = f"({source.text} IS NOT NULL OR {present})"
            return f"coalesce({'' if op == '!=' else 'NOT '}{present}, {'false' if op == '!=' else 'true'})"
        if literal.type in ("status", "kind"):
            return "false"  # an attribute is never of the status or kind type
        value = self.param(_sql_value(literal))
        if source.text and literal.type == "string":
            return f"coalesce({_compare(source.text, op, value)}, false)"
        if source.many:
            return f"coalesce(len(list_filter({source.json}, lambda x: {_typed(literal, 'x', op, value)})) > 0, false)"
        scalar = _typed(literal, source.json, op, value)
        negated = {"!=": "=", "!~": "=~"}.get(op)
        element = _typed(literal, "x", negated or op, value)
        elements = f"list_filter(json_extract({source.json}, '$[*]'), lambda x: {element})"
        in_array = f"(json_type({source.json}) = 'ARRAY' AND len({elements}) {'=' if negated else '>'} 0)"
        return f"coalesce({scalar} OR {in_array}, false)"

    # --- spansets and the whole query

    def spanset(self, expr: SpansetExpr, selected: str, extra: str) -> str:
        """The name of a CTE (added to ``self.filters``) with the spans ``expr`` matches."""
        if isinstance(expr, SpansetFilter):
            where = self.predicate(expr.expr)
            roots = " LEFT JOIN roots USING (journey_id)" if self.needs_roots else ""
            body = f"""SELECT {_SPAN_ROW}, {selected} AS selected{extra}
                FROM sp{roots} WHERE {where}
                QUALIFY row_number() OVER (
                    PARTITION BY journey_id, trace_id, span_id ORDER BY received_unix_nano DESC) = 1"""
        else:
            left = self.spanset(expr.left, selected, extra)
            right = self.spanset(expr.right, selected, extra)
            if expr.op == "||":
                body = f"SELECT * FROM {left} UNION SELECT * FROM {right}"
            else:
                body = f"""SELECT * FROM {left} WHERE journey_id IN (SELECT journey_id FROM {right})
                    UNION SELECT * FROM {right} WHERE journey_id IN (SELECT journey_id FROM {left})"""
        name = f"m{len(self.filters)}"
        self.filters.append((name, body))
        return name


def _as_text(json: str) -> str:
    return f"(CASE WHEN json_type({json}) = 'VARCHAR' THEN {json} ->> '$' END)"


def _as_number(json: str) -> str:
    return f"(CASE WHEN json_type({json}) IN {_NUMERIC_JSON} THEN TRY_CAST({json} ->> '$' AS DOUBLE) END)"


def _compare(column: str, op: str, value: str) -> str:
    if op == "=~":
        return f"regexp_full_match({column}, {value})"
    if op == "!~":
        return f"NOT regexp_full_match({column}, {value})"
    return f"{column} {'<>' if op == '!=' else op} {value}"


def _typed(literal: Literal, json: str, op: str, value: str) -> str:
    """``json op value`` when the JSON value has the literal's type, else false (or NULL)."""
    text = f"({json} ->> '$')"
    if literal.type == "string":
        return f"(json_type({json}) = 'VARCHAR' AND {_compare(text, op, value)})"
    if literal.type == "bool":
        return f"(json_type({json}) = 'BOOLEAN' AND {_compare(text, op, value)})"
    return f"(json_type({json}) IN {_NUMERIC_JSON} AND {_compare(f'TRY_CAST({text} AS DOUBLE)', op, value)})"


def _sql_value(literal: Literal) -> object:
    if literal.type == "bool":
        return "true" if literal.value else "false"
    return literal.value


def _static_compare(left: Literal, op: str, right: Literal) -> bool:
    """A comparison of two literals, with the typing rules of attribute comparisons."""
    numeric = ("int", "float", "duration")
    if left.type in numeric and right.type in numeric:
        a, b = left.value, right.value
    elif left.type != right.type:
        return op == "!=" and "nil" in (left.type, right.type)
    else:
        a, b = left.value, right.value
    if op in ("=~", "!~"):
        try:
            found = re.fullmatch(str(b), str(a)) is not None
        except re.error:
            found = False
        return found == (op == "=~")
    operations: dict[str, Callable[[object, object], bool]] = {
        "=": lambda x, y: x == y, "!=": lambda x, y: x != y, ">": lambda x, y: x > y,  # type: ignore[operator]
        ">=": lambda x, y: x >= y, "<": lambda x, y: x < y, "<=": lambda x, y: x <= y,  # type: ignore[operator]
    }  # fmt: skip
    return operations[op](a, b)


def compile_search(
    query: Query,
    *,
    tenant: str,
    start_ns: int | None,
    end_ns: int | None,
    min_duration_ns: int | None,
    max_duration_ns: int | None,
    limit: int,
    spans_per_set: int,
    started: tuple[int | None, int | None] = (None, None),
    span_bounds: SpanBounds | None = None,
) -> tuple[str, list[object]]:
    """SQL and its ``?`` parameters for the newest ``limit`` journeys ``query`` matches.

    One row per matched span: ``journey_id, span_id, name, service_name, start_unix_nano,
    end_unix_nano, selected`` (JSON text of the values the span reports -- see ``_reported``: the
    attributes the conditions test and the ``select(...)`` fields -- keyed by unscoped name, absent
    ones null; NULL when there are none, as for ``{}``), at most ``spans_per_set`` spans per journey
    (the earliest; 0 = all), ordered by the journey's start descending, journey ID, then span start.
    Status and kind report their keyword, durations integer nanoseconds.
    A journey is in range when it overlaps ``[start_ns, end_ns]``; the durations bound the
    journey's duration. ``started`` narrows to journeys starting in that slice (searches go newest
    slice first, ``storage.search.slices_to_read``), and ``span_bounds`` bounds the start and
    arrival of the spans read: every span of those journeys lies within (``storage.search.SpanBounds``).
    """
    c = _Compiler()
    journey_where = [f"tenant = {c.param(tenant)}"]
    if start_ns is not None:
        journey_where.append(f"end_unix_nano >= {c.param(start_ns)}")
    if end_ns is not None:
        journey_where.append(f"start_unix_nano <= {c.param(end_ns)}")
    if min_duration_ns is not None:
        journey_where.append(f"end_unix_nano - start_unix_nano >= {c.param(min_duration_ns)}")
    if max_duration_ns is not None:
        journey_where.append(f"end_unix_nano - start_unix_nano <= {c.param(max_duration_ns)}")
    if started[0] is not None:
        journey_where.append(f"start_unix_nano >= {c.param(started[0])}")
    if started[1] is not None:
        journey_where.append(f"start_unix_nano <= {c.param(started[1])}")
    span_where = f"tenant = {c.param(tenant)}"
    if span_bounds is not None:
        span_where += (
            f" AND start_unix_nano BETWEEN {c.param(span_bounds.start_min)} AND {c.param(span_bounds.end_max)}"
            f" AND received_unix_nano BETWEEN {c.param(span_bounds.received_min)} AND {c.param(span_bounds.received_max)}"
        )

    reported = _reported(query)
    if reported:
        pairs = ", ".join(f"{c.param(key)}, {c.value_json(f)}" for key, f in reported.items())
        selected = f"CAST(json_object({pairs}) AS VARCHAR)"
    else:
        selected = "CAST(NULL AS VARCHAR)"
    aggregates = [s for s in query.pipeline if isinstance(s, Aggregate)]
    extra = "".join(
        f", {c.number(s.field)} AS agg{i}" for i, s in enumerate(aggregates) if s.field is not None
    )
    c.needs_roots = _mentions_roots(query)  # before the filters, which join the roots CTE if so
    current = c.spanset(query.spansets, selected, extra)
    for i, stage in enumerate(aggregates):
        measure = "count(*)" if stage.field is None else f"{stage.function}(agg{i})"
        bound = c.param(stage.value.value)
        body = f"""SELECT * FROM {current} WHERE journey_id IN (
            SELECT journey_id FROM {current} GROUP BY journey_id HAVING {measure} {stage.op} {bound})"""
        current = f"m{len(c.filters)}"
        c.filters.append((current, body))

    ctes = [
        f"""j AS (SELECT journey_id, start_unix_nano AS j_start, end_unix_nano AS j_end FROM journeys
            WHERE {' AND '.join(journey_where)})""",
        f"""sp AS (SELECT s.*, j.j_start, j.j_end FROM (SELECT * FROM spans WHERE {span_where}) s
            JOIN j ON s.journey_id = j.journey_id)""",
    ]
    if c.needs_roots:
        ctes.append(
            f"""roots AS (SELECT journey_id, name AS root_name, service_name AS root_service FROM spans
                WHERE {span_where} AND parent_span_id IS NULL AND journey_id IN (SELECT journey_id FROM j)
                QUALIFY row_number() OVER (PARTITION BY journey_id ORDER BY start_unix_nano, span_id) = 1)"""
        )
    ctes += [f"{name} AS ({body})" for name, body in c.filters]
    ctes.append(
        f"""picked AS (SELECT journey_id, j_start FROM j WHERE journey_id IN (SELECT journey_id FROM {current})
            ORDER BY j_start DESC, journey_id LIMIT {c.param(limit)})"""
    )
    per_set = ""
    if spans_per_set > 0:
        per_set = (
            "QUALIFY row_number() OVER (PARTITION BY m.journey_id ORDER BY m.start_unix_nano, m.span_id) "
            f"<= {c.param(spans_per_set)}"
        )
    sql = f"""WITH {', '.join(ctes)}
SELECT m.journey_id, m.span_id, m.name, m.service_name, m.start_unix_nano, m.end_unix_nano, m.selected
FROM {current} m JOIN picked p ON m.journey_id = p.journey_id
{per_set}
ORDER BY p.j_start DESC, m.journey_id, m.start_unix_nano, m.span_id"""
    return c.finish(sql)


def _nodes(node: object) -> Iterator[object]:
    """``node`` and every AST node below it, depth first, left to right."""
    yield node
    for name in getattr(node, "__slots__", ()):
        child = getattr(node, name)
        for item in child if isinstance(child, tuple) else (child,):
            if hasattr(item, "__slots__"):
                yield from _nodes(item)


def _mentions_roots(query: Query) -> bool:
    """Whether any field of the query is ``rootName``/``rootServiceName`` (they need a join)."""
    return any(isinstance(n, Intrinsic) and n.name in _ROOT_INTRINSICS for n in _nodes(query))


def _reported(query: Query) -> dict[str, Field]:
    """The values every matched span reports, keyed by unscoped name as Tempo reports them
    (viewer-apis.md §2.5): the span/resource attributes, status, kind and status message the
    conditions test, then the ``select(...)`` fields. Like Tempo, conditions on the name, durations,
    IDs, trace-level intrinsics and events/links report nothing."""
    fields: dict[str, Field] = {}
    for node in _nodes(query.spansets):
        if isinstance(node, Comparison):
            left = node.left
            if (isinstance(left, Attribute) and left.scope in ("span", "resource", "")) or (
                isinstance(left, Intrinsic) and left.name in ("status", "kind", "statusMessage")
            ):
                fields[left.name] = left
    for stage in query.pipeline:
        if isinstance(stage, Select):
            fields.update((f.name, f) for f in stage.fields)
    return fields
