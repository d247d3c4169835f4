"""Per-player reward features from the ledger: deposits, rewards already given, abuse signals.

Pure LazyFrame -> LazyFrame functions over canonical events (``events_current`` columns player_id,
ts, event_type, amount, points, game, avg_bet, attrs). Every function but the sharing ones is per
player; the sharing signals compare players with each other, so they need every player's address
or device (a global statistic, like a quantile).

Definitions (the look-back is ``LOOKBACK_DAYS``, 90 days before ``as_of``):

* a *bonus* is a ``reward_issued`` of ledger type bonus or free play; it is *being wagered* from its
  issue until its ``expires_at`` (attrs) or 30 days;
* ``bonus_only_play``: the player played (a rating slip) after their first bonus of the look-back
  and made no deposit (buy-in or marker) since that bonus;
* ``cash_outs_after_bonus``: cash-outs within ``cash_out_hours`` after a bonus of the look-back;
* ``wagering_bet_ratio``: average bet on slips while a bonus was being wagered over the average bet
  of the player's other slips of the look-back (minimum bets while wagering show as a low ratio);
* ``shared_address_players``: other players with the same address once lower-cased and stripped of
  everything but letters and digits; ``shared_device_players``: other players seen with one of the
  player's device ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from metrics.rewards.features import EVENT_FEATURES
from metrics.rewards.types import BONUS_LEDGER_TYPES, POINTS_PER_DOLLAR

LOOKBACK_DAYS = 90
BONUS_VALID_DAYS = 30
DEPOSIT_TYPES = ("buy_in", "marker")
CAP_WINDOWS = {"1d": 1, "7d": 7, "30d": 30}
INPUT_TYPES = ("buy_in", "marker", "cash_out", "rating_slip", "reward_issued", "points_adjusted")


def _attr(key: str) -> pl.Expr:
    return pl.col("attrs").str.json_path_match(f"$.{key}")


def reward_value() -> pl.Expr:
    """Cash value of a reward event: its amount, else its points at their redemption value."""
    return pl.coalesce(pl.col("amount"), pl.col("points") / POINTS_PER_DOLLAR).fill_null(0.0)


def _rewards(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Reward events of the last 30 days (reward_issued, and points given by a rule run)."""
    start = as_of - timedelta(days=max(CAP_WINDOWS.values()))
    rows = events.filter(pl.col("ts").is_between(start, as_of, closed="right")
                         & pl.col("event_type").is_in(["reward_issued", "points_adjusted"]))
    rows = rows.with_columns(_attr("rule_id").alias("rule_id"))
    return rows.filter((pl.col("event_type") == "reward_issued") | pl.col("rule_id").is_not_null())


def _windowed(as_of: datetime, prefix: str) -> list[pl.Expr]:
    return [reward_value().filter(pl.col("ts") > as_of - timedelta(days=d)).sum().alias(f"{prefix}_{name}")
            for name, d in CAP_WINDOWS.items()]


