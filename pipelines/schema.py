"""Table names and the versioned migrations of the DuckDB store (applied by `pipelines.store`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from pipelines import schema_rewards

EVENTS = "events"
EVENTS_CURRENT = "events_current"
PLAYERS = "players"
PLAYER_PROPERTIES = "player_properties"
PLAYER_MERGES = "player_merges"
PLAYER_ALIASES = "player_aliases"
INGEST_BATCHES = "ingest_batches"
REJECTED_ROWS = "rejected_rows"
INGEST_KEYS = "ingest_keys"
MIGRATIONS = "schema_migrations"
BUILDS = "builds"
SCHEME_VERSIONS = "scheme_versions"
MODEL_FITS = "model_fits"
USERS = "users"
AUDIT_LOG = "audit_log"
SETTINGS = "settings"
EVENT_STATS = "event_stats"
BATCH_VISIBLE_SEQ = "batch_visible_seq"
PLAYER_CARDS = "player_cards"  # see migration 13
PLAYER_CARD_LAYOUT = "player_card_layout"
# Derived snapshot tables: recomputable from events, one set of rows per as_of. Their columns follow
# the metric catalog, so the store adds new columns as the catalog grows instead of a migration.
DERIVED = ("player_metrics", "player_segments", "player_insights", "player_clv", "player_churn_model")

# Column order of `events`: the staging layer produces exactly these (less the store-assigned ones).
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id", "seq", "record_key", "player_id", "property_id", "ts", "event_type",
    "amount", "currency", "points", "game", "game_type", "location", "avg_bet", "minutes",
    "theo", "casino_win", "ends_at", "attrs", "source", "source_ref", "actor", "role",
    "recorded_at", "batch_id", "corrects_event_id",
)
STORE_ASSIGNED = ("event_id", "seq", "actor", "role", "recorded_at", "batch_id", "corrects_event_id")

EVENTS_DDL = """CREATE TABLE {name} (
        event_id VARCHAR NOT NULL,
        seq BIGINT NOT NULL,
        record_key VARCHAR NOT NULL,
        player_id VARCHAR NOT NULL,
        property_id VARCHAR,
        ts TIMESTAMP NOT NULL,
        event_type VARCHAR NOT NULL,
        amount DOUBLE,
        currency VARCHAR,
        points DOUBLE,
        game VARCHAR,
        game_type VARCHAR,
        location VARCHAR,
        avg_bet DOUBLE,
        minutes DOUBLE,
        theo DOUBLE,
        casino_win DOUBLE,
        ends_at TIMESTAMP,
        attrs JSON,
        source VARCHAR NOT NULL,
        source_ref VARCHAR,
        actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        recorded_at TIMESTAMP NOT NULL,
        batch_id VARCHAR NOT NULL,
        corrects_event_id VARCHAR
    )"""

# The latest action per merged id decides; chains (a -> b -> c) resolve to the final survivor.
ALIASES_QUERY = f"""
    WITH RECURSIVE latest AS (
        SELECT merged_id, arg_max(survivor_id, merge_seq) AS survivor_id,
               arg_max(action, merge_seq) AS action
        FROM {PLAYER_MERGES} GROUP BY merged_id
    ), direct AS (
        SELECT merged_id, survivor_id FROM latest WHERE action = 'merge'
    ), chain(merged_id, survivor_id, depth) AS (
        SELECT merged_id, survivor_id, 1 FROM direct
        UNION ALL
        SELECT c.merged_id, d.survivor_id, c.depth + 1
        FROM chain c JOIN direct d ON c.survivor_id = d.merged_id
        WHERE c.depth < 64
    )
    SELECT merged_id, arg_max(survivor_id, depth) AS survivor_id
    FROM chain GROUP BY merged_id"""

EVENTS_CURRENT_VIEW = f"""CREATE VIEW {EVENTS_CURRENT} AS
    SELECT e.* REPLACE (coalesce(a.survivor_id, e.player_id) AS player_id)
    FROM {EVENTS} e
    LEFT JOIN {PLAYER_ALIASES} a ON a.merged_id = e.player_id
    WHERE e.event_id NOT IN (
        SELECT corrects_event_id FROM {EVENTS} WHERE corrects_event_id IS NOT NULL
    )"""

_V1 = [
    EVENTS_DDL.format(name=EVENTS),
    f"""CREATE TABLE {PLAYERS} (
        player_id VARCHAR PRIMARY KEY,
        first_name VARCHAR,
        last_name VARCHAR,
        date_of_birth DATE,
        email VARCHAR,
        phone VARCHAR,
        address VARCHAR,
        status VARCHAR,
        enrolled_at TIMESTAMP,
        updated_at TIMESTAMP NOT NULL,
        last_event_id VARCHAR NOT NULL
    )""",
    f"""CREATE TABLE {PLAYER_PROPERTIES} (
        player_id VARCHAR NOT NULL,
        property_id VARCHAR NOT NULL,
        card_number VARCHAR,
        external_id VARCHAR,
        enrolled_at TIMESTAMP,
        tier VARCHAR,
        flags VARCHAR[],
        updated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (player_id, property_id)
    )""",
    f"""CREATE TABLE {PLAYER_MERGES} (
        merge_seq BIGINT NOT NULL,
        action VARCHAR NOT NULL CHECK (action IN ('merge', 'unmerge')),
        survivor_id VARCHAR NOT NULL,
        merged_id VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        merged_at TIMESTAMP NOT NULL
    )""",
    f"CREATE VIEW {PLAYER_ALIASES} AS {ALIASES_QUERY}",
    f"""CREATE TABLE {INGEST_BATCHES} (
        batch_id VARCHAR PRIMARY KEY,
        source VARCHAR,
        file_name VARCHAR,
        file_hash VARCHAR,
        status VARCHAR NOT NULL,
        error VARCHAR,
        rows_read BIGINT NOT NULL DEFAULT 0,
        events_added BIGINT NOT NULL DEFAULT 0,
        duplicates BIGINT NOT NULL DEFAULT 0,
        rejected BIGINT NOT NULL DEFAULT 0,
        actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    )""",
    f"""CREATE TABLE {REJECTED_ROWS} (
        batch_id VARCHAR NOT NULL,
        row_number BIGINT NOT NULL,
        raw JSON,
        "column" VARCHAR,
        reason VARCHAR NOT NULL
    )""",
    EVENTS_CURRENT_VIEW,
]

_V2 = [
    f"""CREATE TABLE {BUILDS} (
        build_id VARCHAR PRIMARY KEY,
        as_of DATE NOT NULL,
        status VARCHAR NOT NULL,
        max_seq BIGINT NOT NULL,
        newest_event_ts TIMESTAMP,
        players BIGINT,
        insights BIGINT,
        seconds DOUBLE,
        actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP
    )""",
    f"""CREATE TABLE {SCHEME_VERSIONS} (
        name VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        toml VARCHAR NOT NULL,
        saved_by VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        saved_at TIMESTAMP NOT NULL,
        PRIMARY KEY (name, version)
    )""",
]

# Aliases become a table kept current by every merge and unmerge: reads then resolve an id with
# a lookup instead of a recursive query.
_V3 = [
    f"DROP VIEW {EVENTS_CURRENT}",
    f"DROP VIEW {PLAYER_ALIASES}",
    f"CREATE TABLE {PLAYER_ALIASES} (merged_id VARCHAR PRIMARY KEY, survivor_id VARCHAR NOT NULL)",
    f"INSERT INTO {PLAYER_ALIASES} {ALIASES_QUERY}",
    EVENTS_CURRENT_VIEW,
]

# Incremental builds: what a build saw besides the event sequence (merges, metric definitions), how
# it was computed, and the population models it fitted (reused by later builds until stale).
_V8 = [
    f"ALTER TABLE {BUILDS} ADD COLUMN merge_seq BIGINT",
    f"ALTER TABLE {BUILDS} ADD COLUMN catalog_version VARCHAR",
    f"ALTER TABLE {BUILDS} ADD COLUMN mode VARCHAR",
    f"ALTER TABLE {BUILDS} ADD COLUMN base_build_id VARCHAR",
    f"ALTER TABLE {BUILDS} ADD COLUMN recomputed BIGINT",
    f"ALTER TABLE {BUILDS} ADD COLUMN batches_seen BIGINT",
    f"""CREATE TABLE {MODEL_FITS} (
        fit_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        as_of DATE NOT NULL,
        build_id VARCHAR NOT NULL,
        catalog_version VARCHAR NOT NULL,
        params JSON NOT NULL,
        actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        fitted_at TIMESTAMP NOT NULL
    )""",
]

# Logins, the append-only audit log and installation settings (pseudonym salt). Passwords are kept
# only as argon2 hashes; the audit log is only ever inserted into (Store.audit).
_V4 = [
    f"""CREATE TABLE {USERS} (
        username VARCHAR PRIMARY KEY,
        password_hash VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        properties VARCHAR[] NOT NULL,
        all_properties BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL,
        updated_at TIMESTAMP NOT NULL
    )""",
    f"""CREATE TABLE {AUDIT_LOG} (
        audit_id BIGINT PRIMARY KEY,
        logged_at TIMESTAMP NOT NULL,
        actor VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        target_kind VARCHAR,
        target_id VARCHAR,
        player_id VARCHAR,
        before JSON,
        after JSON,
        detail VARCHAR
    )""",
    f"CREATE TABLE {SETTINGS} (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
]

def sql_literal(value: object) -> str:
    """A SQL string literal, for the few statements that take no parameters (macro bodies, ATTACH);
    the values are the users table's or the operator's, never a request's."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_list(values) -> str:
    """A parenthesised list of SQL string literals (``(NULL)`` when empty: matches nothing)."""
    return "(" + ", ".join(sql_literal(v) for v in values) + ")" if values else "(NULL)"


