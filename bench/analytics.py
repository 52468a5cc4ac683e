"""Historical analytics latency at scale: every ``storage.analytics`` call over 500,000 journeys.

Builds (once, cached under ``bench/.data/``) a DuckDB file holding ``--journeys`` rows of
``journey_analysis`` and their ``journey_insights`` over 30 days, with the simulator's scenarios
and troubles as distributions (paths, outcomes, queues, flows, agents; about 30% of journeys with
insights), then times each call ``--runs`` times over the whole 30 days and over a filtered week,
on a DuckDB connection configured as the server's store (384 MB buffer pool) and through
``SpanStore.read`` (a reader thread and one transaction per call, as the API runs it).

    python bench/analytics.py                      # 500,000 journeys
    python bench/analytics.py --journeys 100000 --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from journeytrace import simulator
from journeytrace.correlator import CorrelatorConfig
from journeytrace.storage import SpanStore, StoreConfig, analytics, schema
from journeytrace.storage.analytics import Filters

S = 1_000_000_000
DAY = 86_400 * S
TENANT = "default"
RANGE_DAYS = 30
INSIGHT_SHARE = 0.3
CONNECT_FLOWS = ("Inbound main", "PolyAI transfer", "LiveKit escalation")
GENESYS_FLOWS = ("Main IVR", "PolyAI handback", "Vapi transfers")
AGENTS = tuple(f"agent-{n:02d}" for n in range(60))
RULES = {  # rule -> (category, usual severity, which context it names)
    "call_dropped_during_transfer": ("technical", "critical", "platform"),
    "handoff_failed": ("technical", "critical", "platform"),
    "slow_handoff": ("technical", "warning", "platform"),
    "abandoned_in_queue": ("operational", "warning", "queue"),
    "long_queue_wait": ("operational", "warning", "queue"),
    "ai_handed_off_early": ("conversational", "info", "platform"),
    "context_lost_at_handoff": ("conversational", "warning", "platform"),
    "ivr_loop": ("operational", "warning", "flow"),
    "transfer_loop": ("operational", "warning", "platform"),
    "many_legs": ("operational", "info", None),
    "low_mos": ("technical", "warning", "platform"),
    "high_jitter": ("technical", "warning", "platform"),
    "packet_loss": ("technical", "critical", "platform"),
    "high_rtt": ("technical", "warning", "platform"),
    "ended_on_hold": ("operational", "warning", "agent"),
    "dead_air": ("conversational", "warning", "platform"),
    "high_ai_turn_latency": ("conversational", "warning", "platform"),
    "interruption_burst": ("conversational", "info", "platform"),
    "slow_agent_connection": ("operational", "warning", "agent"),
    "data_pending": ("technical", "info", "platform"),
    "repeat_caller": ("operational", "info", None),
}
EXTRA_RULES = ("low_mos", "high_jitter", "dead_air", "high_ai_turn_latency", "interruption_burst", "repeat_caller",
               "ai_handed_off_early", "context_lost_at_handoff", "slow_agent_connection", "ended_on_hold")  # fmt: skip


def _weighted(rng: random.Random, weights: dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _path(rng: random.Random, scenario: str, trouble: str | None) -> tuple[list[str], str]:
    """The leg platforms of a journey of ``scenario`` and the platform its human agent works on."""
    if scenario == "polyai_connect":
        alone = trouble is None and rng.random() < 0.2  # the AI resolved it
        return (["polyai"] if alone else ["polyai", "amazon_connect"]), "amazon_connect"
    if scenario == "twilio_vapi":
        human = _weighted(rng, {"pbx": 1, "amazon_connect": 2, "genesys_cloud": 2, None: 1})
        if human is None or trouble == "failed_transfer":
            return ["twilio", "vapi"], "amazon_connect"
        return ["twilio", "vapi", "twilio"] + ([] if human == "pbx" else [human]), human
    if scenario == "genesys_polyai":
        return ["genesys_cloud", "polyai"] + ([] if rng.random() < 0.15 else ["genesys_cloud"]), "genesys_cloud"
    escalate = trouble in ("abandoned", "poor_audio") or (trouble is None and rng.random() < 0.5)
    return ["amazon_connect", "livekit"] + (["amazon_connect"] if escalate else []), "amazon_connect"


def journey_rows(count: int, now: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``count`` journey_analysis rows (and their insight rows) over the ``RANGE_DAYS`` days before ``now``."""
    rng = random.Random(seed)
    analysis: list[dict[str, Any]] = []
    insights: list[dict[str, Any]] = []
    for n in range(count):
        scenario = _weighted(rng, simulator.SCENARIOS)
        troubles = {t: w for t, w in simulator.TROUBLES.items()
                    if t not in simulator.UNSUPPORTED.get(scenario, frozenset())}  # fmt: skip
        trouble = _weighted(rng, troubles)
        path, human_platform = _path(rng, scenario, trouble)
        if rng.random() < 0.01:  # a transfer loop
            path = path + path[-2:] * rng.randint(1, 3)
        day = rng.randrange(RANGE_DAYS)
        hour = min(max(rng.gauss(13, 3.5), 0), 23.99)
        start = now - (day + 1) * DAY + int(hour * 3600 * S)
        duration = int(rng.lognormvariate(5.8, 0.6) * S)
        reaches_human = path[-1] == human_platform and path[-1] in ("amazon_connect", "genesys_cloud")
        queues = [rng.choice(simulator.CONNECT_QUEUES if human_platform == "amazon_connect"
                             else simulator.GENESYS_QUEUES)] if reaches_human else []  # fmt: skip
        wait = rng.lognormvariate(4.4, 0.9) * 1000 if queues else None
        outcome: str | None = {"abandoned": "abandoned", "dropped": "dropped"}.get(trouble or "", "resolved")
        if trouble == "failed_transfer":
            outcome = rng.choice(["dropped", None])
        elif path[-1] == "twilio" and trouble is None:
            outcome = None  # a PBX desk reports nothing
        has_agent = bool(queues) and outcome != "abandoned"
        agents = [rng.choice(AGENTS)] if has_agent else []
        flows = []
        if "genesys_cloud" in path:
            flows = [GENESYS_FLOWS[0], GENESYS_FLOWS[1]] if path[0] == "genesys_cloud" else [GENESYS_FLOWS[2]]
        elif "amazon_connect" in path:
            flows = [rng.choice(CONNECT_FLOWS)]
        handoffs = [{"from_platform": a, "to_platform": b, "latency_ms": rng.lognormvariate(6.5, 1.0)}
                    for a, b in zip(path, path[1:], strict=False)]  # fmt: skip
        if trouble == "failed_transfer":
            handoffs.append({"from_platform": path[-1], "to_platform": None, "latency_ms": None})
        ai_last = path[-1] in ("polyai", "livekit", "vapi")
        contained = not has_agent and len(path) <= 2 and ai_last and outcome == "resolved"
        rules = _rules(rng, trouble, path, queues)
        journey_id = f"{rng.getrandbits(128):032x}"
        analysis.append({
            "tenant": TENANT, "journey_id": journey_id, "journey_key": int(journey_id[:15], 16),
            "start_unix_nano": start, "end_unix_nano": start + duration, "updated_unix_nano": start + duration,
            "analysed_unix_nano": start + duration, "recheck_at_unix_nano": None, "path": path,
            "leg_count": len(path), "outcome": outcome, "has_ai": True, "has_agent": has_agent, "contained": contained,
            "dropped": outcome == "dropped", "queues": queues, "agents": agents, "flows": flows,
            "queue_wait_ms": wait, "handoffs": handoffs, "insights": sorted(set(rules)), "summary": None,
            "summary_source": "facts", "fingerprint": None,
        })  # fmt: skip
        context = {"platform": path[-1], "queue": queues[0] if queues else None,
                   "agent": agents[0] if agents else None, "flow": flows[0] if flows else None}  # fmt: skip
        for rule in rules:
            category, severity, names = RULES[rule]
            insights.append({
                "tenant": TENANT, "journey_id": journey_id, "journey_key": int(journey_id[:15], 16),
                "start_unix_nano": start, "rule": rule, "category": category,
                "severity": "critical" if rng.random() < 0.2 else severity, "span_id": f"{rng.getrandbits(64):016x}",
                "value": rng.random() * 100, "threshold": 50.0, "unit": "ms", "explanation": f"{rule} on this journey",
                **{k: (v if k == names else None) for k, v in context.items()},
            })  # fmt: skip
        if n and n % 100_000 == 0:
            print(f"\rgenerated {n:,} journeys", end="", file=sys.stderr)
    print(file=sys.stderr)
    return analysis, insights


