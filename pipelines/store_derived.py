"""Store reads and writes of the derived build: player-range shards, changed players, fitted models.

A mixin of :class:`pipelines.store.Store` (which owns the connection and the one ``import duckdb``):
every query here runs on ``self.con`` with bound parameters, against the table names of
``pipelines.schema``.

Shards are ranges of player ids, not hash buckets: ``events`` is stored sorted by player
(``Store.compact_events``), so DuckDB's zone maps let a range query read only its own row groups,
where a hash bucket would rescan every row group once per shard. A range is taken over the resolved
(survivor) id of ``events_current``, so a merged player's events land in the survivor's shard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import polars as pl

from pipelines import schema as S

IdRange = tuple[str | None, str | None]  # [lo, hi) of player ids; None = open end


def _range_sql(id_range: IdRange | None, column: str = "player_id") -> tuple[str, list[Any]]:
    """A WHERE fragment (and its parameters) keeping the ids of a range."""
    if id_range is None:
        return "TRUE", []
    lo, hi = id_range
    parts, params = ["TRUE"], []
    if lo is not None:
        parts.append(f"{column} >= ?")
        params.append(lo)
    if hi is not None:
        parts.append(f"{column} < ?")
        params.append(hi)
    return " AND ".join(parts), params


class DerivedStore:
    """Reads and writes of the derived build (mixed into Store)."""

    con: Any

    def sql(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:  # implemented by Store
        raise NotImplementedError

    def _exists(self, table: str) -> bool:  # implemented by Store
        raise NotImplementedError

    def settings(self, **values: Any) -> Any:  # implemented by Store
        raise NotImplementedError

    # -- shards ---------------------------------------------------------------------------------
    def events_count(self) -> int:
        """Rows of the events table (a size estimate for choosing the shard count)."""
        return int(self.con.execute(f"SELECT count(*) FROM {S.EVENTS}").fetchall()[0][0])

    def id_ranges(self, shards: int) -> list[IdRange]:
        """``shards`` contiguous ranges of player ids with about as many players each."""
        if shards <= 1:
            return [(None, None)]
        levels = [k / shards for k in range(1, shards)]
        cuts = self.con.execute(
            f"SELECT quantile_disc(player_id, ?::DOUBLE[]) FROM {S.PLAYERS}", [levels]
        ).fetchall()[0][0] or []
        edges = [None, *dict.fromkeys(cuts), None]
        return list(zip(edges[:-1], edges[1:], strict=True))

    def _selected(self, id_range: IdRange | None, players: pl.DataFrame | None) -> tuple[str, list[Any]]:
        """WHERE fragment for a range and/or a registered frame of player ids (`_wanted`)."""
        where, params = _range_sql(id_range)
        if players is not None:
            self.con.register("_wanted", players.select(pl.col("player_id").cast(pl.String)))
            where += " AND player_id IN (SELECT player_id FROM _wanted)"
        return where, params

    def events_for(self, columns: Sequence[str], *, id_range: IdRange | None = None,
                   players: pl.DataFrame | None = None,
                   attributes: Mapping[str, tuple[str, Sequence[str]]] | None = None) -> pl.DataFrame:
        """Current events (corrections applied, merges resolved) of a player range or of some players.

        ``attributes``: name -> (JSON path, event types) of keys of ``attrs`` shipped as columns of
        their own, extracted here for those event types (null on the others), so that a reader that
        needs a key or two of the widest column does not get the whole JSON.
        """
        select = [f"CAST({c} AS VARCHAR) AS {c}" if c == "attrs" else c for c in columns if c in S.EVENT_COLUMNS]
        head: list[Any] = []
        for name, (path, types) in (attributes or {}).items():
            if not name.isidentifier() or name in S.EVENT_COLUMNS:
                raise ValueError(f"not an attribute column name: {name!r}")
            select.append(f"CASE WHEN list_contains(?::VARCHAR[], event_type) THEN json_extract_string(attrs, ?) END "
                          f"AS {name}")
            head += [list(types), path]
        where, params = self._selected(id_range, players)
        try:
            return self.sql(f"SELECT {', '.join(select)} FROM {S.EVENTS_CURRENT} WHERE {where}", head + params)
        finally:
            if players is not None:
                self.con.unregister("_wanted")

    def players_for(self, *, id_range: IdRange | None = None, players: pl.DataFrame | None = None) -> pl.DataFrame:
        """The player master (survivors only: id and enrolment) of a range or of some players."""
        where, params = self._selected(id_range, players)
        try:
            return self.sql(
                f"SELECT player_id, enrolled_at FROM {S.PLAYERS} WHERE {where} "
                f"AND player_id NOT IN (SELECT merged_id FROM {S.PLAYER_ALIASES})", params)
        finally:
            if players is not None:
                self.con.unregister("_wanted")

    def sample_players(self, n: int) -> pl.DataFrame:
        """``n`` survivor ids chosen by the md5 of the id: the same players whoever asks, whatever
        the shard (all of them when there are fewer), sorted."""
        return self.sql(
            f"""SELECT player_id FROM (
                SELECT player_id FROM {S.PLAYERS} WHERE player_id NOT IN (SELECT merged_id FROM {S.PLAYER_ALIASES})
                ORDER BY md5(player_id), player_id LIMIT ?) ORDER BY player_id""",
            [n],
        )

    def first_event_ts(self, event_types: Sequence[str], *, by: datetime | None = None) -> datetime | None:
        """The earliest current event of some types (None without any). With ``by``: the time of
        any one of them at or before ``by`` when there is one, else the earliest. (Whether history
        reaches back to a date needs no more: the scan stops at the first such event, 4 ms at 20M
        events, where the earliest takes a pass over every event, 0.2-0.5 s.)"""
        of_types = f"FROM {S.EVENTS_CURRENT} WHERE list_contains(?::VARCHAR[], event_type)"
        types = list(event_types)
        if by is not None:
            rows = self.con.execute(f"SELECT ts {of_types} AND ts <= ? LIMIT 1", [types, by]).fetchall()
            if rows:
                return rows[0][0]
        return self.con.execute(f"SELECT min(ts) {of_types}", [types]).fetchall()[0][0]

    # -- what changed since a build ---------------------------------------------------------------
    def merge_watermark(self) -> int:
        """The newest merge/unmerge action (0 when none)."""
        return int(self.con.execute(f"SELECT coalesce(max(merge_seq), 0) FROM {S.PLAYER_MERGES}").fetchall()[0][0])

    def carry_base(self, as_of: Any, catalog_version: str) -> dict[str, Any] | None:
        """The finished build whose player_metrics snapshot is nearest to ``as_of`` and was computed
        with the same metric definitions (its rows are still the ones it wrote), or None."""
        if not self._exists("player_metrics"):
            return None
        frame = self.sql(
            f"""SELECT * FROM {S.BUILDS} b WHERE status = 'done' AND catalog_version = ?
                AND merge_seq IS NOT NULL
                AND started_at = (SELECT max(started_at) FROM {S.BUILDS} l
                                  WHERE l.as_of = b.as_of AND l.status = 'done')
            ORDER BY abs(date_diff('day', as_of, ?::DATE)), started_at DESC,
                     -- builds of one day started in one second: the one that saw the most (the later)
                     max_seq DESC, visible_seq DESC NULLS LAST, batches_seen DESC, finished_at DESC LIMIT 1""",
            [catalog_version, as_of],
        )
        return frame.row(0, named=True) if frame.height else None

    def changed_players(self, base: dict[str, Any], *, cutoff: datetime,
                        intervals: Sequence[tuple[datetime, datetime]],
                        enrolled: tuple[datetime, datetime] | None) -> pl.DataFrame:
        """Player ids whose rows may differ from the base build's snapshot (survivors, and merged-away
        ids whose old rows must go).

        Players with events added since the base build (by sequence, or in a batch the base build
        did not see: a 'running' batch's events are hidden until it commits, whatever their sequence
        numbers) up to ``cutoff``, or superseded by such events; both sides of merges since;
        players with events in the ``intervals`` the moving cutoff sweeps (``(lo, hi]``); players
        whose enrolment falls in ``enrolled``. Over-inclusion only costs time, never correctness.
        """
        swept = " OR ".join("(ts > ? AND ts <= ?)" for _ in intervals) or "FALSE"
        if base.get("visible_seq") is not None:
            new_batch = "visible_seq > ? OR list_contains(?, batch_id)"
            batch_params: list[Any] = [base["visible_seq"], list(base["running_batches"] or [])]
        else:  # built before batches were numbered: finished since it started (whole seconds, so more)
            new_batch, batch_params = "finished_at >= ?", [base["started_at"]]
        params: list[Any] = [base["max_seq"], *batch_params, cutoff]
        params += [t for pair in intervals for t in pair]
        params += [base["merge_seq"], base["merge_seq"]]
        params += list(enrolled) if enrolled else [None, None]
        return self.sql(
            f"""WITH fresh AS (
                SELECT player_id, ts, corrects_event_id FROM {S.EVENTS}
                WHERE (seq > ? OR batch_id IN (SELECT batch_id FROM {S.INGEST_BATCHES}
                                               WHERE status <> 'running' AND ({new_batch})))
                  AND {S.VISIBLE}  -- a running batch's players: the build after it commits
            ), touched AS (
                SELECT player_id FROM fresh WHERE ts <= ?
                UNION ALL SELECT player_id FROM {S.EVENTS}
                    WHERE event_id IN (SELECT corrects_event_id FROM fresh WHERE corrects_event_id IS NOT NULL)
                UNION ALL SELECT player_id FROM {S.EVENTS} WHERE {swept}
                UNION ALL SELECT merged_id FROM {S.PLAYER_MERGES} WHERE merge_seq > ?
                UNION ALL SELECT survivor_id FROM {S.PLAYER_MERGES} WHERE merge_seq > ?
                UNION ALL SELECT player_id FROM {S.PLAYERS} WHERE enrolled_at > ? AND enrolled_at <= ?
            )
            SELECT DISTINCT player_id FROM (
                SELECT player_id FROM touched  -- a merged-away id too: its old row must go
                UNION ALL
                SELECT coalesce(a.survivor_id, t.player_id) FROM touched t
                LEFT JOIN {S.PLAYER_ALIASES} a ON a.merged_id = t.player_id
            ) ORDER BY player_id""",
            params,
        )

    def batch_horizon(self) -> dict[str, Any]:
        """The ingest batches readers see now, in one snapshot: how many (``batches_seen``), the
        highest ``visible_seq`` among them, and the ids of those still running (hidden now, their
        number possibly drawn already): everything the next build needs to tell which batches are new."""
        seen, top, running = self.con.execute(
            f"""SELECT count(*) FILTER (status <> 'running'), coalesce(max(visible_seq), 0),
                       coalesce(list(batch_id) FILTER (status = 'running'), [])
                FROM {S.INGEST_BATCHES}""").fetchall()[0]
        return {"batches_seen": int(seen), "visible_seq": int(top), "running_batches": list(running)}

    def build_saw_everything(self, as_of: Any, *, max_seq: int, merge_seq: int, batches: int,
                             catalog_version: str) -> bool:
        """Whether a finished build of ``as_of`` saw every event, merge and visible batch there is
        now, computed with the current metric definitions."""
        return self.con.execute(
            f"""SELECT count(*) FROM {S.BUILDS} WHERE as_of = ? AND status = 'done' AND max_seq = ?
                AND merge_seq = ? AND batches_seen = ? AND catalog_version = ?""",
            [as_of, max_seq, merge_seq, batches, catalog_version],
        ).fetchall()[0][0] > 0

    def snapshot_columns(self, table: str, as_of: Any, columns: Sequence[str]) -> pl.DataFrame:
        """Some columns of one derived snapshot (in the order its rows were written)."""
        if table not in S.DERIVED:
            raise ValueError(f"not a derived table: {table!r}")
        have = {r[0] for r in self.con.execute(f"DESCRIBE {table}").fetchall()}
        missing = [c for c in columns if c not in have]
        if missing:
            raise KeyError(f"{table} lacks {missing}")
        select = ", ".join(f'"{c}"' for c in columns)
        return self.sql(f"SELECT {select} FROM {table} WHERE as_of = ?", [as_of])

    def clear_snapshot(self, table: str, as_of: Any) -> None:
        """Drop the rows of ``as_of`` from a derived table (a build that has nothing for it)."""
        if table not in S.DERIVED:
            raise ValueError(f"not a derived table: {table!r}")
        if self._exists(table):
            self.con.execute(f"DELETE FROM {table} WHERE as_of = ?", [as_of])

    # -- fitted population models -----------------------------------------------------------------
    def save_fit(self, *, fit_id: str, kind: str, as_of: Any, build_id: str, catalog_version: str,
                 params: dict[str, Any], actor: str, role: str) -> None:
        """Keep a fitted model's parameters (JSON) for later builds to score with."""
        self.con.execute(
            f"INSERT INTO {S.MODEL_FITS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [fit_id, kind, as_of, build_id, catalog_version, json.dumps(params), actor, role,
             datetime.now().replace(microsecond=0)],
        )

    def latest_fit(self, kind: str, catalog_version: str, as_of: Any) -> dict[str, Any] | None:
        """The newest fit of ``kind`` made as of ``as_of`` or earlier with these metric definitions."""
        frame = self.sql(
            f"""SELECT * FROM {S.MODEL_FITS} WHERE kind = ? AND catalog_version = ? AND as_of <= ?
            ORDER BY as_of DESC, fitted_at DESC LIMIT 1""",
            [kind, catalog_version, as_of],
        )
        if frame.height == 0:
            return None
        row = frame.row(0, named=True)
        return row | {"params": json.loads(row["params"])}

    @contextmanager
    def build_session(self, memory_limit: str | None = None) -> Iterator[None]:
        """Run the block without DuckDB's own progress bar (the build shows its stages) and, when
        given, with DuckDB's buffer pool capped at ``memory_limit`` (e.g. "1GB"); restore both after."""
        capped = {"memory_limit": _size(memory_limit)} if memory_limit else {}
        with self.settings(enable_progress_bar=False, **capped):
            yield


def _size(text: str) -> str:
    """A memory size such as '1GB' or '953.6 MiB', checked before it goes into a SET statement."""
    import re

    value = str(text).strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]?i?B", value, flags=re.IGNORECASE):
        raise ValueError(f"not a memory size: {text!r}")
    return value
