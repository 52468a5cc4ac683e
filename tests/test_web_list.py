"""The Journey Explorer's list page (``/``) in headless Chromium against a real server loaded with
simulated multi-platform journeys: the rows are exactly the API's answer (order and count), every
filter narrows them to the API's answer for it, the filters live in the URL (reload, Back and
Forward restore them), paging walks the list, and a live journey appears and updates in place."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any, Callable

import httpx
import pytest
from jt_helpers import (
    READ_TIMEOUT,
    http_export,
    journey_of_interaction,
    modules_not_preloaded,
    new_trace_id,
    post_simulated,
    screenshot,
    settled_journey,
    simple_request,
    wait_until,
)

from journeytrace import simulator

SEED = 71
COUNT = 30
LIVE_SEED = 4242
TIMEOUT_MS = READ_TIMEOUT * 1000


@pytest.fixture(scope="module")
def simulated() -> list[simulator.SimulatedJourney]:
    # Ten hours ago: their late records have long arrived, so their outcomes are settled.
    return simulator.journeys(SEED, COUNT, time.time_ns() - 3600 * 10**9 * 10)


@pytest.fixture(scope="module")
def settled(module_server: Any, client: httpx.Client, simulated: list[simulator.SimulatedJourney]) -> dict[int, Any]:
    """Each simulated journey's record, once the server has correlated and analysed all of them."""
    post_simulated(module_server, simulated)
    return {
        j.number: wait_until(lambda j=j: settled_journey(client, j), timeout=READ_TIMEOUT * 2, what=f"journey {j.number}")
        for j in simulated
    }


# --- helpers -------------------------------------------------------------------------------------


def api_ids(client: httpx.Client, params: dict[str, Any] | list[tuple[str, Any]] | None = None) -> list[str]:
    answer = client.get("/api/journeys", params=params or {})
    assert answer.status_code == 200, answer.text
    return [r["journey_id"] for r in answer.json()["journeys"]]


def row_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all("[role=row][data-journey-id]", "rows => rows.map(r => r.dataset.journeyId)")


def wait_results(page: Any, state: str = "ready") -> None:
    """After a reload: the page the modules drew (not the server's first frame) reaches `state`."""
    page.wait_for_selector(f".list-page:not([data-first-frame]) .results[data-state={state}]", timeout=TIMEOUT_MS)


def then_results(page: Any, action: Callable[[], None], state: str = "ready") -> None:
    """Do `action` (a click or a history step that draws the list anew) and wait for the *new*
    page's results to reach `state`. The router keeps the old page, state and rows, on screen
    until the new one replaces it (no blank frame), so waiting for the state alone can find the
    old page's and read its rows as they go."""
    old = page.query_selector(".results")
    action()
    page.wait_for_function(
        "([old, state]) => { const r = document.querySelector('.results'); return r !== null && r !== old && r.dataset.state === state; }",
        arg=[old, state], timeout=TIMEOUT_MS,
    )  # fmt: skip


def assert_rows_match(page: Any, client: httpx.Client, params: Any = None) -> list[str]:
    """The page's rows become exactly the API's answer (same journeys, same order)."""
    wanted = api_ids(client, params)
    wait_until(lambda: row_ids(page) == wanted, what=f"rows == API answer for {params}")
    return wanted


def open_list(page: Any, server: Any, search: str = "") -> None:
    """Open the list and wait until the page's modules drew it (over the server's drawing, if any)."""
    page.goto(f"{server.query_url}/{search}")
    page.wait_for_selector(".list-page:not([data-first-frame]) .results:is([data-state=ready], [data-state=empty])",
                           timeout=TIMEOUT_MS)  # fmt: skip


def pick(page: Any, picker: str, values: list[str]) -> None:
    """Tick `values` in a dropdown of checkboxes (platform / insight)."""
    page.click(f"details[data-picker={picker}] > summary")
    for value in values:
        page.check(f"details[data-picker={picker}] input[value={value}]")
    page.keyboard.press("Escape")


def submit(page: Any, state: str = "ready") -> None:
    then_results(page, lambda: page.click("form.filters button[type=submit]"), state)


# --- tests ---------------------------------------------------------------------------------------


OUTCOMES = {"resolved": "Resolved", "transferred_external": "Transferred out", "callback_scheduled": "Callback scheduled",
            "abandoned": "Abandoned", "dropped": "Dropped", "unknown": "Unknown", None: "—"}  # fmt: skip


