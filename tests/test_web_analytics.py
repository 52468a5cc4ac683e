"""The analytics page (``/analytics``) in headless Chromium against a real server loaded with
simulated multi-platform journeys: the headline numbers, the Sankey diagram, the top paths, the
time series, the distributions and the insight bars are the analytics API's answers; rows link to
the journeys behind them; the filters live in the URL (Back and Forward restore them); an empty
range shows the empty state and a bad parameter the server's message."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlparse

import httpx
import pytest
from jt_helpers import READ_TIMEOUT, post_simulated, screenshot, settled_journey, wait_until

from journeytrace import simulator

SEED = 7331
COUNT = 30
TIMEOUT_MS = READ_TIMEOUT * 1000
DAY_NS = 86_400 * 10**9
PATH_ROWS = 15  # the page asks /api/analytics/paths for this many rows
STATS = ("journey_count", "containment_rate", "handoff_rate", "drop_rate", "abandoned_rate", "avg_legs")
EMPTY_TEXT = "No journeys in this range."


@pytest.fixture(scope="module")
def loaded(module_server: Any, client: httpx.Client) -> list[simulator.SimulatedJourney]:
    """The simulated journeys (started about an hour ago), posted, correlated and analysed."""
    simulated = simulator.journeys(SEED, COUNT, time.time_ns() - 3600 * 10**9)
    post_simulated(module_server, simulated)
    for journey in simulated:
        wait_until(lambda j=journey: settled_journey(client, j), timeout=READ_TIMEOUT * 2, what=f"journey {journey.number}")
    wait_until(lambda: overview(client)["journey_count"] == COUNT, what="the overview counts every journey")
    return simulated


# --- helpers -------------------------------------------------------------------------------------


def api(
    client: httpx.Client, endpoint: str, params: list[tuple[str, Any]] | None = None, window: tuple[str, str] | None = None
) -> dict[str, Any]:
    """An analytics answer over `window` (from, to), by default the last day (the page's `range=24h`)."""
    now = time.time_ns()
    start, end = window or (now - DAY_NS, now)
    answer = client.get(f"/api/analytics/{endpoint}", params=[("from", start), ("to", end), *(params or [])])
    assert answer.status_code == 200, answer.text
    return answer.json()


def overview(client: httpx.Client, params: list[tuple[str, Any]] | None = None) -> dict[str, Any]:
    return api(client, "overview", params)


def open_page(page: Any, server: Any, search: str = "range=24h", state: str = "ready") -> None:
    page.goto(f"{server.query_url}/analytics?{search}")
    page.wait_for_selector(f".an-page[data-state={state}]", timeout=TIMEOUT_MS)


def stats(page: Any) -> dict[str, float]:
    return page.eval_on_selector_all(
        ".an-stat[data-stat]", "tiles => Object.fromEntries(tiles.map(t => [t.dataset.stat, Number(t.dataset.value)]))"
    )


def assert_stats_equal(shown: dict[str, float], answer: dict[str, Any]) -> None:
    assert set(shown) == set(STATS)
    for key in STATS:
        assert math.isclose(shown[key], answer[key], rel_tol=1e-9, abs_tol=1e-12), (key, shown[key], answer[key])


def query_pairs(href: str) -> list[tuple[str, str]]:
    return sorted(parse_qsl(urlparse(href).query))


# --- tests ---------------------------------------------------------------------------------------


def test_headline_numbers_equal_the_api(page: Any, module_server: Any, client: httpx.Client, loaded: Any) -> None:
    with page.expect_response(lambda r: "/api/analytics/overview" in r.url) as response:
        open_page(page, module_server)
    used = response.value.json()
    expected = overview(client)
    assert used["journey_count"] == expected["journey_count"] == COUNT
    assert_stats_equal(stats(page), expected)
    assert page.inner_text(".an-stat[data-stat=journey_count] .value") == str(COUNT)
    assert page.inner_text(".an-stat[data-stat=containment_rate] .value") == f"{expected['containment_rate'] * 100:.1f}%"
    # the journeys tile opens the whole selection in the list; the outcome legend links each outcome
    tile = page.get_attribute(".an-stat[data-stat=journey_count] a", "href")
    assert query_pairs(tile) == sorted(parse_qsl(used["journeys"]))
    legend = page.eval_on_selector_all(".an-outcomes .legend a", "links => links.map(a => a.getAttribute('href'))")
    assert sorted(map(query_pairs, legend)) == sorted(sorted(parse_qsl(o["journeys"])) for o in used["outcomes"] if o["journeys"])
    # the query string the page sent is the range it shows, for every panel
    sent = dict(parse_qsl(urlparse(response.value.url).query))
    assert int(sent["to"]) - int(sent["from"]) == DAY_NS


def test_sankey_has_a_band_per_link_and_a_rect_per_node(page: Any, module_server: Any, client: httpx.Client, loaded: Any) -> None:
    open_page(page, module_server)
    answer = api(client, "paths", [("limit", PATH_ROWS)])
    links = page.eval_on_selector_all(
        ".an-sankey path.an-link", "paths => paths.map(p => [p.dataset.source, p.dataset.target, Number(p.dataset.value)])"
    )
    assert sorted(map(tuple, links)) == sorted((l["source"], l["target"], l["value"]) for l in answer["sankey"]["links"])
    nodes = page.eval_on_selector_all(
        ".an-sankey rect[data-node]",
        "rects => rects.map(r => [r.dataset.node, Number(r.dataset.value), r.getBBox().height, r.getBBox().x])",
    )
    assert sorted((n[0], n[1]) for n in nodes) == sorted((n["id"], n["value"]) for n in answer["sankey"]["nodes"])
    # heights proportional to value (one scale), columns by step (x grows with the step)
    scale = {round(height / value, 3) for _, value, height, _ in nodes if height > 2}
    assert max(scale) - min(scale) < 0.01, scale
    step_x = {}
    for node_id, _, _, x in nodes:
        step_x.setdefault(int(node_id.split(":")[0]), set()).add(round(x, 2))
    assert all(len(xs) == 1 for xs in step_x.values()), step_x
    ordered = [next(iter(step_x[s])) for s in sorted(step_x)]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered)
    # hovering a band tells its count
    biggest = max(answer["sankey"]["links"], key=lambda l: l["value"])
    page.hover(f'.an-sankey path[data-source="{biggest["source"]}"][data-target="{biggest["target"]}"]')
    tip = page.wait_for_selector(".an-tip:not([hidden])")
    assert f"{biggest['value']} journey" in tip.inner_text()


