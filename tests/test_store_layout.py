"""Storage layout for one-player reads: sorted runs of events, events_current with merges, the
scoped relations' rows, snapshots written sorted, and the plans DuckDB makes of one-player reads."""

from __future__ import annotations

import re

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.access import Access, Principal
from pipelines.ingest import ingest_file
from pipelines.store import Store
from tests.conftest import txn

PLAYERS = ["PL1", "PL2", "PL3"]


def _ingest(store: Store, write_csv, name: str, players: list[str], start: int) -> None:
    rows = [txn(start + i, player=p, ts=f"2025-01-{1 + i % 28:02d} 10:00:00") for i, p in enumerate(players)]
    ingest_file(store, "transactions", write_csv(name, rows))


def _players_in_scan_order(store: Store) -> list[str]:
    return store.sql("SELECT player_id FROM events")["player_id"].to_list()


def _runs(ids: list[str]) -> int:
    """Sorted runs in a sequence (1 when sorted)."""
    return 1 + sum(b < a for a, b in zip(ids, ids[1:], strict=False))


def test_keep_sorted_sorts_the_tail_into_one_more_run_then_compacts(loaded, write_csv):
    _ingest(loaded, write_csv, "a.csv", ["PL2", "PL1", "PL3", "PL1"], 0)
    ddl = "SELECT sql FROM duckdb_tables() WHERE table_name = 'events'"
    definition = loaded.sql(ddl)["sql"][0]
    loaded.compact_events()
    assert loaded.sql(ddl)["sql"][0] == definition  # same columns, constraints and compression
    assert loaded.unsorted_events() == 0
    before = set(loaded.sql("SELECT * FROM events").rows())
    _ingest(loaded, write_csv, "b.csv", ["PL3", "PL1", "PL2", "PL1", "PL3"], 100)
    assert loaded.unsorted_events() == 5
    assert loaded.keep_sorted(tail_rows=10) is None  # a short tail stays as it is
    assert loaded.keep_sorted(tail_rows=3, max_runs=8, max_share=1.0) == "tail"
    after = set(loaded.sql("SELECT * FROM events").rows())
    assert after >= before and len(after) == len(before) + 5  # same rows, nothing lost or changed
    assert loaded.unsorted_events() == 0
    assert _runs(_players_in_scan_order(loaded)) == 2
    _ingest(loaded, write_csv, "c.csv", ["PL2", "PL1", "PL3"], 200)
    assert loaded.keep_sorted(tail_rows=3, max_runs=2, max_share=1.0) == "full"  # a third run would be one too many
    assert _runs(_players_in_scan_order(loaded)) == 1
    assert len(loaded.sql("SELECT * FROM events").rows()) == len(after) + 3


def test_sorted_prefix_is_measured_when_never_recorded(loaded, write_csv):
    _ingest(loaded, write_csv, "a.csv", ["PL1", "PL2", "PL3", "PL1", "PL2"], 0)  # scan order: 1 2 3 | 1 2
    loaded.con.execute("DELETE FROM settings WHERE key = 'events_sorted'")
    players_events = loaded.sql("SELECT count(*) AS n FROM events WHERE player_id LIKE 'PL%'")["n"][0]
    unsorted = loaded.unsorted_events()
    assert 0 < unsorted < players_events + 10
    loaded.compact_events()
    assert loaded.unsorted_events() == 0


def test_compaction_sorts_player_properties_and_keeps_its_key(loaded):
    before = set(loaded.sql("SELECT * FROM player_properties").rows())
    loaded.compact_events()
    assert set(loaded.sql("SELECT * FROM player_properties").rows()) == before
    ids = loaded.sql("SELECT player_id FROM player_properties")["player_id"].to_list()
    assert ids == sorted(ids)
    ddl = loaded.sql("SELECT sql FROM duckdb_tables() WHERE table_name = 'player_properties'")["sql"][0]
    assert "PRIMARY KEY(player_id, property_id)" in ddl


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(owners=st.lists(st.sampled_from(PLAYERS), min_size=1, max_size=12),
       merge=st.sampled_from([None, ("PL1", "PL3"), ("PL2", "PL1")]),
       correct=st.booleans())