def test_list_shows_the_journeys_newest_first_as_the_api_does(page, module_server, client, simulated, settled) -> None:
    open_list(page, module_server)
    wanted = assert_rows_match(page, client, {"limit": 50})
    assert len(wanted) == COUNT
    assert modules_not_preloaded(page) == []
    assert set(wanted) == {r["journey_id"] for r in settled.values()}
    # A grid, but a table to assistive technology: its columns named, every journey a row of cells.
    table = page.get_by_role("table", name="Journeys")
    assert table.get_by_role("columnheader").all_inner_texts() == [
        "Start", "Duration", "Customer", "Journey", "Outcome", "Insights", "Status"]
    assert table.get_by_role("row").count() == COUNT + 1
    assert table.locator("[data-journey-id]").first.get_by_role("cell").count() == 7
    starts = {r["journey_id"]: r["start_unix_nano"] for r in settled.values()}
    assert [starts[i] for i in wanted] == sorted(starts.values(), reverse=True)

    # Each row says what the journey is, in the contact center's words, without the caller's number.
    record = client.get("/api/journeys", params={"limit": 1}).json()["journeys"][0]
    row = page.locator(f"[role=row][data-journey-id='{record['journey_id']}']")
    labels = {"polyai": "PolyAI", "amazon_connect": "Amazon Connect", "genesys_cloud": "Genesys Cloud",
              "livekit": "LiveKit", "twilio": "Twilio", "vapi": "Vapi"}  # fmt: skip
    assert row.locator(".path").inner_text().replace("\n", "") == " → ".join(labels[p] for p in record["platforms"])
    legs = record["leg_count"]
    assert row.locator(".legs").inner_text() == f"{legs} leg{'' if legs == 1 else 's'}"
    assert row.locator(".col-customer").inner_text() == f"caller {record['customer_phone_hash'][:4]}…"
    assert row.locator("a.open").get_attribute("href") == f"/journeys/{record['journey_id']}"
    assert row.locator(".summary").inner_text() and record["summary"]["text"].startswith(row.locator(".summary").inner_text())
    assert row.locator(".badge").count() == len(record["insights"])
    text = page.inner_text("body")
    assert row.locator(".outcome").inner_text() == OUTCOMES[record["outcome"]]
    for journey in simulated:
        assert journey.customer[2:] not in text  # no caller number anywhere on the page
    assert page.get_attribute(".live-badge", "data-live") in ("connecting", "on")
    screenshot(page, "list")


def test_search_by_phone_finds_that_customers_journey_only(page, module_server, client, simulated, settled) -> None:
    journey = next(j for j in simulated if len(j.platforms) > 1)
    open_list(page, module_server)
    page.fill("#f-phone", journey.customer)
    submit(page)
    assert re.search(r"[?&]phone=%2B" + journey.customer[1:], page.url)
    wanted = assert_rows_match(page, client, {"phone": journey.customer, "limit": 50})
    assert wanted == [settled[journey.number]["journey_id"]]
    assert journey.customer[2:] not in page.inner_text("body")  # the number is in the form and URL only
    screenshot(page, "list-phone")


def test_the_insight_filter_narrows_the_list_to_the_apis_answer(page, module_server, client, settled) -> None:
    counts = Counter(i["rule"] for r in settled.values() for i in r["insights"])
    rule = next(rule for rule, n in counts.most_common() if n < COUNT)
    open_list(page, module_server)
    pick(page, "insight", [rule])
    submit(page)
    assert f"insight={rule}" in page.url
    wanted = assert_rows_match(page, client, {"insight": rule, "limit": 50})
    assert 0 < len(wanted) < COUNT
    assert len(wanted) == sum(1 for r in settled.values() if rule in {i["rule"] for i in r["insights"]})
    assert page.locator(f"[role=row][data-journey-id] .badge[data-rule={rule}]").count() == len(wanted)
    title = page.locator(f".badge[data-rule={rule}]").first.get_attribute("title")
    assert title and "—" in title  # the rule's description as a tooltip


def test_the_platform_filter_takes_several_platforms(page, module_server, client, settled) -> None:
    open_list(page, module_server)
    pick(page, "platform", ["livekit", "vapi"])
    submit(page)
    assert "platform=livekit" in page.url and "platform=vapi" in page.url
    wanted = assert_rows_match(page, client, [("platform", "livekit"), ("platform", "vapi"), ("limit", 50)])
    expected = {r["journey_id"] for r in settled.values() if {"livekit", "vapi"} & set(r["platforms"])}
    assert set(wanted) == expected and 0 < len(wanted) < COUNT
    assert page.inner_text("details[data-picker=platform] > summary") == "Platforms: LiveKit, Vapi"


def test_an_analytics_link_filters_by_queue_and_path_and_each_can_be_removed(page, module_server, client, settled) -> None:
    queued = next(r for r in settled.values() if any(s.get("attributes", {}).get("cx.queue.name") for s in r["spans"]))
    queue = next(s["attributes"]["cx.queue.name"] for s in queued["spans"] if s["attributes"].get("cx.queue.name"))
    path = ",".join(queued["platforms"])
    open_list(page, module_server, f"?queue={queue}&path={path}")
    wanted = assert_rows_match(page, client, [("queue", queue), ("path", path), ("limit", 50)])
    assert queued["journey_id"] in wanted and len(wanted) < COUNT
    assert page.locator(".filters .chip[data-linked=queue]").inner_text().startswith(f"Queue: {queue}")
    page.click(".filters .chip[data-linked=path] button.unlink")
    page.wait_for_url(lambda url: "path=" not in url and "queue=" in url, timeout=TIMEOUT_MS)
    assert_rows_match(page, client, [("queue", queue), ("limit", 50)])
    assert page.locator(".filters .chip[data-linked=path]").count() == 0


