"""Rewards page and wallet state without a browser: editor validation, versions, one-player test,
simulation, issuing with a holdout, runs and ROI, role limits, and the wallet derived from the ledger."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from app.state.player import PlayerState
from app.state.rewards import TEMPLATE, RewardsState
from app.state.wallet import WalletState
from tests.app.demo_store import END, session

AT = END + timedelta(hours=2)
POINTS = """rule_id = "POINTS"
priority = 5
[conditions]
theo_90d_min = 1
[reward]
type = "LP"
formula = "theo_90d * 10"
max_amount = 5000
"""


def state(data, role: str = "marketer") -> RewardsState:
    return RewardsState(data=data, session=session("mia", role))


def test_a_bad_rule_lists_each_problem_by_field(data):
    r = state(data)
    r.text = '{"rule_id": "X", "priority": 1, "conditions": {"net_los_min": 5}, "reward": {"type": "CASH"}}'
    assert not r.validate() and not r.valid
    fields = dict(r.problems)
    assert "did you mean 'net_loss'" in fields["conditions.net_los_min"]
    assert {"reward.type", "reward.formula", "reward.max_amount"} <= set(fields)
    assert "problems" in r.message
    r.new_rule()
    assert r.text == TEMPLATE and r.validate() and r.valid and r.problems == []


def test_saving_needs_a_reason_and_the_role(data):
    r = state(data)
    r.fmt, r.text = "toml", POINTS
    assert not r.save() and "reason" in r.message
    r.reason = "points for active players"
    assert r.save() and "version 1" in r.message and r.reason == ""
    rules = r.rules()
    assert rules.select("rule_id", "version", "saved_by", "role").row(0) == ("POINTS", 1, "mia", "marketer")
    analyst = state(data, "analyst")
    analyst.fmt, analyst.text, analyst.reason = "toml", POINTS.replace("* 10", "* 11"), "try"
    assert not analyst.save() and "may not" in analyst.message
    assert state(data).rules()["version"].to_list() == [1]


def test_load_edit_history_and_retire(data):
    r = state(data)
    r.fmt, r.text, r.reason = "toml", POINTS, "first"
    assert r.save()
    assert r.load("POINTS") and r.fmt == "json" and '"rule_id": "POINTS"' in r.text
    r.text, r.reason = r.text.replace('"theo_90d * 10"', '"theo_90d * 12"'), "more"
    assert r.save() and "version 2" in r.message
    history = r.history("POINTS")
    assert history["action"].to_list() == ["update", "add"] and history["reason"].to_list() == ["more", "first"]
    r.reason = "done"
    assert r.retire() and "retired" in r.message
    assert r.rules().row(0, named=True)["status"] == "retired"


def test_one_player_test_shows_decisions_and_conditions(data):
    r = state(data)
    metrics = pl.DataFrame()
    with data.access(r.session.principal) as acc:
        metrics = acc.sql("SELECT player_id, theo_90d FROM s_derived('player_metrics') ORDER BY theo_90d DESC LIMIT 1")
    player = metrics["player_id"][0]
    r.fmt, r.text, r.test_player = "toml", POINTS.replace('priority = 5', 'priority = 5\nprofit_check = "report"'), player
    assert r.test(at=AT)
    t = r.tested
    assert t["player_id"] == player
    assert t["decisions"].filter(pl.col("rule_id") == "POINTS")["status"][0] == "issued"
    assert t["conditions"].row(0) == ("theo_90d >= 1", str(metrics["theo_90d"][0]), True)
    r.test_player = "NOPE"
    assert not r.test(at=AT) and "scope" in r.message


def test_simulate_then_issue_and_measure(data):
    r = state(data)
    r.fmt, r.text = "toml", POINTS.replace('priority = 5', 'priority = 5\nprofit_check = "report"')
    assert r.simulate(at=AT)
    totals = r.simulation["totals"]
    assert totals.filter(pl.col("rule_id") == "POINTS")["eligible"][0] > 0
    assert {"examples", "segments"} <= set(r.simulation)
    r.reason = "save"
    assert r.save()
    r.reason, r.holdout = "january points", 0.3
    assert r.issue(["POINTS"]) and r.run_id.startswith("RUN-")
    runs = r.runs()
    assert r.run_id in runs["run_id"].to_list()
    report = r.roi()
    assert report is not None and report.n_treated > 0 and report.evidence == "randomised holdout"
    campaign = runs.filter((pl.col("kind") == "campaign") & (pl.col("holdout") >= 2))["run_id"][0]
    r.run_id = campaign
    assert r.roi().kind == "campaign"


def test_an_analyst_simulates_but_cannot_issue(data):
    r = state(data, "analyst")
    assert r.simulate(at=AT)
    r.reason = "try"
    assert not r.issue(["LOSING_PLAYER_CASHBACK"]) and "may not" in r.message


def test_a_scoped_user_simulates_their_players_only(data):
    from app.state.session import Session

    r = RewardsState(data=data, session=Session(user="pia", role="marketer", properties=["P01"]))
    everyone = state(data)
    assert r.simulate(at=AT) and everyone.simulate(at=AT)
    assert 0 < r.simulation["players"] < everyone.simulation["players"]


def test_the_wallet_follows_the_ledger(data):
    r = state(data)
    with data.access(r.session.principal) as acc:
        player = acc.sql("SELECT player_id FROM s_derived('player_metrics') ORDER BY theo_90d DESC LIMIT 1")["player_id"][0]
    p = PlayerState(data=data, session=session("mia", "marketer"), player_id=player)
    wallet = WalletState(player=p)
    before = wallet.summary()["balances"]["loyalty_points"]
    assert before == pytest.approx(p.snapshot.metrics["points_balance"])
    r.fmt, r.text, r.reason = "toml", POINTS.replace('priority = 5', 'priority = 5\nprofit_check = "report"'), "x"
    assert r.save()
    r.reason, r.holdout = "points", 0.0
    assert r.issue(["POINTS"])
    p.reload()
    after = wallet.summary()
    given = p.snapshot.current.filter(pl.col("event_type") == "points_adjusted")["points"].max()
    assert after["balances"]["loyalty_points"] == pytest.approx(before + given)
