"""What a segmentation looks like: counts and value shares, crosstabs, profiles, distributions and
migrations between snapshots. Pure Polars over a frame that already holds the label column(s).

Every function keeps the scheme's label order and lists empty segments with zeros, so a chart or a
table of a segmentation always has the same rows whatever the thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

__all__ = [
    "GONE", "NEW", "binned", "crosstab", "crosstab_wide", "label_frame", "profiles", "segment_summary", "transitions",
]

NEW = "(not in snapshot)"  # migration: a player absent from the earlier snapshot
GONE = "(left)"  # migration: a player absent from the later snapshot


def label_frame(labels: Sequence[str], name: str = "segment") -> pl.DataFrame:
    """One row per label in scheme order, with its position (for ordering joins)."""
    return pl.DataFrame({name: list(labels), "_order": list(range(len(labels)))},
                        schema={name: pl.String, "_order": pl.Int32})


def players() -> pl.Expr:
    """Players in the segment."""
    return pl.len().cast(pl.Int64).alias("players")


def value_sum(column: str) -> pl.Expr:
    """Sum of a value column over the segment (nulls count as 0)."""
    return pl.col(column).cast(pl.Float64).fill_null(0.0).sum().alias(f"{column}_sum")


def share(column: str) -> pl.Expr:
    """A column's share of its total over all segments (null when the total is 0)."""
    total = pl.col(column).sum()
    return pl.when(total != 0).then(pl.col(column) / total).alias(f"{column}_share")


def segment_summary(frame: pl.DataFrame, label: str, labels: Sequence[str],
                    values: Sequence[str] = ()) -> pl.DataFrame:
    """Per label: players and their share, and per value column its sum and share of the total.

    Columns: segment, players, players_share, then ``<value>_sum`` and ``<value>_sum_share``.
    """
    agg = frame.lazy().group_by(pl.col(label).cast(pl.String).alias("segment")).agg(
        players(), *[value_sum(v) for v in values])
    sums = [f"{v}_sum" for v in values]
    out = (label_frame(labels).lazy().join(agg, on="segment", how="left")
           .with_columns(pl.col("players").fill_null(0), *[pl.col(s).fill_null(0.0) for s in sums])
           .sort("_order")
           .with_columns(share("players"), *[share(s) for s in sums])
           .drop("_order"))
    return out.collect()


def crosstab(frame: pl.DataFrame, rows: str, columns: str, row_labels: Sequence[str],
             column_labels: Sequence[str]) -> pl.DataFrame:
    """Players per (row label, column label): long form, every pair present (0 when empty).

    Columns: row, column, players, row_share (share of the row's players).
    """
    counts = frame.lazy().group_by(pl.col(rows).cast(pl.String).alias("row"),
                                   pl.col(columns).cast(pl.String).alias("column")).agg(players())
    grid = (label_frame(row_labels, "row").rename({"_order": "_r"})
            .join(label_frame(column_labels, "column").rename({"_order": "_c"}), how="cross").lazy())
    return (grid.join(counts, on=["row", "column"], how="left")
            .with_columns(pl.col("players").fill_null(0))
            .sort("_r", "_c")
            .with_columns(row_share().over("row"))
            .drop("_r", "_c").collect())


def row_share() -> pl.Expr:
    """Share of the row's players (null for an empty row); evaluate ``.over("row")``."""
    total = pl.col("players").sum()
    return pl.when(total > 0).then(pl.col("players") / total).alias("row_share")


def crosstab_wide(long: pl.DataFrame, column_labels: Sequence[str]) -> pl.DataFrame:
    """The long crosstab as a table: one row per row label, one column per column label, a total."""
    wide = long.pivot(on="column", index="row", values="players", aggregate_function="sum")
    present = [c for c in column_labels if c in wide.columns]
    return wide.select("row", *present).with_columns(pl.sum_horizontal(present).alias("total"))


def profiles(frame: pl.DataFrame, label: str, labels: Sequence[str], metrics: Sequence[str]) -> pl.DataFrame:
    """Per label: players and the mean of each metric (nulls ignored; NaN for an empty segment)."""
    agg = frame.lazy().group_by(pl.col(label).cast(pl.String).alias("segment")).agg(
        players(), *[pl.col(m).cast(pl.Float64).mean().alias(m) for m in metrics])
    return (label_frame(labels).lazy().join(agg, on="segment", how="left")
            .with_columns(pl.col("players").fill_null(0)).sort("_order").drop("_order").collect())


