"""metrics.segment_stats: counts and shares, crosstabs, profiles, histograms and migrations."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import segment_stats as S

LABELS = ("vip", "high", "low")
FRAME = pl.DataFrame({
    "player_id": ["a", "b", "c", "d", "e"],
    "tier": ["vip", "low", "low", "high", "low"],
    "band": ["x", "y", "x", "x", None],
    "theo": [100.0, 10.0, None, 40.0, 50.0],
    "visits": [10, 1, 2, 5, 3],
})


def test_summary_counts_and_value_shares_in_label_order():
    out = S.segment_summary(FRAME.with_columns(pl.col("tier").cast(pl.Enum(LABELS))), "tier", LABELS, ["theo"])
    assert out["segment"].to_list() == list(LABELS)
    assert out["players"].to_list() == [1, 1, 3]
    assert out["players_share"].to_list() == pytest.approx([0.2, 0.2, 0.6])
    assert out["theo_sum"].to_list() == [100.0, 40.0, 60.0]  # a null value counts as 0
    assert out["theo_sum_share"].to_list() == pytest.approx([0.5, 0.2, 0.3])


def test_summary_lists_empty_segments():
    out = S.segment_summary(FRAME.filter(pl.col("tier") == "low"), "tier", LABELS, ["theo"])
    assert out["players"].to_list() == [0, 0, 3]
    assert out["theo_sum_share"].to_list() == pytest.approx([0.0, 0.0, 1.0])
    empty = S.segment_summary(FRAME.head(0), "tier", LABELS, ["theo"])
    assert empty["players"].to_list() == [0, 0, 0] and empty["players_share"].null_count() == 3


def test_crosstab_every_pair_and_row_shares():
    out = S.crosstab(FRAME.drop_nulls("band"), "tier", "band", LABELS, ("x", "y"))
    assert out.height == 6
    low = out.filter(pl.col("row") == "low")
    assert low["players"].to_list() == [1, 1] and low["row_share"].to_list() == [0.5, 0.5]
    wide = S.crosstab_wide(out, ("x", "y"))
    assert wide.columns == ["row", "x", "y", "total"]
    assert wide["total"].to_list() == [1, 1, 2]


def test_profiles_are_means_per_segment():
    out = S.profiles(FRAME, "tier", LABELS, ["theo", "visits"])
    low = out.row(2, named=True)
    assert low["players"] == 3 and low["theo"] == pytest.approx(30.0) and low["visits"] == pytest.approx(2.0)


def test_binned_histogram_covers_every_finite_value():
    frame = pl.DataFrame({"x": [0.0, 5.0, 50.0, 5000.0, float("nan"), None], "tier": ["low"] * 3 + ["vip"] * 3})
    out = S.binned(frame, "x", "tier", LABELS, bins=20)
    assert out["players"].sum() == 4
    assert (out["low"] <= out["high"]).all()
    linear = S.binned(pl.DataFrame({"x": [1.0, 2.0, 3.0], "tier": ["low"] * 3}), "x", "tier", LABELS, bins=4)
    assert linear["players"].sum() == 3 and linear["bin"].max() == 3
    assert S.binned(frame.head(0), "x", "tier", LABELS).height == 0


def test_transitions_between_snapshots():
    before = pl.DataFrame({"player_id": ["a", "b", "c"], "tier": ["low", "low", "vip"]})
    after = pl.DataFrame({"player_id": ["a", "c", "d"], "tier": ["high", "vip", "low"]})
    out = S.transitions(before, after, "tier", LABELS)
    pairs = {(r["from"], r["to"]): r["players"] for r in out.iter_rows(named=True)}
    assert pairs == {("low", "high"): 1, ("low", S.GONE): 1, ("vip", "vip"): 1, (S.NEW, "low"): 1}
    assert out["from"].to_list()[0] == "vip" or out["from"].to_list()[0] == S.NEW
    assert out.filter(pl.col("from") == "low")["from_share"].to_list() == [0.5, 0.5]
    assert out.filter((pl.col("from") == "vip"))["moved"].to_list() == [False]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(LABELS), st.sampled_from(("x", "y")),
                          st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=60))
def test_margins_agree(rows):
    frame = pl.DataFrame(rows, schema={"tier": pl.String, "band": pl.String, "v": pl.Float64}, orient="row")
    summary = S.segment_summary(frame, "tier", LABELS, ["v"])
    assert summary["players"].sum() == frame.height
    assert summary["players_share"].sum() == pytest.approx(1.0)
    cross = S.crosstab(frame, "tier", "band", LABELS, ("x", "y"))
    by_row = cross.group_by("row").agg(pl.col("players").sum())
    assert dict(by_row.iter_rows()) == dict(zip(summary["segment"], summary["players"], strict=True))
    assert S.profiles(frame, "tier", LABELS, ["v"])["players"].to_list() == summary["players"].to_list()
