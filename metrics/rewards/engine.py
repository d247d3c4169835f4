"""Vectorised rule evaluation over every player: conditions, amounts, abuse, profit, conflicts, caps.

``evaluate(players, rules)`` returns one *decision* row per (player, rule) whose conditions hold, in
a handful of lazy Polars passes (no Python loop over players):

1. the players frame (metrics, segments, event features) gains the metric features and the abuse
   policy's flags, count and factor (one ``with_columns`` each);
2. per rule, ONE filter by its conditions and ONE select computing the amount (formula, floored at
   0 and capped at ``max_amount``, then reduced by the abuse factor), its cash value, the expected
   cost and margin and the profit verdict; the rules' rows are concatenated (Polars runs them in
   parallel);
3. statuses: ``no_amount``, ``blocked_abuse``, ``blocked_profit`` (rules with profit_check block),
   then among the rest the highest priority per player and group wins (``lost_conflict`` for the
   others; ties go to the smaller rule_id), then caps: each rule's own day/week/month caps against
   what it already gave the player, and the program caps against every reward the player got,
   filled in priority order (``capped`` when cut, ``blocked_cap`` when nothing is left). What is
   left is ``issued``. Every row says why in ``reason``.
"""

from __future__ import annotations

from collections.abc import Sequence

import param
import polars as pl

from metrics.rewards.abuse import AbusePolicy
from metrics.rewards.features import metric_features
from metrics.rewards.formula import parse
from metrics.rewards.rules import Caps, Reward, Rule
from metrics.rewards.safety import ProfitModel
from metrics.rewards.signals import CAP_WINDOWS
from metrics.rewards.types import REWARD_TYPES
from metrics.segments import Versioned

ISSUED_STATUSES = ("issued", "capped")
STATUSES = ("issued", "capped", "blocked_cap", "lost_conflict", "blocked_profit", "blocked_abuse", "no_amount")
_INF = float("inf")
# evaluating no rule still yields the decision columns: one rule's rows, filtered to none
_NOTHING = Rule(rule_id="none", priority=0, conditions=(), reward=Reward("COMP", "0", 1.0))


class Program(Versioned):
    """Caps over every reward a player gets: most value per rolling day, week and month (0: no cap)."""

    kind = "reward_program"

    name = param.String(default="reward_program", constant=True, doc="Name the caps are saved under.")
    day = param.Number(default=0.0, bounds=(0, None), doc="Most reward value per player per rolling day (0: no cap).")
    week = param.Number(default=0.0, bounds=(0, None), doc="Most reward value per player per rolling 7 days (0: no cap).")
    month = param.Number(default=0.0, bounds=(0, None), doc="Most reward value per player per rolling 30 days (0: no cap).")

    @property
    def caps(self) -> Caps:
        """The caps as a rule-style Caps (None where there is none)."""
        return Caps(self.day or None, self.week or None, self.month or None)


def prepare(players: pl.LazyFrame | pl.DataFrame, abuse: AbusePolicy) -> pl.LazyFrame:
    """The players frame with metric features and the abuse policy's columns."""
    lf = players.lazy()
    have = set(lf.collect_schema())
    lf = lf.with_columns([e for e in metric_features() if e.meta.output_name() not in have])
    return lf.with_columns(abuse.flags()).with_columns(abuse.outcome())


def _whole(rule: Rule) -> bool:
    return REWARD_TYPES[rule.reward.type].unit in ("points", "count") and rule.reward.unit_value is None


