"""The journey page (/journeys/{id}) in headless Chromium against a real server loaded with
simulated multi-platform journeys: one bar per span, in the right layer, the right colour, at the
right x-position; the detail panel; keyboard zoom; the live "data still expected" notice; alias
redirects; the not-found page; links to Jaeger UI and Grafana.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from jt_helpers import (
    journey_of_interaction,
    modules_not_preloaded,
    post_simulated,
    screenshot,
    settled_journey,
    wait_until,
)

from journeytrace import simulator

JAEGER = "http://jaeger.example:16686"
GRAFANA = "http://grafana.example:3000"
SERVER_ARGS = ("--jaeger-ui-url", JAEGER, "--grafana-url", GRAFANA, "--grafana-tempo-datasource", "tempo-uid")
SEED = 7
COUNT = 6  # seed 7: PolyAI → Connect, Connect → LiveKit, Twilio → Vapi (poor audio, 4 legs), …
SPAN_TYPES = {"journey", "telephony", "ivr", "ai_conversation", "turn", "queue", "agent_interaction", "handoff"}
NOW = time.time_ns()
LABELS = {
    "twilio": "Twilio",
    "vapi": "Vapi",
    "amazon_connect": "Amazon Connect",
    "genesys_cloud": "Genesys Cloud",
    "polyai": "PolyAI",
    "livekit": "LiveKit",
}


# --- what the page should show, computed here from the API's journey --------------------------


def layer_key(span: dict[str, Any]) -> str:
    """The layer the page draws a span in: "journey" for the root, else the span's platform (its own
    attribute, then its resource's), a handoff without one in the layer it leaves, else its service."""
    a, r = span["attributes"], span.get("resource_attributes") or {}
    if a.get("cx.span.type") == "journey":
        return "journey"
    handoff = a.get("cx.span.type") == "handoff" and (
        a.get("cx.handoff.from.platform") or a.get("cx.handoff.to.platform")
    )
    return a.get("cx.platform.name") or r.get("cx.platform.name") or handoff or span["service_name"] or "unknown"


def colour_type(span: dict[str, Any]) -> str:
    kind = span["attributes"].get("cx.span.type")
    return kind if kind in SPAN_TYPES else "other"


def rgb(colour: str) -> tuple[int, int, int]:
    """A CSS colour (#rgb, #rrggbb, rgb(), rgba()) as an (r, g, b) tuple."""
    text = colour.strip().lower()
    if text.startswith("#"):
        digits = text[1:]
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    found = re.findall(r"[\d.]+", text)
    return tuple(int(float(v)) for v in found[:3])  # type: ignore[return-value]


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(module_server: Any, client: httpx.Client) -> dict[int, dict[str, Any]]:
    """The simulated journeys, posted and settled: {simulated journey number: API journey}."""
    simulated = simulator.journeys(SEED, COUNT, NOW - 3600 * 10**9)
    post_simulated(module_server, simulated)
    found = {}
    for one in simulated:
        found[one.number] = wait_until(
            lambda one=one: settled_journey(client, one), timeout=30, what=f"journey {one.number}"
        )
    return found


