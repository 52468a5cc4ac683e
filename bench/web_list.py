"""Journey list benchmark: the Journey Explorer's home page listing 100 journeys in headless Chromium.

Starts `journeytrace serve` on a fresh data directory, posts simulated multi-platform journeys
with `journeytrace simulate` (as the platforms would), waits until the newest 100 have settled
and been analysed, then opens `/?limit=100` in Debian's Chromium (driven by Playwright) and
reads the page's own marks: ``journeytrace:list-rendered`` (100 rows in the page) and
``journeytrace:list-painted`` (first frame with them), in ms since navigation start. The target
(issue #7) is under 300 ms end to end. Each run opens the page in a new browser context (empty
cache, new renderer process: the worst case); then as many in one context, as a user who opens
the page again sees it.

    python bench/web_list.py              # 10 runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest import start_server  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MARKS = """() => new Promise(done => requestAnimationFrame(() => setTimeout(() => done({
  rows: performance.getEntriesByName("journeytrace:list-rendered")[0].startTime,
  painted: performance.getEntriesByName("journeytrace:list-painted")[0].startTime,
}), 0)))"""


def settled(query: str) -> None:
    """Wait until the newest 100 journeys stop changing (stored, linked and analysed)."""
    previous = None
    with httpx.Client(base_url=query, timeout=60) as client:
        for _ in range(240):
            current = client.get("/api/journeys", params={"limit": 100}).json()["journeys"]
            if len(current) == 100 and current == previous:
                return
            previous = current
            time.sleep(1.5)
    raise SystemExit("the journeys never settled")


def start_loaded(prefix: str) -> tuple[str, subprocess.Popen[bytes]]:
    """A server holding the benchmark's 120 simulated journeys: its query URL and process."""
    _, ports, server = start_server(prefix)
    otlp = f"http://127.0.0.1:{ports['otlp-http-port']}"
    try:
        subprocess.run([sys.executable, "-m", "journeytrace", "simulate", "--server", otlp, "--journeys", "120",
                        "--rate", "200", "--late-seconds", "1", "--seed", "5"], check=True, capture_output=True)  # fmt: skip
    except BaseException:
        server.terminate()
        raise
    return f"http://127.0.0.1:{ports['query-port']}", server


def list_marks(page: Any, url: str) -> dict[str, float]:
    """Open ``url``'s list of 100 journeys in ``page``: the page's own marks, ms since navigation start."""
    page.goto(f"{url}/?limit=100")
    page.wait_for_function("document.querySelectorAll('.journeys [data-journey-id]').length === 100")
    return page.evaluate(MARKS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    query, server = start_loaded("jt-bench-web-list-")
    try:
        settled(query)
        cold: dict[str, list[float]] = {"rows": [], "painted": []}
        warm: dict[str, list[float]] = {"rows": [], "painted": []}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

            def load(page: Any, into: dict[str, list[float]]) -> None:
                marks = list_marks(page, query)
                into["rows"].append(marks["rows"])
                into["painted"].append(marks["painted"])

            for _ in range(args.runs):  # a new browser context each time: empty cache, new renderer
                page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
                load(page, cold)
                page.context.close()
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            load(page, {"rows": [], "painted": []})
            for _ in range(args.runs):  # the page opened again in the same browser (a user's second visit)
                load(page, warm)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=120)
    for state, found in (("cold (new context)", cold), ("warm (same context)", warm)):
        for name in ("rows", "painted"):
            values = found[name]
            label = "100 rows in the page" if name == "rows" else "painted"
            print(f"{state}: navigation start → {label}: p50 {statistics.median(values):.0f} ms, "
                  f"max {max(values):.0f} ms over {len(values)} runs (target < 300 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