def _rule_rows(lf: pl.LazyFrame, rule: Rule, profit: ProfitModel) -> pl.LazyFrame:
    """The decision rows of one rule: players meeting its conditions, with amounts and verdicts."""
    r = rule.reward
    cond = pl.all_horizontal([c.expr() for c in rule.conditions]) if rule.conditions else pl.lit(True)
    raw = parse(r.formula).expr().fill_nan(None).fill_null(0.0).clip(0.0, r.max_amount)
    units = raw * pl.col("abuse_factor")
    if _whole(rule):
        raw, units = raw.floor(), units.floor()
    value = units * r.unit_cost
    cost = profit.expected_cost(value, r.type, r.wagering_requirement, r.eligible_games)
    margin = profit.expected_margin(r.eligible_games)
    ok, why = profit.verdict(cost, margin, r.eligible_games)
    caps = {f"cap_{w}": pl.lit(getattr(rule.caps, k), dtype=pl.Float64)
            for w, k in zip(CAP_WINDOWS, ("day", "week", "month"))}
    return lf.filter(cond).select(
        "player_id", pl.col(profit.segment_column).cast(pl.String).alias("segment"),
        pl.lit(rule.rule_id).alias("rule_id"), pl.lit(rule.version, dtype=pl.Int64).alias("rule_version"),
        pl.lit(rule.priority, dtype=pl.Int64).alias("priority"), pl.lit(rule.group).alias("group"),
        pl.lit(r.type).alias("reward_type"), pl.lit(r.unit_cost).alias("unit_cost"),
        raw.alias("units_raw"), units.alias("units"), value.alias("value"),
        cost.alias("expected_cost"), margin.alias("expected_margin"), ok.alias("profitable"),
        why.alias("profit_reason"), pl.lit(rule.profit_check).alias("profit_check"),
        "abuse_signals", "abuse_factor", "abuse_reasons",
        *[pl.col(f"reward_value_{w}").cast(pl.Float64).fill_null(0.0) for w in CAP_WINDOWS],
        *[v.alias(k) for k, v in caps.items()])


def _gate() -> tuple[pl.Expr, pl.Expr]:
    """(status, reason) before conflicts and caps."""
    status = (pl.when(pl.col("units_raw") <= 0).then(pl.lit("no_amount"))
              .when(pl.col("abuse_factor") <= 0).then(pl.lit("blocked_abuse"))
              .when(~pl.col("profitable") & (pl.col("profit_check") == "block")).then(pl.lit("blocked_profit"))
              .otherwise(pl.lit("candidate")))
    reason = (pl.when(pl.col("units_raw") <= 0).then(pl.lit("the formula gives no amount"))
              .when(pl.col("abuse_factor") <= 0).then(pl.format("abuse: {}", pl.col("abuse_reasons")))
              .when(~pl.col("profitable")).then(pl.col("profit_reason"))
              .when(pl.col("abuse_factor") < 1).then(pl.format("reduced for abuse: {}", pl.col("abuse_reasons")))
              .otherwise(pl.lit("")))
    return status, reason


def _remaining(prefix: str, history: str) -> pl.Expr:
    """Value left under the caps `prefix_<w>` given what was already given (`history_<w>`)."""
    left = [(pl.col(f"{prefix}_{w}") - pl.col(f"{history}_{w}").fill_null(0.0)).fill_null(_INF) for w in CAP_WINDOWS]
    return pl.min_horizontal(left).clip(lower_bound=0.0)


