"""The DuckDB file: an old schema is migrated by the real server at start-up; every data table is
keyed by tenant; a file from a newer journeytrace is refused.
"""

from __future__ import annotations

import time

import duckdb
import httpx
import pytest

from journeytrace import simulator
from journeytrace.storage import schema
from jt_helpers import (
    ServerExited, http_export, new_span_id, new_trace_id, post_simulated, real_spans, settled_journey, simple_request,
    user_attributes, wait_for_journey, wait_until,
)  # fmt: skip

DB_NAME = "journeytrace.duckdb"


def _v1_database(path, trace_id: str, span_id: str, start: int, span_type: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        assert schema.migrate(con, target=1) == 0
        assert schema.current_version(con) == 1
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "journeys" not in tables
        con.execute(
            """
            INSERT INTO spans (tenant, journey_id, trace_id, span_id, parent_span_id, trace_state, flags, name,
                               kind, service_name, start_unix_nano, end_unix_nano, status_code, status_message,
                               span_type, platform, interaction_id, customer_phone_hash, queue, agent, attributes,
                               resource_attributes, scope_name, scope_version, events, links, extra,
                               received_unix_nano)
            VALUES ('default', ?, ?, ?, NULL, NULL, 1, 'legacy span', 2, 'legacy-service', ?, ?, 2, 'old error',
                    ?, NULL, NULL, NULL, NULL, NULL, '{"k":"v","n":3}', '{"service.name":"legacy-service"}',
                    'legacy.scope', '0.1', '[{"time_unix_nano":5,"name":"e","attributes":{}}]', NULL, NULL, ?)
            """,
            [trace_id, trace_id, span_id, start, start + 1000, span_type, time.time_ns()],
        )
    finally:
        con.close()


def _meta(path) -> dict[str, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("SELECT key, value FROM meta").fetchall())
    finally:
        con.close()


@pytest.mark.parametrize(
    "span_type", [None, "ivr"], ids=["plain-otel-span", "span-with-cx.span.type"]
)
def test_server_migrates_a_version_1_file(server_factory, span_type):
    """Most stored spans have no cx.span.type (span_type NULL): the upgrade must handle them."""
    assert schema.SCHEMA_VERSION >= 2
    trace_id, span_id = new_trace_id().hex(), new_span_id().hex()
    start = 1_600_000_000_000_000_000
    server = server_factory(start=False)
    db_path = server.data_dir / DB_NAME
    _v1_database(db_path, trace_id, span_id, start, span_type)

    server.start()
    with httpx.Client(base_url=server.query_url, timeout=15) as client:
        listed = client.get("/api/journeys", params={"service": "legacy-service"}).json()["journeys"]
        assert [j["journey_id"] for j in listed] == [trace_id]
        assert listed[0]["start_unix_nano"] == start and listed[0]["end_unix_nano"] == start + 1000
        journey = wait_for_journey(client, trace_id, 1)
        (span,) = real_spans(journey)
        assert (span["span_id"], span["name"], span["kind"], span["status_code"]) == (
            span_id, "legacy span", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR",
        )  # fmt: skip
        expected = {"k": "v", "n": 3} if span_type is None else {"k": "v", "n": 3, "cx.span.type": span_type}
        assert user_attributes(span) == expected
        assert span["events"] == [{"time_unix_nano": 5, "name": "e", "attributes": {}}]

        # A new span of the migrated trace joins its stored interaction: the correlator finds
        # migrated rows through the lookup hashes schema v10 computed for them.
        assert http_export(client, server.traces_url, simple_request(bytes.fromhex(trace_id), 1, start=start)).status_code == 200
        journey = wait_for_journey(client, trace_id, 2)
        assert journey["interaction_count"] == 1
        assert len(real_spans(journey)) == 2
    assert server.stop() == 0

    assert _meta(db_path)["schema_version"] == str(schema.SCHEMA_VERSION)

    # A second start on the migrated file changes nothing.
    server.start()
    with httpx.Client(base_url=server.query_url, timeout=15) as client:
        assert len(real_spans(wait_for_journey(client, trace_id, 2))) == 2
    assert server.stop() == 0
    assert _meta(db_path)["schema_version"] == str(schema.SCHEMA_VERSION)


def test_the_v12_migration_writes_the_assembly_the_correlator_writes(server_factory):
    """Schema v12 backfills each journey's ``assembly`` (its interactions and links) from the
    correlation tables; the correlator writes it on every commit. On journeys with several
    platforms and links, a file taken back to v11 must come out of the migration (at the server's
    start) with exactly the documents the correlator wrote, and read the same."""
    server = server_factory()
    journeys = simulator.journeys(17, 12, time.time_ns() - 3600 * simulator.S)
    post_simulated(server, journeys)
    with httpx.Client(base_url=server.query_url, timeout=15) as client:
        before = [wait_until(lambda j=j: settled_journey(client, j), what=f"journey {j.number}") for j in journeys]
    assert server.stop() == 0
    db_path = server.data_dir / DB_NAME
    with duckdb.connect(str(db_path)) as con:
        written = dict(con.execute("SELECT journey_id, assembly FROM journeys").fetchall())
        assert any('"links":[[' in document for document in written.values())  # links to rebuild
        con.execute("UPDATE journeys SET assembly = NULL")
        con.execute("UPDATE meta SET value = '11' WHERE key = 'schema_version'")

    server.start()
    with httpx.Client(base_url=server.query_url, timeout=15) as client:
        for record in before:
            again = client.get(f"/api/journeys/{record['journey_id']}").json()
            assert (again["legs"], again["correlation"]) == (record["legs"], record["correlation"])
    assert server.stop() == 0
    with duckdb.connect(str(db_path)) as con:
        assert dict(con.execute("SELECT journey_id, assembly FROM journeys").fetchall()) == written


def test_the_v13_migration_puts_each_journeys_insights_on_its_analysis_row(server_factory):
    """Schema v13 copies each journey's ``journey_insights`` rows onto its ``journey_analysis``
    row, where reads now take them from; the analysis worker writes both. A file taken back to
    v12 (the column dropped) must come out of the migration with exactly what the worker wrote,
    and every read (the journey, the list) must show the same insights as before."""
    server = server_factory()
    journeys = simulator.journeys(30, 8, time.time_ns() - 3600 * simulator.S)  # every kind of trouble
    post_simulated(server, journeys)
    with httpx.Client(base_url=server.query_url, timeout=15) as client:
        before = [wait_until(lambda j=j: settled_journey(client, j), what=f"journey {j.number}") for j in journeys]
        listed = {r["journey_id"]: r["insights"] for r in client.get("/api/journeys", params={"limit": 100}).json()["journeys"]}
    assert any(len(r["insights"]) > 1 for r in before)  # insights to order
    assert server.stop() == 0
    db_path = server.data_dir / DB_NAME
    with duckdb.connect(str(db_path)) as con:
        written = dict(con.execute("SELECT journey_id, insight_details FROM journey_analysis").fetchall())
        assert sum(d is not None for d in written.values()) == sum(bool(r["insights"]) for r in before)
        con.execute("ALTER TABLE journey_analysis DROP COLUMN insight_details")
        con.execute("UPDATE meta SET value = '12' WHERE key = 'schema_version'")

    server.args += ["--analysis", "false"]  # nothing but the migration writes the column
    server.start()
    with httpx.Client(base_url=server.query_url, timeout=15) as client:
        for record in before:
            again = client.get(f"/api/journeys/{record['journey_id']}").json()
            assert again["insights"] == record["insights"]
        again_listed = client.get("/api/journeys", params={"limit": 100}).json()["journeys"]
        assert {r["journey_id"]: r["insights"] for r in again_listed} == listed
    assert server.stop() == 0
    with duckdb.connect(str(db_path)) as con:
        assert dict(con.execute("SELECT journey_id, insight_details FROM journey_analysis").fetchall()) == written


def test_every_data_table_is_keyed_by_tenant(server_factory):
    """Every table starts with a ``tenant`` column (schema.py's design rule); the one exception
    is ``meta``, the file's own settings (schema version, phone hash key)."""
    server = server_factory()
    assert server.stop() == 0
    con = duckdb.connect(str(server.data_dir / DB_NAME), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name"
        ).fetchall()]  # fmt: skip
        first_columns = dict(con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND ordinal_position = 1"
        ).fetchall())  # fmt: skip
        with_tenant = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'main' AND column_name = 'tenant'"
        ).fetchall()}  # fmt: skip
    finally:
        con.close()
    assert {"spans", "journeys", "meta"} <= set(tables)
    assert [t for t in tables if t not in with_tenant] == ["meta"]
    for table in tables:
        if table != "meta":
            assert first_columns[table] == "tenant", f"{table} starts with {first_columns[table]!r}"


