"""A trained logistic churn model as plain numbers: kept as JSON in the store, scored with numpy.

The build trains the classifier on some days only (a population model changes slowly) and scores
every player on every build, so the fit must outlive the process: rather than pickling sklearn
objects, :func:`export_logistic` keeps what the default pipeline of :mod:`metrics.churn_model`
(median imputation -> standardisation -> L2 logistic regression) computes with: the feature names,
medians, means, scales, coefficients and intercept. :func:`predict_exported` applies them:

    p = 1 / (1 + exp(-(((x with NaN -> median) - mean) / scale) . coef - intercept))

which is ``predict_proba(x)[:, 1]`` of the pipeline up to floating-point rounding (tested to 1e-12).
Every build, the one that trains included, scores through this path, so a build that trains and a
build that reuses the same fit give identical probabilities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from scipy.special import expit

from metrics.churn_model import ChurnModel, _matrix

__all__ = ["export_logistic", "predict_exported"]


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


def predict_exported(params: dict[str, Any], features: pl.DataFrame) -> np.ndarray:
    """P(churn) per row of ``features`` from :func:`export_logistic` numbers (columns by name)."""
    if features.height == 0:
        return np.empty(0, dtype=np.float64)
    x = _matrix(features, params["features"])
    medians = np.asarray(params["medians"], dtype=np.float64)
    x = np.where(np.isnan(x), medians, x)
    z = (x - np.asarray(params["means"])) / np.asarray(params["scales"])
    return expit(z @ np.asarray(params["coef"]) + params["intercept"])