@pytest.fixture(scope="module")
def multi(loaded: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The journey with the most legs and insights (seed 7: Twilio → Vapi → Twilio → Genesys Cloud, poor audio)."""
    return max(loaded.values(), key=lambda j: (j["leg_count"], len(j["insights"])))


def open_journey(page: Any, base: str, journey_id: str, spans: int | None = None) -> None:
    page.goto(f"{base}/journeys/{journey_id}")
    page.wait_for_selector(".jt-bar[data-span-id]")
    if spans is not None:
        page.wait_for_function("n => document.querySelectorAll('.jt-bar[data-span-id]').length === n", arg=spans)


BAR_GEOMETRY = """() => {
  const plot = document.querySelector('.jt-plot').getBoundingClientRect();
  const root = getComputedStyle(document.documentElement);
  const vars = {};
  for (const t of ['journey','telephony','ivr','ai_conversation','turn','queue','agent_interaction','handoff','other'])
    vars[t] = root.getPropertyValue('--span-' + t).trim();
  const bars = [...document.querySelectorAll('[data-span-id]')].map((b) => {
    const box = b.getBoundingClientRect();
    return {id: b.dataset.spanId, layer: b.dataset.layer, type: b.dataset.spanType, left: box.left - plot.left,
            width: box.width, background: getComputedStyle(b).backgroundColor, tag: b.className};
  });
  return {plotWidth: plot.width, vars, bars};
}"""


# --- the flame chart --------------------------------------------------------------------------------


def test_flame_chart_has_one_bar_per_span_in_its_layer_colour_and_place(
    page: Any, module_server: Any, loaded: dict[int, dict[str, Any]]
) -> None:
    checked = 0
    for journey in loaded.values():
        if journey["leg_count"] < 2:
            continue
        spans = journey["spans"]
        open_journey(page, module_server.query_url, journey["journey_id"], len(spans))
        geometry = page.evaluate(BAR_GEOMETRY)
        bars = {b["id"]: b for b in geometry["bars"]}
        assert len(bars) == len(geometry["bars"]), "a span ID appears on two elements"
        assert set(bars) == {s["span_id"] for s in spans}
        start, end = journey["start_unix_nano"], journey["end_unix_nano"]
        width = geometry["plotWidth"]
        assert width > 500
        for span in spans:
            bar = bars[span["span_id"]]
            assert bar["layer"] == layer_key(span), (span["name"], bar)
            kind = colour_type(span)
            assert bar["type"] == kind
            assert rgb(bar["background"]) == rgb(geometry["vars"][kind]), (
                span["name"],
                bar["background"],
                geometry["vars"][kind],
            )
            if kind == "journey":
                expected_left, expected_width = 0.0, width
            else:
                expected_left = (span["start_unix_nano"] - start) / (end - start) * width
                expected_width = max(2.0, (span["end_unix_nano"] - span["start_unix_nano"]) / (end - start) * width)
            assert abs(bar["left"] - expected_left) <= 2, (span["name"], bar["left"], expected_left)
            assert abs(bar["width"] - expected_width) <= 2, (span["name"], bar["width"], expected_width)
            assert bar["width"] >= 2
        # one labelled layer per platform of the journey (and the journey root), legs numbered
        labels = page.eval_on_selector_all(".jt-layer-label", "els => els.map(e => [e.dataset.layer, e.textContent])")
        keys = [key for key, _ in labels]
        assert set(keys) == {layer_key(s) for s in spans} and len(keys) == len(set(keys))
        leg_order = list(dict.fromkeys(leg["platform"] for leg in journey["legs"]))
        assert keys[: 1 + len(leg_order)] == ["journey", *leg_order]
        for leg in journey["legs"]:
            text = dict(labels)[leg["platform"]]
            assert str(leg["leg"]) in text
        checked += 1
    assert checked >= 3


def test_handoffs_are_connectors_between_layers_and_the_legend_names_span_types(
    page: Any, module_server: Any, multi: dict[str, Any]
) -> None:
    open_journey(page, module_server.query_url, multi["journey_id"], len(multi["spans"]))
    expected = {
        s["span_id"]: (s["attributes"]["cx.handoff.from.platform"], s["attributes"]["cx.handoff.to.platform"])
        for s in multi["spans"]
        if s["attributes"].get("cx.span.type") == "handoff"
        and s["attributes"].get("cx.handoff.from.platform")
        and s["attributes"].get("cx.handoff.to.platform")
        and s["attributes"]["cx.handoff.from.platform"] != s["attributes"]["cx.handoff.to.platform"]
    }
    assert expected, "the journey has handoffs between platforms"
    drawn = page.eval_on_selector_all(
        ".jt-connector", "els => els.map(e => [e.dataset.handoffId, e.dataset.from, e.dataset.to, e.dataset.inferred])"
    )
    assert {d[0]: (d[1], d[2]) for d in drawn if not d[3]} == expected
    # a platform's own handoff (naming only kinds, ai → external) points at the next leg's platform
    by_id = {s["span_id"]: s for s in multi["spans"]}
    for handoff_id, source, target, inferred in drawn:
        if inferred:
            assert layer_key(by_id[handoff_id]) == source != target
            assert any(
                leg["platform"] == target and leg["start_unix_nano"] >= by_id[handoff_id]["start_unix_nano"] - 5 * 10**9
                for leg in multi["legs"]
            )
    legend = set(page.eval_on_selector_all("[data-legend-type]", "els => els.map(e => e.dataset.legendType)"))
    assert legend == {colour_type(s) for s in multi["spans"]}
    # the time axis has readable ticks
    ticks = page.eval_on_selector_all(".jt-tick-label", "els => els.map(e => e.textContent)")
    assert len(ticks) >= 4 and ticks[0] == "0" and any("min" in t for t in ticks)


def test_clicking_a_bar_shows_its_attributes_metrics_logs_and_insights(
    page: Any, module_server: Any, multi: dict[str, Any]
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_journey(page, module_server.query_url, multi["journey_id"], len(multi["spans"]))
    by_id = {s["span_id"]: s for s in multi["spans"]}
    insight = next(i for i in multi["insights"] if by_id[i["span_id"]]["attributes"].get("cx.platform.interaction.id"))
    span = by_id[insight["span_id"]]
    bar = page.locator(f'.jt-bar[data-span-id="{span["span_id"]}"]')
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    # the chart holds spans in outline; resting on a bar asks for that span in full, once
    full_span = f"{module_server.query_url}/api/journeys/{multi['journey_id']}/spans/{span['span_id']}"
    with page.expect_response(full_span):
        bar.hover()  # the tooltip comes with the pointer: name, duration, type, platform
    assert bar.get_attribute("title").startswith(f'{span["name"]} — ')
    assert f'({span["attributes"]["cx.span.type"]}, ' in bar.get_attribute("title")
    bar.click()
    panel = page.locator(".jt-panel .jt-details")
    panel.wait_for()
    assert panel.get_attribute("data-detail-span-id") == span["span_id"]
    assert asked == [full_span]  # the click found it there
    assert span["name"] in panel.locator("h2").inner_text()
    # attributes, sorted, the interaction ID with a copy button that copies it
    keys = panel.locator(".jt-attrs[data-attributes=attributes] tr").evaluate_all(
        "rows => rows.map(r => r.dataset.key)"
    )
    assert keys == sorted(span["attributes"])
    row = panel.locator('.jt-attrs tr[data-key="cx.platform.interaction.id"]')
    assert span["attributes"]["cx.platform.interaction.id"] in row.inner_text()
    row.locator(".jt-copy").click()
    page.wait_for_function(
        "() => document.querySelector('tr[data-key=\"cx.platform.interaction.id\"] .jt-copy').dataset.copied === 'true'"
    )
    assert page.evaluate("navigator.clipboard.readText()") == span["attributes"]["cx.platform.interaction.id"]
    # IDs of the span
    ids = panel.locator(".jt-ids").inner_text()
    assert span["span_id"] in ids and span["trace_id"] in ids
    # phone numbers are masked until shown
    phones = [
        k for k, v in span["attributes"].items() if k.endswith(".number") and isinstance(v, str) and v.startswith("+")
    ]
    for key in phones:
        cell = panel.locator(f'.jt-attrs tr[data-key="{key}"]')
        number = span["attributes"][key]
        assert number not in cell.inner_text() and f"••• ••• {number[-4:]}" in cell.inner_text()
        cell.locator(".jt-show").click()
        assert number in cell.inner_text()
    # metrics: duration and audio quality
    page.click("#jt-tab-metrics")
    metrics = panel.locator("[data-tabpanel=metrics]").inner_text()
    assert "Duration" in metrics and "from the journey's start" in metrics
    if "cx.audio.jitter_ms" in span["attributes"]:
        assert "Jitter" in metrics and str(span["attributes"]["cx.audio.jitter_ms"]) in metrics
    # logs: the span's events, insight events included
    page.click("#jt-tab-logs")
    logs = panel.locator("[data-tabpanel=logs] .jt-log")
    assert logs.count() == len(span["events"])
    assert panel.locator("[data-tabpanel=logs] .jt-log[data-event='cx.insight']").count() >= 1
    # insights of this span, with severity, explanation, value vs threshold
    page.click("#jt-tab-insights")
    mine = [i for i in multi["insights"] if i["span_id"] == span["span_id"]]
    shown = panel.locator("[data-tabpanel=insights] .jt-insight")
    assert shown.count() == len(mine)
    text = panel.locator("[data-tabpanel=insights]").inner_text()
    for one in mine:
        assert one["explanation"] in text
        if one["threshold"] is not None:
            assert f"threshold {one['threshold']:g}" in text
    screenshot(page, "journey")
    # Escape closes the panel
    page.keyboard.press("Escape")
    page.locator(".jt-panel").wait_for(state="hidden")


def test_header_summary_badges_and_links(page: Any, module_server: Any, multi: dict[str, Any]) -> None:
    open_journey(page, module_server.query_url, multi["journey_id"], len(multi["spans"]))
    head = page.locator(".jt-head")
    text = head.inner_text()
    assert multi["summary"]["text"] in text and "source: facts" in text
    assert f"{multi['leg_count']} legs" in text
    assert " → ".join(LABELS[p] for p in multi["platforms"]) in text
    badges = head.locator(".jt-badge")
    assert badges.count() == len(multi["insights"])
    # a badge selects its insight's span and opens the insights tab
    critical = next(i for i in multi["insights"] if i["severity"] == "critical")
    head.locator(f'.jt-badge[data-rule="{critical["rule"]}"]').first.click()
    page.wait_for_selector(f'.jt-details[data-detail-span-id="{critical["span_id"]}"]')
    assert page.locator(f'.jt-bar[data-span-id="{critical["span_id"]}"]').evaluate(
        "b => b.classList.contains('selected')"
    )
    assert page.locator("#jt-tab-insights").get_attribute("aria-selected") == "true"
    colour = page.locator(".jt-badge.sev-critical").first.evaluate("b => getComputedStyle(b).color")
    assert rgb(colour) == rgb(
        page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--critical')")
    )
    # links
    jid = multi["journey_id"]
    assert page.get_attribute("[data-link=jaeger]", "href") == f"{JAEGER}/trace/{jid}"
    grafana = urlparse(page.get_attribute("[data-link=grafana]", "href"))
    assert f"{grafana.scheme}://{grafana.netloc}" == GRAFANA and grafana.path == "/explore"
    left = json.loads(parse_qs(grafana.query)["left"][0])
    assert left["queries"][0]["query"] == jid and left["queries"][0]["datasource"] == {
        "type": "tempo",
        "uid": "tempo-uid",
    }
    download = page.locator("[data-link=otlp]")
    assert (
        download.get_attribute("href") == f"/api/journeys/{jid}/otlp" and download.get_attribute("download") is not None
    )
    with page.expect_download() as info:
        download.click()
    body = json.loads(info.value.path().read_text())
    assert sum(len(ss["spans"]) for rs in body["resourceSpans"] for ss in rs["scopeSpans"]) == len(multi["spans"])


def test_keyboard_moves_between_bars_zooms_and_opens_details(
    page: Any, module_server: Any, multi: dict[str, Any]
) -> None:
    open_journey(page, module_server.query_url, multi["journey_id"], len(multi["spans"]))

    def widths() -> list[float]:
        return page.eval_on_selector_all(".jt-bar", "bs => bs.map(b => b.getBoundingClientRect().width)")

    before = widths()
    page.locator('.jt-bar[tabindex="0"]').focus()
    first = page.evaluate("document.activeElement.dataset.spanId")
    page.keyboard.press("ArrowDown")
    second = page.evaluate("document.activeElement.dataset.spanId")
    assert second and second != first
    assert page.locator('.jt-bar[tabindex="0"]').count() == 1  # roving focus
    page.keyboard.press("+")
    page.keyboard.press("+")
    after = widths()
    grown = [a / b for a, b in zip(after, before) if b > 20]
    assert grown and all(abs(g - 2.25) < 0.1 for g in grown), grown
    assert page.inner_text(".jt-zoom-level") == "225%"
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.querySelector('.jt-scroll').scrollLeft") > 0
    page.keyboard.press("0")
    assert page.inner_text(".jt-zoom-level") == "100%"
    page.keyboard.press("Enter")
    page.wait_for_selector(f'.jt-details[data-detail-span-id="{second}"]')
    page.keyboard.press("Escape")
    page.locator(".jt-panel").wait_for(state="hidden")
    assert page.evaluate("document.activeElement.dataset.spanId") == second
    # the mouse wheel zooms (in towards the pointer), the buttons too
    box = page.locator(".jt-scroll").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    page.wait_for_function("() => document.querySelector('.jt-zoom-level').textContent !== '100%'")
    assert page.evaluate("document.querySelector('.jt-scroll').scrollLeft") > 0
    page.click("[data-zoom=reset]")
    page.click("[data-zoom=in]")
    assert page.inner_text(".jt-zoom-level") == "150%"
    page.click("[data-zoom=reset]")
    assert page.inner_text(".jt-zoom-level") == "100%"


# --- live data ---------------------------------------------------------------------------------------


def connect_first(seed: int) -> simulator.SimulatedJourney:
    """A PolyAI → Amazon Connect journey whose Connect contact record comes late."""
    found = simulator.journeys(seed, 6, NOW - 5 * 3600 * 10**9, scenarios=["polyai_connect"])
    return next(j for j in found if j.trouble is None and any(p.late for p in j.posts))


def connect_journey(client: httpx.Client, journey: simulator.SimulatedJourney) -> dict[str, Any] | None:
    """The journey holding the Connect contact once it has a data_pending insight, else None."""
    contact = next(i for i in journey.interactions if i.platform == "amazon_connect")
    found = journey_of_interaction(client, contact.interaction_id)
    if not found:
        return None
    record = client.get(f"/api/journeys/{found}").json()
    return record if any(i["rule"] == "data_pending" for i in record["insights"]) else None


def test_data_pending_notice_shows_until_the_late_record_arrives(
    page: Any, module_server: Any, client: httpx.Client, loaded: Any
) -> None:
    journey = connect_first(71)
    post_simulated(module_server, [journey], late=False)
    pending = wait_until(lambda: connect_journey(client, journey), timeout=20, what="a data_pending insight")
    open_journey(page, module_server.query_url, pending["journey_id"], len(pending["spans"]))
    notice = page.locator(".jt-pending")
    assert notice.is_visible()
    insight = next(i for i in pending["insights"] if i["rule"] == "data_pending")
    text = notice.inner_text()
    assert insight["explanation"] in text and re.search(r"Expected \d\d:\d\d–\d\d:\d\d", text), text
    bars_before = page.locator(".jt-bar").count()
    screenshot(page, "journey-data-pending")
    # the late contact record arrives: the page updates itself, the notice goes
    post_simulated(module_server, [journey], late=True)
    notice.wait_for(state="detached", timeout=30_000)
    page.wait_for_function("n => document.querySelectorAll('.jt-bar').length > n", arg=bars_before, timeout=15_000)
    merged = wait_until(lambda: settled_journey(client, journey), timeout=20, what="the merged journey")
    page.wait_for_function(
        "n => document.querySelectorAll('.jt-bar').length === n", arg=len(merged["spans"]), timeout=15_000
    )
    # The Connect contact's journey was merged into the PolyAI leg's (whose ID wins: the earliest
    # interaction's): the address bar follows, and the old ID is now an alias the server redirects.
    assert merged["journey_id"] != pending["journey_id"]
    assert page.url.endswith(f"/journeys/{merged['journey_id']}")
    assert page.locator(".jt-head").get_attribute("data-journey-id") == merged["journey_id"]
    page.goto(f"{module_server.query_url}/journeys/{pending['journey_id']}")
    page.wait_for_function("n => document.querySelectorAll('.jt-bar').length === n", arg=len(merged["spans"]))
    assert page.url.endswith(f"/journeys/{merged['journey_id']}")
    assert page.locator(".jt-pending").count() == 0


def test_a_platform_interaction_id_opens_its_journey(
    page: Any, module_server: Any, loaded: Any, client: httpx.Client
) -> None:
    # A Connect ContactId (a UUID, not a journey ID): the server redirects to the journey holding it
    journey = next(j for j in loaded.values() if "amazon_connect" in j["platforms"])
    contact = next(leg for leg in journey["legs"] if leg["platform"] == "amazon_connect")["interaction_ids"][0]
    page.goto(f"{module_server.query_url}/journeys/{contact}")
    page.wait_for_function("n => document.querySelectorAll('.jt-bar').length === n", arg=len(journey["spans"]))
    assert page.url.endswith(f"/journeys/{journey['journey_id']}")


# --- not found ---------------------------------------------------------------------------------------


def test_a_malformed_journey_id_says_not_found_with_a_link_home(page: Any, module_server: Any) -> None:
    page.goto(f"{module_server.query_url}/journeys/not-a-journey")
    page.wait_for_selector(".jt-notfound")
    assert "Journey not found" in page.inner_text(".jt-notfound")
    page.click(".jt-notfound a[href='/']")
    page.wait_for_url(f"{module_server.query_url}/")


@pytest.fixture
def tolerant_page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page whose console errors are collected, not failed on (a 404 answer logs one)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield opened, errors
    context.close()


def test_an_unknown_journey_says_not_found(tolerant_page: tuple[Any, list[str]], module_server: Any) -> None:
    page, errors = tolerant_page
    page.goto(f"{module_server.query_url}/journeys/{'0' * 31}1")
    page.wait_for_selector(".jt-notfound")
    assert "Journey not found" in page.inner_text(".jt-notfound")
    assert page.locator(".jt-notfound a[href='/']").count() == 1
    # the only console error is the browser's own note of the API's 404 answer
    assert all("404" in e for e in errors), errors


# --- gaps ----------------------------------------------------------------------------------------------


def otlp_span(
    trace_id: str, span_id: str, platform: str, kind: str, start: int, end: int, interaction: str
) -> dict[str, Any]:
    attributes = {"cx.platform.name": platform, "cx.span.type": kind, "cx.platform.interaction.id": interaction}
    return {"traceId": trace_id, "spanId": span_id, "name": f"{kind} {platform}", "kind": 1,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()]}  # fmt: skip


def test_gaps_between_legs_are_annotated_with_their_likely_cause(
    page: Any, module_server: Any, client: httpx.Client
) -> None:
    s = 10**9
    t0 = NOW - 2 * 3600 * s
    # one trace: Vapi talks 0–10 s, then nothing until LiveKit answers at 30 s (journeytrace infers
    # the handoff between the legs: a transition); LiveKit goes quiet 40–70 s with no handoff (missing)
    trace = "5e1f" + "0" * 27 + "1"
    spans = [
        otlp_span(trace, "00000000000000a1", "vapi", "ai_conversation", t0, t0 + 10 * s, "gap-vapi-1"),
        otlp_span(trace, "00000000000000b1", "livekit", "ai_conversation", t0 + 30 * s, t0 + 40 * s, "gap-livekit-1"),
        otlp_span(trace, "00000000000000b2", "livekit", "ai_conversation", t0 + 70 * s, t0 + 80 * s, "gap-livekit-1"),
    ]
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "gaps"}}]},
                               "scopeSpans": [{"spans": spans}]}]}  # fmt: skip
    assert httpx.post(module_server.traces_url, json=body).status_code == 200

    def settled() -> dict[str, Any] | None:
        found = journey_of_interaction(client, "gap-livekit-1")
        record = client.get(f"/api/journeys/{found}").json() if found else None
        return record if record and record["leg_count"] == 2 and record["analysis"]["current"] else None

    journey = wait_until(settled, what="the journey with gaps")
    open_journey(page, module_server.query_url, journey["journey_id"], len(journey["spans"]))
    gaps = page.eval_on_selector_all(".jt-gap", "els => els.map(e => [e.dataset.gapCause, e.textContent])")
    assert [cause for cause, _ in gaps] == ["transition", "missing"], gaps
    assert "20 s" in gaps[0][1] and "30 s" in gaps[1][1]
    assert "no data (missing)" in gaps[1][1]


def test_opening_a_journey_asks_for_it_once_before_the_modules_load(page: Any, module_server: Any, multi: dict[str, Any]) -> None:
    """index.html requests the journey while the page's modules load, and journey.js takes that
    answer over instead of asking again (a 5,000-span journey costs the server ~200 ms per read)."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    open_journey(page, module_server.query_url, multi["journey_id"], len(multi["spans"]))
    reads = [u for u in asked if f"/api/journeys/{multi['journey_id']}" in u and "/spans/" not in u]
    assert reads == [f"{module_server.query_url}/api/journeys/{multi['journey_id']}?view=timeline"], asked
    modules = [u for u in asked if u.endswith(".js")]
    assert asked.index(reads[0]) < asked.index(next(u for u in modules if u.endswith("/web/journey.js"))), asked
    assert modules_not_preloaded(page) == []
