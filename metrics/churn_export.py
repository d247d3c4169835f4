"""A trained logistic churn model as plain numbers: kept as JSON in the store, scored with numpy.

The build trains the classifier on some days only (a population model changes slowly) and scores
every player on every build, so the fit must outlive the process: rather than pickling sklearn
objects, :func:`export_logistic` keeps what the default pipeline of :mod:`metrics.churn_model`
(median imputation -> standardisation -> L2 logistic regression) computes with: the feature names,
medians, means, scales, coefficients and intercept. :func:`predict_exported` applies them:

    p = 1 / (1 + exp(-(((x with NaN -> median) - mean) / scale) . coef - intercept))

which is ``predict_proba(x)[:, 1]`` of the pipeline up to floating-point rounding (tested to 1e-12),
evaluated as one Polars expression over the frame's columns (no float matrix of every feature).
Every build, the one that trains included, scores through this path, so a build that trains and a
build that reuses the same fit give identical probabilities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from scipy.special import expit

from metrics.churn_model import ChurnModel

__all__ = ["export_logistic", "logit", "predict_exported"]


def export_logistic(model: ChurnModel) -> dict[str, Any]:
    """The fitted logistic pipeline's numbers and training summary, as JSON-ready values."""
    if model.kind != "logistic":
        raise ValueError(f"only the logistic pipeline exports to plain numbers, not {model.kind!r}")
    impute, scale, fitted = (model.estimator.named_steps[k] for k in ("impute", "scale", "model"))
    trained = model.trained_as_of.isoformat() if isinstance(model.trained_as_of, datetime) else None
    return {
        "kind": "logistic", "features": list(model.features),
        # an all-missing training column has no median (NaN); the pipeline imputes it as 0
        "medians": np.nan_to_num(impute.statistics_, nan=0.0).tolist(), "means": scale.mean_.tolist(), "scales": scale.scale_.tolist(),
        "coef": fitted.coef_[0].tolist(), "intercept": float(fitted.intercept_[0]),
        "rows": model.rows, "churners": model.churners, "stayers": model.stayers, "seed": model.seed,
        "trained_as_of": trained, "horizon_days": model.horizon_days,
    }


def logit(params: dict[str, Any], columns: set[str] | None = None) -> pl.Expr:
    """The model's log-odds as one Polars expression over the feature columns (``columns``: those
    the frame has; a feature it lacks counts as missing, i.e. as its median)."""
    terms = []
    for name, median, mean, scale, weight in zip(params["features"], params["medians"], params["means"],
                                                 params["scales"], params["coef"], strict=True):
        x = pl.col(name).cast(pl.Float64) if columns is None or name in columns else pl.lit(None, dtype=pl.Float64)
        x = pl.when(x.is_finite()).then(x).otherwise(pl.lit(median))  # nulls, NaN and inf: missing
        terms.append((x - mean) / scale * weight)
    return pl.sum_horizontal(terms) + params["intercept"]


def predict_exported(params: dict[str, Any], features: pl.DataFrame) -> np.ndarray:
    """P(churn) per row of ``features`` from :func:`export_logistic` numbers (columns by name)."""
    if features.height == 0:
        return np.empty(0, dtype=np.float64)
    z = features.select(logit(params, set(features.columns)).alias("z")).to_series().to_numpy()
    return expit(z)
