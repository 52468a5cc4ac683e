"""The persisted correlation state and the one function that advances it: ``correlate``.

Storage calls ``correlate`` inside the transaction that inserts a batch (registered as the
``incoming`` view, in the ``spans`` table's layout with each span's ``interaction`` key), so correlation and the spans it labels commit together, and replaying the
write-ahead log after a crash repeats it exactly.

State (tables created by storage's schema migration 3):

- ``interactions``: one row per platform interaction with the facts correlation needs (start,
  end, handoff time, phone hashes, smallest journey token) and its current ``journey_id``.
- ``correlation_tokens``: every token each interaction has shown (``keys.py``).
- ``correlation_links``: one row per linked pair (``a < b``), the strongest method and its evidence.
- ``journey_aliases``: journey IDs that were merged away, and the journey that absorbed them.

Order independence: token links only ever get added; the windowed links (``ani_time`` and user
rules with a window) of every interaction a batch touches are recomputed from its current
facts. The journeys of touched interactions are then recomputed as connected components of the
link graph, each named by ``_name_journeys``; everything that depends on arrival order is
recomputed, so the final state equals the one computed from all data at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa

from journeytrace import semconv
from journeytrace.correlator import keys, outcome
from journeytrace.correlator.config import CorrelatorConfig
from journeytrace.ids import JOURNEY_KEY_SQL, is_trace_id_like_sql, journey_key_sql, journey_trace_id_sql, lookup_hash_sql

# Attributes that storage keeps in their own columns rather than in the attributes JSON.
_COLUMNS = {
    semconv.CX_PLATFORM_INTERACTION_ID: "interaction_id",
    semconv.CX_SPAN_TYPE: "span_type",
    semconv.CX_QUEUE_NAME: "queue",
    semconv.CX_AGENT_ID: "agent",
    semconv.CX_PLATFORM_NAME: "platform",
    semconv.SERVICE_NAME: "service_name",
}



_SELF_PREFIX = "interaction:"
"""An interaction's own token is this and its key; foreign and parent IDs name others the same way."""


def _json_path(attribute: str) -> str:
    return f'$."{attribute}"'


def _stored(
    cursor: duckdb.DuckDBPyConnection,
    name: str,
    table: str,
    column: str,
    keys_sql: str,
    *,
    columns: str,
    key_sql: Callable[[str], str] = lookup_hash_sql,
) -> int:
    """Temp table ``name``: ``columns`` of the rows of ``table`` (and their ``rowid`` as ``rid``)
    whose lookup-hash ``column`` equals ``key_sql`` of a value ``keys_sql`` selects; returns how
    many (callers skip statements about none: each costs milliseconds even with nothing to do).
    Rows found are scattered, so each column fetched costs: ask for the ones needed.

    The join is one equality on the hash column, so DuckDB pushes the keys into the table's scan
    as a filter (an IN list up to 50 keys, a Bloom filter past that); callers compare the real
    keys on the few rows found. Adding any other condition to this join would make it read the
    other columns for every row, and so would an ``= ANY(list)`` filter, which is tested row by
    row. (Schema v10 indexed the hash columns; v11 dropped the indexes, whose memory grew with
    the data: ``storage/schema.py``.)
    """
    return _count(cursor.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS {_rows_by_hash(table, column, keys_sql, columns, key_sql)}"
    ))


def _hashed(expression: str) -> str:
    """``key_sql`` for keys already hashed (``batch_facts.interaction_hash``, ``batch_tokens.token_hash``):
    md5 costs ~0.5 µs a key, and a batch's keys were hashed two to four times over."""
    return expression


def _of_t(columns: str) -> str:
    """``columns`` (comma-separated) qualified by the table alias ``t``."""
    return ", ".join(f"t.{c}" for c in columns.split(", "))


def _rows_by_hash(table: str, column: str, keys_sql: str, columns: str, key_sql: Callable[[str], str]) -> str:
    """The query of ``_stored`` and the correlator's other lookups: ``rid`` and ``columns`` of the rows of
    ``table`` whose lookup-hash ``column`` equals ``key_sql`` of a value ``keys_sql`` selects.

    In two steps: the rowids of the rows whose hash matches, then those rows by rowid. In one, the
    scan fetched the columns of every row that passed the Bloom filter, whose false positives
    (~0.4 %) reach nearly every vector of a big table: the batch's tokens against 750 k stored
    took 10 ms that way, 3 ms in two steps (none matching; with 2,000 scattered matches both
    took 12-15 ms)."""
    return f"""
        SELECT t.rowid AS rid, {_of_t(columns)}
        FROM (SELECT t.rowid AS r
              FROM (SELECT DISTINCT {key_sql('k')} AS h FROM ({keys_sql}) AS q(k)) AS keys
              JOIN {table} t ON t.{column} = keys.h) AS hits
        JOIN {table} t ON t.rowid = hits.r
        """


