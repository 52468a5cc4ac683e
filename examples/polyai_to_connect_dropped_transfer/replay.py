"""Replay the "PolyAI → Amazon Connect, dropped during the transfer" journey into a running server.

Posts the native payloads of this directory through ``POST /v1/platforms/{platform}`` in the order
the platforms deliver them (the Connect contact event at once, the PolyAI conversation when it is
polled, the Twilio Voice Insights summary and the Connect CTR minutes later), waits until the
three platforms form one journey, then prints its URL and a short summary.

    python examples/polyai_to_connect_dropped_transfer/replay.py [--server URL] [--query URL]

Only the standard library is used, so any Python 3.11 runs it. Replaying twice is harmless: the
same records replace themselves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PAYLOADS = (
    ("1_connect_contact_event.json", "amazon_connect"),
    ("2_polyai_conversation.json", "polyai"),
    ("3_twilio_insights_summary.json", "twilio"),
    ("4_connect_ctr.json", "amazon_connect"),
)
CONTACT_ID = "e3a1c5d2-7b4f-4c8e-9a6d-2f1b0c9d8e71"
"""The Connect contact that dropped; its journey is the one to show."""
EXPECTED_PLATFORMS = {"twilio", "polyai", "amazon_connect"}
AUDIO = ("cx.audio.mos", "cx.audio.jitter_ms", "cx.audio.jitter_max_ms", "cx.audio.packet_loss_pct")


def post(server: str, platform: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(f"{server.rstrip('/')}/v1/platforms/{platform}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{platform}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}") from None


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def wait_for_journey(query: str, timeout_s: float) -> dict[str, Any]:
    """The contact's journey once it holds every platform (stored spans show up within a second or two)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = get(f"{query}/api/journeys?interaction_id={CONTACT_ID}")["journeys"]
        if found and set(found[0]["platforms"]) >= EXPECTED_PLATFORMS:
            return get(f"{query}/api/journeys/{found[0]['journey_id']}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the journey did not come together within {timeout_s:.0f}s: {found}")
        time.sleep(0.3)


def summary(journey: dict[str, Any]) -> list[str]:
    """Legs, how they were linked, what went wrong. (Phone numbers are never printed.)"""
    lines = [f"outcome: {journey['outcome']}   legs: {' -> '.join(journey['platforms'])}"]
    for leg in journey["legs"]:
        seconds = (leg["end_unix_nano"] - leg["start_unix_nano"]) / 1e9
        lines.append(f"  leg {leg['leg']}: {leg['platform']:<15} {seconds:6.1f}s  {', '.join(leg['interaction_ids'])}")
    lines.append("linked by: " + ", ".join(sorted({link["method"] for link in journey["correlation"]})))
    for span in sorted(journey["spans"], key=lambda s: s["start_unix_nano"]):
        attributes = span["attributes"]
        if attributes.get("cx.span.type") == "handoff" and not span.get("synthetic"):
            lines.append(f"  handoff: {span['name']} ({attributes.get('cx.handoff.reason', 'no reason given')})")
        if span["status_code"] == "STATUS_CODE_ERROR":
            lines.append(f"  error:   {span['name']}: {span['status_message']} "
                         f"(error.type={attributes.get('error.type')}, "
                         f"{attributes.get('aws.connect.potential_disconnect_issue', '')})")  # fmt: skip
        audio = {name.removeprefix("cx.audio."): attributes[name] for name in AUDIO if name in attributes}
        if audio:
            tags = ",".join(attributes.get("twilio.insights.tags", []))
            lines.append(f"  audio:   {span['name']}: {audio} {tags}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://localhost:4318", help="OTLP/HTTP base URL")
    parser.add_argument("--query", default="http://localhost:16686", help="query API base URL")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the journey")
    args = parser.parse_args()
    for name, platform in PAYLOADS:
        answer = post(args.server, platform, (HERE / name).read_bytes())
        print(f"posted {name} to {platform}: {answer.get('accepted_spans')} spans")
    query = args.query.rstrip("/")
    journey = wait_for_journey(query, args.timeout)
    print(f"\njourney: {query}/api/journeys/{journey['journey_id']}")
    print("\n".join(summary(journey)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
