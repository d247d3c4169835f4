"""Player cards in the store: written whole by each build, read by one-player reads.

A mixin of :class:`pipelines.store.Store` (which owns the connection and the one ``import duckdb``).
The packing itself is pure and lives in ``pipelines.cards``. The cards always mirror the snapshot of
one as_of (recorded in ``player_card_layout`` with the packing): the newest a build wrote. A build of
an older as_of leaves them alone; a build that cannot pack its rows drops them, and reads fall back
to the snapshot tables (``Store.player_360``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl

from pipelines import cards
from pipelines import schema as S


class PlayerCards:
    """Writes and reads of the player cards (mixed into Store)."""

    con: Any

    def _exists(self, table: str) -> bool:  # implemented by Store
        raise NotImplementedError

    def write_cards(self, frames: dict[str, pl.DataFrame], as_of: Any, build_id: str) -> bool:
        """Replace every card by the rows of ``frames`` (table -> the snapshot rows just written for
        ``as_of``; call inside the build's transaction). False when nothing was written: cards of a
        newer as_of stay, and rows the cards cannot pack leave no cards at all.

        The table is dropped and created again rather than emptied: its index is then built once
        over sorted ids (0.5 s at 1M players) instead of taking 1M deletions and 1M insertions.
        """
        held = self.con.execute(f"SELECT max(as_of) FROM {S.PLAYER_CARD_LAYOUT}").fetchall()[0][0]
        if held is not None and held > as_of:
            return False
        specs = {table: cards.layout(frames[table]) for table in S.CARD_TABLES}
        self.con.execute(f"DROP TABLE IF EXISTS {S.PLAYER_CARDS}")
        self.con.execute(f"DELETE FROM {S.PLAYER_CARD_LAYOUT}")
        self.con.execute(S.PLAYER_CARDS_DDL)
        if any(spec is None for spec in specs.values()):
            self.con.execute(S.PLAYER_CARDS_INDEX)
            return False
        packed = None
        for table in S.CARD_TABLES:
            frame = frames[table]
            part = pl.DataFrame({"player_id": frame.get_column("player_id"),
                                 table: pl.Series(table, cards.pack(frame, specs[table]))})
            packed = part if packed is None else packed.join(part, on="player_id", how="full", coalesce=True)
        assert packed is not None
        self.con.register("_cards", packed.sort("player_id"))
        try:
            names = ", ".join(S.CARD_TABLES)
            self.con.execute(f"INSERT INTO {S.PLAYER_CARDS} (player_id, {names}) SELECT player_id, {names} FROM _cards")
        finally:
            self.con.unregister("_cards")
        self.con.execute(S.PLAYER_CARDS_INDEX)
        self.con.execute(f"INSERT INTO {S.PLAYER_CARD_LAYOUT} VALUES (?, ?, ?, ?)",
                         [as_of, build_id, json.dumps(specs), datetime.now().replace(microsecond=0)])
        return True

    def cards_as_of(self) -> tuple[Any, dict[str, Any]] | None:
        """(as_of, packing per table) of the cards, or None when there are none (a store migrated
        before the cards, opened read-only, has no card tables at all)."""
        if getattr(self, "_card_tables", None) is None:
            # a connection sees only its own catalog changes, and a writer migrates on open: once per open
            self._card_tables = self._exists(S.PLAYER_CARD_LAYOUT)
        if not self._card_tables:
            return None
        rows = self.con.execute(f"SELECT as_of, layout FROM {S.PLAYER_CARD_LAYOUT}").fetchall()
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    def card(self, player_id: str, specs: dict[str, Any]) -> dict[str, dict[str, Any] | None] | None:
        """A player's card as table -> row (None: the player has no row in that table), or None
        without a card. ``specs``: the packing ``cards_as_of`` returned."""
        rows = self.con.execute(
            f"SELECT {', '.join(S.CARD_TABLES)} FROM {S.PLAYER_CARDS} WHERE player_id = ?", [player_id]).fetchall()
        if not rows:
            return None
        return {table: None if blob is None else cards.unpack(blob, specs[table], player_id)
                for table, blob in zip(S.CARD_TABLES, rows[0], strict=True)}