def test_events_current_resolves_merges_and_corrections_like_a_direct_query(tmp_path_factory, players_csv, owners,
                                                                            merge, correct):
    """The two-branch view has exactly the rows of the plain definition (survivor id, no superseded
    version), and filtering it by one player gives that player's rows."""
    import itertools

    folder = tmp_path_factory.mktemp("ec")
    counter = itertools.count()
    with Store(folder / "s.duckdb") as store:
        ingest_file(store, "players", players_csv, actor="t")

        def write(rows):
            path = folder / f"t{next(counter)}.csv"
            pl.DataFrame(rows, schema={c: pl.String for c in rows[0]}).write_csv(path)
            ingest_file(store, "transactions", path)

        write([txn(i, player=p) for i, p in enumerate(owners)])
        if correct:  # a new version of the first record supersedes the old one
            write([txn(0, player=owners[0], amount="7")])
        if merge:
            store.merge_players(*merge, actor="a", role="admin", reason="dup")
        expected = store.sql(
            """SELECT e.* REPLACE (coalesce(a.survivor_id, e.player_id) AS player_id) FROM events e
            LEFT JOIN player_aliases a ON a.merged_id = e.player_id
            WHERE e.event_id NOT IN (SELECT corrects_event_id FROM events WHERE corrects_event_id IS NOT NULL)""")
        got = store.sql("SELECT * FROM events_current")
        assert sorted(got.rows()) == sorted(expected.rows())
        for player in PLAYERS:
            one = store.sql("SELECT * FROM events_current WHERE player_id = ?", [player])
            assert sorted(one.rows()) == sorted(expected.filter(pl.col("player_id") == player).rows())


def test_scoped_events_have_no_duplicates_for_every_scope(loaded, write_csv):
    ingest_file(loaded, "transactions", write_csv("t.csv", [txn(1, "PL1"), txn(2, "PL2")]))
    loaded.record_event(player_id="PL1", event_type="note", actor="a", role="admin",
                        attrs={"text": "no property", "visibility": "all"})
    everyone = Access(loaded, Principal("boss", "admin", None)).sql("SELECT event_id FROM s_events()")
    assert everyone["event_id"].n_unique() == everyone.height
    assert everyone.height == loaded.sql("SELECT count(*) AS n FROM events_current")["n"][0]
    scoped = Access(loaded, Principal("h", "host", ("P01",))).sql("SELECT event_id FROM s_events()")
    assert scoped["event_id"].n_unique() == scoped.height > 0


def test_write_snapshot_stores_rows_sorted_by_player(store):
    frame = pl.DataFrame({"player_id": ["PL3", "PL1", "PL2", "PL1"], "x": [3, 1, 2, 4]})
    with store.transaction():
        store.write_snapshot("player_insights", frame.with_columns(pl.lit("2025-01-01").str.to_date().alias("as_of")),
                             "2025-01-01")
    rows = store.sql("SELECT player_id, x FROM player_insights").rows()
    assert rows == [("PL1", 1), ("PL1", 4), ("PL2", 2), ("PL3", 3)]  # stable within a player


def test_write_snapshot_keeps_the_rows_of_an_unevenly_chunked_frame(store):
    ids = pl.concat([pl.Series("player_id", [f"PL{k:03d}" for k in range(n, n + 5)]) for n in (0, 5, 10)])
    frame = pl.DataFrame({"player_id": ids, "x": list(range(15))}).with_columns(
        pl.Series("y", [float(k) / 3 for k in range(15)]), pl.lit("2025-01-01").str.to_date().alias("as_of"))
    assert len(set(frame.n_chunks("all"))) > 1  # the shape a join leaves, which write_snapshot makes contiguous
    with store.transaction():
        store.write_snapshot("player_insights", frame, "2025-01-01")
    assert store.sql("SELECT player_id, x, y, as_of FROM player_insights").rows() == frame.rows()


def _plan(store: Store, query: str, params: list) -> str:
    store.con.execute("PRAGMA enable_profiling = 'no_output'")
    try:
        return "\n".join(r[1] for r in store.con.execute("EXPLAIN " + query, params).fetchall())
    finally:
        store.con.execute("PRAGMA disable_profiling")


def test_one_player_filters_reach_the_events_scan_with_merges_present(loaded, write_csv):
    """With a merge on record the player filter must still be a filter of the events scan (the old
    view's coalesce turned every one-player read into a scan of all events)."""
    ingest_file(loaded, "transactions", write_csv("t.csv", [txn(1, "PL1"), txn(2, "PL3")]))
    loaded.merge_players("PL1", "PL3", actor="a", role="admin", reason="dup")
    plan = _plan(loaded, "SELECT * FROM events_current WHERE player_id = 'PL2'", [])
    assert re.search(r"player_id\s*=\s*'PL2'", plan), plan


def test_player_properties_are_sorted_again_once_their_tail_grows(loaded, write_csv):
    loaded.compact_events()
    assert loaded._unsorted_tail("player_properties") == 0
    assert loaded.keep_properties_sorted(tail_rows=1) is False
    loaded.con.execute("INSERT INTO player_properties SELECT 'PL0', 'P09', NULL, NULL, NULL, NULL, NULL, now()")
    before = set(loaded.sql("SELECT * FROM player_properties").rows())
    assert loaded._unsorted_tail("player_properties") == 1
    assert loaded.keep_properties_sorted(tail_rows=2) is False
    assert loaded.keep_properties_sorted(tail_rows=1) is True
    assert set(loaded.sql("SELECT * FROM player_properties").rows()) == before
    assert loaded._unsorted_tail("player_properties") == 0
