"""Rule versions and audit, issuing runs with holdouts to the ledger, and their ROI, on a demo store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from metrics.rewards.holdout import draws
from pipelines import rewards_roi as RO
from pipelines import rewards_rules as RR
from pipelines import rewards_run as RN
from pipelines.access import Access, Principal
from pipelines.errors import UserError
from pipelines.ingest import ingest_file
from pipelines.store import Store
from tests.app.demo_store import END, copy_store

AT = END + timedelta(hours=2)
WIDE = """{"rule_id": "WIDE", "priority": 10, "profit_check": "report", "conditions": {"visits_total_min": 1},
 "reward": {"type": "FREEPLAY", "formula": "20", "max_amount": 20}, "caps": {"day": 30}}"""
POINTS = """rule_id = "POINTS"
priority = 5
group = "points"
[conditions]
theo_90d_min = 1
[reward]
type = "LP"
formula = "theo_90d * 10"
max_amount = 5000
"""


@pytest.fixture
def store(demo_db, tmp_path):
    with Store(copy_store(demo_db, tmp_path / "p360.duckdb")) as s:
        yield s


def acc(store, role="marketer", props=None) -> Access:
    return Access(store, Principal("mia", role, props))


def save(store, text, reason="test", role="marketer"):
    return RR.save(store, RR.validate(text), actor="mia", role=role, reason=reason)


def test_migration_6_adds_the_reward_tables(store):
    assert 6 in store.sql("SELECT version FROM schema_migrations")["version"].to_list()
    tables = set(store.sql("SELECT table_name FROM information_schema.tables")["table_name"])
    assert {"reward_rules", "reward_rule_audit", "reward_runs", "reward_run_members"} <= tables


def test_versions_and_audit_keep_before_and_after(store):
    assert save(store, WIDE, "first") == 1
    with pytest.raises(UserError, match="nothing changed"):
        save(store, WIDE)
    assert save(store, WIDE.replace('"20"', '"25"'), "more") == 2
    assert RR.retire(store, "WIDE", actor="mia", role="admin", reason="done") == 3
    assert RR.active_rules(store) == []
    assert save(store, WIDE, "back") == 4
    trail = RR.audit(store, "WIDE").sort("audit_seq")
    assert trail["action"].to_list() == ["add", "update", "retire", "restore"]
    second = trail.row(1, named=True)
    assert json.loads(second["before"])["reward"]["formula"] == "20"
    assert json.loads(second["after"])["reward"]["formula"] == "25"
    assert (second["actor"], second["role"], second["reason"]) == ("mia", "marketer", "more")
    assert trail.row(0, named=True)["before"] is None
    assert RR.versions(store, "WIDE")["version"].to_list() == [4, 3, 2, 1]
    logged = store.sql("SELECT action, actor, role, before, after FROM audit_log WHERE target_kind = 'reward_rule' "
                       "ORDER BY audit_id")
    assert logged["action"].to_list() == ["rule.add", "rule.update", "rule.retire", "rule.restore"]
    assert json.loads(logged["after"][1])["reward"]["formula"] == "25"


def test_only_rule_roles_write_and_every_change_has_a_reason(store):
    with pytest.raises(UserError, match="host"):
        save(store, WIDE, role="host")
    with pytest.raises(UserError, match="analyst"):
        save(store, WIDE, role="analyst")
    with pytest.raises(UserError, match="reason"):
        save(store, WIDE, reason=" ")
    assert RR.versions(store).is_empty()


def test_issue_writes_events_members_and_the_run(store):
    save(store, WIDE)
    save(store, POINTS)
    run = RN.issue(acc(store), ["WIDE", "POINTS"], reason="january", holdout_share=0.3, at=AT)
    members = store.sql("SELECT * FROM reward_run_members WHERE run_id = ?", [run.run_id])
    events = store.sql("SELECT * FROM events WHERE batch_id = ?", [run.run_id])
    treated = members.filter(pl.col("arm") == "treatment")
    assert events.height == treated.height > 0
    assert set(events["actor"]) == {"mia"} and set(events["role"]) == {"marketer"}
    assert set(events["event_type"]) == {"reward_issued", "points_adjusted"}
    assert sorted(events["event_id"]) == sorted(treated["event_id"])
    # arms are a pure function of (run, player): recompute them
    arms = members.unique("player_id").sort("player_id")
    expected = ["holdout" if d < 0.3 else "treatment" for d in draws(arms["player_id"].to_list(), run.run_id)]
    assert arms["arm"].to_list() == expected
    assert 0.1 < run.holdout / (run.holdout + run.treated) < 0.5
    row = store.sql("SELECT * FROM reward_runs WHERE run_id = ?", [run.run_id]).row(0, named=True)
    assert (row["holdout_share"], row["treated"], row["actor"]) == (0.3, run.treated, "mia")
    assert {r["rule_id"] for r in json.loads(row["rules"])} == {"WIDE", "POINTS"}
    assert "reward_profit" in json.loads(row["policy"])
    logged = store.sql("SELECT * FROM audit_log WHERE action = 'rewards.issue'").row(0, named=True)
    assert (logged["target_id"], logged["actor"], logged["detail"]) == (run.run_id, "mia", "january")
    attrs = json.loads(events.filter(pl.col("event_type") == "reward_issued")["attrs"][0])
    assert attrs["run_id"] == run.run_id and attrs["reward_type"] == "freeplay" and attrs["arm"] == "treatment"


def test_a_failed_issue_leaves_nothing_behind(store, monkeypatch):
    save(store, WIDE)
    before = store.sql("SELECT count(*) AS n FROM events")["n"][0]

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "append_rows", boom)
    with pytest.raises(RuntimeError):
        RN.issue(acc(store), ["WIDE"], reason="x", at=AT)
    monkeypatch.undo()
    assert store.sql("SELECT count(*) AS n FROM events")["n"][0] == before
    assert RN.runs(acc(store)).is_empty()


def test_caps_count_rewards_of_earlier_runs(store):
    save(store, WIDE)  # 20 per run, at most 30 a day
    first = RN.issue(acc(store), ["WIDE"], reason="a", holdout_share=0.0, at=AT)
    ev = RN.evaluate_rules(acc(store), RR.active_rules(store), at=AT + timedelta(hours=1))
    given = store.sql("SELECT player_id, value AS first FROM reward_run_members WHERE run_id = ?", [first.run_id])
    again = ev.decisions.join(given, on="player_id")
    assert again.height == given.height > 0
    left = (30.0 - again["first"]).clip(lower_bound=0.0)
    assert again["issued_value"].to_list() == pytest.approx(left.zip_with(left < again["value"], again["value"]).to_list())
    assert "capped" in set(again["status"])


def test_scope_limits_players_to_their_properties(store):
    save(store, WIDE)
    ev = RN.evaluate_rules(acc(store, props=("P01",)), RR.active_rules(store), at=AT)
    members = set(store.sql("SELECT player_id FROM player_properties WHERE property_id = 'P01'")["player_id"])
    assert ev.players > 0 and set(ev.decisions["player_id"]) <= members
    assert set(ev.homes["property_id"].drop_nulls()) == {"P01"}


def _visits(tmp_path, players: list[str], start: datetime) -> Path:
    rows = [{"visit_id": f"V-{p}", "player_id": p, "property_id": "P01", "check_in": f"{start:%Y-%m-%d %H:%M:%S}",
             "check_out": f"{start + timedelta(hours=3):%Y-%m-%d %H:%M:%S}"} for p in players]
    path = tmp_path / "visits.csv"
    pl.DataFrame(rows).write_csv(path)
    return path


def test_roi_of_a_finished_run_against_its_holdout(store, tmp_path):
    save(store, WIDE)
    run = RN.issue(acc(store), ["WIDE"], reason="x", holdout_share=0.3, at=AT)
    members = store.sql("SELECT * FROM reward_run_members WHERE run_id = ? ORDER BY player_id", [run.run_id])
    treated = members.filter(pl.col("arm") == "treatment")
    # day caps make some rewards 10 or 15, not 20: each is redeemed at its own value
    redeemed = treated.filter(pl.col("value") < 20).head(2).vstack(treated.filter(pl.col("value") == 20).head(3))
    loyalty = tmp_path / "loyalty.csv"
    pl.DataFrame([{"entry_id": f"X{i}", "player_id": r["player_id"], "ts": f"{AT + timedelta(days=2):%Y-%m-%d %H:%M:%S}",
                   "type": "reward_redeemed", "amount": str(r["value"]), "reward_id": r["reward_id"]}
                  for i, r in enumerate(redeemed.iter_rows(named=True))]).write_csv(loyalty)
    ingest_file(store, "loyalty", loyalty)
    ingest_file(store, "visits", _visits(tmp_path, treated["player_id"].to_list(), AT + timedelta(days=3)))
    report = RO.roi(acc(store), run.run_id, now=AT + timedelta(days=20))
    assert report.evidence == "randomised holdout" and report.complete
    visited = report.headline["visited"]
    assert visited["difference"] > 0.5 and visited["ci_low"] > 0
    assert report.headline["cost_total"] == pytest.approx(treated["value"].sum())  # redeemed at value, or still open
    assert {"ALL", *members["segment"].drop_nulls()} >= set(report.effects["segment"])
    listed = RO.measurable(acc(store))
    assert run.run_id in listed["run_id"].to_list() and (listed["kind"] == "campaign").any()


def test_runs_without_a_holdout_get_the_weaker_did_estimate(store):
    save(store, WIDE)
    run = RN.issue(acc(store), ["WIDE"], reason="x", holdout_share=0.0, at=AT)
    report = RO.roi(acc(store), run.run_id, now=AT + timedelta(days=20))
    assert "difference-in-differences" in report.evidence and report.n_control > 0
    assert set(report.effects["outcome"]) == {"visits", "theo", "net_revenue", "theo_net", "revenue_net"}


def test_ingested_campaigns_are_measured_against_their_holdout(store):
    listed = RO.measurable(acc(store)).filter((pl.col("kind") == "campaign") & (pl.col("holdout") >= 2))
    report = RO.roi(acc(store), listed["run_id"][0])
    assert report.kind == "campaign" and report.n_control >= 2
    assert report.headline["cost_total"] >= 0


def test_unknown_things_are_user_errors(store):
    with pytest.raises(UserError, match="no run or campaign"):
        RO.roi(acc(store), "nope")
    with pytest.raises(UserError, match="no active rule"):
        RN.issue(acc(store), ["nope"], reason="x")
    save(store, WIDE)
    with pytest.raises(UserError, match="holdout"):
        RN.issue(acc(store), ["WIDE"], reason="x", holdout_share=0.95)


def test_run_members_are_read_in_scope_only(store):
    from pipelines.access import AccessDenied

    save(store, WIDE)
    run = RN.issue(acc(store), ["WIDE"], reason="x", holdout_share=0.3, at=AT)
    with pytest.raises(AccessDenied, match="reward_run_members"):
        acc(store).sql("SELECT * FROM reward_run_members")
    scoped = acc(store, props=("P01",))
    seen = set(scoped.sql("SELECT player_id FROM s_derived('reward_run_members')")["player_id"])
    at_p01 = set(store.sql("SELECT player_id FROM player_properties WHERE property_id = 'P01'")["player_id"])
    assert seen and seen <= at_p01
    everyone = RO.measurable(acc(store)).filter(pl.col("run_id") == run.run_id).row(0, named=True)
    mine = RO.measurable(scoped).filter(pl.col("run_id") == run.run_id).row(0, named=True)
    assert mine["treated"] + mine["holdout"] == len(seen) < everyone["treated"] + everyone["holdout"]
    with pytest.raises(UserError, match="issue rewards"):
        RN.issue(acc(store, role="analyst"), ["WIDE"], reason="x", at=AT)


def test_policies_are_versioned_and_used(store):
    save(store, WIDE.replace('"profit_check": "report", ', ''))
    blocked_before = RN.evaluate_rules(acc(store), RR.active_rules(store), at=AT).totals.row(0, named=True)
    saved = RN.set_policy(store, "profit", {"default_lift": 5.0, "lift": {}}, actor="mia", role="marketer",
                          reason="optimistic")
    assert saved.version == 2 and store.scheme_versions("reward_profit")["version"].to_list() == [2]
    after = RN.evaluate_rules(acc(store), RR.active_rules(store), at=AT)
    assert after.policy["reward_profit"]["version"] == 2
    assert after.totals.row(0, named=True)["blocked_profit"] < blocked_before["blocked_profit"]
    with pytest.raises(UserError, match="unknown setting"):
        RN.set_policy(store, "caps", {"dai": 5}, actor="mia", role="marketer", reason="x")
    with pytest.raises(UserError, match="at least 0"):
        RN.set_policy(store, "caps", {"day": -5}, actor="mia", role="marketer", reason="x")
    with pytest.raises(UserError, match="edit rules"):
        RN.set_policy(store, "caps", {"day": 5}, actor="mia", role="host", reason="x")
