"""Deterministic random holdout groups: the same player and run always land in the same arm.

Each player's draw is the BLAKE2b hash of ``run_id`` and ``player_id`` read as a number in [0, 1):
stable across processes, machines and library versions (unlike Polars' or Python's ``hash``),
independent between runs, and uniform, so a share ``s`` of any set of players is held out in
expectation whatever their order or how they were sharded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import polars as pl

HOLDOUT, TREATMENT = "holdout", "treatment"


def draws(player_ids: Iterable[str], run_id: str) -> np.ndarray:
    """One uniform number in [0, 1) per player id, a pure function of (run_id, player_id)."""
    prefix = f"{run_id}\x1f".encode()
    values = [int.from_bytes(hashlib.blake2b(prefix + str(p).encode(), digest_size=8).digest(), "big")
              for p in player_ids]
    return np.asarray(values, dtype=np.float64) / 2.0**64


def assign(frame: pl.DataFrame, run_id: str, share: float) -> pl.DataFrame:
    """`frame` with `arm` (treatment / holdout) and `draw` per player: draw < share is held out."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"holdout share must be in [0, 1), got {share}")
    ids = frame["player_id"].unique(maintain_order=True)
    arms = pl.DataFrame({"player_id": ids, "draw": draws(ids.to_list(), run_id)}).with_columns(
        pl.when(pl.col("draw") < share).then(pl.lit(HOLDOUT)).otherwise(pl.lit(TREATMENT)).alias("arm"))
    return frame.join(arms, on="player_id", how="left")
