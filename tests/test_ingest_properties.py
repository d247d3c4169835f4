"""Hypothesis properties of ingestion: idempotency, split invariance, conservation, corrections."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ingest import ingest_file
from pipelines.schema import KEYS_FROM_EVENTS
from pipelines.store import Store
from tests.conftest import PLAYERS

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

rows_strategy = st.lists(
    st.fixed_dictionaries({
        "txn_id": st.integers(0, 30).map(lambda i: f"T{i}"),
        "player_id": st.sampled_from(["PL1", "PL2", "PL3", "GHOST", ""]),
        "amount": st.sampled_from(["10", "25.5", "-3", "abc", "0"]),
        "ts": st.sampled_from(["2025-01-01 10:00", "2025-01-02", "not a date", "2025-03-04T05:06:07"]),
    }),
    min_size=1, max_size=40,
)


def _fresh(tmp: Path) -> Store:
    store = Store(tmp / "p.duckdb")
    players = tmp / "players.csv"
    pl.DataFrame(PLAYERS).write_csv(players)
    ingest_file(store, "players", players)
    return store


def _write(tmp: Path, name: str, rows: list[dict]) -> Path:
    path = tmp / name
    frame = pl.DataFrame(rows, schema={"txn_id": pl.String, "player_id": pl.String, "amount": pl.String, "ts": pl.String})
    frame.with_columns(property_id=pl.lit("P01"), type=pl.lit("buy_in")).write_csv(path)
    return path


def _event_set(store: Store) -> set[tuple]:
    return set(store.sql("SELECT event_id, record_key, amount, ts FROM events WHERE source='transactions'").rows())


@SETTINGS
@given(rows=rows_strategy, cuts=st.lists(st.integers(0, 40), min_size=1, max_size=4), overlap=st.integers(0, 5),
       chunk_rows=st.integers(1, 50))
def test_any_overlapping_split_gives_the_same_event_set(rows, cuts, overlap, chunk_rows):
    """Whatever the files and the chunks they are read in (chunks commit one by one)."""
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        whole = _fresh(Path(a))
        ingest_file(whole, "transactions", _write(Path(a), "all.csv", rows), chunk_rows=chunk_rows)
        parts = _fresh(Path(b))
        bounds = sorted({0, len(rows), *[min(c, len(rows)) for c in cuts]})
        for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            chunk = rows[max(lo - overlap, 0):hi]
            if chunk:
                ingest_file(parts, "transactions", _write(Path(b), f"part{i}.csv", chunk))
        assert _event_set(whole) == _event_set(parts)
        whole.close()
        parts.close()


@SETTINGS
@given(rows=rows_strategy, repeats=st.integers(1, 3), chunk_rows=st.integers(1, 50))
def test_conservation_and_idempotency(rows, repeats, chunk_rows):
    with tempfile.TemporaryDirectory() as d:
        store = _fresh(Path(d))
        path = _write(Path(d), "t.csv", rows)
        results = [ingest_file(store, "transactions", path, chunk_rows=chunk_rows) for _ in range(repeats)]
        for r in results:
            assert r.rows_read == len(rows) == r.events_added + r.duplicates + r.rejected
        assert all(r.events_added == 0 for r in results[1:])
        assert sum(r.events_added for r in results) == len(_event_set(store))
        batches = store.sql("SELECT sum(events_added) AS a, sum(rejected) AS r FROM ingest_batches WHERE source='transactions'")
        assert batches["a"][0] == len(_event_set(store))
        assert store.sql("SELECT count(*) AS n FROM rejected_rows")["n"][0] == batches["r"][0]
        keys = store.sql("SELECT * FROM ingest_keys ORDER BY seq").rows()
        assert keys == store.sql(f"{KEYS_FROM_EVENTS} ORDER BY seq").rows()  # the index never drifts
        store.close()


@SETTINGS
@given(amounts=st.lists(st.sampled_from(["1", "2", "3"]), min_size=1, max_size=6))
def test_the_last_version_of_a_record_is_current(amounts):
    with tempfile.TemporaryDirectory() as d:
        store = _fresh(Path(d))
        for i, amount in enumerate(amounts):
            row = {"txn_id": "T1", "player_id": "PL1", "amount": amount, "ts": "2025-01-01 10:00"}
            ingest_file(store, "transactions", _write(Path(d), f"v{i}.csv", [row]))
        # Re-sending an earlier version is a replay (a duplicate), so the newest *new* content wins.
        distinct = list(dict.fromkeys(amounts))
        current = store.sql("SELECT amount FROM events_current WHERE source='transactions'")
        assert current["amount"].to_list() == [float(distinct[-1])]
        versions = store.sql("SELECT count(*) AS n FROM events WHERE source='transactions'")["n"][0]
        assert versions == len(distinct)
        store.close()