def _extract_batch(cursor: duckdb.DuckDBPyConnection, config: CorrelatorConfig) -> None:
    """Temp tables ``batch_facts`` (one row per interaction) and ``batch_tokens`` from ``incoming``."""
    extracted = [s.attribute for s in keys.ATTRIBUTE_TOKENS] + [
        semconv.CX_TRACEPARENT, semconv.CX_PEER_PLATFORM_NAME, semconv.CX_PEER_INTERACTION_ID,
        semconv.CX_TELEPHONY_ANI_HASH, semconv.CX_TELEPHONY_DNIS_HASH, semconv.CX_TRANSFER_TARGET_HASH,
        *outcome.OUTCOME_ATTRIBUTES,
    ]  # fmt: skip
    for rule in config.rules:
        for side in (rule.source, rule.target):
            if side.attribute not in _COLUMNS and side.attribute not in extracted:
                extracted.append(side.attribute)
    slot = {attribute: i + 1 for i, attribute in enumerate(extracted)}  # DuckDB lists are 1-based

    def value(attribute: str) -> str:
        return _COLUMNS.get(attribute) or f"v[{slot[attribute]}]"

    derived = outcome.derived_outcome_sql({a: value(a) for a in outcome.OUTCOME_ATTRIBUTES})
    cursor.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE batch_spans AS
        SELECT *, {derived} AS derived_outcome FROM (
            SELECT tenant, interaction, coalesce(platform, 'otel') AS platform,
                   coalesce(interaction_id, trace_id) AS interaction_id, trace_id, span_type, queue, agent,
                   service_name, start_unix_nano, end_unix_nano, status_code, customer_phone_hash, received_unix_nano,
                   json_extract_string(attributes, ?::VARCHAR[]) AS v
            FROM incoming
        )
        """,
        [[_json_path(a) for a in extracted]],
    )
    reported = value(semconv.CX_JOURNEY_OUTCOME)
    ani, dnis, target = (value(a) for a in (
        semconv.CX_TELEPHONY_ANI_HASH, semconv.CX_TELEPHONY_DNIS_HASH, semconv.CX_TRANSFER_TARGET_HASH))  # fmt: skip
    cursor.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE batch_facts AS
        SELECT tenant, interaction, any_value(platform) AS platform, any_value(interaction_id) AS interaction_id,
               min(start_unix_nano) AS start_unix_nano, max(end_unix_nano) AS end_unix_nano,
               max(end_unix_nano) FILTER (WHERE {target} IS NOT NULL) AS handoff_unix_nano,
               min(coalesce(customer_phone_hash, {ani})) AS ani_hash,
               min({dnis}) AS dnis_hash, min({target}) AS target_hash,
               min({value(semconv.CX_JOURNEY_ID)}) AS journey_token,
               list_sort(list_distinct(list(service_name))) AS services,
               coalesce(bool_or(span_type = 'handoff'), false) AS has_handoff_span,
               arg_max({reported}, (end_unix_nano, {outcome.rank_sql(reported)}, {reported}))
                   FILTER (WHERE {reported} IS NOT NULL)
                   AS reported_outcome,
               max(end_unix_nano) FILTER (WHERE {reported} IS NOT NULL) AS reported_outcome_at,
               arg_max(derived_outcome, (end_unix_nano, {outcome.rank_sql("derived_outcome")}, derived_outcome))
                   FILTER (WHERE derived_outcome IS NOT NULL)
                   AS derived_outcome,
               max(end_unix_nano) FILTER (WHERE derived_outcome IS NOT NULL) AS derived_outcome_at,
               min(received_unix_nano) AS first_received_unix_nano,
               {lookup_hash_sql("interaction")} AS interaction_hash
        FROM batch_spans GROUP BY tenant, interaction
        """
    )
    # (token, method, confidence, evidence) per span; deduplicated per interaction below.
    selects = [
        f"SELECT tenant, interaction, '{_SELF_PREFIX}' || interaction, '{keys.SELF_METHOD}', 1.0, "
        f"'interaction ' || interaction FROM batch_spans",
        f"SELECT tenant, interaction, 'trace:' || trace_id, '{keys.TRACE_METHOD}', 1.0, "
        f"'trace_id=' || trace_id FROM batch_spans",
        f"SELECT tenant, interaction, 'trace:' || split_part({value(semconv.CX_TRACEPARENT)}, '-', 2), "
        f"'{keys.TRACE_METHOD}', 1.0, '{semconv.CX_TRACEPARENT}=' || {value(semconv.CX_TRACEPARENT)} "
        f"FROM batch_spans WHERE {value(semconv.CX_TRACEPARENT)} IS NOT NULL",
        f"SELECT tenant, interaction, '{_SELF_PREFIX}' || {value(semconv.CX_PEER_PLATFORM_NAME)} || ':' || "
        f"{value(semconv.CX_PEER_INTERACTION_ID)}, '{keys.FOREIGN_METHOD}', {keys.FOREIGN_CONFIDENCE}, "
        f"'{semconv.CX_PEER_INTERACTION_ID}=' || {value(semconv.CX_PEER_INTERACTION_ID)} FROM batch_spans "
        f"WHERE {value(semconv.CX_PEER_PLATFORM_NAME)} IS NOT NULL AND {value(semconv.CX_PEER_INTERACTION_ID)} IS NOT NULL",
    ]
    for source in keys.ATTRIBUTE_TOKENS:
        prefix = source.prefix.replace("{platform}", "' || platform || '")
        v = value(source.attribute)
        selects.append(
            f"SELECT tenant, interaction, '{prefix}' || {v}, '{source.method}', {source.confidence}, "
            f"'{source.attribute}=' || {v} FROM batch_spans WHERE {v} IS NOT NULL"
        )
    params: list[object] = []
    for rule in config.rules:
        for side in (rule.source, rule.target):
            v = value(side.attribute)
            selects.append(
                f"SELECT tenant, interaction, ? || {v}, ?, ?, ? || {v} "
                f"FROM batch_spans WHERE platform = ? AND {v} IS NOT NULL"
            )
            params += [keys.rule_token_prefix(rule), keys.rule_method(rule), rule.confidence,
                       f"{side.attribute}=", side.platform]  # fmt: skip
    cursor.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE batch_tokens AS
        SELECT tenant, token, interaction, arg_min(method, evidence) AS method, min(confidence) AS confidence,
               min(evidence) AS evidence, {lookup_hash_sql("token")} AS token_hash
        FROM ({' UNION ALL '.join(selects)}) AS t(tenant, interaction, token, method, confidence, evidence)
        GROUP BY tenant, token, interaction
        """,
        params,
    )


def _later_signal(kind: str) -> str:
    """SET clauses keeping the later of the stored and the batch's outcome signal (ties: the more severe, ``outcome.rank_sql``)."""
    value, at = f"{kind}_outcome", f"{kind}_outcome_at"
    later = (f"f.{value} IS NOT NULL AND (interactions.{value} IS NULL OR f.{at} > interactions.{at} "
             f"OR (f.{at} = interactions.{at} AND ({outcome.rank_sql(f'f.{value}')}, f.{value}) "
             f"> ({outcome.rank_sql(f'interactions.{value}')}, interactions.{value})))")  # fmt: skip
    return (f"{value} = CASE WHEN {later} THEN f.{value} ELSE interactions.{value} END, "
            f"{at} = CASE WHEN {later} THEN f.{at} ELSE interactions.{at} END")  # fmt: skip