def test_top_paths_table_rows_equal_the_api_and_link_to_their_journeys(
    page: Any, module_server: Any, client: httpx.Client, loaded: Any
) -> None:
    with page.expect_response(lambda r: "/api/analytics/paths" in r.url) as response:
        open_page(page, module_server)
    answer = response.value.json()  # the page's own range (its `from`/`to` are in the row links)
    fresh = api(client, "paths", [("limit", PATH_ROWS)])
    assert [(p["path"], p["journey_count"]) for p in answer["paths"]] == [(p["path"], p["journey_count"]) for p in fresh["paths"]]
    rows = page.eval_on_selector_all(
        ".an-paths-table tbody tr", "rows => rows.map(r => [r.dataset.path, Number(r.dataset.count)])"
    )
    assert rows == [[">".join(p["path"]), p["journey_count"]] for p in answer["paths"]]
    assert sum(p["journey_count"] for p in answer["paths"]) <= COUNT

    row = answer["paths"][0]
    link = page.locator(".an-paths-table tbody tr").first.locator("a.an-go")
    href = link.get_attribute("href")
    expected = row["journeys"]
    assert ("path", ",".join(row["path"])) in parse_qsl(expected)
    assert query_pairs(href) == sorted(parse_qsl(expected))
    link.click()
    page.wait_for_url(lambda url: urlparse(url).path == "/", timeout=TIMEOUT_MS)
    assert query_pairs(page.url) == sorted(parse_qsl(expected))
    page.wait_for_selector(".results[data-state=ready], .results[data-state=empty]", timeout=TIMEOUT_MS)
    # the list shows exactly the journeys that took this path, and says it is filtered by it
    page.wait_for_selector("[role=row][data-journey-id]", timeout=TIMEOUT_MS)
    shown = set(page.eval_on_selector_all("[role=row][data-journey-id]", "rows => rows.map(r => r.dataset.journeyId)"))
    listed = client.get("/api/journeys", params=parse_qsl(expected) + [("limit", 1000)]).json()["journeys"]
    assert all(j["platforms"] == row["path"] for j in listed) and len(listed) == row["journey_count"]
    assert shown == {j["journey_id"] for j in listed}
    assert page.locator(".filters .chip[data-linked=path]").count() == 1