# relations a scoped read may not name directly (the access layer's guard)
PROTECTED = (EVENTS, EVENTS_CURRENT, PLAYERS, PLAYER_PROPERTIES, PLAYER_ALIASES, PLAYER_MERGES,
             REJECTED_ROWS, USERS, AUDIT_LOG, SETTINGS, INGEST_BATCHES, EVENT_STATS, *DERIVED,
             schema_rewards.REWARD_RUN_MEMBERS, PLAYER_CARDS)

# An ingest commits chunk by chunk (memory stays bounded by the chunk, not the file) with its
# batch 'running'; readers see a batch's events only once it is 'committed'. A stale 'running'
# batch (its process was killed) is removed by the next writer (`Store.recover_batches`).
HIDDEN_BATCHES = f"SELECT batch_id FROM {INGEST_BATCHES} WHERE status = 'running'"
VISIBLE = f"batch_id NOT IN ({HIDDEN_BATCHES})"

EVENTS_CURRENT_VIEW_V5 = f"""CREATE VIEW {EVENTS_CURRENT} AS
    SELECT e.* REPLACE (coalesce(a.survivor_id, e.player_id) AS player_id)
    FROM {EVENTS} e
    LEFT JOIN {PLAYER_ALIASES} a ON a.merged_id = e.player_id
    WHERE e.{VISIBLE} AND e.event_id NOT IN (
        SELECT corrects_event_id FROM {EVENTS} WHERE corrects_event_id IS NOT NULL AND {VISIBLE}
    )"""