_PHONE_TIME_FACTS = "ani_hash, dnis_hash, target_hash, start_unix_nano, end_unix_nano, handoff_unix_nano"
"""What the phone/time fallback (``_relink_windowed``) compares, of the batch's stored interactions."""


def _merge_interactions(cursor: duckdb.DuckDBPyConnection, now: int) -> None:
    """Fold the batch's facts into ``interactions``: widen known rows, add new ones (temp table
    ``new_interactions``).

    The table has no primary key (schema v4), so this is an update plus an anti-join insert;
    the correlator is its only writer, which keeps ``(tenant, interaction)`` unique.
    """
    if _stored(cursor, "stored_facts", "interactions", "interaction_hash", "SELECT interaction_hash FROM batch_facts",
               columns=f"tenant, interaction, {_PHONE_TIME_FACTS}", key_sql=_hashed):
        _update_interactions(cursor, now)
    cursor.execute(
        """
        CREATE OR REPLACE TEMP TABLE new_interactions AS
        SELECT f.* FROM batch_facts f ANTI JOIN stored_facts i ON i.tenant = f.tenant AND i.interaction = f.interaction
        """
    )
    cursor.execute(
        f"""
        INSERT INTO interactions
        SELECT f.tenant, f.interaction, f.platform, f.interaction_id, '', f.start_unix_nano, f.end_unix_nano,
               f.handoff_unix_nano, f.ani_hash, f.dnis_hash, f.target_hash, f.journey_token, f.services,
               coalesce(f.has_handoff_span, false), ?, f.reported_outcome, f.reported_outcome_at,
               f.derived_outcome, f.derived_outcome_at, f.first_received_unix_nano, f.interaction_hash
        FROM new_interactions f
        """,
        [now],
    )


def _update_interactions(cursor: duckdb.DuckDBPyConnection, now: int) -> None:
    """Widen the stored rows (``stored_facts``) of the batch's interactions by its facts."""
    cursor.execute(
        f"""
        UPDATE interactions SET
            start_unix_nano = least(interactions.start_unix_nano, f.start_unix_nano),
            end_unix_nano = greatest(interactions.end_unix_nano, f.end_unix_nano),
            handoff_unix_nano = greatest(interactions.handoff_unix_nano, f.handoff_unix_nano),
            ani_hash = least(interactions.ani_hash, f.ani_hash),
            dnis_hash = least(interactions.dnis_hash, f.dnis_hash),
            target_hash = least(interactions.target_hash, f.target_hash),
            journey_token = least(interactions.journey_token, f.journey_token),
            services = list_sort(list_distinct(list_concat(interactions.services, f.services))),
            has_handoff_span = interactions.has_handoff_span OR f.has_handoff_span,
            updated_unix_nano = ?,
            {_later_signal("reported")},
            {_later_signal("derived")},
            first_received_unix_nano = least(interactions.first_received_unix_nano, f.first_received_unix_nano)
        FROM (SELECT s.rid, f.* FROM stored_facts s
              JOIN batch_facts f ON f.tenant = s.tenant AND f.interaction = s.interaction) AS f
        WHERE interactions.rowid = f.rid
        """,
        [now],
    )


def _link_tokens(cursor: duckdb.DuckDBPyConnection, config: CorrelatorConfig, now: int) -> None:
    """Store the batch's tokens and link every pair of interactions that share one."""
    windowed = {keys.rule_method(r): r.window_seconds for r in config.rules if r.window_seconds}
    _stored(cursor, "stored_tokens", "correlation_tokens", "token_hash", "SELECT token_hash FROM batch_tokens",
            columns="tenant, token, interaction, method, confidence, evidence", key_sql=_hashed)
    # Self tokens ("interaction:<key>", a third of all tokens) are not stored: the stored
    # interactions the batch's tokens name (foreign and parent IDs) stand in for theirs.
    if _stored(cursor, "named_interactions", "interactions", "interaction_hash",
               f"SELECT substr(token, {len(_SELF_PREFIX) + 1}) FROM batch_tokens "
               f"WHERE starts_with(token, '{_SELF_PREFIX}') AND method <> '{keys.SELF_METHOD}'",
               columns="tenant, interaction"):
        cursor.execute(
            f"""
            INSERT INTO stored_tokens
            SELECT NULL, tenant, '{_SELF_PREFIX}' || interaction, interaction, '{keys.SELF_METHOD}', 1.0,
                   'interaction ' || interaction
            FROM named_interactions
            """
        )
    cursor.execute(
        """
        CREATE OR REPLACE TEMP TABLE token_pairs AS
        SELECT t.tenant, least(t.interaction, o.interaction) AS a, greatest(t.interaction, o.interaction) AS b,
               CASE WHEN t.method = 'self' THEN o.method WHEN o.method = 'self' THEN t.method
                    WHEN t.confidence <= o.confidence THEN t.method ELSE o.method END AS method,
               least(t.confidence, o.confidence) AS confidence,
               CASE WHEN t.interaction < o.interaction THEN t.evidence || ' = ' || o.evidence
                    ELSE o.evidence || ' = ' || t.evidence END AS evidence
        FROM batch_tokens t JOIN stored_tokens o
          ON o.tenant = t.tenant AND o.token = t.token AND o.interaction <> t.interaction
        UNION ALL
        SELECT t.tenant, least(t.interaction, o.interaction), greatest(t.interaction, o.interaction),
               CASE WHEN t.method = 'self' THEN o.method WHEN o.method = 'self' THEN t.method
                    WHEN t.confidence <= o.confidence THEN t.method ELSE o.method END,
               least(t.confidence, o.confidence),
               CASE WHEN t.interaction < o.interaction THEN t.evidence || ' = ' || o.evidence
                    ELSE o.evidence || ' = ' || t.evidence END
        FROM batch_tokens t JOIN batch_tokens o
          ON o.tenant = t.tenant AND o.token = t.token AND o.interaction > t.interaction
        """
    )
    cursor.execute(
        f"""
        INSERT INTO correlation_tokens
        SELECT t.tenant, t.token, t.interaction, t.method, t.confidence, t.evidence, t.token_hash
        FROM batch_tokens t ANTI JOIN stored_tokens o
          ON o.tenant = t.tenant AND o.token = t.token AND o.interaction = t.interaction
        WHERE t.method <> '{keys.SELF_METHOD}'
        """
    )
    if windowed:
        # Windowed rule links are not permanent: _relink_windowed decides them from current facts.
        cursor.execute("DELETE FROM token_pairs WHERE method IN (SELECT unnest(?::VARCHAR[]))", [list(windowed)])
    _insert_links(cursor, "token_pairs", now)