def test_platform_filter_updates_the_url_and_the_numbers(
    page: Any, module_server: Any, client: httpx.Client, loaded: Any
) -> None:
    open_page(page, module_server)
    everything = overview(client)
    first_platforms = Counter(j.platforms[0] for j in loaded)
    platform = first_platforms.most_common()[-1][0]  # a platform some journeys start on, not most
    filtered = overview(client, [("platform", platform)])
    assert 0 < filtered["journey_count"] < COUNT

    page.click("details[data-picker=platform] > summary")
    page.check(f"details[data-picker=platform] input[value={platform}]")
    page.click("form.an-filters button[type=submit]")
    page.wait_for_url(lambda url: ("platform", platform) in parse_qsl(urlparse(url).query), timeout=TIMEOUT_MS)
    assert dict(parse_qsl(urlparse(page.url).query)).get("range") == "24h"
    wait_until(lambda: stats(page).get("journey_count") == filtered["journey_count"], what="the filtered overview")
    page.wait_for_selector(".an-page[data-state=ready]", timeout=TIMEOUT_MS)
    assert_stats_equal(stats(page), filtered)
    # the Sankey follows the filter too
    answer = api(client, "paths", [("platform", platform), ("limit", PATH_ROWS)])
    assert page.locator(".an-sankey path.an-link").count() == len(answer["sankey"]["links"])
    assert page.is_checked(f"details[data-picker=platform] input[value={platform}]")

    page.go_back()
    wait_until(lambda: stats(page).get("journey_count") == everything["journey_count"], what="Back: every journey")
    assert ("platform", platform) not in parse_qsl(urlparse(page.url).query)
    page.wait_for_selector(".an-page[data-state=ready]", timeout=TIMEOUT_MS)
    assert_stats_equal(stats(page), everything)
    page.go_forward()
    wait_until(lambda: stats(page).get("journey_count") == filtered["journey_count"], what="Forward: filtered again")
    page.wait_for_selector(".an-page[data-state=ready]", timeout=TIMEOUT_MS)


