"""The historical analytics API end to end: simulated journeys posted to a real server, analysed by
its worker, and every analytics answer checked against the journeys API itself — each count equals
what its ``journeys`` link lists."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
from jt_helpers import READ_TIMEOUT, post_simulated, settled_journey, wait_until

from journeytrace import simulator

COUNT = 30
START = time.time_ns() - 6 * 3600 * simulator.S


@pytest.fixture(scope="module")
def records(module_server, client: httpx.Client) -> list[dict[str, Any]]:
    journeys = simulator.journeys(41, COUNT, START)
    post_simulated(module_server, journeys)
    return [wait_until(lambda j=j: settled_journey(client, j), timeout=READ_TIMEOUT * 2) for j in journeys]


@pytest.fixture(scope="module")
def window(records) -> dict[str, int]:
    return {"from": min(r["start_unix_nano"] for r in records), "to": max(r["start_unix_nano"] for r in records)}


def _listed(client: httpx.Client, query: str) -> set[str]:
    found = client.get(f"/api/journeys?{query}&limit=1000")
    assert found.status_code == 200, (query, found.text)
    return {r["journey_id"] for r in found.json()["journeys"]}


def test_overview_counts_the_journeys_and_their_outcomes(client, records, window) -> None:
    body = client.get("/api/analytics/overview", params=window).json()
    assert body["journey_count"] == COUNT
    outcomes = Counter(r["outcome"] for r in records)
    assert {o["outcome"]: o["journey_count"] for o in body["outcomes"]} == dict(outcomes)
    assert body["dropped_count"] == outcomes["dropped"] and body["abandoned_count"] == outcomes["abandoned"]
    assert body["drop_rate"] == pytest.approx(outcomes["dropped"] / COUNT)
    assert body["avg_legs"] == pytest.approx(sum(r["leg_count"] for r in records) / COUNT)
    for row in body["outcomes"]:
        if row["journeys"]:
            assert len(_listed(client, row["journeys"])) == row["journey_count"], row
    assert _listed(client, body["journeys"]) == {r["journey_id"] for r in records}


def test_paths_are_the_journeys_leg_paths(client, records, window) -> None:
    body = client.get("/api/analytics/paths", params={**window, "limit": 100}).json()
    assert {tuple(p["path"]): p["journey_count"] for p in body["paths"]} == Counter(
        tuple(r["platforms"]) for r in records
    )
    for row in body["paths"]:  # each path row lists exactly its journeys
        listed = _listed(client, row["journeys"])
        assert listed == {r["journey_id"] for r in records if r["platforms"] == row["path"]}, row
    nodes = {n["id"]: n for n in body["sankey"]["nodes"]}
    assert sum(n["value"] for n in nodes.values() if n["step"] == 1) == COUNT
    for link in body["sankey"]["links"]:
        assert nodes[link["target"]]["step"] == nodes[link["source"]]["step"] + 1
    first_hops = Counter((r["platforms"][0], r["platforms"][1]) for r in records if len(r["platforms"]) > 1)
    assert {
        (nodes[k["source"]]["name"], nodes[k["target"]]["name"]): k["value"]
        for k in body["sankey"]["links"] if nodes[k["source"]]["step"] == 1
    } == dict(first_hops)  # fmt: skip


def test_handoff_pairs_follow_the_legs(client, records, window) -> None:
    body = client.get("/api/analytics/handoffs", params=window).json()
    hops = Counter()
    for record in records:
        hops.update({(a, b) for a, b in zip(record["platforms"], record["platforms"][1:], strict=False)})
    found = {(p["from_platform"], p["to_platform"]): p["journey_count"] for p in body["pairs"] if p["to_platform"]}
    assert found == dict(hops)


def test_insight_rows_and_patterns_link_to_exactly_their_journeys(client, records, window) -> None:
    body = client.get("/api/analytics/insights", params=window).json()
    expected = Counter(rule for r in records for rule in {i["rule"] for i in r["insights"]})
    assert {row["rule"]: row["journey_count"] for row in body["rules"]} == dict(expected)
    for row in body["rules"]:
        assert len(_listed(client, row["journeys"])) == row["journey_count"], row
    patterns = client.get("/api/analytics/patterns", params={**window, "limit": 1000}).json()["patterns"]
    assert patterns, "the simulated journeys have queues and insights: some pattern must show"
    for row in patterns:
        assert len(_listed(client, row["journeys"])) == row["journey_count"], row


def test_queue_waits_and_the_time_series_add_up(client, records, window) -> None:
    waits = client.get("/api/analytics/queue-wait", params=window).json()
    queued = [r for r in records if any(s["attributes"].get("cx.span.type") == "queue" for s in r["spans"])]
    assert waits["journey_count"] == len(queued) > 0
    assert sum(b["journey_count"] for b in waits["histogram"]) == len(queued)
    for row in waits["queues"]:
        assert len(_listed(client, row["journeys"])) == row["journey_count"], row
    series = client.get("/api/analytics/timeseries", params={**window, "interval": "15m"}).json()
    assert sum(b["journey_count"] for b in series["buckets"]) == COUNT
    for bucket in series["buckets"]:
        if bucket["journey_count"]:
            assert len(_listed(client, bucket["journeys"])) == bucket["journey_count"], bucket


def test_filters_narrow_and_bad_parameters_are_400(client, records, window) -> None:
    polyai = [r for r in records if "polyai" in r["platforms"]]
    body = client.get("/api/analytics/overview", params={**window, "platform": "polyai"}).json()
    assert body["journey_count"] == len(polyai) > 0
    empty = client.get("/api/analytics/overview", params={"from": 1_000_000_000, "to": 2_000_000_000}).json()
    assert empty["journey_count"] == 0 and empty["drop_rate"] == 0
    for params, word in (({"interval": "7x"}, "interval"), ({"from": "yesterday"}, "from"),
                         ({"from": window["to"], "to": window["from"] - 1}, "from"), ({"limit": "0"}, "limit")):  # fmt: skip
        answer = client.get("/api/analytics/timeseries" if "interval" in params else "/api/analytics/paths",
                            params=params)  # fmt: skip
        assert answer.status_code == 400 and word in answer.json()["error"], (params, answer.text)
    assert {e["path"] for e in client.get("/api/analytics").json()["endpoints"]} >= {
        "/api/analytics/overview", "/api/analytics/paths", "/api/analytics/handoffs", "/api/analytics/queue-wait",
        "/api/analytics/insights", "/api/analytics/patterns", "/api/analytics/timeseries",
    }  # fmt: skip
