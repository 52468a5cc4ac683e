"""The Grafana provisioning example points each data source type at the port that serves its API."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

EXAMPLES = Path(__file__).parent.parent / "examples" / "grafana"


def test_grafana_data_sources_reach_the_apis_they_name(server_factory) -> None:
    sources = yaml.safe_load((EXAMPLES / "provisioning" / "datasources" / "journeytrace.yaml").read_text())
    urls = {s["type"]: s["url"] for s in sources["datasources"]}
    assert urls == {"tempo": "http://host.docker.internal:3200", "jaeger": "http://host.docker.internal:16686"}
    server = server_factory()
    # The endpoints Grafana calls to test each data source, on the ports the file names (remapped to the test server's).
    tempo = httpx.get(f"http://127.0.0.1:{server.tempo_port}/api/echo", timeout=10)
    assert (tempo.status_code, tempo.text) == (200, "echo")
    jaeger = httpx.get(f"{server.query_url}/api/services", timeout=10)
    assert jaeger.status_code == 200 and jaeger.json()["data"] == []
