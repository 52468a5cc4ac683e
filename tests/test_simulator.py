"""The journey simulator and the PolyAI → Connect example: deterministic payloads that every
adapter accepts, and over the wire one journey per simulated customer with its trouble showing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from journeytrace.receivers.platforms.http import parse_native
from journeytrace.receivers.platforms.model import to_request
from journeytrace.receivers.platforms.registry import adapters
from jt_helpers import READ_TIMEOUT, clean_env, wait_until

from journeytrace import simulator

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "polyai_to_connect_dropped_transfer"
START = 1_749_736_800_000_000_000  # 2025-06-12T14:00:00Z
E2E_SEED = 30
"""8 journeys covering the four scenarios and every kind of trouble, but not a Genesys drop
during the agent's talk (see ``test_a_genesys_call_dropped_while_talking_to_the_agent_is_dropped``)."""
GENESYS_DROPPED_SEED = 1


def test_the_same_seed_gives_the_same_payloads() -> None:
    first = simulator.journeys(11, 40, START)
    assert first == simulator.journeys(11, 40, START)
    assert [j.posts for j in first] != [j.posts for j in simulator.journeys(12, 40, START)]
    later = simulator.journeys(11, 40, START + 3600 * simulator.S)
    assert [(j.scenario, j.trouble, j.interactions[0].interaction_id) for j in later] == [
        (j.scenario, j.trouble, j.interactions[0].interaction_id) for j in first
    ]
    assert {j.scenario for j in first} == set(simulator.SCENARIOS)
    assert {j.trouble for j in first} == set(simulator.TROUBLES)


def test_every_payload_is_accepted_by_its_adapter() -> None:
    known = adapters()
    for seed in (1, 2, 3):
        for journey in simulator.journeys(seed, 60, START):
            produced: set[tuple[str, str]] = set()
            for post in journey.posts:
                adapter = known[post.platform]
                assert post.content_type in adapter.content_types
                parsed = adapter.parse(parse_native(adapter, post.body, post.content_type), {})
                assert parsed.spans and parsed.ignored == 0 and not parsed.notes, (journey.scenario, post.platform)
                to_request(parsed.spans)  # every span is valid OTLP
                produced |= {(s.platform, s.interaction_id) for s in parsed.spans}
            assert produced == {(i.platform, i.interaction_id) for i in journey.interactions}


def test_late_payloads_are_connect_records_and_insights_summaries() -> None:
    for journey in simulator.journeys(4, 60, START):
        for post in journey.posts:
            payload = json.loads(post.body) if post.content_type != simulator.FORM else {}
            if post.late:
                assert "call_sid" in payload if post.platform == "twilio" else "ContactId" in payload
            elif post.platform == "amazon_connect":
                assert payload["detail-type"] == "Amazon Connect Contact Event"


def _journey_of(client: httpx.Client, interaction_id: str) -> str | None:
    found = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
    return found[0]["journey_id"] if len(found) == 1 else None


def _settled(client: httpx.Client, journey: simulator.SimulatedJourney, showing: bool = False) -> dict[str, Any] | None:
    """The journey record once every interaction is in it with the expected legs and outcome (and,
    if ``showing``, once its spans show its trouble)."""
    ids = {_journey_of(client, i.interaction_id) for i in journey.interactions}
    if len(ids) != 1 or None in ids:
        return None
    record = client.get(f"/api/journeys/{ids.pop()}").json()
    if record["platforms"] != journey.platforms or record["outcome"] != journey.expected_outcome:
        return None
    if showing and not _shows(record, journey.trouble):
        return None
    return record


def _describe(client: httpx.Client, journey: simulator.SimulatedJourney) -> str:
    ids = {i.interaction_id: _journey_of(client, i.interaction_id) for i in journey.interactions}
    records = {j: client.get(f"/api/journeys/{j}").json() for j in set(ids.values()) if j}
    return f"{journey.scenario}/{journey.trouble}: interactions → {ids}; " + "; ".join(
        f"{j}: {r.get('platforms')} outcome {r.get('outcome')}" for j, r in records.items()
    )


