"""Rule-based churn risk: hand-computed factors, score range, levels, TOML."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.churn import FACTORS, ChurnRisk, churn_risk
from metrics.segments import Scheme, default_schemes, segment_all

AS_OF = dt.date(2025, 6, 30)
SCHEMA = {
    "player_id": pl.String, "as_of": pl.Date,
    "recency_days": pl.Int64, "avg_days_between_visits": pl.Float64,
    "visits_30d": pl.Int64, "visits_prior_30d": pl.Int64,
    "cash_in_30d": pl.Float64, "cash_in_prior_30d": pl.Float64,
    "theo_30d": pl.Float64, "theo_prior_30d": pl.Float64,
    "rewards_issued": pl.Int64, "rewards_redeemed": pl.Int64, "disputes_total": pl.Int64,
}
# a steady player: visits every 7 days, seen 3 days ago, nothing dropping
STEADY: dict[str, object] = {
    "recency_days": 3, "avg_days_between_visits": 7.0, "visits_30d": 4, "visits_prior_30d": 4,
    "cash_in_30d": 1_000.0, "cash_in_prior_30d": 1_000.0, "theo_30d": 100.0,
    "theo_prior_30d": 100.0, "rewards_issued": 0, "rewards_redeemed": 0, "disputes_total": 0,
}
COLUMNS = [f"churn_{f}" for f in FACTORS]


def frame(*rows: dict[str, object]) -> pl.DataFrame:
    """Metrics rows: overrides on STEADY, players P0, P1, ..."""
    data = [{"player_id": f"P{i}", "as_of": AS_OF, **STEADY, **r} for i, r in enumerate(rows)]
    return pl.DataFrame(data, schema=SCHEMA)


def test_steady_player_scores_zero():
    out = churn_risk(frame({}))
    assert out.select(COLUMNS).row(0) == (0.0,) * 6
    assert out["churn_score"].item() == 0.0
    assert out["churn_level"].cast(pl.String).item() == "low"
    assert out["churn_version"].item() == 1


def test_hand_computed_factors_and_score():
    row = {
        "recency_days": 14,                                 # 2 gaps overdue: (2-1)/(4-1) = 1/3
        "visits_30d": 1, "visits_prior_30d": 5,             # -80 %
        "cash_in_30d": 100.0, "cash_in_prior_30d": 2_000.0,  # -95 %
        "theo_30d": 300.0, "theo_prior_30d": 100.0,         # up: no drop
        "rewards_issued": 4, "rewards_redeemed": 1,         # 75 % ignored
        "disputes_total": 1,                                # half of 2
    }
    out = churn_risk(frame(row)).row(0, named=True)
    expected = {
        "churn_recency": 35 / 3, "churn_visit_drop": 20 * 0.8, "churn_cash_drop": 15 * 0.95,
        "churn_theo_drop": 0.0, "churn_no_redemption": 10 * 0.75, "churn_disputes": 10 * 0.5,
    }
    for column, value in expected.items():
        assert out[column] == pytest.approx(value), column
    assert out["churn_score"] == pytest.approx(sum(expected.values()))  # 54.42
    assert out["churn_level"] == "medium"


def test_recency_saturates_and_uses_the_fallback_gap():
    rows = [
        {"recency_days": 7},                                    # exactly the usual gap: 0
        {"recency_days": 28},                                   # 4 gaps: full
        {"recency_days": 400},                                  # far beyond: still full
        {"recency_days": 60, "avg_days_between_visits": None},  # fallback 30: 2 gaps -> 1/3
        {"recency_days": None},                                 # nothing on record: full
        {"recency_days": 2, "avg_days_between_visits": 0.0},    # gap floored at 1 day: 1/3
    ]
    points = churn_risk(frame(*rows))["churn_recency"].to_list()
    assert points == pytest.approx([0.0, 35.0, 35.0, 35 / 3, 35.0, 35 / 3])


def test_drops_need_a_prior_baseline():
    rows = [
        {"visits_30d": 3, "visits_prior_30d": 0},        # no baseline: no drop
        {"visits_30d": None, "visits_prior_30d": 2},     # nothing now: full drop
        {"visits_30d": 9, "visits_prior_30d": 3},        # a rise is no drop
        {"cash_in_30d": 0.0, "cash_in_prior_30d": None},  # unknown prior: no drop
    ]
    out = churn_risk(frame(*rows))
    assert out["churn_visit_drop"].to_list() == pytest.approx([0.0, 20.0, 0.0, 0.0])
    assert out["churn_cash_drop"].to_list() == pytest.approx([0.0, 0.0, 0.0, 0.0])


def test_levels_follow_thresholds():
    model = ChurnRisk(medium_from=10, high_from=30)
    rows = [{}, {"visits_30d": 0}, {"visits_30d": 0, "recency_days": 28}]  # 0, 20, 55 points
    out = churn_risk(frame(*rows), model)
    assert out["churn_score"].to_list() == pytest.approx([0.0, 20.0, 55.0])
    assert out["churn_level"].cast(pl.String).to_list() == ["low", "medium", "high"]


def test_weights_are_relative_and_all_zero_scores_zero():
    only_disputes = ChurnRisk(w_recency=0, w_visit_drop=0, w_cash_drop=0, w_theo_drop=0,
                              w_no_redemption=0, w_disputes=3)
    out = churn_risk(frame({"disputes_total": 5, "recency_days": 400}), only_disputes)
    assert out["churn_score"].item() == pytest.approx(100.0)
    assert out["churn_recency"].item() == 0.0
    silent = ChurnRisk(w_recency=0, w_visit_drop=0, w_cash_drop=0, w_theo_drop=0,
                       w_no_redemption=0, w_disputes=0)
    assert churn_risk(frame({"disputes_total": 5}), silent)["churn_score"].item() == 0.0


def test_churn_runs_inside_segment_all_next_to_the_segmentations():
    schemes = [s for s in default_schemes() if s.kind in ("spending", "frequency")]
    metrics = frame({}).with_columns(cash_in_total=pl.lit(50.0), visits_total=pl.lit(3))
    out = segment_all(metrics, [*schemes, ChurnRisk(version=3)])
    assert {"spending", "frequency", "churn_score", "churn_level"} <= set(out.columns)
    assert out["churn_version"].item() == 3


def test_toml_round_trip():
    model = ChurnRisk(w_recency=50, medium_from=30.0, overdue_full_ratio=6.0)
    model.release("ana", "recency matters more", at=dt.datetime(2025, 1, 2, tzinfo=dt.UTC))
    back = Scheme.from_toml(model.to_toml())
    assert isinstance(back, ChurnRisk)
    assert back.version == 2
    assert back.thresholds() == model.thresholds()


_NUM = st.one_of(st.none(), st.just(0.0), st.floats(allow_nan=True, allow_infinity=True))
_INT = st.one_of(st.none(), st.just(0), st.integers(-10, 10**6))
_ROW = st.fixed_dictionaries(
    {c: (_NUM if t == pl.Float64 else _INT) for c, t in SCHEMA.items()
     if c not in ("player_id", "as_of")}
)
_WEIGHT = st.floats(0, 100)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_ROW, min_size=1, max_size=10), weights=st.lists(_WEIGHT, min_size=6,
                                                                         max_size=6))
def test_score_is_within_0_100_and_is_the_sum_of_the_factors(rows, weights):
    model = ChurnRisk(**{f"w_{f}": w for f, w in zip(FACTORS, weights, strict=True)})
    out = churn_risk(frame(*rows), model)
    assert out.height == len(rows)
    score = out["churn_score"]
    assert score.null_count() == 0
    assert score.is_nan().sum() == 0
    assert ((score >= 0) & (score <= 100)).all()
    total = out.select(pl.sum_horizontal(COLUMNS)).to_series()
    assert (total - score).abs().max() <= 1e-9
    assert out["churn_level"].null_count() == 0