def _insert_links(cursor: duckdb.DuckDBPyConnection, source: str, now: int) -> None:
    """Keep one link per pair: the most confident method (ties by name), whatever came first.

    ``linked_unix_nano`` (when the link was made) lies within the arrival window of the journey
    that holds both ends, which lets reads skip other links by zone map."""
    cursor.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE best_pairs AS
        SELECT tenant, a, b, arg_max(method, (confidence, method)) AS method, max(confidence) AS confidence,
               arg_max(evidence, (confidence, method, evidence)) AS evidence, ?::BIGINT AS linked_unix_nano
        FROM {source} WHERE a <> b GROUP BY tenant, a, b
        """,
        [now],
    )
    # A stored link joins two stored interactions: pairs with an end new in this batch (a late
    # call joining a stored journey, the usual case) cannot have one, and are not looked up.
    if _stored(cursor, "stored_links", "correlation_links", "a_hash",
               """SELECT a FROM best_pairs p
                  ANTI JOIN new_interactions n ON n.tenant = p.tenant AND n.interaction = p.a
                  ANTI JOIN new_interactions m ON m.tenant = p.tenant AND m.interaction = p.b""",
               columns="tenant, a, b, method, confidence, evidence"):
        cursor.execute(
            """
            UPDATE correlation_links SET method = p.method, confidence = p.confidence, evidence = p.evidence
            FROM (SELECT l.rid, p.* FROM stored_links l
                  JOIN best_pairs p ON l.tenant = p.tenant AND l.a = p.a AND l.b = p.b
                  WHERE (p.confidence, p.method, p.evidence) > (l.confidence, l.method, l.evidence)) AS p
            WHERE correlation_links.rowid = p.rid
            """
        )
    cursor.execute(
        f"""
        INSERT INTO correlation_links
        SELECT p.*, {lookup_hash_sql("p.a")}, {lookup_hash_sql("p.b")}
        FROM best_pairs p ANTI JOIN stored_links l ON l.tenant = p.tenant AND l.a = p.a AND l.b = p.b
        """
    )


def _relink_windowed(cursor: duckdb.DuckDBPyConnection, config: CorrelatorConfig, now: int) -> None:
    """Recompute the time-windowed links (ani_time, windowed rules) of every touched interaction."""
    windowed_rules = [r for r in config.rules if r.window_seconds]
    # A windowed link is kept in a separate table so that recomputing it cannot erase a stronger
    # permanent link between the same pair.
    # Only interactions stored before this batch (stored_facts) can have stored windowed links.
    for end in ("a", "b"):
        if _stored(cursor, "stale_links", "windowed_links", f"{end}_hash", "SELECT interaction FROM stored_facts",
                   columns=f"tenant, {end}"):
            cursor.execute(
                f"""
                DELETE FROM windowed_links WHERE rowid IN (
                    SELECT w.rid FROM stale_links w JOIN batch_facts f ON w.tenant = f.tenant AND w.{end} = f.interaction)
                """
            )
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE new_windowed AS SELECT tenant, a, b, method, confidence, evidence "
        "FROM windowed_links LIMIT 0"
    )
    before = int(config.window_before_seconds * 1e9)
    after = int(config.window_after_seconds * 1e9)
    found = 0  # rows in new_windowed
    if config.phone_time_matching:
        # The batch's interactions as _merge_interactions left them, widened as its UPDATE widens
        # them (least and greatest skip a NULL, as for a row new in this batch): looking them up
        # again would scan the hash column again, and the rowids stored_facts found are stale
        # (the UPDATE of a list column moves a row).
        if _count(cursor.execute(
            """
            CREATE OR REPLACE TEMP TABLE phone_touched AS SELECT * FROM (
                SELECT f.tenant, f.interaction, least(s.ani_hash, f.ani_hash) AS ani_hash,
                       least(s.dnis_hash, f.dnis_hash) AS dnis_hash, least(s.target_hash, f.target_hash) AS target_hash,
                       least(s.start_unix_nano, f.start_unix_nano) AS start_unix_nano,
                       greatest(s.end_unix_nano, f.end_unix_nano) AS end_unix_nano,
                       greatest(s.handoff_unix_nano, f.handoff_unix_nano) AS handoff_unix_nano
                FROM batch_facts f LEFT JOIN stored_facts s ON s.tenant = f.tenant AND s.interaction = f.interaction)
            WHERE ani_hash IS NOT NULL AND (target_hash IS NOT NULL OR dnis_hash IS NOT NULL)
            """
        )):
            cursor.execute(
                """
                CREATE OR REPLACE TEMP TABLE phone_peers AS
                SELECT y.* FROM (SELECT DISTINCT ani_hash FROM phone_touched) AS k JOIN interactions y ON y.ani_hash = k.ani_hash
                """
            )
            # Each side of the pair in turn is one of the batch's interactions, so the join starts
            # from the batch and never pairs up the whole table.
            for touched, other, touched_key, other_key in (("x", "y", "target_hash", "dnis_hash"),
                                                           ("y", "x", "dnis_hash", "target_hash")):  # fmt: skip
                found += _count(cursor.execute(
                    f"""
                    INSERT INTO new_windowed
                    SELECT DISTINCT x.tenant, least(x.interaction, y.interaction), greatest(x.interaction, y.interaction),
                           '{keys.ANI_TIME_METHOD}', {keys.ANI_TIME_CONFIDENCE},
                           'ani hash ' || x.ani_hash || ', transfer target hash = dialled number hash ' || x.target_hash
                    FROM (SELECT * FROM phone_touched WHERE {touched_key} IS NOT NULL) AS {touched}
                    JOIN phone_peers {other}
                      ON {other}.tenant = {touched}.tenant AND {other}.ani_hash = {touched}.ani_hash
                     AND {other}.{other_key} = {touched}.{touched_key} AND {other}.interaction <> {touched}.interaction
                    WHERE y.start_unix_nano BETWEEN coalesce(x.handoff_unix_nano, x.end_unix_nano) - ?
                                                AND coalesce(x.handoff_unix_nano, x.end_unix_nano) + ?
                    """,
                    [before, after],
                ))
    for rule in windowed_rules:
        window = int((rule.window_seconds or 0) * 1e9)
        found += _count(cursor.execute(
            """
            INSERT INTO new_windowed
            SELECT DISTINCT t.tenant, least(t.interaction, o.interaction), greatest(t.interaction, o.interaction),
                   t.method, least(t.confidence, o.confidence),
                   CASE WHEN t.interaction < o.interaction THEN t.evidence || ' = ' || o.evidence
                        ELSE o.evidence || ' = ' || t.evidence END
            FROM correlation_tokens t
            JOIN correlation_tokens o ON o.tenant = t.tenant AND o.token = t.token AND o.interaction <> t.interaction
            JOIN interactions it ON it.tenant = t.tenant AND it.interaction = t.interaction
            JOIN interactions io ON io.tenant = o.tenant AND io.interaction = o.interaction
            WHERE t.method = ? AND abs(it.start_unix_nano - io.start_unix_nano) <= ?
              AND (t.interaction IN (SELECT interaction FROM batch_facts WHERE tenant = t.tenant)
                OR o.interaction IN (SELECT interaction FROM batch_facts WHERE tenant = o.tenant))
            """,
            [keys.rule_method(rule), window],
        ))
    if found:
        # One row per (pair, method), as if keyed: the two directions above can find the same pair.
        cursor.execute(
            f"""
            INSERT INTO windowed_links
            SELECT tenant, a, b, method, min(confidence), min(evidence), ?, {lookup_hash_sql("a")}, {lookup_hash_sql("b")}
            FROM new_windowed GROUP BY tenant, a, b, method
            """,
            [now],
        )


def _count(result: duckdb.DuckDBPyConnection) -> int:
    """Rows an INSERT or CREATE TABLE AS wrote (DuckDB answers it as a one-row result)."""
    rows = result.fetchall()  # not fetchone: DuckDB holds the cursor until a result is read to its end
    return int(rows[0][0]) if rows else 0


UNCOMMITTED_ROWIDS = 36_028_797_018_960_000
"""DuckDB's ``MAX_ROW_ID``: rows a transaction wrote have rowids from here until it commits, and
committed rows below it, so ``rowid >= UNCOMMITTED_ROWIDS`` reads only the transaction's own rows
(its zone maps skip every committed row group). ``tests/test_correlator.py`` checks it."""


MEMBER_ORDER = "start_unix_nano, platform, interaction_id"
"""How a journey's members are ordered (``journeys.interactions`` too)."""
MEMBERS_SQL = f"""list(json_array(platform, interaction_id, start_unix_nano, end_unix_nano, handoff_unix_nano,
                   has_handoff_span) ORDER BY {MEMBER_ORDER})"""
