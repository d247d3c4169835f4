"""The rules engine: conditions, amounts, abuse, profit safety, conflicts by priority and caps."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.rewards.abuse import AbusePolicy
from metrics.rewards.engine import STATUSES, Program, decision_frame
from metrics.rewards.rules import rule_from_dict
from metrics.rewards.safety import ProfitModel

EDGES = {"blackjack": 0.02, "slots": 0.08, "roulette": 0.053}
GENEROUS = ProfitModel(house_edges=EDGES, default_lift=5.0, lift={}, min_margin_ratio=0.0)  # every reward profitable


def players(n: int = 4, **columns) -> pl.DataFrame:
    """A players frame with the columns the engine reads (defaults: clean, active, losing players)."""
    base = {
        "player_id": [f"P{i}" for i in range(n)], "loyalty": ["LOSING"] * n, "lifecycle": ["active"] * n,
        "theo_90d": [900.0] * n, "theo_total": [3600.0] * n, "tenure_days": [365] * n, "favourite_game": ["blackjack"] * n, "rewards_issued": [0] * n,
        "redemption_rate": [None] * n, "win_loss_total": [1000.0] * n, "sessions_total": [10] * n,
        "days_since_last_deposit": [3.0] * n, "reward_value_1d": [0.0] * n, "reward_value_7d": [0.0] * n,
        "reward_value_30d": [0.0] * n, "bonus_only_play": [False] * n, "cash_outs_after_bonus": [0] * n,
        "wagering_bet_ratio": [None] * n, "wagering_slips": [0] * n, "shared_address_players": [0] * n,
        "shared_device_players": [0] * n,
    }
    base.update(columns)
    return pl.DataFrame(base, schema_overrides={"redemption_rate": pl.Float64, "wagering_bet_ratio": pl.Float64})


def rule(rule_id: str = "R", priority: int = 10, conditions: dict | None = None, **reward) -> object:
    doc = {"rule_id": rule_id, "priority": priority, "conditions": conditions or {},
           "reward": {"type": "COMP", "formula": "net_loss * 0.1", "max_amount": 500} | reward}
    for key in ("group", "caps", "profit_check"):
        if key in reward:
            doc[key] = doc["reward"].pop(key)
    return rule_from_dict(doc)


def decide(frame, rules, **kwargs) -> pl.DataFrame:
    kwargs.setdefault("profit", GENEROUS)
    return decision_frame(frame, rules, **kwargs).sort("player_id", "rule_id")


def test_conditions_select_players_and_the_formula_is_capped():
    frame = players(win_loss_total=[100.0, 5000.0, 200.0, -50.0], loyalty=["LOSING", "LOSING", "VIP", "LOSING"])
    out = decide(frame, [rule(conditions={"segment": "LOSING", "net_loss_min": 50})])
    assert out["player_id"].to_list() == ["P0", "P1"]
    assert out["amount"].to_list() == [10.0, 500.0]  # 10% of the loss, capped at max_amount
    assert set(out["status"]) == {"issued"}


def test_a_player_with_no_amount_gets_nothing():
    out = decide(players(1, win_loss_total=[-10.0]), [rule()])
    assert out.row(0, named=True)["status"] == "no_amount"


def test_abuse_signals_reduce_then_block():
    frame = players(3, bonus_only_play=[False, True, True], cash_outs_after_bonus=[0, 0, 2])
    out = decide(frame, [rule()], abuse=AbusePolicy(bonus_only=0.5, block_at=2))
    assert out["status"].to_list() == ["issued", "issued", "blocked_abuse"]
    assert out["amount"].to_list() == [100.0, 50.0, 0.0]
    assert "bonus-only play" in out["reason"][1] and "cash-out right after a bonus" in out["reason"][2]


def test_minimum_bets_while_wagering_and_sharing_are_signals():
    frame = players(3, wagering_bet_ratio=[0.2, 0.2, 1.0], wagering_slips=[5, 1, 5], shared_device_players=[0, 0, 3])
    out = decide(frame, [rule()], abuse=AbusePolicy(min_bets=0.5, shared_device=0.0, block_at=5))
    assert out["amount"].to_list() == [50.0, 100.0, 0.0]  # one slip is too few to judge bet sizes
    assert out["status"].to_list() == ["issued", "issued", "blocked_abuse"]


def test_unprofitable_rewards_are_blocked_with_the_numbers():
    frame = players(2, theo_90d=[9000.0, 10.0])
    out = decide(frame, [rule(type="FREEPLAY", formula="50", max_amount=50)], profit=ProfitModel(house_edges=EDGES))
    assert out["status"].to_list() == ["issued", "blocked_profit"]
    reason = out["reason"][1]
    assert "exceeds expected margin" in reason and "LOSING" in reason and "30 days" in reason


def test_lapsed_players_are_credited_with_their_lifetime_play():
    frame = players(2, theo_90d=[0.0, 0.0], theo_total=[36_500.0, 0.0], tenure_days=[365, 365])
    out = decide(frame, [rule(type="FREEPLAY", formula="50", max_amount=50)], profit=ProfitModel(house_edges=EDGES))
    assert out["status"].to_list() == ["issued", "blocked_profit"]
    # 100 a day of theo, 30 days, LOSING lift 12%: 360 expected margin
    assert out["expected_margin"][0] == pytest.approx(360.0)


def test_profit_check_report_issues_but_says_why():
    frame = players(1, theo_90d=[10.0])
    out = decide(frame, [rule(type="FREEPLAY", formula="50", max_amount=50, profit_check="report")],
                 profit=ProfitModel(house_edges=EDGES))
    assert out["status"][0] == "issued" and "exceeds expected margin" in out["reason"][0]


def test_wagering_lowers_the_expected_cost_of_a_bonus():
    frame = players(1)
    plain = decide(frame, [rule(type="BONUS_BALANCE", formula="100", max_amount=100)])
    wagered = decide(frame, [rule(type="BONUS_BALANCE", formula="100", max_amount=100, wagering_requirement=10,
                                  eligible_games=["slots"])])
    # 10x wagering on slots (8% edge): the house keeps 80% of it on average
    assert wagered["expected_cost"][0] == pytest.approx(plain["expected_cost"][0] * 0.2)


def test_highest_priority_wins_within_a_group_only():
    rules = [rule("LOW", 5), rule("HIGH", 20), rule("OTHER", 1, group="points", type="LP", formula="100",
                                                     max_amount=100)]
    out = decide(players(1), rules)
    status = dict(zip(out["rule_id"], out["status"]))
    assert status == {"HIGH": "issued", "LOW": "lost_conflict", "OTHER": "issued"}
    assert "HIGH (priority 20) wins" in out.filter(pl.col("rule_id") == "LOW")["reason"][0]


def test_a_blocked_high_priority_rule_lets_the_next_one_win():
    rules = [rule("HIGH", 20, conditions={"theo_90d_min": 10_000}), rule("LOW", 5)]
    out = decide(players(1), rules)
    assert out["rule_id"].to_list() == ["LOW"] and out["status"][0] == "issued"


def test_ties_go_to_the_smaller_rule_id():
    out = decide(players(1), [rule("B", 10), rule("A", 10)])
    assert dict(zip(out["rule_id"], out["status"])) == {"A": "issued", "B": "lost_conflict"}


def test_rule_caps_count_what_the_rule_already_gave():
    history = pl.DataFrame({"player_id": ["P0", "P1"], "rule_id": ["R", "R"], "rule_value_1d": [0.0, 0.0],
                            "rule_value_7d": [80.0, 100.0], "rule_value_30d": [80.0, 100.0]}).lazy()
    out = decide(players(3), [rule(caps={"week": 100})], history=history)
    assert out["status"].to_list() == ["capped", "blocked_cap", "issued"]
    assert out["issued_value"].to_list() == [20.0, 0.0, 100.0]


def test_program_caps_fill_in_priority_order():
    rules = [rule("A", 20, formula="60", max_amount=60), rule("B", 10, group="g2", formula="60", max_amount=60),
             rule("C", 5, group="g3", formula="60", max_amount=60)]
    out = decide(players(1, reward_value_1d=[10.0]), rules, program=Program(day=100))
    assert dict(zip(out["rule_id"], out["issued_value"])) == {"A": 60.0, "B": 30.0, "C": 0.0}
    assert dict(zip(out["rule_id"], out["status"])) == {"A": "issued", "B": "capped", "C": "blocked_cap"}


def test_points_and_tickets_are_whole_units():
    out = decide(players(1, theo_90d=[333.0]), [rule(type="LP", formula="theo_90d * 3.3", max_amount=5000)])
    assert out["amount"][0] == 1098.0 and out["issued_value"][0] == pytest.approx(10.98)


def test_no_rules_gives_an_empty_decision_frame():
    out = decide(players(2), [])
    assert out.height == 0 and "status" in out.columns


def test_disabled_rules_are_skipped():
    disabled = rule_from_dict({"rule_id": "off", "priority": 1, "enabled": False, "conditions": {},
                               "reward": {"type": "COMP", "formula": "1", "max_amount": 1}})
    assert decide(players(1), [disabled]).height == 0


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(0, 300), min_size=1, max_size=4), day=st.integers(0, 400),
       given_today=st.integers(0, 300), rule_cap=st.integers(1, 300), prior=st.integers(0, 300))
def test_caps_are_never_exceeded(values, day, given_today, rule_cap, prior):
    rules = [rule(f"R{i}", 10 * (i + 1), group=f"g{i}", formula=str(v), max_amount=1000,
                  caps={"day": rule_cap}) for i, v in enumerate(values)]
    history = pl.DataFrame({"player_id": ["P0"] * len(values), "rule_id": [r.rule_id for r in rules],
                            "rule_value_1d": [float(prior)] * len(values), "rule_value_7d": [0.0] * len(values),
                            "rule_value_30d": [0.0] * len(values)}).lazy()
    out = decide(players(1, reward_value_1d=[float(given_today)]), rules, program=Program(day=day), history=history)
    assert set(out["status"]) <= set(STATUSES)
    assert out["issued_value"].sum() <= max(0.0, day - given_today) + 1e-6 or day == 0
    assert (out["issued_value"] <= max(0.0, rule_cap - prior) + 1e-6).all()
    assert (out["issued_value"] <= out["value"] + 1e-6).all()


def test_a_large_population_evaluates():
    n = 20_000
    frame = players(n, theo_90d=[float(i % 997) for i in range(n)], win_loss_total=[float(i % 3000) for i in range(n)],
                    loyalty=[("LOSING", "VIP", "NEW")[i % 3] for i in range(n)])
    rules = [rule(f"R{i}", i, conditions={"net_loss_min": i * 10}, group=f"g{i % 3}") for i in range(20)]
    out = decide(frame, rules, profit=ProfitModel(house_edges=EDGES))
    assert out.height > n and set(out["status"]) <= set(STATUSES)
    issued = out.filter(pl.col("status") == "issued")
    assert issued.group_by("player_id", "group").len()["len"].max() == 1  # one winner per player and group
