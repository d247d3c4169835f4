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
   left is ``issued``. The ordering passes run on a narrow frame of integer keys, sorted once per
   pass, with running sums that restart at each player (no hashing window functions).

Every decision keeps the numbers behind it (expected cost and margin, lift, edge, abuse signals, the
winning rule); :func:`explain` turns them into a ``reason`` sentence. Formatting text is the costly
part at a million players, so callers explain the rows they show.
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
STATUS_ENUM = pl.Enum([*STATUSES, "candidate"])
REWARD_ENUM = pl.Enum(list(REWARD_TYPES))
CHECK_ENUM = pl.Enum(["block", "report"])
MAX_RULES = 4096  # rule and group numbers share a packed 64-bit sort key with the player's row
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


def prepare(players: pl.LazyFrame | pl.DataFrame, abuse: AbusePolicy, profit: ProfitModel) -> pl.LazyFrame:
    """The players frame with metric features, the abuse policy's and the profit model's per-player
    columns, and `_pidx` (row number: an integer sort key)."""
    lf = players.lazy()
    have = set(lf.collect_schema())
    lf = lf.with_columns([e for e in metric_features() if e.meta.output_name() not in have])
    lf = lf.with_columns(*abuse.flags(), *profit.player_columns()).with_columns(abuse.outcome())
    return lf.with_row_index("_pidx")


def _whole(rule: Rule) -> bool:
    return REWARD_TYPES[rule.reward.type].unit in ("points", "count") and rule.reward.unit_value is None


def _rule_rows(lf: pl.LazyFrame, rule: Rule, profit: ProfitModel, rule_no: int, group_no: int,
               enums: dict[str, pl.Enum]) -> pl.LazyFrame:
    """The decision rows of one rule: players meeting its conditions, with amounts and verdicts.
    `rule_no` is the rule's place in priority order; text literals are Enums (stored as integers)."""
    r = rule.reward
    cond = pl.all_horizontal([c.expr() for c in rule.conditions]) if rule.conditions else pl.lit(True)
    raw = parse(r.formula).expr().fill_nan(None).fill_null(0.0).clip(0.0, r.max_amount)
    units = raw * pl.col("abuse_factor")
    if _whole(rule):
        raw, units = raw.floor(), units.floor()
    value = units * r.unit_cost
    cost = profit.expected_cost(value, r.type, r.wagering_requirement, r.eligible_games)
    margin = profit.expected_margin(r.eligible_games)
    caps = {f"cap_{w}": pl.lit(getattr(rule.caps, k), dtype=pl.Float64)
            for w, k in zip(CAP_WINDOWS, ("day", "week", "month"))}
    return lf.filter(cond).select(
        "_pidx", "player_id", pl.col(profit.segment_column).cast(pl.String).alias("segment"),
        pl.lit(rule.rule_id, dtype=enums["rule_id"]).alias("rule_id"), pl.lit(rule_no, dtype=pl.UInt64).alias("_rule"),
        pl.lit(rule.version, dtype=pl.Int64).alias("rule_version"),
        pl.lit(rule.priority, dtype=pl.Int64).alias("priority"), pl.lit(rule.group, dtype=enums["group"]).alias("group"),
        pl.lit(group_no, dtype=pl.UInt64).alias("_group"), pl.lit(r.type, dtype=REWARD_ENUM).alias("reward_type"),
        pl.lit(r.unit_cost).alias("unit_cost"), pl.lit(_whole(rule)).alias("_whole"),
        raw.alias("units_raw"), units.alias("units"), value.alias("value"),
        cost.alias("expected_cost"), margin.alias("expected_margin"),
        profit.profitable(cost, margin).alias("profitable"), pl.col("_lift").alias("lift"),
        profit.game_edge(r.eligible_games).alias("game_edge"), pl.lit(rule.profit_check, dtype=CHECK_ENUM).alias("profit_check"),
        "abuse_signals", "abuse_factor", "abuse_reasons",
        *[pl.col(f"reward_value_{w}").cast(pl.Float64).fill_null(0.0) for w in CAP_WINDOWS],
        *[v.alias(k) for k, v in caps.items()])


def _status(name: str) -> pl.Expr:
    return pl.lit(name, dtype=STATUS_ENUM)


def _gate() -> pl.Expr:
    """Status before conflicts and caps."""
    return (pl.when(pl.col("units_raw") <= 0).then(_status("no_amount"))
            .when(pl.col("abuse_factor") <= 0).then(_status("blocked_abuse"))
            .when(~pl.col("profitable") & (pl.col("profit_check") == "block")).then(_status("blocked_profit"))
            .otherwise(_status("candidate")))


