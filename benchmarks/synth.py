"""Synthetic raw files for ingest benchmarks: rating slips at any size, written in blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

GAMES = np.array(["blackjack", "baccarat", "roulette", "craps", "slots"])
BLOCK = 1_000_000


def slips_block(start: int, n: int, players: int, rng: np.random.Generator) -> pa.Table:
    """`n` rating slips with ids from `start`, spread over `players` players and two years."""
    ids = np.arange(start, start + n)
    seconds = rng.integers(0, 730 * 86400, n) + 1_700_000_000
    ts = pa.array(seconds.astype("datetime64[s]")).cast(pa.string())
    return pa.table({
        "slip_id": pa.array(np.char.add("S", ids.astype(str))),
        "player_id": pa.array(np.char.add("PL", rng.integers(0, players, n).astype(str))),
        "property_id": pa.array(np.where(rng.random(n) < 0.7, "P01", "P02")),
        "start_time": ts,
        "game": pa.array(GAMES[rng.integers(0, len(GAMES), n)]),
        "avg_bet": pa.array(np.round(rng.lognormal(3.5, 1.0, n), 2)),
        "minutes_played": pa.array(rng.integers(5, 240, n).astype(float)),
    })


def write_slips(path: Path, rows: int, players: int, seed: int = 7) -> Path:
    """Write `rows` slips as CSV or Parquet (by suffix), block by block (bounded memory)."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    writer = None
    for start in range(0, rows, BLOCK):
        table = slips_block(start, min(BLOCK, rows - start), players, rng)
        if writer is None:
            writer = (pq.ParquetWriter(tmp, table.schema) if path.suffix == ".parquet"
                      else pacsv.CSVWriter(tmp, table.schema))
        writer.write_table(table)
    writer.close()
    tmp.rename(path)
    return path


def write_players(path: Path, players: int) -> Path:
    """A players file with ids PL0..PL{players-1}."""
    if not path.exists():
        ids = np.char.add("PL", np.arange(players).astype(str))
        pq.write_table(pa.table({"player_id": ids, "property_id": np.full(players, "P01")}), path)
    return path