"""A journey's members in ``journeys.assembly``: ``assembly.InteractionRow`` fields but the key
(``ids.interaction_key`` of the first two), from its rows of ``interactions``."""
LINKS_SQL = "list(json_array(a_index, b_index, method, confidence, evidence) ORDER BY a, b, method)"
"""A journey's links in ``journeys.assembly``: ``assembly.Link`` fields with each end given by its
position in the members, from link rows with ``a_index`` and ``b_index``, both ends in the journey."""
ASSEMBLY_SQL = "to_json({{'members': {members}, 'links': coalesce({links}, [])}})::VARCHAR"
"""``journeys.assembly`` (schema v12): what assembling the journey's trace needs, as compact JSON
(a tenth of what a document with the keys spelled out takes)."""


def journey_links_sql(members: str, links: str) -> str:
    """SQL of each journey's ``LINKS_SQL`` (columns ``tenant, journey_id, links``): ``members``
    selects its interaction rows (``tenant, interaction, journey_id`` and ``MEMBER_ORDER``'s
    columns), ``links`` its link rows (``tenant, a, b, method, confidence, evidence``); a link
    counts when both ends are members of one journey. The correlator and the v12 migration
    (``storage/schema.py``) build the same documents with it."""
    return f"""
        WITH placed AS (
            SELECT tenant, interaction, journey_id,
                   row_number() OVER (PARTITION BY tenant, journey_id ORDER BY {MEMBER_ORDER}) - 1 AS position
            FROM {members})
        SELECT tenant, journey_id, {LINKS_SQL} AS links
        FROM (SELECT l.*, m.journey_id, m.position AS a_index, n.position AS b_index
              FROM ({links}) l
              JOIN placed m ON m.tenant = l.tenant AND m.interaction = l.a
              JOIN placed n ON n.tenant = l.tenant AND n.interaction = l.b AND n.journey_id = m.journey_id)
        GROUP BY ALL"""


