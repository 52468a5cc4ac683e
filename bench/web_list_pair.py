"""Paired list-page benchmark: the current Journey Explorer against a variant of its files.

A whole run of `bench/web_list.py` moves by ±60–100 ms at the median on a 2-core machine, more
than most front-end changes are worth. This bench compares in pairs instead: two servers hold
the same simulated journeys, one serving the page's files as they are and one with the files
of ``VARIANT_DIR`` laid over them (same relative paths, e.g. ``list/table.js``); one browser
opens them alternately in new contexts, the order flipped every pair, and the median of the
pairs' differences is reported with how many pairs the variant won.

The server reads its web files once at start-up, so the variant's files are copied into
``query/web`` only while its server starts, and the originals are put back at once.

    python bench/web_list_pair.py VARIANT_DIR            # 30 pairs
    python bench/web_list_pair.py VARIANT_DIR --pairs 50
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from web_list import CHROMIUM, list_marks, settled, start_loaded  # noqa: E402

WEB_DIR = Path(__file__).resolve().parent.parent / "query" / "web"


def start_with_overlay(variant: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """A server that loaded the web files with ``variant``'s laid over them."""
    overlay = sorted(p.relative_to(variant) for p in variant.rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory() as saved:
        kept = Path(saved)
        for relative in overlay:
            original = WEB_DIR / relative
            if original.exists():
                (kept / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(original, kept / relative)
        try:
            for relative in overlay:
                (WEB_DIR / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(variant / relative, WEB_DIR / relative)
            return start_loaded("jt-bench-web-pair-variant-")  # ready: its files are in memory
        finally:
            for relative in overlay:
                if (kept / relative).exists():
                    shutil.copy2(kept / relative, WEB_DIR / relative)
                else:
                    (WEB_DIR / relative).unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", type=Path, help="folder of web files to lay over query/web")
    parser.add_argument("--pairs", type=int, default=30)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    servers: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
    found: dict[str, dict[str, list[float]]] = {name: {"rows": [], "painted": []} for name in ("current", "variant")}
    try:
        servers["current"] = start_loaded("jt-bench-web-pair-current-")
        servers["variant"] = start_with_overlay(args.variant.resolve())
        for url, _ in servers.values():
            settled(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for pair in range(args.pairs + 1):  # the first pair warms the browser up and is dropped
                for name in ("current", "variant") if pair % 2 else ("variant", "current"):
                    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
                    marks = list_marks(page, servers[name][0])
                    if pair:
                        found[name]["rows"].append(marks["rows"])
                        found[name]["painted"].append(marks["painted"])
                    page.context.close()
            browser.close()
    finally:
        for _, server in servers.values():
            server.terminate()
            server.wait(timeout=120)
    for mark in ("rows", "painted"):
        current, variant = found["current"][mark], found["variant"][mark]
        differences = [v - c for c, v in zip(current, variant, strict=True)]
        label = "100 rows in the page" if mark == "rows" else "painted"
        print(f"{label}: current p50 {statistics.median(current):.0f} ms, variant p50 {statistics.median(variant):.0f} ms; "
              f"paired difference (variant - current) median {statistics.median(differences):+.0f} ms, "
              f"variant faster in {sum(d < 0 for d in differences)} of {len(differences)} pairs")  # fmt: skip


if __name__ == "__main__":
    main()
