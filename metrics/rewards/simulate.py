"""What a run would do, before it is issued: eligible players, expected cost and margin, per segment."""

from __future__ import annotations

import polars as pl

from metrics.rewards.engine import ISSUED_STATUSES, STATUSES


def _issued() -> pl.Expr:
    return pl.col("status").is_in(ISSUED_STATUSES)


def summary_aggs() -> list[pl.Expr]:
    """The aggregations of a simulation summary over decision rows."""
    issued = _issued()
    return [
        pl.col("player_id").n_unique().alias("eligible"),
        issued.sum().cast(pl.Int64).alias("issued"),
        *[(pl.col("status") == s).sum().cast(pl.Int64).alias(s) for s in STATUSES if s != "issued"],
        pl.col("issued_value").sum().alias("value"),
        pl.col("expected_cost").filter(issued).sum().alias("expected_cost"),
        pl.col("expected_margin").filter(issued).sum().alias("expected_margin"),
    ]


def _finish(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        (pl.col("expected_margin") - pl.col("expected_cost")).alias("expected_net"),
        pl.when(pl.col("expected_cost") > 0).then(pl.col("expected_margin") / pl.col("expected_cost"))
        .alias("margin_per_cost"))


def simulate(decisions: pl.DataFrame | pl.LazyFrame, by: tuple[str, ...] = ("rule_id", "segment")) -> pl.DataFrame:
    """Per group (rule and segment by default): players meeting the conditions, rewards issued,
    blocked by reason, value issued, expected cost, expected incremental margin and their difference."""
    out = decisions.lazy().group_by(list(by)).agg(summary_aggs()).sort(list(by)).collect()
    return _finish(out)


def totals(decisions: pl.DataFrame | pl.LazyFrame, rule_ids: list[str] | None = None) -> pl.DataFrame:
    """One row per rule (every one of `rule_ids`, zeros where no player qualifies) plus an ``ALL``
    row (players counted once)."""
    lf = decisions.lazy()
    per_rule = lf.group_by("rule_id").agg(summary_aggs())
    if rule_ids is not None:
        per_rule = pl.LazyFrame({"rule_id": list(rule_ids)}, schema={"rule_id": pl.String}).join(
            per_rule, on="rule_id", how="left").with_columns(pl.exclude("rule_id").fill_null(0))
    overall = lf.select(pl.lit("ALL").alias("rule_id"), *summary_aggs())
    return _finish(pl.concat([per_rule.sort("rule_id"), overall], how="vertical_relaxed").collect())
