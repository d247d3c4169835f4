"""The build's population models: fit the CLV models and the churn classifier, or reuse a recent fit.

A fit is a population statistic that changes slowly; scores change with every as_of. So every
build scores every player, but fits only when there is no usable fit: none kept yet, one made with
other metric definitions, or one older than ``MODEL_MAX_AGE_DAYS`` (``refit=None``, the default).
``refit=True`` always fits, ``refit=False`` reuses any earlier fit (fitting only when there is none).
Fits are kept in ``model_fits`` as plain numbers (JSON): the CLV parameters
(``CLVParams.columns``) and the logistic churn model (``metrics.churn_export``).

The churn classifier trains on a fixed sample of ``CHURN_SAMPLE`` players (``Store.sample_players``:
by the md5 of the id), so a full pass finds the sample's rows in its shards and an incremental build
reads just the sample's events, and both train on the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from metrics.churn_export import export_logistic, predict_exported
from metrics.churn_model import NotEnoughData, train_churn_model
from pipelines.build_compute import Training, first_visit
from pipelines.derived.churn_training import check_history
from pipelines.derived.clv import PARAM_COLUMNS, CLVParams, clv_from_state
from pipelines.store import Store

__all__ = ["CHURN_HORIZON_DAYS", "CHURN_SAMPLE", "MODEL_MAX_AGE_DAYS", "churn_scores", "clv_scores",
           "plan_training", "train_churn", "usable_fit"]

CHURN_HORIZON_DAYS = 60  # churn = no visit in the next 60 days (the model's label)
CHURN_ACTIVE_DAYS = 365  # the model's population: a visit in the year before
CHURN_SAMPLE = 50_000  # players the churn model trains on (all of them when fewer): 2 s of fitting
MODEL_MAX_AGE_DAYS = 7  # a fit this many days older than the as_of is refitted

Say = Callable[[str], None]


def usable_fit(store: Store, kind: str, catalog_version: str, as_of: date, refit: bool | None) -> dict[str, Any] | None:
    """The kept fit this build may score with, or None when it must fit."""
    if refit is True:
        return None
    fit = store.latest_fit(kind, catalog_version, as_of)
    if fit is None or (refit is None and (as_of - fit["as_of"]).days >= MODEL_MAX_AGE_DAYS):
        return None
    return fit


def plan_training(store: Store, cutoff: datetime, say: Say) -> Training | None:
    """What the churn classifier trains on as of ``cutoff``; None (and why) when history is too short."""
    t0 = cutoff - timedelta(days=CHURN_HORIZON_DAYS)
    try:
        # history reaching back far enough is one visit at or before that day, not the earliest
        first = first_visit(store, by=t0 - timedelta(days=CHURN_HORIZON_DAYS))
        check_history(first, None, t0, CHURN_HORIZON_DAYS, CHURN_HORIZON_DAYS, data_end=cutoff)
    except NotEnoughData as exc:
        say(f"churn model skipped: {exc}")
        return None
    return Training(store.sample_players(CHURN_SAMPLE), t0, CHURN_HORIZON_DAYS, CHURN_ACTIVE_DAYS)


def train_churn(training: tuple[pl.DataFrame, pl.Series] | None, say: Say) -> dict[str, Any] | None:
    """The exported logistic churn model trained on the rows, or None (and why) when they are too few."""
    if training is None:
        return None
    try:
        model = train_churn_model(*training, horizon_days=CHURN_HORIZON_DAYS)
    except NotEnoughData as exc:  # too few churners or stayers: no model today
        say(f"churn model skipped: {exc}")
        return None
    return export_logistic(model)


def churn_scores(wide: pl.DataFrame, cutoff: datetime, params: dict[str, Any] | None) -> pl.DataFrame | None:
    """(player_id, churn_probability) of the players in the model's population as of ``cutoff``."""
    if params is None:
        return None
    # scored over the model's columns of every row (a select copies nothing), then the active rows
    # kept: filtering the ~150-column wide frame first copied 1M rows of every column
    features = wide.select(name for name in params["features"] if name in wide.columns)
    probability = pl.Series("churn_probability", predict_exported(params, features), dtype=pl.Float64)
    active = wide.get_column("last_trip_at") > cutoff - timedelta(days=CHURN_ACTIVE_DAYS)
    return wide.select("player_id").with_columns(probability).filter(active)


def clv_scores(state: pl.DataFrame, cutoff: datetime, fit: dict[str, Any] | None) -> tuple[pl.DataFrame, CLVParams]:
    """Per-player CLV from the CLV state, with the kept fit or a new one."""
    params = None
    if fit is not None:
        row = {k: fit["params"].get(k) for k in PARAM_COLUMNS}
        params = CLVParams.from_frame(pl.DataFrame([row], schema=PARAM_COLUMNS))
    return clv_from_state(state, cutoff, params=params)
