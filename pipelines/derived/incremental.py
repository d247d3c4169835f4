"""Carry a snapshot forward: the previous rows of unchanged players, fresh rows for the changed ones.

Pure. ``metrics.incremental`` says which players may have changed; the build reads their events
and computes their rows (aggregates, CLV state) anew. Every other player's previous row is exactly
what a recomputation would give (their events and the windows over them did not change), so the
result equals a full computation row for row.
"""

from __future__ import annotations

import polars as pl

__all__ = ["carry_forward"]


def carry_forward(previous: pl.DataFrame, fresh: pl.DataFrame, changed: pl.DataFrame) -> pl.DataFrame:
    """``fresh`` rows plus the ``previous`` rows of players not in ``changed``, sorted by player_id.

    ``fresh`` holds the recomputed rows of (some of) the ``changed`` players: a changed player
    without a fresh row has dropped out (merged away, or no longer in the population). Columns and
    types follow ``fresh``. The two sorted parts are merged, not sorted again (a snapshot is read
    back in the player order it was written in; anything else is sorted first).
    """
    missing = [c for c in fresh.columns if c not in previous.columns]
    if missing:
        raise ValueError(f"the previous snapshot lacks columns {missing}: recompute it in full")
    gone = changed.get_column("player_id").cast(pl.String)
    kept = previous.filter(~pl.col("player_id").is_in(gone.implode()))
    kept = kept.select([pl.col(c).cast(t) for c, t in fresh.schema.items()])
    return _sorted(kept).merge_sorted(_sorted(fresh), key="player_id")


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame sorted by player_id (a cheap check when it already is)."""
    ids = frame.get_column("player_id")
    return frame if ids.is_sorted() else frame.sort("player_id")
