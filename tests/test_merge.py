"""Manual merges: every read resolves a merged id to its survivor; unmerge restores it."""

from __future__ import annotations

import pytest

from pipelines.errors import UserError
from pipelines.ingest import ingest_file
from tests.conftest import txn


@pytest.fixture
def with_play(loaded, write_csv):
    rows = [txn(1, "PL1"), txn(2, "PL3"), txn(3, "PL3")]
    ingest_file(loaded, "transactions", write_csv("t.csv", rows))
    return loaded


def _events_of(store, player):
    return store.sql("SELECT count(*) AS n FROM events_current WHERE player_id = ? AND source='transactions'",
                     [player])["n"][0]


def test_merge_resolves_reads_to_the_survivor(with_play):
    with_play.merge_players("PL1", "PL3", actor="ana", role="admin", reason="same DOB and e-mail")
    assert with_play.resolve_player("PL3") == "PL1"
    assert _events_of(with_play, "PL1") == 3
    assert _events_of(with_play, "PL3") == 0
    assert with_play.player_events("PL3")["player_id"].unique().to_list() == ["PL1"]
    log = with_play.table("player_merges").row(0, named=True)
    assert (log["action"], log["actor"], log["role"], log["reason"]) == ("merge", "ana", "admin", "same DOB and e-mail")
    assert log["merged_at"] is not None


def test_unmerge_restores_and_is_logged(with_play):
    with_play.merge_players("PL1", "PL3", actor="ana", role="admin", reason="dup")
    with_play.unmerge_players("PL3", actor="bo", role="admin", reason="different people")
    assert with_play.resolve_player("PL3") == "PL3"
    assert _events_of(with_play, "PL3") == 2
    assert with_play.table("player_merges")["action"].to_list() == ["merge", "unmerge"]


def test_chains_resolve_transitively(with_play):
    with_play.merge_players("PL2", "PL3", actor="a", role="admin", reason="dup")
    with_play.merge_players("PL1", "PL2", actor="a", role="admin", reason="dup")
    assert with_play.resolve_player("PL3") == "PL1"
    assert _events_of(with_play, "PL1") == 3


@pytest.mark.parametrize(
    ("survivor", "merged", "reason", "message"),
    [("PL1", "PL1", "x", "into itself"), ("PL1", "PL9", "x", "must exist"), ("PL1", "PL3", " ", "needs a reason")],
)
def test_bad_merges_are_refused(with_play, survivor, merged, reason, message):
    with pytest.raises(UserError, match=message):
        with_play.merge_players(survivor, merged, actor="a", role="admin", reason=reason)


def test_cycles_are_refused(with_play):
    with_play.merge_players("PL1", "PL3", actor="a", role="admin", reason="dup")
    with pytest.raises(UserError, match="already merged"):
        with_play.merge_players("PL3", "PL1", actor="a", role="admin", reason="dup")
