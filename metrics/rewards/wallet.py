"""A player's wallet, derived from the ledger: points, reward points, bonus money, tickets.

Nothing is stored: every figure is recomputed from events (``events_current`` columns player_id, ts,
event_type, amount, points, game, theo, attrs), so the wallet always agrees with the ledger.

* **loyalty points**: the signed points of every ``points_*`` event (the catalog's points_balance);
* **rewards** (``reward_issued``, matched to ``reward_redeemed`` / ``reward_expired`` by the attrs
  ``reward_id``): *open* while neither redeemed nor expired and before ``expires_at`` (attrs; else
  issued + ``REWARD_VALID_DAYS``). Open reward points, bonus and free play money, comps, vouchers
  and tickets make the balances;
* **wagering**: a bonus with ``wagering_requirement`` W (attrs) needs W x its amount wagered on its
  ``eligible_games`` (all games when none) between its issue and its end (redemption, expiry or
  now); a slip's wager is its theo over its game's house edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from metrics.catalog import REWARD_VALID_DAYS

POINT_TYPES = ("points_earned", "points_redeemed", "points_adjusted")
BALANCES = {"reward_points": "reward_points", "bonus": "bonus", "freeplay": "freeplay", "comp": "comp",
            "voucher": "voucher", "ticket": "tickets"}


@dataclass
class Wallet:
    """Balances and the open rewards behind them, for one player or many."""

    balances: pl.DataFrame  # one row per player
    rewards: pl.DataFrame = field(default_factory=pl.DataFrame)  # every reward with its state and wagering

    def of(self, player_id: str) -> dict:
        """One player's balances as a dict (zeros when they have none)."""
        row = self.balances.filter(pl.col("player_id") == player_id)
        if row.height:
            return row.row(0, named=True)
        return {"player_id": player_id, **{c: 0.0 for c in self.balances.columns if c != "player_id"}}


def _attr(key: str) -> pl.Expr:
    return pl.col("attrs").cast(pl.String).str.json_path_match(f"$.{key}")


def reward_states(events: pl.LazyFrame, now: datetime) -> pl.LazyFrame:
    """Every issued reward: type, units, value, issue, expiry, end and state (open, redeemed, expired)."""
    issued = events.filter(pl.col("event_type") == "reward_issued").with_columns(
        pl.coalesce(_attr("reward_id"), pl.col("event_id") if "event_id" in events.collect_schema()
                    else pl.lit(None, dtype=pl.String)).alias("reward_id"))
    expires = pl.coalesce(_attr("expires_at").str.to_datetime(strict=False, time_unit="us"),
                          pl.col("ts") + timedelta(days=REWARD_VALID_DAYS))
    rewards = issued.select(
        "player_id", "reward_id", pl.col("ts").alias("issued_at"),
        pl.coalesce(_attr("reward_type"), pl.lit("reward")).alias("reward_type"),
        pl.col("amount").fill_null(0.0).alias("value"),
        pl.coalesce(_attr("units").cast(pl.Float64, strict=False),
                    pl.when(_attr("reward_type") == "ticket").then(1.0), pl.col("amount")).fill_null(0.0).alias("units"),
        expires.alias("expires_at"),
        _attr("wagering_requirement").cast(pl.Float64, strict=False).fill_null(0.0).alias("wagering_requirement"),
        _attr("eligible_games").alias("eligible_games"),
        _attr("rule_id").alias("rule_id"), _attr("run_id").alias("run_id"), _attr("campaign_id").alias("campaign_id"))
    settled = events.filter(pl.col("event_type").is_in(["reward_redeemed", "reward_expired"])).select(
        _attr("reward_id").alias("reward_id"), "event_type", "ts").group_by("reward_id").agg(
        pl.col("ts").filter(pl.col("event_type") == "reward_redeemed").min().alias("redeemed_at"),
        pl.col("ts").filter(pl.col("event_type") == "reward_expired").min().alias("expired_at"))
    state = (pl.when(pl.col("redeemed_at").is_not_null()).then(pl.lit("redeemed"))
             .when(pl.col("expired_at").is_not_null() | (pl.col("expires_at") <= now)).then(pl.lit("expired"))
             .otherwise(pl.lit("open")))
    end = pl.min_horizontal(pl.col("redeemed_at"), pl.col("expired_at"), pl.col("expires_at"), pl.lit(now))
    return rewards.join(settled, on="reward_id", how="left").with_columns(
        state.alias("state"), end.alias("ends_at"))


def wagering(rewards: pl.LazyFrame, events: pl.LazyFrame, house_edges: Mapping[str, float],
             blended_edge: float = 0.03) -> pl.LazyFrame:
    """rewards with wagering_required, wagered and wagering_progress (0..1; null without a requirement)."""
    edge = pl.col("game").replace_strict({str(k): float(v) for k, v in house_edges.items()}, default=blended_edge,
                                         return_dtype=pl.Float64)
    slips = events.filter((pl.col("event_type") == "rating_slip") & (pl.col("theo") > 0)).select(
        "player_id", pl.col("ts").alias("slip_ts"), "game", (pl.col("theo") / edge).alias("wager"))
    needs = rewards.filter(pl.col("wagering_requirement") > 0).select(
        "reward_id", "player_id", "issued_at", "ends_at", "eligible_games")
    games_ok = (pl.col("eligible_games").is_null() | (pl.col("eligible_games").str.strip_chars() == "[]")
                | pl.col("eligible_games").str.contains(pl.format('"{}"', pl.col("game")), literal=False))
    done = needs.join(slips, on="player_id").filter(
        (pl.col("slip_ts") >= pl.col("issued_at")) & (pl.col("slip_ts") < pl.col("ends_at")) & games_ok
    ).group_by("reward_id").agg(pl.col("wager").sum().alias("wagered"))
    required = pl.col("wagering_requirement") * pl.col("value")
    return rewards.join(done, on="reward_id", how="left").with_columns(
        required.alias("wagering_required"), pl.col("wagered").fill_null(0.0),
    ).with_columns(pl.when(pl.col("wagering_required") > 0).then(
        (pl.col("wagered") / pl.col("wagering_required")).clip(upper_bound=1.0)).alias("wagering_progress"))


def wallet(events: pl.DataFrame | pl.LazyFrame, now: datetime, house_edges: Mapping[str, float] | None = None,
           blended_edge: float = 0.03) -> Wallet:
    """Balances per player and every reward with its state and wagering progress, as of `now`."""
    lf = events.lazy().filter(pl.col("ts") <= now)
    points = lf.filter(pl.col("event_type").is_in(POINT_TYPES)).group_by("player_id").agg(
        pl.col("points").fill_null(0.0).sum().alias("loyalty_points"))
    rewards = wagering(reward_states(lf, now), lf, house_edges or {}, blended_edge).collect()
    open_ = rewards.filter(pl.col("state") == "open")
    sums = open_.group_by("player_id").agg(
        *[pl.col("units" if t in ("reward_points", "ticket") else "value").filter(pl.col("reward_type") == t).sum()
          .alias(col) for t, col in BALANCES.items()],
        pl.col("value").sum().alias("open_value"),
        pl.col("expires_at").min().alias("next_expiry"))
    ids = lf.select("player_id").unique().collect()
    balances = ids.join(points.collect(), on="player_id", how="left").join(sums, on="player_id", how="left")
    balances = balances.with_columns(pl.exclude("player_id", "next_expiry").fill_null(0.0)).sort("player_id")
    return Wallet(balances, rewards.sort("issued_at", descending=True))