def reward_history(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """player_id, reward_value_1d / _7d / _30d: value of every reward issued in those windows."""
    return _rewards(events, as_of).group_by("player_id").agg(_windowed(as_of, "reward_value"))


def rule_history(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """player_id, rule_id, rule_value_1d / _7d / _30d: what each rule gave each player (per-rule caps)."""
    rows = _rewards(events, as_of).filter(pl.col("rule_id").is_not_null())
    return rows.group_by("player_id", "rule_id").agg(_windowed(as_of, "rule_value"))


def deposits(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """player_id, days_since_last_deposit (whole days; the newest buy-in or marker up to as_of)."""
    last = events.filter(pl.col("event_type").is_in(DEPOSIT_TYPES) & (pl.col("ts") <= as_of))
    return last.group_by("player_id").agg(pl.col("ts").max().alias("_last_deposit")).select(
        "player_id",
        ((pl.lit(as_of) - pl.col("_last_deposit")).dt.total_days()).cast(pl.Float64).alias("days_since_last_deposit"))


def bonuses(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """player_id, issued, expires: bonuses and free play issued in the look-back."""
    start = as_of - timedelta(days=LOOKBACK_DAYS)
    rows = events.filter((pl.col("event_type") == "reward_issued") & pl.col("ts").is_between(start, as_of, "right"))
    expires = _attr("expires_at").str.to_datetime(strict=False, time_unit="us")
    return rows.filter(_attr("reward_type").is_in(BONUS_LEDGER_TYPES)).select(
        "player_id", pl.col("ts").alias("issued"),
        pl.coalesce(expires, pl.col("ts") + timedelta(days=BONUS_VALID_DAYS)).alias("expires"))


def bonus_signals(events: pl.LazyFrame, as_of: datetime, cash_out_hours: float = 24.0) -> pl.LazyFrame:
    """player_id, bonus_only_play, cash_outs_after_bonus, wagering_bet_ratio, wagering_slips."""
    start = as_of - timedelta(days=LOOKBACK_DAYS)
    recent = events.filter(pl.col("ts").is_between(start, as_of, "right"))
    given = bonuses(events, as_of)
    first = given.group_by("player_id").agg(pl.col("issued").min().alias("_first_bonus"))
    after = recent.join(first, on="player_id").filter(pl.col("ts") > pl.col("_first_bonus"))
    only = after.group_by("player_id").agg(
        ((pl.col("event_type") == "rating_slip").any()
         & ~pl.col("event_type").is_in(DEPOSIT_TYPES).any()).alias("bonus_only_play"))
    outs = recent.filter(pl.col("event_type") == "cash_out").select("player_id", "ts").with_row_index("_out")
    quick = outs.join(given, on="player_id").filter(
        (pl.col("ts") >= pl.col("issued")) & (pl.col("ts") <= pl.col("issued") + timedelta(hours=cash_out_hours)))
    cashouts = quick.group_by("player_id").agg(pl.col("_out").n_unique().cast(pl.Int64).alias("cash_outs_after_bonus"))
    slips = recent.filter((pl.col("event_type") == "rating_slip") & pl.col("avg_bet").is_not_null()).select(
        "player_id", "ts", "avg_bet").with_row_index("_slip")
    during = slips.join(given, on="player_id").filter(
        (pl.col("ts") >= pl.col("issued")) & (pl.col("ts") < pl.col("expires"))).select("_slip").unique()
    marked = slips.join(during.with_columns(pl.lit(True).alias("_wagering")), on="_slip", how="left")
    wagering = pl.col("_wagering").fill_null(False)
    bets = marked.group_by("player_id").agg(
        (pl.col("avg_bet").filter(wagering).mean() / pl.col("avg_bet").filter(~wagering).mean())
        .alias("wagering_bet_ratio"),
        wagering.sum().cast(pl.Int64).alias("wagering_slips"))
    return (first.select("player_id").join(only, on="player_id", how="left")
            .join(cashouts, on="player_id", how="left").join(bets, on="player_id", how="left"))


def normalised_address() -> pl.Expr:
    """The address lower-cased with everything but letters and digits removed."""
    return pl.col("address").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", "")


def shared_address(players: pl.LazyFrame) -> pl.LazyFrame:
    """player_id, shared_address_players: how many other players give the same address."""
    keyed = players.select("player_id", normalised_address().alias("_addr")).filter(
        pl.col("_addr").is_not_null() & (pl.col("_addr").str.len_chars() > 0))
    return keyed.select("player_id", (pl.len().over("_addr") - 1).cast(pl.Int64).alias("shared_address_players"))


def shared_device(devices: pl.LazyFrame) -> pl.LazyFrame:
    """player_id, shared_device_players: how many other players used one of the player's devices."""
    pairs = devices.select("player_id", "device_id").drop_nulls().unique()
    others = pairs.join(pairs, on="device_id", suffix="_other").filter(pl.col("player_id") != pl.col("player_id_other"))
    return others.group_by("player_id").agg(pl.col("player_id_other").n_unique().cast(pl.Int64)
                                             .alias("shared_device_players"))


DTYPES: dict[str, pl.DataType] = {
    c: pl.Boolean() if c == "bonus_only_play" else pl.Int64() if c in (
        "cash_outs_after_bonus", "wagering_slips", "shared_address_players", "shared_device_players") else pl.Float64()
    for c in EVENT_FEATURES}
FILLS = {"reward_value_1d": 0.0, "reward_value_7d": 0.0, "reward_value_30d": 0.0, "bonus_only_play": False,
         "cash_outs_after_bonus": 0, "wagering_slips": 0, "shared_address_players": 0, "shared_device_players": 0}


def player_signals(events: pl.LazyFrame, as_of: datetime, players: pl.LazyFrame | None = None,
                   devices: pl.LazyFrame | None = None, cash_out_hours: float = 24.0) -> pl.LazyFrame:
    """One row per player (of the events or the master) with every event-stage reward feature."""
    events = events.filter(pl.col("ts") <= as_of)
    ids = events.select("player_id")
    if players is not None:
        ids = pl.concat([ids, players.select("player_id")])
    out = ids.unique()
    parts = [deposits(events, as_of), reward_history(events, as_of), bonus_signals(events, as_of, cash_out_hours)]
    if players is not None and "address" in players.collect_schema():
        parts.append(shared_address(players))
    if devices is not None:
        parts.append(shared_device(devices))
    for part in parts:
        out = out.join(part, on="player_id", how="left")
    schema = out.collect_schema()
    missing = [pl.lit(None).alias(c) for c in EVENT_FEATURES if c not in schema]
    return out.with_columns(missing).select(
        "player_id", *[_filled(pl.col(c).cast(DTYPES[c]), c) for c in EVENT_FEATURES])


def _filled(expr: pl.Expr, column: str) -> pl.Expr:
    """The column with its fill for players without such events (ratios and days stay null)."""
    return expr.fill_null(FILLS[column]) if column in FILLS else expr
