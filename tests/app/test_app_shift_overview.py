"""Shift report and overview state: the same snapshot for the report, its widget and the player lens."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from app import model as M
from app.data import DataStore
from app.state import OverviewState, PlayerState, Session, ShiftState
from tests.app.demo_store import WHO, an_open_visit, session


def test_shift_windows():
    assert M.shift_window(date(2026, 1, 1), "grave") == (datetime(2026, 1, 1, 22), datetime(2026, 1, 2, 6))
    assert M.shift_of(datetime(2026, 1, 2, 3)) == (date(2026, 1, 1), "grave")
    assert M.shift_of(datetime(2026, 1, 2, 6)) == (date(2026, 1, 2), "day")
    assert M.shift_of(datetime(2026, 1, 2, 21, 59)) == (date(2026, 1, 2), "swing")


@pytest.fixture
def visit(demo_db) -> dict:
    return an_open_visit(demo_db)


def test_the_default_shift_holds_the_newest_event_of_the_store(data, visit):
    shift = ShiftState(data=data, session=session(), property_id=visit["property_id"])
    start, end = shift.window
    newest = data.data_clock(WHO)
    assert start <= newest < end


def test_an_open_visit_puts_the_player_in_the_room(data, visit):
    day, which = M.shift_of(visit["ts"])
    shift = ShiftState(data=data, session=session(), property_id=visit["property_id"], day=day, shift=which)
    snap = shift.snapshot()
    row = snap.in_room.filter(snap.in_room["player_id"] == visit["player_id"]).row(0, named=True)
    assert row["open"] and row["name"] == f"{visit['first_name']} {visit['last_name']}"
    assert snap.totals["in_room"] >= 1
    assert shift.label().startswith(visit["property_id"])


def test_the_report_the_widget_and_the_lens_read_the_same_snapshot(data, visit):
    day, which = M.shift_of(visit["ts"])
    report = ShiftState(data=data, session=session(), property_id=visit["property_id"], day=day, shift=which)
    widget = ShiftState(data=data, session=session(), property_id=visit["property_id"], day=day, shift=which)
    assert report.snapshot() is widget.snapshot()
    player = PlayerState(data=data, session=session(), player_id=visit["player_id"])
    lens = ShiftState(data=data, session=session()).player_lens(player.snapshot)
    assert lens["property_id"] == visit["property_id"] and lens["in_room"] and lens["in_room"][0]["open"]


def test_a_visit_open_for_days_is_a_missing_check_out_not_a_reason_to_read_its_old_shift(data, visit):
    """The lens reads the current shift (the one every page shares) and names the stale open visit."""
    import dataclasses

    import polars as pl

    player = PlayerState(data=data, session=session(), player_id=visit["player_id"]).snapshot
    clock = data.data_clock(WHO)
    old = clock - timedelta(hours=M.STALE_OPEN_HOURS + 30)
    events = player.current.with_columns(
        pl.when((pl.col("event_type") == "visit") & pl.col("ends_at").is_null()).then(pl.lit(old))
        .otherwise(pl.col("ts")).alias("ts"))
    stale_player = dataclasses.replace(player, events=events)
    assert M.open_visit(stale_player.current)["ts"] == old
    lens = ShiftState(data=data, session=session()).player_lens(stale_player)
    day, which = M.shift_of(clock)
    assert (lens["day"], lens["shift"]) == (day, which) and lens["stale_since"] == old
    fresh = ShiftState(data=data, session=session()).player_lens(player)
    assert fresh["stale_since"] is None and fresh["in_room"] and fresh["in_room"][0]["open"]


def test_tasks_due_and_attention_tags_bring_players_into_the_attention_list(data, visit):
    day, which = M.shift_of(visit["ts"])
    player = PlayerState(data=data, session=session("ana"), player_id=visit["player_id"])
    player.set_attention(True)
    shift = ShiftState(data=data, session=session(), property_id=visit["property_id"], day=day, shift=which)
    snap = shift.snapshot()
    row = snap.attention.filter(snap.attention["player_id"] == visit["player_id"]).row(0, named=True)
    assert "tagged attention needed" in row["reasons"] and row["in_room"]


def test_incidents_in_the_window_are_listed(data):
    with data.store() as s:
        inc = s.sql("SELECT player_id, property_id, ts FROM events_current WHERE event_type = 'incident' "
                    "ORDER BY ts DESC LIMIT 1").row(0, named=True)
    day, which = M.shift_of(inc["ts"])
    snap = ShiftState(data=data, session=session(), property_id=inc["property_id"], day=day, shift=which).snapshot()
    assert inc["player_id"] in snap.incidents["player_id"].to_list()
    assert snap.incidents["type"].to_list()[0] in ("Incident", "Dispute", "Exclusion")


def test_top_players_by_theo_are_sorted(data, visit):
    shift = ShiftState(data=data, session=session(), property_id=visit["property_id"])
    shift.day = shift.day - timedelta(days=1)
    top = shift.snapshot().top_theo
    assert top["theo"].is_sorted(descending=True)


def test_a_missing_store_gives_an_empty_shift_with_a_message(tmp_path):
    shift = ShiftState(data=DataStore(tmp_path / "none.duckdb"), session=session())
    snap = shift.snapshot()
    assert snap.message and snap.totals["in_room"] == 0


def test_overview_cards_compare_with_the_previous_period(data):
    overview = OverviewState(data=data, session=session(), days=30)
    cards = {c["key"]: c for c in overview.cards()}
    assert {"cash_in", "theo", "active", "new_players", "at_risk", "rewards_issued", "rewards_redeemed"} <= set(cards)
    k = overview.kpis()
    cash = cards["cash_in"]
    assert cash["value"] == k.value("cash_in") and cash["previous"] == k.value("cash_in", 1)
    if cash["previous"]:
        assert cash["change"] == pytest.approx((cash["value"] - cash["previous"]) / cash["previous"])
    assert len(cash["trend"]) == 12
    assert cards["at_risk"]["value"] is not None and "segments as of" in cards["at_risk"]["detail"]
    overview.days = 7
    assert overview.kpis().days == 7 and "7 days" in overview.period_label()


def test_overview_without_data_has_no_cards_and_says_why(tmp_path):
    overview = OverviewState(data=DataStore(tmp_path / "none.duckdb"), session=session())
    assert overview.cards() == [] and "No data yet" in overview.kpis().message


def test_app_writes_do_not_move_the_data_clock(data, visit):
    before = data.data_clock(WHO)
    PlayerState(data=data, session=session("ana"), player_id=visit["player_id"]).add_note("hello")
    assert data.data_clock(WHO) == before and data.freshness(WHO).newest_event == before
    assert ShiftState(data=data, session=session(), property_id=visit["property_id"]).window[0] <= before
    assert data.kpis(WHO, 30).end.date() == before.date() + timedelta(days=1)
