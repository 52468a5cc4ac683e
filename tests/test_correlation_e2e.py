"""Correlation over the wire: late data merges journeys, aliases resolve, phones are searchable
by number yet never stored raw, and a bad rules file stops the server with the reason."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

from jt_helpers import http_export, new_trace_id, simple_request, wait_for_journey, wait_until

S = 1_000_000_000


def leg(platform: str, interaction_id: str, start: int, **attributes: object) -> bytes:
    request = simple_request(
        new_trace_id(), 2, service=platform.replace("_", "-"), name=f"{platform} span", start=start,
        attributes={"cx.platform.name": platform, "cx.platform.interaction.id": interaction_id, **attributes},
    )  # fmt: skip
    return request.SerializeToString()


def journey_of(client: httpx.Client, interaction_id: str) -> dict:
    def found() -> dict | None:
        journeys = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
        return journeys[0] if journeys else None

    return wait_until(found, what=f"the journey of {interaction_id}")


def test_late_leg_merges_two_journeys_and_old_ids_resolve(server_factory) -> None:
    server = server_factory()
    t0 = time.time_ns() - 600 * S
    with httpx.Client(base_url=server.query_url, timeout=30) as client, httpx.Client(timeout=30) as otlp:
        assert http_export(otlp, server.traces_url, leg("vapi", "vapi-A", t0)).status_code == 200
        assert http_export(otlp, server.traces_url, leg("amazon_connect", "contact-C", t0 + 100 * S,
                                                        **{"sip.call_id": "hop-2"})).status_code == 200  # fmt: skip
        first_a = journey_of(client, "vapi-A")["journey_id"]
        first_c = journey_of(client, "contact-C")["journey_id"]
        assert first_a != first_c

        # B started first and links to both: A by a foreign ID, C by a shared SIP Call-ID.
        middle = leg("twilio", "CA-B", t0 - 10 * S, **{
            "cx.peer.platform.name": "vapi", "cx.peer.interaction.id": "vapi-A", "sip.call_id": "hop-2"})  # fmt: skip
        assert http_export(otlp, server.traces_url, middle).status_code == 200

        def merged() -> dict | None:
            record = client.get(f"/api/journeys/{first_a}").json()
            return record if record.get("interaction_count") == 3 else None

        journey = wait_until(merged, what="the merge")
        assert journey["resolved_from"] == first_a
        final = journey["journey_id"]
        assert final not in (first_a, first_c)
        assert [leg["platform"] for leg in journey["legs"]] == ["twilio", "vapi", "amazon_connect"]
        assert {(c["method"]) for c in journey["correlation"]} == {"foreign_id", "sip_call_id"}
        assert all(s["trace_id"] == final for s in journey["spans"])
        assert client.get(f"/api/journeys/{first_c}").json()["journey_id"] == final
        listed = client.get("/api/journeys").json()["journeys"]
        assert [j["journey_id"] for j in listed] == [final]
        # The stored rows were rewritten, not only the answer.
        full = wait_for_journey(client, final, 6)
        assert {s["attributes"].get("cx.leg.number") for s in full["spans"] if not s.get("synthetic")} == {1, 2, 3}
    server.stop()
    with duckdb.connect(str(server.data_dir / "journeytrace.duckdb"), read_only=True) as con:
        assert con.execute("SELECT DISTINCT journey_id FROM spans").fetchall() == [(final,)]


def test_phone_search_works_but_raw_numbers_are_never_stored(server_factory) -> None:
    server = server_factory()
    t0 = time.time_ns() - 60 * S
    with httpx.Client(base_url=server.query_url, timeout=30) as client, httpx.Client(timeout=30) as otlp:
        body = leg("twilio", "CA-phone", t0, **{"cx.telephony.ani.number": "+1 (415) 555-0142"})
        assert http_export(otlp, server.traces_url, body).status_code == 200
        found = wait_until(lambda: client.get("/api/journeys", params={"phone": "+14155550142"}).json()["journeys"])
        assert len(found) == 1
        assert client.get("/api/journeys", params={"phone": "+14155550143"}).json()["journeys"] == []
        assert client.get("/api/journeys", params={"phone": "anonymous"}).status_code == 400
        spans = wait_for_journey(client, found[0]["journey_id"], 2)["spans"]
        assert all("cx.telephony.ani.number" not in s["attributes"] for s in spans)
        assert any("cx.telephony.ani.hash" in s["attributes"] for s in spans)
    server.stop()
    with duckdb.connect(str(server.data_dir / "journeytrace.duckdb"), read_only=True) as con:
        stored = con.execute(
            """SELECT count(*) FROM spans WHERE concat_ws(' ', attributes, resource_attributes, events, links,
                      extra, customer_phone_hash) LIKE '%555%0142%'"""
        ).fetchone()
    assert stored == (0,)


def test_a_bad_rules_file_stops_serve_with_the_reason(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: broken\n    from: {platform: twilio}\n")
    result = subprocess.run(
        [sys.executable, "-m", "journeytrace", "serve", "--data-dir", str(tmp_path / "d"),
         "--correlation-rules", str(rules)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "rules[0].from" in result.stderr and "attribute" in result.stderr


def test_user_rule_links_platforms_through_customer_attributes(server_factory, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: connect-to-polyai\n"
        "    from: {platform: amazon_connect, attribute: aws.connect.attributes.polyai_id}\n"
        "    to: {platform: polyai, attribute: cx.platform.interaction.id}\n"
        "    window_seconds: 900\n"
    )
    server = server_factory("--correlation-rules", str(rules))
    t0 = time.time_ns() - 600 * S
    with httpx.Client(base_url=server.query_url, timeout=30) as client, httpx.Client(timeout=30) as otlp:
        connect = leg("amazon_connect", "contact-1", t0, **{"aws.connect.attributes.polyai_id": "conv-77"})
        far = leg("amazon_connect", "contact-2", t0 - 3600 * S, **{"aws.connect.attributes.polyai_id": "conv-88"})
        for body in (leg("polyai", "conv-77", t0 + 30 * S), connect, leg("polyai", "conv-88", t0 + 30 * S), far):
            assert http_export(otlp, server.traces_url, body).status_code == 200
        journey = wait_until(
            lambda: (j := journey_of(client, "conv-77")) and j["interaction_count"] == 2 and j, what="the rule link"
        )
        detail = client.get(f"/api/journeys/{journey['journey_id']}").json()
        assert [c["method"] for c in detail["correlation"]] == ["rule:connect-to-polyai"]
        assert "aws.connect.attributes.polyai_id=conv-77" in detail["correlation"][0]["evidence"]
        time.sleep(1.5)  # the out-of-window pair must stay apart
        assert journey_of(client, "conv-88")["interaction_count"] == 1


def test_journey_outcome_follows_the_latest_signal_in_any_arrival_order(server_factory) -> None:
    server = server_factory()
    t0 = time.time_ns() - 900 * S
    abandoned = [
        leg("amazon_connect", "c-abandon", t0, **{"cx.span.type": "ivr", "cx.ivr.outcome": "routed"}),
        leg("amazon_connect", "c-abandon", t0 + 30 * S, **{"cx.span.type": "queue", "cx.queue.exit_reason": "abandoned"}),
    ]  # fmt: skip
    # The AI hands off (not an outcome), a human agent finishes: resolved, even delivered agent-first.
    resolved = [
        leg("genesys_cloud", "g-agent", t0 + 60 * S, **{"cx.span.type": "agent_interaction", "cx.journey.id": "J-res"}),
        leg("vapi", "v-ai", t0, **{"cx.span.type": "ai_conversation", "cx.ai.outcome": "handoff", "cx.journey.id": "J-res"}),
    ]  # fmt: skip
    # A reported outcome beats a derived one even when the derived signal is later.
    reported = [
        leg("twilio", "CA-reported", t0, **{"cx.journey.outcome": "transferred_external"}),
        leg("twilio", "CA-reported", t0 + 90 * S, **{"cx.span.type": "agent_interaction"}),
    ]
    silent = [leg("twilio", "CA-silent", t0, **{"cx.span.type": "telephony"})]
    with httpx.Client(base_url=server.query_url, timeout=30) as client, httpx.Client(timeout=30) as otlp:
        for body in abandoned + resolved + reported + silent:
            assert http_export(otlp, server.traces_url, body).status_code == 200

        journey_of(client, "CA-silent")  # sent last: once it is visible, everything before it is committed
        found = {i: journey_of(client, i) for i in ("c-abandon", "v-ai", "CA-reported", "CA-silent")}
        assert found["v-ai"]["interaction_count"] == 2
        assert {i: j["outcome"] for i, j in found.items()} == {
            "c-abandon": "abandoned", "v-ai": "resolved", "CA-reported": "transferred_external", "CA-silent": None,
        }  # fmt: skip
        listed = client.get("/api/journeys", params={"outcome": "abandoned"}).json()["journeys"]
        assert [j["journey_id"] for j in listed] == [found["c-abandon"]["journey_id"]]
        bad = client.get("/api/journeys", params={"outcome": "happy"})
        assert bad.status_code == 400 and "outcome" in bad.json()["error"]
