"""Readers of the committed reference data sets (data/reference/), with their expected columns checked."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
HILLSTROM = ROOT / "data" / "reference" / "hillstrom" / "hillstrom.csv"
HILLSTROM_SCHEMA = {
    "recency": pl.Int64, "history_segment": pl.String, "history": pl.Float64, "mens": pl.Int64,
    "womens": pl.Int64, "zip_code": pl.String, "newbie": pl.Int64, "channel": pl.String, "segment": pl.String,
    "visit": pl.Int64, "conversion": pl.Int64, "spend": pl.Float64,
}
HILLSTROM_ARMS = ("Mens E-Mail", "Womens E-Mail", "No E-Mail")
HILLSTROM_CONTROL = "No E-Mail"


def hillstrom(path: Path | str = HILLSTROM) -> pl.DataFrame:
    """The MineThatData e-mail test: 64,000 customers, three random arms, two-week outcomes."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: missing (the reference data ships with the project)")
    with path.open(encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    missing = [c for c in HILLSTROM_SCHEMA if c not in header]
    if missing:
        raise UserError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    try:
        frame = pl.read_csv(path, schema_overrides=HILLSTROM_SCHEMA)
    except pl.exceptions.ComputeError as exc:
        raise UserError(f"{path}: {str(exc).splitlines()[0]}") from None
    arms = set(frame["segment"].unique().to_list())
    if arms != set(HILLSTROM_ARMS):
        raise UserError(f"{path}: column segment holds {sorted(arms)}, expected {list(HILLSTROM_ARMS)}")
    return frame