def _remaining(prefix: str, history: str) -> pl.Expr:
    """Value left under the caps `prefix_<w>` given what was already given (`history_<w>`)."""
    left = [(pl.col(f"{prefix}_{w}") - pl.col(f"{history}_{w}").fill_null(0.0)).fill_null(_INF) for w in CAP_WINDOWS]
    return pl.min_horizontal(left).clip(lower_bound=0.0)


def _running(x: pl.Expr, starts: pl.Expr) -> pl.Expr:
    """Cumulative sum of x restarting at every segment start: O(n) on a sorted frame, no hashing."""
    total = x.cum_sum()
    return total - pl.when(starts).then(total - x).forward_fill()


def _in_order(expr: pl.Expr, perm: str) -> pl.Expr:
    """`expr` gathered into the order of the permutation column `perm`."""
    return expr.gather(pl.col(perm))


def _order(lf: pl.LazyFrame, program: Program) -> pl.LazyFrame:
    """Winners and allowed values: conflicts by priority, then rule and program caps.

    Each pass works in a sorted order without sorting the frame: `_rule` is the rule's place in
    priority order, so one packed integer per row orders (player, group, rule), then (player, rule);
    its arg_sort is the permutation, the running sums run over the gathered columns, and the inverse
    permutation scatters the results back to row order."""
    by_group = (pl.col("_pidx").cast(pl.UInt64) * (MAX_RULES * MAX_RULES) + pl.col("_group") * MAX_RULES
                + pl.col("_rule"))
    by_player = pl.col("_pidx").cast(pl.UInt64) * MAX_RULES + pl.col("_rule")
    lf = lf.with_columns(by_group.arg_sort().alias("_p1"), by_player.arg_sort().alias("_p2")).with_columns(
        pl.col("_p1").arg_sort().alias("_i1"), pl.col("_p2").arg_sort().alias("_i2"))
    cand = _in_order(pl.col("status") == "candidate", "_p1")
    start = pl.any_horizontal(
        [_in_order(pl.col(k), "_p1") != _in_order(pl.col(k), "_p1").shift(1) for k in ("_pidx", "_group")]
    ).fill_null(True)
    wins = cand & (_running(cand.cast(pl.Int32), start) == 1)
    winner = pl.when(wins).then(_in_order(pl.col("_rule"), "_p1")).when(start).then(pl.lit(None)).forward_fill()
    lf = lf.with_columns(wins.gather(pl.col("_i1")).alias("_wins"), winner.gather(pl.col("_i1")).alias("_winner"))
    program_caps = [pl.lit(getattr(program.caps, k), dtype=pl.Float64).alias(f"program_{w}")
                    for w, k in zip(CAP_WINDOWS, ("day", "week", "month"))]
    lf = lf.with_columns(program_caps).with_columns(
        pl.when(pl.col("_wins")).then(pl.min_horizontal(pl.col("value"), _remaining("cap", "rule_value")))
        .otherwise(0.0).alias("_rule_capped"),
        _remaining("program", "reward_value").alias("_program_left"))
    # program caps fill in priority order: cumulative value clipped at what is left (see module doc)
    pidx = _in_order(pl.col("_pidx"), "_p2")
    capped = _in_order(pl.col("_rule_capped"), "_p2")
    cum = _running(capped, (pidx != pidx.shift(1)).fill_null(True)).gather(pl.col("_i2"))
    lf = lf.with_columns(cum.alias("_cum"))
    allowed = (pl.min_horizontal("_cum", "_program_left")
               - pl.min_horizontal(pl.col("_cum") - pl.col("_rule_capped"), pl.col("_program_left")))
    return lf.with_columns(allowed.clip(lower_bound=0.0).alias("_allowed"))