def test_time_series_distributions_and_insights_are_the_api_answers(
    page: Any, module_server: Any, client: httpx.Client, loaded: Any
) -> None:
    with page.expect_response(lambda r: "/api/analytics/overview" in r.url) as response:
        open_page(page, module_server, "range=24h&interval=1h")
    sent = dict(parse_qsl(urlparse(response.value.url).query))
    window = (sent["from"], sent["to"])  # every panel asks for the same range: compare with exactly it
    series = api(client, "timeseries", [("interval", "1h")], window)
    columns = page.eval_on_selector_all(".an-counts rect.an-bar", "bars => bars.map(b => Number(b.dataset.count))")
    assert sorted(columns) == sorted(b["journey_count"] for b in series["buckets"] if b["journey_count"])
    assert sum(columns) == COUNT
    assert page.locator(".an-rates .an-series").count() == 4
    assert page.locator(".an-panel[data-chart=rates] .an-legend li").count() == 4

    waits = api(client, "queue-wait", window=window)
    queues = page.eval_on_selector_all(".an-queue-wait tbody tr[data-queue]", "rows => rows.map(r => r.dataset.queue)")
    assert queues == [q["queue"] for q in waits["queues"]]
    assert page.locator(".an-ranges .an-range").first.get_attribute("data-label") == "All queues"
    hrefs = page.eval_on_selector_all(".an-queue-wait tbody a", "links => links.map(a => a.getAttribute('href'))")
    assert [query_pairs(h) for h in hrefs] == [sorted(parse_qsl(q["journeys"])) for q in waits["queues"]]
    histogram = page.eval_on_selector_all(".an-histogram rect.an-bar", "bars => bars.map(b => Number(b.dataset.count))")
    assert histogram == [b["journey_count"] for b in waits["histogram"]]

    hops = api(client, "handoffs", window=window)
    pairs = page.eval_on_selector_all(".an-handoffs tbody tr", "rows => rows.map(r => [r.dataset.from, r.dataset.to])")
    assert pairs == [[p["from_platform"], p["to_platform"] or ""] for p in hops["pairs"]]

    # insight bars (by queue, then by platform) link to the journeys behind them
    for by in ("queue", "platform"):
        if by == "platform":
            page.click(".an-toggle button[data-by=platform]")
            page.wait_for_url(lambda url: ("by", "platform") in parse_qsl(urlparse(url).query))
            page.wait_for_selector(".an-panel[data-chart=insights][data-state=ready] .an-toggle [aria-pressed=true][data-by=platform]")
        frequency = api(client, "insights", [("by", by)], window)
        assert frequency["rules"], "the simulated journeys have insights"
        bars = page.eval_on_selector_all(
            ".an-hbars li", "items => items.map(li => [li.dataset.rule, li.dataset.group, li.querySelector('a').getAttribute('href')])"
        )
        assert [(rule, group) for rule, group, _ in bars] == [(r["rule"], r[by] or "") for r in frequency["rules"]]
        assert [query_pairs(href) for _, _, href in bars] == [sorted(parse_qsl(r["journeys"])) for r in frequency["rules"]]

    patterns = api(client, "patterns", window=window)
    rows = page.eval_on_selector_all(
        ".an-patterns-table tbody tr", "rows => rows.map(r => [r.dataset.rule, r.dataset.dimension, r.dataset.value, r.querySelector('a').getAttribute('href')])"
    )
    assert [tuple(r[:3]) for r in rows] == [(p["rule"], p["dimension"], p["value"]) for p in patterns["patterns"]]
    assert [query_pairs(r[3]) for r in rows] == [sorted(parse_qsl(p["journeys"])) for p in patterns["patterns"]]
    page.evaluate("window.scrollTo(0, 0)")
    page.go_back()  # the group-by choice is in the history too
    page.wait_for_selector(".an-toggle [aria-pressed=true][data-by=queue]", timeout=TIMEOUT_MS)


def test_an_empty_range_shows_the_empty_state(page: Any, module_server: Any, loaded: Any) -> None:
    open_page(page, module_server, "from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z", state="empty")
    assert stats(page)["journey_count"] == 0
    for chart in ("paths", "rates", "queue-wait", "handoffs", "insights", "patterns"):
        section = page.locator(f".an-panel[data-chart={chart}]")
        assert section.get_attribute("data-state") == "empty", chart
        assert section.locator(".an-empty").inner_text() == EMPTY_TEXT
    assert page.locator(".an-sankey").count() == 0
    # the custom range is shown in the inputs (local time) and no quick range is pressed
    assert page.input_value("#an-from").startswith(("2020-01-01", "2019-12-31"))
    assert page.locator(".an-filters .quick [aria-pressed=true]").count() == 0


def test_a_bad_parameter_shows_the_server_message(browser: Any, module_server: Any, client: httpx.Client, loaded: Any) -> None:
    # The page fixture fails on any console error; the browser logs the expected 400s, so this test
    # opens its own page and allows only those.
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "400" not in msg.text else None)
    try:
        open_page(page, module_server, "range=30d&interval=5m", state="error")
        rates = page.locator(".an-panel[data-chart=rates]")
        assert rates.get_attribute("data-state") == "error"
        message = rates.locator(".an-error").inner_text()
        assert message.startswith("interval 5m makes") and "at most 2000" in message
        assert page.locator(".an-panel[data-chart=overview]").get_attribute("data-state") == "ready"

        open_page(page, module_server, "from=yesterday", state="error")
        expected = client.get("/api/analytics/overview", params={"from": "yesterday"})
        assert expected.status_code == 400
        for chart in ("overview", "paths", "rates", "insights"):
            section = page.locator(f".an-panel[data-chart={chart}]")
            assert section.get_attribute("data-state") == "error"
            assert section.locator(".an-error").inner_text() == expected.json()["error"]
        assert not errors, errors
    finally:
        context.close()


def test_screenshot(page: Any, module_server: Any, loaded: Any) -> None:
    open_page(page, module_server)
    page.hover(".an-sankey path.an-link")
    page.wait_for_selector(".an-tip:not([hidden])")
    screenshot(page, "analytics")
