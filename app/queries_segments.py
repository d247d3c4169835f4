"""Reads of the segmentation and cohort pages, all through the access layer.

Every function takes the signed-in user's `Access` and reads only its scoped relations
(`s_players()`, `s_player_properties()`, `s_events()`, `s_derived('player_metrics')`, ...), so the
user's property scope and masking apply to every count, chart, list and export. Column names that
reach the SQL text come from the store's own schema (validated here), never from what a person
typed; values are parameters.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import polars as pl

from app.queries import ACTIVITY, BEST_TIER, table_exists
from pipelines.access import Access
COHORT_BASES = ("enrollment", "first_visit")
COHORT_GROUPS = ("all", "segment", "property")
REVENUES = {  # label -> SQL over one event row (constant text)
    "theo": "CASE WHEN e.event_type = 'rating_slip' THEN e.theo END",
    "cash_in": "CASE WHEN e.event_type IN ('buy_in', 'marker') THEN e.amount END",
    "win": "CASE WHEN e.event_type = 'rating_slip' THEN e.casino_win END",
}
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _columns(acc: Access, table: str) -> list[str]:
    """Columns of a derived table (empty when it does not exist)."""
    if not table_exists(acc, table):
        return []
    return acc.sql(f"SELECT * FROM s_derived('{table}') LIMIT 0").columns


def _checked(wanted: list[str], have: list[str]) -> list[str]:
    """The wanted columns the table has (identifiers only, in the order asked)."""
    return [c for c in dict.fromkeys(wanted) if c in have and _NAME.fullmatch(c)]


# the property links the user sees, merged ids resolved to their survivor
LINKS = """(SELECT coalesce(a.survivor_id, pp.player_id) AS player_id, pp.property_id, pp.tier, pp.enrolled_at
           FROM s_player_properties() pp LEFT JOIN s_aliases() a ON a.merged_id = pp.player_id)"""


def snapshot_dates(acc: Access) -> list[date]:
    """As-of dates of the segment snapshots, newest first."""
    if not table_exists(acc, "player_segments"):
        return []
    return acc.sql("SELECT DISTINCT as_of FROM s_derived('player_segments') ORDER BY as_of DESC")["as_of"].to_list()


def metrics_frame(acc: Access, as_of: date, columns: list[str]) -> pl.DataFrame:
    """The players the user sees at one snapshot: player_id, the asked metric columns (those that
    exist), name (a pseudonym where personal data is masked), status, best tier and properties."""
    cols = _checked(columns, _columns(acc, "player_metrics"))
    select = ", ".join(f"m.{c}" for c in cols if c != "player_id")
    return acc.sql(
        f"""SELECT m.player_id, {select + ',' if select else ''}
            coalesce(nullif(trim(coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')), ''), p.pseudonym)
                AS name, p.status, l.tier, coalesce(l.properties, []) AS properties
        FROM s_derived('player_metrics') m JOIN s_players() p ON p.player_id = m.player_id
        LEFT JOIN (SELECT pp.player_id, {BEST_TIER} AS tier,
                          list(DISTINCT pp.property_id ORDER BY pp.property_id) AS properties
                   FROM {LINKS} pp GROUP BY pp.player_id) l ON l.player_id = m.player_id
        WHERE m.as_of = ?
        ORDER BY m.player_id""", [as_of])


def stored_labels(acc: Access, as_of: date, columns: list[str]) -> pl.DataFrame:
    """player_id and the asked label columns of the segments snapshot of `as_of` (visible players)."""
    cols = _checked(columns, _columns(acc, "player_segments"))
    select = "".join(f", CAST(s.{c} AS VARCHAR) AS {c}" for c in cols)
    return acc.sql(f"SELECT s.player_id{select} FROM s_derived('player_segments') s WHERE s.as_of = ?", [as_of])


def tag_events(acc: Access) -> pl.DataFrame:
    """Tag added / removed events of the visible players (seq order): player_id, seq, event_type, tag.
    Tags are app writes: few compared with play events."""
    return acc.sql(
        """SELECT e.player_id, e.seq, e.event_type, json_extract_string(e.attrs, '$.tag') AS tag
        FROM s_events() e WHERE e.event_type IN ('tag_added', 'tag_removed') ORDER BY e.seq""")


def contact_details(acc: Access, ids: list[str]) -> pl.DataFrame:
    """Profile fields of the given players as the user may see them (masked: NULL, with the
    pseudonym), for exports."""
    return acc.sql(
        """SELECT p.player_id, p.pseudonym, p.first_name, p.last_name, p.email, p.phone, p.enrolled_at
        FROM s_players() p WHERE p.player_id IN (SELECT unnest(?::VARCHAR[]))""", [ids])


def scoped_events(acc: Access, columns: list[str]) -> pl.DataFrame:
    """Current events the user sees (the asked event columns): the input of the CLV and churn models."""
    from pipelines.schema import EVENT_COLUMNS

    cols = [c for c in dict.fromkeys(columns) if c in EVENT_COLUMNS]
    select = ", ".join("CAST(attrs AS VARCHAR) AS attrs" if c == "attrs" else c for c in cols)
    return acc.sql(f"SELECT {select} FROM s_events()")


def scoped_players(acc: Access) -> pl.DataFrame:
    """The player master rows (survivors) the user sees, masked as for them."""
    return acc.sql("SELECT p.* FROM s_players() p WHERE p.player_id NOT IN (SELECT merged_id FROM s_aliases())")


def latest_schemes(acc: Access) -> dict[str, str]:
    """TOML of the newest saved version of each scheme (thresholds are not personal data)."""
    rows = acc.sql("SELECT name, arg_max(toml, version) AS toml FROM scheme_versions GROUP BY name")
    return dict(rows.iter_rows())


def scheme_history(acc: Access, name: str) -> pl.DataFrame:
    """Saved versions of one scheme, newest first (who, when, why)."""
    return acc.sql("SELECT name, version, saved_by, role, saved_at, reason FROM scheme_versions WHERE name = ? "
                   "ORDER BY version DESC", [name])


def data_months(acc: Access) -> tuple[date | None, date | None]:
    """(first month with activity, month of the newest ingested event) of the events the user sees:
    cohorts start no earlier than the first (older ones have no activity on record), and the
    second is still running (not a complete month)."""
    row = acc.sql(
        f"""SELECT CAST(date_trunc('month', min(ts) FILTER (WHERE event_type IN {ACTIVITY})) AS DATE) AS first,
            CAST(date_trunc('month', max(ts)) AS DATE) AS running
        FROM s_events() WHERE source <> 'app'""").row(0)
    return row[0], row[1]


def cohort_rollup(acc: Access, *, basis: str, by: str, revenue: str, segment: str | None = None,
                  as_of: date | None = None) -> pl.DataFrame:
    """Cohort counts in one pass over the events: rows tagged `part` = size (cohort, grp, players),
    activity (cohort, grp, k, active, revenue) or last (cohort, grp, last_k, players).

    Only what the user sees counts: their players, and events at their properties. A unit is a
    player (by = all / segment) or a player's link to a property (by = property: the
    cohort is their enrollment at, or first visit to, that property and only activity there
    counts). The cohort month is the month of enrollment (falling back to the first activity when
    unknown) or of the first activity; k counts months from it; activity before it is ignored.
    """
    if basis not in COHORT_BASES or by not in COHORT_GROUPS or revenue not in REVENUES:
        raise ValueError(f"unknown cohort option: basis={basis!r} by={by!r} revenue={revenue!r}")
    params: list[Any] = []
    per_property = by == "property"
    unit = "l.player_id, l.property_id AS grp" if per_property else "l.player_id, 'all' AS grp"
    units = f"SELECT {unit}, min(l.enrolled_at) AS enrolled FROM {LINKS} l GROUP BY ALL"
    if by == "segment":
        labels = _checked([segment or ""], _columns(acc, "player_segments"))
        if not labels:
            raise ValueError(f"no segment column {segment!r} in player_segments")
        units = (f"SELECT u.player_id, coalesce(CAST(s.{labels[0]} AS VARCHAR), '(none)') AS grp, u.enrolled "
                 f"FROM ({units}) u LEFT JOIN s_derived('player_segments') s ON s.player_id = u.player_id "
                 "AND s.as_of = ?")
        params.append(as_of)
    act_key = "e.player_id, e.property_id AS grp_key" if per_property else "e.player_id, NULL AS grp_key"
    join_key = "AND a.grp_key = u.grp" if per_property else ""
    cohort = ("coalesce(date_trunc('month', u.enrolled), min(a.month) FILTER (WHERE a.active) OVER w)"
              if basis == "enrollment" else "min(a.month) FILTER (WHERE a.active) OVER w")
    sql = f"""
    WITH u AS ({units}),
    a AS (
        SELECT {act_key}, date_trunc('month', e.ts) AS month,
            bool_or(e.event_type IN {ACTIVITY}) AS active, sum({REVENUES[revenue]}) AS revenue
        FROM s_events() e
        WHERE e.event_type IN {(*ACTIVITY, 'marker')}
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
    return acc.sql(sql, params)
