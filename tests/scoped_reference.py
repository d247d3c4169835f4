"""The one-player read through the access layer's `s_*` macros: how the app read a player's page
before `pipelines.access_player`, kept as the oracle that read is compared with (same policy, same
rows). Slow at scale (a scope branch planned per query); tests only."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from app.queries import NEWEST_AS_OF, in_ids, table_exists
from pipelines import cards
from pipelines.access import Access
from pipelines.access_player import ATTR_KEYS


def resolve_player(store: Access, player_id: str) -> str | None:
    """The survivor id of a visible player, as the macros answer it (a merged id whose survivor is
    out of scope answers itself when it is visible)."""
    frame = store.sql("SELECT coalesce((SELECT survivor_id FROM s_aliases() WHERE merged_id = ?), ?) AS id",
                      [player_id, player_id])
    survivor = frame["id"][0]
    seen = store.sql("SELECT count(*) AS n FROM s_players() WHERE player_id = ?", [survivor])["n"][0]
    return survivor if seen else None


def player_ids(store: Access, player_id: str) -> tuple[str, list[str]]:
    """(survivor id, every id that resolves to it: the survivor and its merged ids)."""
    survivor = resolve_player(store, player_id) or player_id
    merged = store.sql("SELECT merged_id FROM s_aliases() WHERE survivor_id = ?", [survivor])
    return survivor, [survivor, *merged["merged_id"].to_list()]


def player_profile(store: Access, player_id: str) -> dict[str, Any] | None:
    """The player master row, or None."""
    frame = store.sql("SELECT * FROM s_players() WHERE player_id = ?", [player_id])
    return frame.row(0, named=True) if frame.height else None


def player_properties(store: Access, ids: list[str]) -> pl.DataFrame:
    """The player's property links (card, tier, flags) over all of its ids."""
    among, params = in_ids(ids)
    return store.sql(f"SELECT * FROM s_player_properties() WHERE player_id IN {among} ORDER BY property_id", params)


def _attr_columns(prefix: str = "e.") -> str:
    return ", ".join(f"json_extract_string({prefix}attrs, '$.{k}') AS a_{k}" for k in ATTR_KEYS)


def player_events(store: Access, ids: list[str], limit: int = 100_000) -> pl.DataFrame:
    """Every stored version of the player's events, newest first, with `superseded` marking the
    versions a correction replaced (kept for note history) and the attrs the app reads as columns."""
    among, params = in_ids(ids)
    return store.sql(
        f"""SELECT e.event_id, e.seq, e.record_key, e.player_id, e.property_id, e.ts, e.event_type,
            e.amount, e.currency, e.points, e.game, e.game_type, e.location, e.avg_bet, e.minutes,
            e.theo, e.casino_win, e.ends_at, CAST(e.attrs AS VARCHAR) AS attrs, e.source,
            e.source_ref, e.actor, e.role, e.recorded_at, e.batch_id, e.corrects_event_id,
            e.event_id IN (SELECT corrects_event_id FROM s_events_all() WHERE corrects_event_id IS NOT NULL
                AND player_id IN {among}) AS superseded,
            {_attr_columns()}
        FROM s_events_all() e WHERE e.player_id IN {among}
        ORDER BY e.ts DESC, e.seq DESC LIMIT ?""",
        [*params, *params, limit],
    )


def snapshot_row(store: Access, table: str, player_id: str) -> dict[str, Any] | None:
    """The player's row in the newest snapshot of a derived table, or None."""
    if table not in ("player_metrics", "player_segments") or not table_exists(store, table):
        return None
    frame = store.sql(f"SELECT * FROM s_derived('{table}') WHERE as_of = {NEWEST_AS_OF} "
                      "AND player_id = ?", [player_id])
    return frame.row(0, named=True) if frame.height else None


def snapshot_rows(store: Access, player_id: str) -> dict[str, dict[str, Any] | None]:
    """The player's rows in the newest metrics and segments snapshots (table -> row or None).

    From the player's card (`pipelines.cards`: one indexed row of two packed values) when the cards
    are of the newest build, which costs a quarter of reading the two rows of 136 columns through
    the access layer; else from the snapshots. The card is read through `s_derived`, so the same
    scope check applies to it as to the snapshot rows."""
    if table_exists(store, "player_card_layout"):
        frame = store.sql(
            f"""SELECT l.layout, c.player_metrics, c.player_segments
            FROM s_derived('player_cards') c, player_card_layout l
            WHERE c.player_id = ? AND l.as_of = {NEWEST_AS_OF}""", [player_id])
        if frame.height:
            specs = json.loads(frame["layout"][0])
            rows = {t: None if frame[t][0] is None else cards.unpack(frame[t][0], specs[t], player_id)
                    for t in ("player_metrics", "player_segments")}
            if all(row is not None for row in rows.values()):
                return rows
    return {t: snapshot_row(store, t, player_id) for t in ("player_metrics", "player_segments")}


def player_insights(store: Access, player_id: str) -> pl.DataFrame:
    """The player's insights in the newest insights snapshot, most severe first."""
    if not table_exists(store, "player_insights"):
        return pl.DataFrame()
    return store.sql(
        f"""SELECT * FROM s_derived('player_insights')
        WHERE as_of = {NEWEST_AS_OF} AND player_id = ?
        ORDER BY CASE CAST(severity AS VARCHAR) WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
            rule""", [player_id])


def read_player(store: Access, requested: str, limit: int = 100_000) -> dict[str, Any] | None:
    """Everything the player page shows, read as the app did (None: not found for the principal)."""
    survivor, ids = player_ids(store, requested)
    profile = player_profile(store, survivor)
    if profile is None:
        return None
    rows = snapshot_rows(store, survivor)
    return {"player_id": survivor, "ids": ids, "profile": profile, "properties": player_properties(store, ids),
            "metrics": rows["player_metrics"], "segments": rows["player_segments"],
            "insights": player_insights(store, survivor), "events": player_events(store, ids, limit)}
