"""Per-journey facts and the historical analytics API, over a real DuckDB file.

The 40 simulated journeys (tests/fixtures/journeys) and hand-built journeys with known numbers go
through ``facts()`` into ``journey_analysis`` / ``journey_insights`` of a migrated DuckDB file;
every analytics answer is then checked against the same numbers computed here in plain Python
from the same rows (counts, rates, linear-interpolation percentiles, path counts, Sankey flows).
The HTTP layer is exercised through the query app on a real ``SpanStore`` opened on that file.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import duckdb
import httpx
import pyarrow as pa
import pytest

from journeytrace import semconv
from journeytrace.correlator import CorrelatorConfig
from journeytrace.correlator.analysis.facts import facts
from journeytrace.correlator.analysis.model import Evaluation, Insight
from journeytrace.query import analytics as analytics_api
from journeytrace.query.app import create_app
from journeytrace.storage import SpanStore, StoreConfig, analytics, schema
from journeytrace.storage.analytics import Filters

FIXTURES = Path(__file__).parent / "fixtures" / "journeys"
TENANT = "acme"
RECENT = "recent"
S = 1_000_000_000
MS = 1_000_000
HOUR = 3600 * S
DAY = 86_400 * S
BASE = (1_795_908_000 // 86_400 - 10) * DAY
"""Midnight UTC ten days before the simulated journeys: hand-built journeys start on the days after it."""
EVERYTHING = Filters(start_from=0, start_to=2**62)


# --- building journeys as the read API returns them -------------------------------------------


def span(span_type: str | None, start: int, end: int, *, name: str | None = None, **attributes: Any) -> dict[str, Any]:
    """One span; ``attributes`` use ``__`` for ``.`` (``cx__queue__name``) or pass a dict via ``attrs``."""
    extra = attributes.pop("attrs", {})
    attrs = {k.replace("__", "."): v for k, v in attributes.items()}
    if span_type is not None:
        attrs[semconv.CX_SPAN_TYPE] = span_type
    return {"span_id": "", "parent_span_id": None, "name": name or span_type or "span", "start_unix_nano": start,
            "end_unix_nano": end, "status_code": "STATUS_CODE_UNSET", "attributes": {**attrs, **extra}, "events": []}  # fmt: skip


def journey(
    journey_id: str,
    legs: list[tuple[str, list[dict[str, Any]]]],
    *,
    outcome: str | None = None,
    inferred_handoffs: bool = True,
) -> dict[str, Any]:
    """A journey dict shaped like ``GET /api/journeys/{id}``: each leg is (platform, spans), its first
    span the leg root (parented to the synthetic root, numbered), the rest its children. Like the
    read side, a handoff is inferred between legs unless the earlier leg reported one
    (``inferred_handoffs=False`` skips them; a test may add its own)."""
    root_id = f"{journey_id[:12]}root"
    spans: list[dict[str, Any]] = []
    built_legs = []
    for number, (platform, leg_spans) in enumerate(legs, start=1):
        for index, one in enumerate(leg_spans):
            one["span_id"] = f"{number:02d}{index:02d}{journey_id[:12]}"
            one["attributes"].setdefault(semconv.CX_PLATFORM_NAME, platform)
            one["attributes"].setdefault(semconv.CX_PLATFORM_INTERACTION_ID, f"{platform}-{number}")
            if index == 0:
                one["parent_span_id"] = root_id
                one["attributes"][semconv.CX_LEG_NUMBER] = number
            elif one["parent_span_id"] is None:
                one["parent_span_id"] = leg_spans[0]["span_id"]
            spans.append(one)
        built_legs.append({
            "leg": number, "platform": platform, "interaction_ids": [f"{platform}-{number}"],
            "start_unix_nano": min(s["start_unix_nano"] for s in leg_spans),
            "end_unix_nano": max(s["end_unix_nano"] for s in leg_spans),
        })  # fmt: skip
    synthetic = []
    for previous, following in zip(built_legs, built_legs[1:], strict=False):
        reported = any(_type(s) == "handoff" for _, ss in legs[previous["leg"] - 1 : previous["leg"]] for s in ss)
        if inferred_handoffs and not reported:
            begin = min(previous["end_unix_nano"], following["start_unix_nano"])
            synthetic.append(synthetic_handoff(journey_id, previous["platform"], following["platform"], begin,
                                               following["start_unix_nano"]))  # fmt: skip
    start = min(s["start_unix_nano"] for s in spans)
    end = max(s["end_unix_nano"] for s in spans)
    root = span("journey", start, end, attrs={semconv.CX_JOURNEY_ID: journey_id})
    root["span_id"] = root_id
    root["synthetic"] = True
    for one in synthetic:
        one["parent_span_id"] = root_id
    return {
        "journey_id": journey_id, "start_unix_nano": start, "end_unix_nano": end, "duration_nano": end - start,
        "status": "complete", "leg_count": len(built_legs), "platforms": [leg["platform"] for leg in built_legs],
        "outcome": outcome, "legs": built_legs, "correlation": [], "spans": [root, *synthetic, *spans],
    }  # fmt: skip


def synthetic_handoff(journey_id: str, source: str, target: str, begin: int, end: int) -> dict[str, Any]:
    one = span("handoff", begin, end, name=f"handoff {source}->{target}", attrs={
        semconv.CX_HANDOFF_FROM_PLATFORM: source, semconv.CX_HANDOFF_TO_PLATFORM: target,
        semconv.CX_HANDOFF_LATENCY_MS: (end - begin) // MS, semconv.CX_HANDOFF_SYNTHETIC: True,
    })  # fmt: skip
    one["span_id"] = f"syn{begin % 10**9:09d}{journey_id[:4]}"
    one["synthetic"] = True
    return one


def _type(one: dict[str, Any]) -> str | None:
    return one["attributes"].get(semconv.CX_SPAN_TYPE)


def insight(rule: str, severity: str = "warning", **columns: Any) -> Insight:
    category = columns.pop("category", "operational")
    return Insight(rule=rule, category=category, severity=severity, span_id="0" * 16,
                   explanation=f"{rule} happened", **columns)  # fmt: skip


def fixtures() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]


# --- facts() ------------------------------------------------------------------------------------


def by_id(found: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    return next(j for j in found if j["journey_id"].endswith(suffix))


def test_facts_of_every_fixture_follow_its_legs() -> None:
    found = fixtures()
    assert len(found) == 40
    for one in found:
        result = facts(one, Evaluation(insights=()))
        assert set(result) == FACT_COLUMNS
        legs = one["legs"]
        assert result["path"] == [leg["platform"] for leg in legs]
        assert result["leg_count"] == len(legs) == one["leg_count"]
        assert (result["start_unix_nano"], result["end_unix_nano"]) == (one["start_unix_nano"], one["end_unix_nano"])
        assert result["outcome"] == one["outcome"]
        assert result["dropped"] == (one["outcome"] == "dropped")
        # One handoff per hop between legs, in leg order, none counted twice.
        hops = [(h["from_platform"], h["to_platform"]) for h in result["handoffs"]]
        assert hops[: len(legs) - 1] == list(zip(result["path"], result["path"][1:], strict=False))
        assert all(h["latency_ms"] is None or h["latency_ms"] >= 0 for h in result["handoffs"])
        types = {s["attributes"].get(semconv.CX_SPAN_TYPE) for s in one["spans"]}
        assert result["has_ai"] == ("ai_conversation" in types)
        assert result["has_agent"] == ("agent_interaction" in types)
        assert result["contained"] <= (result["has_ai"] and not result["has_agent"])
        assert (result["queue_wait_ms"] is None) == ("queue" not in types)
        assert result["insights"] == []


FACT_COLUMNS = {
    "start_unix_nano", "end_unix_nano", "path", "leg_count", "outcome", "has_ai", "has_agent", "contained",
    "dropped", "queues", "agents", "flows", "queue_wait_ms", "handoffs", "insights",
}  # fmt: skip


def test_facts_of_known_fixtures() -> None:
    found = fixtures()
    none = Evaluation(insights=())
    # PolyAI hands off to Connect (reported by PolyAI, 1.745 s before Connect's leg begins); queue 73 s.
    polyai = facts(by_id(found, "0b6e5ca57015368bd285f3dfca3cec81"), none)
    assert polyai["handoffs"] == [{"from_platform": "polyai", "to_platform": "amazon_connect", "latency_ms": 1745.0}]
    assert (polyai["queues"], polyai["agents"], polyai["flows"]) == (["Billing"], ["c-silva"], [])
    assert polyai["queue_wait_ms"] == 73_000.0
    assert (polyai["has_ai"], polyai["has_agent"], polyai["contained"]) == (True, True, False)
    # Twilio -> Vapi -> Twilio -> Connect: two inferred hops and one Vapi reported (302 ms).
    vapi = facts(by_id(found, "1966d38a015b4d6e042e606e44c6fb8c"), none)
    assert vapi["handoffs"] == [
        {"from_platform": "twilio", "to_platform": "vapi", "latency_ms": 0.0},
        {"from_platform": "vapi", "to_platform": "twilio", "latency_ms": 302.0},
        {"from_platform": "twilio", "to_platform": "amazon_connect", "latency_ms": 0.0},
    ]
    # Genesys IVR transfers to PolyAI (the handoff span lasts 2 s), PolyAI hands back 4 s before Genesys answers.
    genesys = facts(by_id(found, "3ffb0a70e2204fd1bedcfe768dd4bfe1"), none)
    assert genesys["flows"] == ["Main IVR", "PolyAI handback"]
    assert [h["latency_ms"] for h in genesys["handoffs"]] == [2000.0, 4000.0]
    assert genesys["dropped"] and not genesys["contained"]
    # A LiveKit agent answered and nobody else: contained. Vapi transferring to an outside desk: not.
    assert facts(by_id(found, "088946ebb8524ace8078d04326ead7b8"), none)["contained"]
    assert not facts(by_id(found, "557e0a627248b48a5ea320b7a6459829"), none)["contained"]
    contained = sorted(j["journey_id"] for j in found if facts(j, none)["contained"])
    assert contained == ["088946ebb8524ace8078d04326ead7b8", "c0ae4497fb2d4cd880db9acaacfa6c93",
                         "fbd13ac53766464896bfa3d8f7302480"]  # fmt: skip


def test_facts_queue_wait_prefers_the_reported_wait_and_sums_queues() -> None:
    built = journey("a" * 32, [("amazon_connect", [
        span("telephony", BASE, BASE + 600 * S),
        span("queue", BASE + 10 * S, BASE + 100 * S, cx__queue__name="Billing", cx__queue__wait__duration=42.5),
        span("queue", BASE + 200 * S, BASE + 230 * S, cx__queue__name="Support"),
        span("agent_interaction", BASE + 230 * S, BASE + 600 * S, cx__agent__id="b.khan", cx__agent__type="human"),
    ])], outcome="resolved")  # fmt: skip
    result = facts(built, Evaluation(insights=()))
    assert result["queue_wait_ms"] == pytest.approx(42_500 + 30_000)
    assert result["queues"] == ["Billing", "Support"]
    assert result["agents"] == ["b.khan"]
    assert result["handoffs"] == []
    assert (result["has_ai"], result["has_agent"], result["contained"]) == (False, True, False)


def test_facts_count_a_hop_once_when_both_reported_and_inferred() -> None:
    built = journey("b" * 32, [
        ("polyai", [span("ai_conversation", BASE, BASE + 60 * S),
                    span("handoff", BASE + 58 * S, BASE + 58 * S, cx__handoff__from__type="ai")]),
        ("amazon_connect", [span("telephony", BASE + 61 * S, BASE + 90 * S)]),
    ], outcome="resolved", inferred_handoffs=False)  # fmt: skip
    # A second source claims the same hop (an inferred handoff beside the reported one).
    built["spans"].append(
        synthetic_handoff(built["journey_id"], "polyai", "amazon_connect", BASE + 60 * S, BASE + 61 * S)
    )
    result = facts(built, Evaluation(insights=()))
    assert result["handoffs"] == [{"from_platform": "polyai", "to_platform": "amazon_connect", "latency_ms": 3000.0}]


def test_facts_keep_a_transfer_no_leg_followed() -> None:
    built = journey("c" * 32, [
        ("twilio", [span("telephony", BASE, BASE + 40 * S)]),
        ("vapi", [span("ai_conversation", BASE + S, BASE + 30 * S, cx__ai__outcome="handoff"),
                  span("handoff", BASE + 30 * S, BASE + 30 * S, cx__handoff__to__type="external")]),
    ], outcome=None)  # fmt: skip
    result = facts(built, Evaluation(insights=()))
    assert result["handoffs"] == [
        {"from_platform": "twilio", "to_platform": "vapi", "latency_ms": 0.0},
        {"from_platform": "vapi", "to_platform": None, "latency_ms": None},
    ]
    assert result["has_ai"] and not result["contained"]


@pytest.mark.parametrize(
    ("spans", "outcome", "has_ai", "has_agent", "contained"),
    [
        ([span("ai_conversation", BASE, BASE + 60 * S, cx__ai__outcome="resolved")], "resolved", True, False, True),
        ([span("ai_conversation", BASE, BASE + 60 * S)], None, True, False, True),
        ([span("ai_conversation", BASE, BASE + 60 * S)], "abandoned", True, False, False),
        ([span("ai_conversation", BASE, BASE + 60 * S)], "dropped", True, False, False),
        ([span("ai_conversation", BASE, BASE + 60 * S)], "transferred_external", True, False, False),
        ([span("ai_conversation", BASE, BASE + 60 * S, cx__ai__outcome="failed")], None, True, False, False),
        ([span("telephony", BASE, BASE + 60 * S),
          span("agent_interaction", BASE, BASE + 60 * S, cx__agent__type="ai")], "resolved", True, False, True),
        ([span("ai_conversation", BASE, BASE + 60 * S),
          span("agent_interaction", BASE + S, BASE + 60 * S, cx__agent__type="human")], "resolved", True, True, False),
        ([span("ivr", BASE, BASE + 60 * S, cx__ivr__outcome="self_served")], "resolved", False, False, False),
    ],
)  # fmt: skip
def test_facts_containment(spans: list[dict[str, Any]], outcome: str | None, has_ai: bool, has_agent: bool,
                           contained: bool) -> None:  # fmt: skip
    result = facts(journey("d" * 32, [("livekit", spans)], outcome=outcome), Evaluation(insights=()))
    assert (result["has_ai"], result["has_agent"], result["contained"]) == (has_ai, has_agent, contained)


def test_facts_not_contained_after_an_ai_leg_hands_on() -> None:
    built = journey("e" * 32, [
        ("amazon_connect", [span("telephony", BASE, BASE + 10 * S)]),
        ("livekit", [span("ai_conversation", BASE + 11 * S, BASE + 50 * S)]),
        ("amazon_connect", [span("telephony", BASE + 51 * S, BASE + 90 * S),
                            span("queue", BASE + 51 * S, BASE + 90 * S, cx__queue__name="Support")]),
    ], outcome=None)  # fmt: skip
    result = facts(built, Evaluation(insights=()))
    assert result["path"] == ["amazon_connect", "livekit", "amazon_connect"]
    assert [h["latency_ms"] for h in result["handoffs"]] == [1000.0, 1000.0]
    assert result["has_ai"] and not result["has_agent"] and not result["contained"]


def test_facts_insights_are_distinct_sorted_rule_ids() -> None:
    built = journey("f" * 32, [("vapi", [span("ai_conversation", BASE, BASE + S)])])
    evaluation = Evaluation(insights=(insight("slow_handoff"), insight("dead_air"), insight("slow_handoff")))
    assert facts(built, evaluation)["insights"] == ["dead_air", "slow_handoff"]


# --- the analytics database -------------------------------------------------------------------


def _built_journeys() -> list[tuple[dict[str, Any], Evaluation]]:
    """Journeys with known numbers, on days 0-6 after ``BASE``."""
    day = [BASE + d * DAY + 9 * HOUR for d in range(7)]
    out = []
    # Day 0: AI alone resolves; another AI call drops; an IVR self-serves.
    out.append((journey("10" * 16, [("vapi", [span("ai_conversation", day[0], day[0] + 60 * S)])], outcome="resolved"),
                Evaluation(insights=())))  # fmt: skip
    out.append((journey("11" * 16, [
        ("twilio", [span("telephony", day[0] + HOUR, day[0] + HOUR + 70 * S)]),
        ("vapi", [span("ai_conversation", day[0] + HOUR + 2 * S, day[0] + HOUR + 70 * S)]),
    ], outcome="dropped"), Evaluation(insights=(
        insight("call_dropped", "critical", category="technical", platform="vapi"),
        insight("poor_audio_jitter", "warning", category="technical", platform="twilio"),
        insight("poor_audio_jitter", "critical", category="technical", platform="vapi"),
    ))))  # fmt: skip
    out.append((journey("12" * 16, [("genesys_cloud", [
        span("ivr", day[0] + 2 * HOUR, day[0] + 2 * HOUR + 30 * S, cx__ivr__flow__name="Main IVR"),
    ])], outcome="resolved"), Evaluation(insights=())))  # fmt: skip
    # Days 1-3: PolyAI -> Connect, queues and agents, with slow handoffs and long waits.
    for n, (d, wait_s, latency_s, queue, agent, outcome) in enumerate([
        (1, 30, 2, "Billing", "a.jones", "resolved"),
        (1, 400, 9, "Billing", "b.khan", "resolved"),
        (2, 1300, 12, "Support", None, "abandoned"),
        (2, 90, 1, "Sales", "a.jones", "resolved"),
        (3, 700, 15, "Billing", "a.jones", "resolved"),
    ]):  # fmt: skip
        start = day[d] + n * HOUR
        handed = start + 60 * S
        connect_start = handed + latency_s * S
        queue_end = connect_start + 5 * S + wait_s * S
        connect_spans = [
            span("telephony", connect_start, queue_end + 300 * S),
            span("ivr", connect_start, connect_start + 5 * S, cx__ivr__flow__name="Inbound"),
            span("queue", connect_start + 5 * S, queue_end, cx__queue__name=queue),
        ]
        if agent:
            connect_spans.append(span("agent_interaction", queue_end, queue_end + 300 * S, cx__agent__id=agent,
                                      cx__agent__type="human"))  # fmt: skip
        rules = []
        if latency_s > 5:
            rules.append(insight("slow_handoff", "critical" if latency_s > 10 else "warning", platform="polyai",
                                 category="technical"))  # fmt: skip
        if wait_s > 300:
            rules.append(insight("long_queue_wait", "warning", queue=queue))
        if outcome == "abandoned":
            rules.append(insight("abandoned_in_queue", "warning", queue=queue))
        out.append((journey(f"2{n}" * 16, [
            ("polyai", [span("ai_conversation", start, handed, cx__ai__outcome="handoff"),
                        span("handoff", handed, handed, cx__handoff__to__type="human")]),
            ("amazon_connect", connect_spans),
        ], outcome=outcome), Evaluation(insights=tuple(rules))))  # fmt: skip
    # Day 4: a long transfer loop (10 legs, beyond the Sankey's depth); day 5: two queues in one journey.
    loop = [("genesys_cloud" if i % 2 == 0 else "polyai",
             [span("ivr" if i % 2 == 0 else "ai_conversation", day[4] + i * 30 * S, day[4] + (i + 1) * 30 * S - S,
                   **({"cx__ivr__flow__name": "Main IVR"} if i % 2 == 0 else {}))])
            for i in range(10)]  # fmt: skip
    out.append((journey("30" * 16, loop, outcome="resolved"),
                Evaluation(insights=(insight("transfer_loop", "warning", category="operational", flow="Main IVR"),
                                     insight("many_legs", "info")))))  # fmt: skip
    out.append((journey("31" * 16, [("amazon_connect", [
        span("telephony", day[5], day[5] + 900 * S),
        span("queue", day[5] + 10 * S, day[5] + 130 * S, cx__queue__name="Billing"),
        span("queue", day[5] + 140 * S, day[5] + 200 * S, cx__queue__name="Support"),
        span("agent_interaction", day[5] + 200 * S, day[5] + 900 * S, cx__agent__id="b.khan", cx__agent__type="human"),
    ])], outcome="resolved"), Evaluation(insights=(insight("long_queue_wait", "warning", queue="Billing"),))))  # fmt: skip
    # Day 6: a LiveKit agent contains a Connect call.
    out.append((journey("32" * 16, [
        ("amazon_connect", [span("telephony", day[6], day[6] + 10 * S)]),
        ("livekit", [span("ai_conversation", day[6] + 11 * S, day[6] + 90 * S, cx__ai__outcome="resolved")]),
    ], outcome="resolved"), Evaluation(insights=())))  # fmt: skip
    return out


def _fixture_evaluation(index: int, one: dict[str, Any]) -> Evaluation:
    """Chosen insights for the simulated journeys, so rules spread over queues and platforms."""
    found = facts(one, Evaluation(insights=()))
    rules = []
    if found["dropped"]:
        rules.append(insight("call_dropped", "critical", category="technical", platform=found["path"][-1]))
    if (found["queue_wait_ms"] or 0) > 120_000:
        rules.append(insight("long_queue_wait", "critical" if found["queue_wait_ms"] > 200_000 else "warning",
                             queue=found["queues"][0]))  # fmt: skip
    if index % 4 == 0:
        rules.append(insight("high_ai_latency", "warning", category="conversational", platform=found["path"][0]))
    return Evaluation(insights=tuple(rules))


Rows = list[dict[str, Any]]


def _rows(tenant: str, analysed: list[tuple[dict[str, Any], Evaluation]]) -> tuple[Rows, Rows]:
    analysis, insights = [], []
    for one, evaluation in analysed:
        analysis.append({"tenant": tenant, "journey_id": one["journey_id"], "journey_key": None,
                         **facts(one, evaluation), "updated_unix_nano": 1, "analysed_unix_nano": 1,
                         "recheck_at_unix_nano": None, "summary": None, "summary_source": None, "fingerprint": None})  # fmt: skip
        insights += [{"tenant": tenant, "journey_id": one["journey_id"], "journey_key": None,
                      "start_unix_nano": one["start_unix_nano"], "rule": i.rule, "category": i.category,
                      "severity": i.severity, "span_id": i.span_id, "value": i.value, "threshold": i.threshold,
                      "unit": i.unit, "explanation": i.explanation, "platform": i.platform, "queue": i.queue,
                      "agent": i.agent, "flow": i.flow} for i in evaluation.insights]  # fmt: skip
    return analysis, insights


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """As the analysis worker inserts: an Arrow table of the row dicts."""
    columns = list(rows[0])
    con.register("fresh", pa.Table.from_pylist(rows))
    con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM fresh")
    con.unregister("fresh")


class Data:
    """The rows in the database, for computing expected answers independently."""

    def __init__(self, analysis: list[dict[str, Any]], insights: list[dict[str, Any]]) -> None:
        self.analysis = analysis
        self.insights = insights

    def journeys(self, f: Filters) -> list[dict[str, Any]]:
        return [
            r for r in self.analysis
            if r["tenant"] == TENANT and f.start_from <= r["start_unix_nano"] <= f.start_to
            and (not f.platforms or set(f.platforms) & set(r["path"]))
            and (f.queue is None or f.queue in r["queues"]) and (f.flow is None or f.flow in r["flows"])
        ]  # fmt: skip

    def insights_of(self, f: Filters) -> list[dict[str, Any]]:
        ids = {r["journey_id"] for r in self.journeys(f)}
        return [i for i in self.insights if i["tenant"] == TENANT and i["journey_id"] in ids]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Data]]:
    path = tmp_path_factory.mktemp("analytics") / "journeytrace.duckdb"
    con = duckdb.connect(str(path))
    schema.migrate(con)
    analysed = [(one, _fixture_evaluation(i, one)) for i, one in enumerate(fixtures())] + _built_journeys()
    analysis, insights = _rows(TENANT, analysed)
    # Another tenant's journeys never count.
    other, other_insights = _rows("other", _built_journeys())
    # A tenant of its own for journeys relative to now, which the API's default range (7 days) holds.
    now = time.time_ns()
    recent, _ = _rows(RECENT, [
        (journey("40" * 16, [("vapi", [span("ai_conversation", now - DAY, now - DAY + 60 * S)])], outcome="resolved"),
         Evaluation(insights=())),
        (journey("41" * 16, [("vapi", [span("ai_conversation", now - 8 * DAY, now - 8 * DAY + 9 * S)])],
                 outcome="dropped"), Evaluation(insights=())),
    ])  # fmt: skip
    _insert(con, "journey_analysis", analysis + other + recent)
    _insert(con, "journey_insights", insights + other_insights)
    con.close()
    yield path, Data(analysis + other + recent, insights + other_insights)


@pytest.fixture(scope="module")
def cursor(database: tuple[Path, Data]) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(database[0]), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def data(database: tuple[Path, Data]) -> Data:
    return database[1]


SIMULATED = Filters(start_from=1_795_900_000 * S, start_to=1_795_990_000 * S)
FILTERS = [
    EVERYTHING,
    SIMULATED,
    Filters(start_from=BASE + DAY, start_to=BASE + 3 * DAY - 1),  # days 1 and 2 of the built journeys
    Filters(start_from=0, start_to=2**62, platforms=("polyai",)),
    Filters(start_from=0, start_to=2**62, platforms=("vapi", "livekit")),
    Filters(start_from=0, start_to=2**62, queue="Billing"),
    Filters(start_from=0, start_to=2**62, flow="Main IVR"),
    Filters(start_from=BASE, start_to=BASE + 7 * DAY, platforms=("polyai", "vapi"), queue="Billing"),
    Filters(start_from=BASE + 100 * DAY, start_to=BASE + 101 * DAY),  # nothing there
    Filters(start_from=0, start_to=2**62, platforms=("nowhere",)),
]
IDS = ["all", "simulated", "days-1-2", "polyai", "vapi-or-livekit", "queue", "flow", "combined", "empty", "no-platform"]


def quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (what quantile_cont computes)."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentiles(values: list[float]) -> dict[str, Any]:
    return {"p50": quantile(values, 0.5), "p90": quantile(values, 0.9), "p99": quantile(values, 0.99)}


def ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def approx(value: Any) -> Any:
    return None if value is None else pytest.approx(value, rel=1e-9, abs=1e-9)


def link(query: str) -> dict[str, list[str]]:
    return parse_qs(query, keep_blank_values=True)


def test_the_fixture_data_spans_every_filter(data: Data) -> None:
    """Guard: each filter case selects some rows but not all (except the deliberate empty ones)."""
    total = len(data.journeys(EVERYTHING))
    assert total == 40 + len(_built_journeys())
    for f, name in zip(FILTERS[1:8], IDS[1:8], strict=True):
        assert 0 < len(data.journeys(f)) < total, name


@pytest.mark.parametrize("f", FILTERS, ids=IDS)
def test_overview(cursor: duckdb.DuckDBPyConnection, data: Data, f: Filters) -> None:
    rows = data.journeys(f)
    got = analytics.overview(cursor, TENANT, f)
    n = len(rows)
    ai = sum(r["has_ai"] for r in rows)
    contained = sum(r["contained"] for r in rows)
    handed = sum(bool(r["handoffs"]) for r in rows)
    dropped = sum(r["outcome"] == "dropped" for r in rows)
    abandoned = sum(r["outcome"] == "abandoned" for r in rows)
    assert got["filters"] == {"from": f.start_from, "to": f.start_to, "platform": list(f.platforms),
                              "queue": f.queue, "flow": f.flow}  # fmt: skip
    assert got["journey_count"] == n
    assert got["ai_journey_count"] == ai
    assert got["contained_count"] == contained
    assert got["containment_rate"] == approx(ratio(contained, ai))
    assert got["agent_journey_count"] == sum(r["has_agent"] for r in rows)
    assert got["handoff_journey_count"] == handed
    assert got["handoff_rate"] == approx(ratio(handed, n))
    assert (got["dropped_count"], got["drop_rate"]) == (dropped, approx(ratio(dropped, n)))
    assert (got["abandoned_count"], got["abandoned_rate"]) == (abandoned, approx(ratio(abandoned, n)))
    assert got["avg_legs"] == approx(ratio(sum(r["leg_count"] for r in rows), n))
    outcomes = Counter(r["outcome"] for r in rows)
    assert {o["outcome"]: o["journey_count"] for o in got["outcomes"]} == dict(outcomes)
    assert [o["journey_count"] for o in got["outcomes"]] == sorted(outcomes.values(), reverse=True)
    for o in got["outcomes"]:
        if o["outcome"] is not None:
            assert link(o["journeys"])["outcome"] == [o["outcome"]]
    expected = {"from": [str(f.start_from)], "to": [str(f.start_to)]}
    if f.platforms:
        expected["platform"] = list(f.platforms)
    if f.queue:
        expected["queue"] = [f.queue]
    if f.flow:
        expected["flow"] = [f.flow]
    assert link(got["journeys"]) == expected


def test_overview_known_numbers(cursor: duckdb.DuckDBPyConnection) -> None:
    """Days 0-6 hold only the hand-built journeys: 11 journeys, numbers known by construction."""
    got = analytics.overview(cursor, TENANT, Filters(start_from=BASE, start_to=BASE + 7 * DAY))
    assert got["journey_count"] == 11
    # AI in: vapi (0), vapi drop (0), 5 PolyAI, the loop, LiveKit = 9; contained: the Vapi and LiveKit calls.
    assert (got["ai_journey_count"], got["contained_count"]) == (9, 2)
    assert got["containment_rate"] == approx(2 / 9)
    # Handoffs: twilio->vapi, 5 PolyAI->Connect, the loop, connect->livekit = 8 journeys.
    assert got["handoff_journey_count"] == 8
    assert (got["dropped_count"], got["abandoned_count"]) == (1, 1)
    assert got["avg_legs"] == approx((1 + 2 + 1 + 5 * 2 + 10 + 1 + 2) / 11)


@pytest.mark.parametrize("interval", ["1h", "6h", "1d"])
def test_timeseries(cursor: duckdb.DuckDBPyConnection, data: Data, interval: str) -> None:
    f = Filters(start_from=BASE + 5 * HOUR, start_to=BASE + 7 * DAY - 1, platforms=("polyai", "vapi", "amazon_connect"))
    got = analytics.timeseries(cursor, TENANT, f, interval)
    width = analytics.INTERVALS[interval] * S
    assert got["interval"] == interval and got["interval_ns"] == width
    buckets = got["buckets"]
    assert buckets[0]["start_unix_nano"] == f.start_from // width * width
    assert buckets[-1]["start_unix_nano"] <= f.start_to < buckets[-1]["end_unix_nano"]
    assert all(a["end_unix_nano"] == b["start_unix_nano"] for a, b in zip(buckets, buckets[1:], strict=False))
    rows = data.journeys(f)
    assert sum(b["journey_count"] for b in buckets) == len(rows)
    for bucket in buckets:
        inside = [r for r in rows if bucket["start_unix_nano"] <= r["start_unix_nano"] < bucket["end_unix_nano"]]
        assert bucket["journey_count"] == len(inside)
        assert bucket["contained_count"] == sum(r["contained"] for r in inside)
        assert bucket["containment_rate"] == approx(ratio(sum(r["contained"] for r in inside),
                                                          sum(r["has_ai"] for r in inside)))  # fmt: skip
        assert bucket["drop_rate"] == approx(ratio(sum(r["dropped"] for r in inside), len(inside)))
        assert bucket["handoff_rate"] == approx(ratio(sum(bool(r["handoffs"]) for r in inside), len(inside)))
        query = link(bucket["journeys"])
        assert int(query["from"][0]) == max(bucket["start_unix_nano"], f.start_from)
        assert int(query["to"][0]) == min(bucket["end_unix_nano"] - 1, f.start_to)
        assert query["platform"] == list(f.platforms)


def test_timeseries_of_an_empty_range_is_zero_buckets(cursor: duckdb.DuckDBPyConnection) -> None:
    f = Filters(start_from=BASE + 100 * DAY, start_to=BASE + 101 * DAY)
    got = analytics.timeseries(cursor, TENANT, f, "1d")
    assert len(got["buckets"]) == 2
    assert all(b["journey_count"] == 0 and b["containment_rate"] == 0.0 for b in got["buckets"])


def test_auto_interval() -> None:
    assert analytics.auto_interval(Filters(start_from=0, start_to=2 * HOUR)) == "5m"
    assert analytics.auto_interval(Filters(start_from=0, start_to=DAY)) == "15m"
    assert analytics.auto_interval(Filters(start_from=0, start_to=7 * DAY)) == "1h"
    assert analytics.auto_interval(Filters(start_from=0, start_to=30 * DAY)) == "6h"
    assert analytics.auto_interval(Filters(start_from=0, start_to=3 * 365 * DAY)) == "1d"


@pytest.mark.parametrize("f", FILTERS, ids=IDS)
def test_handoffs(cursor: duckdb.DuckDBPyConnection, data: Data, f: Filters) -> None:
    rows = data.journeys(f)
    got = analytics.handoffs(cursor, TENANT, f)
    hops = [(r["journey_id"], h) for r in rows for h in r["handoffs"]]
    pairs: dict[tuple[str, str | None], list[tuple[str, dict[str, Any]]]] = {}
    for hop in hops:
        pairs.setdefault((hop[1]["from_platform"], hop[1]["to_platform"]), []).append(hop)
    assert got["journey_count"] == len(rows)
    assert got["handoff_journey_count"] == sum(bool(r["handoffs"]) for r in rows)
    assert got["handoff_count"] == len(hops)
    latencies = [h["latency_ms"] for _, h in hops if h["latency_ms"] is not None]
    assert got["latency_ms"] == {**{k: approx(v) for k, v in percentiles(latencies).items()}, "count": len(latencies)}
    assert {(p["from_platform"], p["to_platform"]) for p in got["pairs"]} == set(pairs)
    for p in got["pairs"]:
        mine = pairs[(p["from_platform"], p["to_platform"])]
        journeys = {j for j, _ in mine}
        visited = sum(p["from_platform"] in r["path"] for r in rows)
        assert p["handoff_count"] == len(mine)
        assert p["journey_count"] == len(journeys)
        assert p["share"] == approx(ratio(len(journeys), len(rows)))
        assert (p["from_journey_count"], p["rate_from"]) == (visited, approx(ratio(len(journeys), visited)))
        measured = [h["latency_ms"] for _, h in mine if h["latency_ms"] is not None]
        assert p["latency_ms"] == {**{k: approx(v) for k, v in percentiles(measured).items()}, "count": len(measured)}
    counts = [p["journey_count"] for p in got["pairs"]]
    assert counts == sorted(counts, reverse=True)


def test_handoffs_known_numbers(cursor: duckdb.DuckDBPyConnection) -> None:
    got = analytics.handoffs(cursor, TENANT, Filters(start_from=BASE + DAY, start_to=BASE + 4 * DAY - 1))
    [pair] = got["pairs"]
    assert (pair["from_platform"], pair["to_platform"], pair["journey_count"]) == ("polyai", "amazon_connect", 5)
    # Latencies 2, 9, 12, 1, 15 s: p50 = 9 s; p90 = 12 + 0.6 * 3 = 13.8 s; p99 = 12 + 0.96 * 3 = 14.88 s.
    assert pair["latency_ms"] == {"p50": 9000.0, "p90": approx(13_800.0), "p99": approx(14_880.0), "count": 5}


@pytest.mark.parametrize("f", FILTERS, ids=IDS)
def test_queue_wait(cursor: duckdb.DuckDBPyConnection, data: Data, f: Filters) -> None:
    rows = [r for r in data.journeys(f) if r["queue_wait_ms"] is not None]
    waits = [r["queue_wait_ms"] for r in rows]
    got = analytics.queue_wait(cursor, TENANT, f)
    assert got["journey_count"] == len(rows)
    assert got["wait_ms"]["p50"] == approx(quantile(waits, 0.5))
    assert got["wait_ms"]["p90"] == approx(quantile(waits, 0.9))
    assert got["wait_ms"]["p99"] == approx(quantile(waits, 0.99))
    assert got["wait_ms"]["avg"] == (approx(sum(waits) / len(waits)) if waits else None)
    assert got["wait_ms"]["max"] == (max(waits) if waits else None)
    histogram = got["histogram"]
    assert sum(b["journey_count"] for b in histogram) == len(rows)
    assert histogram[0]["from_ms"] == 0 and histogram[-1]["to_ms"] is None
    for bucket in histogram:
        high = math.inf if bucket["to_ms"] is None else bucket["to_ms"]
        assert bucket["journey_count"] == sum(bucket["from_ms"] <= w < high for w in waits)
    queues = Counter(q for r in rows for q in r["queues"])
    assert {q["queue"]: q["journey_count"] for q in got["queues"]} == dict(queues)
    for q in got["queues"]:
        mine = [r["queue_wait_ms"] for r in rows if q["queue"] in r["queues"]]
        assert q["wait_ms"]["p90"] == approx(quantile(mine, 0.9))
        assert q["wait_ms"]["max"] == max(mine)
        assert link(q["journeys"])["queue"] == [q["queue"]]


def test_queue_wait_known_numbers(cursor: duckdb.DuckDBPyConnection) -> None:
    got = analytics.queue_wait(cursor, TENANT, Filters(start_from=BASE + DAY, start_to=BASE + 4 * DAY - 1))
    # Waits 30, 400, 1300, 90, 700 s.
    assert got["wait_ms"]["p50"] == 400_000.0
    assert [b["journey_count"] for b in got["histogram"]] == [0, 0, 1, 1, 0, 1, 1, 1]
    billing = next(q for q in got["queues"] if q["queue"] == "Billing")
    assert billing["journey_count"] == 3 and billing["wait_ms"]["p50"] == 400_000.0


@pytest.mark.parametrize("f", FILTERS, ids=IDS)
@pytest.mark.parametrize("by", [None, "platform", "queue"])
def test_insight_frequency(cursor: duckdb.DuckDBPyConnection, data: Data, f: Filters, by: str | None) -> None:
    rows = data.journeys(f)
    insights = data.insights_of(f)
    got = analytics.insight_frequency(cursor, TENANT, f, by)
    assert got["journey_count"] == len(rows)
    assert got["insight_journey_count"] == len({i["journey_id"] for i in insights})
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for one in insights:
        groups.setdefault((one["rule"], one[by] if by else None), []).append(one)
    assert {(r["rule"], r.get(by) if by else None) for r in got["rules"]} == set(groups)
    for r in got["rules"]:
        mine = groups[(r["rule"], r.get(by) if by else None)]
        journeys = {i["journey_id"] for i in mine}
        assert r["insight_count"] == len(mine)
        assert r["journey_count"] == len(journeys)
        assert r["share"] == approx(ratio(len(journeys), len(rows)))
        assert r["severity"] == {s: sum(i["severity"] == s for i in mine) for s in ("info", "warning", "critical")}
        assert r["category"] == mine[0]["category"]
        query = link(r["journeys"])
        assert query["insight"] == [r["rule"]]
        if by and r[by] is not None:
            assert query[by] == [r[by]]


def test_insight_frequency_known_numbers(cursor: duckdb.DuckDBPyConnection) -> None:
    f = Filters(start_from=BASE, start_to=BASE + 7 * DAY)
    rules = {r["rule"]: r for r in analytics.insight_frequency(cursor, TENANT, f)["rules"]}
    assert (rules["poor_audio_jitter"]["insight_count"], rules["poor_audio_jitter"]["journey_count"]) == (2, 1)
    assert rules["poor_audio_jitter"]["severity"] == {"info": 0, "warning": 1, "critical": 1}
    assert (rules["slow_handoff"]["journey_count"], rules["long_queue_wait"]["journey_count"]) == (3, 4)
    assert rules["slow_handoff"]["share"] == approx(3 / 11)
    by_queue = analytics.insight_frequency(cursor, TENANT, f, "queue")["rules"]
    waits = {r["queue"]: r["journey_count"] for r in by_queue if r["rule"] == "long_queue_wait"}
    assert waits == {"Billing": 3, "Support": 1}
    with pytest.raises(ValueError):
        analytics.insight_frequency(cursor, TENANT, f, "path")


@pytest.mark.parametrize("f", FILTERS, ids=IDS)
def test_paths_and_sankey(cursor: duckdb.DuckDBPyConnection, data: Data, f: Filters) -> None:
    rows = data.journeys(f)
    got = analytics.paths(cursor, TENANT, f, limit=5)
    counts = Counter(tuple(r["path"]) for r in rows)
    assert got["journey_count"] == len(rows)
    top = got["paths"]
    assert len(top) == min(5, len(counts))
    for p in top:
        assert p["journey_count"] == counts[tuple(p["path"])]
        assert p["share"] == approx(ratio(p["journey_count"], len(rows)))
        assert p["leg_count"] == len(p["path"])
    assert [p["journey_count"] for p in top] == sorted(counts.values(), reverse=True)[:5]
    # The Sankey graph, recomputed from the rows (each path cut at SANKEY_STEPS legs).
    steps = analytics.SANKEY_STEPS
    nodes = Counter((i + 1, p) for r in rows for i, p in enumerate(r["path"][:steps]))
    links = Counter(((i + 1, a), (i + 2, b)) for r in rows
                    for i, (a, b) in enumerate(zip(r["path"][:steps], r["path"][1:steps], strict=False)))  # fmt: skip
    sankey = got["sankey"]
    assert {(n["step"], n["name"]): n["value"] for n in sankey["nodes"]} == dict(nodes)
    ids = {n["id"]: (n["step"], n["name"]) for n in sankey["nodes"]}
    assert len(ids) == len(sankey["nodes"])
    assert {(ids[k["source"]], ids[k["target"]]): k["value"] for k in sankey["links"]} == dict(links)
    for k in sankey["links"]:
        assert ids[k["target"]][0] == ids[k["source"]][0] + 1  # steps only go forward: acyclic
    for n in sankey["nodes"]:
        incoming = sum(k["value"] for k in sankey["links"] if k["target"] == n["id"])
        outgoing = sum(k["value"] for k in sankey["links"] if k["source"] == n["id"])
        assert incoming == (n["value"] if n["step"] > 1 else 0)
        assert outgoing <= n["value"]
    assert sum(n["value"] for n in sankey["nodes"] if n["step"] == 1) == len(rows)


def test_paths_cut_long_journeys_in_the_sankey_only(cursor: duckdb.DuckDBPyConnection) -> None:
    got = analytics.paths(cursor, TENANT, Filters(start_from=BASE + 4 * DAY, start_to=BASE + 5 * DAY - 1))
    assert [p["leg_count"] for p in got["paths"]] == [10]
    assert max(n["step"] for n in got["sankey"]["nodes"]) == analytics.SANKEY_STEPS
    assert len(got["sankey"]["links"]) == analytics.SANKEY_STEPS - 1


@pytest.mark.parametrize("f", FILTERS, ids=IDS)
def test_patterns(cursor: duckdb.DuckDBPyConnection, data: Data, f: Filters) -> None:
    rows = data.journeys(f)
    got = analytics.patterns(cursor, TENANT, f, limit=1000)
    assert got["journey_count"] == len(rows)
    expected = Counter()
    context = Counter()
    for r in rows:
        for dimension, column in (("queue", "queues"), ("agent", "agents"), ("flow", "flows")):
            for value in r[column]:
                context[(dimension, value)] += 1
                for rule in r["insights"]:
                    expected[(rule, dimension, value)] += 1
    rule_journeys = Counter(rule for r in rows for rule in r["insights"])
    assert {(p["rule"], p["dimension"], p["value"]): p["journey_count"] for p in got["patterns"]} == dict(expected)
    for p in got["patterns"]:
        with_value = context[(p["dimension"], p["value"])]
        assert p["dimension_journey_count"] == with_value
        assert p["rate"] == approx(p["journey_count"] / with_value)
        assert p["rule_journey_count"] == rule_journeys[p["rule"]]
        assert p["rule_rate"] == approx(rule_journeys[p["rule"]] / len(rows))
        assert p["lift"] == approx(p["rate"] / p["rule_rate"])
        query = link(p["journeys"])
        assert query["insight"] == [p["rule"]] and query[p["dimension"]] == [p["value"]]
    assert [p["journey_count"] for p in got["patterns"]] == sorted(expected.values(), reverse=True)


def test_patterns_top_n_and_dimensions(cursor: duckdb.DuckDBPyConnection) -> None:
    f = Filters(start_from=BASE, start_to=BASE + 7 * DAY)
    top = analytics.patterns(cursor, TENANT, f, limit=2, dimensions=("queue",))["patterns"]
    # long_queue_wait: Billing in 3 journeys (the 400 s and 700 s waits, and the two-queue journey).
    assert (top[0]["rule"], top[0]["value"], top[0]["journey_count"]) == ("long_queue_wait", "Billing", 3)
    assert len(top) == 2 and {p["dimension"] for p in top} == {"queue"}
    # The Billing queue had 4 journeys in the week, long_queue_wait 4 of 11 overall.
    assert top[0]["rate"] == approx(3 / 4) and top[0]["lift"] == approx((3 / 4) / (4 / 11))
    agents = analytics.patterns(cursor, TENANT, f, limit=50, dimensions=("agent",))["patterns"]
    assert {(p["rule"], p["value"]) for p in agents} == {("slow_handoff", "a.jones"), ("slow_handoff", "b.khan"),
                                                         ("long_queue_wait", "a.jones"), ("long_queue_wait", "b.khan")}  # fmt: skip
    with pytest.raises(ValueError):
        analytics.patterns(cursor, TENANT, f, dimensions=("path",))


def test_every_call_answers_zeros_for_an_unknown_tenant(cursor: duckdb.DuckDBPyConnection) -> None:
    assert analytics.overview(cursor, "nobody", EVERYTHING)["journey_count"] == 0
    assert analytics.handoffs(cursor, "nobody", EVERYTHING)["pairs"] == []
    assert analytics.queue_wait(cursor, "nobody", EVERYTHING)["wait_ms"]["p50"] is None
    assert analytics.insight_frequency(cursor, "nobody", EVERYTHING)["rules"] == []
    assert analytics.paths(cursor, "nobody", EVERYTHING)["sankey"] == {"nodes": [], "links": []}
    assert analytics.patterns(cursor, "nobody", EVERYTHING)["patterns"] == []


def test_journeys_query_is_what_the_list_api_takes() -> None:
    f = Filters(start_from=1, start_to=2, platforms=("polyai", "vapi"), queue="Billing & Co", flow="Main IVR")
    assert link(analytics.journeys_query(f, insight="slow_handoff")) == {
        "from": ["1"], "to": ["2"], "platform": ["polyai", "vapi"], "queue": ["Billing & Co"], "flow": ["Main IVR"],
        "insight": ["slow_handoff"],
    }  # fmt: skip
    assert link(analytics.journeys_query(f, queue="Sales", platform="twilio"))["queue"] == ["Sales"]
    assert link(analytics.journeys_query(f, queue="Sales", platform="twilio"))["platform"] == ["twilio"]


# --- the HTTP API, on a real store ------------------------------------------------------------


def _api(path: Path, calls: list[tuple[str, dict[str, Any]]], tenant: str = TENANT) -> list[httpx.Response]:
    """Open a real SpanStore on the file, serve the query app of ``tenant``, and make the calls."""

    async def run() -> list[httpx.Response]:
        config = StoreConfig(path=path, correlator=CorrelatorConfig(phone_hash_key=b"k" * 32))
        async with SpanStore(config) as store:
            app = create_app(store, tenant=tenant, phone_hash_key=b"k" * 32)
            if not any(getattr(r, "path", "") == "/api/analytics/overview" for r in app.routes):
                app.include_router(analytics_api.router(store, tenant=tenant))  # until app.py wires it in
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://journeytrace") as client:
                return [await client.get(url, params=query) for url, query in calls]

    return asyncio.run(run())


@pytest.fixture(scope="module")
def api_database(database: tuple[Path, Data], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the analytics database, for a SpanStore of its own to open."""
    path = tmp_path_factory.mktemp("api") / "data" / "journeytrace.duckdb"
    path.parent.mkdir()
    shutil.copy(database[0], path)
    return path


