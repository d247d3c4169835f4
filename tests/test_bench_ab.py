"""The A/B build benchmark: stage times from the build's marks, and one real round on the demo store."""

from __future__ import annotations

from pathlib import Path

from benchmarks import bench_ab
from tests.app.demo_store import copy_store

ROOT = Path(__file__).resolve().parent.parent


def test_stage_times_sum_the_shards_and_keep_the_order():
    marks = [(0.0, "before the first stage"), (1.0, "metrics: shard 1/2"), (3.0, "metrics: shard 2/2"),
             (6.0, "writing snapshots"), (7.5, "end")]
    assert bench_ab.stage_times(marks) == {"before the first stage": 1.0, "shards": 5.0, "writing snapshots": 1.5}


def test_a_revision_and_a_tree_built_in_turn_on_one_store(demo_db, tmp_path, capsys):
    db = copy_store(demo_db, tmp_path / "ab.duckdb")
    bench_ab.main(["--db", str(db), "--rev", "HEAD", "--tree", str(ROOT), "--pairs", "1"])
    out = capsys.readouterr().out
    assert "round 1: rev HEAD:" in out and f"round 1: tree {ROOT}:" in out
    lines = out.splitlines()
    total = next(line for line in lines if line.startswith("total wall"))
    assert len(total.split("|")) == 2  # one column per version
    assert any(line.startswith("writing snapshots") for line in lines)
