"""Profit safety: a reward's expected cost against the incremental margin it is expected to bring.

Seed 003's formula (*expected reward cost < expected future wager margin*, with the future wager from
the historical wager times a retention multiplier by segment) in our columns, per player and rule:

* **expected cost** = value x P(redeemed) x (for bonus and free play) the share left after wagering.
  ``value`` is the reward's cash value (units x unit cost). P(redeemed) is the player's own
  redemption rate once ``min_history`` rewards were issued to them, else ``default_redemption``. A
  bonus with wagering requirement W must be wagered W times on the eligible games first; the house
  keeps W x edge of it on average, so only ``max(0, 1 - W x edge)`` of it is expected to leave.
* **expected incremental margin** = the player's usual daily wager (``theo_90d / 90`` at the edge
  of their favourite game; for a player without play in the last 90 days, their lifetime theo per
  day of tenure, at least 90 days) x ``horizon_days`` x the lift of their segment x the edge of the
  games the reward may be played on (their favourite game's edge when not restricted).

A reward is *unprofitable* when its expected margin is below ``min_margin_ratio`` x its expected
cost; rules with ``profit_check = "block"`` do not issue those, and the reason names the numbers.
The lifts are assumptions until measured: replace them with the incremental theo of past runs
(``player360 rules roi``) per segment.
"""

from __future__ import annotations

from collections.abc import Sequence

import param
import polars as pl

from metrics.rewards.types import WAGERING_TYPES
from metrics.segments import Versioned

DEFAULT_LIFT = {"NEW": 0.15, "VIP": 0.05, "WINNING": 0.03, "BREAKEVEN": 0.10, "LOSING": 0.12}


class ProfitModel(Versioned):
    """Assumptions of the profit-safety check (versioned, like a segmentation scheme)."""

    kind = "reward_profit"

    name = param.String(default="reward_profit", constant=True, doc="Name the model is saved under.")
    segment_column = param.String(default="loyalty", doc="Segment column the lifts are keyed by.")
    lift = param.Dict(default=dict(DEFAULT_LIFT),
                      doc="Expected relative increase of a rewarded player's play, by segment label.")
    default_lift = param.Number(default=0.08, bounds=(0, 5), step=0.01,
                                doc="Lift of players whose segment has none in `lift`.")
    horizon_days = param.Integer(default=30, bounds=(1, 365), doc="Days of future play a reward is credited with.")
    default_redemption = param.Number(default=0.8, bounds=(0, 1), step=0.05,
                                      doc="Chance a reward is used, for players with too little history.")
    min_history = param.Integer(default=3, bounds=(1, None),
                                doc="Rewards a player must have had before their own redemption rate is used.")
    house_edges = param.Dict(default={}, doc="House edge by game (pipelines pass the sources' GAME_RATES).")
    blended_edge = param.Number(default=0.03, bounds=(0.001, 0.5), step=0.001,
                                doc="House edge of games without one in `house_edges`.")
    min_margin_ratio = param.Number(default=1.0, bounds=(0, 10), step=0.1,
                                    doc="Expected margin must be at least this many times the expected cost.")

    def edge(self, games: Sequence[str]) -> float:
        """Mean house edge of some games."""
        edges = [float(self.house_edges.get(g, self.blended_edge)) for g in games]
        return sum(edges) / len(edges) if edges else self.blended_edge

    def player_columns(self) -> list[pl.Expr]:
        """Per-player inputs computed once before the rules: favourite game's edge, segment lift,
        P(redeemed) and daily wager over the last 90 days."""
        edges = {str(k): float(v) for k, v in self.house_edges.items()}
        lifts = {str(k): float(v) for k, v in self.lift.items()}
        fav = pl.col("favourite_game").cast(pl.String).replace_strict(
            edges, default=self.blended_edge, return_dtype=pl.Float64).fill_null(self.blended_edge)
        lift = pl.col(self.segment_column).cast(pl.String).replace_strict(
            lifts, default=self.default_lift, return_dtype=pl.Float64).fill_null(self.default_lift)
        own = pl.col("redemption_rate").cast(pl.Float64)
        enough = pl.col("rewards_issued").fill_null(0) >= self.min_history
        redeem = pl.when(enough & own.is_not_null()).then(own).otherwise(self.default_redemption)
        recent = pl.col("theo_90d").cast(pl.Float64).fill_null(0.0) / 90.0
        lifetime = (pl.col("theo_total").cast(pl.Float64).fill_null(0.0)
                    / pl.col("tenure_days").cast(pl.Float64).fill_null(0.0).clip(lower_bound=90.0))
        # lapsed players have no recent play: their lifetime rate is what a reactivation brings back
        daily = pl.when(recent > 0).then(recent).otherwise(lifetime) / fav
        return [fav.alias("_fav_edge"), lift.alias("_lift"), redeem.alias("_p_redeem"), daily.alias("_daily_wager")]

    def game_edge(self, games: Sequence[str]) -> pl.Expr:
        """Edge of the games a reward is played on (the favourite game's when unrestricted)."""
        return pl.lit(self.edge(games)) if games else pl.col("_fav_edge")

    def expected_cost(self, value: pl.Expr, reward_type: str, wagering: float, games: Sequence[str]) -> pl.Expr:
        """Expected cash cost of a reward worth `value` (needs `player_columns`)."""
        cost = value * pl.col("_p_redeem")
        if reward_type in WAGERING_TYPES and wagering:
            cost = cost * (1.0 - wagering * self.game_edge(games)).clip(lower_bound=0.0)
        return cost

    def expected_margin(self, games: Sequence[str]) -> pl.Expr:
        """Expected incremental margin over the horizon from the rewarded player's extra play."""
        return pl.col("_daily_wager") * self.horizon_days * pl.col("_lift") * self.game_edge(games)

    def profitable(self, cost: pl.Expr, margin: pl.Expr) -> pl.Expr:
        """Whether the expected margin covers the expected cost (times min_margin_ratio)."""
        return margin >= cost * self.min_margin_ratio

    def why_unprofitable(self) -> pl.Expr:
        """Why a reward is unprofitable, from the columns expected_cost, expected_margin, segment, lift
        and game_edge of a decision frame."""
        return pl.format(
            "expected cost {} exceeds expected margin {} ({} {}: lift {}% over {} days at {}% edge)",
            pl.col("expected_cost").round(2), pl.col("expected_margin").round(2), pl.lit(self.segment_column),
            pl.col("segment"), (pl.col("lift") * 100).round(1), pl.lit(self.horizon_days),
            (pl.col("game_edge") * 100).round(2))
