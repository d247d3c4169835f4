"""Reward features from the ledger (deposits, cap windows, abuse signals), holdouts and the wallet."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.rewards import holdout
from metrics.rewards.signals import player_signals, rule_history
from metrics.rewards.wallet import wallet

NOW = datetime(2026, 1, 31, 12)
EDGES = {"slots": 0.08, "blackjack": 0.02}


def ev(player: str, hours_ago: float, event_type: str, *, amount=None, points=None, game=None, theo=None,
       avg_bet=None, event_id=None, **attrs) -> dict:
    return {"event_id": event_id or f"{player}-{event_type}-{hours_ago}", "player_id": player,
            "ts": NOW - timedelta(hours=hours_ago), "event_type": event_type, "amount": amount, "points": points,
            "game": game, "theo": theo, "avg_bet": avg_bet, "attrs": json.dumps(attrs)}


SCHEMA = {"event_id": pl.String, "player_id": pl.String, "ts": pl.Datetime("us"), "event_type": pl.String,
          "amount": pl.Float64, "points": pl.Float64, "game": pl.String, "theo": pl.Float64, "avg_bet": pl.Float64,
          "attrs": pl.String}


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


def signals(rows, players=None, devices=None) -> dict[str, dict]:
    out = player_signals(frame(rows).lazy(), NOW, players, devices).collect()
    return {r["player_id"]: r for r in out.iter_rows(named=True)}


def test_days_since_last_deposit_and_cap_windows():
    s = signals([ev("A", 24 * 10 + 1, "buy_in", amount=100), ev("A", 24 * 3, "marker", amount=50),
                 ev("A", 2, "reward_issued", amount=20, reward_type="comp"),
                 ev("A", 24 * 5, "reward_issued", amount=30, reward_type="voucher"),
                 ev("A", 24 * 20, "points_adjusted", points=1000, rule_id="R", run_id="X"),
                 ev("A", 24 * 20, "points_adjusted", points=500),  # goodwill, not a reward
                 ev("B", 1, "visit")])
    assert s["A"]["days_since_last_deposit"] == 3
    assert (s["A"]["reward_value_1d"], s["A"]["reward_value_7d"], s["A"]["reward_value_30d"]) == (20, 50, 60)
    assert s["B"]["days_since_last_deposit"] is None and s["B"]["reward_value_30d"] == 0


def test_bonus_only_play_needs_play_without_a_deposit_after_the_bonus():
    s = signals([ev("A", 48, "reward_issued", amount=50, reward_type="bonus"), ev("A", 24, "rating_slip", avg_bet=5),
                 ev("B", 48, "reward_issued", amount=50, reward_type="freeplay"), ev("B", 30, "buy_in", amount=200),
                 ev("B", 24, "rating_slip", avg_bet=25),
                 ev("C", 48, "reward_issued", amount=50, reward_type="comp"), ev("C", 24, "rating_slip", avg_bet=5)])
    assert (s["A"]["bonus_only_play"], s["B"]["bonus_only_play"], s["C"]["bonus_only_play"]) == (True, False, False)


def test_cash_outs_right_after_a_bonus_are_counted():
    s = signals([ev("A", 48, "reward_issued", amount=50, reward_type="bonus"), ev("A", 46, "cash_out", amount=60),
                 ev("A", 40, "cash_out", amount=10), ev("A", 10, "cash_out", amount=10)])
    assert s["A"]["cash_outs_after_bonus"] == 2


def test_bet_size_while_wagering_against_usual_bets():
    expires = (NOW - timedelta(hours=10)).isoformat()
    rows = [ev("A", 24 * 30, "rating_slip", avg_bet=100), ev("A", 24 * 29, "rating_slip", avg_bet=100),
            ev("A", 48, "reward_issued", amount=50, reward_type="bonus", expires_at=expires),
            ev("A", 40, "rating_slip", avg_bet=10), ev("A", 30, "rating_slip", avg_bet=20),
            ev("A", 5, "rating_slip", avg_bet=100)]  # after the bonus expired: normal play again
    s = signals(rows)
    assert s["A"]["wagering_slips"] == 2
    assert s["A"]["wagering_bet_ratio"] == pytest.approx(15 / 100)


def test_shared_address_and_device():
    players = pl.DataFrame({"player_id": ["A", "B", "C", "D"],
                            "address": ["1 Main St., Reno", "1 MAIN ST RENO", "2 Oak Rd", None]}).lazy()
    devices = pl.DataFrame({"player_id": ["A", "C", "D", "D"], "device_id": ["d1", "d1", "d1", "d2"]}).lazy()
    s = signals([ev("A", 1, "visit")], players, devices)
    assert [s[p]["shared_address_players"] for p in "ABCD"] == [1, 1, 0, 0]
    assert [s[p]["shared_device_players"] for p in "ABCD"] == [2, 0, 2, 2]


def test_rule_history_is_per_rule():
    rows = [ev("A", 5, "reward_issued", amount=20, rule_id="R1"), ev("A", 24 * 6, "reward_issued", amount=30, rule_id="R1"),
            ev("A", 5, "reward_issued", amount=7, rule_id="R2"), ev("A", 5, "reward_issued", amount=99)]
    out = rule_history(frame(rows).lazy(), NOW).collect().sort("rule_id")
    assert out.select("rule_id", "rule_value_1d", "rule_value_7d").rows() == [("R1", 20.0, 50.0), ("R2", 7.0, 7.0)]


# -- holdouts ----------------------------------------------------------------------------------------
def test_holdout_draws_are_deterministic_and_independent_between_runs():
    ids = [f"PL{i:07d}" for i in range(20_000)]
    a, b = holdout.draws(ids, "RUN-1"), holdout.draws(ids, "RUN-1")
    assert (a == b).all()
    c = holdout.draws(ids, "RUN-2")
    assert abs(np.corrcoef(a, c)[0, 1]) < 0.03
    assert abs((a < 0.1).mean() - 0.1) < 0.01


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=40, unique=True), st.floats(0, 0.9))
def test_a_players_arm_does_not_depend_on_who_else_is_in_the_run(ids, share):
    frame = pl.DataFrame({"player_id": ids})
    whole = dict(holdout.assign(frame, "R", share).select("player_id", "arm").iter_rows())
    part = dict(holdout.assign(frame.reverse().head(max(1, len(ids) // 2)), "R", share).select("player_id", "arm").iter_rows())
    assert all(whole[p] == arm for p, arm in part.items())


# -- wallet ------------------------------------------------------------------------------------------
def test_wallet_balances_and_wagering_progress():
    expires = (NOW + timedelta(hours=10)).isoformat()
    rows = [
        ev("A", 100, "points_earned", points=1200), ev("A", 90, "points_redeemed", points=-200),
        ev("A", 80, "points_adjusted", points=500, rule_id="R"),
        ev("A", 50, "reward_issued", amount=100, reward_type="bonus", reward_id="B1", wagering_requirement=5,
           eligible_games=["slots"], expires_at=expires),
        ev("A", 40, "rating_slip", game="slots", theo=16.0),  # 200 wagered at 8%
        ev("A", 39, "rating_slip", game="blackjack", theo=10.0),  # not an eligible game
        ev("A", 60, "reward_issued", amount=25, reward_type="ticket", reward_id="T1"),
        ev("A", 60, "reward_issued", amount=2.5, reward_type="reward_points", reward_id="RP1", units=250),
        ev("A", 70, "reward_issued", amount=40, reward_type="voucher", reward_id="V1"),
        ev("A", 20, "reward_redeemed", amount=40, reward_type="voucher", reward_id="V1"),
        ev("A", 24 * 40, "reward_issued", amount=10, reward_type="freeplay", reward_id="F1"),  # lapsed after 30 days
    ]
    w = wallet(frame(rows), NOW, EDGES)
    a = w.of("A")
    assert a["loyalty_points"] == 1500
    assert (a["bonus"], a["tickets"], a["reward_points"], a["voucher"], a["freeplay"]) == (100, 1, 250, 0, 0)
    states = dict(zip(w.rewards["reward_id"], w.rewards["state"]))
    assert states == {"B1": "open", "T1": "open", "RP1": "open", "V1": "redeemed", "F1": "expired"}
    bonus = w.rewards.filter(pl.col("reward_id") == "B1").row(0, named=True)
    assert bonus["wagering_required"] == 500 and bonus["wagered"] == pytest.approx(200)
    assert bonus["wagering_progress"] == pytest.approx(0.4)
    assert w.of("nobody")["bonus"] == 0
