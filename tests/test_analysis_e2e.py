"""Insights and summaries end to end: simulated multi-platform journeys posted to a real server,
analysed by its worker, and shown by every read API (native, Jaeger, Tempo, TraceQL)."""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from jt_helpers import (
    READ_TIMEOUT, http_export, journey_of_interaction, new_span_id, new_trace_id, post_simulated, settled_journey,
    simple_request, wait_until,
)

from journeytrace import simulator

SEED = 30  # 8 journeys: the four scenarios and every kind of trouble (tests/test_simulator.py)
COUNT = 8

EXPECTED = {
    "abandoned": {"abandoned_in_queue"},
    "dropped": {"call_dropped", "call_dropped_during_transfer"},
    "failed_transfer": {"handoff_failed", "call_dropped_during_transfer"},
    "poor_audio": {"low_mos", "high_packet_loss", "high_jitter", "high_rtt", "one_way_audio"},
}
"""Each simulated trouble, and the insights of which at least one must be found for it."""


@pytest.fixture(scope="module")
def simulated() -> list[simulator.SimulatedJourney]:
    # An hour ago: late records (Connect contact records) are then long overdue, not pending.
    return simulator.journeys(SEED, COUNT, time.time_ns() - 3600 * simulator.S)


@pytest.fixture(scope="module")
def analysed(module_server: Any, client: httpx.Client, simulated: list[simulator.SimulatedJourney]) -> dict[int, Any]:
    post_simulated(module_server, simulated)
    return {
        j.number: wait_until(lambda j=j: settled_journey(client, j), timeout=READ_TIMEOUT * 2, what=f"journey {j.number}")
        for j in simulated
    }


def _rules(record: dict[str, Any]) -> set[str]:
    return {i["rule"] for i in record["insights"]}


def test_each_simulated_trouble_is_detected(simulated, analysed) -> None:
    for journey in simulated:
        record = analysed[journey.number]
        if journey.trouble is None:
            assert not [i for i in record["insights"] if i["severity"] == "critical"], (journey.scenario, record["insights"])
            continue
        assert _rules(record) & EXPECTED[journey.trouble], (journey.scenario, journey.trouble, record["insights"])


def test_insights_name_a_span_of_the_journey_and_explain_themselves(analysed) -> None:
    for record in analysed.values():
        span_ids = {s["span_id"] for s in record["spans"]}
        for insight in record["insights"]:
            assert insight["span_id"] in span_ids
            assert insight["category"] in ("technical", "operational", "conversational")
            assert insight["severity"] in ("info", "warning", "critical")
            assert insight["explanation"] and "\n" not in insight["explanation"]
            assert "+1" not in insight["explanation"]  # never a phone number


def test_insights_come_most_severe_first(client, analysed) -> None:
    rank = {"critical": 2, "warning": 1, "info": 0}
    orders = [[(-rank[i["severity"]], i["rule"], i["span_id"]) for i in r["insights"]] for r in analysed.values()]
    assert any(len({o[0] for o in order}) > 1 for order in orders), "no journey has insights of two severities"
    for order in orders:
        assert order == sorted(order)
    # Several journeys read at once (Jaeger's repeated traceID) keep each one's own insights.
    ids = [r["journey_id"] for r in analysed.values()]
    traces = client.get("/api/traces", params=[("traceID", i) for i in ids]).json()["data"]
    logged = {
        t["traceID"]: sum(1 for s in t["spans"] for log in s["logs"] for f in log["fields"] if f["value"] == "cx.insight")
        for t in traces
    }
    assert logged == {r["journey_id"]: len(r["insights"]) for r in analysed.values()}


def test_every_journey_has_a_summary_in_detail_and_list(client, analysed) -> None:
    listed = {r["journey_id"]: r for r in client.get("/api/journeys", params={"limit": 100}).json()["journeys"]}
    for record in analysed.values():
        summary = record["summary"]
        assert summary["source"] == "facts" and summary["text"]
        assert summary["outcome"] == record["outcome"]
        assert listed[record["journey_id"]]["summary"] == summary
        # The list shows each rule once: its most severe finding and how many there were.
        rank = {"critical": 2, "warning": 1, "info": 0}
        by_rule: dict[str, dict[str, Any]] = {}
        for insight in record["insights"]:
            found = by_rule.setdefault(insight["rule"], {"rule": insight["rule"], "severity": "info", "count": 0})
            found["count"] += 1
            found["severity"] = max(found["severity"], insight["severity"], key=rank.__getitem__)
        expected = sorted(by_rule.values(), key=lambda i: (-rank[i["severity"]], i["rule"]))
        assert listed[record["journey_id"]]["insights"] == expected


