"""What the Journey Explorer page reads beside the journeys API: the live stream (server-sent
events), the OTLP download, page routes (a merged-away ID redirects) and the UI settings."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import httpx
from jt_helpers import READ_TIMEOUT, journey_of_interaction, post_simulated, settled_journey, wait_until

from journeytrace import simulator
from journeytrace.query.first_answer import list_block, with_rules

SERVER_ARGS = ("--jaeger-ui-url", "http://jaeger.example:16686", "--grafana-url", "http://grafana.example:3000")


def _events(response: httpx.Response, into: list[tuple[str, Any]], stop: threading.Event) -> None:
    """Collect ``(event, data)`` pairs from a text/event-stream response until ``stop``."""
    event, data = "message", []
    try:
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "":
                if data:
                    into.append((event, json.loads("\n".join(data))))
                event, data = "message", []
    except httpx.TransportError:
        if not stop.is_set():  # the test closed the stream; anything else is a failure it will see
            raise


def test_the_stream_sends_journeys_as_they_arrive_and_change(module_server, client) -> None:
    [journey] = simulator.journeys(21, 1, time.time_ns() - 600 * simulator.S, ["polyai_connect"])
    [other] = simulator.journeys(22, 1, time.time_ns() - 600 * simulator.S, ["twilio_vapi"])
    received: list[tuple[str, Any]] = []
    stop = threading.Event()
    with httpx.Client(base_url=module_server.query_url, timeout=httpx.Timeout(30, read=60)) as streaming:
        with streaming.stream("GET", "/api/journeys/stream", params={"platform": "polyai", "poll": "0.2"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = threading.Thread(target=_events, args=(response, received, stop), daemon=True)
            reader.start()
            wait_until(lambda: received and received[0][0] == "ready", what="ready event")
            post_simulated(module_server, [journey, other], late=False)
            journey_id = wait_until(lambda: journey_of_interaction(client, journey.interactions[0].interaction_id))
            wait_until(lambda: any(e == "journey" and d["journey_id"] == journey_id for e, d in received),
                       what="the new journey streamed")  # fmt: skip
            first_legs = max(d["leg_count"] for e, d in received if e == "journey" and d["journey_id"] == journey_id)
            post_simulated(module_server, [journey], late=True)  # the Connect contact records
            settled = wait_until(lambda: settled_journey(client, journey), timeout=READ_TIMEOUT * 2)
            wait_until(
                lambda: any(e == "journey" and d["journey_id"] == journey_id and d["updated_unix_nano"]
                            == settled["updated_unix_nano"] and d["insights"] == [
                                {"rule": r, "severity": s, "count": c} for r, s, c in _counts(settled)]
                            for e, d in received),
                what="the journey's update streamed",
            )  # fmt: skip
            stop.set()
    streamed = [d for e, d in received if e == "journey"]
    assert all("polyai" in d["platforms"] for d in streamed)  # the filter holds: the Vapi call never came
    assert first_legs >= 1 and all(set(d) >= {"journey_id", "summary", "insights", "leg_count"} for d in streamed)


def _counts(record: dict[str, Any]) -> list[tuple[str, str, int]]:
    rank = {"critical": 2, "warning": 1, "info": 0}
    seen: dict[str, list[str]] = {}
    for insight in record["insights"]:
        seen.setdefault(insight["rule"], []).append(insight["severity"])
    rows = [(rule, max(s, key=rank.__getitem__), len(s)) for rule, s in seen.items()]
    return sorted(rows, key=lambda r: (-rank[r[1]], r[0]))


def test_the_stream_refuses_bad_filters(client) -> None:
    answer = client.get("/api/journeys/stream", params={"insight": "nope"})
    assert answer.status_code == 400 and "nope" in answer.json()["error"]
    answer = client.get("/api/journeys/stream", params={"poll": "0"})
    assert answer.status_code == 400 and "poll" in answer.json()["error"]


def test_a_journey_downloads_as_otlp_json(module_server, client) -> None:
    [journey] = simulator.journeys(23, 1, time.time_ns() - 3600 * simulator.S, ["twilio_vapi"])
    post_simulated(module_server, [journey])
    record = wait_until(lambda: settled_journey(client, journey), timeout=READ_TIMEOUT * 2)
    answer = client.get(f"/api/journeys/{record['journey_id']}/otlp")
    assert answer.status_code == 200
    assert f'filename="journey-{record["journey_id"]}.otlp.json"' in answer.headers["content-disposition"]
    spans = [s for rs in answer.json()["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert {s["spanId"] for s in spans} == {s["span_id"] for s in record["spans"]}
    assert {s["traceId"] for s in spans} == {record["journey_id"]}
    assert client.get(f"/api/journeys/{'0' * 32}/otlp").status_code == 404
    assert client.get("/api/journeys/not-an-id/otlp").status_code == 400


TIMELINE_ATTRIBUTES = {"cx.span.type", "cx.platform.name", "cx.handoff.from.platform", "cx.handoff.to.platform",
                       "cx.telephony.ani.number", "cx.leg.number"}  # fmt: skip
TIMELINE_FIELDS = {"span_id", "parent_span_id", "name", "service_name", "start_unix_nano", "end_unix_nano", "status_code",
                   "attributes", "status_message", "resource_attributes", "events", "synthetic"}  # fmt: skip


def test_a_journey_reads_in_outline_and_each_span_in_full(module_server, client) -> None:
    """The page draws from ``?view=timeline`` and asks for a clicked span in full: the outline
    keeps what the chart needs of every span, and each span reads back exactly as the full
    journey shows it (synthetic root and handoffs, rewritten parents, leg numbers, insight events)."""
    simulated = simulator.journeys(29, 6, time.time_ns() - 3600 * simulator.S)
    post_simulated(module_server, simulated)
    ids = [wait_until(lambda j=j: settled_journey(client, j), timeout=READ_TIMEOUT * 2)["journey_id"] for j in simulated]
    seen_events = seen_synthetic = False
    for journey_id in ids:
        full_answer = client.get(f"/api/journeys/{journey_id}")
        outline_answer = client.get(f"/api/journeys/{journey_id}", params={"view": "timeline"})
        assert outline_answer.status_code == 200
        full, outline = full_answer.json(), outline_answer.json()
        assert len(outline_answer.content) < len(full_answer.content) / 2
        assert {k: v for k, v in outline.items() if k != "spans"} == {k: v for k, v in full.items() if k != "spans"}
        assert [s["span_id"] for s in outline["spans"]] == [s["span_id"] for s in full["spans"]]
        for brief, span in zip(outline["spans"], full["spans"], strict=True):
            assert set(brief) <= TIMELINE_FIELDS
            for key in ("parent_span_id", "name", "service_name", "start_unix_nano", "end_unix_nano", "status_code"):
                assert brief[key] == span[key], key
            assert brief["attributes"] == {k: v for k, v in span["attributes"].items() if k in TIMELINE_ATTRIBUTES}
            assert brief.get("status_message", "") == span["status_message"]
            events = [{"time_unix_nano": e["time_unix_nano"], "name": e["name"]} for e in span["events"]]
            assert brief.get("events", []) == events
            assert brief.get("synthetic", False) == span.get("synthetic", False)
            seen_events, seen_synthetic = seen_events or bool(events), seen_synthetic or brief.get("synthetic", False)
            own, resource = brief.get("resource_attributes", {}), span["resource_attributes"]
            assert own.get("service.name", brief["service_name"]) == resource.get("service.name", brief["service_name"])
            platform = span["attributes"].get("cx.platform.name") or resource.get("cx.platform.name")
            assert (brief["attributes"].get("cx.platform.name") or own.get("cx.platform.name")) == platform
            one = client.get(f"/api/journeys/{journey_id}/spans/{span['span_id'].upper()}")
            assert one.status_code == 200 and one.json() == span
    assert seen_events and seen_synthetic
    assert client.get(f"/api/journeys/{journey_id}/spans/{'0' * 16}").json() == {
        "error": f"span {'0' * 16} not found in journey {journey_id}"}  # fmt: skip
    assert client.get(f"/api/journeys/{'0' * 32}/spans/{full['spans'][1]['span_id']}").status_code == 404
    bad = client.get(f"/api/journeys/{journey_id}/spans/xyz")
    assert bad.status_code == 400 and bad.json() == {"error": "span_id 'xyz' is not 16 hex characters"}
    bad = client.get(f"/api/journeys/{journey_id}", params={"view": "brief"})
    assert bad.status_code == 400 and bad.json() == {"error": "view 'brief' must be one of: full, timeline"}


def test_pages_are_served_and_an_old_journey_id_redirects(module_server, client) -> None:
    for path in ("/", "/analytics", f"/journeys/{'0' * 32}", "/journeys/not-an-id"):
        answer = client.get(path)
        assert answer.status_code == 200 and "text/html" in answer.headers["content-type"], path
        assert '<main id="app"' in answer.text
    assert client.get("/web/app.js").headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert client.get("/web/no-such-file.js").status_code == 404
    # A journey's first leg arriving alone gets an ID of its own; the leg that links it to an
    # earlier interaction renames it, and the first ID then redirects to the merged journey.
    [journey] = simulator.journeys(27, 1, time.time_ns() - 3600 * simulator.S, ["polyai_connect"])
    later = [p for p in journey.posts if p.platform != "polyai"]
    first = [p for p in journey.posts if p.platform == "polyai"]
    post_simulated(module_server, [_only(journey, later)])
    connect = next(i for i in journey.interactions if i.platform == "amazon_connect")
    alone = wait_until(lambda: journey_of_interaction(client, connect.interaction_id))
    post_simulated(module_server, [_only(journey, first)])
    merged = wait_until(lambda: settled_journey(client, journey), timeout=READ_TIMEOUT * 2)["journey_id"]
    assert merged != alone
    answer = client.get(f"/journeys/{alone}", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == f"/journeys/{merged}"
    span = client.get(f"/api/journeys/{merged}").json()["spans"][-1]
    assert client.get(f"/api/journeys/{alone}/spans/{span['span_id']}").json() == span  # the alias reads its spans
    for interaction in journey.interactions:  # a platform's own ID opens its journey too
        answer = client.get(f"/journeys/{interaction.interaction_id}", follow_redirects=False)
        assert answer.status_code == 307 and answer.headers["location"] == f"/journeys/{merged}"


def _embedded(html: str, element_id: str) -> tuple[dict[str, str], Any] | None:
    """The attributes and JSON of ``<script type="application/json" id=element_id>`` in ``html``."""
    found = re.search(rf'<script type="application/json" id="{element_id}"([^>]*)>(.*?)</script>', html, re.DOTALL)
    if found is None:
        return None
    return dict(re.findall(r'(\S+)="([^"]*)"', found.group(1))), json.loads(found.group(2))


def test_pages_carry_the_insight_catalogue_and_the_home_page_its_first_list(module_server, client) -> None:
    rules = client.get("/api/insights/rules").json()
    [journey] = simulator.journeys(31, 1, time.time_ns() - 3600 * simulator.S, ["twilio_vapi"])
    post_simulated(module_server, [journey])
    wait_until(lambda: settled_journey(client, journey), timeout=READ_TIMEOUT * 2)
    for path in ("/", "/analytics", f"/journeys/{'0' * 32}", "/?phone=not-a-number"):
        answer = client.get(path)
        assert _embedded(answer.text, "jt-insight-rules") == ({}, rules), path
    home = client.get("/", params={"limit": "7", "platform": "vapi, twilio"})
    assert home.headers["cache-control"] == "no-store"
    attributes, body = _embedded(home.text, "jt-first-list")
    assert attributes == {"data-params": "platform=vapi&amp;platform=twilio&amp;limit=7"}
    assert body == client.get("/api/journeys", params=[("platform", "vapi"), ("platform", "twilio"), ("limit", 7)]).json()
    assert body["journeys"]
    # what the page computes from the browser (a quick range, a page cursor) or the API refuses: not embedded
    for params in ({"range": "1h"}, {"before": "1795945730734790448"}, {"phone": "not-a-number"}, {"insight": "no_such_rule"}):
        assert _embedded(client.get("/", params=params).text, "jt-first-list") is None, params


def test_an_embedded_answer_cannot_end_its_script_element() -> None:
    html = b'<head>\n  <script type="module" src="/web/app.js"></script>\n</head>'
    sneaky = {"journeys": [{"queue": "</script><script>alert(1)</script><!--"}]}
    page = (with_rules(html, {"rules": [{"id": "<!--</script>"}]}) + list_block("queue=%3C%2Fscript%3E", sneaky)).decode()
    assert page.count("</script>") == 3 and "<!--" not in page
    assert _embedded(page, "jt-first-list") == ({"data-params": "queue=%3C%2Fscript%3E"}, sneaky)
    assert _embedded(page, "jt-insight-rules") == ({}, {"rules": [{"id": "<!--</script>"}]})
    assert page.index('id="jt-insight-rules"') < page.index('<script type="module"')


def _only(journey: simulator.SimulatedJourney, posts: list[Any]) -> simulator.SimulatedJourney:
    from dataclasses import replace

    return replace(journey, posts=tuple(posts))


def test_the_ui_settings_name_jaeger_and_grafana(client) -> None:
    assert client.get("/api/ui/config").json() == {
        "jaeger_ui_url": "http://jaeger.example:16686", "grafana_url": "http://grafana.example:3000",
        "grafana_tempo_datasource": "",
    }  # fmt: skip