def test_filters_live_in_the_url_and_reload_back_forward_restore_them(page, module_server, client, settled) -> None:
    platforms = ["polyai", "genesys_cloud"]
    matching = [r for r in settled.values() if set(platforms) & set(r["platforms"])]
    outcome = Counter(r["outcome"] for r in matching if r["outcome"]).most_common(1)[0][0]
    matching = [r for r in matching if r["outcome"] == outcome]
    rule = Counter(i["rule"] for r in matching for i in r["insights"]).most_common(1)[0][0]
    search = f"?platform=polyai&platform=genesys_cloud&outcome={outcome}&status=in_progress"
    params = [("platform", "polyai"), ("platform", "genesys_cloud"), ("outcome", outcome), ("status", "in_progress"),
              ("limit", 50)]  # fmt: skip

    open_list(page, module_server, search)
    wanted = assert_rows_match(page, client, params)
    assert len(wanted) == len(matching)
    for _ in range(2):  # as loaded, then after a reload
        assert page.is_checked("input[name=platform][value=polyai]")
        assert page.is_checked("input[name=platform][value=genesys_cloud]")
        assert not page.is_checked("input[name=platform][value=twilio]")
        assert page.input_value("#f-outcome") == outcome
        assert page.input_value("#f-status") == "in_progress"
        assert row_ids(page) == wanted
        page.reload()
        wait_results(page, "ready")
        assert_rows_match(page, client, params)

    # A new search pushes a URL; Back and Forward show each search again, form and rows.
    pick(page, "insight", [rule])
    submit(page)
    assert f"insight={rule}" in page.url
    narrowed = assert_rows_match(page, client, [*params, ("insight", rule)])
    assert 0 < len(narrowed) <= len(wanted)
    then_results(page, lambda: page.go_back(), "ready")
    assert page.url.endswith(search)
    assert_rows_match(page, client, params)
    wait_until(lambda: not page.is_checked(f"input[name=insight][value={rule}]"), what="the insight unticked")
    then_results(page, lambda: page.go_forward(), "ready")
    assert f"insight={rule}" in page.url
    assert_rows_match(page, client, [*params, ("insight", rule)])
    wait_until(lambda: page.is_checked(f"input[name=insight][value={rule}]"), what="the insight ticked again")

    # A quick range is part of the URL too.
    # The simulated journeys started ten hours ago.
    then_results(page, lambda: page.click("button.range[data-range='1h']"), "empty")
    assert "range=1h" in page.url
    then_results(page, lambda: page.click("button.range[data-range='24h']"), "ready")
    assert "range=24h" in page.url and "from=" not in page.url
    assert page.get_attribute("button.range[data-range='24h']", "aria-pressed") == "true"
    assert_rows_match(page, client, [*params, ("insight", rule), ("from", time.time_ns() - 24 * 3600 * 10**9)])