# Idempotency lookups without scanning `events`: per ingested event the 128-bit md5 of its
# (source, record key) and its event id as a number (`event_id` is that md5 in hex). A chunk's
# duplicates and the versions it corrects are found by probing one fixed-width column.
KEYS_FROM_EVENTS = f"""SELECT md5_number(source || chr(31) || record_key) AS record_hash,
        ('0x' || event_id)::UHUGEINT AS event_key, seq
    FROM {EVENTS} WHERE source <> 'app'"""

_V5 = [
    f"""CREATE TABLE {INGEST_KEYS} (
        record_hash UHUGEINT NOT NULL,
        event_key UHUGEINT NOT NULL,
        seq BIGINT NOT NULL
    )""",
    f"INSERT INTO {INGEST_KEYS} {KEYS_FROM_EVENTS}",
    f"DROP VIEW IF EXISTS {EVENTS_CURRENT}",
    EVENTS_CURRENT_VIEW_V5,
]

# Ingest speed: the columns unique to every event (md5 hex ids, record keys, "file row n") are stored
# uncompressed. DuckDB's dictionary+FSST compression of them cost about 0.9 CPU s per million rows
# ingested (some 15%) for a 2-4x smaller column: they take about 50 MB more per million events.
UNCOMPRESSED_EVENT_COLUMNS = ("event_id", "record_key", "source_ref")


