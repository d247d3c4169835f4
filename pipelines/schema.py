"""Table names and the versioned migrations of the DuckDB store (applied by `pipelines.store`)."""

from __future__ import annotations

from pipelines import schema_rewards

EVENTS = "events"
EVENTS_CURRENT = "events_current"
PLAYERS = "players"
PLAYER_PROPERTIES = "player_properties"
PLAYER_MERGES = "player_merges"
PLAYER_ALIASES = "player_aliases"
INGEST_BATCHES = "ingest_batches"
REJECTED_ROWS = "rejected_rows"
MIGRATIONS = "schema_migrations"
BUILDS = "builds"
SCHEME_VERSIONS = "scheme_versions"
USERS = "users"
AUDIT_LOG = "audit_log"
SETTINGS = "settings"
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

# The access layer's scoped relations: connection-local macros reading the scope from session
# variables (set by `Store.scoped` under the app's connection lock). An unset scope matches no
# property, so a read that forgot to set it sees nothing (deny by default).
_ALL = "coalesce(getvariable('p360_all'), false)"
_IN_SCOPE = f"({_ALL} OR list_contains(coalesce(getvariable('p360_scope'), []::VARCHAR[]), {{col}}))"
_PII = "coalesce(getvariable('p360_pii'), false)"
_VISIBLE_PLAYER = (f"({_ALL} OR {{col}} IN (SELECT player_id FROM {PLAYER_PROPERTIES} "
                   f"WHERE {_IN_SCOPE.format(col='property_id')}))")
_NOTE_OK = ("CASE WHEN e.event_type IN ('note', 'note_edited', 'dispute', 'service') THEN "
            "CASE coalesce(json_extract_string(e.attrs, '$.visibility'), 'all') "
            "WHEN 'private' THEN e.actor = getvariable('p360_user') "
            "ELSE list_contains(coalesce(getvariable('p360_notes'), []::VARCHAR[]), "
            "coalesce(json_extract_string(e.attrs, '$.visibility'), 'all')) END "
            "WHEN e.event_type IN ('mtl', 'ctr') THEN coalesce(getvariable('p360_compliance'), false) "
            "ELSE true END")
# personal data in an event's attrs: the players source carries the profile
_ATTRS = (f"CASE WHEN {_PII} OR e.event_type NOT IN ('enrollment', 'profile_update') THEN e.attrs "
          "ELSE NULL END")


def _scoped_events(source: str) -> str:
    return (f"SELECT e.* REPLACE ({_ATTRS} AS attrs) FROM {source} e "
            f"WHERE ({_IN_SCOPE.format(col='e.property_id')} OR (e.property_id IS NULL AND "
            f"{_VISIBLE_PLAYER.format(col='e.player_id')})) AND {_NOTE_OK}")


def _masked(col: str) -> str:
    return f"CASE WHEN {_PII} THEN {col} END AS {col}"


SCOPED_MACROS = [
    f"""CREATE OR REPLACE TEMP MACRO s_players() AS TABLE
        SELECT p.player_id,
            'anon-' || substr(md5(coalesce(getvariable('p360_salt'), '') || p.player_id), 1, 10) AS pseudonym,
            {_masked('first_name')}, {_masked('last_name')}, {_masked('date_of_birth')},
            {_masked('email')}, {_masked('phone')}, {_masked('address')},
            p.status, p.enrolled_at, p.updated_at, p.last_event_id
        FROM {PLAYERS} p WHERE {_VISIBLE_PLAYER.format(col='p.player_id')}""",
    f"""CREATE OR REPLACE TEMP MACRO s_player_properties() AS TABLE
        SELECT pp.* REPLACE (CASE WHEN {_PII} THEN pp.card_number END AS card_number)
        FROM {PLAYER_PROPERTIES} pp WHERE {_IN_SCOPE.format(col='pp.property_id')}""",
    f"""CREATE OR REPLACE TEMP MACRO s_aliases() AS TABLE
        SELECT a.* FROM {PLAYER_ALIASES} a WHERE {_VISIBLE_PLAYER.format(col='a.survivor_id')}""",
    f"CREATE OR REPLACE TEMP MACRO s_events() AS TABLE {_scoped_events(EVENTS_CURRENT)}",
    f"CREATE OR REPLACE TEMP MACRO s_events_all() AS TABLE {_scoped_events(EVENTS)}",
    # a derived per-player table (player_metrics, player_segments, ...): rows of visible players
    f"""CREATE OR REPLACE TEMP MACRO s_derived(t) AS TABLE
        SELECT d.* FROM query_table(t) d WHERE {_VISIBLE_PLAYER.format(col='d.player_id')}""",
    f"""CREATE OR REPLACE TEMP MACRO s_audit() AS TABLE
        SELECT a.* FROM {AUDIT_LOG} a WHERE coalesce(getvariable('p360_audit'), false)
          AND (a.player_id IS NULL OR {_VISIBLE_PLAYER.format(col='a.player_id')})""",
]
# relations a scoped read may not name directly (the access layer's guard)
PROTECTED = (EVENTS, EVENTS_CURRENT, PLAYERS, PLAYER_PROPERTIES, PLAYER_ALIASES, PLAYER_MERGES,
             REJECTED_ROWS, USERS, AUDIT_LOG, SETTINGS, INGEST_BATCHES, *DERIVED,
             schema_rewards.REWARD_RUN_MEMBERS)

# (version, description, statements). Append new versions; never edit a released one.
MIGRATIONS_LIST: list[tuple[int, str, list[str]]] = [
    (1, "events, player master, merges, batches, rejected rows", _V1),
    (2, "derived builds log, segmentation scheme versions", _V2),
    (3, "player aliases as a table maintained by merges", _V3),
    (4, "users, audit log, settings", _V4),
    (6, "reward rule versions and audit, reward runs and their members", schema_rewards.V6),
]