def test_api_answers_what_storage_computes(api_database: Path, cursor: duckdb.DuckDBPyConnection) -> None:
    # From 2026-11-19T00:00:00Z (day 1 of the built journeys, as ISO 8601) to the end of day 6 (unix ns).
    week = {"from": "2026-11-19T00:00:00Z", "to": str(BASE + 7 * DAY - 1)}
    f = Filters(start_from=BASE + DAY, start_to=BASE + 7 * DAY - 1)
    calls = [
        ("/api/analytics", {}),
        ("/api/analytics/overview", week),
        ("/api/analytics/overview", {**week, "platform": ["polyai", "vapi"]}),
        ("/api/analytics/overview", {**week, "platform": "polyai,vapi", "queue": "Billing"}),
        ("/api/analytics/handoffs", {**week, "flow": "Inbound"}),
        ("/api/analytics/queue-wait", week),
        ("/api/analytics/insights", {**week, "by": "queue"}),
        ("/api/analytics/paths", {**week, "limit": "3"}),
        ("/api/analytics/patterns", {**week, "by": ["queue", "agent"], "limit": "4"}),
        ("/api/analytics/timeseries", {**week, "interval": "1d"}),
        ("/api/analytics/timeseries", week),
    ]
    responses = _api(api_database, calls)
    assert [r.status_code for r in responses] == [200] * len(calls)
    got = [r.json() for r in responses]
    assert [e["path"] for e in got[0]["endpoints"]] == [f"/api/analytics/{n}" for n in analytics_api.ENDPOINTS]
    assert got[1] == analytics.overview(cursor, TENANT, f)
    assert got[1]["journey_count"] == 8
    both = Filters(start_from=f.start_from, start_to=f.start_to, platforms=("polyai", "vapi"))
    assert got[2] == analytics.overview(cursor, TENANT, both)
    assert got[3] == analytics.overview(cursor, TENANT, Filters(start_from=f.start_from, start_to=f.start_to,
                                                                platforms=("polyai", "vapi"), queue="Billing"))  # fmt: skip
    assert got[3]["journey_count"] == 3
    assert got[4] == analytics.handoffs(cursor, TENANT, Filters(start_from=f.start_from, start_to=f.start_to,
                                                                flow="Inbound"))  # fmt: skip
    assert got[5] == analytics.queue_wait(cursor, TENANT, f)
    assert got[6] == analytics.insight_frequency(cursor, TENANT, f, "queue")
    assert got[7] == analytics.paths(cursor, TENANT, f, 3)
    assert got[8] == analytics.patterns(cursor, TENANT, f, 4, ("queue", "agent"))
    assert got[9] == analytics.timeseries(cursor, TENANT, f, "1d")
    assert got[10]["interval"] == analytics.auto_interval(f) == "1h"