def test_simulate_posts_journeys_that_correlate_with_their_trouble(server_factory) -> None:
    server = server_factory(start=False)
    count = 8
    command = [sys.executable, "-m", "journeytrace", "simulate", "--server", server.http_base, "--query",
               server.query_url, "--wait-ready", "--journeys", str(count), "--rate", "20", "--seed", str(E2E_SEED),
               "--late-seconds", "1"]  # fmt: skip
    simulate = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    time.sleep(0.5)  # the simulator is already polling /readyz when the server starts
    server.start()
    out, err = simulate.communicate(timeout=120)
    assert simulate.returncode == 0, err
    assert f"simulated {count} journeys" in out and "0 failed" in out
    assert "+1" not in out + err  # never a phone number on the console

    expected = simulator.journeys(E2E_SEED, count, START)  # IDs do not depend on the start time
    assert {j.scenario for j in expected} == set(simulator.SCENARIOS)
    assert {"dropped", "abandoned"} <= {j.expected_outcome for j in expected}
    with httpx.Client(base_url=server.query_url, timeout=30.0) as client:
        for journey in expected:
            # Settled, and showing its trouble: a late record (Twilio's Voice Insights summary,
            # which carries the audio scores) may land a commit after the rest.
            try:
                record = wait_until(lambda j=journey: _settled(client, j, showing=True), timeout=READ_TIMEOUT * 2)
            except AssertionError:
                record = _settled(client, journey)
                if record is None:
                    pytest.fail(f"journey {journey.number} never settled: {_describe(client, journey)}")
                pytest.fail(f"journey {journey.number}: no sign of {journey.trouble}")
            assert {leg["platform"] for leg in record["legs"]} == {i.platform for i in journey.interactions}


def _shows(record: dict[str, Any], trouble: str | None) -> bool:
    """Whether the journey's spans show its trouble (the outcome is checked already)."""
    spans = [s for s in record["spans"] if not s.get("synthetic")]
    if trouble in ("dropped", "failed_transfer"):
        return any(s["status_code"] == "STATUS_CODE_ERROR" for s in spans)
    if trouble == "poor_audio":
        audio = [s["attributes"] for s in spans]
        return any(a.get("cx.audio.mos", 5) < 3.2 or a.get("cx.audio.mos_min", 5) < 3.2
                   or a.get("cx.audio.packet_loss_pct", 0) > 2 for a in audio)  # fmt: skip
    if trouble == "abandoned":
        return record["outcome"] == "abandoned"
    return True


def test_a_genesys_call_dropped_while_talking_to_the_agent_is_dropped(server_factory) -> None:
    server = server_factory()
    [journey] = simulator.journeys(GENESYS_DROPPED_SEED, 1, time.time_ns() - 3600 * simulator.S, ["genesys_polyai"])
    assert journey.trouble == "dropped"
    report = simulator.send(server.http_base, [journey], rate=0, late_seconds=0, progress=None)
    assert not report.failures
    with httpx.Client(base_url=server.query_url, timeout=30.0) as client:
        wait_until(lambda: _journey_of(client, journey.interactions[-1].interaction_id), what="the journey")
        wait_until(lambda: _settled(client, journey), timeout=5, what=_describe(client, journey))


def test_the_example_replays_into_one_dropped_journey(server_factory) -> None:
    server = server_factory()
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "replay.py"), "--server", server.http_base, "--query", server.query_url],
        check=False, capture_output=True, text=True, timeout=120, env=clean_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "outcome: dropped   legs: twilio -> polyai -> amazon_connect" in result.stdout
    assert "+44" not in result.stdout
    journey_id = result.stdout.split("/api/journeys/")[1].split()[0]
    journey = httpx.get(f"{server.query_url}/api/journeys/{journey_id}", timeout=30).json()
    assert [leg["platform"] for leg in journey["legs"]] == ["twilio", "polyai", "amazon_connect"]
    assert {link["method"] for link in journey["correlation"]} >= {"foreign_id", "ani_time"}
    spans = {(s["attributes"].get("cx.platform.name"), s["attributes"].get("cx.span.type")): s
             for s in journey["spans"] if not s.get("synthetic")}  # fmt: skip
    polyai = spans[("polyai", "ai_conversation")]
    assert polyai["attributes"]["cx.ai.outcome"] == "handoff" and polyai["status_code"] != "STATUS_CODE_ERROR"
    assert spans[("polyai", "handoff")]["attributes"]["cx.handoff.to.type"] == "human"
    contact = spans[("amazon_connect", "telephony")]
    assert contact["status_code"] == "STATUS_CODE_ERROR"
    assert contact["attributes"]["cx.disconnect.reason"] == "telecom_problem"
    assert contact["attributes"]["aws.connect.potential_disconnect_issue"] == "CUSTOMER_CONNECTIVITY_ISSUE"
    carrier = spans[("twilio", "telephony")]["attributes"]
    assert carrier["cx.audio.packet_loss_pct"] > 5 and carrier["cx.audio.jitter_ms"] > 30