def test_a_file_from_a_newer_journeytrace_is_refused(server_factory):
    server = server_factory(start=False)
    db_path = server.data_dir / DB_NAME
    db_path.parent.mkdir(parents=True)
    con = duckdb.connect(str(db_path))
    schema.migrate(con)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(schema.SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(ServerExited):
        server.start(timeout=30)
    assert server.proc.returncode != 0
    assert "newer than this journeytrace" in server.log_text()
    # The file is left as it was.
    assert _meta(db_path)["schema_version"] == str(schema.SCHEMA_VERSION + 1)


def test_a_journey_is_read_only_under_its_own_tenant(server_factory):
    """Every read is of the server's tenant, whichever statement finds the journey: one ID
    (``reads._one_journey_row``) or several. A server of another tenant on the same file finds
    neither journey, one at a time or both at once, in any API; the owner's server finds both."""
    server = server_factory("--tenant", "acme")
    simulated = simulator.journeys(41, 2, time.time_ns() - 600 * simulator.S, ["twilio_vapi"])
    post_simulated(server, simulated)
    with httpx.Client(base_url=server.query_url, timeout=15) as client:
        ids = [wait_until(lambda j=j: settled_journey(client, j), timeout=30)["journey_id"] for j in simulated]
    assert server.stop() == 0

    def answers() -> list[int | list[str]]:
        with httpx.Client(base_url=server.query_url, timeout=15) as jaeger, \
             httpx.Client(base_url=f"http://127.0.0.1:{server.tempo_port}", timeout=15) as tempo:  # fmt: skip
            found = []
            for journey_id in ids:
                found += [jaeger.get(f"/api/journeys/{journey_id}").status_code,
                          jaeger.get(f"/api/traces/{journey_id}").status_code,
                          tempo.get(f"/api/v2/traces/{journey_id}").status_code]  # fmt: skip
            both = jaeger.get("/api/traces", params=[("traceID", i) for i in ids]).json()
            found.append(sorted(trace["traceID"] for trace in both["data"]))
            return found

    server.args = ["--tenant", "other"]
    server.start()
    assert answers() == [404, 404, 404] * 2 + [[]]
    assert server.stop() == 0
    server.args = ["--tenant", "acme"]
    server.start()
    assert answers() == [200, 200, 200] * 2 + [sorted(ids)]