def test_api_default_range_is_the_last_7_days(api_database: Path) -> None:
    before = time.time_ns()
    [response] = _api(api_database, [("/api/analytics/overview", {})], tenant=RECENT)
    got = response.json()
    assert before <= got["filters"]["to"] <= time.time_ns()
    assert got["filters"]["to"] - got["filters"]["from"] == 7 * DAY
    assert (got["journey_count"], got["dropped_count"]) == (1, 0)  # the journey of 8 days ago is out


@pytest.mark.parametrize(
    ("url", "query", "message"),
    [
        ("/api/analytics/overview", {"from": "yesterday"}, "from 'yesterday' is neither unix nanoseconds"),
        ("/api/analytics/overview", {"from": "2026-11-20T00:00:00Z", "to": "2026-11-19T00:00:00Z"}, "is after to"),
        ("/api/analytics/timeseries", {"interval": "2h"}, "interval '2h' must be auto or one of 5m, 15m, 1h, 6h, 1d"),
        ("/api/analytics/timeseries", {"from": "2026-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "interval": "5m"},
         "buckets over this range; at most 2000"),
        ("/api/analytics/paths", {"limit": "0"}, "limit '0' must be an integer from 1 to 1000"),
        ("/api/analytics/patterns", {"limit": "many"}, "limit 'many' must be an integer"),
        ("/api/analytics/insights", {"by": "path"}, "by 'path' must be one of platform, queue, agent, flow"),
        ("/api/analytics/patterns", {"by": "platform"}, "by 'platform' must be one of queue, agent, flow"),
    ],
)  # fmt: skip
def test_api_bad_parameters_are_400(api_database: Path, url: str, query: dict[str, str], message: str) -> None:
    [response] = _api(api_database, [(url, query)])
    assert response.status_code == 400
    assert message in response.json()["error"]
