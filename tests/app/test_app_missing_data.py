"""Missing and stale data show as such: a store never built, events newer than the build."""

from __future__ import annotations

import pytest

from app.data import DataStore
from app.state import OverviewState, PlayerState, Session, ShiftState
from app.views.header import PlayerHeaderView
from app.views.metrics import KeyMetricsView
from tests.app.demo_store import WHO, busiest_player, make_demo_store, session


@pytest.fixture(scope="module")
def unbuilt(tmp_path_factory):
    """Events ingested, no derived build yet."""
    return make_demo_store(tmp_path_factory.mktemp("unbuilt"), players=60, days=120, derive=False)


def test_a_store_without_a_build_still_shows_players_and_says_what_is_missing(unbuilt):
    data = DataStore(unbuilt)
    pid = busiest_player(unbuilt)["player_id"]
    state = PlayerState(data=data, session=session(), player_id=pid)
    assert state.found and state.snapshot.metrics is None and state.snapshot.segments is None
    assert state.key_metrics() == [] and state.health() is None and state.churn() is None
    assert state.timeline.total > 0 and state.trend().height == 12
    assert "not built yet" in KeyMetricsView(player=state)._metrics()
    assert "Metrics not built yet" in PlayerHeaderView(player=state)._header()
    assert "Insights appear after the first build" in PlayerHeaderView(player=state)._insights()
    cards = {c["key"] for c in OverviewState(data=data, session=session()).cards()}
    assert "cash_in" in cards and "at_risk" not in cards
    snap = ShiftState(data=data, session=session()).snapshot()
    assert snap.message == "" and snap.attention is not None
    data.close()


def test_events_after_the_build_mark_the_metrics_stale(data, demo_db):
    pid = busiest_player(demo_db)["player_id"]
    state = PlayerState(data=data, session=session("ana"), player_id=pid)
    assert "arrived after the newest build" not in PlayerHeaderView(player=state)._header()
    state.add_note("after the build")
    html = PlayerHeaderView(player=state)._header()
    assert "1 event(s) arrived after the newest build" in html and "Data as of" in html
