"""The event summary behind the app's data clock equals a direct scan, whatever was folded when."""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import schema as S
from pipelines.access import Access, Principal
from pipelines.ingest import ingest_file
from pipelines.store import Store
from tests.conftest import txn


def _direct(store: Store, properties: tuple[str, ...] | None, since: int | None) -> dict:
    where = "TRUE" if properties is None else f"property_id IN {S.sql_list(properties)}"
    row = store.sql(
        f"""SELECT count(*) AS events, max(seq) AS max_seq, max(ts) FILTER (WHERE source <> 'app') AS newest_ts,
            max(recorded_at) AS newest_recorded, count(*) FILTER (WHERE seq > ?) AS events_after
        FROM events WHERE {S.VISIBLE} AND {where}""", [since if since is not None else 2**62]).row(0, named=True)
    return row | {"events_after": row["events_after"] if since is not None else None}


def _ingest(store: Store, write_csv, name: str, rows: list[dict]) -> None:
    ingest_file(store, "transactions", write_csv(name, rows), actor="tester")


def test_clock_before_and_after_folding(loaded, write_csv):
    _ingest(loaded, write_csv, "a.csv", [txn(i, ts=f"2025-01-0{1 + i} 10:00:00") for i in range(4)])
    before = loaded.event_clock(None, 0)
    assert before == _direct(loaded, None, 0)
    assert loaded.refresh_event_stats() == loaded.watermark()[0]  # no build yet: everything folds
    assert loaded.event_clock(None, 0) == before
    assert loaded.event_clock(("P01",), None) == _direct(loaded, ("P01",), None)
    loaded.record_event(player_id="PL1", event_type="note", actor="ann", role="host", attrs={"text": "hi"},
                        property_id="P02")
    now = loaded.event_clock(None, before["max_seq"])
    assert now == _direct(loaded, None, before["max_seq"]) and now["events_after"] == 1
    assert now["newest_ts"] == before["newest_ts"]  # an app write does not move the data clock


def test_the_summary_never_passes_a_running_batch(loaded, write_csv):
    _ingest(loaded, write_csv, "a.csv", [txn(i) for i in range(3)])
    loaded.con.execute(f"UPDATE {S.INGEST_BATCHES} SET status = 'running' WHERE source = 'transactions'")
    first_hidden = loaded.sql("SELECT min(seq) AS s FROM events WHERE source = 'transactions'")["s"][0]
    assert loaded.refresh_event_stats() == first_hidden - 1
    loaded.con.execute(f"UPDATE {S.INGEST_BATCHES} SET status = 'committed' WHERE source = 'transactions'")
    assert loaded.event_clock(None, None) == _direct(loaded, None, None)  # the batch now counts


def test_scope_and_roles(loaded, write_csv):
    _ingest(loaded, write_csv, "a.csv", [txn(1), {**txn(2, player="PL3"), "property_id": "P02"}])
    loaded.refresh_event_stats()
    p01 = Access(loaded, Principal("h", "host", ("P01",))).data_clock()
    assert p01 == _direct(loaded, ("P01",), None)
    assert Access(loaded, Principal("h", "host", ("P01",))).data_clock(("P02",))["events"] == 0  # out of scope
    assert Access(loaded, Principal("a", "admin", None)).data_clock()["events"] == _direct(loaded, None, None)["events"]
    assert Access(loaded, Principal("x", "host", ())).data_clock()["events"] == 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["ingest", "note", "fold", "build_mark"]), st.integers(1, 4)),
                min_size=1, max_size=8))
def test_any_order_of_writes_and_folds_matches_a_scan(tmp_path_factory, write_csv, players_csv, steps):
    db = tmp_path_factory.mktemp("stats") / "p.duckdb"
    with Store(db) as store:
        ingest_file(store, "players", players_csv, actor="tester")
        n = 0
        for step, (kind, k) in enumerate(steps):
            if kind == "ingest":
                _ingest(store, write_csv, f"t{n}.csv", [txn(n + i, player=f"PL{1 + i % 3}") for i in range(k)])
                n += k
            elif kind == "note":
                store.record_event(player_id=f"PL{k % 3 + 1}", event_type="note", actor="ann", role="host",
                                   attrs={"text": "x"}, property_id=None if k == 4 else "P01",
                                   ts=datetime(2025, 2, k))
            elif kind == "build_mark":  # a build saw every event so far: the summary may fold up to it
                store.con.execute(f"INSERT INTO {S.BUILDS} (build_id, as_of, status, max_seq, actor, role, "
                                  f"started_at) VALUES ('B{step}', DATE '2025-01-01', 'done', "
                                  "(SELECT max(seq) FROM events), 'bench', 'etl', now()::TIMESTAMP)")
            else:
                store.refresh_event_stats()
            for scope in (None, ("P01",), ("P02",), ("P01", "P02")):
                since = store.watermark()[0] - k
                assert store.event_clock(scope, since) == _direct(store, scope, since)


def test_a_long_tail_is_folded_on_request_only(loaded, write_csv, monkeypatch):
    from pipelines import store_stats

    _ingest(loaded, write_csv, "a.csv", [txn(i) for i in range(5)])
    monkeypatch.setattr(store_stats, "FOLD_AFTER", 3)
    before = loaded.event_clock(None, None)
    assert loaded.sql("SELECT count(*) AS n FROM event_stats")["n"][0] == 0  # reads never write
    assert loaded.fold_event_stats_if_long() and not loaded.fold_event_stats_if_long()
    assert loaded.event_clock(None, None) == before


def test_a_read_only_open_reads_without_folding(tmp_path, players_csv):
    db = tmp_path / "p.duckdb"
    with Store(db) as store:
        ingest_file(store, "players", players_csv, actor="tester")
    with Store(db, read_only=True) as store:
        assert store.event_clock(None, None) == _direct(store, None, None)
        assert not store.fold_event_stats_if_long()
        assert store.sql("SELECT count(*) AS n FROM event_stats")["n"][0] == 0
