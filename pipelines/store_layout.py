"""The storage layout for one-player reads: player-sorted tables and the one-player 360 read.

A mixin of :class:`pipelines.store.Store` (which owns the connection and the one ``import duckdb``).
DuckDB 2.0 ignores an ART index under ORDER BY ... LIMIT, so what makes a one-player read touch one
row group instead of scanning 20M events is the physical order: ``events`` and ``player_properties``
sorted by player (``compact_events``), each derived snapshot written sorted by player, and queries
whose player filter reaches the scan (an equality or IN-list on a stored column, not an expression).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import polars as pl

from pipelines import schema as S

__all__ = ["MAX_SORTED_RUNS", "SORTED_EVENTS_KEY", "SORT_PROPERTIES_TAIL", "SORT_TAIL_ROWS", "WHOLE_TIMELINE",
           "PointReads", "newest_first"]

SORTED_EVENTS_KEY = "events_sorted"  # settings: {"seq": newest seq in the sorted runs, "runs": how many}
# One more sorted run per this many appended events; a full compaction past this many runs. Each run
# adds about one row group (0.3 ms) to a one-player read; sorting a 250k tail takes about a second,
# a full compaction of 20M events about 100 s of CPU.
SORT_TAIL_ROWS = 250_000
MAX_SORTED_RUNS = 8
SORT_PROPERTIES_TAIL = 20_000  # player_properties: rewritten whole (small) past this unsorted tail
WHOLE_TIMELINE = 2_000  # a one-player read takes all of a player's events in one scan up to this many


# DuckDB result types of the events table and their Polars types (as DuckDB's Arrow export gives them)
_POLARS: dict[str, pl.DataType] = {
    "VARCHAR": pl.String(), "JSON": pl.String(), "BIGINT": pl.Int64(), "INTEGER": pl.Int32(),
    "DOUBLE": pl.Float64(), "TIMESTAMP": pl.Datetime("us"), "DATE": pl.Date(), "BOOLEAN": pl.Boolean(),
    "VARCHAR[]": pl.List(pl.String()),
}


def newest_first(rows: list[tuple], names: list[str]) -> set[str]:
    """Order one player's event rows (columns ``names``) newest first, by ts then seq, in place; return
    the ids of the versions a correction among them supersedes."""
    at = {name: k for k, name in enumerate(names)}
    corrects, ts, seq = at["corrects_event_id"], at["ts"], at["seq"]
    rows.sort(key=lambda r: (r[ts], r[seq]), reverse=True)
    return {r[corrects] for r in rows if r[corrects] is not None}


class PointReads:
    """Compaction and one-player reads (mixed into Store)."""

    con: Any
    frozen: bool = False  # set by Store: whether the connection can see no change (opened read-only)

    def sql(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:  # implemented by Store
        raise NotImplementedError

    def _once(self, key: str, read: Callable[[], Any]) -> Any:  # implemented by Store
        raise NotImplementedError

    def transaction(self) -> Any:  # implemented by Store
        raise NotImplementedError

    def resolve_player(self, player_id: str) -> str:  # implemented by Store
        raise NotImplementedError

    def _exists(self, table: str) -> bool:  # implemented by Store
        raise NotImplementedError

    def compact_events(self) -> int:
        """Rewrite `events` sorted by player and time (same rows, same ids), and `player_properties`
        sorted by player; return the event count.

        A player's events then sit together on disk, so reading one player's timeline touches a
        few row groups (DuckDB 2.0 skips an index under ORDER BY ... LIMIT, so sorting is what
        makes single-player reads fast); likewise the access layer's check of a player's property
        links. Nothing is added, removed or changed. Costly at scale (20M events: about 100 s of
        CPU); between compactions `keep_sorted` sorts only what was appended.
        """
        with self.transaction():
            after = self._rewrite_sorted(S.EVENTS, "player_id, ts, seq")
            self._rewrite_sorted(S.PLAYER_PROPERTIES, "player_id, property_id")
            self._save_sorted(self._max_seq(), 1)
        return after

    def keep_sorted(self, *, tail_rows: int = SORT_TAIL_ROWS, max_runs: int = MAX_SORTED_RUNS,
                    max_share: float = 0.25) -> str | None:
        """Keep `events` in few player-sorted runs: sort the events appended since the last sort once
        there are ``tail_rows`` of them ("tail": one more run), compact the whole table once that
        would make more than ``max_runs`` runs or the tail is over ``max_share`` of the table ("full").
        Returns what was done (None: nothing). A one-player read scans about one row group per run.
        """
        seq, runs = self._sorted_state()
        tail = self.con.execute(f"SELECT count(*) FROM {S.EVENTS} WHERE seq > ?", [seq]).fetchall()[0][0]
        if tail < tail_rows:
            return None
        total = self.con.execute(f"SELECT count(*) FROM {S.EVENTS}").fetchall()[0][0]
        if runs + 1 > max_runs or tail > max_share * total:
            self.compact_events()
            return "full"
        with self.transaction():  # the tail's rows deleted and appended again in player order
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _tail AS SELECT * FROM {S.EVENTS} WHERE seq > ?", [seq])
            self.con.execute(f"DELETE FROM {S.EVENTS} WHERE seq > ?", [seq])
            self.con.execute(f"INSERT INTO {S.EVENTS} SELECT * FROM _tail ORDER BY player_id, ts, seq")
            self.con.execute("DROP TABLE _tail")
            self._save_sorted(self._max_seq(), runs + 1)
        return "tail"

    def keep_properties_sorted(self, tail_rows: int = SORT_PROPERTIES_TAIL) -> bool:
        """Rewrite `player_properties` sorted by player once ``tail_rows`` links sit after its sorted
        prefix (new players' links are appended); True when it did. The access layer checks a
        player's links on every scoped one-player read: unsorted, that check scans the whole table
        (50-150 ms at 1M players), sorted it reads one row group. Measuring costs one scan of the ids
        (tens of ms at 1M links); the rewrite about 7 s."""
        if self._unsorted_tail(S.PLAYER_PROPERTIES) < tail_rows:
            return False
        with self.transaction():
            self._rewrite_sorted(S.PLAYER_PROPERTIES, "player_id, property_id")
        return True

    def _unsorted_tail(self, table: str) -> int:
        """Rows of a table from the first whose player_id is below its predecessor's, in scan order."""
        return int(self.con.execute(
            f"""WITH scan AS (SELECT player_id < lag(player_id) OVER () AS drop_, row_number() OVER () AS n
                              FROM {table})
            SELECT coalesce(max(n) + 1 - min(n) FILTER (WHERE drop_), 0) FROM scan""").fetchall()[0][0])

    def unsorted_events(self) -> int:
        """Events appended after the player-sorted runs of `events` (since the last sort)."""
        seq, _ = self._sorted_state()
        return int(self.con.execute(f"SELECT count(*) FROM {S.EVENTS} WHERE seq > ?", [seq]).fetchall()[0][0])

    def _sorted_state(self) -> tuple[int, int]:
        """(newest seq in the sorted runs, number of runs). Events are appended in seq order, so what
        came after the sorted runs is the events with a larger seq. Without a record, the sorted
        prefix of the table is measured once (about 0.5 s at 20M events) and recorded."""
        known = self.con.execute(f"SELECT value FROM {S.SETTINGS} WHERE key = ?", [SORTED_EVENTS_KEY]).fetchall()
        if known:
            state = json.loads(known[0][0])
            return int(state["seq"]), int(state["runs"])
        seq = self.con.execute(  # the newest seq among the rows before the first drop in player order
            f"""WITH scan AS (SELECT seq, player_id < lag(player_id) OVER () AS drop_,
                                     row_number() OVER () AS n FROM {S.EVENTS}),
                first AS (SELECT coalesce(min(n) FILTER (WHERE drop_), max(n) + 1) AS n FROM scan)
            SELECT coalesce(max(seq), 0) FROM scan WHERE n < (SELECT n FROM first)""").fetchall()[0][0]
        self._save_sorted(int(seq), 1)
        return int(seq), 1

    def _save_sorted(self, seq: int, runs: int) -> None:
        self.con.execute(f"INSERT OR REPLACE INTO {S.SETTINGS} VALUES (?, ?)",
                         [SORTED_EVENTS_KEY, json.dumps({"seq": seq, "runs": runs})])

    def _max_seq(self) -> int:
        return int(self.con.execute(f"SELECT coalesce(max(seq), 0) FROM {S.EVENTS}").fetchall()[0][0])

    def _rewrite_sorted(self, table: str, order: str) -> int:
        """Replace a table by a sorted copy with the same definition and indexes (in a transaction)."""
        return S.rewrite_table(self.con, table, order=order)

    def card(self, player_id: str, as_of: Any) -> dict[str, Any] | None:  # implemented by PlayerCards
        raise NotImplementedError

    def player_360(self, player_id: str, limit: int = 200) -> dict[str, Any]:
        """One player's newest metrics row, segments row and last `limit` events (merges resolved).

        Point reads, each a few tenths of a millisecond but the events: the survivor and merged ids
        (`ids_of`); the rows from the player's card (``pipelines.cards``: one BLOB per table found
        by an index, where the 136 columns of the two snapshot rows cost DuckDB about 9 ms) when the
        cards are of the newest build's as_of, else from the snapshots by a constant as_of (each
        written sorted by player: one row group); the events by an IN-list on the stored player id
        (kept sorted by `keep_sorted`). Hidden batches and the player's corrected versions are passed
        as lists: as subqueries they would cost a join per read (3x the events read itself). A
        query per value, not one query of scalar subqueries: DuckDB plans those slower than it runs
        the separate queries. On a frozen connection (opened read-only: nothing can change while it
        is open) the newest as_of, the hidden batches and the aliases are asked once, not per read
        (about 2 ms of CPU per read at 1M players). See `_newest_events` for the events.
        """
        survivor, merged = self.ids_of(player_id)
        newest, hidden = self.newest_as_of(), self.hidden_batches()
        out: dict[str, Any] = {"player_id": survivor}
        card = self.card(survivor, newest) if newest is not None else None
        for table in S.CARD_TABLES:
            row = card.get(table) if card is not None else None
            if row is None and newest is not None:  # a finished build wrote every derived table of its as_of
                row = self.first_row(f"SELECT * FROM {table} WHERE as_of = ? AND player_id = ?", [newest, survivor])
            if row is None and self._exists(table):  # not in the newest snapshot: the player's newest row
                row = self.first_row(f"SELECT * FROM {table} WHERE player_id = ? ORDER BY as_of DESC LIMIT 1", [survivor])
            out[table] = row
        out["events"] = self._newest_events([survivor, *merged], hidden, limit)
        return out

    def newest_as_of(self) -> Any:
        """The as_of of the newest finished build (None before the first); asked once when frozen."""
        return self._once("newest_build", lambda: self.con.execute(
            f"SELECT max(as_of) FROM {S.BUILDS} WHERE status = 'done'").fetchall()[0][0])

    def hidden_batches(self) -> list[str]:
        """Ingest batches still running (their events hidden from readers); asked once when frozen."""
        return self._once("hidden_batches", lambda: [r[0] for r in self.con.execute(S.HIDDEN_BATCHES).fetchall()])

    def ids_of(self, player_id: str) -> tuple[str, list[str]]:
        """(survivor id, its merged ids) of a player id. Frozen: from every alias, read once (a few
        hundred bytes per merge); else the survivor and merged ids in one lookup, two for a merged id."""
        if self.frozen:
            survivor_of, merged_of = self._once("aliases", self._all_aliases)
            survivor = survivor_of.get(player_id, player_id)
            return survivor, merged_of.get(survivor, [])
        links = self.con.execute(f"SELECT survivor_id, merged_id FROM {S.PLAYER_ALIASES} "
                                 "WHERE merged_id = ? OR survivor_id = ?", [player_id, player_id]).fetchall()
        survivor = next((s for s, m in links if m == player_id), player_id)
        if survivor == player_id:
            return survivor, [m for s, m in links if s == survivor]
        # a merged id: its survivor's other merged ids too
        return survivor, [r[0] for r in self.con.execute(
            f"SELECT merged_id FROM {S.PLAYER_ALIASES} WHERE survivor_id = ?", [survivor]).fetchall()]

    def _all_aliases(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        """(merged id -> survivor, survivor -> merged ids) over every alias."""
        survivor_of: dict[str, str] = {}
        merged_of: dict[str, list[str]] = {}
        for survivor, merged in self.con.execute(f"SELECT survivor_id, merged_id FROM {S.PLAYER_ALIASES}").fetchall():
            survivor_of[merged] = survivor
            merged_of.setdefault(survivor, []).append(merged)
        return survivor_of, merged_of

    def _newest_events(self, ids: list[str], hidden: list[str], limit: int) -> pl.DataFrame:
        """The newest ``limit`` current events of some player ids (batches in ``hidden`` left out,
        versions a correction superseded too), newest first.

        Most players have a few dozen events: one scan reads all of them, and the superseded
        versions and the order are settled here (2.3 ms at 20M events, where a query for the
        corrected ids and one for the ordered newest rows, each scanning the player's row groups,
        take 4). A player with more than ``WHOLE_TIMELINE`` events takes those two queries instead.
        """
        mine = f"player_id IN ({', '.join('?' * len(ids))})"
        # nothing hidden (the usual case): no predicate, so batch_id is not read for it
        visible, shown = ("NOT list_contains(?::VARCHAR[], batch_id)", [hidden]) if hidden else ("true", [])
        rows, types = self.small_rows(f"SELECT * FROM {S.EVENTS} WHERE {mine} AND {visible} LIMIT ?",
                                      [*ids, *shown, WHOLE_TIMELINE + 1])
        if len(rows) <= WHOLE_TIMELINE and all(t is not None for t in types.values()):
            gone = newest_first(rows, list(types))
            eid = list(types).index("event_id")
            return pl.DataFrame([r for r in rows if r[eid] not in gone][:limit], schema=types, orient="row")
        corrected = [r[0] for r in self.con.execute(
            f"SELECT corrects_event_id FROM {S.EVENTS} WHERE {mine} AND corrects_event_id IS NOT NULL AND {visible}",
            [*ids, *shown]).fetchall()]
        return self.small_frame(
            f"""SELECT * FROM {S.EVENTS} WHERE {mine} AND {visible} AND NOT list_contains(?::VARCHAR[], event_id)
            ORDER BY ts DESC, seq DESC LIMIT ?""",
            [*ids, *shown, corrected, limit],
        )

    def small_frame(self, query: str, params: list[Any]) -> pl.DataFrame:
        """A small result as a Polars frame built from its rows: for a few hundred rows half the
        time of the Arrow path (``Store.sql``), whose cost is per column (4 ms more for one
        player's events with the app's 47 columns). The same frame as ``Store.sql`` gives for
        the types in ``_POLARS``; any other type takes the Arrow path."""
        rows, types = self.small_rows(query, params)
        if any(t is None for t in types.values()):
            return self.sql(query, params)
        return pl.DataFrame(rows, schema=types, orient="row")

    def small_rows(self, query: str, params: list[Any]) -> tuple[list[tuple], dict[str, pl.DataType | None]]:
        """The rows of a small result and each column's Polars type (None: a type not in ``_POLARS``),
        for a caller that orders or extends the rows before it builds a frame of them."""
        cursor = self.con.execute(query, params)
        rows = cursor.fetchall()
        return rows, {d[0]: _POLARS.get(str(d[1])) for d in cursor.description}

    def first_row(self, query: str, params: list[Any]) -> dict[str, Any] | None:
        """The first row of a query as a dict (None without rows); plain Python values, as
        ``DataFrame.row(named=True)`` gives, without building a frame of a hundred columns."""
        cursor = self.con.execute(query, params)
        row = cursor.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cursor.description]
        cursor.fetchall()  # consume the result before the next query
        return dict(zip(names, row, strict=True))
