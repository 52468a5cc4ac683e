"""The DuckDB schema, as an ordered list of migrations.

The database records the version it is at in ``meta``; opening a file runs every migration
after it, each in its own transaction. Never edit a released migration: append a new one.

Design notes:
- ``spans`` keeps every OTLP field (attributes, resource, events and links as JSON text in
  VARCHAR columns -- DuckDB's json functions read them, and our encoders only write valid JSON,
  so the JSON type's per-row validation would be wasted work; rare fields in ``extra``) and lifts the keys search needs into columns: journey, platform, interaction,
  customer phone hash, queue, agent and span type.
- ``journeys`` is one row per journey, maintained on every write, so listing and searching
  journeys never aggregates spans.
- Every table starts with ``tenant`` so that multi-tenancy is a filter, not a rewrite.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import duckdb

SPAN_COLUMNS = (
    "tenant", "journey_id", "trace_id", "span_id", "parent_span_id", "trace_state", "flags",
    "name", "kind", "service_name", "start_unix_nano", "end_unix_nano", "status_code",
    "status_message", "span_type", "platform", "interaction_id", "customer_phone_hash", "queue",
    "agent", "attributes", "resource_attributes", "scope_name", "scope_version", "events", "links",
    "extra", "received_unix_nano",
)  # fmt: skip


def _v1_spans(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute(
        "INSERT INTO meta VALUES ('phone_hash_key', ?)", [secrets.token_hex(32)]
    )
    con.execute(
        """
        CREATE TABLE spans (
            tenant VARCHAR NOT NULL,
            journey_id VARCHAR NOT NULL,
            trace_id VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            parent_span_id VARCHAR,
            trace_state VARCHAR,
            flags UINTEGER NOT NULL,
            name VARCHAR NOT NULL,
            kind INTEGER NOT NULL,
            service_name VARCHAR NOT NULL,
            start_unix_nano BIGINT NOT NULL,
            end_unix_nano BIGINT NOT NULL,
            status_code INTEGER NOT NULL,
            status_message VARCHAR,
            span_type VARCHAR,
            platform VARCHAR,
            interaction_id VARCHAR,
            customer_phone_hash VARCHAR,
            queue VARCHAR,
            agent VARCHAR,
            attributes VARCHAR NOT NULL,
            resource_attributes VARCHAR NOT NULL,
            scope_name VARCHAR,
            scope_version VARCHAR,
            events VARCHAR,
            links VARCHAR,
            extra VARCHAR,
            received_unix_nano BIGINT NOT NULL
        )
        """
    )


def _v2_journeys(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE journeys (
            tenant VARCHAR NOT NULL,
            journey_id VARCHAR NOT NULL,
            start_unix_nano BIGINT NOT NULL,
            end_unix_nano BIGINT NOT NULL,
            services VARCHAR[] NOT NULL,
            updated_unix_nano BIGINT NOT NULL,
            PRIMARY KEY (tenant, journey_id)
        )
        """
    )
    con.execute(
        """
        INSERT INTO journeys
        SELECT tenant, journey_id, min(start_unix_nano), max(end_unix_nano),
               list_sort(list_distinct(list(service_name))), max(received_unix_nano)
        FROM spans GROUP BY tenant, journey_id
        """
    )


MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (_v1_spans, _v2_journeys)
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchone()
    if not has_meta or not has_meta[0]:
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 1


def migrate(con: duckdb.DuckDBPyConnection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database up to ``target``; return the version it was at."""
    found = current_version(con)
    if found > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {found} is newer than this journeytrace ({SCHEMA_VERSION}); upgrade journeytrace"
        )
    for version in range(found + 1, target + 1):
        con.execute("BEGIN")
        MIGRATIONS[version - 1](con)
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)]
        )
        con.execute("COMMIT")
    return found
