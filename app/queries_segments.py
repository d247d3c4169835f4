"""Reads of the segmentation and cohort pages: parameterised SQL through `Store.sql`, scoped.

Every function takes `scope`: the property ids the session may see, or None for all. A player is
in scope when one of their property links (`player_properties`, merged ids resolved) is in scope;
events are in scope when their `property_id` is. Column names that reach the SQL text come from
the store's own schema (validated here), never from what a person typed; values are parameters.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import polars as pl

from app.queries import ACTIVITY, BEST_TIER, table_exists
from pipelines.store import Store

Scope = list[str] | None
COHORT_BASES = ("enrollment", "first_visit")
COHORT_GROUPS = ("all", "segment", "property")
REVENUES = {  # label -> SQL over one event row (constant text)
    "theo": "CASE WHEN e.event_type = 'rating_slip' THEN e.theo END",
    "cash_in": "CASE WHEN e.event_type IN ('buy_in', 'marker') THEN e.amount END",
    "win": "CASE WHEN e.event_type = 'rating_slip' THEN e.casino_win END",
}
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _columns(store: Store, table: str) -> list[str]:
    """Columns of a derived table (empty when it does not exist)."""
    if not table_exists(store, table):
        return []
    return store.sql(f"SELECT * FROM {table} LIMIT 0").columns


def _checked(wanted: list[str], have: list[str]) -> list[str]:
    """The wanted columns the table has (identifiers only, in the order asked)."""
    return [c for c in dict.fromkeys(wanted) if c in have and _NAME.fullmatch(c)]


def scoped_links(scope: Scope) -> tuple[str, list[Any]]:
    """SQL of the property links in scope, merged ids resolved: (player_id, property_id, tier,
    enrolled_at), and its parameters."""
    where, params = ("WHERE pp.property_id IN (SELECT unnest(?::VARCHAR[]))", [list(scope)]) if scope is not None \
        else ("", [])
    return (f"""(SELECT coalesce(a.survivor_id, pp.player_id) AS player_id, pp.property_id, pp.tier,
                   pp.enrolled_at
               FROM player_properties pp LEFT JOIN player_aliases a ON a.merged_id = pp.player_id {where})""",
            params)


def snapshot_dates(store: Store) -> list[date]:
    """As-of dates of the segment snapshots, newest first."""
    return store.snapshot_dates("player_segments")


def metrics_frame(store: Store, as_of: date, columns: list[str], scope: Scope) -> pl.DataFrame:
    """The players in scope at one snapshot: player_id, the asked metric columns (those that exist),
    name, status, best tier and the properties in scope (sorted list)."""
    cols = _checked(columns, _columns(store, "player_metrics"))
    links, params = scoped_links(scope)
    join = "JOIN" if scope is not None else "LEFT JOIN"
    select = ", ".join(f"m.{c}" for c in cols if c != "player_id")
    return store.sql(
        f"""SELECT m.player_id, {select + ',' if select else ''}
            trim(coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')) AS name, p.status,
            l.tier, coalesce(l.properties, []) AS properties
        FROM player_metrics m JOIN players p ON p.player_id = m.player_id
        {join} (SELECT pp.player_id, {BEST_TIER} AS tier,
                       list(DISTINCT pp.property_id ORDER BY pp.property_id) AS properties
                FROM {links} pp GROUP BY pp.player_id) l ON l.player_id = m.player_id
        WHERE m.as_of = ?
        ORDER BY m.player_id""", [*params, as_of])


def stored_labels(store: Store, as_of: date, columns: list[str], scope: Scope) -> pl.DataFrame:
    """player_id and the asked label columns of the segments snapshot of `as_of`, players in scope."""
    cols = _checked(columns, _columns(store, "player_segments"))
    links, params = scoped_links(scope)
    select = "".join(f", CAST(s.{c} AS VARCHAR) AS {c}" for c in cols)
    in_scope = f"AND s.player_id IN (SELECT player_id FROM {links})" if scope is not None else ""
    return store.sql(f"SELECT s.player_id{select} FROM player_segments s WHERE s.as_of = ? {in_scope}",
                     [as_of, *params])


def population_column(store: Store, as_of: date, column: str) -> pl.DataFrame:
    """One metric over every player of a snapshot (unscoped): the input of population quantile
    summaries, so that quantile bands mean the same as in the build whoever looks at them."""
    cols = _checked([column], _columns(store, "player_metrics"))
    if not cols:
        return pl.DataFrame({column: []}, schema={column: pl.Float64})
    return store.sql(f"SELECT {cols[0]} FROM player_metrics WHERE as_of = ?", [as_of])


def tag_events(store: Store, scope: Scope) -> pl.DataFrame:
    """Tag added / removed events of the players in scope (seq order): player_id, seq, event_type,
    tag. Tags are app writes: few compared with play events."""
    links, params = scoped_links(scope)
    in_scope = f"AND e.player_id IN (SELECT player_id FROM {links})" if scope is not None else ""
    return store.sql(
        f"""SELECT e.player_id, e.seq, e.event_type, json_extract_string(e.attrs, '$.tag') AS tag
        FROM events_current e WHERE e.event_type IN ('tag_added', 'tag_removed') {in_scope}
        ORDER BY e.seq""", params)


def contact_details(store: Store, ids: list[str], scope: Scope) -> pl.DataFrame:
    """Profile fields of the given players (those in scope only), for exports."""
    links, params = scoped_links(scope)
    in_scope = f"AND p.player_id IN (SELECT player_id FROM {links})" if scope is not None else ""
    return store.sql(
        f"""SELECT p.player_id, p.first_name, p.last_name, p.email, p.phone, p.enrolled_at
        FROM players p WHERE p.player_id IN (SELECT unnest(?::VARCHAR[])) {in_scope}""", [ids, *params])


def scoped_events(store: Store, columns: list[str], scope: Scope) -> pl.DataFrame:
    """Current events in scope (the asked event columns): the input of the CLV and churn models."""
    from pipelines.schema import EVENT_COLUMNS

    cols = [c for c in dict.fromkeys(columns) if c in EVENT_COLUMNS]
    select = ", ".join("CAST(attrs AS VARCHAR) AS attrs" if c == "attrs" else c for c in cols)
    where, params = ("WHERE property_id IN (SELECT unnest(?::VARCHAR[]))", [list(scope)]) if scope is not None \
        else ("", [])
    return store.sql(f"SELECT {select} FROM events_current {where}", params)


def scoped_players(store: Store, scope: Scope) -> pl.DataFrame:
    """The player master rows (survivors) of the players in scope."""
    links, params = scoped_links(scope)
    in_scope = f"AND p.player_id IN (SELECT player_id FROM {links})" if scope is not None else ""
    return store.sql(f"SELECT p.* FROM players p WHERE p.player_id NOT IN (SELECT merged_id FROM player_aliases) "
                     f"{in_scope}", params)


def latest_schemes(store: Store) -> dict[str, str]:
    """TOML of the newest saved version of each scheme."""
    return store.latest_schemes()


def scheme_history(store: Store, name: str) -> pl.DataFrame:
    """Saved versions of one scheme, newest first (who, when, why)."""
    return store.scheme_versions(name).select("name", "version", "saved_by", "role", "saved_at", "reason")


def data_months(store: Store, scope: Scope) -> tuple[date | None, date | None]:
    """(first month with activity, month of the newest ingested event) of the events in scope: cohorts
    start no earlier than the first (older ones have no activity on record), and the second is
    still running (not a complete month)."""
    where, params = ("AND property_id IN (SELECT unnest(?::VARCHAR[]))", [list(scope)]) if scope is not None \
        else ("", [])
    row = store.sql(
        f"""SELECT CAST(date_trunc('month', min(ts) FILTER (WHERE event_type IN {ACTIVITY})) AS DATE) AS first,
            CAST(date_trunc('month', max(ts)) AS DATE) AS running
        FROM events WHERE source <> 'app' {where}""", params).row(0)
    return row[0], row[1]


def cohort_rollup(store: Store, *, basis: str, by: str, revenue: str, scope: Scope,
                  segment: str | None = None, as_of: date | None = None) -> pl.DataFrame:
    """Cohort counts in one pass over the events: rows tagged `part` = size (cohort, grp, players),
    activity (cohort, grp, k, active, revenue) or last (cohort, grp, last_k, players).

    A unit is a player (by = all / segment) or a player's link to a property (by = property: the
    cohort is their enrollment at, or first visit to, that property and only activity there
    counts). The cohort month is the month of enrollment (falling back to the first activity when
    unknown) or of the first activity; k counts months from it; activity before it is ignored.
    """
    if basis not in COHORT_BASES or by not in COHORT_GROUPS or revenue not in REVENUES:
        raise ValueError(f"unknown cohort option: basis={basis!r} by={by!r} revenue={revenue!r}")
    links, link_params = scoped_links(scope)
    params: list[Any] = list(link_params)
    per_property = by == "property"
    unit = "l.player_id, l.property_id AS grp" if per_property else "l.player_id, 'all' AS grp"
    units = f"SELECT {unit}, min(l.enrolled_at) AS enrolled FROM {links} l GROUP BY ALL"
    if by == "segment":
        labels = _checked([segment or ""], _columns(store, "player_segments"))
        if not labels:
            raise ValueError(f"no segment column {segment!r} in player_segments")
        units = (f"SELECT u.player_id, coalesce(CAST(s.{labels[0]} AS VARCHAR), '(none)') AS grp, u.enrolled "
                 f"FROM ({units}) u LEFT JOIN player_segments s ON s.player_id = u.player_id AND s.as_of = ?")
        params.append(as_of)
    event_scope = ""
    if scope is not None:
        event_scope = "AND e.property_id IN (SELECT unnest(?::VARCHAR[]))"
        params.append(list(scope))
    act_key = "e.player_id, e.property_id AS grp_key" if per_property else "e.player_id, NULL AS grp_key"
    join_key = "AND a.grp_key = u.grp" if per_property else ""
    cohort = ("coalesce(date_trunc('month', u.enrolled), min(a.month) FILTER (WHERE a.active) OVER w)"
              if basis == "enrollment" else "min(a.month) FILTER (WHERE a.active) OVER w")
    sql = f"""
    WITH u AS ({units}),
    a AS (
        SELECT {act_key}, date_trunc('month', e.ts) AS month,
            bool_or(e.event_type IN {ACTIVITY}) AS active, sum({REVENUES[revenue]}) AS revenue
        FROM events_current e
        WHERE e.event_type IN {(*ACTIVITY, 'marker')} {event_scope}
        GROUP BY ALL
    ),
    ua AS (
        SELECT u.player_id, u.grp, a.month, coalesce(a.active, false) AS active, a.revenue,
            CAST({cohort} AS DATE) AS cohort
        FROM u LEFT JOIN a ON a.player_id = u.player_id {join_key}
        WINDOW w AS (PARTITION BY u.player_id, u.grp)
    ),
    k AS (
        SELECT player_id, grp, cohort, active, revenue,
            CASE WHEN month IS NOT NULL THEN date_diff('month', cohort, CAST(month AS DATE)) END AS k
        FROM ua WHERE cohort IS NOT NULL
    )
    SELECT 'size' AS part, cohort, grp, NULL::BIGINT AS k, count(DISTINCT player_id) AS players,
        NULL::BIGINT AS active, NULL::DOUBLE AS revenue FROM k GROUP BY cohort, grp
    UNION ALL
    SELECT 'activity', cohort, grp, k, NULL, count(*) FILTER (WHERE active), sum(revenue)
    FROM k WHERE k >= 0 GROUP BY cohort, grp, k
    UNION ALL
    SELECT 'last', cohort, grp, last_k, count(*), NULL, NULL FROM (
        SELECT player_id, grp, cohort, max(k) FILTER (WHERE active AND k >= 0) AS last_k FROM k GROUP BY ALL
    ) GROUP BY cohort, grp, last_k"""
    return store.sql(sql, params)