_HOOD_COLUMNS = "tenant, interaction, platform, interaction_id, start_unix_nano, journey_token, journey_id, first_received_unix_nano"
"""What naming and relabelling a journey's members needs, of their rows in ``interactions``."""

_LINK_TABLES = ("correlation_links", "windowed_links")


def _neighbourhood(cursor: duckdb.DuckDBPyConnection) -> None:
    """Temp table ``hood`` (``rid`` and ``_HOOD_COLUMNS``): the interactions this batch touched
    and every member of a journey one of them belonged to; ``hood_links`` (``link_table, rid,
    tenant, a, b``): the stored links among them.

    After every commit each journey is exactly one connected component of the link graph, so
    the links of a journey's members lead only to members of that journey or to interactions
    this batch touched: whole old journeys are the only nodes that can be regrouped, and one
    round of lookups by hash finds them and their links (a journey that splits because a
    windowed link went is renamed as a whole). Should a link lead outside (a state written
    by an older version), the next round takes that interaction's journey in too.

    All in SQL, none of it fetched: the rows are thousands a commit, and turning them into
    Python objects held the GIL that every read waits on (BENCHMARKS.md, nineteenth session).
    """
    # What can regroup: the batch's interactions and both ends of every link it made.
    cursor.execute(
        """
        CREATE OR REPLACE TEMP TABLE frontier AS
        SELECT tenant, interaction FROM batch_facts
        UNION SELECT tenant, a FROM best_pairs UNION SELECT tenant, b FROM best_pairs
        UNION SELECT tenant, a FROM new_windowed UNION SELECT tenant, b FROM new_windowed
        """
    )
    cursor.execute(f"CREATE OR REPLACE TEMP TABLE hood AS SELECT NULL::BIGINT AS rid, {_HOOD_COLUMNS} FROM interactions LIMIT 0")
    cursor.execute("CREATE OR REPLACE TEMP TABLE hood_links (link_table VARCHAR, rid BIGINT, tenant VARCHAR, a VARCHAR, b VARCHAR)")
    cursor.execute("CREATE OR REPLACE TEMP TABLE asked AS SELECT tenant, interaction FROM frontier LIMIT 0")
    while True:
        cursor.execute("INSERT INTO asked SELECT * FROM frontier")
        # The frontier's rows, then the other members of the journeys they belonged to (a journey
        # with a member in ``hood`` already had all of its members taken in).
        cursor.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE found AS
            SELECT t.* FROM ({_rows_by_hash("interactions", "interaction_hash", "SELECT interaction FROM frontier",
                                            _HOOD_COLUMNS, lookup_hash_sql)}) AS t
            SEMI JOIN frontier f ON f.tenant = t.tenant AND f.interaction = t.interaction
            ANTI JOIN hood h ON h.tenant = t.tenant AND h.interaction = t.interaction
            """
        )  # fmt: skip
        if _count(cursor.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE old_members AS
            SELECT DISTINCT tenant, unnest(interactions) AS interaction
            FROM ({_rows_by_hash("journeys", "journey_key", "SELECT journey_id FROM found WHERE journey_id <> ''",
                                 "tenant, journey_id, interactions", journey_key_sql)}) AS j
            SEMI JOIN found f ON f.tenant = j.tenant AND f.journey_id = j.journey_id
            ANTI JOIN hood h ON h.tenant = j.tenant AND h.journey_id = j.journey_id
            """
        )):  # fmt: skip
            cursor.execute(
                f"""
                INSERT INTO found
                SELECT t.* FROM ({_rows_by_hash("interactions", "interaction_hash", "SELECT interaction FROM old_members",
                                                _HOOD_COLUMNS, lookup_hash_sql)}) AS t
                SEMI JOIN old_members m ON m.tenant = t.tenant AND m.interaction = t.interaction
                ANTI JOIN found f ON f.tenant = t.tenant AND f.interaction = t.interaction
                ANTI JOIN hood h ON h.tenant = t.tenant AND h.interaction = t.interaction
                """
            )  # fmt: skip
        cursor.execute("INSERT INTO hood SELECT * FROM found")
        # The stored links of those that had a journey (a new interaction has none), one lookup
        # per link end and table: an OR of the two could not filter inside the scan.
        known = "SELECT interaction FROM found WHERE journey_id <> ''"
        lookups = [
            f"""SELECT '{table}', t.rid, t.tenant, t.a, t.b
                FROM ({_rows_by_hash(table, f"{end}_hash", known, "tenant, a, b", lookup_hash_sql)}) AS t
                SEMI JOIN found f ON f.tenant = t.tenant AND f.interaction = t.{end} AND f.journey_id <> ''"""
            for table in _LINK_TABLES for end in ("a", "b")
        ]  # fmt: skip
        cursor.execute(f"INSERT INTO hood_links {' UNION ALL '.join(lookups)}")
        if not _count(cursor.execute(
            """
            CREATE OR REPLACE TEMP TABLE frontier AS
            SELECT DISTINCT tenant, interaction FROM (
                SELECT tenant, a AS interaction FROM hood_links UNION ALL SELECT tenant, b FROM hood_links) AS e
            ANTI JOIN hood h USING (tenant, interaction)
            ANTI JOIN asked USING (tenant, interaction)
            """
        )):
            return


EDGES_SQL = """
    WITH ends AS MATERIALIZED (
        SELECT l.tenant, m.idx AS a, l.b
        FROM (SELECT tenant, a, b FROM hood_links UNION SELECT tenant, a, b FROM best_pairs
              UNION SELECT tenant, a, b FROM new_windowed) AS l
        JOIN hood m ON m.tenant = l.tenant AND m.interaction = l.a)
    SELECT e.a, n.idx AS b FROM ends e JOIN hood n ON n.tenant = e.tenant AND n.interaction = e.b
    """
