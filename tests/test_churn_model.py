"""metrics.churn_model and pipelines.derived.churn_training: a churn classifier split by time."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from metrics.churn_model import (
    ChurnModel,
    NotEnoughData,
    evaluate_churn_model,
    feature_columns,
    predict_churn,
    train_churn_model,
)
from pipelines.derived.churn_training import churn_dataset, evaluate_over_time, score_churn
from tests.demo import END, demo_frames

HORIZON = 60
T0 = datetime(2025, 11, 2)  # labels of T0 run to 2026-01-01, the last day of the data
TRAIN_AT = T0 - timedelta(days=HORIZON)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(events, players) of 1,500 generated players over 400 days, as the store serves them."""
    return demo_frames(tmp_path_factory.mktemp("churn"), players=1500, days=400, seed=3)


@pytest.fixture(scope="module")
def backtest(demo) -> ChurnModel:
    return evaluate_over_time(*demo, T0, HORIZON)


@pytest.fixture(scope="module")
def train_set(demo) -> tuple[pl.DataFrame, pl.Series]:
    return churn_dataset(*demo, TRAIN_AT, HORIZON)


def synthetic(n: int, churners: int, seed: int = 0) -> tuple[pl.DataFrame, pl.Series]:
    """Hand-made features where churners have been away longer."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=np.int8)
    y[:churners] = 1
    recency = rng.exponential(10, n) + 30 * y
    visits = rng.poisson(5, n) + 3 * (1 - y)
    frame = pl.DataFrame({"player_id": [f"P{i:04}" for i in range(n)], "recency_days": recency,
                          "visits_90d": visits, "exclusion_active": rng.random(n) < 0.05})
    return frame, pl.Series("churned", y)


# ---------------------------------------------------------------------------------- the backtest


def test_backtest_beats_chance_and_reports_the_recency_baseline(backtest):
    report = backtest.report
    assert report is not None
    assert report.as_of == T0 and backtest.trained_as_of == TRAIN_AT and backtest.horizon_days == HORIZON
    assert report.baseline_roc_auc is not None
    assert report.roc_auc > 0.5, str(report)
    assert report.roc_auc > 0.75, str(report)  # ~0.88 on this data, next to ~0.87 for recency alone
    assert 0.0 <= report.brier <= 0.25
    assert report.churners + report.stayers == report.rows
    assert f"{report.baseline_roc_auc:.3f}" in str(report)
    assert report.lift_over_baseline == pytest.approx(report.roc_auc - report.baseline_roc_auc)
    cal = report.calibration
    assert cal.columns == ["mean_predicted", "observed_rate", "players"]
    assert cal["players"].sum() == report.rows
    assert cal["mean_predicted"].is_between(0, 1).all() and cal["observed_rate"].is_between(0, 1).all()
    assert report.to_dict()["calibration"][0].keys() == {"mean_predicted", "observed_rate", "players"}


def test_churn_dataset_labels_from_the_horizon_after_t0(demo, train_set):
    events, _ = demo
    features, labels = train_set
    assert features.height == labels.len() > 500 and labels.name == "churned"
    assert features["player_id"].is_sorted() and features["player_id"].n_unique() == features.height
    assert (features["as_of"] == TRAIN_AT).all()
    assert (features["last_seen"] <= TRAIN_AT).all()  # features see nothing after t0
    visits = events.filter(pl.col("event_type").is_in(["visit", "rating_slip"])).collect()
    before = visits.filter(pl.col("ts") > TRAIN_AT - timedelta(days=365), pl.col("ts") <= TRAIN_AT)
    after = visits.filter(pl.col("ts") > TRAIN_AT, pl.col("ts") <= TRAIN_AT + timedelta(days=HORIZON))
    assert set(features["player_id"]) == set(before["player_id"])  # active in the year before
    returned = set(after["player_id"])
    expected = [0 if p in returned else 1 for p in features["player_id"]]
    assert labels.to_list() == expected
    assert 0 < labels.sum() < labels.len()


def test_training_is_deterministic_with_the_seed(train_set):
    features, labels = train_set
    for estimator in ("logistic", "hgb"):
        a = predict_churn(train_churn_model(features, labels, seed=4, estimator=estimator), features)
        b = predict_churn(train_churn_model(features, labels, seed=4, estimator=estimator), features)
        assert np.array_equal(a, b), estimator
        assert a.shape == (features.height,) and ((a >= 0) & (a <= 1)).all()


def test_predict_matches_columns_by_name(train_set):
    features, labels = train_set
    model = train_churn_model(features, labels)
    assert "player_id" not in model.features and "as_of" not in model.features
    assert set(model.features) == set(feature_columns(features))
    shuffled = features.select(list(reversed(features.columns)))
    assert np.array_equal(predict_churn(model, shuffled), predict_churn(model, features))
    # a missing column counts as missing values, not an error
    assert predict_churn(model, features.drop("theo_30d")).shape == (features.height,)
    assert predict_churn(model, features.head(0)).shape == (0,)


def test_evaluation_must_go_forward_in_time(demo, train_set):
    features, labels = train_set
    model = train_churn_model(features, labels, horizon_days=HORIZON)
    with pytest.raises(ValueError, match="later than the training"):
        evaluate_churn_model(model, features, labels)
    early = churn_dataset(*demo, TRAIN_AT + timedelta(days=30), HORIZON)
    with pytest.raises(ValueError, match="overlap"):
        evaluate_churn_model(model, *early)


def test_train_with_a_test_snapshot_attaches_the_report(demo, train_set):
    test = churn_dataset(*demo, T0, HORIZON)
    model = train_churn_model(*train_set, horizon_days=HORIZON, test=test)
    assert model.report is not None and model.report.as_of == T0 and model.report.rows == test[0].height


def test_score_churn_scores_the_players_active_at_as_of(demo):
    scores, model = score_churn(*demo, END, HORIZON)
    assert scores.columns == ["player_id", "churn_probability"]
    assert scores["churn_probability"].is_between(0, 1).all() and scores.height > 500
    assert model.trained_as_of == END - timedelta(days=HORIZON)


# ---------------------------------------------------------------------------------- too little data


def test_too_few_rows_is_refused_with_the_counts():
    features, labels = synthetic(40, 15)
    with pytest.raises(NotEnoughData, match=r"at least 200 players, got 40 \(15 churned, 25 stayed\)") as info:
        train_churn_model(features, labels)
    assert isinstance(info.value, ValueError)
    assert (info.value.what, info.value.needed, info.value.got) == ("rows", 200, 40)


def test_too_few_of_a_class_is_refused_with_the_counts():
    features, labels = synthetic(400, 12)
    with pytest.raises(NotEnoughData, match="at least 30 churned and 30 retained players, got 12 churned and 388"):
        train_churn_model(features, labels)
    features, labels = synthetic(400, 390)
    with pytest.raises(NotEnoughData, match="got 390 churned and 10 retained"):
        train_churn_model(features, labels)
    # thresholds are the caller's
    assert train_churn_model(features, labels, min_class=10).rows == 400


def test_small_hand_made_data_trains_and_ranks():
    features, labels = synthetic(300, 100)
    test_features, test_labels = synthetic(300, 100, seed=1)
    model = evaluate_churn_model(train_churn_model(features, labels), test_features, test_labels)
    assert model.report.roc_auc > 0.8 and model.report.baseline_roc_auc > 0.8
    assert model.features == ("recency_days", "visits_90d", "exclusion_active")
    one_class = pl.Series("churned", np.zeros(300, dtype=np.int8))
    with pytest.raises(NotEnoughData, match="got 0 churned"):
        evaluate_churn_model(model, test_features, one_class)


def test_bad_labels_are_refused():
    features, labels = synthetic(300, 100)
    with pytest.raises(ValueError, match="labels has 299 values for 300"):
        train_churn_model(features, labels.head(299))
    with pytest.raises(ValueError, match="0 \\(stayed\\) or 1"):
        train_churn_model(features, labels * 2)


def test_short_history_is_refused(demo):
    events, players = demo
    with pytest.raises(NotEnoughData, match="needs 60 days of visit history before it"):
        churn_dataset(events, players, END - timedelta(days=420), HORIZON)
    with pytest.raises(NotEnoughData, match=r"need 60 days of visits after it .*the data ends 2026-01-01, 30 days"):
        churn_dataset(events, players, datetime(2025, 12, 2), HORIZON)
    with pytest.raises(NotEnoughData, match="no visits"):
        churn_dataset(events.filter(pl.col("event_type") == "buy_in"), players, T0, HORIZON)


def test_tiny_event_log_names_what_is_missing():
    rows = [(f"P{i}", datetime(2025, 1, 1) + timedelta(days=3 * j + i), "visit") for i in range(5) for j in range(60)]
    events = pl.DataFrame(rows, schema={"player_id": pl.String, "ts": pl.Datetime("us"), "event_type": pl.String},
                          orient="row").lazy()
    with pytest.raises(NotEnoughData, match="at least 200 players, got 5"):
        evaluate_over_time(events, None, datetime(2025, 4, 1), 30)