def test_a_custom_time_range_goes_into_the_url_as_utc(page, module_server, client, settled) -> None:
    starts = sorted(r["start_unix_nano"] for r in settled.values())
    middle = starts[len(starts) // 2]
    open_list(page, module_server)
    # datetime-local inputs take local time (minutes); the page writes UTC times into the URL.
    local = page.evaluate(
        """ns => { const d = new Date(Number(BigInt(ns) / 1000000n)); const p = n => String(n).padStart(2, "0");
                   return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; }""",
        str(middle),
    )
    page.fill("#f-to", local)
    submit(page)
    to = re.search(r"[?&]to=([^&]+)", page.url).group(1).replace("%3A", ":")
    expected_to = time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(middle // 10**9))
    assert to == expected_to
    wanted = assert_rows_match(page, client, {"to": to, "limit": 50})
    bound = middle // (60 * 10**9) * 60 * 10**9  # the minute the input holds
    assert len(wanted) == sum(1 for s in starts if s <= bound) > 0
    assert page.get_attribute("button.range[data-range='']", "aria-pressed") == "false"
    page.reload()
    wait_results(page, "ready")
    assert page.input_value("#f-to") == local


def test_free_text_finds_a_journey_by_any_platforms_native_id(page, module_server, client, simulated, settled) -> None:
    journey = next(j for j in simulated if len(j.interactions) > 1)
    open_list(page, module_server)
    for interaction in journey.interactions:
        page.fill("#f-id", interaction.interaction_id)
        submit(page)
        assert row_ids(page) == [settled[journey.number]["journey_id"]], interaction

    # A journey ID is not a platform's ID: the page offers to open it.
    journey_id = settled[journey.number]["journey_id"]
    page.fill("#f-id", journey_id.upper())
    submit(page, "empty")
    assert page.get_attribute("a.open-journey", "href") == f"/journeys/{journey_id}"


def test_a_bad_phone_shows_the_servers_error(page, module_server, client) -> None:
    expected = client.get("/api/journeys", params={"phone": "abc"})
    assert expected.status_code == 400
    # Chromium logs the expected 400 answer to the console; this page tolerates exactly that.
    errors: list[str] = []
    other = page.context.new_page()
    other.on("pageerror", lambda exc: errors.append(str(exc)))
    other.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "status of 400" not in msg.text else None)
    other.goto(f"{module_server.query_url}/?phone=abc")
    other.wait_for_selector(".results[data-state=error]", timeout=TIMEOUT_MS)
    assert other.inner_text(".results .error-text") == expected.json()["error"] == "phone 'abc' is not a phone number"
    assert other.input_value("#f-phone") == "abc"
    assert other.locator("[role=row][data-journey-id]").count() == 0
    assert other.is_hidden(".live-badge")
    screenshot(other, "list-error")
    thrown = other.evaluate(
        """async () => { const api = await import("/web/api.js");
                         try { await api.getJSON("/api/journeys", {outcome: "nope"}); } catch (e) { return [e.message, e.status]; } }"""
    )
    assert thrown == [client.get("/api/journeys", params={"outcome": "nope"}).json()["error"], 400]
    other.close()
    assert not errors, errors


def test_paging_walks_the_list_with_keyset_cursors(page, module_server, client, settled) -> None:
    everything = client.get("/api/journeys", params={"limit": 50}).json()["journeys"]
    open_list(page, module_server, "?limit=12")
    assert row_ids(page) == [r["journey_id"] for r in everything[:12]]
    assert page.is_disabled("button.newer")
    then_results(page, lambda: page.click("button.older"), "ready")
    cursor = everything[11]["start_unix_nano"] - 1
    assert f"before={cursor}" in page.url
    assert row_ids(page) == api_ids(client, {"limit": 12, "to": cursor}) == [r["journey_id"] for r in everything[12:24]]
    then_results(page, lambda: page.click("button.older"), "ready")
    assert row_ids(page) == [r["journey_id"] for r in everything[24:36]]
    assert page.is_disabled("button.older")  # fewer than a page left
    then_results(page, lambda: page.click("button.newer"), "ready")
    assert row_ids(page) == [r["journey_id"] for r in everything[12:24]]
    then_results(page, lambda: page.click("button.newer"), "ready")
    assert row_ids(page) == [r["journey_id"] for r in everything[:12]]
    assert "before=" not in page.url


def test_a_live_journey_appears_and_updates_without_a_reload(page, module_server, client, settled) -> None:
    journey = simulator.journeys(LIVE_SEED, 1, time.time_ns() - 120 * 10**9, scenarios=["polyai_connect"])[0]
    assert any(p.late for p in journey.posts) and journey.platforms == ["polyai", "amazon_connect"]
    open_list(page, module_server)
    page.wait_for_selector(".live-badge[data-live=on]", timeout=TIMEOUT_MS)
    page.evaluate("window.__sameDocument = true")

    post_simulated(module_server, [journey], late=False)  # the calls, live; the contact record comes later
    polyai = next(i for i in journey.interactions if i.platform == "polyai")
    first_id = wait_until(lambda: journey_of_interaction(client, polyai.interaction_id), what="the PolyAI leg's journey")
    row = page.locator(f"[role=row][data-journey-id='{first_id}']")
    row.wait_for(timeout=TIMEOUT_MS)
    assert row_ids(page)[0] == first_id or row_ids(page)[1] == first_id  # newest on top (with its Connect half)
    assert row.locator(".status.live").count() == 1
    screenshot(page, "list-live")

    post_simulated(module_server, [journey], late=True)  # the Connect contact record joins both halves
    final = wait_until(lambda: settled_journey(client, journey), timeout=READ_TIMEOUT * 2, what="the journey settled")
    row = page.locator(f"[role=row][data-journey-id='{final['journey_id']}']")
    wait_until(lambda: row.count() == 1 and row.locator(".legs").inner_text() == "2 legs", what="the row gained its leg")
    assert row.locator(".path").inner_text().replace("\n", "") == "PolyAI → Amazon Connect"
    wait_until(lambda: row.locator(".outcome").inner_text() == OUTCOMES[final["outcome"]], what="the outcome shown")
    wait_until(lambda: sorted(row.locator(".badge").evaluate_all("b => b.map(x => x.dataset.rule)"))
               == sorted(i["rule"] for i in client.get("/api/journeys", params={"interaction_id": polyai.interaction_id})
                         .json()["journeys"][0]["insights"]), what="the insight badges updated")  # fmt: skip
    assert_rows_match(page, client, {"limit": 50})  # the half merged away is gone from the page too
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded


def test_render_time_of_100_journeys(page, module_server, client, settled) -> None:
    """Measures (and prints) the time from navigation to 100 rows on the page; no timing assert."""
    more = simulator.journeys(SEED + 1, 72, time.time_ns() - 3600 * 10**9 * 30)
    post_simulated(module_server, more)
    previous: list[Any] = []

    def quiet() -> bool:  # measured on a quiet server: the first 100 records stopped changing
        nonlocal previous
        current = client.get("/api/journeys", params={"limit": 100}).json()["journeys"]
        done = len(current) == 100 and current == previous
        previous = current
        return done

    wait_until(quiet, timeout=READ_TIMEOUT * 2, interval=1.5, what="100 journeys, analysed")
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        page.goto(f"{module_server.query_url}/?limit=100")
        page.wait_for_function("document.querySelectorAll('[role=row][data-journey-id]').length === 100", timeout=TIMEOUT_MS)
        wall = (time.perf_counter() - started) * 1000
        timings.append(page.evaluate(
            """() => new Promise(done => requestAnimationFrame(() => setTimeout(() => {
                 const at = (entry) => entry ? Math.round(entry.responseEnd ?? entry.startTime) : null;
                 const answer = performance.getEntriesByType("resource").find(e => e.name.includes("/api/journeys?"));
                 const mark = (name) => Math.round(performance.getEntriesByName(name)[0].startTime);
                 done({rows: mark("journeytrace:list-rendered"), painted: mark("journeytrace:list-painted"),
                       api_answered: at(answer), modules_loaded: at(performance.getEntriesByType("resource")
                         .filter(e => e.name.endsWith(".js")).sort((a, b) => b.responseEnd - a.responseEnd)[0])});
               }, 0)))"""))
        timings[-1]["wall"] = round(wall)
    assert_rows_match(page, client, {"limit": 100})
    print(f"\nlist of 100 journeys, ms since navigation start (wall: Playwright's goto to the 100th row): {timings}")


def test_the_shared_format_and_api_helpers(page, module_server) -> None:
    open_list(page, module_server, "?status=complete")  # any page loads the modules
    got = page.evaluate(
        """async () => {
          const f = await import("/web/format.js");
          const api = await import("/web/api.js");
          const rules = await api.insightRules();
          return {
            durations: [850e6, 252e9, 4.25e9, 42e9, 3723e9, 0, 120e3].map(f.formatDuration),
            platforms: ["amazon_connect", "polyai", "genesys_cloud", "nice_cxone", "livekit", "twilio", "vapi",
                        "retell", "bland", "some_new_thing"].map(f.platformLabel),
            path: f.platformPath(["polyai", "amazon_connect"]),
            customers: [f.maskedCustomer({customer_phone_hash: "6b36e0f1aa"}), f.maskedCustomer({customer_phone_hash: null})],
            number: f.maskedNumber("+14155550123"),
            insights: ["abandoned_in_queue", "low_mos", "ai_handed_off_early"].map(f.insightLabel),
            outcomes: ["transferred_external", null].map(f.outcomeLabel),
            ranks: ["critical", "warning", "info", "x"].map(f.severityRank),
            sentence: f.firstSentence("It went PolyAI → Amazon Connect over 1 min 24 s. Call dropped."),
            today: /^\\d\\d:\\d\\d:\\d\\d$/.test(f.formatTime(Date.now() * 1e6)),
            earlier: f.formatTime(Date.UTC(2020, 0, 15, 12) * 1e6).startsWith("Jan 15 2020, "),
            query: api.queryString({platform: ["a", "b"], phone: "", limit: 5}),
            rulesCached: rules === await api.insightRules() && rules.length > 10,
            config: await api.uiConfig(),
          };
        }"""
    )
    assert got["durations"] == ["850 ms", "4m 12s", "4.2s", "42s", "1h 2m", "0 ms", "120 µs"]
    assert got["platforms"] == ["Amazon Connect", "PolyAI", "Genesys Cloud", "NICE CXone", "LiveKit", "Twilio", "Vapi",
                                "Retell", "Bland", "Some New Thing"]  # fmt: skip
    assert got["path"] == "PolyAI → Amazon Connect"
    assert got["customers"] == ["caller 6b36…", "anonymous"]
    assert got["number"] == "+1 ••• ••• 0123"
    assert got["insights"] == ["Abandoned in queue", "Low MOS", "AI handed off early"]
    assert got["outcomes"] == ["Transferred out", "—"]
    assert got["ranks"] == [2, 1, 0, -1]
    assert got["sentence"] == "It went PolyAI → Amazon Connect over 1 min 24 s."
    assert got["today"] and got["earlier"]
    assert got["query"] == "platform=a&platform=b&limit=5"
    assert got["rulesCached"]
    assert got["config"] == {"jaeger_ui_url": "", "grafana_url": "", "grafana_tempo_datasource": ""}


def test_the_home_page_carries_its_first_answer_and_the_page_uses_it_only_for_its_own_query(
    page, module_server, client, settled
) -> None:
    """The server puts the list's first answer and the insight catalogue in the HTML
    (query/first_answer.py): the page draws its rows without asking the API for them, and
    the server's copy of the page's query string is exactly the one the page would send."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    open_list(page, module_server, "?limit=100")
    assert row_ids(page) == api_ids(client, {"limit": 100})
    stream = next(i for i, url in enumerate(asked) if "/api/journeys/stream" in url)
    assert not [url for url in asked[:stream] if "/api/journeys?" in url or "/api/insights/rules" in url], asked
    # the rows came from the HTML: the page's only read of the list is the live stream's refresh
    assert page.evaluate("document.getElementById('jt-first-list')") is None  # taken once
    # a quick range depends on the browser's clock: the page asks for itself, and still shows the answer
    asked.clear()
    open_list(page, module_server, "?range=30d&limit=100")
    first = next(url for url in asked if "/api/journeys?" in url)
    assert "from=" in first and "limit=100" in first
    # the server mirrors the page's query building (list/query.js readFilters + apiParams)
    from starlette.datastructures import QueryParams

    from journeytrace.query.first_answer import list_api_params

    searches = [
        "", "?limit=100", "?limit=7abc", "?limit=0", "?limit=5000", "?limit=+20", "?phone=+1%20415%20555%200100",
        "?platform=vapi,polyai&platform=%20vapi%20&platform=twilio", "?insight=low_mos&insight=low_mos,handoff_failed",
        "?status=complete&outcome=abandoned&interaction_id=%20CA123%20", "?queue=Billing&path=polyai,amazon_connect&agent=a%26b",
        "?from=2026-11-28T00:00:00Z&to=1795945730734790448", "?status=complete&status=in_progress", "?unknown=1&limit=30",
    ]  # fmt: skip
    page_built = page.evaluate(
        """async (searches) => {
          const q = await import("/web/list/query.js");
          return searches.map((s) => q.apiParams(q.readFilters(new URLSearchParams(s))).toString());
        }""",
        searches,
    )
    normalised = page.evaluate(
        "(queries) => queries.map((s) => new URLSearchParams(s).toString())",
        [list_api_params(QueryParams(s.lstrip("?"))) for s in searches],
    )
    assert normalised == page_built
    for relative in ("?range=1h", "?before=1795945730734790448", "?range=24h&limit=100"):
        assert list_api_params(QueryParams(relative.lstrip("?"))) is None


def test_markup_in_span_data_is_shown_as_text(page, module_server, client, otlp_http) -> None:
    """Whatever a platform or a customer's attribute carries reaches the page as text, in the cells
    and in the tooltips, never as markup."""
    platform = '<img src=x onerror="window.__pwned=1">'
    queue = '<b id="bold">"Billing" & \'co\'</b>'
    start = time.time_ns() - 400 * 86400 * 10**9  # far from every other test's journeys
    request = simple_request(new_trace_id(), 2, service="markup-test", start=start, attributes={
        "cx.platform.name": platform, "cx.span.type": "queue", "cx.queue.name": queue,
        "cx.platform.interaction.id": "markup-interaction-1"})  # fmt: skip
    for span in request.resource_spans[0].scope_spans[0].spans:
        span.end_time_unix_nano = span.start_time_unix_nano + 90 * 10**9
    assert http_export(otlp_http, "/v1/traces", request).status_code == 200
    def summarised() -> dict[str, Any] | None:
        found = client.get("/api/journeys", params={"interaction_id": "markup-interaction-1"}).json()["journeys"]
        return found[0] if found and found[0].get("summary") else None

    record = wait_until(summarised, timeout=READ_TIMEOUT * 2, what="the journey with markup, summarised")
    assert queue in record["summary"]["text"]  # the summary quotes the queue's name
    day = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(start // 10**9))
    next_day = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(start // 10**9 + 86400))
    open_list(page, module_server, f"?from={day}&to={next_day}")
    assert row_ids(page) == [record["journey_id"]]
    row = page.locator(f"[role=row][data-journey-id='{record['journey_id']}']")
    path = row.locator(".path")
    assert "<img" in path.inner_text() and path.get_attribute("title") == path.inner_text()
    assert page.locator(".journeys img, #bold").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert row.locator(".summary").get_attribute("title") == record["summary"]["text"]
    assert queue in row.locator(".summary").inner_text()


# --- the first frame the server draws (query/list_page.py) ---------------------------------------

SNAPSHOT = """(root) => {
  // Elements, attributes and text as the user sees them; form state read from the controls
  // (the server writes it as attributes, the modules as properties). What the modules change
  // once the page is live is left out: the live badge, the pulsing dots, the page's fade-in.
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.data;
    if (node.nodeType !== Node.ELEMENT_NODE) return null;
    if (node.classList.contains("live-badge")) return {tag: "live-badge"};
    const attributes = {};
    for (const a of node.attributes) {
      if (["checked", "selected", "value", "style", "data-first-frame", "data-zone"].includes(a.name)) continue;
      attributes[a.name] = a.name === "class" ? a.value.replace(/\\s*\\bpulsing\\b/, "") : a.value;
    }
    const out = {tag: node.tagName.toLowerCase(), attributes};
    if (node.tagName === "INPUT") Object.assign(out, {value: node.value, checked: node.checked});
    if (node.tagName === "OPTION") out.selected = node.selected;
    out.children = [];
    for (const child of [...node.childNodes].map(walk).filter((c) => c !== null)) {
      const last = out.children.length - 1; // adjacent text nodes read as one text, as parsed HTML has it
      if (typeof child === "string" && typeof out.children[last] === "string") out.children[last] += child;
      else out.children.push(child);
    }
    return out;
  };
  return walk(root);
}"""


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two snapshots first differ, as a readable path, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None if len(a) == len(b) else f"{path}: {len(a)} against {len(b)} children"
    return None if a == b else f"{path}: {a!r} against {b!r}"


def drawn_and_redrawn(context: Any, url: str) -> tuple[Any, Any]:
    """The list page at ``url`` as the server drew it (the modules kept from loading) and as
    the modules drew it over that."""
    drawn_page = context.new_page()
    drawn_page.route("**/web/app.js", lambda route: route.abort())
    drawn_page.goto(url)
    drawn = drawn_page.wait_for_selector(".list-page[data-first-frame=server]", timeout=TIMEOUT_MS)
    drawn_snapshot = drawn.evaluate(SNAPSHOT)
    drawn_page.close()
    live = context.new_page()
    live.goto(url)
    live.wait_for_selector(".list-page:not([data-first-frame]) .results[data-state=ready]", timeout=TIMEOUT_MS)
    live.wait_for_selector("details[data-picker=insight] fieldset", state="attached", timeout=TIMEOUT_MS)
    redrawn = live.eval_on_selector(".list-page", SNAPSHOT)
    live.close()
    return drawn_snapshot, redrawn


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "UTC"])
def test_the_server_draws_the_list_exactly_as_the_modules_do(browser, module_server, client, settled, zone) -> None:
    """The home page arrives drawn (its first frame needs no module) and the modules draw the
    same elements, attributes and text over it, in the browser's time zone, for plain and
    filtered lists (checked pickers, time bounds, a status, a page size not offered)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id=zone)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    records = client.get("/api/journeys", params={"limit": 50}).json()["journeys"]
    rule = Counter(i["rule"] for r in records if "twilio" in r["platforms"] for i in r["insights"]).most_common(1)[0][0]
    other = next(r["id"] for r in client.get("/api/insights/rules").json()["rules"] if r["id"] != rule)
    by_start = sorted(records, key=lambda r: r["start_unix_nano"])
    one = by_start[len(by_start) // 2]  # a journey the bounded search finds
    searches = ["?limit=50", f"?platform=twilio&platform=vapi&insight={other}&insight={rule}&limit=7",
                f"?from={by_start[2]['start_unix_nano']}&to={by_start[-3]['start_unix_nano']}&status={one['status']}"
                f"&outcome={one['outcome']}"]  # fmt: skip
    try:
        context.new_page().goto(f"{module_server.query_url}/")  # the page tells the server its zone (a cookie)
        for search in searches:
            drawn, redrawn = drawn_and_redrawn(context, f"{module_server.query_url}/{search}")
            assert drawn == redrawn, f"{search}: {first_difference(drawn, redrawn)}"
        assert drawn["children"][0]["tag"] == "form"
    finally:
        context.close()
    assert not errors


def test_a_browser_in_another_zone_than_the_drawing_gets_the_modules_drawing(browser, module_server, settled) -> None:
    """A first visit from a zone the server does not know yet: the server draws in UTC, the
    page drops that drawing before its first frame and its modules draw it in local time."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="America/New_York")
    try:
        page = context.new_page()
        served = page.goto(f"{module_server.query_url}/?limit=20")
        assert 'data-first-frame="server" data-zone="UTC"' in served.text()  # the server did draw, in UTC
        page.wait_for_selector(".list-page:not([data-first-frame]) .results[data-state=ready]", timeout=TIMEOUT_MS)
        assert page.evaluate("document.querySelectorAll('[data-first-frame=server]').length") == 0
        assert re.search(r" -0[45]:00$", page.get_attribute("[data-journey-id] a.open", "title"))
        assert page.evaluate("performance.getEntriesByName('journeytrace:list-rendered').length") == 1  # the modules' mark only
        assert "jt_tz=America%2FNew_York" in page.evaluate("document.cookie")
    finally:
        context.close()


def test_the_drawn_list_is_complete_without_the_modules(browser, module_server, client, settled) -> None:
    """Rows, links and marks are there before (and without) any module: the first frame."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.route("**/web/*.js", lambda route: route.abort())  # Chromium logs each refusal
        page.goto(f"{module_server.query_url}/?limit=30")
        page.wait_for_selector("[data-first-frame=server]", timeout=TIMEOUT_MS)
        assert row_ids(page) == api_ids(client, {"limit": 30})
        first = page.locator("[data-journey-id]").first
        assert first.locator("a.open").get_attribute("href") == f"/journeys/{row_ids(page)[0]}"
        assert page.evaluate("performance.getEntriesByName('journeytrace:list-painted').length") == 1
        assert page.locator("link[rel=stylesheet]").count() == 0  # the styles came inline
        assert page.get_attribute("[data-nav=list]", "aria-current") == "page"
        screenshot(page, "list-first-frame")
    finally:
        context.close()


def test_only_the_common_lists_are_drawn(client, settled) -> None:
    """Quick ranges, page cursors and analytics filters are the modules' to draw (their answer
    depends on the browser's clock, or the server does not mirror them); so is an empty list."""
    drawn = 'data-first-frame="server"'
    assert drawn in client.get("/", params={"limit": 5}).text
    for params in ({"range": "1h"}, {"before": "1"}, {"queue": "Billing"}, {"from": "2026-01-01T00:00"}):
        page = client.get("/", params=params).text
        assert drawn not in page and '<script type="module" src="/web/app.js">' in page, params
    empty = client.get("/", params={"phone": "+1 415 555 0000"}).text
    assert drawn not in empty and "first_frame" not in empty and 'id="jt-first-list"' in empty


def test_a_bad_zone_cookie_draws_in_utc(module_server, settled) -> None:
    """The zone cookie is the browser's to write and anyone's to forge: a name that is no zone
    (a folder of zones, a path, junk) draws the list in UTC, and the server keeps serving."""
    for cookie in ("America", "Etc", "../../etc/passwd", "/etc/passwd", "%00", "x" * 300, "Europe%2FNowhere"):
        with httpx.Client(base_url=module_server.query_url, cookies={"jt_tz": cookie}, timeout=READ_TIMEOUT) as client:
            page = client.get("/", params={"limit": 3})
            assert page.status_code == 200 and 'data-zone="UTC"' in page.text and page.text.endswith("</html>\n"), cookie
    with httpx.Client(base_url=module_server.query_url, cookies={"jt_tz": "Asia%2FTokyo"}) as client:
        assert 'data-zone="Asia/Tokyo"' in client.get("/", params={"limit": 3}).text


def test_the_python_and_javascript_formatting_agree(page, module_server) -> None:
    """``list_page.py`` mirrors ``format.js``: the same text for the same values, edge cases too."""
    from zoneinfo import ZoneInfo

    from journeytrace.query import list_page

    open_list(page, module_server, "?status=complete")
    durations = [0, 1, 999, 1000, 1500, 999_499, 999_500, 1e6, 999_400_000, 1e9, 9_990_000_000, 10e9, 59.9e9, 60e9,
                 3599e9, 3600e9, 86400e9 * 3, None]  # fmt: skip
    platforms = ["amazon_connect", "nice_cxone", "pipecat", "some_new-thing two", "", None]
    rules = ["abandoned_in_queue", "low_mos", "ai_handed_off_early", "sip_id", "", "x"]
    outcomes = ["transferred_external", "resolved", "something_else", None]
    texts = ["It went PolyAI → Amazon Connect over 1 min 24 s. Call dropped.", "No end", "Wait? (Yes) done.",
             "Line one.\nLine two.", "Dr. Who called.", "", None]  # fmt: skip
    times = [1_764_400_000_123_456_789, 1_700_000_000_000_000_000, 1_577_880_000_000_000_000]
    got = page.evaluate(
        """async ([durations, platforms, rules, outcomes, texts, times]) => {
          const f = await import("/web/format.js");
          return {durations: durations.map(f.formatDuration), platforms: platforms.map(f.platformLabel),
                  rules: rules.map(f.insightLabel), outcomes: outcomes.map(f.outcomeLabel),
                  texts: texts.map(f.firstSentence), full: times.map(f.formatTimeFull),
                  zone: Intl.DateTimeFormat().resolvedOptions().timeZone};
        }""",
        [durations, platforms, rules, outcomes, texts, times],
    )
    zone = ZoneInfo(got["zone"])
    assert got == {
        "durations": [list_page.format_duration(d) for d in durations],
        "platforms": [list_page.platform_label(p) for p in platforms],
        "rules": [list_page.insight_label(r) for r in rules],
        "outcomes": [list_page.outcome_label(o) for o in outcomes],
        "texts": [list_page.first_sentence(t) for t in texts],
        "full": [list_page.format_time_full(t, zone) for t in times],
        "zone": got["zone"],
    }
