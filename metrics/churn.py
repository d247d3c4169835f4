"""Rule-based churn risk: a 0..100 score from named, weighted factors, and a low/medium/high level.

No model is fitted: each factor is a 0..1 strength computed from the metrics frame
(``docs/metrics-contract.md``), multiplied by its weight's share of all weights, in points. The
factor columns therefore add up to the score, so the app can say *why* a player scores high. Seed
004's ChurnRisk (days since last purchase, engagement decline, support issues) is the starting
point; the factors are:

* ``recency``: time since last activity against the player's own usual gap between visits
  (0 at or below the usual gap, 1 at ``overdue_full_ratio`` times it or more; no activity on
  record counts 1);
* ``visit_drop``, ``cash_drop``, ``theo_drop``: fractional drop of the last 30 days vs the prior 30
  (0 without a prior-30-day baseline);
* ``no_redemption``: share of issued rewards not redeemed (0 when none were issued);
* ``disputes``: disputes on record, saturating at ``disputes_full``.

``ChurnRisk`` is a :class:`~metrics.segments.Scheme`, so it versions, saves to TOML and runs inside
``segment_all`` like the segmentations; its label column is ``<name>_level``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, TypeVar

import param
import polars as pl

from metrics.segments import QuantileSummary, Scheme, segment_all

__all__ = [
    "FACTORS",
    "ChurnRisk",
    "cash_drop",
    "churn_risk",
    "disputes",
    "drop",
    "no_redemption",
    "recency",
    "theo_drop",
    "visit_drop",
]

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

FACTORS = ("recency", "visit_drop", "cash_drop", "theo_drop", "no_redemption", "disputes")


def _num(column: str) -> pl.Expr:
    """A metrics column as Float64."""
    return pl.col(column).cast(pl.Float64)


def _unit(x: pl.Expr) -> pl.Expr:
    """``x`` clamped to 0..1; null and NaN count 0."""
    # min/max_horizontal skip NaN and null: faster than clip + fill_nan and handles both at once
    return pl.min_horizontal(pl.max_horizontal(x, 0.0), 1.0)


def recency(overdue_full_ratio: float, fallback_gap_days: float) -> pl.Expr:
    """0..1: how far past their own usual gap between visits the player is."""
    gap = _num("avg_days_between_visits").fill_null(fallback_gap_days)
    days = _num("recency_days")
    overdue = days / pl.when(gap > 1.0).then(gap).otherwise(1.0)
    strength = _unit((overdue - 1.0) / (overdue_full_ratio - 1.0))
    # nothing on record at all is the strongest sign there is
    return pl.when(days.is_null()).then(1.0).otherwise(strength).alias("recency")


def drop(current: str, prior: str) -> pl.Expr:
    """0..1: fractional drop of ``current`` vs ``prior`` (0 without a positive prior)."""
    base = _num(prior)
    fell = _unit(1.0 - _num(current).fill_null(0.0) / base)
    return pl.when(base > 0).then(fell).otherwise(0.0)


def visit_drop() -> pl.Expr:
    """0..1: drop of visits in the last 30 days vs the prior 30."""
    return drop("visits_30d", "visits_prior_30d").alias("visit_drop")


def cash_drop() -> pl.Expr:
    """0..1: drop of cash-in in the last 30 days vs the prior 30."""
    return drop("cash_in_30d", "cash_in_prior_30d").alias("cash_drop")


def theo_drop() -> pl.Expr:
    """0..1: drop of theo in the last 30 days vs the prior 30."""
    return drop("theo_30d", "theo_prior_30d").alias("theo_drop")


def no_redemption() -> pl.Expr:
    """0..1: share of issued rewards never redeemed (0 when none were issued)."""
    issued = _num("rewards_issued")
    ignored = _unit(1.0 - _num("rewards_redeemed").fill_null(0.0) / issued)
    return pl.when(issued > 0).then(ignored).otherwise(0.0).alias("no_redemption")


def disputes(disputes_full: float) -> pl.Expr:
    """0..1: disputes on record, saturating at ``disputes_full``."""
    return _unit(_num("disputes_total") / disputes_full).alias("disputes")


def _weight(doc: str, default: float) -> param.Number:
    """A factor weight parameter."""
    return param.Number(default=default, bounds=(0, 100), step=1, doc=doc)


class ChurnRisk(Scheme):
    """Churn risk score 0..100 (sum of weighted factor points) and level low / medium / high."""

    kind = "churn"
    labels = ("low", "medium", "high")
    fallback = "low"

    name = param.String(default="churn", constant=True, doc="Prefix of the churn columns.")
    w_recency = _weight("Weight of being overdue against the player's own visit rhythm.", 35)
    w_visit_drop = _weight("Weight of the drop in visits, last 30 days vs prior 30.", 20)
    w_cash_drop = _weight("Weight of the drop in cash-in, last 30 days vs prior 30.", 15)
    w_theo_drop = _weight("Weight of the drop in theo, last 30 days vs prior 30.", 10)
    w_no_redemption = _weight("Weight of ignoring the rewards they were issued.", 10)
    w_disputes = _weight("Weight of disputes on record (service trouble drives players away).", 10)
    overdue_full_ratio = param.Number(
        default=4.0, bounds=(1.1, 50), softbounds=(1.1, 12), step=0.1,
        doc="Days since last activity / usual gap at which the recency factor is full.",
    )
    fallback_gap_days = param.Number(
        default=30.0, bounds=(1, 365), step=1,
        doc="Usual gap assumed for players with fewer than two visits (no own rhythm yet).",
    )
    disputes_full = param.Number(
        default=2.0, bounds=(1, 50), step=1,
        doc="Number of disputes at which the disputes factor is full.",
    )
    medium_from = param.Number(
        default=40.0, bounds=(0, 100), step=1, doc="Score from which the level is medium.",
    )
    high_from = param.Number(
        default=70.0, bounds=(0, 100), step=1, doc="Score from which the level is high.",
    )

    _LEVEL: ClassVar[str] = "level"

    def inputs(self) -> tuple[str, ...]:
        """Metrics columns the score reads."""
        return ("recency_days", "avg_days_between_visits", "visits_30d", "visits_prior_30d",
                "cash_in_30d", "cash_in_prior_30d", "theo_30d", "theo_prior_30d",
                "rewards_issued", "rewards_redeemed", "disputes_total")

    def strengths(self) -> dict[str, pl.Expr]:
        """Each factor's 0..1 strength."""
        return {
            "recency": recency(self.overdue_full_ratio, self.fallback_gap_days),
            "visit_drop": visit_drop(),
            "cash_drop": cash_drop(),
            "theo_drop": theo_drop(),
            "no_redemption": no_redemption(),
            "disputes": disputes(self.disputes_full),
        }

    def points(self) -> dict[str, float]:
        """Points each factor contributes at full strength (they add up to 100, or all 0)."""
        weights = {f: float(getattr(self, f"w_{f}")) for f in FACTORS}
        total = sum(weights.values())
        return {f: (100.0 * w / total if total > 0 else 0.0) for f, w in weights.items()}

    def factor(self, which: str) -> pl.Expr:
        """``<name>_<factor>``: points this factor adds to the score."""
        return (self.strengths()[which] * self.points()[which]).alias(f"{self.name}_{which}")

    def score(self) -> pl.Expr:
        """``<name>_score``: 0..100, the sum of the factor point columns."""
        total = pl.sum_horizontal([f"{self.name}_{f}" for f in FACTORS])
        # points add up to 100 only up to float rounding
        return pl.min_horizontal(total, 100.0).alias(f"{self.name}_score")

    def extra(self) -> list[pl.Expr]:
        """Factor points (first pass)."""
        return [self.factor(f) for f in FACTORS]

    def derived(self) -> list[pl.Expr]:
        """The score (second pass, from the factor columns)."""
        return [self.score()]

    def label_column(self) -> str:
        """``<name>_level``."""
        return f"{self.name}_{self._LEVEL}"

    def label(self, summaries: Mapping[str, QuantileSummary] | None = None) -> pl.Expr:
        """low / medium / high from the score."""
        score = self.score()
        return (
            pl.when(score >= self.high_from).then(self.lit("high"))
            .when(score >= self.medium_from).then(self.lit("medium"))
            .otherwise(self.lit("low"))
        )


def churn_risk(frame: Frame, model: ChurnRisk | None = None) -> Frame:
    """player_id, as_of, the factor points, churn_score, churn_level and churn_version."""
    return segment_all(frame, [model or ChurnRisk()])
