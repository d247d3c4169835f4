"""Batch lifecycle of chunked ingest: hidden while running, removed when interrupted, keys kept in step."""

from __future__ import annotations

import threading
from datetime import datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import schema as S
from pipelines import store_ingest
from pipelines.facts import _as_text
from pipelines.ingest import ingest_file
from pipelines.prefetch import prefetch
from pipelines.store import Store
from tests.conftest import running_batch, txn


def _visible(store: Store) -> int:
    return store.sql("SELECT count(*) AS n FROM events_current WHERE source = 'transactions'")["n"][0]


def _stored(store: Store) -> int:
    return store.sql("SELECT count(*) AS n FROM events WHERE source = 'transactions'")["n"][0]


def test_a_running_batch_is_invisible_until_it_commits(loaded, write_csv):
    path = write_csv("t.csv", [txn(i) for i in range(6)])
    seen = []

    def peek(done, total):  # called after each chunk has committed
        seen.append((done, _stored(loaded), _visible(loaded), loaded.counts()["events"], loaded.watermark()[0]))

    result = ingest_file(loaded, "transactions", path, progress=peek, chunk_rows=2)
    assert [s[:3] for s in seen] == [(2, 2, 0), (4, 4, 0), (6, 6, 0)]
    assert all(s[3] == 3 and s[4] <= 3 for s in seen)  # counts and watermark: the three players only
    assert (result.events_added, _visible(loaded), loaded.counts()["events"]) == (6, 6, 9)
    assert loaded.batch(result.batch_id)["status"] == "committed"


def test_an_interrupted_ingest_removes_its_committed_chunks(loaded, write_csv):
    path = write_csv("t.csv", [txn(i) for i in range(6)])

    def interrupt(done, total):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_file(loaded, "transactions", path, progress=interrupt, chunk_rows=2)
    assert _stored(loaded) == 0
    batch = loaded.sql("SELECT status, error FROM ingest_batches WHERE source = 'transactions'").row(0)
    assert batch[0] == "failed" and batch[1].startswith("KeyboardInterrupt") and "4 uncommitted" in batch[1]
    assert loaded.sql("SELECT count(*) AS n FROM ingest_keys")["n"][0] == 3  # the players' keys only
    again = ingest_file(loaded, "transactions", path, chunk_rows=2)
    assert (again.events_added, again.duplicates) == (6, 0)


def test_rejected_rows_of_a_failed_batch_go_with_it(loaded, write_csv):
    path = write_csv("t.csv", [txn(0, amount="x"), txn(1), txn(2, amount="y"), txn(3)])

    def interrupt(done, total):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ingest_file(loaded, "transactions", path, progress=interrupt, chunk_rows=2)
    assert loaded.sql("SELECT count(*) AS n FROM rejected_rows")["n"][0] == 0
    assert "RuntimeError: disk full" in loaded.sql("SELECT error FROM ingest_batches WHERE status = 'failed'")["error"][0]


def test_another_store_in_the_same_process_leaves_a_live_batch_alone(loaded, write_csv):
    path = write_csv("t.csv", [txn(i) for i in range(4)])

    def reopen(done, total):  # a second writer opening mid-ingest must not "recover" this batch
        Store(loaded.path).close()

    result = ingest_file(loaded, "transactions", path, progress=reopen, chunk_rows=2)
    assert (result.events_added, _visible(loaded)) == (4, 4)


def test_a_stale_batch_is_removed_by_the_next_writer(tmp_path, players_csv, write_csv):
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        ingest_file(store, "players", players_csv)
        running_batch(store, "B-stale", "PL1", datetime(2025, 1, 1), record_key="T1")
    store_ingest._LIVE.discard("B-stale")  # as if its process had died
    with Store(db, read_only=True) as reader:
        assert (_stored(reader), _visible(reader)) == (1, 0)
    with Store(db) as store:
        assert _stored(store) == 0
        assert store.batch("B-stale")["status"] == "failed"
        assert "1 uncommitted events removed" in store.batch("B-stale")["error"]


def test_key_index_matches_the_events(loaded, write_csv):
    """The ingest writes the same keys the migration derives from events (so they never drift)."""
    ingest_file(loaded, "transactions", write_csv("a.csv", [txn(1), txn(2, amount="5"), txn(2, amount="6")]))
    ingest_file(loaded, "transactions", write_csv("b.csv", [txn(2, amount="7"), txn(3)]))
    unkeyed = [{k: v for k, v in txn(i % 2).items() if k != "txn_id"} for i in range(3)]
    ingest_file(loaded, "transactions", write_csv("c.csv", unkeyed))
    stored = loaded.sql(f"SELECT * FROM {S.INGEST_KEYS} ORDER BY seq")
    derived = loaded.sql(f"{S.KEYS_FROM_EVENTS} ORDER BY seq")
    assert stored.height == 3 + 5 + 3
    assert stored.rows() == derived.rows()


