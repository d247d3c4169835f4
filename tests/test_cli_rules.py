"""`player360 rules`: one-line errors naming the field, JSON outputs, and a full add / simulate / issue / roi."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.app.demo_store import END, copy_store
from tests.test_reward_rules import SEED_RULE

AT = (END.replace(hour=21)).strftime("%Y-%m-%dT%H:%M:%S")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "rules", *args], capture_output=True, text=True,
                          timeout=180)


def test_validate_names_file_and_fields_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('rule_id = "X"\npriority = 1\n[conditions]\nnet_los_min = 5\n[reward]\ntype = "CASH"\n'
                   'formula = "1"\nmax_amount = 5\n')
    result = run("validate", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(bad) in result.stderr and "conditions.net_los_min" in result.stderr and "reward.type" in result.stderr
    good = tmp_path / "seed.json"
    good.write_text(SEED_RULE)
    ok = run("validate", str(good))
    assert ok.returncode == 0 and "LOSING_PLAYER_CASHBACK" in ok.stdout
    assert run("validate", str(tmp_path / "missing.json")).stderr.startswith("error: ")


def test_add_list_simulate_issue_roi(demo_db, tmp_path):
    db = str(copy_store(demo_db, tmp_path / "p360.duckdb"))
    rule = tmp_path / "wide.toml"
    rule.write_text('rule_id = "WIDE"\npriority = 3\nprofit_check = "report"\n[conditions]\nvisits_total_min = 1\n'
                    '[reward]\ntype = "COMP"\nformula = "10"\nmax_amount = 10\n')
    assert run("add", str(rule), "--reason", "try", "--role", "host", "--db", db).returncode == 2
    added = run("add", str(rule), "--reason", "try", "--db", db)
    assert added.returncode == 0, added.stderr
    listed = json.loads(run("list", "--json", "--db", db).stdout)
    assert [r["rule_id"] for r in listed] == ["WIDE"]
    history = json.loads(run("list", "--history", "WIDE", "--json", "--db", db).stdout)
    assert history[0]["action"] == "add" and history[0]["role"] == "marketer"
    seed = tmp_path / "seed.json"
    seed.write_text(SEED_RULE)
    sim = json.loads(run("simulate", "--file", str(seed), "--at", AT, "--json", "--db", db).stdout)
    assert {t["rule_id"] for t in sim["totals"]} == {"WIDE", "LOSING_PLAYER_CASHBACK", "ALL"}
    issued = run("issue", "WIDE", "--reason", "test", "--holdout", "0.25", "--at", AT, "--json", "--db", db)
    assert issued.returncode == 0, issued.stderr
    run_id = json.loads(issued.stdout)["run_id"]
    runs = json.loads(run("runs", "--json", "--db", db).stdout)
    assert run_id in [r["run_id"] for r in runs]
    roi = json.loads(run("roi", run_id, "--json", "--db", db).stdout)
    assert roi["evidence"] == "randomised holdout" and not roi["complete"]
    assert {e["outcome"] for e in roi["effects"]} >= {"visits", "theo", "net_revenue", "theo_net"}
