"""Store maintenance and reads: migrations, compaction keeps every event, one player's 360 read."""

from __future__ import annotations

import pytest

from pipelines import schema as S
from pipelines.ingest import ingest_file
from pipelines.store import Store
from tests.conftest import txn


def test_migrations_are_recorded_and_idempotent(tmp_path):
    path = tmp_path / "m.duckdb"
    with Store(path) as store:
        assert store.schema_version() == S.MIGRATIONS_LIST[-1][0]
    with Store(path) as store:
        assert store.migrate() == []
        versions = store.sql("SELECT version FROM schema_migrations ORDER BY version")["version"].to_list()
        assert versions == [v for v, _, _ in S.MIGRATIONS_LIST]


def test_compaction_keeps_every_event(loaded, write_csv):
    rows = [txn(i, player=p) for i, p in enumerate(["PL2", "PL1", "PL3", "PL1", "PL2"])]
    ingest_file(loaded, "transactions", write_csv("t.csv", rows))
    before = set(loaded.sql("SELECT * FROM events").rows())
    assert loaded.compact_events() == len(before)
    assert set(loaded.sql("SELECT * FROM events").rows()) == before
    players = loaded.sql("SELECT player_id FROM events")["player_id"].to_list()
    assert players == sorted(players)
    assert loaded.sql("SELECT count(*) AS n FROM events_current")["n"][0] == len(before)


def test_player_360_reads_merged_ids_and_skips_superseded_versions(loaded, write_csv):
    ingest_file(loaded, "transactions", write_csv("a.csv", [txn(1, "PL1"), txn(2, "PL3", amount="5")]))
    ingest_file(loaded, "transactions", write_csv("b.csv", [txn(2, "PL3", amount="7")]))
    loaded.merge_players("PL1", "PL3", actor="a", role="admin", reason="dup")
    view = loaded.player_360("PL3")
    assert view["player_id"] == "PL1"
    events = view["events"].filter(view["events"]["source"] == "transactions")
    assert sorted(events["amount"].to_list()) == [7.0, 100.0]
    assert view["player_metrics"] is None  # no build yet: shown as missing, not an error


def test_app_writes_are_attributed_events_and_edits_supersede(loaded):
    first = loaded.record_event(player_id="PL1", event_type="note", actor="hana", role="host",
                                attrs={"text": "likes the quiet tables", "visibility": "all"})
    edit = loaded.record_event(player_id="PL1", event_type="note", actor="hana", role="host",
                               attrs={"text": "likes the quiet baccarat tables", "visibility": "all"},
                               corrects_event_id=first)
    rows = loaded.sql("SELECT event_id, actor, role, source, attrs->>'text' AS text FROM events_current "
                      "WHERE event_type = 'note'")
    assert rows.rows() == [(edit, "hana", "host", "app", "likes the quiet baccarat tables")]
    history = loaded.sql("SELECT count(*) AS n FROM events WHERE event_type = 'note'")["n"][0]
    assert history == 2  # the edit keeps the old text


def test_app_writes_need_actor_role_and_a_known_player(loaded):
    import pytest

    from pipelines.errors import UserError

    with pytest.raises(UserError, match="actor and a role"):
        loaded.record_event(player_id="PL1", event_type="tag_added", actor="", role="host")
    with pytest.raises(UserError, match="unknown player"):
        loaded.record_event(player_id="NOPE", event_type="tag_added", actor="a", role="host")


def _compression(store: Store, table: str) -> set[str]:
    return set(store.sql(f"SELECT DISTINCT compression FROM pragma_storage_info('{table}') "
                         "WHERE column_name = 'player_id'")["compression"])


def test_migration_14_stores_player_ids_uncompressed_and_keeps_rows_and_keys(tmp_path):
    with Store(tmp_path / "m.duckdb") as store:
        # a per-player table as a store before migration 14 had it: the player id compressed
        store.con.execute("DROP TABLE player_properties")
        store.con.execute(S._V1[2])
        store.con.execute("CREATE TABLE player_metrics (player_id VARCHAR, as_of DATE, visits BIGINT)")
        store.con.execute("""INSERT INTO player_properties SELECT 'PL' || lpad(i::VARCHAR, 7, '0'), 'P01', NULL, NULL,
                             NULL, 'gold', ['vip'], TIMESTAMP '2026-01-01' FROM range(150000) r(i)""")
        store.con.execute("INSERT INTO player_metrics SELECT 'PL' || lpad(i::VARCHAR, 7, '0'), DATE '2026-01-01', i "
                          "FROM range(150000) r(i)")
        store.con.execute("CHECKPOINT")
        assert "Uncompressed" not in _compression(store, "player_properties")
        before = {t: store.sql(f"SELECT * FROM {t}") for t in ("player_properties", "player_metrics")}
        S._player_id_uncompressed(store.con)
        store.con.execute("CHECKPOINT")
        for table, rows in before.items():
            assert _compression(store, table) <= {"Uncompressed", "Constant"}, table
            assert store.sql(f"SELECT * FROM {table}").equals(rows), table  # same rows, same order
        with pytest.raises(Exception, match="(?i)constraint"):  # the primary key is still there
            store.con.execute("INSERT INTO player_properties VALUES ('PL0000001', 'P01', NULL, NULL, NULL, NULL, NULL, "
                              "TIMESTAMP '2026-01-02')")
        S._player_id_uncompressed(store.con)  # a second run finds nothing to do


def test_settings_restore_the_memory_limit_exactly_after_any_number_of_builds(tmp_path, monkeypatch):
    # DuckDB shows 4GB as "3.7 GiB"; restoring the shown text lost 0.1 GiB per build session
    monkeypatch.setenv("PLAYER360_MEMORY_LIMIT", "4GB")

    def limit(store: Store) -> str:
        return store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]

    with Store(tmp_path / "s.duckdb") as store:
        opened = limit(store)
        for _ in range(3):
            with store.build_session("1GB"):
                with store.build_session("64MB"):
                    assert limit(store) == "61.0 MiB"
                assert limit(store) == "953.6 MiB"
            assert limit(store) == opened
        with pytest.raises(RuntimeError), store.settings(memory_limit="2GB", preserve_insertion_order=False):
            raise RuntimeError("a failed block restores too")
        assert limit(store) == opened
        assert store.con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0] is True