def _rules(rng: random.Random, trouble: str | None, path: list[str], queues: list[str]) -> list[str]:
    """Insights of one journey: often its trouble's, plus occasional others (about 30% of journeys in all)."""
    rules = []
    if trouble is not None and rng.random() < 0.4:
        if trouble == "dropped":
            rules.append("call_dropped_during_transfer" if len(path) > 1 and rng.random() < 0.5 else "packet_loss")
        elif trouble == "abandoned" and queues:
            rules += ["abandoned_in_queue", "long_queue_wait"]
        elif trouble == "failed_transfer":
            rules.append("handoff_failed")
        elif trouble == "poor_audio":
            rules.append(rng.choice(["low_mos", "high_jitter", "packet_loss", "high_rtt"]))
    if len(path) > 4:
        rules += ["transfer_loop", "many_legs"]
    if rng.random() < 0.04:
        rules.append("slow_handoff")
    if queues and rng.random() < 0.04:
        rules.append("long_queue_wait")
    if rng.random() < 0.05:
        rules.append(rng.choice(EXTRA_RULES))
    return rules


def build(path: Path, journeys: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    began = time.perf_counter()
    analysis, insights = journey_rows(journeys, time.time_ns())
    # The analysis worker writes journeys as they happen: rows land roughly in start order.
    analysis.sort(key=lambda r: r["start_unix_nano"])
    insights.sort(key=lambda r: r["start_unix_nano"])
    con = duckdb.connect(str(partial))
    schema.migrate(con)
    for table, rows in (("journey_analysis", analysis), ("journey_insights", insights)):
        for first in range(0, len(rows), 100_000):
            chunk = rows[first : first + 100_000]
            con.register("fresh", pa.Table.from_pylist(chunk))
            columns = ", ".join(chunk[0])
            con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM fresh")
            con.unregister("fresh")
    con.execute("CHECKPOINT")
    con.close()
    partial.rename(path)
    print(f"built {journeys:,} journeys, {len(insights):,} insights in {time.perf_counter() - began:.0f} s",
          file=sys.stderr)  # fmt: skip


def calls() -> dict[str, Callable[[duckdb.DuckDBPyConnection, Filters], Any]]:
    return {
        "overview": lambda c, f: analytics.overview(c, TENANT, f),
        "timeseries (auto)": lambda c, f: analytics.timeseries(c, TENANT, f, analytics.auto_interval(f)),
        "timeseries (1h)": lambda c, f: analytics.timeseries(c, TENANT, f, "1h"),
        "handoffs": lambda c, f: analytics.handoffs(c, TENANT, f),
        "queue_wait": lambda c, f: analytics.queue_wait(c, TENANT, f),
        "insights": lambda c, f: analytics.insight_frequency(c, TENANT, f),
        "insights by queue": lambda c, f: analytics.insight_frequency(c, TENANT, f, "queue"),
        "paths": lambda c, f: analytics.paths(c, TENANT, f, 20),
        "patterns": lambda c, f: analytics.patterns(c, TENANT, f, 20),
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_direct(con: duckdb.DuckDBPyConnection, call: Callable[..., Any], f: Filters, runs: int) -> list[float]:
    call(con, f)  # warm the buffer pool, as a server that has been answering does
    latencies = []
    for _ in range(runs):
        began = time.perf_counter()
        call(con, f)
        latencies.append(time.perf_counter() - began)
    return latencies


async def time_store(store: SpanStore, call: Callable[..., Any], f: Filters, runs: int) -> list[float]:
    await store.read(lambda cursor: call(cursor, f))
    latencies = []
    for _ in range(runs):
        began = time.perf_counter()
        await store.read(lambda cursor: call(cursor, f))
        latencies.append(time.perf_counter() - began)
    return latencies


async def through_store(db: Path, ranges: dict[str, Filters], runs: int, results: dict[str, Any]) -> None:
    """The same calls through ``SpanStore.read``, as the API runs them."""
    config = StoreConfig(path=db, correlator=CorrelatorConfig(phone_hash_key=b"\x6b" * 32))
    async with SpanStore(config) as store:
        for name, call in calls().items():
            for label, f in ranges.items():
                results[name][f"store, {label}"] = _summary(await time_store(store, call, f, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journeys", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=10, help="timed runs per call and range")
    parser.add_argument("--data", type=Path, default=None, help="DuckDB file (default bench/.data/analytics-N/)")
    parser.add_argument("--no-store", action="store_true", help="time only the direct connection")
    args = parser.parse_args()

    db = args.data or Path(__file__).parent / ".data" / f"analytics-{args.journeys}" / "journeytrace.duckdb"
    if not db.exists():
        build(db, args.journeys)
    with duckdb.connect(str(db), read_only=True) as con:
        stored, newest = con.execute("SELECT count(*), max(start_unix_nano) FROM journey_analysis").fetchone()
        insight_journeys = con.execute("SELECT count(*) FROM journey_analysis WHERE len(insights) > 0").fetchone()[0]
    end = newest + 1
    full = Filters(start_from=end - RANGE_DAYS * DAY, start_to=end)
    filtered = Filters(start_from=end - 7 * DAY, start_to=end, platforms=("polyai", "vapi"), queue="Billing")
    ranges = {"30 days": full, "7 days, polyai|vapi, Billing": filtered}
    results: dict[str, dict[str, dict[str, float]]] = {}

    with duckdb.connect(str(db), read_only=True, config={"memory_limit": "384MB"}) as con:
        for name, call in calls().items():
            for label, f in ranges.items():
                results.setdefault(name, {})[f"direct, {label}"] = _summary(time_direct(con, call, f, args.runs))

    if not args.no_store:
        asyncio.run(through_store(db, ranges, args.runs, results))

    _table(results)
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, 2 cores, Python {platform.python_version()}",
        "duckdb": duckdb.__version__, "journeys": stored, "journeys_with_insights": insight_journeys,
        "runs": args.runs, "calls": results,
    }, indent=2))  # fmt: skip


def _summary(latencies: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1)}  # fmt: skip


def _table(results: dict[str, dict[str, dict[str, float]]]) -> None:
    print(f"{'call':18} | {'how, range':42} | {'p50 ms':>8} | {'p99 ms':>8}", file=sys.stderr)
    for name, by_column in results.items():
        for column, found in by_column.items():
            print(f"{name:18} | {column:42} | {found['p50_ms']:8.1f} | {found['p99_ms']:8.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
