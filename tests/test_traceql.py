"""TraceQL: the parser (every construct, errors with position and expectation, fuzzed) and the
compiler, whose SQL runs on a real DuckDB file filled through the real store path
(``Correlator`` in front of ``SpanStore``), asserting exactly which spans each query matches."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from journeytrace.correlator import Correlator, CorrelatorConfig
from journeytrace.query.traceql import (
    Aggregate, Attribute, BoolOp, Comparison, Intrinsic, Literal, Not, Query, Select, SpansetFilter, SpansetOp,
    Static, TraceQLError, compile_search, parse, parse_duration,
)  # fmt: skip
from journeytrace.spans import decode_body
from journeytrace.storage import SpanStore, StoreConfig
from journeytrace.values import to_proto

KEY = b"k" * 32
S = 1_000_000_000
MS = 1_000_000
T0 = 1_790_000_000 * S
INJECTION = """it's "quoted"; DROP TABLE spans; --"""


# ------------------------------------------------------------------------------------ parser


def cmp(left: Any, op: str, right: Any) -> Comparison:
    return Comparison(left, op, right)


def only(text: str) -> Any:
    """The field expression of a single-filter query without a pipeline."""
    query = parse(text)
    assert isinstance(query.spansets, SpansetFilter) and query.pipeline == ()
    return query.spansets.expr


def test_empty_filters_match_everything() -> None:
    assert parse("{}") == parse("{ }") == parse("  {\n}  ") == Query(SpansetFilter(None))


def test_grafana_builder_query() -> None:
    text = '{resource.service.name="ivr" && name="queue.wait" && status=error && duration>2s}'
    assert only(text) == BoolOp(
        "&&",
        BoolOp(
            "&&",
            BoolOp("&&", cmp(Attribute("resource", "service.name"), "=", Literal("string", "ivr")),
                   cmp(Intrinsic("name"), "=", Literal("string", "queue.wait"))),
            cmp(Intrinsic("status"), "=", Literal("status", "error")),
        ),
        cmp(Intrinsic("duration"), ">", Literal("duration", 2 * S)),
    )  # fmt: skip


@pytest.mark.parametrize("op", ["=", "!=", ">", ">=", "<", "<=", "=~", "!~"])
def test_every_comparison_operator(op: str) -> None:
    assert only(f'{{ span.a {op} "x" }}') == cmp(Attribute("span", "a"), op, Literal("string", "x"))
    assert only(f'{{.a{op}"x"}}') == cmp(Attribute("", "a"), op, Literal("string", "x"))


def test_literal_on_the_left_mirrors_the_operator() -> None:
    assert only("{ 2s < duration }") == cmp(Intrinsic("duration"), ">", Literal("duration", 2 * S))
    assert only("{ 200 = span.code }") == cmp(Attribute("span", "code"), "=", Literal("int", 200))


