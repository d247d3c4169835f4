"""Cohort analysis: retention by month since joining, revenue per cohort, sBG retention curves.

Pure math over three small aggregated frames (the app's queries produce them in DuckDB):

* ``sizes``: cohort (first day of the month), group, players -- who joined when;
* ``activity``: cohort, group, k (months since the cohort month), active (players with activity in
  month k), revenue (their revenue in month k);
* ``last_active``: cohort, group, last_k (month of the player's last activity, null if never
  active), players.

``group`` is what cohorts are compared by: "all", a segment label or a property.

Two notions of retention, both per cohort and month k:

* *active in month k* (``retention``): the share of the cohort with any activity in that month. A
  casino's players come and go, so this can rise again; it is what the heatmap shows.
* *still around at month k* (``alive``): the share whose last activity is in month k or later.
  This never rises, and is what the shifted-beta-geometric model (Fader & Hardie 2007) fits and
  projects: a player "churns" after their last active month. The newest months are right-censored
  (a player last seen recently may well come back), which the sBG likelihood accounts for.

Only complete months are analysed: ``end`` is the first month NOT included (the month of the data's
newest event, which is still running).
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl

from metrics.retention import SBGParams, fit_sbg_cohorts

__all__ = ["age", "cohort_revenue", "fit_retention", "month_index", "retention_table", "survivors"]


def month_index(column: str | pl.Expr) -> pl.Expr:
    """Months since year 0 of a date (year * 12 + month - 1), for month arithmetic."""
    d = pl.col(column) if isinstance(column, str) else column
    return d.dt.year().cast(pl.Int64) * 12 + d.dt.month().cast(pl.Int64) - 1


def age(end: date) -> pl.Expr:
    """Complete months a cohort has been observed: month k is observed when cohort + k < end."""
    end_index = end.year * 12 + end.month - 1
    return (pl.lit(end_index, dtype=pl.Int64) - month_index("cohort") - 1).alias("age")


def retention_table(sizes: pl.DataFrame, activity: pl.DataFrame, end: date) -> pl.DataFrame:
    """One row per (cohort, group, k) for every observed month k of each cohort (0 when nobody
    was active): players (cohort size), active, retention (active / players), revenue,
    revenue_per_player and cumulative revenue per player up to k."""
    cohorts = sizes.lazy().with_columns(age(end)).filter(pl.col("age") >= 0)
    grid = cohorts.with_columns(pl.int_ranges(0, pl.col("age") + 1).alias("k")).explode("k")
    observed = activity.lazy().select("cohort", "group", pl.col("k").cast(pl.Int64), "active", "revenue")
    out = (grid.with_columns(pl.col("k").cast(pl.Int64))
           .join(observed, on=["cohort", "group", "k"], how="left")
           .with_columns(pl.col("active").fill_null(0), pl.col("revenue").cast(pl.Float64).fill_null(0.0))
           .with_columns((pl.col("active") / pl.col("players")).alias("retention"),
                         (pl.col("revenue") / pl.col("players")).alias("revenue_per_player"))
           .sort("group", "cohort", "k")
           .with_columns(pl.col("revenue_per_player").cum_sum().over("group", "cohort")
                         .alias("cumulative_revenue_per_player")))
    return out.select("cohort", "group", "k", "age", "players", "active", "retention", "revenue",
                      "revenue_per_player", "cumulative_revenue_per_player").collect()


def cohort_revenue(table: pl.DataFrame) -> pl.DataFrame:
    """Per cohort and group: players, total revenue, revenue per player, months observed."""
    return (table.group_by("cohort", "group")
            .agg(pl.col("players").first(), pl.col("revenue").sum(), (pl.col("age").first() + 1).alias("months"))
            .with_columns((pl.col("revenue") / pl.col("players")).alias("revenue_per_player"))
            .sort("group", "cohort"))


def survivors(sizes: pl.DataFrame, last_active: pl.DataFrame, end: date) -> pl.DataFrame:
    """Per cohort and group, the players still around at each observed month k = 0..age: the cohort
    size at k = 0, then those whose last activity is in month k or later (columns cohort, group,
    k, alive)."""
    cohorts = sizes.lazy().with_columns(age(end)).filter(pl.col("age") >= 0)
    grid = (cohorts.with_columns(pl.int_ranges(0, pl.col("age") + 1).alias("k")).explode("k")
            .with_columns(pl.col("k").cast(pl.Int64)))
    last = last_active.lazy().filter(pl.col("last_k").is_not_null()).select(
        "cohort", "group", pl.col("last_k").cast(pl.Int64), "players")
    # alive at k (k >= 1) = players with last_k >= k: a reverse cumulative sum over last_k
    at_least = (grid.join(last, on=["cohort", "group"], how="left")
                .filter(pl.col("last_k") >= pl.col("k"))
                .group_by("cohort", "group", "k").agg(pl.col("players_right").sum().alias("alive")))
    return (grid.join(at_least, on=["cohort", "group", "k"], how="left")
            .with_columns(pl.when(pl.col("k") == 0).then(pl.col("players"))
                          .otherwise(pl.col("alive").fill_null(0)).alias("alive"))
            .select("cohort", "group", "k", "alive").sort("group", "cohort", "k").collect())


def _observed(part: pl.DataFrame) -> pl.DataFrame:
    """Pooled share still around at each k over the cohorts observed at k."""
    sizes = part.filter(pl.col("k") == 0).select("cohort", pl.col("alive").alias("size"))
    return (part.join(sizes, on="cohort").group_by("k")
            .agg((pl.col("alive").sum() / pl.col("size").sum()).alias("observed"),
                 pl.col("cohort").n_unique().alias("cohorts"))
            .sort("k"))


def fit_retention(alive: pl.DataFrame, horizon: int = 24) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per group: an sBG fit over its cohorts and the curve it projects to ``horizon`` months.

    Returns (curves, fits). curves: group, k, observed (pooled share still around, null beyond
    the oldest cohort's age), projected (sBG survival S(k)). fits: group, alpha, beta,
    log_likelihood, cohorts, players, and ``note`` when a group has too little history to fit.
    """
    curves, fits = [], []
    k = np.arange(horizon + 1)
    for (group,), part in alive.sort("group").group_by("group", maintain_order=True):
        series = [p.sort("k")["alive"].to_numpy() for _, p in part.group_by("cohort", maintain_order=True)]
        players = float(sum(s[0] for s in series))
        try:
            fit = fit_sbg_cohorts(series)
            note = ""
        except ValueError as exc:
            fit, note = SBGParams(math.nan, math.nan), str(exc)
        fits.append({"group": group, "alpha": fit.alpha, "beta": fit.beta,
                     "log_likelihood": fit.log_likelihood, "cohorts": len(series), "players": players,
                     "note": note})
        projected = fit.survival(k) if not note else np.full(k.size, np.nan)
        curve = pl.DataFrame({"group": [group] * k.size, "k": k.astype(np.int64), "projected": projected})
        curves.append(curve.join(_observed(part), on="k", how="left"))
    if not curves:
        empty = pl.DataFrame(schema={"group": pl.String, "k": pl.Int64, "projected": pl.Float64,
                                     "observed": pl.Float64, "cohorts": pl.UInt32})
        return empty, pl.DataFrame(schema={"group": pl.String, "alpha": pl.Float64, "beta": pl.Float64,
                                           "log_likelihood": pl.Float64, "cohorts": pl.Int64,
                                           "players": pl.Float64, "note": pl.String})
    return pl.concat(curves, how="vertical_relaxed"), pl.DataFrame(fits)
