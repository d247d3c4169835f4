"""Store.record_events_bulk: one attributed event per player, written all or nothing."""

from __future__ import annotations

import json

import pytest

from pipelines.errors import UserError


def test_bulk_events_are_attributed_like_single_ones(loaded):
    loaded.merge_players("PL1", "PL3", actor="ops", role="admin", reason="same person")
    n = loaded.record_events_bulk(player_ids=["PL1", "PL2", "PL3", "PL2"], event_type="tag_added",
                                  actor="mia", role="marketer", attrs={"tag": "Winter mailer"})
    assert n == 2  # PL3 resolves to PL1; PL2 listed twice
    rows = loaded.sql("SELECT * FROM events WHERE source = 'app' ORDER BY seq")
    assert rows["player_id"].to_list() == ["PL1", "PL2"]
    assert set(rows["actor"]) == {"mia"} and set(rows["role"]) == {"marketer"}
    assert [json.loads(a)["tag"] for a in rows["attrs"]] == ["Winter mailer"] * 2
    assert rows["event_id"].n_unique() == 2 and rows["seq"].n_unique() == 2
    assert rows["seq"].min() > loaded.sql("SELECT max(seq) AS s FROM events WHERE source <> 'app'")["s"][0]
    # a later single write continues the sequence
    single = loaded.record_event(player_id="PL2", event_type="note", actor="mia", role="marketer",
                                 attrs={"text": "hi"})
    assert loaded.sql("SELECT seq FROM events WHERE event_id = ?", [single])["seq"][0] == rows["seq"].max() + 1


def test_unknown_players_write_nothing(loaded):
    before = loaded.sql("SELECT count(*) AS n FROM events")["n"][0]
    with pytest.raises(UserError, match="NOPE"):
        loaded.record_events_bulk(player_ids=["PL1", "NOPE"], event_type="tag_added", actor="a", role="b")
    assert loaded.sql("SELECT count(*) AS n FROM events")["n"][0] == before
    with pytest.raises(UserError, match="actor"):
        loaded.record_events_bulk(player_ids=["PL1"], event_type="tag_added", actor="", role="b")
    assert loaded.record_events_bulk(player_ids=[], event_type="tag_added", actor="a", role="b") == 0


def test_bulk_events_carry_the_property_they_concern(loaded):
    import polars as pl

    rows = pl.DataFrame({"player_id": ["PL1", "PL2"], "property_id": ["P01", None]})
    assert loaded.record_events_bulk(player_ids=rows, event_type="tag_added", actor="a", role="b",
                                     attrs={"tag": "x"}) == 2
    got = loaded.sql("SELECT player_id, property_id FROM events WHERE source = 'app' ORDER BY player_id")
    assert got.rows() == [("PL1", "P01"), ("PL2", None)]
