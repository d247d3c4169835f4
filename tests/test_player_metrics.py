"""The player_metrics stage: contract, player master, as_of, sharding, the store, and properties."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics.catalog import CATALOG, CONTRACT_COLUMNS, fills
from pipelines.derived import player_metrics
from pipelines.derived.metrics import metric_columns
from tests.test_metrics_catalog import AS_OF, HISTORY, SCHEMA, at, ev, frame

COUNT_COLUMNS = [n for n, m in CATALOG.items() if m.unit == "count"]
HEALTH = ["health_score", "health_purchase", "health_engagement", "health_service", "health_recency"]


def run(rows: list[dict], as_of: datetime = AS_OF, players: pl.LazyFrame | None = None) -> pl.DataFrame:
    """player_metrics collected, sorted by player."""
    return player_metrics(frame(rows), as_of, players).collect().sort("player_id")


def test_contract_columns_types_and_one_row_per_player():
    rows = [*HISTORY, ev("visit", at(3), player="P2"), ev("note", at(3), player="P3")]
    out = run(rows)
    assert out.columns == metric_columns()
    assert set(CONTRACT_COLUMNS) <= set(out.columns)
    assert out["player_id"].to_list() == ["P1", "P2", "P3"]
    assert all(out[c].dtype == pl.Int64 and out[c].null_count() == 0 for c in COUNT_COLUMNS)
    assert out.schema["as_of"] == pl.Datetime("us") and out["as_of"].unique().to_list() == [AS_OF]
    assert out.schema["exclusion_active"] == pl.Boolean and out["exclusion_active"].null_count() == 0
    for name, value in fills().items():
        assert out[name].null_count() == 0, name
    # P3 has only a note: never active
    p3 = out.row(2, named=True)
    assert p3["last_seen"] is None and p3["recency_days"] is None and p3["health_recency"] == 0.0
    assert p3["notes_total"] == 1 and p3["visits_total"] == 0 and p3["cash_in_total"] == 0.0


def test_players_without_events_get_zeros_and_master_enrollment_wins():
    players = pl.LazyFrame({
        "player_id": ["P1", "P9", "P_future"],
        "enrolled_at": [at(1000), at(10), at(-5)],
        "first_name": ["a", "b", "c"],
    })
    out = run(HISTORY, players=players)
    assert out["player_id"].to_list() == ["P1", "P9"]  # enrolled after as_of without events: not yet a player
    p1, p9 = out.row(0, named=True), out.row(1, named=True)
    assert p1["enrolled_at"] == at(1000) and p1["tenure_days"] == 1000
    assert p9["tenure_days"] == 10 and p9["visits_total"] == 0 and p9["theo_total"] == 0.0
    assert p9["visits_per_month"] == 0.0 and p9["avg_buy_in"] is None and p9["favourite_game"] is None
    assert all(p9[c] == 0 for c in COUNT_COLUMNS)
    assert 0.0 <= p9["health_score"] <= 100.0
    # a master without enrollment dates still adds its players; tenure then comes from activity
    bare = run(HISTORY, players=pl.LazyFrame({"player_id": ["P1", "P9"]}))
    assert bare["player_id"].to_list() == ["P1", "P9"]
    assert bare["tenure_days"].to_list() == [500, None]  # P1: its enrollment event


def test_events_after_as_of_are_ignored_and_as_of_is_a_parameter():
    earlier = AS_OF - timedelta(days=30)
    moved = run(HISTORY, as_of=earlier)
    manual = run([r for r in HISTORY if r["ts"] <= earlier], as_of=earlier)
    assert_frame_equal(moved, manual, rel_tol=1e-12, abs_tol=1e-12)
    assert moved["visits_30d"].item() == 1  # the visit 40 days before AS_OF is 10 days before `earlier`
    # a date means its midnight
    assert run(HISTORY, as_of=date(2025, 3, 1))["as_of"].item() == datetime(2025, 3, 1)
    with pytest.raises(ValueError, match="naive"):
        player_metrics(frame(HISTORY), AS_OF.replace(tzinfo=timezone.utc))


def test_missing_optional_columns_read_as_null_and_required_ones_fail():
    minimal = pl.LazyFrame({"player_id": ["A", "A"], "ts": [at(1), at(2)], "event_type": ["visit", "buy_in"]})
    out = player_metrics(minimal, AS_OF).collect()
    assert out["visits_total"].item() == 1 and out["cash_in_total"].item() == 0.0
    with pytest.raises(ValueError, match="event_type"):
        player_metrics(minimal.drop("event_type"), AS_OF)


def test_sharding_by_player_gives_the_same_rows():
    rows = [*HISTORY, *[{**r, "player_id": "P2"} for r in HISTORY[:15]], ev("visit", at(2), player="P3")]
    whole = run(rows)
    shards = [run([r for r in rows if r["player_id"] in part]) for part in ({"P1"}, {"P2", "P3"})]
    # equal up to the last bit of a float (vectorised arithmetic may round differently by chunk)
    assert_frame_equal(pl.concat(shards).sort("player_id"), whole, rel_tol=1e-12, abs_tol=1e-12)


def test_reads_the_store_events_current(loaded, write_csv):
    from pipelines.ingest import ingest_file

    visits = write_csv("visits.csv", [
        {"visit_id": "V1", "player_id": "PL1", "property_id": "P01", "check_in": "2025-01-01 20:00:00",
         "check_out": "2025-01-01 23:00:00"},
        {"visit_id": "V2", "player_id": "PL2", "property_id": "P01", "check_in": "2025-01-02 20:00:00",
         "check_out": ""},
    ])
    loyalty = write_csv("loyalty.csv", [
        {"entry_id": "L1", "player_id": "PL1", "ts": "2025-01-01 21:00:00", "type": "reward_issued",
         "amount": "20", "reward_id": "R1"},
        {"entry_id": "L2", "player_id": "PL1", "ts": "2025-01-01 22:00:00", "type": "reward_redeemed",
         "amount": "20", "reward_id": "R1"},
    ])
    ingest_file(loaded, "visits", visits, actor="tester")
    ingest_file(loaded, "loyalty", loyalty, actor="tester")
    events = loaded.table("events_current").lazy()
    players = loaded.table("players").lazy()
    out = player_metrics(events, datetime(2025, 1, 10), players).collect().sort("player_id")
    assert out["player_id"].to_list() == ["PL1", "PL2", "PL3"]
    assert out["visits_total"].to_list() == [1, 1, 0]
    assert out["rewards_redeemed"].to_list() == [1, 0, 0] and out["rewards_open"].to_list() == [0, 0, 0]
    assert out["tenure_days"].to_list() == [(date(2025, 1, 10) - date(y, m, 1)).days
                                            for y, m in ((2024, 1), (2024, 2), (2024, 3))]


# -- properties --------------------------------------------------------------------------------------
TYPES = ["visit", "rating_slip", "buy_in", "cash_out", "marker", "order", "refund", "reward_issued",
         "reward_redeemed", "reward_expired", "points_earned", "points_redeemed", "note", "dispute",
         "incident", "exclusion", "exclusion_lifted", "ctr", "mtl", "enrollment", "tag_added"]


@st.composite
def histories(draw) -> list[dict]:
    """Random small event histories of a few players, some events after as_of."""
    n = draw(st.integers(0, 40))
    rows = []
    for _ in range(n):
        t = draw(st.sampled_from(TYPES))
        offset = draw(st.integers(-3 * 24 * 60, 400 * 24 * 60))  # minutes before AS_OF
        rows.append(ev(
            t, AS_OF - timedelta(minutes=offset), player=draw(st.sampled_from(["A", "B", "C", "D"])),
            amount=draw(st.floats(-100, 5000, allow_nan=False)) if t in ("buy_in", "cash_out", "marker", "order",
                                                                        "refund", "reward_redeemed") else None,
            minutes=draw(st.floats(0, 600, allow_nan=False)) if t in ("visit", "rating_slip") else None,
            theo=draw(st.floats(0, 500, allow_nan=False)) if t == "rating_slip" else None,
            avg_bet=draw(st.floats(1, 500, allow_nan=False)) if t == "rating_slip" else None,
            game=draw(st.sampled_from(["blackjack", "craps", None])) if t == "rating_slip" else None,
            property_id=draw(st.sampled_from(["P1", "P2"])),
            points=draw(st.floats(-500, 500, allow_nan=False)) if t.startswith("points") else None,
            attrs=json.dumps({"reward_id": draw(st.sampled_from(["R1", "R2", None]))}) if t.startswith("reward")
            else None,
        ))
    return rows


def _window_count(rows, player, event_type, lo_days, hi_days=0):
    """Events of a type in (AS_OF - lo, AS_OF - hi], counted naively."""
    lo, hi = AS_OF - timedelta(days=lo_days), AS_OF - timedelta(days=hi_days)
    return sum(1 for r in rows if r["player_id"] == player and r["event_type"] == event_type and lo < r["ts"] <= hi)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=histories())
def test_properties(rows):
    out = run(rows)
    seen = sorted({r["player_id"] for r in rows if r["ts"] <= AS_OF})
    assert out["player_id"].to_list() == seen  # one row per player with events up to as_of
    if out.is_empty():
        return
    assert (out["recency_days"].drop_nulls() >= 0).all()
    assert (out["tenure_days"].drop_nulls() >= 0).all()
    for c in HEALTH:
        assert out[c].null_count() == 0 and out[c].is_between(0.0, 100.0).all(), c
    for c in COUNT_COLUMNS:
        assert (out[c] >= 0).all(), c
    assert (out["rewards_ignored"] <= out["rewards_issued"]).all()
    for row in out.iter_rows(named=True):
        p = row["player_id"]
        assert row["visits_30d"] == _window_count(rows, p, "visit", 30)
        assert row["visits_prior_30d"] == _window_count(rows, p, "visit", 60, 30)
        assert row["visits_90d"] == _window_count(rows, p, "visit", 90)
        assert row["sessions_30d"] == _window_count(rows, p, "rating_slip", 30)
        assert row["visits_total"] == _window_count(rows, p, "visit", 10_000)
        assert row["visits_30d"] <= row["visits_90d"] <= row["visits_total"]
        assert row["visits_30d"] + row["visits_prior_30d"] <= row["visits_90d"]
        assert row["trip_days_30d"] <= row["trip_days_60d"] <= row["trip_days_90d"]
        if row["last_seen"] is not None:
            assert row["recency_days"] == (AS_OF - row["last_seen"]).days
        w = {"purchase": 0.35, "engagement": 0.25, "service": 0.15, "recency": 0.25}
        assert math.isclose(row["health_score"], sum(v * row[f"health_{k}"] for k, v in w.items()),
                            abs_tol=1e-9)
        assert row["net_cash"] == pytest.approx(row["cash_out_total"] - row["cash_in_total"])


def test_schema_of_an_empty_history():
    out = player_metrics(pl.DataFrame([], schema=SCHEMA).lazy(), AS_OF).collect()
    assert out.is_empty() and out.columns == metric_columns()
