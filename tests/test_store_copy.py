"""A store copied into a file of another block size holds the same rows in the same order and
answers the one-player read alike; the source is only read."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.errors import UserError
from pipelines.ingest import ingest_file
from pipelines.store import Store, copy_with_block_size
from tests.conftest import txn


def _block_size(store: Store) -> int:
    return store.sql("SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()")[
        "block_size"][0]


def test_a_copy_has_the_block_size_and_every_row_in_order(loaded, write_csv, tmp_path):
    ingest_file(loaded, "transactions", write_csv("a.csv", [txn(1, "PL1"), txn(2, "PL3", amount="5"), txn(3, "PL2")]))
    ingest_file(loaded, "transactions", write_csv("b.csv", [txn(2, "PL3", amount="7")]))  # a correction
    loaded.merge_players("PL1", "PL3", actor="a", role="admin", reason="dup")
    tables = loaded.sql("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()")
    source = {t: loaded.sql(f"SELECT * FROM {t}") for t in tables["table_name"]}
    expected = {pid: loaded.player_360(pid) for pid in ("PL1", "PL2", "PL3")}
    current = loaded.sql("SELECT * FROM events_current ORDER BY seq")
    loaded.close()
    with Store(loaded.path, read_only=True):  # a shared lock on the source: the copy must not write it
        copy = copy_with_block_size(loaded.path, tmp_path / "small.duckdb", block_size=16_384)
    with Store(copy, read_only=True) as small, Store(loaded.path, read_only=True) as big:
        assert _block_size(small) == 16_384 and _block_size(big) == 262_144
        assert set(source) == set(small.sql(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()")["table_name"])
        for table, frame in source.items():
            assert small.sql(f"SELECT * FROM {table}").equals(frame), table  # same rows, same order
        assert small.sql("SELECT * FROM events_current ORDER BY seq").equals(current)  # views too
        for pid, view in expected.items():
            got = small.player_360(pid)
            assert got["player_id"] == view["player_id"] and got["events"].equals(view["events"])
        paid = small.player_360("PL3")["events"].filter(pl.col("source") == "transactions")["amount"]
        assert sorted(paid.to_list()) == [7.0, 100.0]  # PL1's and PL3's current versions (not 5)


def test_copying_refuses_an_existing_target_a_missing_source_and_odd_block_sizes(loaded, tmp_path):
    loaded.close()
    taken = tmp_path / "taken.duckdb"
    taken.write_bytes(b"")
    with pytest.raises(UserError, match="already exists"):
        copy_with_block_size(loaded.path, taken, block_size=16_384)
    with pytest.raises(UserError, match="no such database"):
        copy_with_block_size(tmp_path / "nope.duckdb", tmp_path / "out.duckdb", block_size=16_384)
    with pytest.raises(UserError, match="expected a power of two"):
        copy_with_block_size(loaded.path, tmp_path / "out.duckdb", block_size=10_000)
    assert not (tmp_path / "out.duckdb").exists()
