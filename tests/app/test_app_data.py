"""The data store: one connection, cached reads, empty states, and the search pushed into SQL."""

from __future__ import annotations

from tests.app.demo_store import WHO, session

import polars as pl
import pytest

from pipelines.access import Access
from app import queries as Q
from app.data import DataStore, DataUnavailable


def test_a_missing_file_is_an_empty_state_not_a_crash(tmp_path):
    ds = DataStore(tmp_path / "none.duckdb")
    ok, why = ds.available()
    assert not ok and "No data yet" in why
    assert not ds.status().available and "No data yet" in ds.status().message
    with pytest.raises(DataUnavailable):
        ds.player(WHO, "PL1")
    assert not (tmp_path / "none.duckdb").exists()  # reading never creates the file


def test_shared_returns_one_data_store_per_file(tmp_path):
    a = DataStore.shared(tmp_path / "x.duckdb")
    assert DataStore.shared(str(tmp_path / "x.duckdb")) is a
    assert DataStore.shared(tmp_path / "y.duckdb") is not a


def test_reads_are_cached_and_a_write_drops_the_cache(data):
    pid = data.search(WHO, "PL00000", 1)["player_id"][0]
    first = data.player(WHO, pid)
    assert data.player(WHO, pid) is first  # cached
    data.record_event(WHO, action="note", player_id=pid, event_type="note", attrs={"text": "hi"})
    again = data.player(WHO, pid)
    assert again is not first and again.events.height == first.events.height + 1


def test_freshness_counts_events_after_the_newest_build(data):
    assert data.freshness(WHO).events_since_build == 0 and not data.freshness(WHO).stale
    pid = data.search(WHO, "PL00000", 1)["player_id"][0]
    data.record_event(WHO, action="tag", player_id=pid, event_type="tag_added", attrs={"tag": "x"})
    assert data.freshness(WHO).events_since_build == 1 and data.freshness(WHO).stale


def _first(data: DataStore) -> dict:
    with data.store() as s:
        return s.sql("SELECT p.*, pp.card_number FROM players p JOIN player_properties pp USING (player_id) "
                     "ORDER BY player_id LIMIT 1").row(0, named=True)


@pytest.mark.parametrize("field", ["last_name", "first_name", "player_id", "email", "card_number"])
def test_search_finds_a_player_by_part_of_any_field_in_any_case(data, field):
    p = _first(data)
    value = p[field]
    part = value[1:-1].swapcase() if len(value) > 3 else value.upper()
    found = data.search(WHO, part, 50)
    assert p["player_id"] in found["player_id"].to_list()


def test_search_by_phone_ignores_punctuation_and_exact_ids_come_first(data):
    p = _first(data)
    digits = "".join(ch for ch in p["phone"] if ch.isdigit())
    assert p["player_id"] in data.search(WHO, digits[-7:], 50)["player_id"].to_list()
    found = data.search(WHO, p["player_id"].lower(), 5)
    assert found["player_id"][0] == p["player_id"] and found["exact"][0]


def test_every_word_must_match_and_like_wildcards_are_literal(data):
    p = _first(data)
    both = data.search(WHO, f"{p['first_name']} {p['last_name']}", 50)
    assert p["player_id"] in both["player_id"].to_list()
    assert all(p["last_name"].lower() in (r["last_name"] or "").lower() or p["last_name"].lower() in
               (r["email"] or "").lower() for r in both.iter_rows(named=True))
    assert data.search(WHO, "%", 10).is_empty() and data.search(WHO, "_", 10).height <= 10
    assert data.search(WHO, "no-such-person-zzz", 10).is_empty()


def test_search_respects_the_limit_and_resolves_merged_ids(data):
    assert data.search(WHO, "a", 7).height == 7
    with data.store() as s:
        ids = s.sql("SELECT player_id FROM players ORDER BY player_id LIMIT 2")["player_id"].to_list()
        s.merge_players(ids[0], ids[1], actor="t", role="admin", reason="test")
    data.invalidate()
    found = data.search(WHO, ids[1], 10)["player_id"].to_list()
    assert ids[0] in found and ids[1] not in found
    merged = data.player(WHO, ids[1])
    assert merged.player_id == ids[0] and merged.requested_id == ids[1]


def test_search_sql_gets_user_text_only_as_parameters(data):
    with data.store() as s:
        found = Q.search_players(Access(s, WHO), "'; DROP TABLE players; --", 5)
        assert found.is_empty()
        assert s.sql("SELECT count(*) AS n FROM players")["n"][0] > 0


def test_open_visits_are_the_current_version_of_visits_without_an_end(data):
    visits = data.open_visits(WHO)
    assert visits.height > 0 and {"player_id", "property_id", "ts", "name"} <= set(visits.columns)
    with data.store() as s:
        raw = s.sql("SELECT count(*) AS n FROM events_current WHERE event_type = 'visit' AND ends_at IS NULL")
    assert visits.height == raw["n"][0]
    assert visits["ts"].is_sorted(descending=True)


