"""The derived build: snapshots per as_of, no-op when nothing changed, saved scheme versions used."""

from __future__ import annotations

import functools
import threading
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from metrics.segments import SpendingTiers
from pipelines import build_models
from pipelines.build import build
from pipelines.build_models import CHURN_HORIZON_DAYS, plan_training
from pipelines.derived.churn_training import VISIT_EVENTS
from pipelines.derived.metrics import event_attributes
from pipelines.errors import UserError
from pipelines.ingest import ingest_file
from tests.conftest import txn
from tests.demo import END, demo_files_fixture

demo_files = demo_files_fixture(players=400, days=200, seed=5)


def test_build_writes_one_row_per_player_per_table(demo_store):
    result = build(demo_store, actor="t")
    assert result.status == "built" and result.as_of == END.date()
    players = demo_store.players_frame().collect().height
    for table in ("player_metrics", "player_segments"):
        snap = demo_store.snapshot(table)
        assert snap.height == players == result.players
        assert snap["player_id"].n_unique() == snap.height
        assert {"as_of", "computed_at", "source_newest_ts"} <= set(snap.columns)
        assert snap["source_newest_ts"].max() <= END
    segments = demo_store.snapshot("player_segments")
    for scheme in ("worth", "engagement", "lifecycle", "spending", "frequency", "attention", "loyalty", "churn_level"):
        assert segments[scheme].null_count() == 0
    assert demo_store.snapshot("player_insights").height == result.insights > 0
    clv = demo_store.snapshot("player_clv")
    assert clv.height > 0 and clv["p_alive"].drop_nulls().is_between(0, 1).all()
    assert (clv["expected_value"].drop_nulls() >= 0).all()


def test_the_store_ships_the_attributes_metrics_read_as_polars_parses_them(demo_store):
    """``reward_id`` extracted from ``attrs`` by DuckDB (what the build reads) is what Polars parses
    from the same JSON (what events that bring only ``attrs`` get)."""
    read = event_attributes()
    shipped = demo_store.events_for(["event_id", "event_type"], attributes={n: (a.path, a.event_types) for n, a in read.items()})
    parsed = demo_store.events_for(["event_id", "event_type", "attrs"]).select(
        "event_id", *(a.from_attrs() for a in read.values()))
    both = shipped.join(parsed, on="event_id", how="full", suffix="_parsed")
    assert both.height == shipped.height == parsed.height
    for name in read:
        assert both[name].equals(both[f"{name}_parsed"].rename(name))
        assert both.filter(pl.col(name).is_not_null())["event_type"].is_in(read[name].event_types).all()
    assert both["reward_id"].drop_nulls().n_unique() > 10
    with pytest.raises(ValueError, match="not an attribute column"):
        demo_store.events_for(["event_id"], attributes={"ts": ("$.ts", ["visit"])})


def test_unchanged_events_make_a_no_op(demo_store):
    build(demo_store, actor="t")
    again = build(demo_store, actor="t")
    assert again.status == "current"
    assert demo_store.sql("SELECT count(*) AS n FROM builds")["n"][0] == 1


def test_new_events_make_a_new_snapshot_and_keep_the_old(demo_store, write_csv):
    build(demo_store, actor="t")
    player = demo_store.players_frame().collect()["player_id"][0]
    later = txn(999_999, player=player, ts="2026-01-03 12:00:00") | {"property_id": "P01"}
    ingest_file(demo_store, "transactions", write_csv("late.csv", [later]))
    result = build(demo_store, actor="t")
    assert result.as_of == date(2026, 1, 3)
    assert demo_store.snapshot_dates("player_metrics") == [date(2026, 1, 3), END.date()]


def test_a_saved_scheme_version_is_used_by_the_next_build(demo_store):
    scheme = SpendingTiers()
    scheme.vip_above = 1.0  # everyone with more than 1 of cash-in becomes vip
    scheme.release("analyst", "test a tiny vip threshold")
    demo_store.save_scheme_version(name=scheme.name, kind=scheme.kind, version=scheme.version,
                                   toml=scheme.to_toml(), actor="analyst", role="analyst",
                                   reason="test a tiny vip threshold")
    build(demo_store, actor="t")
    seg = demo_store.snapshot("player_segments")
    assert set(seg["spending_version"].unique()) == {scheme.version}
    metrics = demo_store.snapshot("player_metrics").select("player_id", "cash_in_total")
    joined = seg.join(metrics, on="player_id")
    assert (joined.filter(pl.col("cash_in_total") > 1)["spending"] == "vip").all()


def test_build_without_events_is_a_clear_error(store):
    with pytest.raises(UserError, match="no events yet"):
        build(store, actor="t")


def test_a_churn_model_the_data_cannot_support_is_skipped_with_the_reason(demo_store, monkeypatch):
    # the churn model trains on a thread beside the other derived stages; its refusal must still
    # reach the caller's progress display, from the caller's thread, and leave no churn scores
    monkeypatch.setattr(build_models, "train_churn_model",
                        functools.partial(build_models.train_churn_model, min_class=10**6))
    said: list[tuple[str, bool]] = []
    result = build(demo_store, actor="t",
                   progress=lambda stage: said.append((stage, threading.current_thread() is threading.main_thread())))
    assert result.status == "built"
    skipped = [stage for stage, _ in said if stage.startswith("churn model skipped")]
    assert len(skipped) == 1 and "churned and" in skipped[0], said
    assert all(on_main for _, on_main in said)
    assert demo_store.snapshot_dates("player_churn_model") == []
    assert demo_store.sql("SELECT count(*) AS n FROM model_fits WHERE kind = 'churn'")["n"][0] == 0
    assert demo_store.snapshot("player_clv").height > 0


def test_the_churn_history_check_finds_one_early_visit_or_names_the_earliest(demo_store):
    earliest = demo_store.first_event_ts(VISIT_EVENTS)
    assert earliest == demo_store.sql(
        "SELECT min(ts) AS t FROM events_current WHERE event_type IN ('visit', 'rating_slip')")["t"][0]
    # before the earliest there is none: the earliest itself, which the refusal names
    assert demo_store.first_event_ts(VISIT_EVENTS, by=earliest - timedelta(seconds=1)) == earliest
    later = earliest + timedelta(days=30)
    found = demo_store.first_event_ts(VISIT_EVENTS, by=later)
    assert earliest <= found <= later
    said: list[str] = []
    short = datetime.combine((earliest + timedelta(days=2 * CHURN_HORIZON_DAYS - 1)).date(), datetime.min.time())
    assert plan_training(demo_store, short, said.append) is None
    assert len(said) == 1 and f"the visits start {earliest:%Y-%m-%d}" in said[0], said
    long_enough = datetime.combine(END.date(), datetime.min.time())
    assert plan_training(demo_store, long_enough, said.append) is not None and len(said) == 1