@pytest.mark.parametrize(
    ("text", "attribute"),
    [
        ("span.http.status_code", Attribute("span", "http.status_code")),
        ("resource.service.name", Attribute("resource", "service.name")),
        (".cx.queue.name", Attribute("", "cx.queue.name")),
        ('span."attr with space"', Attribute("span", "attr with space")),
        ('span."quote \\" and \\\\ backslash"', Attribute("span", 'quote " and \\ backslash')),
        ('span.foo."bar baz"', Attribute("span", "foo.bar baz")),
        ("event.digit", Attribute("event", "digit")),
        ("link.reason", Attribute("link", "reason")),
        ("span.a-b/c:d", Attribute("span", "a-b/c:d")),
    ],
)
def test_attributes(text: str, attribute: Attribute) -> None:
    assert only(f"{{ {text} = 1 }}") == cmp(attribute, "=", Literal("int", 1))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("name", "name"), ("status", "status"), ("statusMessage", "statusMessage"), ("kind", "kind"),
        ("duration", "duration"), ("traceDuration", "traceDuration"), ("rootName", "rootName"),
        ("rootServiceName", "rootServiceName"), ("span:name", "name"), ("span:status", "status"),
        ("span:statusMessage", "statusMessage"), ("span:kind", "kind"), ("span:duration", "duration"),
        ("trace:duration", "traceDuration"), ("trace:rootName", "rootName"), ("trace:rootService", "rootServiceName"),
        ("span:id", "span:id"), ("span:parentID", "span:parentID"), ("trace:id", "trace:id"),
        ("event:name", "event:name"), ("link:traceID", "link:traceID"), ("link:spanID", "link:spanID"),
        ("instrumentation:name", "instrumentation:name"), ("instrumentation:version", "instrumentation:version"),
    ],
)  # fmt: skip
def test_intrinsics_and_their_colon_forms(text: str, name: str) -> None:
    value = {"status": "error", "kind": "server", "duration": "1s", "traceDuration": "1s"}.get(name, '"x"')
    expr = only(f"{{ {text} = {value} }}")
    assert isinstance(expr, Comparison) and expr.left == Intrinsic(name)


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ('"a\\tb\\n\\"q\\"\\\\ \\x41\\u00e9\\U0001F600\\101"', Literal("string", 'a\tb\n"q"\\ Aé😀A')),
        ("`raw \\n \"str\"`", Literal("string", 'raw \\n "str"')),
        ("42", Literal("int", 42)), ("-7", Literal("int", -7)), ("1.5", Literal("float", 1.5)),
        ("-0.25", Literal("float", -0.25)), ("1e3", Literal("float", 1000.0)),
        ("1.5s", Literal("duration", 1_500_000_000)), ("200ms", Literal("duration", 200 * MS)),
        ("3us", Literal("duration", 3000)), ("3µs", Literal("duration", 3000)), ("10ns", Literal("duration", 10)),
        ("1h30m", Literal("duration", 5400 * S)), ("2m", Literal("duration", 120 * S)),
        ("1d", Literal("duration", 86400 * S)), ("-1s", Literal("duration", -S)),
        ("true", Literal("bool", True)), ("false", Literal("bool", False)), ("nil", Literal("nil", None)),
    ],
)  # fmt: skip
def test_literals(text: str, literal: Literal) -> None:
    op = "=" if literal.type in ("bool", "nil") else "<"
    assert only(f"{{ span.a {op} {text} }}") == cmp(Attribute("span", "a"), op, literal)


@pytest.mark.parametrize("status", ["ok", "error", "unset"])
def test_status_keywords(status: str) -> None:
    assert only(f"{{status!={status}}}") == cmp(Intrinsic("status"), "!=", Literal("status", status))


@pytest.mark.parametrize("kind", ["unspecified", "internal", "server", "client", "producer", "consumer"])
def test_kind_keywords(kind: str) -> None:
    assert only(f"{{kind={kind}}}") == cmp(Intrinsic("kind"), "=", Literal("kind", kind))


def test_durations_follow_prometheus_then_go() -> None:
    assert parse_duration("1w") == 7 * 86400 * S
    assert parse_duration("1y") == 365 * 86400 * S
    assert parse_duration("1.5h") == 5400 * S
    assert parse_duration("1h1.5s") == 3_601_500_000_000
    assert parse_duration("1x") is None
    assert parse_duration("") is None


def test_and_or_share_one_level_left_to_right_like_tempo() -> None:
    a, b, c = (cmp(Attribute("", x), "=", Literal("int", 1)) for x in "abc")
    assert only("{ .a = 1 || .b = 1 && .c = 1 }") == BoolOp("&&", BoolOp("||", a, b), c)
    assert only("{ .a = 1 || (.b = 1 && .c = 1) }") == BoolOp("||", a, BoolOp("&&", b, c))
    assert only("{ !.a = 1 && !(.b = 1) }") == BoolOp("&&", Not(a), Not(b))
    assert only("{ true }") == Static(True) and only("{ false || .a = 1 }") == BoolOp("||", Static(False), a)


def test_spanset_operators_and_parentheses() -> None:
    a, b, c = (SpansetFilter(cmp(Intrinsic("name"), "=", Literal("string", x))) for x in "abc")
    assert parse('{name="a"} && {name="b"} || {name="c"}').spansets == SpansetOp("||", SpansetOp("&&", a, b), c)
    assert parse('{name="a"} && ({name="b"} || {name="c"})').spansets == SpansetOp("&&", a, SpansetOp("||", b, c))