def test_migration_builds_the_key_index_of_an_older_store(tmp_path, players_csv, write_csv):
    db = tmp_path / "old.duckdb"
    path = write_csv("a.csv", [txn(1), txn(2)])
    with Store(db) as store:
        ingest_file(store, "players", players_csv)
        ingest_file(store, "transactions", path)
        store.con.execute(f"DROP TABLE {S.INGEST_KEYS}")  # as a store made before migration 5
        store.con.execute(f"DELETE FROM {S.MIGRATIONS} WHERE version = 5")
    with Store(db) as store:
        assert store.sql(f"SELECT count(*) AS n FROM {S.INGEST_KEYS}")["n"][0] == 5
        again = ingest_file(store, "transactions", path)
        assert (again.events_added, again.duplicates) == (0, 2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.datetimes()), min_size=1, max_size=20))
def test_timestamp_text_is_exactly_the_cast(values):
    frame = pl.DataFrame({"ts": values}, schema={"ts": pl.Datetime("us")})
    assert frame.select(_as_text("ts"))["ts"].to_list() == frame["ts"].cast(pl.String).to_list()


def test_prefetch_hands_over_items_and_errors():
    with prefetch(iter(range(5))) as items:
        assert list(items) == [0, 1, 2, 3, 4]

    def broken():
        yield 1
        raise ValueError("bad chunk")

    with pytest.raises(ValueError, match="bad chunk"), prefetch(broken()) as items:
        list(items)


def test_prefetch_stops_the_producer_when_the_consumer_leaves():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    with pytest.raises(RuntimeError), prefetch(endless()) as items:
        for item in items:
            if item == 2:
                raise RuntimeError("stop")
    assert len(produced) <= 4  # the item in hand, the one handed over and the one being made
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]


def test_migration_9_rebuilds_events_uncompressed_keeping_rows_and_dedup(tmp_path, players_csv, write_csv):
    db = tmp_path / "old.duckdb"
    first, second = write_csv("a.csv", [txn(1), txn(2)]), write_csv("b.csv", [txn(2, amount="7"), txn(3)])
    with Store(db) as store:
        ingest_file(store, "players", players_csv)
        ingest_file(store, "transactions", first)
        ingest_file(store, "transactions", second)
        before = store.sql(f"SELECT * FROM {S.EVENTS} ORDER BY seq")
        current = store.sql(f"SELECT event_id FROM {S.EVENTS_CURRENT} ORDER BY seq")
        # as a store made before migration 9: events with DuckDB's default compression
        store.con.execute(f"DROP VIEW {S.EVENTS_CURRENT}")
        store.con.execute(S.EVENTS_DDL.format(name="_old"))
        store.con.execute(f"INSERT INTO _old SELECT * FROM {S.EVENTS}")
        store.con.execute(f"DROP TABLE {S.EVENTS}")
        store.con.execute(f"ALTER TABLE _old RENAME TO {S.EVENTS}")
        store.con.execute(S.EVENTS_CURRENT_VIEW_V5)
        store.con.execute(f"DELETE FROM {S.MIGRATIONS} WHERE version = 9")
    with Store(db) as store:
        assert store.sql(f"SELECT * FROM {S.EVENTS} ORDER BY seq").equals(before)
        assert store.sql(f"SELECT event_id FROM {S.EVENTS_CURRENT} ORDER BY seq").equals(current)
        store.con.execute("CHECKPOINT")
        kinds = store.sql(f"""SELECT column_name, list(DISTINCT compression) AS kinds
            FROM pragma_storage_info('{S.EVENTS}') WHERE segment_type = 'VARCHAR' GROUP BY ALL""")
        kinds = dict(kinds.iter_rows())
        assert all(kinds[c] == ["Uncompressed"] for c in S.UNCOMPRESSED_EVENT_COLUMNS)
        again = [ingest_file(store, "transactions", p) for p in (first, second)]
        assert [(r.events_added, r.duplicates) for r in again] == [(0, 2), (0, 2)]


def test_keyed_and_keyless_rows_in_one_chunk(loaded, write_csv):
    """A chunk mixing rows with and without a record key (ids paired by row number, not position)."""
    rows = [txn(i) if i % 2 else {**txn(i), "txn_id": ""} for i in range(6)]
    path = write_csv("mixed.csv", rows)
    first = ingest_file(loaded, "transactions", path)
    again = ingest_file(loaded, "transactions", path)
    assert (first.events_added, again.events_added, again.duplicates) == (6, 0, 6)
    keys = loaded.sql("SELECT record_key FROM events WHERE source = 'transactions' ORDER BY seq")["record_key"]
    assert [k.startswith("T") for k in keys] == [False, True, False, True, False, True]
    assert loaded.sql(f"SELECT * FROM {S.INGEST_KEYS} ORDER BY seq").rows() == \
        loaded.sql(f"{S.KEYS_FROM_EVENTS} ORDER BY seq").rows()