def test_the_list_filters_by_insight(client, analysed) -> None:
    by_rule: dict[str, set[str]] = {}
    for record in analysed.values():
        for rule in _rules(record):
            by_rule.setdefault(rule, set()).add(record["journey_id"])
    assert by_rule, "the simulated troubles produced no insight at all"
    for rule, expected in by_rule.items():
        found = client.get("/api/journeys", params={"insight": rule, "limit": 100}).json()["journeys"]
        assert {r["journey_id"] for r in found} == expected, rule
    two = sorted(by_rule)[:2]
    found = client.get("/api/journeys", params=[("insight", two[0]), ("insight", two[-1]), ("limit", 100)]).json()
    assert {r["journey_id"] for r in found["journeys"]} == by_rule[two[0]] | by_rule[two[-1]]


def test_an_unknown_insight_is_a_clear_400(client) -> None:
    answer = client.get("/api/journeys", params={"insight": "no_such_rule"})
    assert answer.status_code == 400
    assert "no_such_rule" in answer.json()["error"] and "abandoned_in_queue" in answer.json()["error"]


def test_the_rule_catalogue_is_served(client) -> None:
    rules = client.get("/api/insights/rules").json()["rules"]
    ids = {r["id"] for r in rules}
    assert {"call_dropped_during_transfer", "handoff_failed", "slow_handoff", "abandoned_in_queue", "long_queue_wait",
            "ai_handed_off_early", "context_lost_at_handoff", "ivr_loop", "transfer_loop", "many_legs", "low_mos",
            "high_jitter", "high_packet_loss", "high_rtt", "one_way_audio", "ended_on_hold", "dead_air",
            "high_turn_latency", "interruption_burst", "slow_agent_connection", "data_pending",
            "repeat_caller"} <= ids  # fmt: skip
    assert all(r["category"] in ("technical", "operational", "conversational") and r["description"] for r in rules)


def _with_insight(analysed: dict[int, Any]) -> dict[str, Any]:
    return next(r for r in analysed.values() if r["insights"])


