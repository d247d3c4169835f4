"""Cohorts state without a browser: counts checked against the events, sBG curves, groups, scope."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from app.queries import ACTIVITY
from app.state.cohorts import CohortState, shift_month
from app.state.session import Session
from metrics import retention


def who(*properties: str) -> Session:
    return Session(user="mia", role="marketer", properties=list(properties), all_properties=not properties)


def _month(column: str) -> pl.Expr:
    return pl.col(column).dt.truncate("1mo").cast(pl.Date)


def expected(data, basis: str) -> pl.DataFrame:
    """Cohort sizes and actives per month k, computed in Polars straight from the store."""
    with data.store() as s:
        events = s.sql("SELECT player_id, ts, event_type, theo FROM events_current").lazy()
        links = s.sql("SELECT coalesce(a.survivor_id, pp.player_id) AS player_id, pp.enrolled_at "
                      "FROM player_properties pp LEFT JOIN player_aliases a ON a.merged_id = pp.player_id").lazy()
    active = events.filter(pl.col("event_type").is_in(ACTIVITY)).select("player_id", _month("ts").alias("month"))
    first = active.group_by("player_id").agg(pl.col("month").min().alias("first"))
    enrolled = links.group_by("player_id").agg(_month("enrolled_at").min().alias("enrolled"))
    units = enrolled.join(first, on="player_id", how="left").with_columns(
        (pl.coalesce("enrolled", "first") if basis == "enrollment" else pl.col("first")).alias("cohort"))
    units = units.drop_nulls("cohort")
    k = ((pl.col("month").dt.year() - pl.col("cohort").dt.year()) * 12
         + pl.col("month").dt.month().cast(pl.Int32) - pl.col("cohort").dt.month().cast(pl.Int32))
    act = (units.join(active.unique(), on="player_id").with_columns(k.alias("k")).filter(pl.col("k") >= 0)
           .group_by("cohort", "k").agg(pl.len().alias("active")))
    sizes = units.group_by("cohort").agg(pl.len().alias("players"))
    return act.join(sizes, on="cohort").collect()


@pytest.mark.parametrize("basis", ["enrollment", "first_visit"])
def test_retention_counts_match_the_events(data, basis):
    c = CohortState(data=data, session=who(), basis=basis, months=12)
    table = c.table()
    assert not table.is_empty() and c.message == ""
    first, running = c.window()
    assert table["cohort"].min() >= first and table["cohort"].max() < running
    truth = expected(data, basis)
    joined = table.join(truth, on=["cohort", "k"], how="left", suffix="_truth")
    assert (joined["players"] == joined["players_truth"]).all()
    assert (joined["active"] == joined["active_truth"].fill_null(0)).all()
    assert table["retention"].is_between(0, 1).all()
    # only complete months: the running month never shows
    assert (table.select((pl.col("cohort").dt.offset_by(pl.format("{}mo", pl.col("k")))) < running)).to_series().all()


def test_revenue_is_the_theo_of_the_cohorts(data):
    c = CohortState(data=data, session=who(), revenue="theo")
    table = c.table()
    revenue = c.revenue_by_cohort()
    assert revenue["revenue"].sum() == pytest.approx(table["revenue"].sum())
    jan = table.filter(pl.col("cohort") == table["cohort"].min()).sort("k")
    assert jan["cumulative_revenue_per_player"][-1] == pytest.approx(jan["revenue"].sum() / jan["players"][0])


def test_curves_project_an_sbg_fit_per_group(data):
    c = CohortState(data=data, session=who(), horizon=18)
    curves, fits = c.curves()
    assert fits.height == 1 and fits["group"][0] == "all" and fits["note"][0] == ""
    fit = retention.SBGParams(fits["alpha"][0], fits["beta"][0])
    assert curves["k"].to_list() == list(range(19))
    np.testing.assert_allclose(curves["projected"].to_numpy(), fit.survival(np.arange(19)))
    observed = curves["observed"].drop_nulls().to_list()
    assert observed[0] == 1.0 and all(0 <= v <= 1 for v in observed)
    c.by = "property"
    _, fits = c.curves()
    assert set(fits["group"]) == set(c.param.groups.objects) >= {"P01", "P02"}
    c.groups = ["P01"]
    assert set(c.curves()[1]["group"]) == {"P01"}
    c.by, c.scheme, c.groups = "segment", "lifecycle", []
    _, fits = c.curves()
    assert set(fits["group"]) <= {"new", "active", "at_risk", "churned", "(none)"} and fits.height >= 2


def test_scope_limits_cohorts_to_the_properties(data):
    everyone = CohortState(data=data, session=who(), by="property")
    p02 = CohortState(data=data, by="property", session=who("P02"))
    assert set(p02.table()["group"]) == {"P02"}
    mine = p02.table().select("cohort", "k", "players", "active")
    theirs = everyone.table().filter(pl.col("group") == "P02").select("cohort", "k", "players", "active")
    assert mine.sort("cohort", "k").equals(theirs.sort("cohort", "k"))
    sizes = CohortState(data=data, session=who("P02")).revenue_by_cohort()["players"].sum()
    assert 0 < sizes < CohortState(data=data, session=who()).revenue_by_cohort()["players"].sum()


def test_months_helper_and_empty_store(tmp_path):
    from app.data import DataStore

    assert shift_month(date(2026, 1, 1), -12) == date(2025, 1, 1)
    assert shift_month(date(2025, 12, 1), 1) == date(2026, 1, 1)
    c = CohortState(data=DataStore(tmp_path / "none.duckdb"), session=who())
    assert c.table().is_empty() and "does not exist" in c.message
