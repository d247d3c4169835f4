"""Reward features: per-player columns the rules engine reads besides the metric catalog.

Each feature is one declarative :class:`Feature` (name, label, unit, description). Three stages:

``metrics``
    An expression over catalog metrics, by name (``net_loss`` is ``win_loss_total`` floored at 0).
``events``
    Computed from the event ledger by :func:`metrics.rewards.signals.player_signals` (days since the
    last deposit, rewards already issued in the cap windows, the raw abuse signals).
``abuse``
    Computed by :class:`metrics.rewards.abuse.AbusePolicy` from the raw signals (how many signals are
    raised, the factor that reduces the reward).

Seed 003's rule example uses ``net_loss``, ``session_count`` and ``days_since_last_deposit``: all three
are features here, so the seed's rule validates as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

Stage = Literal["metrics", "events", "abuse"]


@dataclass(frozen=True)
class Feature:
    """One per-player column a rule may read."""

    name: str
    label: str
    unit: str
    description: str
    stage: Stage
    expr: pl.Expr | None = field(default=None, compare=False, repr=False)


def _num(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Float64)


def net_loss() -> pl.Expr:
    """What the player lost overall: the casino's actual win (win_loss_total) floored at 0."""
    return _num("win_loss_total").fill_null(0.0).clip(lower_bound=0.0)


def net_pnl() -> pl.Expr:
    """The player's net result (positive: the player is ahead): minus win_loss_total."""
    return (-_num("win_loss_total")).fill_null(0.0)


def session_count() -> pl.Expr:
    """Rated sessions (rating slips) on record: seed 003's session_count, the catalog's sessions_total."""
    return _num("sessions_total").fill_null(0.0)


def daily_theo_90d() -> pl.Expr:
    """Average theoretical win per day over the last 90 days (theo_90d / 90)."""
    return _num("theo_90d").fill_null(0.0) / 90.0


_METRIC_FEATURES = [
    Feature("net_loss", "Net loss", "currency", net_loss.__doc__ or "", "metrics", net_loss()),
    Feature("net_pnl", "Net result (player)", "currency", net_pnl.__doc__ or "", "metrics", net_pnl()),
    Feature("session_count", "Sessions", "count", session_count.__doc__ or "", "metrics", session_count()),
    Feature("daily_theo_90d", "Daily theo (90 days)", "currency", daily_theo_90d.__doc__ or "", "metrics",
            daily_theo_90d()),
]

_EVENT_FEATURES = [
    Feature("days_since_last_deposit", "Days since last deposit", "days",
            "Whole days since the last buy-in or marker (null if none).", "events"),
    Feature("reward_value_1d", "Rewards in the last day", "currency",
            "Value of rewards issued in the last 24 hours (points at their cash value).", "events"),
    Feature("reward_value_7d", "Rewards in the last 7 days", "currency",
            "Value of rewards issued in the last 7 days (points at their cash value).", "events"),
    Feature("reward_value_30d", "Rewards in the last 30 days", "currency",
            "Value of rewards issued in the last 30 days (points at their cash value).", "events"),
    Feature("bonus_only_play", "Bonus-only play", "bool",
            "Played after a bonus or free play of the last 90 days without any deposit since.", "events"),
    Feature("cash_outs_after_bonus", "Cash-outs right after a bonus", "count",
            "Cash-outs within a few hours (policy: cash_out_hours) after a bonus, last 90 days.", "events"),
    Feature("wagering_bet_ratio", "Bet size while wagering", "ratio",
            "Average bet on slips while a bonus was being wagered over the average bet otherwise "
            "(null without both).", "events"),
    Feature("wagering_slips", "Slips while wagering", "count",
            "Rating slips played while a bonus of the last 90 days was being wagered.", "events"),
    Feature("shared_address_players", "Players at the same address", "count",
            "Other players whose address is the same (compared without case and punctuation).", "events"),
    Feature("shared_device_players", "Players on the same device", "count",
            "Other players seen with one of the player's device ids (events' attrs device_id).", "events"),
]

_ABUSE_FEATURES = [
    Feature("abuse_signals", "Abuse signals", "count", "How many abuse signals the policy raises.", "abuse"),
    Feature("abuse_factor", "Abuse factor", "ratio",
            "Share of a reward left after the policy's reductions (1: none, 0: blocked).", "abuse"),
]

FEATURES: dict[str, Feature] = {f.name: f for f in (*_METRIC_FEATURES, *_EVENT_FEATURES, *_ABUSE_FEATURES)}
EVENT_FEATURES: tuple[str, ...] = tuple(f.name for f in _EVENT_FEATURES)


def metric_features() -> list[pl.Expr]:
    """The metrics-stage features as expressions named after their column."""
    return [f.expr.alias(f.name) for f in _METRIC_FEATURES if f.expr is not None]
