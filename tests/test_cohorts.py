"""metrics.cohorts: retention tables, survivors and sBG curves over aggregated cohort frames."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from metrics import cohorts as C
from metrics import retention

JAN, FEB, MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)
SIZES = pl.DataFrame({"cohort": [JAN, FEB], "group": ["all", "all"], "players": [10, 4]})
ACTIVITY = pl.DataFrame({
    "cohort": [JAN, JAN, JAN, FEB],
    "group": ["all"] * 4,
    "k": [0, 1, 3, 0],
    "active": [8, 5, 2, 4],
    "revenue": [100.0, 50.0, 20.0, 40.0],
})


def test_age_counts_complete_months_only():
    frame = pl.DataFrame({"cohort": [JAN, MAR]})
    # the data's newest event is in April 2025: January has Jan, Feb, Mar complete (k = 0..2)
    assert frame.select(C.age(date(2025, 4, 1)))["age"].to_list() == [2, 0]


def test_retention_table_fills_silent_months_and_stops_at_the_cohort_age():
    table = C.retention_table(SIZES, ACTIVITY, date(2025, 4, 1))
    jan = table.filter(pl.col("cohort") == JAN)
    assert jan["k"].to_list() == [0, 1, 2]  # k = 3 (April) is the running month: not shown
    assert jan["active"].to_list() == [8, 5, 0]
    assert jan["retention"].to_list() == pytest.approx([0.8, 0.5, 0.0])
    assert jan["cumulative_revenue_per_player"].to_list() == pytest.approx([10.0, 15.0, 15.0])
    feb = table.filter(pl.col("cohort") == FEB)
    assert feb["k"].to_list() == [0, 1] and feb["retention"].to_list() == [1.0, 0.0]
    revenue = C.cohort_revenue(table)
    assert revenue.filter(pl.col("cohort") == JAN).row(0, named=True) == {
        "cohort": JAN, "group": "all", "players": 10, "revenue": 150.0, "months": 3, "revenue_per_player": 15.0}


def test_survivors_never_rise():
    last = pl.DataFrame({"cohort": [JAN, JAN, JAN, JAN, FEB], "group": ["all"] * 5,
                         "last_k": [None, 0, 1, 3, 0], "players": [2, 3, 3, 2, 4]})
    out = C.survivors(SIZES, last, date(2025, 5, 1))
    jan = out.filter(pl.col("cohort") == JAN)["alive"].to_list()
    assert jan == [10, 5, 2, 2]  # size, then last active in month k or later
    assert out.filter(pl.col("cohort") == FEB)["alive"].to_list() == [4, 0, 0]


def test_fit_recovers_the_published_regular_cohort():
    regular = [1000, 631, 468, 382, 326, 289, 262, 241]
    alive = pl.DataFrame({"cohort": [JAN] * 8, "group": ["all"] * 8, "k": list(range(8)), "alive": regular})
    curves, fits = C.fit_retention(alive, horizon=12)
    fit = fits.row(0, named=True)
    assert (fit["alpha"], fit["beta"]) == pytest.approx((0.704, 1.182), rel=0.01)
    assert curves["k"].to_list() == list(range(13))
    assert curves["observed"].to_list()[:8] == pytest.approx([r / 1000 for r in regular])
    assert curves["observed"][8] is None  # beyond the data: projection only
    expected = retention.SBGParams(fit["alpha"], fit["beta"]).survival(np.arange(13))
    np.testing.assert_allclose(curves["projected"].to_numpy(), expected)


def test_groups_fit_separately_and_thin_groups_say_why():
    alive = pl.DataFrame({"cohort": [JAN] * 4 + [JAN], "group": ["a"] * 4 + ["b"],
                          "k": [0, 1, 2, 3, 0], "alive": [100, 60, 45, 38, 7]})
    curves, fits = C.fit_retention(alive, horizon=6)
    assert fits["group"].to_list() == ["a", "b"]
    b = fits.filter(pl.col("group") == "b").row(0, named=True)
    assert np.isnan(b["alpha"]) and "nothing to fit" in b["note"]
    assert curves.filter(pl.col("group") == "b")["projected"].is_nan().all()
    empty_curves, empty_fits = C.fit_retention(alive.head(0))
    assert empty_curves.height == 0 and empty_fits.height == 0
