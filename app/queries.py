"""The app's read queries, all through the access layer (`pipelines.access.Access`).

Every function takes the `Access` of the signed-in user and reads only its scoped relations
(`s_players()`, `s_events()`, `s_derived('player_metrics')`, ...): what a user may not see is
never read. User input only ever reaches DuckDB as a bound parameter (`?`): the SQL text is
assembled from constants in this module, never from what a person typed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import polars as pl

from pipelines.access import Access
from pipelines.access_player import attr_columns

# Event types that make a player "seen" (docs/metrics-contract.md: first_seen / last_seen).
ACTIVITY = ("visit", "rating_slip", "buy_in", "cash_out", "order")
INCIDENT_TYPES = ("incident", "dispute", "exclusion")
COLLAB_TYPES = ("note", "note_edited", "tag_added", "tag_removed", "task_created", "task_completed")
MAX_TOKENS = 4
TIERS = ("bronze", "silver", "gold", "platinum", "black")  # lowest first
# The best tier of a player over its properties (unknown tiers rank below bronze).
BEST_TIER = ("arg_max(pp.tier, CASE pp.tier " + " ".join(f"WHEN '{t}' THEN {i + 1}" for i, t in enumerate(TIERS))
             + " ELSE 0 END)")
SEARCH_FIELDS = ("p.player_id", "p.first_name", "p.last_name", "p.email")
# the as_of of the newest derived snapshot (every build writes every derived table for its as_of)
NEWEST_AS_OF = "(SELECT max(as_of) FROM builds WHERE status = 'done')"


def in_ids(ids: list[str], limit: int = 500) -> tuple[str, list[Any]]:
    """`IN (...)` over player ids (and its parameters): one placeholder per id for short lists,
    which DuckDB checks against each row group's min/max and skips the rest (an `IN (SELECT
    unnest(?))` semi-join reads every row group: 4x slower for one player at 20M events)."""
    if len(ids) <= limit:
        return "(" + ", ".join("?" * len(ids)) + ")" if ids else "(NULL)", list(ids)
    return "(SELECT unnest(?::VARCHAR[]))", [list(ids)]


def tables(store: Access) -> frozenset[str]:
    """Names of every table and view (derived snapshots exist only after a build)."""
    return frozenset(store.sql("SELECT table_name FROM information_schema.tables")["table_name"].to_list())


def table_exists(store: Access, name: str) -> bool:
    """Whether a table or view exists."""
    return name in tables(store)


# -- freshness ------------------------------------------------------------------------------------
def latest_build(store: Access) -> dict[str, Any] | None:
    """The newest finished derived build (as_of, computed time, events seen), or None."""
    if not table_exists(store, "builds"):
        return None
    frame = store.sql("SELECT * FROM builds WHERE status = 'done' ORDER BY finished_at DESC, as_of DESC LIMIT 1")
    return frame.row(0, named=True) if frame.height else None


def properties(store: Access) -> list[str]:
    """Every property id with events or enrolled players, sorted."""
    enrolled = store.sql("SELECT DISTINCT property_id FROM s_player_properties()")["property_id"].to_list()
    with_events = store.event_summary()["property_id"].to_list()  # the summary, not a scan of events
    return sorted({p for p in [*enrolled, *with_events] if p})


# -- search ----------------------------------------------------------------------------------------
def _like(token: str) -> str:
    """A LIKE pattern matching `token` anywhere (its own % _ and \\ escaped)."""
    return "%" + re.sub(r"([%_\\])", r"\\\1", token) + "%"


def _token_filter(token: str) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) one search word must meet.

    A word only tries the fields it can match: letters never match a card or phone number, digits
    never match a name. Digits match the phone number without its punctuation; to keep that cheap
    at a million players, a plain LIKE on the last four digits (contiguous in any phone format)
    runs first and the punctuation-free comparison only on the rows it lets through.
    """
    digits = re.sub(r"\D", "", token)
    letters = bool(re.search(r"[^\W\d_]", token))
    like = _like(token)
    fields, params = ["p.player_id ILIKE ? ESCAPE '\\'"], [like]
    if letters:
        fields += ["p.first_name ILIKE ? ESCAPE '\\'", "p.last_name ILIKE ? ESCAPE '\\'"]
        params += [like, like]
    if letters or not digits:
        fields.append("p.email ILIKE ? ESCAPE '\\'")
        params.append(like)
    else:
        fields.append("p.player_id IN (SELECT player_id FROM s_player_properties() WHERE card_number LIKE ?)")
        params.append(_like(digits))
        if len(digits) >= 4:
            fields.append("(p.phone LIKE ? AND translate(p.phone, '()-. +/', '') LIKE ?)")
            params += [_like(digits[-4:]), _like(digits)]
    return "(" + " OR ".join(fields) + ")", params


def search_players(store: Access, text: str, limit: int = 20) -> pl.DataFrame:
    """Players whose id, name, e-mail, phone or card number contain every word of `text`.

    Case-insensitive and partial. Each word must match one of the fields (see `_token_filter`).
    The filter and the LIMIT run in DuckDB, so the answer costs one scan of the player master at
    most, whatever its size; a whole player id or card number is an index lookup and answers with
    that player alone. Merged ids resolve to their survivor.
    """
    tokens = [t for t in re.split(r"\s+", (text or "").strip()) if t][:MAX_TOKENS]
    if not tokens:
        return pl.DataFrame()
    if len(tokens) == 1 and re.fullmatch(r"[A-Za-z]{0,6}\d+", tokens[0]):
        # a whole player id or card number opens that player: index lookups, no scan
        hit = store.sql("SELECT player_id FROM s_players() WHERE player_id = upper(?) UNION ALL "
                        "SELECT player_id FROM s_player_properties() WHERE card_number = ? LIMIT 1",
                        [tokens[0], tokens[0]])
        if hit.height:
            return _describe(store, hit["player_id"].to_list(), tokens[0], limit)
    where, params = [], []
    for token in tokens:
        cond, args = _token_filter(token)
        where.append(cond)
        params += args
    hits = store.sql(f"SELECT p.player_id FROM s_players() p WHERE {' AND '.join(where)} LIMIT ?",
                     [*params, limit * 4])
    return _describe(store, hits["player_id"].to_list(), tokens[0] if len(tokens) == 1 else "", limit)


def _describe(store: Access, ids: list[str], exact: str, limit: int) -> pl.DataFrame:
    """Search results for matched ids: merged ids resolved, with properties, cards and best tier."""
    if not ids:
        return pl.DataFrame()
    sql = f"""
        WITH resolved AS (
            SELECT DISTINCT coalesce(a.survivor_id, h.player_id) AS player_id
            FROM (SELECT unnest(?::VARCHAR[]) AS player_id) h
            LEFT JOIN s_aliases() a ON a.merged_id = h.player_id
        )
        SELECT p.player_id, p.first_name, p.last_name, p.email, p.phone, p.status,
            string_agg(DISTINCT pp.property_id, ', ' ORDER BY pp.property_id) AS properties,
            string_agg(DISTINCT pp.card_number, ', ' ORDER BY pp.card_number) AS cards,
            {BEST_TIER} AS tier,
            bool_or(upper(p.player_id) = upper(?) OR pp.card_number = ?) AS exact
        FROM resolved r JOIN s_players() p USING (player_id)
        LEFT JOIN s_player_properties() pp USING (player_id)
        GROUP BY ALL
        ORDER BY exact DESC, p.last_name, p.first_name, p.player_id
        LIMIT ?"""
    return store.sql(sql, [ids, exact, exact, limit])


# -- many players ------------------------------------------------------------------------------------
def names(store: Access, ids: list[str]) -> pl.DataFrame:
    """player_id, name, status and best tier of the given players."""
    among, params = in_ids(ids)
    return store.sql(
        f"""SELECT p.player_id, trim(coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')) AS name,
            p.status, {BEST_TIER} AS tier, list_distinct(flatten(list(coalesce(pp.flags, [])))) AS flags,
            list_distinct(list(pp.property_id)) AS properties
        FROM s_players() p LEFT JOIN s_player_properties() pp USING (player_id)
        WHERE p.player_id IN {among} GROUP BY ALL""", params)


def segments_for(store: Access, ids: list[str]) -> pl.DataFrame:
    """Newest segment rows of the given players (empty frame when never built)."""
    if not table_exists(store, "player_segments"):
        return pl.DataFrame()
    among, params = in_ids(ids)
    return store.sql(f"SELECT * FROM s_derived('player_segments') WHERE as_of = {NEWEST_AS_OF} "
                     f"AND player_id IN {among}", params)


def insights_for(store: Access, ids: list[str]) -> pl.DataFrame:
    """Newest warning and critical insights of the given players."""
    if not table_exists(store, "player_insights"):
        return pl.DataFrame()
    among, params = in_ids(ids)
    return store.sql(
        f"""SELECT player_id, rule, CAST(severity AS VARCHAR) AS severity, sentence FROM s_derived('player_insights')
        WHERE as_of = {NEWEST_AS_OF}
          AND CAST(severity AS VARCHAR) IN ('warning', 'critical')
          AND player_id IN {among}""", params)


def collaboration_events(store: Access) -> pl.DataFrame:
    """Current tag and task events of every player, for shift-wide views. Only the app writes
    them (source 'app'), and saying so lets DuckDB skip every row group of ingested events."""
    return store.sql(
        f"""SELECT e.event_id, e.seq, e.player_id, e.property_id, e.ts, e.event_type, e.actor, e.role,
            {attr_columns()}
        FROM s_events() e
        WHERE e.source = 'app' AND e.event_type IN ('tag_added', 'tag_removed', 'task_created', 'task_completed')
        ORDER BY e.ts, e.seq""")


def visits_overlapping(store: Access, property_id: str, start: datetime, end: datetime) -> pl.DataFrame:
    """Visits at a property that overlap [start, end) plus every still-open visit started before
    `end`: the current version of each visit record (`s_events()` holds only current versions: a
    changed record is a correction that supersedes the earlier one)."""
    return store.sql(
        """SELECT player_id, property_id, ts, ends_at, location, minutes, source, source_ref, record_key,
            ends_at IS NULL AS open
        FROM s_events()
        WHERE event_type = 'visit' AND property_id = ? AND ts < ? AND (ends_at IS NULL OR ends_at >= ?)
        ORDER BY open DESC, ts DESC""",
        [property_id, end, start])


def open_visits(store: Access) -> pl.DataFrame:
    """Every open visit (no end yet, current versions only: see `visits_overlapping`), newest first."""
    return store.sql(
        """SELECT player_id, property_id, ts, location, source, source_ref, record_key FROM s_events()
        WHERE event_type = 'visit' AND ends_at IS NULL ORDER BY ts DESC""")


def shift_events(store: Access, property_id: str, start: datetime, end: datetime) -> pl.DataFrame:
    """Events at a property in [start, end), narrow, for the shift report."""
    return store.sql(
        """SELECT e.event_id, e.player_id, e.ts, e.event_type, e.amount, e.theo, e.minutes, e.game,
            e.location, e.source, e.source_ref, e.actor,
            coalesce(json_extract_string(e.attrs, '$.description'), json_extract_string(e.attrs, '$.text'))
                AS detail,
            json_extract_string(e.attrs, '$.severity') AS severity
        FROM s_events() e WHERE e.property_id = ? AND e.ts >= ? AND e.ts < ?""",
        [property_id, start, end])


def newest_event_at(store: Access, property_id: str | None = None) -> datetime | None:
    """The newest ingested event time (at one property, or anywhere in scope); app writes do not count."""
    return store.data_clock((property_id,) if property_id else None)["newest_ts"]


# -- KPIs ------------------------------------------------------------------------------------------
_KPI_TYPES = ("buy_in", "marker", "rating_slip", "reward_issued", "reward_redeemed", *ACTIVITY)
_KPI_AGGS = f"""
    sum(amount) FILTER (WHERE event_type IN ('buy_in', 'marker')) AS cash_in,
    sum(theo) FILTER (WHERE event_type = 'rating_slip') AS theo,
    count(DISTINCT player_id) FILTER (WHERE event_type IN {ACTIVITY}) AS active,
    count(*) FILTER (WHERE event_type = 'reward_issued') AS rewards_issued,
    count(*) FILTER (WHERE event_type = 'reward_redeemed') AS rewards_redeemed,
    sum(amount) FILTER (WHERE event_type = 'reward_redeemed') AS redeemed_value"""


def kpi_buckets(store: Access, start: datetime, bucket_days: int, buckets: int) -> pl.DataFrame:
    """Per bucket of `bucket_days` days from `start`: cash-in, theo, active players, rewards issued
    and redeemed, and players enrolled (bucket = index from 0; empty buckets are missing)."""
    seconds = bucket_days * 86400
    events = store.sql(
        f"""SELECT CAST(floor(date_diff('second', CAST(? AS TIMESTAMP), ts) / ?) AS INTEGER) AS bucket,
            {_KPI_AGGS}
        FROM s_events()
        WHERE ts >= ? AND ts < CAST(? AS TIMESTAMP) + to_days(CAST(? AS INTEGER))
          AND event_type IN {_KPI_TYPES}
        GROUP BY 1""", [start, seconds, start, start, bucket_days * buckets])
    enrolled = store.sql(
        """SELECT CAST(floor(date_diff('second', CAST(? AS TIMESTAMP), enrolled_at) / ?) AS INTEGER) AS bucket,
            count(*) AS new_players
        FROM s_players() WHERE enrolled_at >= ? AND enrolled_at < CAST(? AS TIMESTAMP) + to_days(CAST(? AS INTEGER))
          AND player_id NOT IN (SELECT merged_id FROM s_aliases())
        GROUP BY 1""", [start, seconds, start, start, bucket_days * buckets])
    grid = pl.DataFrame({"bucket": list(range(buckets))}, schema={"bucket": pl.Int32})
    return (grid.join(events, on="bucket", how="left").join(enrolled, on="bucket", how="left")
            .fill_null(0).sort("bucket"))


def at_risk_by_snapshot(store: Access) -> pl.DataFrame:
    """Per segments snapshot: players at risk (lifecycle at_risk) and with high churn risk."""
    if not table_exists(store, "player_segments"):
        return pl.DataFrame()
    cols = set(store.sql("SELECT * FROM s_derived('player_segments') LIMIT 0").columns)
    at_risk = "count(*) FILTER (WHERE lifecycle = 'at_risk')" if "lifecycle" in cols else "NULL"
    high = "count(*) FILTER (WHERE churn_level = 'high')" if "churn_level" in cols else "NULL"
    return store.sql(f"SELECT as_of, {at_risk} AS at_risk, {high} AS churn_high, count(*) AS players "
                     "FROM s_derived('player_segments') GROUP BY 1 ORDER BY 1")