"""The links among ``hood``'s rows as pairs of ``idx``. One end at a time, the first
materialized: joined in one go, DuckDB derived ``m.tenant = n.tenant`` and joined ``hood`` with
itself on the tenant first, every row with every row: a 200 k-span batch's 30 k rows took 34 s
where this takes ~10 ms (``bench/correlate_statements.py --preload 200000 --commit 200000``).
DuckDB chose that plan from the statistics of such a batch; smaller synthetic ones did not
reproduce it, so a benchmark catches it, not a test."""


def _components(cursor: duckdb.DuckDBPyConnection) -> None:
    """Temp table ``components`` (``idx, root``): for each row of ``hood`` (numbered by ``idx``), the
    smallest ``idx`` in its connected component of the link graph.

    Minimum-label propagation with pointer jumping, on NumPy arrays: each round gives every node
    the smallest label among its own and its neighbours', then its label's label, until nothing
    changes (a few rounds: journeys are a handful of interactions). Compiled loops over arrays,
    where a union-find in Python held the GIL for a step per node."""
    nodes = _count(cursor.execute("CREATE OR REPLACE TEMP TABLE hood AS SELECT row_number() OVER () - 1 AS idx, * FROM hood"))
    edges = cursor.execute(EDGES_SQL).fetchnumpy()
    a = np.concatenate([edges["a"], edges["b"]]).astype(np.int64)
    b = np.concatenate([edges["b"], edges["a"]]).astype(np.int64)
    labels = np.arange(nodes, dtype=np.int64)
    while True:
        step = labels.copy()
        np.minimum.at(step, a, labels[b])
        step = step[step]
        if np.array_equal(step, labels):
            break
        labels = step
    cursor.register("component_roots", pa.table({"idx": pa.array(np.arange(nodes, dtype=np.int64)), "root": pa.array(labels)}))
    cursor.execute("CREATE OR REPLACE TEMP TABLE components AS SELECT * FROM component_roots")
    cursor.unregister("component_roots")


def correlate(cursor: duckdb.DuckDBPyConnection, config: CorrelatorConfig) -> pa.Table:
    """Fold the ``incoming`` spans into the correlation state; return the journey of each of the
    batch's interactions (and of the others it regrouped): ``tenant, interaction, journey_id``.

    Stored spans and journey records of journeys that merged or split are rewritten here, and
    merged-away IDs are recorded as aliases.
    """
    now = time.time_ns()
    _extract_batch(cursor, config)
    _merge_interactions(cursor, now)
    _link_tokens(cursor, config, now)
    _relink_windowed(cursor, config, now)
    _neighbourhood(cursor)
    _components(cursor)
    members = _name_journeys(cursor)
    _relabel(cursor)
    _rewrite_journeys(cursor, members)
    return cursor.sql("SELECT tenant, interaction, journey_id FROM regrouped").to_arrow_table()


