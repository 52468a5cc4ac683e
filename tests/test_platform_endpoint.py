"""``POST /v1/platforms/{platform}`` and ``journeytrace import`` as a user meets them: unknown
platforms, wrong content types, bad bodies, limits, re-deliveries and backfill."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from jt_helpers import wait_until

from journeytrace.receivers.platforms.registry import adapters


def test_unknown_platform_is_404_listing_the_platforms(server_factory) -> None:
    server = server_factory()
    response = httpx.post(f"{server.http_base}/v1/platforms/not-a-platform", json={"a": 1}, timeout=10)
    assert response.status_code == 404
    body = response.json()
    assert "not-a-platform" in body["error"]
    assert body["platforms"] == sorted(adapters())
    assert {"amazon_connect", "twilio", "vapi"} <= set(body["platforms"])


FIXTURES = Path(__file__).parent / "fixtures" / "platforms"


def _genesys(name: str) -> dict:
    return json.loads((FIXTURES / "genesys_cloud" / f"{name}.json").read_text())


def _span_count(client: httpx.Client, interaction_id: str) -> int:
    journeys = client.get("/api/journeys", params={"interaction_id": interaction_id}).json()["journeys"]
    if not journeys:
        return 0
    journey = client.get(f"/api/journeys/{journeys[0]['journey_id']}").json()
    return sum(1 for s in journey["spans"] if not s.get("synthetic"))


def test_bad_requests_get_clear_errors_and_store_nothing(server_factory) -> None:
    server = server_factory("--max-request-bytes", "20000")
    url = f"{server.http_base}/v1/platforms/genesys_cloud"
    record = _genesys("normal")
    with httpx.Client(timeout=10) as http, httpx.Client(base_url=server.query_url, timeout=10) as query:
        wrong_type = http.post(url, content=b"conversationId=x", headers={"Content-Type": "text/plain"})
        assert wrong_type.status_code == 415 and "application/json" in wrong_type.json()["error"]
        not_json = http.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]
        half_bad = http.post(url, json=[record, {"conversationStart": "2026-11-28T10:00:00Z"}])
        assert half_bad.status_code == 400 and "conversationId" in half_bad.json()["error"]
        too_big = http.post(url, json={**record, "padding": "x" * 30000})
        assert too_big.status_code == 413
        assert _span_count(query, record["conversationId"]) == 0  # nothing of the refused bodies
        good = http.post(url, json=record)
        assert good.status_code == 202 and good.json()["accepted_spans"] > 0
        accepted = good.json()["accepted_spans"]
        assert http.post(url, json=record).status_code == 202  # re-delivered: replaces, no duplicates

        def stored() -> int | None:
            count = _span_count(query, record["conversationId"])
            return count if count == accepted else None

        assert wait_until(stored, what="the record's spans") == accepted


def test_import_backfills_good_records_and_names_the_bad_ones(server_factory, tmp_path: Path) -> None:
    server = server_factory()
    records = [_genesys("normal"), {"participants": []}, _genesys("minimal")]
    export = tmp_path / "conversations.json"
    export.write_text(json.dumps(records))
    lines = tmp_path / "more.jsonl"
    lines.write_text(json.dumps(_genesys("failure")) + "\n{oops\n")
    run = subprocess.run(
        [sys.executable, "-m", "journeytrace", "import", "--platform", "genesys_cloud",
         "--server", server.http_base, str(export), str(lines)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "imported 3 records" in run.stdout
    assert f"{export}[1]" in run.stderr and "conversationId" in run.stderr
    assert f"{lines}:2" in run.stderr and "not valid JSON" in run.stderr
    assert "5/5 records" in run.stderr  # the progress bar
    with httpx.Client(base_url=server.query_url, timeout=10) as query:
        for record in (records[0], records[2], _genesys("failure")):
            wait_until(lambda r=record: query.get(
                "/api/journeys", params={"interaction_id": r["conversationId"]}).json()["journeys"])  # fmt: skip


def test_concatenated_records_as_firehose_writes_them_are_read(server_factory, tmp_path: Path) -> None:
    """Firehose writes records to S3 back to back, no separator: both the endpoint and import read them."""
    server = server_factory()
    first, second = _genesys("normal"), _genesys("minimal")
    body = (json.dumps(first) + json.dumps(second)).encode()
    response = httpx.post(f"{server.http_base}/v1/platforms/genesys_cloud", content=body,
                          headers={"Content-Type": "application/json"}, timeout=10)  # fmt: skip
    assert response.status_code == 202, response.text
    export = tmp_path / "firehose-object"
    export.write_text(json.dumps(_genesys("failure")) + json.dumps(first))
    run = subprocess.run(
        [sys.executable, "-m", "journeytrace", "import", "--platform", "genesys_cloud", "--server", server.http_base,
         str(export)], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0 and "imported 2 records" in run.stdout, run.stdout + run.stderr
    with httpx.Client(base_url=server.query_url, timeout=10) as query:
        for record in (first, second, _genesys("failure")):
            wait_until(lambda r=record: query.get(
                "/api/journeys", params={"interaction_id": r["conversationId"]}).json()["journeys"])  # fmt: skip