def test_kpis_split_into_period_long_buckets_ending_with_the_newest_day(data):
    k = data.kpis(WHO, 30)
    assert k.trend.height == 12 and k.end is not None
    with data.store() as s:
        start = k.end - __import__("datetime").timedelta(days=30)
        cash = s.sql("SELECT sum(amount) AS c FROM events_current WHERE event_type IN ('buy_in', 'marker') "
                     "AND ts >= ? AND ts < ?", [start, k.end])["c"][0]
    assert k.value("cash_in") == pytest.approx(cash)
    assert isinstance(k.trend, pl.DataFrame) and k.value("active") > 0


def test_a_write_keeps_aggregates_that_it_cannot_change(data):
    kpis = data.kpis(WHO, 30)
    pid = data.search(WHO, "PL00000", 1)["player_id"][0]
    shift_before = data.shift_snapshot(WHO, "P01", *__import__("app.model", fromlist=["x"]).shift_window(
        kpis.end.date(), "swing"))
    data.record_event(WHO, action="tag", player_id=pid, event_type="tag_added", attrs={"tag": "x"})
    assert data.kpis(WHO, 30) is kpis
    from app.model import shift_window
    assert data.shift_snapshot(WHO, "P01", *shift_window(kpis.end.date(), "swing")) is not shift_before
    data.invalidate()
    assert data.kpis(WHO, 30) is not kpis


def test_a_slow_read_apart_does_not_hold_up_other_reads(data):
    """A read `apart` (the shift report's scan) runs on its own connection outside the store's lock:
    another read completes while it is still running, and both get their own answers."""
    import threading

    from pipelines.access import Principal

    pid = data.search(WHO, "PL00000", 1)["player_id"][0]
    other_done = threading.Event()

    def slow(s: Access) -> int:
        # waits for the other read: if that read needed the lock, it could only time out here
        assert other_done.wait(30), "a read waited for the slow one"
        return int(s.sql("SELECT count(*) AS n FROM s_events()")["n"][0])

    result = {}
    worker = threading.Thread(target=lambda: result.update(n=data.cached(WHO, ("slow",), slow, 60, apart=True)))
    worker.start()
    assert data.player(WHO, pid).found
    other_done.set()
    worker.join(30)
    assert result["n"] > 0 and data.cached(WHO, ("slow",), slow, 60, apart=True) == result["n"]  # cached
    # the second connection is scoped as the first would be: a host of P01 sees what it sees there
    host = Principal("hank", "host", ("P01",))
    scoped = data.cached(host, ("slow",), slow, 60, apart=True)
    with data.store() as store:
        expected = Access(store, host).sql("SELECT count(*) AS n FROM s_events()")["n"][0]
    assert 0 < scoped == expected < result["n"]


def test_callers_of_an_apart_read_under_way_wait_for_its_answer_instead_of_running_it_again(data):
    """The warm-up and the first overview ask for the same KPI strip at once: one scan, one answer."""
    import threading

    started, release, calls = threading.Event(), threading.Event(), []

    def slow(s: Access) -> int:
        calls.append(1)
        started.set()
        assert release.wait(30)
        return int(s.sql("SELECT count(*) AS n FROM s_events()")["n"][0])

    answers = []
    first = threading.Thread(target=lambda: answers.append(data.cached(WHO, ("same",), slow, 60, apart=True)))
    first.start()
    assert started.wait(30)
    second = threading.Thread(target=lambda: answers.append(data.cached(WHO, ("same",), slow, 60, apart=True)))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting for the first, not scanning
    release.set()
    first.join(30)
    second.join(30)
    assert len(calls) == 1 and len(answers) == 2 and answers[0] == answers[1] > 0


def test_when_an_apart_read_fails_a_caller_waiting_for_it_runs_it_itself(data):
    import threading

    started, release, calls = threading.Event(), threading.Event(), []

    def flaky(s: Access) -> int:
        calls.append(1)
        if len(calls) == 1:
            started.set()
            assert release.wait(30)
            raise RuntimeError("the first scan failed")
        return 7

    errors, answers = [], []

    def first_call() -> None:
        try:
            data.cached(WHO, ("flaky",), flaky, 60, apart=True)
        except RuntimeError as exc:
            errors.append(str(exc))

    first = threading.Thread(target=first_call)
    first.start()
    assert started.wait(30)
    second = threading.Thread(target=lambda: answers.append(data.cached(WHO, ("flaky",), flaky, 60, apart=True)))
    second.start()
    release.set()
    first.join(30)
    second.join(30)
    assert errors == ["the first scan failed"] and answers == [7] and len(calls) == 2