def _name_journeys(cursor: duckdb.DuckDBPyConnection) -> int:
    """Temp table ``regrouped`` (returns its size): each row of ``hood`` with its journey now (``journey_id``) and
    before this batch (``before``; '' for an interaction new in it).

    The rule, the same for any arrival order: the smallest explicit journey token wins; else the
    earliest interaction (ties broken by platform and ID) names it: an interaction ID that is a
    trace ID or a UUID is used as is (so a plain OTel trace keeps its trace ID), any other is
    hashed with its platform (``ids.journey_trace_id`` of its key).
    """
    earliest = "(h.start_unix_nano, h.platform, h.interaction_id)"
    return _count(cursor.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE regrouped AS
        SELECT h.rid, h.tenant, h.interaction, n.journey_id, h.journey_id AS before, h.first_received_unix_nano
        FROM hood h JOIN components c USING (idx)
        JOIN (SELECT root, {journey_trace_id_sql("named")} AS journey_id FROM (
                  SELECT root, coalesce(token, CASE WHEN {is_trace_id_like_sql("first_id")} THEN first_id ELSE first END) AS named
                  FROM (SELECT c.root, min(nullif(h.journey_token, '')) AS token,
                               arg_min(h.interaction_id, {earliest}) AS first_id, arg_min(h.interaction, {earliest}) AS first
                        FROM hood h JOIN components c USING (idx) GROUP BY c.root))) AS n
          ON n.root = c.root
        """
    ))


def _relabel(cursor: duckdb.DuckDBPyConnection) -> None:
    """Move the interactions whose journey changed, and their stored spans; record the aliases."""
    changed, relabelled_since = cursor.execute(
        "SELECT count(*), min(first_received_unix_nano) FILTER (WHERE before <> '') FROM regrouped WHERE journey_id <> before"
    ).fetchall()[0]
    if not changed:
        return
    cursor.execute(
        """UPDATE interactions SET journey_id = c.journey_id
           FROM (SELECT rid, journey_id FROM regrouped WHERE journey_id <> before) AS c WHERE interactions.rowid = c.rid"""
    )
    if relabelled_since is not None:  # spans already stored under another journey
        # Spans are stored in arrival order, so zone maps skip everything that arrived before
        # the first of them (a spans index would slow every insert).
        cursor.execute(
            """UPDATE spans SET journey_id = c.journey_id
               FROM (SELECT tenant, interaction, journey_id FROM regrouped WHERE before <> '' AND journey_id <> before) AS c
               WHERE spans.tenant = c.tenant AND spans.interaction = c.interaction AND spans.received_unix_nano >= ?""",
            [relabelled_since],
        )
    _record_aliases(cursor)


def _record_aliases(cursor: duckdb.DuckDBPyConnection) -> None:
    """An ID no interaction carries any more becomes an alias of the journey that took over its
    earliest interaction; aliases of it follow it there."""
    # ``regrouped`` holds every member of every journey regrouped (_neighbourhood), so no
    # interaction elsewhere still carries a journey ID that is gone from it.
    if _count(cursor.execute(
        """
        CREATE OR REPLACE TEMP TABLE gone AS
        SELECT r.tenant, r.before AS alias, arg_min(r.journey_id, r.interaction) AS journey_id
        FROM regrouped r ANTI JOIN regrouped live ON live.tenant = r.tenant AND live.journey_id = r.before
        WHERE r.before <> '' GROUP BY r.tenant, r.before
        """
    )):
        cursor.execute(
            """UPDATE journey_aliases SET journey_id = g.journey_id FROM gone g
               WHERE journey_aliases.tenant = g.tenant AND journey_aliases.journey_id = g.alias"""
        )
        cursor.execute("INSERT OR REPLACE INTO journey_aliases SELECT tenant, alias, journey_id FROM gone")
    cursor.execute(
        """DELETE FROM journey_aliases USING (SELECT DISTINCT tenant, journey_id FROM regrouped) AS live
           WHERE journey_aliases.tenant = live.tenant AND journey_aliases.alias = live.journey_id"""
    )


def _rewrite_journeys(cursor: duckdb.DuckDBPyConnection, members: int) -> None:
    """Recompute the ``journeys`` rows of every journey ``regrouped`` (``members`` rows) names, now
    or before this batch, from its rows: all their members, which ``_neighbourhood`` found."""
    cursor.execute(
        """CREATE OR REPLACE TEMP TABLE affected AS
           SELECT tenant, journey_id FROM regrouped UNION SELECT tenant, before FROM regrouped WHERE before <> ''"""
    )
    if _count(cursor.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE stale_journeys AS
        SELECT t.rid FROM ({_rows_by_hash("journeys", "journey_key", "SELECT journey_id FROM affected", "tenant, journey_id",
                                          journey_key_sql)}) AS t
        SEMI JOIN affected a ON a.tenant = t.tenant AND a.journey_id = t.journey_id
        """
    )):  # fmt: skip
        cursor.execute("DELETE FROM journeys WHERE rowid IN (SELECT rid FROM stale_journeys)")
    columns = ("tenant, interaction, journey_id, platform, interaction_id, start_unix_nano, end_unix_nano, services, "
               "updated_unix_nano, ani_hash, reported_outcome, reported_outcome_at, derived_outcome, derived_outcome_at, "
               "first_received_unix_nano, handoff_unix_nano, has_handoff_span")  # fmt: skip
    # By rowid: a fetch of the rows, where a lookup by hash scans the whole column (at 3 M spans
    # 4 ms against 18). Only journey_id changed since they were found, which DuckDB updates in
    # place; an UPDATE it runs as delete and insert (a list column's, as _update_interactions
    # does) moves the row, so should any be missing, they are looked up by hash after all.
    if _count(cursor.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE member_rows AS SELECT {_of_t(columns)}
        FROM regrouped m JOIN interactions t ON t.rowid = m.rid AND t.tenant = m.tenant AND t.interaction = m.interaction
        """
    )) != members:
        _stored(cursor, "member_rows", "interactions", "interaction_hash", "SELECT interaction FROM regrouped", columns=columns)
        cursor.execute(
            """CREATE OR REPLACE TEMP TABLE member_rows AS SELECT t.* EXCLUDE (rid) FROM member_rows t
               SEMI JOIN regrouped m ON m.tenant = t.tenant AND m.interaction = t.interaction"""
        )
    # The links among them, for the journeys' rows: reads take a journey's links from there.
    # Every committed link of a member that had a journey is among those _neighbourhood found; a
    # committed member without one (a state an older version wrote) could have others.
    link_columns = "tenant, a, b, method, confidence, evidence"
    all_found = not _count(cursor.execute(
        f"SELECT count(*) FROM regrouped WHERE before = '' AND rid < {UNCOMMITTED_ROWIDS}"))  # fmt: skip
    for name, table in (("member_links", "correlation_links"), ("member_windowed", "windowed_links")):
        if not all_found:
            _stored(cursor, name, table, "a_hash", "SELECT interaction FROM regrouped", columns=link_columns)
            continue
        # The committed links by rowid, and the links this batch wrote by theirs: a scan that
        # skips every committed row group (the links of other journeys, and of other tenants,
        # drop out below, at the join with the members).
        cursor.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {name} AS
            SELECT t.rowid AS rid, {_of_t(link_columns)}
            FROM (SELECT DISTINCT rid FROM hood_links WHERE link_table = '{table}' AND rid < {UNCOMMITTED_ROWIDS}) AS k
            JOIN {table} t ON t.rowid = k.rid
            UNION ALL SELECT t.rowid, {_of_t(link_columns)} FROM {table} t WHERE t.rowid >= {UNCOMMITTED_ROWIDS}
            """
        )
    links = journey_links_sql(
        "member_rows",
        f"SELECT {link_columns} FROM member_links UNION ALL SELECT {link_columns} FROM member_windowed",
    )
    cursor.execute(
        f"""
        INSERT INTO journeys
        SELECT j.* EXCLUDE (facts), {ASSEMBLY_SQL.format(members="j.facts", links="l.links")} FROM (
        SELECT tenant, journey_id, min(start_unix_nano), max(end_unix_nano),
               list_sort(list_distinct(flatten(list(services)))), max(updated_unix_nano),
               list(platform ORDER BY start_unix_nano, platform, interaction_id),
               count(*), min(ani_hash),
               coalesce(
                   arg_max(reported_outcome, (reported_outcome_at, {outcome.rank_sql("reported_outcome")}, reported_outcome))
                       FILTER (WHERE reported_outcome IS NOT NULL),
                   arg_max(derived_outcome, (derived_outcome_at, {outcome.rank_sql("derived_outcome")}, derived_outcome))
                       FILTER (WHERE derived_outcome IS NOT NULL)),
               min(first_received_unix_nano), {JOURNEY_KEY_SQL},
               list(interaction ORDER BY {MEMBER_ORDER}), {MEMBERS_SQL} AS facts
        FROM member_rows GROUP BY tenant, journey_id
        ) j LEFT JOIN ({links}) l ON l.tenant = j.tenant AND l.journey_id = j.journey_id
        """
    )
