"""The command line: help everywhere, JSON summaries, one-line errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PLAYERS, txn

COMMANDS = ["ingest", "rejects", "status", "merge", "unmerge", "generate", "demo", "serve", "build",
            "metrics"]


def run(*args: str, db=None) -> subprocess.CompletedProcess:
    """Run `player360 ARGS` in a subprocess."""
    extra = ["--db", str(db)] if db else []
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args, *extra],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_ingest_json_summary_and_idempotency(tmp_path, write_csv):
    db = tmp_path / "cli.duckdb"
    players = write_csv("players.csv", PLAYERS)
    txns = write_csv("t.csv", [txn(1), txn(2), txn(3, amount="-1")])
    assert run("ingest", "players", str(players), "--json", db=db).returncode == 0
    first = json.loads(run("ingest", "transactions", str(txns), "--json", db=db).stdout)
    again = json.loads(run("ingest", "transactions", str(txns), "--json", db=db).stdout)
    for key in ("batch_id", "rows_read", "events_added", "duplicates", "rejected"):
        assert key in first
    assert (first["rows_read"], first["events_added"], first["duplicates"], first["rejected"]) == (3, 2, 0, 1)
    assert (again["events_added"], again["duplicates"], again["rejected"]) == (0, 2, 1)
    shown = run("rejects", first["batch_id"], db=db)
    assert "impossible negative amount" in shown.stdout


def test_text_summary_and_status(tmp_path, write_csv):
    db = tmp_path / "cli.duckdb"
    result = run("ingest", "players", str(write_csv("players.csv", PLAYERS)), db=db)
    assert "3 rows read, 3 events added, 0 duplicates, 0 rejected" in result.stdout
    status = run("status", db=db)
    assert status.returncode == 0 and "enrollment" in status.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "transactions", "missing.csv"], "missing.csv: no such file"),
        (["ingest", "nosuch", "x.csv"], "unknown source 'nosuch'"),
        (["ingest", "orders", "x.csv", "--map", "nonsense"], "expected target=column"),
        (["status"], "no such database"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    (tmp_path / "x.csv").write_text("a\n1\n")
    args = [a if not a.endswith(".csv") else str(tmp_path / a) for a in args]
    result = run(*args, db=tmp_path / "e.duckdb")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_merge_and_unmerge(tmp_path, write_csv):
    db = tmp_path / "cli.duckdb"
    run("ingest", "players", str(write_csv("players.csv", PLAYERS)), db=db)
    assert run("merge", "PL1", "PL3", "--reason", "same person", db=db).returncode == 0
    assert run("unmerge", "PL3", "--reason", "not the same", db=db).returncode == 0
    again = run("unmerge", "PL3", "--reason", "x", db=db)
    assert again.returncode == 2 and "is not merged" in again.stderr


def test_generate_ingest_build_and_metrics_list(tmp_path):
    db, out = tmp_path / "g.duckdb", tmp_path / "raw"
    gen = run("generate", "--out", str(out), "--players", "150", "--days", "90", "--end", "2026-01-01 20:00:00")
    assert gen.returncode == 0, gen.stderr
    for source in ("players", "visits", "rating_slips", "transactions"):
        assert run("ingest", source, str(out / f"{source}.csv"), "--json", db=db).returncode == 0
    first = json.loads(run("build", "--json", db=db).stdout)
    assert first["status"] == "built" and first["as_of"] == "2026-01-01" and first["players"] > 0
    assert json.loads(run("build", "--json", db=db).stdout)["status"] == "current"
    listing = run("metrics", "list", "--json")
    names = [json.loads(line)["name"] for line in listing.stdout.splitlines()]
    assert {"recency_days", "adt_30d", "health_score", "redemption_rate"} <= set(names)
