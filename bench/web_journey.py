"""Journey page benchmark: a journey of 5,000 spans drawn in headless Chromium.

Starts `journeytrace serve` on free ports with a fresh data directory, sends ONE journey of
5,000 spans over OTLP/HTTP JSON (one trace; legs on Twilio, Vapi, PolyAI and Amazon Connect,
most spans AI turns nested under their ai_conversation), waits until the journey is stored and
analysed, then opens /journeys/<id> in headless Chromium (Debian's, driven by Playwright) and
measures, per run, the time from navigation start until every span's bar is in the page (the
page sets ``window.__journeyRendered`` = performance.now() right after drawing them) and until
it was first painted (``window.__journeyPainted``). The target is under 1 s.

    python bench/web_journey.py               # 5 runs of 5,000 spans
    python bench/web_journey.py --spans 10000 --runs 10
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest import start_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
S = 10**9


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def build_journey(total_spans: int, start_ns: int, rng: random.Random) -> tuple[dict[str, Any], str]:
    """OTLP/JSON of one journey of ``total_spans`` spans in one trace, and a platform interaction ID
    that finds it. Leg 1: a Twilio call for the whole journey; leg 2: a Vapi AI conversation; leg 3:
    a PolyAI AI conversation; leg 4: Amazon Connect (IVR, queue, agent, and an AI assistant). The
    AI conversations share the spans left over as turns."""
    trace_id = f"{rng.getrandbits(128):032x}"
    ids: set[str] = set()

    def span_id() -> str:
        while True:
            value = f"{rng.getrandbits(63) | 1:016x}"
            if value not in ids:
                ids.add(value)
                return value

    by_platform: dict[str, list[dict[str, Any]]] = {}

    def span(
        platform: str, name: str, kind: str, start: int, end: int, parent: str | None = None, **attributes: Any
    ) -> str:
        sid = span_id()
        attrs = {"cx.platform.name": platform, "cx.span.type": kind, **attributes}
        by_platform.setdefault(platform, []).append({
            "traceId": trace_id, "spanId": sid, **({"parentSpanId": parent} if parent else {}), "name": name, "kind": 1,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(end),
            "attributes": [attr(k, v) for k, v in attrs.items()],
        })  # fmt: skip
        return sid

    def uuid() -> str:
        return str(UUID(int=rng.getrandbits(128), version=4))

    interactions = {
        "twilio": f"CA{rng.getrandbits(128):032x}",
        "vapi": uuid(),
        "polyai": f"CA{rng.getrandbits(128):032x}",
        "amazon_connect": uuid(),
    }
    t0 = start_ns
    hour = 3600 * S
    span("twilio", "telephony twilio", "telephony", t0, t0 + hour, None,
         **{"cx.platform.interaction.id": interactions["twilio"], "cx.channel": "voice", "cx.direction": "inbound",
            "cx.audio.jitter_ms": 12.5, "cx.audio.packet_loss_pct": 0.4})  # fmt: skip
    legs = [("vapi", t0 + 5 * S, t0 + 1500 * S), ("polyai", t0 + 1510 * S, t0 + 2600 * S)]
    connect_start = t0 + 2610 * S

    def connect_span(kind: str, begin: int, end: int, parent: str | None, **attributes: Any) -> str:
        ids = {"cx.platform.interaction.id": interactions["amazon_connect"]}
        return span("amazon_connect", f"{kind} amazon_connect", kind, begin, end, parent, **ids, **attributes)

    connect = connect_span("telephony", connect_start, t0 + hour, None)
    ivr_end = connect_start + 20 * S
    connect_span("ivr", connect_start, ivr_end, connect, **{"cx.ivr.flow.name": "Main IVR"})
    queue_end = ivr_end + 90 * S
    connect_span("queue", ivr_end, queue_end, connect, **{"cx.queue.name": "Billing", "cx.queue.wait.duration": 90.0})
    connect_span("agent_interaction", queue_end, t0 + hour - 5 * S, connect, **{"cx.agent.id": "a.jones"})
    legs.append(("amazon_connect", queue_end + 10 * S, t0 + hour - 10 * S))  # an AI assistant beside the agent
    turns_left = total_spans - sum(len(v) for v in by_platform.values()) - len(legs)
    for index, (platform, begin, end) in enumerate(legs):
        turns = turns_left // (len(legs) - index)
        turns_left -= turns
        conversation = span(platform, f"ai_conversation {platform}", "ai_conversation", begin, end,
                            connect if platform == "amazon_connect" else None,
                            **{"cx.platform.interaction.id": interactions[platform], "cx.ai.turn_count": turns})  # fmt: skip
        step = (end - begin) // max(1, turns)
        for n in range(turns):
            at = begin + n * step
            span(platform, f"turn {platform}", "turn", at, at + step * 7 // 10, conversation,
                 **{"cx.platform.interaction.id": interactions[platform], "cx.turn.number": n + 1,
                    "cx.turn.latency.e2e_ms": round(rng.uniform(400, 1800), 1)})  # fmt: skip
    body = {"resourceSpans": [
        {"resource": {"attributes": [attr("service.name", platform.replace("_", "-")), attr("cx.platform.name", platform)]},
         "scopeSpans": [{"scope": {"name": "bench.web_journey"}, "spans": spans}]}
        for platform, spans in by_platform.items()
    ]}  # fmt: skip
    assert sum(len(v) for v in by_platform.values()) == total_spans
    return body, interactions["twilio"]


def console_error(errors: list[str], message: Any) -> None:
    if message.type == "error":
        errors.append(message.text)


def page_error(errors: list[str], error: Any) -> None:
    errors.append(str(error))


def wait_for_journey(query: str, interaction: str, spans: int, timeout: float = 180.0) -> dict[str, Any]:
    """The journey holding ``interaction`` once it has all ``spans`` sent spans and its analysis is current."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=query, timeout=60.0) as client:
        while time.monotonic() < deadline:
            found = client.get("/api/journeys", params={"interaction_id": interaction}).json()["journeys"]
            if found:
                journey = client.get(f"/api/journeys/{found[0]['journey_id']}").json()
                sent = sum(1 for s in journey["spans"] if not s.get("synthetic"))
                if sent >= spans and journey.get("analysis", {}).get("current"):
                    return journey
            time.sleep(0.5)
    raise SystemExit(f"the journey did not reach {spans} spans within {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    _, ports, server = start_server("jt-bench-web-journey-")
    query = f"http://127.0.0.1:{ports['query-port']}"
    try:
        body, interaction = build_journey(args.spans, time.time_ns() - 2 * 3600 * S, random.Random(5))
        answer = httpx.post(f"http://127.0.0.1:{ports['otlp-http-port']}/v1/traces", json=body, timeout=120.0)
        answer.raise_for_status()
        journey = wait_for_journey(query, interaction, args.spans)
        total = len(journey["spans"])
        url = f"{query}/journeys/{journey['journey_id']}"
        print(f"journey {journey['journey_id']}: {total} spans ({args.spans} sent + {total - args.spans} synthetic), "
              f"{journey['leg_count']} legs {journey['platforms']}")  # fmt: skip
        with httpx.Client(timeout=60.0) as client:
            for view in ("full", "timeline"):  # the page asks for the timeline view
                api = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    size = len(client.get(f"{query}/api/journeys/{journey['journey_id']}", params={"view": view}).content)
                    api.append((time.perf_counter() - began) * 1000)
                print(f"GET /api/journeys/{{id}}?view={view}: {size / 1e6:.1f} MB, "
                      f"p50 {statistics.median(api):.0f} ms, max {max(api):.0f} ms")  # fmt: skip

        rendered, painted = [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for run in range(args.runs):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                errors: list[str] = []
                page.on("console", partial(console_error, errors))
                page.on("pageerror", partial(page_error, errors))
                page.goto(url)
                page.wait_for_function(
                    "n => window.__journeyPainted && document.querySelectorAll('.jt-bar[data-span-id]').length === n",
                    arg=total, timeout=30_000,
                )  # fmt: skip
                times = page.evaluate("""() => {
                    const api = performance.getEntriesByType('resource').find((r) => r.name.includes('/api/journeys/'));
                    return {rendered: window.__journeyRendered, painted: window.__journeyPainted,
                        sent: api.startTime, firstByte: api.responseStart, received: api.responseEnd,
                        parsed: (performance.getEntriesByName('journey:parsed')[0] || {}).startTime};
                }""")
                if errors:
                    raise SystemExit(f"the page reported errors: {errors}")
                rendered.append(times["rendered"])
                painted.append(times["painted"])
                print(f"run {run + 1}: API asked at {times['sent']:.0f} ms, first byte {times['firstByte']:.0f} ms, "
                      f"received {times['received']:.0f} ms, parsed {times['parsed']:.0f} ms; "
                      f"{total} bars in the page at {times['rendered']:.0f} ms, painted at {times['painted']:.0f} ms")  # fmt: skip
                if run < args.runs - 1:
                    context.close()
            # the page's own share: parse the answer, build the chart model, draw, lay out, paint
            # (the data already in the page; after the runs above the code is compiled and warm)
            own = page.evaluate(
                """async (runs) => {
                const text = await (await fetch(location.pathname.replace('/journeys/', '/api/journeys/') + '?view=timeline')).text();
                const [{buildModel}, {createFlame}, {renderHeader}] = await Promise.all([
                    import('/web/journey/model.js'), import('/web/journey/flame.js'), import('/web/journey/header.js')]);
                const main = document.querySelector('main');
                const times = [];
                for (let i = 0; i < runs; i++) {
                    const t = [performance.now()];
                    const journey = JSON.parse(text);
                    t.push(performance.now());
                    const model = buildModel(journey);
                    t.push(performance.now());
                    const flame = createFlame({onSelect() {}, onClose() {}});
                    main.replaceChildren(renderHeader(journey, null, {onInsight() {}}), flame.element);
                    flame.update(model);
                    t.push(performance.now());
                    await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
                    t.push(performance.now());
                    times.push(t.slice(1).map((v, k) => v - t[k]));
                    flame.destroy();
                }
                return times;
            }""",
                args.runs,
            )
            context.close()
            browser.close()
        print(f"navigation start → all {total} bars in the page: p50 {statistics.median(rendered):.0f} ms, "
              f"max {max(rendered):.0f} ms (target < 1000 ms)")  # fmt: skip
        print(
            f"navigation start → first paint with them:      p50 {statistics.median(painted):.0f} ms, max {max(painted):.0f} ms"
        )
        whole = [sum(parts) for parts in own]
        print(
            f"the page's own work (JSON.parse → model → {total} bars → layout → paint, warm): "
            f"p50 {statistics.median(whole):.0f} ms, max {max(whole):.0f} ms; p50 of each step: "
            + ", ".join(f"{name} {statistics.median(p[k] for p in own):.0f} ms"
                        for k, name in enumerate(("JSON.parse", "model", "bars", "layout + paint")))
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


if __name__ == "__main__":
    main()