def test_pipeline_stages_and_ignored_hints() -> None:
    query = parse(
        "{ } | count() > 2 | avg(duration) >= 1.5s | max(span.x) < 10 | select(span.a, resource.b, .c, status) "
        "with (most_recent=true, sample=0.5)"
    )
    assert query.pipeline == (
        Aggregate("count", None, ">", Literal("int", 2)),
        Aggregate("avg", Intrinsic("duration"), ">=", Literal("duration", 1_500_000_000)),
        Aggregate("max", Attribute("span", "x"), "<", Literal("int", 10)),
        Select((Attribute("span", "a"), Attribute("resource", "b"), Attribute("", "c"), Intrinsic("status"))),
    )


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, "expected '{' or '(' but found end of query"),
        ("{ .a = 1 && .b = 2 ", 19, "expected '&&', '||' or '}' but found end of query"),
        ('{ .a = 1 } && .b = 2', 14, "expected '{' or '(' but found '.b'"),
        ("{ .a = 1 } }", 11, "expected '&&', '||', '|', 'with' or end of query but found '}'"),
        ("{ .a 1 }", 5, "expected a comparison operator (=, !=, >, >=, <, <=, =~, !~) but found '1'"),
        ("{ .a = }", 7, "expected an attribute, intrinsic or value but found '}'"),
        ("{ (.a = 1 }", 10, "expected '&&', '||' or ')' but found '}'"),
        ('{ .a = "open }', 7, "expected '\"' to close the string but found end of query"),
        ('{ .a = "line\n" }', 7, "expected '\"' to close the string but found end of line"),
        ("{ span. = 1 }", 7, "expected an attribute name after 'span.'"),
        ('{ span."a = 1 }', 7, "expected '\"' to close the attribute name but found end of query"),
        ('{ .a = "\\q" }', 8, "expected a valid escape"),
        ('{ status = "error" }', 11, 'expected a status (error, ok, unset) but found string "error"'),
        ("{ kind = error }", 9, "expected a kind (unspecified, internal, server, client, producer, consumer)"),
        ("{ status > ok }", 9, "expected = or != with status but found >"),
        ('{ duration > "1s" }', 13, "expected a duration such as 1.5s but found string"),
        ("{ name = 1 }", 9, "expected a string but found int 1"),
        ("{ .a =~ 1 }", 8, "expected a string (regular expression) after =~ but found int 1"),
        ('{ .a =~ "(" }', 8, "expected a valid regular expression"),
        ("{ .a > nil }", 5, "expected = or != with nil but found >"),
        ("{ .a = .b }", 7, "expected a value to compare with, but found two fields"),
        ("{ } | count() > 1 && { }", 18, "expected '|', 'with' or end of query but found '&&'"),
        ("{ } | count() =~ 1", 14, "expected a comparison operator (=, !=, >, >=, <, <=) but found '=~'"),
        ('{ } | count() > "x"', 16, "expected a number or duration but found '\"x\"'"),
        ("{ } | avg(name) > 1", 10, "expected a numeric field but found 'name'"),
        ("{ } | select()", 13, "expected an attribute, intrinsic or value but found ')'"),
        ("{ } | select(1)", 13, "expected an attribute or intrinsic but found '1'"),
        ("{ } | by(name)", 6, "by() is not supported"),
        ("{ } | frobnicate()", 6, "expected count(), avg(), min(), max(), sum() or select() but found 'frobnicate'"),
        ("{ } >> { }", 4, "expected '&&', '||', '|', 'with' or end of query but found '>>'"),
        ("{ childCount > 1 }", 2, "childCount is not supported"),
        ("{ parent.a = 1 }", 2, "parent. attributes are not supported"),
        ("{ span:bogus = 1 }", 2, "expected an intrinsic such as span:name but found 'span:bogus'"),
        ("{ .a = 1 @ }", 9, "expected a value, field or operator but found '@'"),
        ("{ } with (x 1)", 12, "expected '=' but found '1'"),
        ("(" * 100 + "{}" + ")" * 100, 64, "the query nests more than 64 levels deep"),
    ],
)  # fmt: skip
def test_errors_say_where_and_what_was_expected(text: str, position: int, message: str) -> None:
    with pytest.raises(TraceQLError) as caught:
        parse(text)
    assert caught.value.position == position
    assert message in caught.value.message
    assert str(caught.value) == f"parse error at {position}: {caught.value.message}"


def test_error_message_format_of_the_interface() -> None:
    with pytest.raises(TraceQLError) as caught:
        parse('{ name = "a" && { }')
    assert str(caught.value) == "parse error at 16: expected an attribute, intrinsic or value but found '{'"


