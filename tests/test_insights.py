"""Change-detection insights: each rule's sentence, severity and numbers on hand-made players."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.insights import RULES, SEVERITIES, InsightRules, insights
from metrics.segments import Versioned

AS_OF = dt.date(2025, 6, 30)
SCHEMA = {
    "player_id": pl.String, "as_of": pl.Date,
    "recency_days": pl.Int64, "avg_days_between_visits": pl.Float64,
    "visits_30d": pl.Int64, "visits_prior_30d": pl.Int64,
    "cash_in_30d": pl.Float64, "cash_in_prior_30d": pl.Float64,
    "theo_30d": pl.Float64, "theo_prior_30d": pl.Float64, "theo_90d": pl.Float64,
    "avg_session_minutes_30d": pl.Float64, "avg_session_minutes_prior_30d": pl.Float64,
    "disputes_total": pl.Int64, "disputes_30d": pl.Int64,
}
# nothing worth saying: steady visits, cash, theo and sessions, seen 2 days ago
STEADY: dict[str, object] = {
    "recency_days": 2, "avg_days_between_visits": 7.0, "visits_30d": 4, "visits_prior_30d": 4,
    "cash_in_30d": 2_000.0, "cash_in_prior_30d": 2_000.0, "theo_30d": 150.0,
    "theo_prior_30d": 150.0, "theo_90d": 450.0, "avg_session_minutes_30d": 60.0,
    "avg_session_minutes_prior_30d": 60.0, "disputes_total": 0, "disputes_30d": 0,
}
OUT_COLUMNS = ["player_id", "as_of", "rule", "severity", "sentence", "value", "baseline"]


def frame(*rows: dict[str, object]) -> pl.DataFrame:
    """Metrics rows: overrides on STEADY, players P0, P1, ..."""
    data = [{"player_id": f"P{i}", "as_of": AS_OF, **STEADY, **r} for i, r in enumerate(rows)]
    return pl.DataFrame(data, schema=SCHEMA)


def said(row: dict[str, object], rules: InsightRules | None = None) -> list[tuple]:
    """(rule, severity, sentence, value, baseline) fired for one player, sorted by rule."""
    out = insights(frame(row), rules).with_columns(pl.col("rule", "severity").cast(pl.String))
    return sorted(out.select(OUT_COLUMNS[2:]).rows())


def test_steady_player_has_nothing_to_say():
    out = insights(frame({}))
    assert out.height == 0
    assert out.columns == OUT_COLUMNS
    assert out.schema["severity"] == pl.Enum(list(SEVERITIES))
    assert out.schema["rule"] == pl.Enum(list(RULES))


def test_visits_down_warning_and_critical():
    assert said({"visits_30d": 2, "visits_prior_30d": 5}) == [
        ("visits_down", "warning", "Visits down 60% vs their prior 30 days", 2.0, 5.0)]
    assert said({"visits_30d": 0, "visits_prior_30d": 5}) == [
        ("visits_down", "critical", "Visits down 100% vs their prior 30 days", 0.0, 5.0)]
    # too few prior visits to call it a trend
    assert said({"visits_30d": 0, "visits_prior_30d": 2}) == []


def test_visits_up():
    assert said({"visits_30d": 8, "visits_prior_30d": 3}) == [
        ("visits_up", "info", "Visits up 167% vs their prior 30 days", 8.0, 3.0)]


def test_cash_in_down_and_up():
    assert said({"cash_in_30d": 800.0}) == [
        ("cash_in_down", "warning", "Cash-in down 60% vs their prior 30 days", 800.0, 2_000.0)]
    assert said({"cash_in_30d": 100.0}) == [
        ("cash_in_down", "critical", "Cash-in down 95% vs their prior 30 days", 100.0, 2_000.0)]
    assert said({"cash_in_30d": 5_000.0}) == [
        ("cash_in_up", "info", "Cash-in up 150% vs their prior 30 days", 5_000.0, 2_000.0)]
    # a small prior is noise
    assert said({"cash_in_30d": 0.0, "cash_in_prior_30d": 300.0}) == []


def test_theo_vs_90_day_baseline():
    # baseline = theo_90d / 3 = 150
    assert said({"theo_30d": 270.0}) == [
        ("theo_up", "info", "Theo up 80% vs their 90-day baseline", 270.0, 150.0)]
    assert said({"theo_30d": 60.0}) == [
        ("theo_down", "warning", "Theo down 60% vs their 90-day baseline", 60.0, 150.0)]
    assert said({"theo_30d": 270.0, "theo_90d": 90.0}) == []  # baseline 30 is below 50


def test_session_length_up_cash_in_down():
    row = {"avg_session_minutes_30d": 75.0, "cash_in_30d": 1_400.0}
    assert said(row) == [(
        "session_up_cash_down", "warning",
        "Average session length up 25% (60 -> 75 min), cash-in down 30%", 75.0, 60.0)]


def test_overdue_against_own_rhythm():
    assert said({"recency_days": 45}) == [
        ("overdue", "critical", "No visit for 45 days (usually every 7)", 45.0, 7.0)]
    assert said({"recency_days": 21}) == [
        ("overdue", "warning", "No visit for 21 days (usually every 7)", 21.0, 7.0)]
    # three gaps of 2 days is 6 days: below the 14-day floor
    assert said({"recency_days": 10, "avg_days_between_visits": 2.0}) == []
    # no rhythm yet (fewer than two visits): nothing to compare with
    assert said({"recency_days": 300, "avg_days_between_visits": None}) == []


def test_new_dispute():
    assert said({"disputes_30d": 1, "disputes_total": 3}) == [
        ("new_dispute", "warning", "New dispute in the last 30 days", 1.0, 2.0)]
    assert said({"disputes_30d": 2, "disputes_total": 2}) == [
        ("new_dispute", "warning", "2 new disputes in the last 30 days", 2.0, 0.0)]


def test_dispute_rule_is_skipped_without_disputes_30d():
    metrics = frame({"disputes_30d": 1}).drop("disputes_30d")
    assert insights(metrics).height == 0


def test_thresholds_are_parameters():
    row = {"visits_30d": 3, "visits_prior_30d": 4}  # -25 %
    assert said(row) == []
    assert said(row, InsightRules(visits_drop=0.2))[0][:2] == ("visits_down", "warning")


def test_several_players_and_rules_in_one_long_frame():
    metrics = frame({}, {"visits_30d": 0, "recency_days": 60}, {"cash_in_30d": 100.0})
    out = insights(metrics)
    fired = sorted(out.select("player_id", pl.col("rule").cast(pl.String)).rows())
    assert fired == [("P1", "overdue"), ("P1", "visits_down"), ("P2", "cash_in_down")]
    assert out["as_of"].to_list() == [AS_OF] * 3


def test_lazy_in_lazy_out():
    metrics = frame({"visits_30d": 0})
    out = insights(metrics.lazy())
    assert isinstance(out, pl.LazyFrame)
    assert out.collect().equals(insights(metrics))


def test_rules_round_trip_through_toml():
    rules = InsightRules(visits_drop=0.4, overdue_ratio=2.5)
    back = Versioned.from_toml(rules.release("ana", "earlier warnings").to_toml())
    assert isinstance(back, InsightRules)
    assert back.thresholds() == rules.thresholds()
    assert back.version == 2


_NUM = st.one_of(st.none(), st.just(0.0), st.floats(allow_nan=True, allow_infinity=True))
_INT = st.one_of(st.none(), st.just(0), st.integers(-10, 10**6))
_ROW = st.fixed_dictionaries(
    {c: (_NUM if t == pl.Float64 else _INT) for c, t in SCHEMA.items()
     if c not in ("player_id", "as_of")}
)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(_ROW, min_size=1, max_size=8))
def test_any_metrics_give_well_formed_insights(rows):
    out = insights(frame(*rows))
    assert out.columns == OUT_COLUMNS
    assert out.select(pl.col("rule", "severity", "sentence").null_count()).row(0) == (0, 0, 0)
    assert out.select(pl.struct("player_id", "rule").is_unique().all()).item()


@pytest.mark.parametrize("rule", [r for r in RULES])
def test_every_rule_has_a_method(rule):
    assert callable(getattr(InsightRules(), rule))