def log_bin(column: str, bins_per_decade: int) -> pl.Expr:
    """Histogram bin of a value on a signed log10(1 + |x|) scale (null for null / non-finite)."""
    x = pl.col(column).cast(pl.Float64)
    finite = pl.when(x.is_finite()).then(x)
    return (finite.sign() * (finite.abs().log1p() / math.log(10) * bins_per_decade).floor()).cast(pl.Int64)


def linear_bin(column: str, low: float, width: float) -> pl.Expr:
    """Histogram bin of a value on a linear scale from ``low`` in steps of ``width``."""
    x = pl.col(column).cast(pl.Float64)
    return ((pl.when(x.is_finite()).then(x) - low) / width).floor().cast(pl.Int64)


def binned(frame: pl.DataFrame, column: str, label: str, labels: Sequence[str], *, bins: int = 40,
           log: bool | None = None) -> pl.DataFrame:
    """Players per (bin of ``column``, label): the data of a histogram stacked by segment.

    ``log`` (default: when the values span more than two decades and none is negative) bins on a
    log10(1 + x) scale with ``bins`` bins over the range. Columns: bin, low, high, segment, players.
    Players without a finite value are left out.
    """
    values = frame.lazy().select(pl.col(column).cast(pl.Float64).alias("x")).filter(pl.col("x").is_finite())
    lo, hi = values.select(pl.col("x").min().alias("lo"), pl.col("x").max().alias("hi")).collect().row(0)
    if lo is None:
        return pl.DataFrame(schema={"bin": pl.Int64, "low": pl.Float64, "high": pl.Float64,
                                    "segment": pl.String, "players": pl.Int64})
    if log is None:
        log = lo >= 0 and hi > 100 * max(lo, 1.0)
    if log:
        top = math.log10(1 + hi)
        per_decade = max(1, math.floor(bins / max(top, 1e-9)))
        key = log_bin(column, per_decade)
        low = (10 ** (pl.col("bin") / per_decade) - 1)
        high = (10 ** ((pl.col("bin") + 1) / per_decade) - 1)
    else:
        width = (hi - lo) / bins if hi > lo else 1.0
        key = pl.min_horizontal(linear_bin(column, lo, width), bins - 1)
        low = lo + pl.col("bin") * width
        high = lo + (pl.col("bin") + 1) * width
    counts = (frame.lazy().filter(pl.col(column).cast(pl.Float64).is_finite())
              .group_by(key.alias("bin"), pl.col(label).cast(pl.String).alias("segment")).agg(players()))
    order = label_frame(labels).lazy()
    return (counts.join(order, on="segment", how="left").sort("bin", "_order")
            .with_columns(low.cast(pl.Float64).alias("low"), high.cast(pl.Float64).alias("high"))
            .select("bin", "low", "high", "segment", "players").collect())


def transitions(before: pl.DataFrame, after: pl.DataFrame, label: str, labels: Sequence[str]) -> pl.DataFrame:
    """Players per (label in the earlier snapshot, label in the later one), joined on player_id.

    A player in only one snapshot moves from ``NEW`` or to ``GONE``. Columns: from, to, players,
    from_share (share of the earlier segment), moved (from != to).
    """
    a = before.lazy().select("player_id", pl.col(label).cast(pl.String).alias("from"))
    b = after.lazy().select("player_id", pl.col(label).cast(pl.String).alias("to"))
    pairs = (a.join(b, on="player_id", how="full", coalesce=True)
             .with_columns(pl.col("from").fill_null(NEW), pl.col("to").fill_null(GONE))
             .group_by("from", "to").agg(players()))
    order = {name: i for i, name in enumerate([NEW, *labels, GONE])}
    rank = pl.Series(list(order)), pl.Series(list(order.values()))
    total = pl.col("players").sum().over("from")
    return (pairs.with_columns(pl.col("from").replace_strict(*rank, default=len(order)).alias("_f"),
                               pl.col("to").replace_strict(*rank, default=len(order)).alias("_t"))
            .sort("_f", "_t")
            .with_columns((pl.col("players") / total).alias("from_share"),
                          (pl.col("from") != pl.col("to")).alias("moved"))
            .drop("_f", "_t").collect())