_TOKENS = [
    "{", "}", "(", ")", "&&", "||", "!", "|", "=", "!=", ">", ">=", "<", "<=", "=~", "!~", ",", "-", ">>", "~",
    "span.a", "resource.service.name", ".x", 'span."a b"', "event.e", "link.l", "name", "status", "kind",
    "duration", "traceDuration", "rootName", "rootServiceName", "statusMessage", "span:id", "trace:id",
    "event:name", "link:traceID", "span:parentID", "instrumentation:name", '"str"', '"a.*"', "`raw`", "1", "2.5",
    "1.5s", "200ms", "true", "false", "nil", "ok", "error", "unset", "server", "client", "count()", "avg",
    "max", "select", "with", "most_recent", '"\\"; DROP TABLE spans; --"', '"("',
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_arbitrary_text_only_raises_traceql_errors(text: str) -> None:
    try:
        parse(text)
    except TraceQLError as exc:
        assert 0 <= exc.position <= len(text)


# ---------------------------------------------------------------------------------- compiler


def request(service: str, spans: list[Span], resource: dict[str, Any] | None = None) -> bytes:
    body = ExportTraceServiceRequest()
    resource_spans = body.resource_spans.add()
    for key, value in {"service.name": service, **(resource or {})}.items():
        kv = resource_spans.resource.attributes.add()
        kv.key = key
        to_proto(value, kv.value)
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = f"{service}-instrumentation"
    scope_spans.spans.extend(spans)
    return body.SerializeToString()


def span(trace: str, span_id: str, name: str, start_ms: int, end_ms: int, *, parent: str = "", kind: int = 1,
         status: int = 0, message: str = "", events: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
         links: list[tuple[str, str]] = (), **attributes: Any) -> Span:  # type: ignore[assignment]  # fmt: skip
    out = Span(
        trace_id=bytes.fromhex(trace), span_id=bytes.fromhex(span_id), parent_span_id=bytes.fromhex(parent),
        name=name, kind=kind, start_time_unix_nano=T0 + start_ms * MS, end_time_unix_nano=T0 + end_ms * MS,
        status=Status(code=status, message=message),
    )  # fmt: skip
    for key, value in attributes.items():
        kv = out.attributes.add()
        kv.key = key.replace("__", ".").replace("_SPACE_", " ")
        to_proto(value, kv.value)
    for event_name, event_attributes in events:
        event = out.events.add(name=event_name, time_unix_nano=T0 + start_ms * MS)
        for key, value in event_attributes.items():
            kv = event.attributes.add()
            kv.key = key
            to_proto(value, kv.value)
    for link_trace, link_span in links:
        out.links.add(trace_id=bytes.fromhex(link_trace), span_id=bytes.fromhex(link_span))
    return out


A, B, C = "a1" * 16, "b2" * 16, "c3" * 16
LINKED_TRACE = "cc" * 16
SERVER, INTERNAL, CLIENT, PRODUCER, CONSUMER = 2, 1, 3, 4, 5


def dataset() -> list[bytes]:
    """Three journeys: an IVR call (t0), an AI session (t0+100s, delivered twice, as a retrying
    exporter would), a queue wait (t0+200s)."""
    ivr = request("ivr", [
        span(A, "a100000000000001", "inbound-call", 0, 10_000, kind=SERVER,
             events=[("dtmf", {"digit": "1"})], **{
                 "cx.span.type": "ivr", "cx.queue.name": "billing", "http.status_code": 200, "flag": True,
                 "tags": ["red", "blue"], "attr with space": "x y", "ratio": 0.5, "region": "span-region"}),
        span(A, "a100000000000002", "menu", 1_000, 3_000, parent="a100000000000001", kind=INTERNAL, status=2,
             message="timeout", links=[(LINKED_TRACE, "dd" * 8)], **{
                 "cx.agent.id": "agent-7", "http.status_code": "200", "note": INJECTION}),
    ], {"region": "us", "cx.platform.name": "twilio"})  # fmt: skip
    ai = request("ai-agent", [
        span(B, "b200000000000001", "ai-session", 0 + 100_000, 100_500, kind=CLIENT, status=1, **{
            "cx.platform.interaction.id": "int-42", "score": 7, "http.status_code": 503, "tags": ["green"]}),
        span(B, "b200000000000002", "llm.call", 100_100, 101_600, parent="b200000000000001", kind=CLIENT, status=2,
             model="gpt"),
        span(B, "b200000000000003", "tool.call", 100_200, 100_400, parent="b200000000000001", kind=PRODUCER,
             **{"cx.agent.id": 5}),
    ])  # fmt: skip
    queue = request("queue", [
        span(C, "c300000000000001", "queue.wait", 200_000, 320_000, kind=CONSUMER, **{
            "cx.queue.name": "sales", "cx.telephony.ani.number": "+14155550123"}),
    ], {"region": "eu"})  # fmt: skip
    return [ivr, ai, queue, ai]


async def deliver(path: Path, bodies: list[bytes]) -> None:
    store = SpanStore(StoreConfig(path=path, correlator=CorrelatorConfig(phone_hash_key=KEY), commit_interval=0.0))
    async with store:
        pipeline = Correlator(store.config.correlator, store)
        for body in bodies:
            await pipeline.consume(decode_body(body, "default").batch)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    path = tmp_path_factory.mktemp("traceql") / "j.duckdb"
    asyncio.run(deliver(path, dataset()))
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM spans").fetchone() == (9,)  # the AI session twice
    return con


@pytest.fixture(scope="module")
def journeys(db: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Trace ID → journey ID."""
    return dict(db.execute("SELECT DISTINCT trace_id, journey_id FROM spans").fetchall())


DEFAULTS: dict[str, Any] = {
    "tenant": "default", "start_ns": None, "end_ns": None, "min_duration_ns": None, "max_duration_ns": None,
    "limit": 20, "spans_per_set": 0,
}  # fmt: skip


def run(db: duckdb.DuckDBPyConnection, text: str, **overrides: Any) -> list[tuple[Any, ...]]:
    sql, params = compile_search(parse(text), **{**DEFAULTS, **overrides})
    assert "?" in sql and "\x00" not in sql
    return db.execute(sql, params).fetchall()


def names(db: duckdb.DuckDBPyConnection, text: str, **overrides: Any) -> set[str]:
    rows = run(db, text, **overrides)
    found = [row[2] for row in rows]
    assert len(found) == len(set(found)), f"a span came back twice: {found}"
    return set(found)


ALL = {"inbound-call", "menu", "ai-session", "llm.call", "tool.call", "queue.wait"}
IVR, AI = {"inbound-call", "menu"}, {"ai-session", "llm.call", "tool.call"}

CASES = [
    ("{}", ALL), ("{ }", ALL), ("{ true }", ALL), ("{ false }", set()), ("{ 1 = 1 }", ALL), ('{ 1 = "1" }', set()),
    ('{ resource.service.name = "ivr" }', IVR),
    ('{ resource.service.name =~ "ai-.*" }', AI),
    ('{ resource.service.name != "ivr" }', AI | {"queue.wait"}),
    ('{ name = "menu" }', {"menu"}),
    ('{ name != "menu" }', ALL - {"menu"}),
    ('{ name > "q" }', {"queue.wait", "tool.call"}),
    ('{ name <= "ai-session" }', {"ai-session"}),
    ('{ name =~ "menu" }', {"menu"}),
    ('{ name =~ "men" }', set()),  # regexes are fully anchored
    ('{ name !~ ".*call.*" }', {"menu", "ai-session", "queue.wait"}),
    ("{ status = error }", {"menu", "llm.call"}),
    ("{ status = ok }", {"ai-session"}),
    ("{ status = unset }", {"inbound-call", "tool.call", "queue.wait"}),
    ("{ status != unset }", {"menu", "llm.call", "ai-session"}),
    ("{ kind = server }", {"inbound-call"}),
    ("{ span:kind = producer }", {"tool.call"}),
    ("{ kind != client }", ALL - {"ai-session", "llm.call"}),
    ("{ duration > 1s }", {"inbound-call", "menu", "llm.call", "queue.wait"}),
    ("{ duration >= 2s }", {"inbound-call", "menu", "queue.wait"}),
    ("{ duration < 500ms }", {"tool.call"}),
    ("{ span:duration <= 500ms }", {"ai-session", "tool.call"}),
    ("{ duration = 1.5s }", {"llm.call"}),
    ("{ traceDuration > 60s }", {"queue.wait"}),
    ("{ trace:duration < 2s }", AI),
    ('{ rootName = "ai-session" }', AI),
    ('{ rootServiceName = "ivr" }', IVR),
    ('{ trace:rootService =~ "q.*" }', {"queue.wait"}),
    ('{ statusMessage = "timeout" }', {"menu"}),
    ('{ span:statusMessage = "" }', ALL - {"menu"}),
    ("{ span:parentID = nil }", {"inbound-call", "ai-session", "queue.wait"}),
    ('{ span:parentID = "B200000000000001" }', {"llm.call", "tool.call"}),
    ('{ span:id = "a100000000000002" }', {"menu"}),
    ('{ instrumentation:name = "queue-instrumentation" }', {"queue.wait"}),
    # Typed attribute comparisons.
    ("{ span.http.status_code = 200 }", {"inbound-call"}),
    ('{ span.http.status_code = "200" }', {"menu"}),
    ("{ span.http.status_code >= 500 }", {"ai-session"}),
    ("{ .http.status_code > 199 && .http.status_code < 300 }", {"inbound-call"}),
    ("{ span.http.status_code != 200 }", {"ai-session"}),
    ("{ span.ratio = 0.5 }", {"inbound-call"}),
    ("{ span.ratio < 1 }", {"inbound-call"}),
    ("{ span.score = 7.0 }", {"ai-session"}),
    ("{ span.score > -1 }", {"ai-session"}),
    ("{ span.flag = true }", {"inbound-call"}),
    ("{ span.flag != true }", set()),
    ("{ span.flag = false }", set()),
    ('{ span.flag = "true" }', set()),
    ('{ span.model =~ "g.t" }', {"llm.call"}),
    ('{ span.model !~ "g.t" }', set()),
    ("{ span.model = error }", set()),  # an attribute is never of the status type
    # Arrays: = and =~ when any element matches, != and !~ when none does.
    ('{ span.tags = "blue" }', {"inbound-call"}),
    ('{ span.tags != "blue" }', {"ai-session"}),
    ('{ span.tags =~ "gr.*" }', {"ai-session"}),
    ('{ span.tags !~ "r.*" }', {"ai-session"}),
    ('{ span."attr with space" = "x y" }', {"inbound-call"}),
    # Promoted attributes live in columns only.
    ('{ span.cx.queue.name = "billing" }', {"inbound-call"}),
    ('{ .cx.queue.name =~ "s.*" }', {"queue.wait"}),
    ('{ span.cx.span.type = "ivr" }', {"inbound-call"}),
    ('{ span.cx.platform.interaction.id = "int-42" }', {"ai-session"}),
    ('{ span.cx.agent.id = "agent-7" }', {"menu"}),
    ("{ span.cx.agent.id = 5 }", {"tool.call"}),
    ("{ span.cx.agent.id != nil }", {"menu", "tool.call"}),
    ("{ span.cx.queue.name = nil }", ALL - {"inbound-call", "queue.wait"}),
    ('{ .cx.platform.name = "twilio" }', IVR),
    ('{ resource.cx.platform.name = "twilio" }', IVR),
    ('{ span.cx.platform.name = "twilio" }', set()),
    # Unscoped: the span's attribute if it has one, else the resource's.
    ('{ .region = "span-region" }', {"inbound-call"}),
    ('{ .region = "us" }', {"menu"}),
    ('{ resource.region = "us" }', IVR),
    ('{ .region = "eu" }', {"queue.wait"}),
    ('{ .service.name = "queue" }', {"queue.wait"}),
    # nil: absent / present.
    ("{ span.model = nil }", ALL - {"llm.call"}),
    ("{ span.model != nil }", {"llm.call"}),
    ("{ .region != nil }", IVR | {"queue.wait"}),
    # Events and links: any of them.
    ('{ event:name = "dtmf" }', {"inbound-call"}),
    ('{ event.digit = "1" }', {"inbound-call"}),
    ('{ event.digit = 1 }', set()),
    ('{ link:traceID = "' + LINKED_TRACE.upper() + '" }', {"menu"}),
    ('{ link:spanID = "dddddddddddddddd" }', {"menu"}),
    ("{ link:traceID = nil }", ALL - {"menu"}),
    # Boolean logic, with Tempo's precedence.
    ('{ !(name = "menu") && resource.service.name = "ivr" }', {"inbound-call"}),
    ('{ name = "menu" || name = "llm.call" }', {"menu", "llm.call"}),
    ('{ name = "menu" || name = "llm.call" && status = ok }', set()),
    ('{ !(span.model = "gpt") }', ALL - {"llm.call"}),
    # Spanset operators: both kinds of span, of traces having both.
    ('{ name = "menu" } && { kind = server }', {"menu", "inbound-call"}),
    ('{ name = "menu" } && { name = "llm.call" }', set()),
    ('{ name = "menu" } || { name = "llm.call" }', {"menu", "llm.call"}),
    ('({ name = "menu" } || { name = "tool.call" }) && { status = error }', {"menu", "tool.call", "llm.call"}),
    # Pipelines: the retried AI session's spans count once.
    ('{ resource.service.name = "ai-agent" } | count() > 2', AI),
    ('{ resource.service.name = "ai-agent" } | count() > 3', set()),
    ("{ } | count() = 1", {"queue.wait"}),
    ("{ } | avg(duration) > 30s", {"queue.wait"}),
    ("{ } | max(duration) >= 10s", IVR | {"queue.wait"}),
    ("{ } | min(span:duration) < 300ms", AI),
    ("{ } | sum(span.http.status_code) > 500", AI),
    ("{ status = error } | count() = 1 | select(span.model)", {"menu", "llm.call"}),
    ('{ } with (most_recent=true)', ALL),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_query_matches_exactly(db: duckdb.DuckDBPyConnection, text: str, expected: set[str]) -> None:
    assert names(db, text) == expected


def test_phone_hash_and_journey_id(db: duckdb.DuckDBPyConnection, journeys: dict[str, str]) -> None:
    (phone_hash,) = db.execute("SELECT customer_phone_hash FROM spans WHERE name = 'queue.wait'").fetchone()
    assert phone_hash and "+1415" not in db.execute("SELECT string_agg(attributes, '') FROM spans").fetchone()[0]
    assert names(db, f'{{ span.cx.telephony.ani.hash = "{phone_hash}" }}') == {"queue.wait"}
    assert names(db, f'{{ trace:id = "{journeys[A]}" }}') == IVR


def test_spans_report_selected_and_tested_values_by_unscoped_name(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, '{ name = "menu" } | select(span.cx.agent.id, resource.region, status, kind, duration, .missing, '
                   "span.http.status_code, rootName)")  # fmt: skip
    assert len(rows) == 1
    assert json.loads(rows[0][6]) == {
        "cx.agent.id": "agent-7", "region": "us", "status": "error", "kind": "internal", "duration": 2 * S,
        "missing": None, "http.status_code": "200", "rootName": "inbound-call",
    }  # fmt: skip
    (row,) = run(db, '{ name = "tool.call" } | select(span.cx.agent.id, .cx.queue.name)')
    assert json.loads(row[6]) == {"cx.agent.id": 5, "cx.queue.name": None}
    assert {r[6] for r in run(db, '{ } || { name = "menu" && duration > 1s && trace:id != "x" }')} == {None}
    # Like Tempo, spans also report the attributes, status and kind the conditions test.
    rows = run(db, '{ status = error && (span.model = "gpt" || resource.service.name = "ivr") && kind != server }')
    assert {r[2]: json.loads(r[6]) for r in rows} == {
        "menu": {"status": "error", "model": None, "service.name": "ivr", "kind": "internal"},
        "llm.call": {"status": "error", "model": "gpt", "service.name": "ai-agent", "kind": "client"},
    }


def test_rows_order_limit_spans_per_set_and_time_range(db: duckdb.DuckDBPyConnection, journeys: dict[str, str]) -> None:
    rows = run(db, "{ }")
    assert [r[2] for r in rows] == ["queue.wait", "ai-session", "llm.call", "tool.call", "inbound-call", "menu"]
    assert rows[0][:6] == (journeys[C], "c300000000000001", "queue.wait", "queue", T0 + 200 * S, T0 + 320 * S)
    assert [r[2] for r in run(db, "{ }", limit=2, spans_per_set=1)] == ["queue.wait", "ai-session"]
    two_each = ["queue.wait", "ai-session", "llm.call", "inbound-call", "menu"]
    assert [r[2] for r in run(db, "{ }", spans_per_set=2)] == two_each
    # The range keeps journeys that overlap it: the IVR call ends at t0+10s.
    assert names(db, "{ }", start_ns=T0 + 5 * S, end_ns=T0 + 99 * S) == IVR
    assert names(db, "{ }", start_ns=T0 + 11 * S, end_ns=T0 + 100 * S) == AI
    assert names(db, "{ }", start_ns=T0 + 400 * S) == set()
    assert names(db, "{ }", min_duration_ns=60 * S) == {"queue.wait"}
    assert names(db, "{ }", max_duration_ns=5 * S) == AI
    assert names(db, "{ }", min_duration_ns=5 * S, max_duration_ns=60 * S) == IVR
    assert names(db, "{ }", tenant="someone-else") == set()


def test_values_and_names_never_reach_the_sql_text(db: duckdb.DuckDBPyConnection) -> None:
    escaped = INJECTION.replace("\\", "\\\\").replace('"', '\\"')
    text = f'{{ span.note = "{escaped}" }}'
    sql, params = compile_search(parse(text), **DEFAULTS)
    assert INJECTION not in sql and "DROP" not in sql and INJECTION in params
    assert names(db, text) == {"menu"}
    assert names(db, '{ span.note =~ ".*DROP TABLE.*" } | select(span.note)') == {"menu"}

    evil_name = """x') OR 1=1; DROP TABLE spans; --"""
    text = f'{{ span."{evil_name}" = "a" || resource."{evil_name}" != 1 }} | select(span."{evil_name}")'
    sql, params = compile_search(parse(text), **DEFAULTS)
    assert "DROP" not in sql and "OR 1=1" not in sql
    assert names(db, text) == set()
    for literal in ("billing", "timeout", "span-region", "a100000000000002"):
        query = f'{{ .cx.queue.name = "{literal}" || statusMessage = "{literal}" || span:id = "{literal}" }}'
        sql, _ = compile_search(parse(query), **DEFAULTS)
        assert literal not in sql
    assert db.execute("SELECT count(*) FROM spans").fetchone() == (9,)


@st.composite
def token_soup(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(st.sampled_from(_TOKENS), max_size=14))
    spaces = draw(st.lists(st.sampled_from(["", " "]), min_size=len(tokens), max_size=len(tokens)))
    return "".join(t + s for t, s in zip(tokens, spaces, strict=True))


_FIELDS = [
    "span.http.status_code", "span.tags", ".region", "span.cx.agent.id", ".cx.queue.name", "resource.service.name",
    'span."attr with space"', "event.digit", "link.l", "name", "status", "kind", "duration", "traceDuration",
    "rootName", "rootServiceName", "statusMessage", "span:id", "trace:id", "event:name", "link:traceID",
    "span:parentID", "instrumentation:name",
]  # fmt: skip
_VALUES = ['"str"', '"a.*"', "`raw`", "1", "-2.5", "1.5s", "200ms", "true", "nil", "ok", "error", "server",
           '"\\"; DROP TABLE spans; --"', "7", '"green"']  # fmt: skip
_OPS = ["=", "!=", ">", ">=", "<", "<=", "=~", "!~"]
comparisons = st.builds(
    lambda f, o, v: f"{f} {o} {v}", st.sampled_from(_FIELDS), st.sampled_from(_OPS), st.sampled_from(_VALUES)
)
field_exprs = st.recursive(
    comparisons | st.sampled_from(["true", "false"]),
    lambda inner: st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["&&", "||"]), inner)
    | inner.map(lambda e: f"!({e})") | inner.map(lambda e: f"({e})"),
    max_leaves=6,
)
spansets = st.recursive(
    field_exprs.map(lambda e: "{ " + e + " }") | st.just("{}"),
    lambda inner: st.builds(lambda a, op, b: f"({a}) {op} {b}", inner, st.sampled_from(["&&", "||"]), inner),
    max_leaves=3,
)
stages = st.sampled_from(
    ["count() > 1", "count() = 1", "avg(duration) > 1s", "max(span.http.status_code) >= 500", "sum(.score) < 10",
     "select(span.a, resource.region, status, .tags, event:name)", "min(traceDuration) > 0"]
)  # fmt: skip
queries = st.builds(lambda s, p: s + "".join(" | " + x for x in p), spansets, st.lists(stages, max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(token_soup(), queries))
def test_fuzz_every_query_that_parses_compiles_and_runs(db: duckdb.DuckDBPyConnection, text: str) -> None:
    try:
        query = parse(text)
    except TraceQLError as exc:
        assert 0 <= exc.position <= len(text)
        return
    sql, params = compile_search(query, **{**DEFAULTS, "spans_per_set": 3})
    assert "DROP" not in sql
    db.execute(sql, params).fetchall()
