"""Segmentation dashboard state without a browser: live relabelling, saving versions, scope."""

from __future__ import annotations

import polars as pl
import pytest

from app.data_segments import SegmentData
from app.state.segments import SegmentsState
from app.state.session import Session
from pipelines.build import build
from pipelines.store import Store


def analyst(*properties: str) -> Session:
    return Session(user="ana", role="analyst", properties=list(properties), all_properties=not properties)


def test_live_labels_at_the_saved_thresholds_are_the_builds_labels(data):
    seg = SegmentsState(data=data, session=analyst())
    with data.store() as s:
        stored = s.snapshot("player_segments", seg.as_of)
    for name, scheme in seg.schemes.items():
        live = seg.labels(name).rename({name: "live"})
        both = live.join(stored.select("player_id", pl.col(scheme.label_column()).cast(pl.String).alias("built")),
                         on="player_id")
        assert both.height == stored.height, name
        assert (both["live"].cast(pl.String) == both["built"]).all(), name


def test_moving_a_threshold_relabels_without_reading_the_store_again(data):
    seg = SegmentsState(data=data, session=analyst(), scheme="spending")
    before = seg.summary()
    reads = SegmentData.of(data).frame_reads
    revision = seg.revision
    seg.current.vip_above = 100_000  # the same Param object the app's slider is bound to
    after = seg.summary()
    assert seg.revision == revision + 1
    assert after["players"].sum() == before["players"].sum() == seg.frame().height
    vip = dict(zip(after["segment"], after["players"], strict=True))["vip"]
    assert vip < dict(zip(before["segment"], before["players"], strict=True))["vip"]
    assert vip == seg.frame().filter(pl.col("cash_in_total") > 100_000).height
    assert after["players_share"].sum() == pytest.approx(1.0)
    assert SegmentData.of(data).frame_reads == reads  # relabelled in memory
    seg.refresh()
    assert seg.seconds > 0


def test_crosstab_profiles_and_histogram_agree_with_the_counts(data):
    seg = SegmentsState(data=data, session=analyst(), scheme="worth", compare="lifecycle")
    summary = seg.summary()
    cross = seg.crosstab().group_by("row").agg(pl.col("players").sum())
    assert dict(cross.iter_rows()) == dict(zip(summary["segment"], summary["players"], strict=True))
    profiles = seg.profiles()
    assert profiles["players"].to_list() == summary["players"].to_list()
    assert "health_score" in profiles.columns
    seg.distribution = "theo_total"
    finite = seg.frame()["theo_total"].is_not_null().sum()
    assert seg.histogram()["players"].sum() == finite


def test_a_scoped_session_segments_only_the_players_it_sees(data):
    everyone = SegmentsState(data=data, session=analyst(), scheme="worth")
    p01 = SegmentsState(data=data, session=analyst("P01"), scheme="worth")
    assert 0 < p01.frame().height < everyone.frame().height
    assert set(p01.frame()["player_id"]) <= set(everyone.frame()["player_id"])
    assert p01.frame()["properties"].to_list() == [["P01"]] * p01.frame().height  # other links are not shown
    assert p01.summary()["players"].sum() == p01.frame().height
    # quantile bands are cut over the population the user sees ("the top 10 % of my players")
    from metrics.segments import segment_all

    alone = segment_all(p01.frame(), [p01.schemes["worth"]])
    assert p01.labels("worth")["worth"].to_list() == alone["worth"].to_list()
    # analysts see pseudonyms, never names
    assert p01.frame()["name"].str.starts_with("anon-").all()


def test_save_needs_a_permitted_role_and_a_reason_and_the_next_build_uses_it(data):
    host = SegmentsState(data=data, session=Session(user="mia", role="marketer", all_properties=True),
                         scheme="spending")
    host.current.vip_above = 250.0
    assert not host.save("because") and "may not save" in host.message
    seg = SegmentsState(data=data, session=analyst(), scheme="spending")
    seg.current.vip_above = 250.0
    assert seg.dirty()
    assert not seg.save("  ") and "why" in seg.message.lower()
    assert seg.save("VIP line at 250 for the spring mailer")
    assert seg.current.version == 2 and not seg.dirty()
    history = seg.history()
    newest = history.row(0, named=True)
    assert {k: newest[k] for k in ("version", "saved_by", "role", "reason")} == {
        "version": 2, "saved_by": "ana", "role": "analyst", "reason": "VIP line at 250 for the spring mailer"}
    live_vip = seg.summary().filter(pl.col("segment") == "vip")["players"][0]
    data.close()
    with Store(data.path) as store:
        build(store, seg.as_of, actor="test", force=True)
        built = store.snapshot("player_segments", seg.as_of)
    assert set(built["spending_version"]) == {2}
    assert built.filter(pl.col("spending") == "vip").height == live_vip
    # a second save continues the numbering; another session sees the saved thresholds
    seg.current.vip_above = 300.0
    assert seg.save("adjusted") and seg.current.version == 3
    again = SegmentsState(data=data, session=analyst(), scheme="spending")
    assert again.current.vip_above == 300.0 and again.current.version == 3


def test_revert_and_defaults(data):
    seg = SegmentsState(data=data, session=analyst(), scheme="engagement")
    default = seg.current.dormant_after_days
    seg.current.dormant_after_days = 200
    assert seg.dirty()
    seg.revert()
    assert seg.current.dormant_after_days == default and not seg.dirty()
    seg.current.dormant_after_days = 200
    seg.defaults()
    assert seg.current.dormant_after_days == default


def test_missing_store_is_a_message_not_a_crash(tmp_path):
    from app.data import DataStore

    seg = SegmentsState(data=DataStore(tmp_path / "nothing.duckdb"), session=analyst())
    assert not seg.ready and "does not exist" in seg.message
    signed_out = SegmentsState(data=DataStore(tmp_path / "nothing.duckdb"), session=Session())
    assert signed_out.frame().is_empty()
    assert seg.summary().is_empty() and seg.labelled().is_empty()