def decide(candidates: pl.LazyFrame, program: Program | None = None,
           history: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Statuses, reasons and issued amounts: conflicts by priority, then caps (see the module doc)."""
    program = program or Program()
    status, reason = _gate()
    lf = candidates.with_columns(status.alias("status"), reason.alias("reason"))
    if history is not None:
        lf = lf.join(history, on=["player_id", "rule_id"], how="left")
    else:
        lf = lf.with_columns([pl.lit(0.0).alias(f"rule_value_{w}") for w in CAP_WINDOWS])
    lf = lf.sort("player_id", "group", "priority", "rule_id", descending=[False, False, True, False])
    cand = pl.col("status") == "candidate"
    by = ["player_id", "group"]
    lf = lf.with_columns(
        (cand & (cand.cum_sum().over(by) == 1)).alias("_wins"),
        pl.col("rule_id").filter(cand).first().over(by).alias("_winner"),
        pl.col("priority").filter(cand).first().over(by).alias("_winner_priority"))
    program_caps = [pl.lit(getattr(program.caps, k), dtype=pl.Float64).alias(f"program_{w}")
                    for w, k in zip(CAP_WINDOWS, ("day", "week", "month"))]
    lf = lf.with_columns(program_caps).with_columns(
        pl.when(pl.col("_wins")).then(pl.min_horizontal(pl.col("value"), _remaining("cap", "rule_value")))
        .otherwise(0.0).alias("_rule_capped"),
        _remaining("program", "reward_value").alias("_program_left"))
    # program caps fill in priority order: cumulative value clipped at what is left (see module doc)
    lf = lf.sort("player_id", "priority", "rule_id", descending=[False, True, False]).with_columns(
        pl.col("_rule_capped").cum_sum().over("player_id").alias("_cum"))
    allowed = (pl.min_horizontal("_cum", "_program_left")
               - pl.min_horizontal(pl.col("_cum") - pl.col("_rule_capped"), pl.col("_program_left")))
    lf = lf.with_columns(allowed.clip(lower_bound=0.0).alias("_allowed"))
    whole = pl.col("reward_type").is_in([t for t, v in REWARD_TYPES.items() if v.unit in ("points", "count")])
    units = (pl.col("_allowed") / pl.col("unit_cost"))
    units = pl.when(whole).then((units + 1e-9).floor()).otherwise(units.round(2))
    share = pl.when(pl.col("value") > 0).then(pl.col("_allowed") / pl.col("value")).otherwise(0.0)
    final = (pl.when(~pl.col("_wins")).then(
                pl.when(cand).then(pl.lit("lost_conflict")).otherwise(pl.col("status")))
             .when(pl.col("_allowed") <= 1e-9).then(pl.lit("blocked_cap"))
             .when(pl.col("_allowed") < pl.col("value") - 1e-9).then(pl.lit("capped"))
             .otherwise(pl.lit("issued")))
    why = (pl.when(cand & ~pl.col("_wins")).then(
               pl.format("{} (priority {}) wins in group {}", "_winner", "_winner_priority", "group"))
           .when(pl.col("_wins") & (pl.col("_allowed") < pl.col("value") - 1e-9)).then(
               pl.format("caps leave {} of {}", pl.col("_allowed").round(2), pl.col("value").round(2)))
           .otherwise(pl.col("reason")))
    issued = pl.col("_wins") & (pl.col("_allowed") > 1e-9)
    return lf.with_columns(
        final.alias("status"), why.alias("reason"),
        pl.when(issued).then(units).otherwise(0.0).alias("amount"),
        pl.when(issued).then(units * pl.col("unit_cost")).otherwise(0.0).alias("issued_value"),
        (pl.col("expected_cost") * pl.when(issued).then(share).otherwise(1.0)).alias("expected_cost"),
    ).select(
        "player_id", "segment", "rule_id", "rule_version", "priority", "group", "reward_type", "status",
        "reason", "amount", "issued_value", "units_raw", "value", "expected_cost", "expected_margin",
        "profitable", "abuse_signals", "abuse_factor", "abuse_reasons")


def evaluate(players: pl.LazyFrame | pl.DataFrame, rules: Sequence[Rule], *, profit: ProfitModel | None = None,
             abuse: AbusePolicy | None = None, program: Program | None = None,
             history: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Decision rows of every enabled rule over every player (lazy; collect to run)."""
    profit = profit or ProfitModel()
    lf = prepare(players, abuse or AbusePolicy())
    active = [r for r in rules if r.enabled]
    ids = [r.rule_id for r in active]
    if len(set(ids)) != len(ids):
        raise ValueError(f"rule ids must be unique in one evaluation: {ids}")
    if not active:
        return decide(_rule_rows(lf, _NOTHING, profit).filter(pl.lit(False)), program, history)
    parts = [_rule_rows(lf, r, profit) for r in active]
    return decide(pl.concat(parts, how="vertical"), program, history)


def decision_frame(players: pl.LazyFrame | pl.DataFrame, rules: Sequence[Rule], **kwargs) -> pl.DataFrame:
    """`evaluate` collected."""
    return evaluate(players, rules, **kwargs).collect()