def _uncompressed(ddl: str, columns: tuple[str, ...]) -> str:
    """A CREATE TABLE statement with the given VARCHAR columns stored uncompressed."""
    for col in columns:
        ddl = re.sub(rf"(\n\s+{col} VARCHAR( NOT NULL)?)", r"\1 USING COMPRESSION uncompressed", ddl)
    return ddl


EVENTS_DDL_V9 = _uncompressed(EVENTS_DDL, UNCOMPRESSED_EVENT_COLUMNS)

# The table is rebuilt (a column's compression is fixed when it is created): same rows, same order.
# Views over `events` bind by name when queried, so they (whatever migration defined them) stay.
_V9 = [
    EVENTS_DDL_V9.format(name="_events_v9"),
    f"INSERT INTO _events_v9 SELECT * FROM {EVENTS}",
    f"DROP TABLE {EVENTS}",
    f"ALTER TABLE _events_v9 RENAME TO {EVENTS}",
]

# events_current as two branches, players never merged and merged ids resolved: `player_id` is then a
# plain column in each branch, so a filter on it (one player, a shard's id range) reaches the scan of
# `events` and its zone maps. The V5 view's coalesce(survivor, player) hid it as soon as any merge
# existed: every one-player read scanned all events (5 s at 20M events). Same rows as V5.
CORRECTED = f"SELECT corrects_event_id FROM {EVENTS} WHERE corrects_event_id IS NOT NULL AND {VISIBLE}"
EVENTS_CURRENT_VIEW_V10 = f"""CREATE VIEW {EVENTS_CURRENT} AS
    SELECT e.* FROM {EVENTS} e
    WHERE e.player_id NOT IN (SELECT merged_id FROM {PLAYER_ALIASES})
      AND e.{VISIBLE} AND e.event_id NOT IN ({CORRECTED})
    UNION ALL
    SELECT e.* REPLACE (a.survivor_id AS player_id) FROM {EVENTS} e
    JOIN {PLAYER_ALIASES} a ON a.merged_id = e.player_id
    WHERE e.{VISIBLE} AND e.event_id NOT IN ({CORRECTED})"""

_V10 = [f"DROP VIEW IF EXISTS {EVENTS_CURRENT}", EVENTS_CURRENT_VIEW_V10]

# Counts and newest times of events per property, source and type up to a sequence number
# (pipelines.store_stats): the app's data clock without a scan of `events`.
_V11 = [
    f"""CREATE TABLE {EVENT_STATS} (
        property_id VARCHAR,
        source VARCHAR NOT NULL,
        event_type VARCHAR NOT NULL,
        events BIGINT NOT NULL,
        max_seq BIGINT,
        newest_ts TIMESTAMP,
        newest_recorded TIMESTAMP,
        upto_seq BIGINT NOT NULL
    )""",
]

# Which batches a build saw, exactly: a batch's events become visible when its status leaves
# 'running', and that commit draws `visible_seq`. A build records the highest number visible to it and
# the batches still running then (drawn before its snapshot, committed after), in one query. The
# earlier rule (finished_at >= the build's start, both in whole seconds) took every batch that
# finished in the build's first second as new: a build right after an ingest recomputed everyone.
_V12 = [
    f"CREATE SEQUENCE {BATCH_VISIBLE_SEQ} START 1",
    f"ALTER TABLE {INGEST_BATCHES} ADD COLUMN visible_seq BIGINT",
    f"ALTER TABLE {BUILDS} ADD COLUMN visible_seq BIGINT",
    f"ALTER TABLE {BUILDS} ADD COLUMN running_batches VARCHAR[]",
]

# Player cards (pipelines.cards): the newest build's metrics and segments row of each player packed
# into one BLOB per table, for one-player reads; the build replaces them whole (`Store.write_cards`),
# with the packing of the rows (column names, kinds, string dictionaries) in PLAYER_CARD_LAYOUT.
# Uncompressed: packed rows do not compress by column, and compressing 1M of them would only cost time.
CARD_TABLES = ("player_metrics", "player_segments")
PLAYER_CARDS_DDL = (f"CREATE TABLE {PLAYER_CARDS} (player_id VARCHAR NOT NULL, "
                    + ", ".join(f"{t} BLOB USING COMPRESSION uncompressed" for t in CARD_TABLES) + ")")
