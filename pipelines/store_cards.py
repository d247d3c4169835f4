"""Player cards in the store: written whole by each build, read by one-player reads.

A mixin of :class:`pipelines.store.Store` (which owns the connection and the one ``import duckdb``).
The packing itself is pure and lives in ``pipelines.cards``. The cards always mirror the snapshot of
one as_of (recorded in ``player_card_layout`` with the packing): the newest a build wrote. A build of
an older as_of leaves them alone; a build that cannot pack its rows drops them, and reads fall back
to the snapshot tables (``Store.player_360``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from itertools import chain
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from pipelines import cards
from pipelines.ahead import ahead
from pipelines import schema as S


CARD_SLICE = 100_000  # players packed and inserted at a time (about 140 MB of packed rows)


def _aligned(frames: list[pl.DataFrame]) -> tuple[pl.Series, list[pl.DataFrame]]:
    """(player ids, the frames row-aligned to them). The build's frames list the same players in the
    same order: then as they are; else each joined to every id, ``_present`` marking its own rows."""
    ids = frames[0].get_column("player_id")
    if all(f.get_column("player_id").equals(ids) for f in frames[1:]):
        return ids, frames
    every = pl.concat([f.select("player_id") for f in frames]).unique(maintain_order=True)
    return every.get_column("player_id"), [
        every.join(f.with_columns(pl.lit(True).alias("_present")), on="player_id", how="left",
                   maintain_order="left") for f in frames]


class PlayerCards:
    """Writes and reads of the player cards (mixed into Store)."""

    con: Any
    frozen: bool = False  # set by Store: whether the connection can see no change (opened read-only)

    def _exists(self, table: str) -> bool:  # implemented by Store
        raise NotImplementedError

    def _once(self, key: str, read: Callable[[], Any]) -> Any:  # implemented by Store
        raise NotImplementedError

    def settings(self, **values: Any) -> Any:  # implemented by Store
        raise NotImplementedError

    def write_cards(self, frames: dict[str, pl.DataFrame], as_of: Any, build_id: str) -> bool:
        """Replace every card by the rows of ``frames`` (table -> the snapshot rows just written for
        ``as_of``; call inside the build's transaction). False when nothing was written: cards of a
        newer as_of stay, and rows the cards cannot pack leave no cards at all.

        The table is dropped and created again rather than emptied: its index is then built once
        (0.5 s at 1M players) instead of taking 1M deletions and 1M insertions. Rows are packed
        ``CARD_SLICE`` players at a time and streamed into one INSERT, the next slice packed while this
        one is inserted: memory holds two slices' packed rows, not 1.4 GB.
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
        ids, aligned = _aligned([frames[table] for table in S.CARD_TABLES])
        names = ", ".join(S.CARD_TABLES)

        def packed(start: int) -> pa.Table:
            columns = {"player_id": ids.slice(start, CARD_SLICE).to_arrow()}
            for table, frame in zip(S.CARD_TABLES, aligned, strict=True):
                part = frame.slice(start, CARD_SLICE)
                blobs = cards.pack(part, specs[table])
                if "_present" in part.columns:  # a player without a row in this table: no card for it
                    blobs = pc.if_else(part.get_column("_present").is_not_null().to_arrow(), blobs,
                                       pa.scalar(None, blobs.type))
                columns[table] = blobs
            return pa.table(columns)

        # One INSERT over the stream of slices, the next slice packed (Polars and numpy, the GIL mostly
        # released) while DuckDB inserts this one. Without keeping the insertion order (the cards are
        # found by their index) DuckDB's threads append in parallel: at 1M players 3.5-3.9 s against
        # 4.5-5.7 s for an ordered INSERT per slice, which ran on one thread. (DuckDB pulls the stream
        # one batch at a time under its scan's lock, so the generator below is never entered twice.)
        slices = ahead(packed, range(0, ids.len(), CARD_SLICE), "card-packer")
        first = next(slices, None)
        if first is not None:
            stream = pa.RecordBatchReader.from_batches(
                first.schema, chain(first.to_batches(), (batch for rows in slices for batch in rows.to_batches())))
            del first
            self.con.register("_cards", stream)
            try:
                with self.settings(preserve_insertion_order=False):
                    self.con.execute(f"INSERT INTO {S.PLAYER_CARDS} (player_id, {names}) "
                                     f"SELECT player_id, {names} FROM _cards")
            finally:
                self.con.unregister("_cards")
                slices.close()  # the packer's thread ends even when the insert failed half-way
        self.con.execute(S.PLAYER_CARDS_INDEX)
        self.con.execute(f"INSERT INTO {S.PLAYER_CARD_LAYOUT} VALUES (?, ?, ?, ?)",
                         [as_of, build_id, json.dumps(specs), datetime.now().replace(microsecond=0)])
        return True

    def _has_cards(self) -> bool:
        """Whether the card tables exist (a store migrated before them, opened read-only, has none).
        Asked once per connection: it sees only its own catalog changes, and a writer migrates on open."""
        if getattr(self, "_card_tables", None) is None:
            self._card_tables = self._exists(S.PLAYER_CARD_LAYOUT)
        return bool(self._card_tables)

    def cards_as_of(self) -> tuple[Any, dict[str, Any]] | None:
        """(as_of, packing per table) of the cards, or None when there are none."""
        if not self._has_cards():
            return None
        rows = self.con.execute(f"SELECT as_of, layout FROM {S.PLAYER_CARD_LAYOUT}").fetchall()
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    def card(self, player_id: str, as_of: Any) -> dict[str, dict[str, Any] | None] | None:
        """A player's card of ``as_of`` as table -> row (None: no row in that table), or None when
        the cards are of another day or the player has none. One index lookup, layout included: a
        build replaces cards and layout in one transaction, so a connection that may see it commit
        between two queries must read them in one. A frozen connection (see ``Store.__init__``)
        reads the layout once and then the card alone."""
        if not self._has_cards():
            return None
        if self.frozen:
            held = self._once("card_layout", self.cards_as_of)
            if held is None or held[0] != as_of:
                return None
            rows = self.con.execute(f"SELECT {', '.join(S.CARD_TABLES)} FROM {S.PLAYER_CARDS} WHERE player_id = ?",
                                    [player_id]).fetchall()
            specs, blobs = held[1], rows[0] if rows else None
        else:
            rows = self.con.execute(
                f"""SELECT l.layout, {', '.join(f'c.{t}' for t in S.CARD_TABLES)}
                FROM {S.PLAYER_CARDS} c, {S.PLAYER_CARD_LAYOUT} l WHERE c.player_id = ? AND l.as_of = ?""",
                [player_id, as_of]).fetchall()
            specs, blobs = (json.loads(rows[0][0]), rows[0][1:]) if rows else (None, None)
        if blobs is None:
            return None
        return {table: None if blob is None else cards.unpack(blob, specs[table], player_id)
                for table, blob in zip(S.CARD_TABLES, blobs, strict=True)}
