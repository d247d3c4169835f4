"""Campaign and reward-run effects: treated vs control means with 95% intervals, ROI, and DiD.

``campaign_effect(frame, arm="arm", control="holdout", outcomes=[...])`` compares every other arm
with the control arm, outcome by outcome (one row each): the control and treated means, their
difference and its interval. Continuous outcomes use Welch's unequal-variance t interval
(Welch-Satterthwaite degrees of freedom); binary (0/1) outcomes use the normal (Wald) interval of a
difference of proportions, ``p(1-p)/n`` per arm. ``by`` repeats the comparison within groups
(segments). The p-value is two-sided.

``run_roi`` turns a run's per-member outcomes (visits, theo, net revenue over the measurement
window, and the reward cost of treated members) into incremental effects and the net gain:
``theo_net = theo - cost`` compared between arms is the incremental theo minus the cost per treated
player, with its interval, so the ROI's uncertainty is the outcome's (costs are known).

``did_effect`` is the difference-in-differences estimate for runs without a holdout: each player's
change (post - pre) compared between the rewarded players and a comparison group. It assumes both
groups would have moved in parallel without the reward, which nothing in the data guarantees: it is
weaker evidence than a randomised holdout and is labelled so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import stats

__all__ = ["DID_EVIDENCE", "HOLDOUT_EVIDENCE", "campaign_effect", "did_effect", "run_roi", "ROI_OUTCOMES"]

HOLDOUT_EVIDENCE = "randomised holdout"
DID_EVIDENCE = "difference-in-differences (weaker: assumes parallel trends, no random control)"
ROI_OUTCOMES = ("visited", "visits", "theo", "net_revenue", "cost", "theo_net", "revenue_net")


def _stats(frame: pl.LazyFrame, arm: str, outcomes: Sequence[str], by: Sequence[str]) -> pl.DataFrame:
    """n, mean, sample variance and whether the values are all 0/1, per group, arm and outcome."""
    long = frame.select(*by, pl.col(arm).cast(pl.String).alias("arm"),
                        *[pl.col(o).cast(pl.Float64) for o in outcomes]).unpivot(
        index=[*by, "arm"], on=list(outcomes), variable_name="outcome", value_name="value").drop_nulls("value")
    return long.group_by(*by, "arm", "outcome").agg(
        pl.len().alias("n"), pl.col("value").mean().alias("mean"), pl.col("value").var(ddof=1).alias("var"),
        pl.col("value").is_in([0.0, 1.0]).all().alias("binary")).collect()


def campaign_effect(frame: pl.DataFrame | pl.LazyFrame, arm: str = "arm", control: str = "holdout",
                    outcomes: Sequence[str] = ("visited",), *, by: Sequence[str] = (), level: float = 0.95,
                    binary: Sequence[str] | None = None) -> pl.DataFrame:
    """Per treatment arm (and `by` group) and outcome: n, control mean, treated mean, difference,
    its `level` interval, relative lift and p-value. Outcomes are binary when all their values are
    0/1 (or when listed in `binary`)."""
    if not outcomes:
        raise ValueError("name at least one outcome")
    lf = frame.lazy()
    schema = lf.collect_schema()
    missing = [c for c in (arm, *outcomes, *by) if c not in schema]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}")
    s = _stats(lf, arm, outcomes, by)
    keys = [*by, "outcome"]
    ctrl = s.filter(pl.col("arm") == control).select(
        *keys, pl.col("n").alias("n_control"), pl.col("mean").alias("control_mean"),
        pl.col("var").alias("_v0"), pl.col("binary").alias("_b0"))
    if ctrl.is_empty():
        raise ValueError(f"no rows in the control arm {control!r} of column {arm!r}")
    treated = s.filter(pl.col("arm") != control).rename(
        {"n": "n_treated", "mean": "treated_mean", "var": "_v1", "binary": "_b1"})
    out = treated.join(ctrl, on=keys, how="inner")
    forced = pl.col("outcome").is_in(list(binary)) if binary is not None else pl.lit(False)
    is_binary = forced | (pl.col("_b0") & pl.col("_b1"))
    p0, p1 = pl.col("control_mean"), pl.col("treated_mean")
    v0 = pl.when(is_binary).then(p0 * (1 - p0)).otherwise(pl.col("_v0").fill_null(0.0))
    v1 = pl.when(is_binary).then(p1 * (1 - p1)).otherwise(pl.col("_v1").fill_null(0.0))
    a, b = v1 / pl.col("n_treated"), v0 / pl.col("n_control")
    out = out.with_columns(
        is_binary.alias("binary"), (p1 - p0).alias("difference"), (a + b).sqrt().alias("std_error"),
        # Welch-Satterthwaite; binary outcomes use the normal quantile (infinite df)
        pl.when(is_binary).then(float("inf")).otherwise(
            (a + b) ** 2 / (a**2 / (pl.col("n_treated") - 1) + b**2 / (pl.col("n_control") - 1))).alias("df"))
    df = out["df"].fill_null(float("inf")).fill_nan(float("inf")).to_numpy()
    q = np.where(np.isfinite(df), stats.t.ppf(0.5 + level / 2, np.where(np.isfinite(df), df, 1.0)),
                 stats.norm.ppf(0.5 + level / 2))
    se, diff = out["std_error"].to_numpy(), out["difference"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(diff / se)
        p = np.where(np.isfinite(df), 2 * stats.t.sf(z, np.where(np.isfinite(df), df, 1.0)), 2 * stats.norm.sf(z))
    p = np.where(se > 0, p, np.where(diff == 0, 1.0, 0.0))
    out = out.with_columns(
        pl.Series("ci_low", diff - q * se), pl.Series("ci_high", diff + q * se), pl.Series("p_value", p),
        pl.when(p0 != 0).then((p1 - p0) / p0).alias("relative_lift"))
    order = {o: i for i, o in enumerate(outcomes)}
    return out.with_columns(pl.col("outcome").replace_strict(order, return_dtype=pl.Int64).alias("_o")).sort(
        [*by, "arm", "_o"]).select(
        *by, "arm", "outcome", "binary", "n_control", "n_treated", "control_mean", "treated_mean", "difference",
        "ci_low", "ci_high", "relative_lift", "std_error", "df", "p_value")


def run_roi(members: pl.DataFrame | pl.LazyFrame, *, arm: str = "arm", control: str = "holdout",
            by: Sequence[str] = (), level: float = 0.95) -> pl.DataFrame:
    """Incremental effects of a run from per-member outcomes (visited, visits, theo, net_revenue,
    cost): the ROI_OUTCOMES rows of `campaign_effect`, overall (and per `by` group), with
    ``theo_net``/``revenue_net`` = outcome minus reward cost."""
    lf = members.lazy().with_columns(
        (pl.col("theo") - pl.col("cost")).alias("theo_net"),
        (pl.col("net_revenue") - pl.col("cost")).alias("revenue_net"))
    overall = campaign_effect(lf, arm, control, ROI_OUTCOMES, level=level, binary=["visited"])
    if not by:
        return overall.with_columns(pl.lit(HOLDOUT_EVIDENCE).alias("evidence"))
    parts = [overall.with_columns([pl.lit("ALL").alias(c) for c in by]).select(*by, *overall.columns)]
    parts.append(campaign_effect(lf.with_columns([pl.col(c).cast(pl.String).fill_null("unknown") for c in by]),
                                 arm, control, ROI_OUTCOMES, by=by, level=level, binary=["visited"]))
    return pl.concat(parts).with_columns(pl.lit(HOLDOUT_EVIDENCE).alias("evidence"))


def did_effect(frame: pl.DataFrame | pl.LazyFrame, *, group: str = "arm", control: str = "comparison",
               pre: Sequence[str], post: Sequence[str], names: Sequence[str] | None = None,
               by: Sequence[str] = (), level: float = 0.95) -> pl.DataFrame:
    """Difference-in-differences: per outcome, each player's post - pre compared between groups
    (Welch interval on the changes); flagged as weaker evidence."""
    if len(pre) != len(post):
        raise ValueError("pre and post name the same outcomes, in the same order")
    names = list(names or post)
    lf = frame.lazy().with_columns([(pl.col(b).cast(pl.Float64) - pl.col(a).cast(pl.Float64)).alias(n)
                                    for a, b, n in zip(pre, post, names)])
    out = campaign_effect(lf, group, control, names, by=by, level=level)
    return out.with_columns(pl.lit(False).alias("binary"), pl.lit(DID_EVIDENCE).alias("evidence"))
