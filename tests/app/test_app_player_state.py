"""Player 360 state without a browser: opening players, metrics, timeline filter and paging."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from app import model as M
from app.state import PlayerSearch, PlayerState, Session
from tests.app.demo_store import WHO, busiest_player, session


@pytest.fixture
def busy(demo_db) -> str:
    return busiest_player(demo_db)["player_id"]


def test_opening_a_player_reads_it_and_remembers_it(data, busy):
    state = PlayerState(data=data, session=session("ana", "host"))
    state.player_id = busy
    assert state.found and state.snapshot.player_id == busy and state.message == ""
    assert state.recent[0]["player_id"] == busy
    assert state.timeline.events is state.snapshot.events


def test_recently_viewed_is_newest_first_without_duplicates_and_capped(data):
    ids = data.search(WHO, "PL00", 20)["player_id"].to_list()[:5]
    state = PlayerState(data=data, session=session(), max_recent=3)
    for pid in [*ids, ids[2]]:
        state.open(pid)
    assert [r["player_id"] for r in state.recent] == [ids[2], ids[4], ids[3]]


def test_an_unknown_id_says_so(data):
    state = PlayerState(data=data, session=session(), player_id="NOPE")
    assert not state.found and "NOPE" in state.message
    assert state.key_metrics() == [] and state.notes() == []


def test_a_missing_store_is_a_message(tmp_path):
    from app.data import DataStore

    state = PlayerState(data=DataStore(tmp_path / "none.duckdb"), player_id="PL1")
    assert state.snapshot is None and "No data yet" in state.message


def test_key_metrics_match_the_snapshot_and_the_sparkline_ends_with_the_30_day_value(data, busy):
    state = PlayerState(data=data, session=session(), player_id=busy)
    metrics = {m["key"]: m for m in state.key_metrics()}
    assert 6 <= len(metrics) <= 10
    m = state.snapshot.metrics
    assert metrics["visits"]["value"] == m["visits_30d"] and metrics["visits"]["prior"] == m["visits_prior_30d"]
    assert metrics["cash_in"]["value"] == m["cash_in_30d"]
    for key, column in (("visits", "visits_30d"), ("cash_in", "cash_in_30d"), ("theo", "theo_30d")):
        assert metrics[key]["spark"][-1] == pytest.approx(m[column]), key
        assert len(metrics[key]["spark"]) == 12
    if m["cash_in_prior_30d"]:
        assert metrics["cash_in"]["change"] == pytest.approx((m["cash_in_30d"] - m["cash_in_prior_30d"])
                                                             / m["cash_in_prior_30d"])


def test_health_and_churn_come_with_their_factors(data, busy):
    state = PlayerState(data=data, session=session(), player_id=busy)
    h, c = state.health(), state.churn()
    assert 0 <= h["score"] <= 100 and [f[0] for f in h["factors"]] == ["Purchase", "Engagement", "Service", "Recency"]
    assert c["level"] in ("low", "medium", "high") and len(c["factors"]) >= 3


def test_timeline_is_newest_first_filtered_and_paged(data, busy):
    state = PlayerState(data=data, session=session(), player_id=busy)
    tl = state.timeline
    everything = tl.filtered()
    assert everything["ts"].is_sorted(descending=True)
    assert everything.height == M.current(state.snapshot.events).height
    tl.page_size = 10
    assert tl.pages == -(-everything.height // 10) and tl.rows().height == 10
    tl.next_page()
    assert tl.page == 2 and tl.rows()["event_id"][0] == everything["event_id"][10]
    tl.types = ["visit"]
    assert tl.page == 1 and set(tl.filtered()["event_type"]) == {"visit"}
    rows = tl.rows()
    assert set(rows["type"]) == {"Visit"} and rows["source"].str.contains("visits").all()
    newest = everything["ts"][0].date()
    tl.param.update(types=[], start=newest - timedelta(days=6), end=newest)
    within = tl.filtered()
    assert within.height > 0 and within["ts"].min().date() >= newest - timedelta(days=6)
    tl.clear()
    assert tl.total == everything.height
    for _ in range(tl.pages + 3):
        tl.next_page()
    assert tl.page == tl.pages
    tl.previous_page()
    assert tl.page == tl.pages - 1


def test_quick_ranges_end_at_the_players_newest_event(data, busy):
    state = PlayerState(data=data, session=session(), player_id=busy)
    tl = state.timeline
    everything = tl.filtered()
    newest = everything["ts"][0].date()
    tl.last_days(30)
    assert (tl.start, tl.end) == (newest - timedelta(days=29), newest)
    within = tl.filtered()
    assert 0 < within.height < everything.height
    assert within["ts"].min().date() >= tl.start and within["ts"].max().date() <= newest
    assert within.height == everything.filter(pl.col("ts").dt.date() >= tl.start).height
    empty = PlayerState(data=data, session=session(), player_id="NOBODY").timeline
    empty.last_days(7)
    assert (empty.start, empty.end) == (None, None)


def test_every_timeline_row_names_its_source_and_actor(data, busy):
    state = PlayerState(data=data, session=session(), player_id=busy)
    state.timeline.page_size = 100
    rows = state.timeline.rows()
    assert rows["source"].null_count() == 0 and rows["by"].null_count() == 0
    assert rows["summary"].null_count() == 0


def test_search_state(data):
    s = PlayerSearch(data=data, session=session())
    assert "Type a name" in s.message()
    s.query = "a"
    assert "at least 2" in s.message() and s.results().is_empty()
    s.query = "zzzz-nobody"
    assert "No player matches" in s.message()
    s.query = "PL000001"
    assert s.results().height > 0 and "match" in s.message()


def test_trend_windows_cover_twelve_30_day_periods(data, busy):
    state = PlayerState(data=data, session=session(), player_id=busy)
    trend = state.trend()
    assert trend.height == 12
    as_of = state.snapshot.metrics["as_of"]
    assert trend["month"][-1] == as_of - timedelta(days=29)
    assert (trend["month"].diff().drop_nulls() == timedelta(days=30)).all()
    assert isinstance(trend, pl.DataFrame) and date.today() > trend["month"][0]


def test_type_groups_filter_the_timeline(data, busy):
    state = PlayerState(data=data, session=session(), player_id=busy)
    tl = state.timeline
    tl.set_groups(["Visits", "Play"])
    assert set(tl.types) == {"visit", "rating_slip"} and tl.groups() == ["Visits", "Play"]
    assert set(tl.filtered()["event_type"]) <= {"visit", "rating_slip"}
    tl.set_groups([])
    assert tl.types == [] and tl.groups() == []