PLAYER_CARDS_INDEX = f"CREATE INDEX {PLAYER_CARDS}_player ON {PLAYER_CARDS} (player_id)"
_V13 = [
    PLAYER_CARDS_DDL,
    PLAYER_CARDS_INDEX,
    f"""CREATE TABLE {PLAYER_CARD_LAYOUT} (as_of DATE NOT NULL, build_id VARCHAR NOT NULL,
        layout JSON NOT NULL, written_at TIMESTAMP NOT NULL)""",
]

# Tables with one row per player (per as_of, for the derived ones): `player_id` stored uncompressed.
# DuckDB compresses such a column of (nearly) unique strings with FSST, and a filter on it then
# decodes every string of the row group: a one-player lookup in player_properties took 4.5 ms that
# way, 1.0 ms uncompressed (1M players). The events table keeps its compression: there a player's
# ids repeat, and its dictionary is what the filter reads. Tables the build creates later get it
# from `DERIVED_ID`.
PER_PLAYER_TABLES = (PLAYERS, PLAYER_PROPERTIES, *DERIVED)
DERIVED_ID = "player_id VARCHAR USING COMPRESSION uncompressed"


def rewrite_table(con, table: str, *, order: str | None = None, edit: Callable[[str], str] = str) -> int:
    """Replace a table by a copy with the same definition (changed by ``edit``, given the CREATE
    statement), the same indexes and the same rows, in ``order`` or else in their stored order; run
    it in a transaction. Never swaps in a copy that lost rows. Returns the row count."""
    ddl = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()[0][0]
    indexes = [r[0] for r in con.execute(
        "SELECT sql FROM duckdb_indexes() WHERE table_name = ? AND sql IS NOT NULL", [table]).fetchall()]
    copy = f"_{table}_copy"
    con.execute(re.sub(rf"^CREATE TABLE {table}\b", f"CREATE TABLE {copy}", edit(ddl.rstrip(";"))))
    before = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    con.execute(f"INSERT INTO {copy} SELECT * FROM {table}" + (f" ORDER BY {order}" if order else ""))
    after = con.execute(f"SELECT count(*) FROM {copy}").fetchall()[0][0]
    if after != before:
        raise RuntimeError(f"rewriting {table} copied {after} of {before} rows; nothing changed")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE {copy} RENAME TO {table}")
    for sql in indexes:
        con.execute(sql)
    return after


def _player_id_uncompressed(con) -> None:
    """Rebuild each existing per-player table with `player_id` uncompressed (`rewrite_table`)."""
    for table in PER_PLAYER_TABLES:
        found = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()
        if found and not re.search(r"player_id VARCHAR USING COMPRESSION", found[0][0], flags=re.IGNORECASE):
            rewrite_table(con, table, edit=lambda ddl: re.sub(
                r'(\(|, )"?player_id"? VARCHAR', r"\1player_id VARCHAR USING COMPRESSION uncompressed", ddl, count=1))


_V14 = [_player_id_uncompressed]

# (version, description, statements: SQL, or a function of the connection for a step that depends on
# what the store holds). Append new versions; never edit a released one.
MIGRATIONS_LIST: list[tuple[int, str, list]] = [
    (1, "events, player master, merges, batches, rejected rows", _V1),
    (2, "derived builds log, segmentation scheme versions", _V2),
    (3, "player aliases as a table maintained by merges", _V3),
    (4, "users, audit log, settings", _V4),
    (5, "ingest key index; events of running batches hidden from events_current", _V5),
    (6, "reward rule versions and audit, reward runs and their members", schema_rewards.V6),
    (8, "incremental builds: merge watermark, catalog version, mode; fitted population models", _V8),
    (9, "events: id, record key and source reference columns stored uncompressed (ingest speed)", _V9),
    (10, "events_current in two branches (merged ids apart) so player filters reach the events scan", _V10),
    (11, "event counts and data clocks per property, summarised by sequence number", _V11),
    (12, "batches numbered as they become visible; builds record the batches they saw", _V12),
    (13, "player cards: the newest metrics and segments row of each player packed for one-player reads", _V13),
    (14, "player_id stored uncompressed in the per-player tables (one-player lookups 4x faster)", _V14),
]
