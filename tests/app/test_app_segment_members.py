"""Member list, exports, bulk tags and migration state without a browser."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from app.export_segments import ExportTooLarge, export
from app.state.migration import MigrationState
from app.state.segment_members import MemberListState
from app.state.segments import SegmentsState
from app.state.session import Session
from metrics import segment_stats as S
from tests.app.demo_store import copy_store
from tests.app.segment_store import add_earlier_snapshot


def members(data, role: str = "marketer", *properties: str, **params) -> MemberListState:
    who = Session(user="mia", role=role, properties=list(properties), all_properties=not properties)
    seg = SegmentsState(data=data, session=who, scheme="spending")
    return MemberListState(segments=seg, **params)


def test_filters_compose_and_pages_cover_the_sorted_list(data):
    m = members(data)
    everyone = m.total
    assert everyone == m.segments.frame().height
    m.segment = "low"
    low = m.total
    assert 0 < low < everyone and set(m.members()["segment"].cast(pl.String)) == {"low"}
    game = m.members()["favourite_game"].drop_nulls()[0]
    m.games = [game]
    assert set(m.members()["favourite_game"]) == {game} and 0 < m.total < low
    m.clear()
    m.properties = ["P02"]
    assert all("P02" in ps for ps in m.members()["properties"].to_list())
    m.clear()
    m.lifecycle = ["active"]
    assert set(m.members()["lifecycle_live"].cast(pl.String)) == {"active"}
    m.clear()
    m.sort_by, m.descending, m.page_size = "theo_total", True, 25
    seen = []
    for page in range(1, m.pages + 1):
        m.page = page
        seen += m.page_rows()["player_id"].to_list()
    expected = m.sorted_members()["player_id"].to_list()
    assert seen == expected and len(seen) == low
    theo = m.sorted_members()["theo_total"].drop_nulls().to_list()
    assert theo == sorted(theo, reverse=True)
    m.tiers = ["bronze"]
    assert m.page == 1  # a new filter starts at the first page


def test_text_filter_and_scheme_change(data):
    m = members(data)
    first = m.page_rows().row(0, named=True)
    m.text = first["name"].split()[-1].upper()
    assert first["player_id"] in m.members()["player_id"].to_list()
    m.segment = "vip"
    m.segments.scheme = "engagement"
    assert m.segment == ""  # labels of another scheme


def test_bulk_tag_writes_one_attributed_event_per_player_at_most_once(data):
    m = members(data, segment="vip")
    vip = m.total
    assert m.bulk_tag("  Spring   mailer ")
    assert f"Tagged {vip:,} players" in m.message
    with data.store() as s:
        events = s.sql("SELECT player_id, actor, role, property_id, attrs FROM events WHERE event_type = 'tag_added'")
    assert events.height == vip and set(events["actor"]) == {"mia"} and set(events["role"]) == {"marketer"}
    assert {json.loads(a)["tag"] for a in events["attrs"]} == {"Spring mailer"}
    assert events["property_id"].null_count() == 0
    # again, any case: nobody is tagged twice; the tag filter finds them
    m.segment = ""
    assert m.bulk_tag("SPRING MAILER") and m.total > vip
    with data.store() as s:
        n = s.sql("SELECT count(*) AS n, count(DISTINCT player_id) AS p FROM events WHERE event_type = 'tag_added'")
    assert n["n"][0] == n["p"][0] == m.total
    m.tags = ["Spring mailer"]
    assert m.total == n["p"][0]
    # the player page sees the tag too
    pid = events["player_id"][0]
    from app.state.player import PlayerState

    player = PlayerState(data=data, session=Session(user="sam", role="shift_manager", all_properties=True),
                         player_id=pid)
    assert any(t["tag"] == "Spring mailer" for t in player.tags())


def test_bulk_tag_and_export_need_a_permitted_role(data, tmp_path):
    analyst = members(data, "analyst")
    assert not analyst.bulk_tag("x") and "may not tag" in analyst.message
    assert analyst.can_export() and not analyst.can_tag()
    manager = members(data, "shift_manager")
    assert manager.can_tag() and not manager.can_export()
    from pipelines.access import AccessDenied

    with pytest.raises(AccessDenied):
        manager.export("csv", tmp_path)
    m = members(data)
    assert not m.bulk_tag("   ") and not m.bulk_tag("x" * 41)


def test_a_scoped_list_tags_and_exports_only_players_in_scope(data, tmp_path):
    m = members(data, "marketer", "P02")
    assert m.total and all(ps == ["P02"] for ps in m.members()["properties"].to_list())
    assert m.bulk_tag("P02 mailer")
    with data.store() as s:
        written = s.sql("SELECT DISTINCT property_id FROM events WHERE event_type = 'tag_added'")
    assert written["property_id"].to_list() == ["P02"]
    path, rows = m.export("parquet", tmp_path)
    back = pl.read_parquet(path)
    assert rows == m.total and back["first_name"].null_count() == rows  # masked for marketers
    assert back["pseudonym"].str.starts_with("anon-").all()
    with data.store() as s:
        audit = s.sql("SELECT action, actor, role, after FROM audit_log WHERE action IN "
                      "('segment.export', 'event.tag_added') ORDER BY audit_id")
    assert audit.filter(pl.col("action") == "event.tag_added").height == m.total
    export = audit.filter(pl.col("action") == "segment.export").row(0, named=True)
    assert (export["actor"], export["role"]) == ("mia", "marketer") and json.loads(export["after"])["rows"] == rows


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_export_reads_back_as_the_filtered_sorted_list(data, tmp_path, fmt):
    m = members(data, segment="low")
    m.sort_by = "theo_total"
    path, rows = m.export(fmt, tmp_path)
    assert rows == m.total and path.suffix == f".{fmt}"
    back = {"csv": pl.read_csv, "xlsx": pl.read_excel, "parquet": pl.read_parquet}[fmt](path)
    assert back["player_id"].to_list() == m.sorted_members()["player_id"].to_list()
    assert {"first_name", "email", "segment", "scheme_version", "tier", "tags", "theo_total"} <= set(back.columns)
    assert set(back["segment"]) == {"low"}


def test_export_streams_in_batches(tmp_path):
    frame = pl.DataFrame({"player_id": [f"P{i:05d}" for i in range(2_500)], "note": ["=cmd"] * 2_500,
                          "props": [["P01", "P02"]] * 2_500})
    calls = []

    def enrich(part: pl.DataFrame) -> pl.DataFrame:
        calls.append(part.height)
        return part.with_columns(pl.lit(1).alias("extra"))
    for fmt, read in (("csv", pl.read_csv), ("parquet", pl.read_parquet), ("xlsx", pl.read_excel)):
        calls.clear()
        path, rows = export(frame, fmt, tmp_path, enrich, batch_rows=1_000)
        assert calls == [1_000, 1_000, 500] and rows == 2_500
        back = read(path)
        assert back.height == 2_500 and back["note"][0] == "'=cmd" and back["props"][0] == "P01, P02"
    with pytest.raises(ExportTooLarge):
        export(pl.DataFrame({"x": range(1_048_576)}), "xlsx", tmp_path)
    with pytest.raises(ValueError):
        export(frame, "pdf", tmp_path)


@pytest.fixture(scope="module")
def two_snapshots(demo_db, tmp_path_factory) -> Path:
    db = copy_store(demo_db, tmp_path_factory.mktemp("migration") / "p360.duckdb")
    add_earlier_snapshot(db, days=60)
    return db


def test_migration_between_two_snapshots(two_snapshots, tmp_path):
    from app.data import DataStore

    data = DataStore(copy_store(two_snapshots, tmp_path / "p360.duckdb"))
    seg = SegmentsState(data=data, session=Session(user="mia", role="marketer", all_properties=True))
    mig = MigrationState(segments=seg, scheme="engagement")
    assert mig.ready and mig.before < mig.after and not mig.why_not()
    long = mig.transitions()
    with data.store() as s:
        before = s.snapshot("player_segments", mig.before)
        after = s.snapshot("player_segments", mig.after)
    union = set(before["player_id"]) | set(after["player_id"])
    assert long["players"].sum() == len(union)
    stayed = before.join(after, on="player_id").filter(
        (pl.col("engagement") == "active") & (pl.col("engagement_right") == "cooling")).height
    assert mig.moved("active", "cooling") == stayed
    matrix = mig.matrix()
    assert matrix["total"].sum() == len(union) and matrix.columns[0] == "from"
    assert set(long["from"]) <= {S.NEW, "active", "cooling", "dormant"}
    movers = mig.movers("active", "cooling")
    assert movers.height == stayed and {"name", "theo_total"} <= set(movers.columns)
    mig.relabel = True  # both snapshots at today's thresholds: the same as stored when nothing changed
    assert mig.moved("active", "cooling") == stayed
    seg.schemes["engagement"].cooling_after_days = 5
    assert mig.transitions()["players"].sum() == len(union)
    data.close()


def test_one_snapshot_says_how_to_get_another(data):
    mig = MigrationState(segments=SegmentsState(data=data, session=Session(user="a", role="admin",
                                                                            all_properties=True)))
    assert not mig.ready and "build another day" in mig.why_not()
    assert mig.transitions().is_empty()


# Panel 1.9's Tabulator calls DataFrame.reset_index(inplace=True), which pandas 3.1 deprecates
@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
def test_the_served_download_leaves_no_export_file_behind(data, tmp_path, monkeypatch):
    """The list's download hands over the file's bytes and deletes the file: an export holds
    contact details, and nothing else would delete it."""
    import tempfile

    from app.views.segment_members import MemberListView

    exports = tmp_path / "exports"
    exports.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(exports))
    m = members(data, segment="low")
    got = MemberListView(members=m)._file("parquet")()
    back = pl.read_parquet(got)
    assert back.height == m.total and set(back["segment"]) == {"low"}
    assert list(exports.iterdir()) == []