def decide(candidates: pl.LazyFrame, program: Program | None = None, history: pl.LazyFrame | None = None,
           profit: ProfitModel | None = None, ordered: Sequence[Rule] = ()) -> pl.LazyFrame:
    """Statuses and issued amounts: conflicts by priority, then caps (see the module doc). `ordered`
    are the rules in priority order (the `_rule` numbers), to name the winner of a conflict."""
    program, profit = program or Program(), profit or ProfitModel()
    lf = candidates.with_columns(_gate().alias("status"))
    if history is not None:
        lf = lf.with_columns(pl.col("rule_id").cast(pl.String).alias("_rule_id")).join(
            history.rename({"rule_id": "_rule_id"}), on=["player_id", "_rule_id"], how="left", maintain_order="left")
    else:
        lf = lf.with_columns([pl.lit(0.0).alias(f"rule_value_{w}") for w in CAP_WINDOWS])
    lf = _order(lf, program)
    cand = pl.col("status") == "candidate"
    units = pl.col("_allowed") / pl.col("unit_cost")
    units = pl.when(pl.col("_whole")).then((units + 1e-9).floor()).otherwise(units.round(2))
    share = pl.when(pl.col("value") > 0).then(pl.col("_allowed") / pl.col("value")).otherwise(0.0)
    issued = pl.col("_wins") & (pl.col("_allowed") > 1e-9)
    final = (pl.when(~pl.col("_wins")).then(pl.when(cand).then(_status("lost_conflict")).otherwise(pl.col("status")))
             .when(~issued).then(_status("blocked_cap"))
             .when(pl.col("_allowed") < pl.col("value") - 1e-9).then(_status("capped"))
             .otherwise(_status("issued")))
    lf = lf.with_columns(
        final.alias("status"),
        pl.when(issued).then(units).otherwise(0.0).alias("amount"),
        pl.when(issued).then(units * pl.col("unit_cost")).otherwise(0.0).alias("issued_value"),
        (pl.col("expected_cost") * pl.when(issued).then(share).otherwise(1.0)).alias("expected_cost"))
    names = {i: r.rule_id for i, r in enumerate(ordered)}
    priorities = {i: r.priority for i, r in enumerate(ordered)}
    return lf.with_columns(
        pl.col("_winner").replace_strict(names, default=None, return_dtype=pl.String).alias("winner"),
        pl.col("_winner").replace_strict(priorities, default=None, return_dtype=pl.Int64).alias("winner_priority"),
        pl.col("_allowed").alias("allowed"),
        # plain text out (Enums inside keep the rows small while deciding)
        *[pl.col(c).cast(pl.String) for c in ("rule_id", "group", "reward_type", "status")]).select(DECISION_COLUMNS)


DECISION_COLUMNS = (
    "player_id", "segment", "rule_id", "rule_version", "priority", "group", "reward_type", "status", "amount",
    "issued_value", "units_raw", "value", "allowed", "expected_cost", "expected_margin", "profitable", "lift",
    "game_edge", "abuse_signals", "abuse_factor", "abuse_reasons", "winner", "winner_priority")


def reason(profit: ProfitModel) -> pl.Expr:
    """Why each decision came out as it did, in words (from the decision columns)."""
    status = pl.col("status")
    return (pl.when(status == "no_amount").then(pl.lit("the formula gives no amount"))
            .when(status == "blocked_abuse").then(pl.format("abuse: {}", "abuse_reasons"))
            .when(status == "blocked_profit").then(profit.why_unprofitable())
            .when(status == "lost_conflict").then(
                pl.format("{} (priority {}) wins in group {}", "winner", "winner_priority", "group"))
            .when(status.is_in(["blocked_cap", "capped"])).then(
                pl.format("caps leave {} of {}", pl.col("allowed").round(2), pl.col("value").round(2)))
            .when(~pl.col("profitable")).then(pl.format("reported only: {}", profit.why_unprofitable()))
            .when(pl.col("abuse_factor") < 1).then(pl.format("reduced for abuse: {}", "abuse_reasons"))
            .otherwise(pl.lit("")))


def explain(decisions: pl.DataFrame | pl.LazyFrame, profit: ProfitModel | None = None) -> pl.DataFrame:
    """The decisions with a `reason` sentence each (format only the rows you show: it is the costly part)."""
    return decisions.lazy().with_columns(reason(profit or ProfitModel()).alias("reason")).collect()


def evaluate(players: pl.LazyFrame | pl.DataFrame, rules: Sequence[Rule], *, profit: ProfitModel | None = None,
             abuse: AbusePolicy | None = None, program: Program | None = None,
             history: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Decision rows of every enabled rule over every player (lazy; collect to run)."""
    profit = profit or ProfitModel()
    lf = prepare(players, abuse or AbusePolicy(), profit)
    active = [r for r in rules if r.enabled]
    ids = [r.rule_id for r in active]
    if len(set(ids)) != len(ids):
        raise ValueError(f"rule ids must be unique in one evaluation: {ids}")
    if len(active) > MAX_RULES:
        raise ValueError(f"at most {MAX_RULES} rules in one evaluation, got {len(active)}")
    ordered = sorted(active or [_NOTHING], key=lambda r: (-r.priority, r.rule_id))
    groups = sorted({r.group for r in ordered})
    enums = {"rule_id": pl.Enum([r.rule_id for r in ordered]), "group": pl.Enum(groups)}
    parts = [_rule_rows(lf, r, profit, i, groups.index(r.group), enums) for i, r in enumerate(ordered)]
    rows = pl.concat(parts, how="vertical") if active else parts[0].filter(pl.lit(False))
    return decide(rows, program, history, profit, ordered)


def decision_frame(players: pl.LazyFrame | pl.DataFrame, rules: Sequence[Rule], **kwargs) -> pl.DataFrame:
    """`evaluate` collected, with the reason of every decision."""
    return explain(evaluate(players, rules, **kwargs).collect(), kwargs.get("profit"))
