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

from collections.abc import Callable

import duckdb

from journeytrace.correlator.state import ASSEMBLY_SQL, MEMBERS_SQL, journey_links_sql
from journeytrace.ids import JOURNEY_KEY_SQL, lookup_hash_sql
from journeytrace.storage.reads import INSIGHT_DETAILS_SQL

SPAN_COLUMNS = (
    "tenant", "journey_id", "trace_id", "span_id", "parent_span_id", "trace_state", "flags",
    "name", "kind", "service_name", "start_unix_nano", "end_unix_nano", "status_code",
    "status_message", "span_type", "platform", "interaction_id", "customer_phone_hash", "queue",
    "agent", "attributes", "resource_attributes", "scope_name", "scope_version", "events", "links",
    "extra", "received_unix_nano", "interaction", "record_version",
)  # fmt: skip


def _v1_spans(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
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


def _v3_correlation(con: duckdb.DuckDBPyConnection) -> None:
    """The correlator's state (``correlator/state.py``) and the columns journeys need."""
    con.execute("ALTER TABLE spans ADD COLUMN interaction VARCHAR")
    con.execute(
        "UPDATE spans SET interaction = coalesce(platform, 'otel') || ':' || coalesce(interaction_id, trace_id)"
    )
    con.execute(
        """
        CREATE TABLE interactions (
            tenant VARCHAR NOT NULL,
            interaction VARCHAR NOT NULL,
            platform VARCHAR NOT NULL,
            interaction_id VARCHAR NOT NULL,
            journey_id VARCHAR NOT NULL,
            start_unix_nano BIGINT NOT NULL,
            end_unix_nano BIGINT NOT NULL,
            handoff_unix_nano BIGINT,
            ani_hash VARCHAR,
            dnis_hash VARCHAR,
            target_hash VARCHAR,
            journey_token VARCHAR,
            services VARCHAR[] NOT NULL,
            has_handoff_span BOOLEAN NOT NULL,
            updated_unix_nano BIGINT NOT NULL,
            PRIMARY KEY (tenant, interaction)
        )
        """
    )
    con.execute(
        """
        INSERT INTO interactions
        SELECT tenant, interaction, any_value(coalesce(platform, 'otel')),
               any_value(coalesce(interaction_id, trace_id)), any_value(journey_id), min(start_unix_nano),
               max(end_unix_nano), NULL, min(customer_phone_hash), NULL, NULL, NULL,
               list_sort(list_distinct(list(service_name))), coalesce(bool_or(span_type = 'handoff'), false),
               max(received_unix_nano)
        FROM spans GROUP BY tenant, interaction
        """
    )
    con.execute(
        """
        CREATE TABLE correlation_tokens (
            tenant VARCHAR NOT NULL, token VARCHAR NOT NULL, interaction VARCHAR NOT NULL,
            method VARCHAR NOT NULL, confidence DOUBLE NOT NULL, evidence VARCHAR NOT NULL,
            PRIMARY KEY (tenant, token, interaction)
        )
        """
    )
    # Permanent links (one per pair, the strongest) and time-windowed ones (recomputed as facts change).
    for table, key in (("correlation_links", "tenant, a, b"), ("windowed_links", "tenant, a, b, method")):
        con.execute(
            f"""
            CREATE TABLE {table} (
                tenant VARCHAR NOT NULL, a VARCHAR NOT NULL, b VARCHAR NOT NULL, method VARCHAR NOT NULL,
                confidence DOUBLE NOT NULL, evidence VARCHAR NOT NULL,
                PRIMARY KEY ({key})
            )
            """
        )
    con.execute(
        """
        CREATE TABLE journey_aliases (
            tenant VARCHAR NOT NULL, alias VARCHAR NOT NULL, journey_id VARCHAR NOT NULL,
            PRIMARY KEY (tenant, alias)
        )
        """
    )
    con.execute("ALTER TABLE journeys ADD COLUMN platforms VARCHAR[]")
    con.execute("ALTER TABLE journeys ADD COLUMN interaction_count INTEGER")
    con.execute("ALTER TABLE journeys ADD COLUMN customer_phone_hash VARCHAR")
    con.execute(
        """
        UPDATE journeys SET platforms = p.platforms, interaction_count = p.n, customer_phone_hash = p.ani
        FROM (SELECT tenant, journey_id, list(platform ORDER BY start_unix_nano, platform, interaction_id) AS platforms,
                     count(*) AS n, min(ani_hash) AS ani
              FROM interactions GROUP BY tenant, journey_id) p
        WHERE journeys.tenant = p.tenant AND journeys.journey_id = p.journey_id
        """
    )


def _definition(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """``table``'s column definitions, to recreate it under its name."""
    columns = con.execute(
        """SELECT column_name, data_type, is_nullable FROM information_schema.columns
           WHERE table_name = ? ORDER BY ordinal_position""",
        [table],
    ).fetchall()
    return ", ".join(f"{name} {kind}{' NOT NULL' if nullable == 'NO' else ''}" for name, kind, nullable in columns)


def _v4_unindexed_correlation(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the primary keys of the correlation tables and of ``journeys``.

    DuckDB keeps a primary key as an ART index that every commit and checkpoint must write:
    on realistic data it was the largest single cost of ingest (bench/writer.py) and half the
    bytes per span on disk. The correlator is the only writer of these tables and inserts with
    anti-joins (or deletes first), so the keys stay unique without the index; lookups are hash
    joins or zone-map-pruned scans either way.
    """
    for table in ("interactions", "correlation_tokens", "correlation_links", "windowed_links", "journeys"):
        definition = _definition(con, table)
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_v3")
        con.execute(f"CREATE TABLE {table} ({definition})")
        con.execute(f"INSERT INTO {table} SELECT * FROM {table}_v3")
        con.execute(f"DROP TABLE {table}_v3")


def _v5_outcomes(con: duckdb.DuckDBPyConnection) -> None:
    """Journey outcomes: each interaction's latest reported and latest derived outcome signal
    (``correlator/outcome.py``), and the journey's outcome. Older data has no signals: NULL."""
    for column, kind in (("reported_outcome", "VARCHAR"), ("reported_outcome_at", "BIGINT"),
                         ("derived_outcome", "VARCHAR"), ("derived_outcome_at", "BIGINT")):  # fmt: skip
        con.execute(f"ALTER TABLE interactions ADD COLUMN {column} {kind}")
    con.execute("ALTER TABLE journeys ADD COLUMN outcome VARCHAR")


def _v6_record_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Platform records are re-delivered and updated: the version of each span's record, so the
    newest replaces older ones (``receivers/platforms/model.py``). NULL for OTLP spans."""
    con.execute("ALTER TABLE spans ADD COLUMN record_version BIGINT")


def _v7_receive_windows(con: duckdb.DuckDBPyConnection) -> None:
    """When each interaction's spans first arrived. Spans are stored in arrival order, so a
    journey's spans lie between its first arrival and its last update: reads give DuckDB that
    window and its zone maps skip every other row group (no index on ``spans`` to slow ingest)."""
    con.execute("ALTER TABLE interactions ADD COLUMN first_received_unix_nano BIGINT")
    con.execute(
        """
        UPDATE interactions SET first_received_unix_nano = s.first
        FROM (SELECT tenant, interaction, min(received_unix_nano) AS first FROM spans GROUP BY ALL) s
        WHERE interactions.tenant = s.tenant AND interactions.interaction = s.interaction
        """
    )
    con.execute("ALTER TABLE journeys ADD COLUMN first_received_unix_nano BIGINT")
    con.execute(
        """
        UPDATE journeys SET first_received_unix_nano = i.first
        FROM (SELECT tenant, journey_id, min(first_received_unix_nano) AS first FROM interactions GROUP BY ALL) i
        WHERE journeys.tenant = i.tenant AND journeys.journey_id = i.journey_id
        """
    )


def _v8_lookup_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Cheap lookups of one journey among millions (bench/query.py).

    An equality filter on a long random string makes DuckDB decompress every value of the
    column; an integer column compared first narrows the scan to a row or two (``journey_key``),
    and a link's creation time lets zone maps skip links outside the journey's arrival window.
    """
    con.execute("ALTER TABLE journeys ADD COLUMN journey_key BIGINT")
    con.execute(f"UPDATE journeys SET journey_key = {JOURNEY_KEY_SQL}")
    for table in ("correlation_links", "windowed_links"):
        con.execute(f"ALTER TABLE {table} ADD COLUMN linked_unix_nano BIGINT")
        con.execute(
            f"""
            UPDATE {table} SET linked_unix_nano = greatest(x.updated_unix_nano, y.updated_unix_nano)
            FROM interactions x, interactions y
            WHERE x.tenant = {table}.tenant AND x.interaction = {table}.a
              AND y.tenant = {table}.tenant AND y.interaction = {table}.b
            """
        )


def _v9_analysis(con: duckdb.DuckDBPyConnection) -> None:
    """What analysis (``correlator/analysis``) concluded about each journey.

    ``journey_analysis`` is one row per journey: the facts historical analytics aggregate
    (so analytics never reads spans), the summary, and the journey's ``updated_unix_nano`` when
    it was analysed (the analysis worker's watermark). ``journey_insights`` is one row per
    insight, with the journey's start so analytics can bound it by date.
    """
    con.execute(
        """
        CREATE TABLE journey_analysis (
            tenant VARCHAR NOT NULL,
            journey_id VARCHAR NOT NULL,
            journey_key BIGINT,
            start_unix_nano BIGINT NOT NULL,
            end_unix_nano BIGINT NOT NULL,
            updated_unix_nano BIGINT NOT NULL,
            analysed_unix_nano BIGINT NOT NULL,
            recheck_at_unix_nano BIGINT,
            path VARCHAR[] NOT NULL,
            leg_count INTEGER NOT NULL,
            outcome VARCHAR,
            has_ai BOOLEAN NOT NULL,
            has_agent BOOLEAN NOT NULL,
            contained BOOLEAN NOT NULL,
            dropped BOOLEAN NOT NULL,
            queues VARCHAR[] NOT NULL,
            agents VARCHAR[] NOT NULL,
            flows VARCHAR[] NOT NULL,
            queue_wait_ms DOUBLE,
            handoffs STRUCT(from_platform VARCHAR, to_platform VARCHAR, latency_ms DOUBLE)[] NOT NULL,
            insights VARCHAR[] NOT NULL,
            summary VARCHAR,
            summary_source VARCHAR,
            fingerprint VARCHAR
        )
        """
    )
    con.execute(
        """
        CREATE TABLE journey_insights (
            tenant VARCHAR NOT NULL,
            journey_id VARCHAR NOT NULL,
            journey_key BIGINT,
            start_unix_nano BIGINT NOT NULL,
            rule VARCHAR NOT NULL,
            category VARCHAR NOT NULL,
            severity VARCHAR NOT NULL,
            span_id VARCHAR NOT NULL,
            value DOUBLE,
            threshold DOUBLE,
            unit VARCHAR,
            explanation VARCHAR NOT NULL,
            platform VARCHAR,
            queue VARCHAR,
            agent VARCHAR,
            flow VARCHAR
        )
        """
    )


def _v10_correlation_indexes(con: duckdb.DuckDBPyConnection) -> None:
    """Indexes that make correlating a batch cost what the batch holds, not what the tables hold.

    Without them every correlator statement scanned the whole table it joined: a commit of 3
    spans took 0.5 s against 3 M stored spans. DuckDB uses an index for a join only when the
    join is one equality on the indexed column (it turns the small side into an IN filter), so
    each key gets a 64-bit hash column, indexed, that the correlator joins on first; the real
    keys are compared on the few rows found. ``journey_key`` gets one for reads by ID too.
    """
    for table, columns in (("interactions", ("interaction",)), ("correlation_tokens", ("token",)),
                           ("correlation_links", ("a", "b")), ("windowed_links", ("a", "b"))):  # fmt: skip
        # DuckDB cannot index a column updated in the same transaction: copy the table instead.
        definition = _definition(con, table)
        hashes = ", ".join(lookup_hash_sql(column) for column in columns)
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_v9")
        con.execute(f"CREATE TABLE {table} ({definition}, {', '.join(f'{c}_hash UBIGINT NOT NULL' for c in columns)})")
        # Interactions' own tokens are no longer stored (correlator/state.py: _link_tokens).
        only = " WHERE method <> 'self'" if table == "correlation_tokens" else ""
        con.execute(f"INSERT INTO {table} SELECT *, {hashes} FROM {table}_v9{only}")
        con.execute(f"DROP TABLE {table}_v9")
        for column in columns:
            con.execute(f"CREATE INDEX {table}_by_{column} ON {table} ({column}_hash)")
    # A journey's members, so the correlator finds them by the indexes above (an index on
    # interactions.journey_id would cost more: it changes as journeys merge).
    con.execute("ALTER TABLE journeys ADD COLUMN interactions VARCHAR[]")
    con.execute("CREATE INDEX journeys_by_key ON journeys (journey_key)")
    con.execute(
        """
        UPDATE journeys SET interactions = m.interactions
        FROM (SELECT tenant, journey_id, list(interaction ORDER BY start_unix_nano, platform, interaction_id) AS interactions
              FROM interactions GROUP BY ALL) m
        WHERE journeys.tenant = m.tenant AND journeys.journey_id = m.journey_id
        """
    )


LOOKUP_INDEXES = (
    "interactions_by_interaction", "correlation_tokens_by_token", "correlation_links_by_a", "correlation_links_by_b",
    "windowed_links_by_a", "windowed_links_by_b", "journeys_by_key",
)  # fmt: skip
"""What ``_v10_correlation_indexes`` created and ``_v11_no_lookup_indexes`` dropped."""


def _v11_no_lookup_indexes(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the lookup-hash indexes of v10; the hash columns stay and lookups scan them.

    An ART index takes memory in proportion to what it holds, and DuckDB keeps every node a
    transaction changed in memory until the next checkpoint. These hashes are random, so a
    commit of a few thousand keys changes nodes all over each index: under steady ingest the
    indexes came to live in memory whole, ~30 bytes per stored span, inside ``memory-limit``.
    With the default 384 MB the writer failed every commit past ~9 M stored spans (out of
    memory) and retried forever; with 48 MB past 300 k. Without them, a lookup scans one
    integer column (DuckDB pushes up to 50 keys into the scan as a filter), which costs a
    3-span commit ~1.5 ms more per million stored spans (bench/writer.py: 43 against 52 ms at
    6 M spans), saves ~55 bytes per span on disk, and keeps memory bounded.
    """
    for index in LOOKUP_INDEXES:
        con.execute(f"DROP INDEX IF EXISTS {index}")


def _v12_journey_assembly(con: duckdb.DuckDBPyConnection) -> None:
    """What a journey read needs of its interactions and links, on the journey's row.

    A read found them by their lookup hashes; without v10's indexes that scans the hash columns
    of ``interactions`` and both link tables (a journey read in-process on 10 M spans: 33 ms at
    the median against 16 ms with the indexes). The correlator already rewrites a journey's row
    whenever one of its interactions or links changes (``correlator/state.py``), so the row
    carries them, as one compact JSON document (``correlator.state.ASSEMBLY_SQL``): DuckDB reads
    one text column of a scattered row far faster than a list of structs' dozen child columns (20
    journeys' rows: 6–9 against 22–56 ms).

    The only migration that commits as it goes: one transaction of every journey's document
    outgrew a 384 MB pool on 10 M spans. It commits per ~50,000 journeys and, interrupted,
    starts again where it stopped (rows without a document).
    """
    con.execute("ALTER TABLE journeys ADD COLUMN IF NOT EXISTS assembly VARCHAR")
    (journeys,) = con.execute("SELECT count(*) FROM journeys").fetchone() or (0,)
    parts = max(1, journeys // 50_000)
    link_columns = "tenant, a, b, method, confidence, evidence"
    links = journey_links_sql(
        "interactions WHERE hash(journey_id) % $parts = $part",
        f"SELECT {link_columns} FROM correlation_links UNION ALL SELECT {link_columns} FROM windowed_links",
    )
    for part in range(parts):
        con.execute("COMMIT")
        con.execute("BEGIN")
        con.execute(
            f"""
            UPDATE journeys SET assembly = {ASSEMBLY_SQL.format(members="m.facts", links="l.links")}
            FROM (SELECT tenant, journey_id, {MEMBERS_SQL} AS facts FROM interactions
                  WHERE hash(journey_id) % $parts = $part GROUP BY ALL) m
            LEFT JOIN ({links}) l USING (tenant, journey_id)
            WHERE journeys.tenant = m.tenant AND journeys.journey_id = m.journey_id AND journeys.assembly IS NULL
            """,
            {"parts": parts, "part": part},
        )


def _v13_insight_details(con: duckdb.DuckDBPyConnection) -> None:
    """Each journey's insights on its ``journey_analysis`` row too (``insight_details``).

    A read of a journey took its analysis row and its ``journey_insights`` rows, each a scan of
    a table's keys; now it takes the one row (``storage/reads.py``: ``_journey_rows``).
    ``journey_insights`` stays, one row per insight, for search and analytics by rule. A journey
    without insights keeps NULL, as the analysis worker writes it.

    Commits per ~50,000 analysed journeys, as v12 does: in one transaction, 500 k journeys with
    833 k insights outgrew a 384 MB pool. Interrupted, it starts again and skips the rows done.
    """
    con.execute("ALTER TABLE journey_analysis ADD COLUMN IF NOT EXISTS insight_details VARCHAR")
    (journeys,) = con.execute("SELECT count(*) FROM journey_analysis").fetchone() or (0,)
    parts = max(1, journeys // 50_000)
    for part in range(parts):
        con.execute("COMMIT")
        con.execute("BEGIN")
        con.execute(
            f"""
            UPDATE journey_analysis SET insight_details = d.details
            FROM (SELECT tenant, journey_id, {INSIGHT_DETAILS_SQL} AS details FROM journey_insights
                  WHERE hash(journey_id) % $parts = $part GROUP BY tenant, journey_id) d
            WHERE journey_analysis.tenant = d.tenant AND journey_analysis.journey_id = d.journey_id
              AND journey_analysis.insight_details IS NULL
            """,
            {"parts": parts, "part": part},
        )


MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (
    _v1_spans, _v2_journeys, _v3_correlation, _v4_unindexed_correlation, _v5_outcomes, _v6_record_versions,
    _v7_receive_windows, _v8_lookup_keys, _v9_analysis, _v10_correlation_indexes, _v11_no_lookup_indexes,
    _v12_journey_assembly, _v13_insight_details,
)  # fmt: skip
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The file's schema version (0: empty)."""
    ((tables,),) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchall()
    if not tables:
        return 0
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else 1


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
