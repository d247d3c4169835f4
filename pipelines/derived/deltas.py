"""Change detection per player: last 30 days vs the prior 30 and vs the player's own 90-day baseline.

``player_deltas(metrics)`` reads the output of ``player_metrics`` and returns, per player (keys
player_id and as_of), for each base in ``DELTAS`` (visits, cash_in, theo, avg_session_minutes):

* ``{base}_delta_abs``        = 30-day value - prior-30-day value (exactly; for counts an integer);
* ``{base}_delta_pct``        = 100 * delta_abs / prior (percent), null when the prior value is 0 or null;
* ``{base}_baseline``         = the player's own 90-day baseline per 30 days: the 90-day value / 3 for
  counts and sums; for an average (avg_session_minutes) the 90-day average itself (an average does not
  scale with the window);
* ``{base}_vs_baseline_abs``  = 30-day value - baseline (exactly, of the baseline column as shown);
* ``{base}_vs_baseline_pct``  = 100 * vs_baseline_abs / baseline, null when the baseline is 0 or null.

These are rules + deltas, not predictions (seed: "favor change detection"): e.g. visits_delta_pct
= -60 reads "visits dropped 60% vs the previous 30 days".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

__all__ = ["DELTAS", "Delta", "delta_columns", "player_deltas"]


@dataclass(frozen=True)
class Delta:
    """Which metric columns hold a base's last-30, prior-30 and 90-day values, and how it scales."""

    base: str
    last_30d: str
    prior_30d: str
    last_90d: str
    kind: Literal["sum", "mean"]  # sum: baseline = 90d / 3; mean: baseline = the 90-day average


DELTAS: tuple[Delta, ...] = (
    Delta("visits", "visits_30d", "visits_prior_30d", "visits_90d", "sum"),
    Delta("cash_in", "cash_in_30d", "cash_in_prior_30d", "cash_in_90d", "sum"),
    Delta("theo", "theo_30d", "theo_prior_30d", "theo_90d", "sum"),
    Delta("avg_session_minutes", "avg_session_minutes_30d", "avg_session_minutes_prior_30d",
          "avg_session_minutes_90d", "mean"),
)


def _pct(change: str, reference: pl.Expr) -> pl.Expr:
    """100 * change / reference; null when the reference is 0 or null."""
    return pl.when(reference != 0).then(100.0 * pl.col(change) / reference)


def delta_abs(d: Delta) -> pl.Expr:
    """Last 30 days minus the prior 30."""
    return (pl.col(d.last_30d) - pl.col(d.prior_30d)).alias(f"{d.base}_delta_abs")


def baseline(d: Delta) -> pl.Expr:
    """The player's own 90-day baseline per 30 days."""
    value = pl.col(d.last_90d) / 3.0 if d.kind == "sum" else pl.col(d.last_90d).cast(pl.Float64)
    return value.alias(f"{d.base}_baseline")


def delta_pct(d: Delta) -> pl.Expr:
    """Change vs the prior 30 days in percent of the prior value."""
    return _pct(f"{d.base}_delta_abs", pl.col(d.prior_30d)).alias(f"{d.base}_delta_pct")


def vs_baseline_abs(d: Delta) -> pl.Expr:
    """Last 30 days minus the 90-day baseline (of the baseline column as shown)."""
    return (pl.col(d.last_30d) - pl.col(f"{d.base}_baseline")).alias(f"{d.base}_vs_baseline_abs")


def vs_baseline_pct(d: Delta) -> pl.Expr:
    """Change vs the 90-day baseline in percent of the baseline."""
    return _pct(f"{d.base}_vs_baseline_abs", pl.col(f"{d.base}_baseline")).alias(f"{d.base}_vs_baseline_pct")


# Column functions in evaluation order: each layer reads the metrics and the layers before it.
LAYERS = ((delta_abs, baseline), (delta_pct, vs_baseline_abs), (vs_baseline_pct,))


def delta_columns() -> list[str]:
    """The columns player_deltas adds, in order."""
    return [f"{d.base}_{suffix}" for d in DELTAS
            for suffix in ("delta_abs", "delta_pct", "baseline", "vs_baseline_abs", "vs_baseline_pct")]


def player_deltas(metrics: pl.LazyFrame) -> pl.LazyFrame:
    """Per player (player_id, as_of): deltas of the last 30 days vs the prior 30 and vs the 90-day baseline."""
    keys = [k for k in ("player_id", "as_of") if k in metrics.collect_schema()]
    out = metrics
    for layer in LAYERS:
        out = out.with_columns([fn(d) for d in DELTAS for fn in layer])
    return out.select(*keys, *delta_columns())
