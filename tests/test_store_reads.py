"""One-player reads on a frozen (read-only) connection keep their fixed lookups; a connection that
can see writes asks them on every read."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime
from typing import Any

import polars as pl
import pytest

from pipelines import store_ingest, store_layout
from pipelines.ingest import ingest_file
from pipelines.store import Store
from tests.conftest import running_batch, txn

FIXED = ("FROM builds", "FROM ingest_batches", "FROM player_aliases", "FROM player_card_layout")


class Counting:
    """A connection that counts the statements naming each fixed lookup's table."""

    def __init__(self, con: Any):
        self._con, self.asked = con, dict.fromkeys(FIXED, 0)

    def execute(self, query: str, *args: Any) -> Any:
        for key in FIXED:
            self.asked[key] += key in query
        return self._con.execute(query, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _history(store: Store, write_csv) -> None:
    """Events of three players, a correction, a merge (PL3 into PL1) and a batch of PL1 left
    'running' by a process that died (its event must stay hidden from every reader)."""
    ingest_file(store, "transactions", write_csv("a.csv", [txn(1, "PL1"), txn(2, "PL3", amount="5"), txn(3, "PL2")]))
    ingest_file(store, "transactions", write_csv("b.csv", [txn(2, "PL3", amount="7")]))
    store.merge_players("PL1", "PL3", actor="a", role="admin", reason="dup")
    running_batch(store, "B-dead", "PL1", datetime(2025, 1, 2))
    store_ingest._LIVE.discard("B-dead")  # as if its process had died: a read-only open keeps it 'running'


def _view(store: Store, pid: str) -> tuple[str, list[tuple[Any, ...]]]:
    got = store.player_360(pid)
    return got["player_id"], got["events"].rows()


@pytest.mark.parametrize("long_timeline", [False, True])
def test_a_read_only_store_reads_what_a_writable_one_reads(loaded, write_csv, monkeypatch, long_timeline):
    if long_timeline:  # the two queries of a player with more than WHOLE_TIMELINE events
        monkeypatch.setattr(store_layout, "WHOLE_TIMELINE", 0)
    _history(loaded, write_csv)
    expected = {pid: _view(loaded, pid) for pid in ("PL1", "PL2", "PL3", "NOPE")}
    assert expected["PL3"] == expected["PL1"] and expected["PL1"][0] == "PL1"
    events = loaded.player_360("PL1")["events"].filter(pl.col("source") == "transactions")
    assert sorted(events["amount"].to_list()) == [7.0, 100.0]  # not 5 (corrected) nor 1 (hidden batch)
    loaded.close()
    with Store(loaded.path, read_only=True) as reader:
        assert reader.frozen
        for _ in range(2):  # the second round from the kept lookups
            assert {pid: _view(reader, pid) for pid in expected} == expected
        other = reader.cursor()
        assert other.frozen and _view(other, "PL3") == expected["PL3"]
        other.close()


def test_a_frozen_store_asks_the_fixed_lookups_once_a_writable_one_every_read(loaded, write_csv):
    _history(loaded, write_csv)
    loaded.con = counting = Counting(loaded.con)
    for pid in ("PL1", "PL3", "PL2"):
        loaded.player_360(pid)
    assert counting.asked["FROM builds"] == 3 and counting.asked["FROM ingest_batches"] == 3
    assert counting.asked["FROM player_aliases"] >= 3
    loaded.con = counting._con
    loaded.close()
    with Store(loaded.path, read_only=True) as reader:
        reader.con = counting = Counting(reader.con)
        for pid in ("PL1", "PL3", "PL2", "PL3"):
            reader.player_360(pid)
        assert counting.asked == {"FROM builds": 1, "FROM ingest_batches": 1, "FROM player_aliases": 1,
                                  "FROM player_card_layout": 0}  # no build: no cards to read


def test_a_writable_store_and_its_cursor_see_each_write_at_once(loaded, write_csv):
    ingest_file(loaded, "transactions", write_csv("a.csv", [txn(1, "PL1"), txn(2, "PL3", amount="5")]))
    other = loaded.cursor()
    assert not other.frozen
    assert _view(loaded, "PL3")[0] == "PL3" and _view(other, "PL3")[0] == "PL3"
    both = len(_view(other, "PL1")[1]) + len(_view(other, "PL3")[1])
    loaded.merge_players("PL1", "PL3", actor="a", role="admin", reason="dup")
    assert _view(loaded, "PL3")[0] == "PL1" and _view(other, "PL3")[0] == "PL1"
    assert len(_view(other, "PL1")[1]) == both  # the merged id's events too
    seen = []

    def peek(done, total):  # inside the running batch: its committed chunk stays hidden
        seen.append(len(_view(loaded, "PL2")[1]))

    before = len(_view(loaded, "PL2")[1])
    ingest_file(loaded, "transactions", write_csv("b.csv", [txn(7, "PL2"), txn(8, "PL2")]), progress=peek, chunk_rows=1)
    assert seen == [before, before]
    assert len(_view(loaded, "PL2")[1]) == before + 2 and len(_view(other, "PL2")[1]) == before + 2
    other.close()


def test_no_process_can_write_the_file_while_a_read_only_store_is_open(loaded):
    """What freezing rests on: a read-only open holds the file against every writer."""
    loaded.close()
    writer = textwrap.dedent("""
        import sys
        from pipelines.errors import UserError
        from pipelines.store import Store
        try:
            Store(sys.argv[1]).close()
        except UserError as exc:
            print(exc)
            sys.exit(3)
        """)
    with Store(loaded.path, read_only=True):
        run = subprocess.run([sys.executable, "-c", writer, str(loaded.path)], capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 3 and "in use by another process" in run.stdout
        with pytest.raises(Exception, match="different configuration"):  # nor this process
            Store(loaded.path)
    run = subprocess.run([sys.executable, "-c", writer, str(loaded.path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