def test_insights_are_span_events_in_jaeger_and_tempo(module_server, client, analysed) -> None:
    record = _with_insight(analysed)
    insight = record["insights"][0]
    trace = client.get(f"/api/traces/{record['journey_id']}").json()["data"][0]
    span = next(s for s in trace["spans"] if s["spanID"] == insight["span_id"])
    fields = [{f["key"]: f["value"] for f in log["fields"]} for log in span["logs"]]
    assert any(f.get("event") == "cx.insight" and f.get("cx.insight.rule") == insight["rule"] for f in fields), fields
    with httpx.Client(base_url=f"http://127.0.0.1:{module_server.tempo_port}", timeout=30) as tempo:
        otlp = tempo.get(f"/api/v2/traces/{record['journey_id']}").json()
    spans = [s for rs in otlp["trace"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    events = [e for s in spans for e in s.get("events", []) if e["name"] == "cx.insight"]
    assert len(events) == len(record["insights"])
    rules = {a["value"]["stringValue"] for e in events for a in e["attributes"] if a["key"] == "cx.insight.rule"}
    assert rules == _rules(record)


def test_traceql_finds_journeys_by_insight(module_server, analysed) -> None:
    record = _with_insight(analysed)
    rule = record["insights"][0]["rule"]
    holding = {r["journey_id"] for r in analysed.values() if rule in _rules(r)}
    with httpx.Client(base_url=f"http://127.0.0.1:{module_server.tempo_port}", timeout=30) as tempo:
        for query in (f'{{ span.cx.insight.rules = "{rule}" }}', f'{{ .cx.insight.rule = "{rule}" }}'):
            found = tempo.get("/api/search", params={"q": query, "limit": 100}).json()["traces"]
            assert {t["traceID"] for t in found} == holding, query
        found = tempo.get("/api/search", params={"q": '{ span.cx.insight.rules = "no_such_rule" }'}).json()["traces"]
        assert found == []
        # Grafana's search builder offers the attribute and the rules found so far
        span_tags = next(s["tags"] for s in tempo.get("/api/v2/search/tags").json()["scopes"] if s["name"] == "span")
        assert "cx.insight.rules" in span_tags
        offered = tempo.get("/api/v2/search/tag/span.cx.insight.rules/values").json()["tagValues"]
        assert offered == [{"type": "string", "value": r} for r in sorted({i for r in analysed.values() for i in _rules(r)})]


def test_data_pending_until_the_late_record_arrives(server_factory) -> None:
    """A Connect journey whose contact record is still expected shows ``data_pending``; the
    record's arrival re-evaluates the journey and the insight goes."""
    server = server_factory()
    [journey] = simulator.journeys(5, 1, time.time_ns() - 60 * simulator.S, ["polyai_connect"])
    assert any(p.late for p in journey.posts)
    post_simulated(server, [journey], late=False)
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        connect = next(i for i in journey.interactions if i.platform == "amazon_connect")

        def analysed_with(present: bool) -> dict[str, Any] | None:
            journey_id = journey_of_interaction(client, connect.interaction_id)
            if journey_id is None:
                return None
            record = client.get(f"/api/journeys/{journey_id}").json()
            if not record["analysis"]["current"] or ("data_pending" in _rules(record)) != present:
                return None
            return record

        pending = wait_until(lambda: analysed_with(True), timeout=READ_TIMEOUT * 2, what="data_pending")
        insight = next(i for i in pending["insights"] if i["rule"] == "data_pending")
        assert insight["platform"] == "amazon_connect"
        post_simulated(server, [journey], late=True)
        wait_until(lambda: analysed_with(False), timeout=READ_TIMEOUT * 2, what="data_pending gone")


def test_analysis_survives_kill_9_and_catches_up(server_factory) -> None:
    """Spans acknowledged just before a crash are analysed after the restart, and analysis
    already stored is kept."""
    server = server_factory()
    first, second = simulator.journeys(7, 2, time.time_ns() - 3600 * simulator.S)
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        post_simulated(server, [first])
        before = wait_until(lambda: settled_journey(client, first), timeout=READ_TIMEOUT * 2)
        post_simulated(server, [second])
        server.stop(signal.SIGKILL)
        server.start()
        after = wait_until(lambda: settled_journey(client, first), timeout=READ_TIMEOUT * 2)
        assert after["insights"] == before["insights"] and after["summary"] == before["summary"]
        wait_until(lambda: settled_journey(client, second), timeout=READ_TIMEOUT * 2)


def _renamed(journey: simulator.SimulatedJourney, suffix: str) -> simulator.SimulatedJourney:
    """The same journey with new platform IDs (each ID's last four hex digits changed everywhere),
    so it is another call of the same customer rather than a re-send of the first."""
    posts = journey.posts
    interactions = []
    for interaction in journey.interactions:
        new = interaction.interaction_id[:-4] + suffix
        assert new != interaction.interaction_id
        posts = tuple(replace(p, body=p.body.replace(interaction.interaction_id.encode(), new.encode())) for p in posts)
        interactions.append(replace(interaction, interaction_id=new))
    return replace(journey, posts=posts, interactions=tuple(interactions))


def test_a_repeat_caller_is_flagged_within_24_hours_only(server_factory) -> None:
    server = server_factory()
    now = time.time_ns()
    [first_call] = simulator.journeys(11, 1, now - 50 * 3600 * simulator.S, ["twilio_vapi"])
    [again] = simulator.journeys(11, 1, now - 28 * 3600 * simulator.S, ["twilio_vapi"])  # 22 h later
    [much_later] = simulator.journeys(11, 1, now - 1 * 3600 * simulator.S, ["twilio_vapi"])  # 27 h after that
    again, much_later = _renamed(again, "beef"), _renamed(much_later, "cafe")
    assert first_call.customer == again.customer == much_later.customer
    with httpx.Client(base_url=server.query_url, timeout=30) as client:
        post_simulated(server, [first_call])
        first = wait_until(lambda: settled_journey(client, first_call), timeout=READ_TIMEOUT * 2)
        assert "repeat_caller" not in _rules(first)
        post_simulated(server, [again])
        second = wait_until(lambda: settled_journey(client, again), timeout=READ_TIMEOUT * 2)
        assert second["journey_id"] != first["journey_id"]
        repeat = next(i for i in second["insights"] if i["rule"] == "repeat_caller")
        assert repeat["severity"] == "info"
        post_simulated(server, [much_later])
        third = wait_until(lambda: settled_journey(client, much_later), timeout=READ_TIMEOUT * 2)
        assert "repeat_caller" not in _rules(third)


def test_a_thresholds_file_tunes_and_disables_rules(server_factory, tmp_path) -> None:
    """The same poor-audio journey under default thresholds and under a file that turns the
    packet-loss rule off and raises the jitter threshold past the measured value."""
    [journey] = [j for j in simulator.journeys(SEED, COUNT, time.time_ns() - 3600 * simulator.S) if j.trouble == "poor_audio"]
    rules = tmp_path / "insights.yaml"
    rules.write_text("high_packet_loss:\n  enabled: false\nhigh_jitter:\n  warning_ms: 500\n  critical_ms: 900\n")
    found = {}
    for name, args in (("default", ()), ("tuned", ("--insight-thresholds", str(rules)))):
        server = server_factory(*args)
        post_simulated(server, [journey])
        with httpx.Client(base_url=server.query_url, timeout=30) as client:
            found[name] = _rules(wait_until(lambda s=client: settled_journey(s, journey), timeout=READ_TIMEOUT * 2))
    assert {"high_packet_loss", "high_jitter"} <= found["default"]
    assert not {"high_packet_loss", "high_jitter"} & found["tuned"]
    assert found["default"] - {"high_packet_loss", "high_jitter"} == found["tuned"]


def test_a_bad_thresholds_file_stops_the_server_with_the_reason(server_factory, tmp_path) -> None:
    rules = tmp_path / "insights.yaml"
    rules.write_text("slow_handoff:\n  warning_sec: 3\n")
    server = server_factory("--insight-thresholds", str(rules), start=False)
    server.start(wait=False)
    assert server.proc.wait(30) == 2
    assert "insight_thresholds" in server.log_tail() and "warning_sec" in server.log_tail()


class _FakeModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat-completions endpoint that answers with a fixed summary and keeps
    every request body (``_FakeModel.seen``); ``failing`` makes it answer 500."""

    seen: list[dict[str, Any]] = []
    failing = False

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if type(self).failing:
            self.send_response(500)
            self.end_headers()
            return
        answer = json.dumps({"choices": [{"message": {"role": "assistant", "content": "The model's summary."}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: Any) -> None:
        pass


def test_llm_summaries_through_an_openai_compatible_endpoint(server_factory) -> None:
    model = ThreadingHTTPServer(("127.0.0.1", 0), _FakeModel)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    _FakeModel.seen, _FakeModel.failing = [], False
    try:
        server = server_factory("--summary-llm-base-url", f"http://127.0.0.1:{model.server_port}/v1",
                                "--summary-llm-model", "tiny-model", "--summary-llm-api-key", "sk-test-secret")  # fmt: skip
        first, second = simulator.journeys(9, 2, time.time_ns() - 3600 * simulator.S)
        with httpx.Client(base_url=server.query_url, timeout=30) as client:
            post_simulated(server, [first])

            def summarized_by_llm() -> dict[str, Any] | None:
                record = settled_journey(client, first)
                return record if record and record["summary"]["source"] == "llm" else None

            record = wait_until(summarized_by_llm, timeout=READ_TIMEOUT * 2, what="an LLM summary")
            assert record["summary"]["text"] == "The model's summary." and record["summary"]["model"] == "tiny-model"
            assert record["summary"]["outcome"] == record["outcome"]  # the facts stay the rules' own
            request = _FakeModel.seen[0]
            assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test-secret"
            assert request["body"]["model"] == "tiny-model"
            sent = json.dumps(request["body"])
            assert first.customer not in sent and first.customer[2:] not in sent  # no phone number leaves
            # a failing model: the journey keeps its offline summary
            _FakeModel.failing = True
            post_simulated(server, [second])
            fallback = wait_until(lambda: settled_journey(client, second), timeout=READ_TIMEOUT * 2)
            time.sleep(1.0)
            assert client.get(f"/api/journeys/{fallback['journey_id']}").json()["summary"]["source"] == "facts"
        assert "sk-test-secret" not in server.log_tail(100_000)
    finally:
        model.shutdown()


def test_every_journey_of_a_large_commit_is_analysed(server_factory) -> None:
    """One request of 1,200 single-span traces lands in one commit, whose journeys all carry the
    same update time: the worker, which reads 500 journeys at a time, must analyse every one."""
    server = server_factory()
    request = simple_request(new_trace_id(), 1)
    template = request.resource_spans[0].scope_spans[0].spans[0]
    for _ in range(1199):
        span = request.resource_spans[0].scope_spans[0].spans.add()
        span.CopyFrom(template)
        span.trace_id, span.span_id = new_trace_id(), new_span_id()
    with httpx.Client(timeout=30) as client:
        assert http_export(client, server.traces_url, request).status_code == 200
    with httpx.Client(base_url=server.query_url, timeout=30) as client:

        def analysed() -> int:
            overview = client.get("/api/analytics/overview", params={"from": 0, "to": time.time_ns() + 10**12})
            return overview.json()["journey_count"]

        wait_until(lambda: analysed() == 1200, timeout=READ_TIMEOUT * 2, what="1,200 journeys analysed")
