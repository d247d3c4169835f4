"""Churn training frames from events, and the backtest of ``metrics.churn_model`` over time.

Definitions
    * A *visit* is a ``visit`` or ``rating_slip`` event (the catalog's trip events: a rated
      session is a visit even when the visit feed missed it).
    * The population of a snapshot at ``t0``: players with a visit in ``(t0 - active_days, t0]``
      (default one year). Players gone for longer are not "churning", they are gone.
    * Features: ``feature_fn(events, t0, players)`` (default ``player_metrics``), so only events
      with ``ts <= t0`` enter them.
    * Label: 1 (churned) when the player has no visit in ``(t0, t0 + horizon_days]``, else 0.

Time, not chance, splits the data: :func:`evaluate_over_time` trains on the snapshot at
``t0 - horizon`` (its labels end at ``t0``, so they are known at ``t0``) and tests on the snapshot
at ``t0`` (labels from ``(t0, t0 + horizon]``), which is exactly how a model trained today is used
on tomorrow's players. :func:`score_churn` is the production variant: train at ``as_of - horizon``,
predict for the players active at ``as_of``.

Too little history raises :class:`metrics.churn_model.NotEnoughData`: the visits must start at
least ``min_history_days`` (default: the horizon) before a snapshot, and must reach the day
``t0 + horizon`` falls on for its labels to be complete.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import polars as pl

from metrics.catalog import TRIP
from metrics.churn_model import ChurnModel, NotEnoughData, evaluate_churn_model, predict_churn, train_churn_model
from pipelines.derived.metrics import as_of_datetime, player_metrics

__all__ = ["VISIT_EVENTS", "check_history", "churn_dataset", "evaluate_over_time", "score_churn", "training_frame"]

VISIT_EVENTS = tuple(TRIP)  # visit, rating_slip
FeatureFn = Callable[[pl.LazyFrame, datetime, pl.LazyFrame | None], pl.LazyFrame | pl.DataFrame]


def _visits(events: pl.LazyFrame) -> pl.LazyFrame:
    return events.select("player_id", pl.col("ts").cast(pl.Datetime("us")), "event_type").filter(
        pl.col("event_type").is_in(list(VISIT_EVENTS))
    )


def _visit_span(events: pl.LazyFrame) -> tuple[datetime | None, datetime | None]:
    """(first, last) visit time in the events."""
    row = _visits(events).select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")).collect().row(0)
    return row[0], row[1]


def check_history(first: datetime | None, last: datetime | None, t0: datetime, horizon_days: int,
                   min_history_days: int, data_end: datetime | None) -> None:
    """NotEnoughData unless the visits cover ``[t0 - min_history_days, t0 + horizon]``."""
    if first is None:
        raise NotEnoughData("no visits in the events: a churn model needs visit history",
                            what="history", needed=min_history_days, got=0)
    need_from = t0 - timedelta(days=min_history_days)
    if first > need_from:
        have = max((t0 - first).days, 0)
        raise NotEnoughData(
            f"a churn snapshot at {t0:%Y-%m-%d} needs {min_history_days} days of visit history before it "
            f"(from {need_from:%Y-%m-%d}); the visits start {first:%Y-%m-%d}, {have} days before",
            what="history", needed=min_history_days, got=have,
        )
    end = data_end or last
    need_to = t0 + timedelta(days=horizon_days)
    if end is None or end.date() < need_to.date():
        have = 0 if end is None else max((end - t0).days, 0)
        raise NotEnoughData(
            f"churn labels at {t0:%Y-%m-%d} need {horizon_days} days of visits after it (to "
            f"{need_to:%Y-%m-%d}); the data ends {end:%Y-%m-%d}, {have} days after",
            what="future", needed=horizon_days, got=have,
        )


def churn_dataset(
    events: pl.LazyFrame,
    players: pl.LazyFrame | None,
    t0: datetime | date,
    horizon_days: int = 60,
    *,
    feature_fn: FeatureFn = player_metrics,
    active_days: int = 365,
    min_history_days: int | None = None,
    data_end: datetime | None = None,
) -> tuple[pl.DataFrame, pl.Series]:
    """(features as of ``t0``, labels ``churned``) of the players with a visit in the year before ``t0``.

    Rows are sorted by player_id; ``labels[i]`` is 1 when ``features[i]``'s player has no visit in
    ``(t0, t0 + horizon_days]``. ``data_end`` (default: the last visit) says how far the data goes.
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    t0 = as_of_datetime(t0)
    first, last = _visit_span(events)
    check_history(first, last, t0, horizon_days, horizon_days if min_history_days is None else min_history_days,
                   data_end)
    return training_frame(events, players, t0, horizon_days, feature_fn=feature_fn, active_days=active_days)


def _active_features(events: pl.LazyFrame, players: pl.LazyFrame | None, t0: datetime,
                     feature_fn: FeatureFn, active_days: int) -> pl.LazyFrame:
    """The features at ``t0`` of the snapshot's population: players with a visit in ``(t0 - active_days, t0]``."""
    active = (
        _visits(events).filter(pl.col("ts") > t0 - timedelta(days=active_days), pl.col("ts") <= t0)
        .select("player_id").unique()
    )
    return feature_fn(events, t0, players).lazy().join(active, on="player_id", how="semi")


def training_frame(
    events: pl.LazyFrame,
    players: pl.LazyFrame | None,
    t0: datetime | date,
    horizon_days: int = 60,
    *,
    feature_fn: FeatureFn = player_metrics,
    active_days: int = 365,
) -> tuple[pl.DataFrame, pl.Series]:
    """:func:`churn_dataset` without the history checks: per player only, so the frames of shards
    of players concatenate to the frame of all of them (the checks need the whole history)."""
    t0 = as_of_datetime(t0)
    returned = (
        _visits(events).filter(pl.col("ts") > t0, pl.col("ts") <= t0 + timedelta(days=horizon_days))
        .select("player_id").unique().with_columns(pl.lit(True).alias("_returned"))
    )
    frame = (
        _active_features(events, players, t0, feature_fn, active_days)
        .join(returned, on="player_id", how="left")
        .sort("player_id")
        .collect()
    )
    labels = (~frame.get_column("_returned").fill_null(False)).cast(pl.Int8).alias("churned")
    return frame.drop("_returned"), labels


def evaluate_over_time(
    events: pl.LazyFrame,
    players: pl.LazyFrame | None,
    t0: datetime | date,
    horizon_days: int = 60,
    *,
    seed: int = 0,
    estimator: str = "logistic",
    min_rows: int = 200,
    min_class: int = 30,
    feature_fn: FeatureFn = player_metrics,
    active_days: int = 365,
    data_end: datetime | None = None,
) -> ChurnModel:
    """Backtest: train on the snapshot at ``t0 - horizon``, test on the snapshot at ``t0``.

    Returns the model trained at ``t0 - horizon`` with its test report in ``.report``
    (ROC-AUC, recency baseline, Brier score, calibration curve). Needs visits from
    ``t0 - 2 * horizon`` to ``t0 + horizon``; raises NotEnoughData otherwise or when either
    snapshot is too small (``min_rows``, ``min_class`` apply to the training snapshot).
    """
    t0 = as_of_datetime(t0)
    train_at = t0 - timedelta(days=horizon_days)
    options = {"feature_fn": feature_fn, "active_days": active_days, "data_end": data_end}
    train = churn_dataset(events, players, train_at, horizon_days, **options)
    test = churn_dataset(events, players, t0, horizon_days, **options)
    model = train_churn_model(*train, min_rows=min_rows, min_class=min_class, seed=seed, estimator=estimator,
                              horizon_days=horizon_days)
    return evaluate_churn_model(model, *test)


def score_churn(
    events: pl.LazyFrame,
    players: pl.LazyFrame | None,
    as_of: datetime | date,
    horizon_days: int = 60,
    *,
    seed: int = 0,
    estimator: str = "logistic",
    min_rows: int = 200,
    min_class: int = 30,
    feature_fn: FeatureFn = player_metrics,
    active_days: int = 365,
) -> tuple[pl.DataFrame, ChurnModel]:
    """(player_id, churn_probability) of the players active at ``as_of``, and the model behind it.

    The model is trained on the latest snapshot whose labels are complete at ``as_of``:
    ``as_of - horizon`` (labels from that to ``as_of``); ``as_of`` itself needs no future data.
    Raises NotEnoughData like :func:`churn_dataset` / ``train_churn_model``.
    """
    as_of = as_of_datetime(as_of)
    train = churn_dataset(events, players, as_of - timedelta(days=horizon_days), horizon_days,
                          feature_fn=feature_fn, active_days=active_days, data_end=as_of)
    model = train_churn_model(*train, min_rows=min_rows, min_class=min_class, seed=seed, estimator=estimator,
                              horizon_days=horizon_days)
    features = _active_features(events, players, as_of, feature_fn, active_days).sort("player_id").collect()
    probability = pl.Series("churn_probability", predict_churn(model, features), dtype=pl.Float64)
    return features.select("player_id").with_columns(probability), model
