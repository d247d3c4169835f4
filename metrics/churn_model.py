"""A fitted churn classifier: P(no visit in the next N days) from per-player metrics.

Pure: frames in, a model and a report out, no I/O. The frames are built elsewhere
(``pipelines.derived.churn_training``: one row per player active before a snapshot time, the
metrics of docs/metrics-contract.md as of that time, label 1 = no visit in the following
``horizon_days``).

The split is by time, never random
    A model is trained on one snapshot (features as of ``t0``, labels from ``(t0, t0 + N]``) and
    evaluated on a *later* snapshot (features as of ``t1 >= t0 + N``, labels from ``(t1, t1 + N]``),
    which is how it is used: trained on what is known today, applied to the players of tomorrow.
    Nothing here draws a random train/test split. When the frames carry the ``as_of`` column
    (``player_metrics`` adds it) :func:`evaluate_churn_model` refuses a test snapshot that is not
    later than the training one, or that starts before the training labels were complete.

Estimator
    Default ``estimator="logistic"``: a ``Pipeline`` of median imputation (null ratios such as
    ``avg_days_between_visits`` for one-visit players), standardisation and an L2
    ``LogisticRegression`` (lbfgs: deterministic). ``estimator="hgb"``: a small regularised
    ``HistGradientBoostingClassifier`` (missing values handled natively, ``random_state=seed``,
    early stopping off so there is no internal random validation split). On the generated demo
    data the logistic pipeline ranks as well or slightly better and fits in a fraction of the time.
    Features are the numeric and boolean columns of the frame (ids, timestamps and text labels
    are left out); booleans count 0/1, nulls are NaN.

Report (:class:`ChurnReport`)
    ROC-AUC of the model; ROC-AUC of ``recency_days`` alone (the baseline any churn model must
    beat: days since last seen ranks players without fitting anything); Brier score; the
    calibration curve of ``sklearn.calibration.calibration_curve`` (uniform bins) with the number
    of players per bin.

Too little data raises :class:`NotEnoughData` (a ``ValueError``) saying what is missing, how much
is needed and how much there is.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sklearn.calibration import calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

__all__ = [
    "BASELINE_FEATURE",
    "ChurnModel",
    "ChurnReport",
    "NotEnoughData",
    "evaluate_churn_model",
    "feature_columns",
    "predict_churn",
    "train_churn_model",
]

BASELINE_FEATURE = "recency_days"
# columns that identify a row or a time, never features
_NOT_FEATURES = frozenset({"player_id", "as_of"})
ESTIMATORS = ("logistic", "hgb")
# below this many rows OpenMP/BLAS threads cost more than they save on a busy 2-core machine
# (5 s instead of 0.9 s for a 1,200-row HistGradientBoosting fit; 10 s instead of 4.3 s wall for the
# logistic pipeline on 85,000 players x 80 features): run single-threaded
_SINGLE_THREAD_ROWS = 1_000_000


class NotEnoughData(ValueError):
    """Too little data to train or evaluate: ``what`` needs ``needed``, there is ``got``."""

    def __init__(self, message: str, *, what: str = "", needed: Any = None, got: Any = None) -> None:
        super().__init__(message)
        self.what, self.needed, self.got = what, needed, got


@dataclass(frozen=True)
class ChurnReport:
    """How a model ranks and how well its probabilities match on one labelled snapshot."""

    rows: int
    churners: int  # label 1
    stayers: int  # label 0
    roc_auc: float
    baseline_roc_auc: float | None  # recency_days alone; None without that column
    brier: float
    churn_rate: float
    calibration: pl.DataFrame  # mean_predicted, observed_rate, players (one row per non-empty bin)
    as_of: datetime | None = None

    @property
    def lift_over_baseline(self) -> float | None:
        """Model ROC-AUC minus the recency baseline's."""
        return None if self.baseline_roc_auc is None else self.roc_auc - self.baseline_roc_auc

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON or a table (the calibration curve as a list of rows)."""
        return {
            "as_of": self.as_of, "rows": self.rows, "churners": self.churners, "stayers": self.stayers,
            "churn_rate": self.churn_rate, "roc_auc": self.roc_auc, "baseline_roc_auc": self.baseline_roc_auc,
            "brier": self.brier, "calibration": self.calibration.to_dicts(),
        }

    def __str__(self) -> str:
        base = "n/a" if self.baseline_roc_auc is None else f"{self.baseline_roc_auc:.3f}"
        return (f"ROC-AUC {self.roc_auc:.3f} (recency baseline {base}), Brier {self.brier:.3f}, "
                f"{self.rows} players, {self.churners} churned ({self.churn_rate:.1%})")


@dataclass(frozen=True)
class ChurnModel:
    """A fitted churn classifier and what it was trained on."""

    estimator: Any  # a fitted sklearn classifier or Pipeline
    features: tuple[str, ...]
    kind: str
    seed: int
    rows: int
    churners: int
    stayers: int
    trained_as_of: datetime | None = None  # the training snapshot's time, when the frame said
    horizon_days: int | None = None
    report: ChurnReport | None = field(default=None, compare=False)  # set by evaluate_churn_model


# ---------------------------------------------------------------------------------- inputs


def feature_columns(features: pl.DataFrame) -> list[str]:
    """The frame's model inputs: numeric and boolean columns other than player_id and as_of."""
    return [
        name for name, dtype in features.schema.items()
        if name not in _NOT_FEATURES and (dtype.is_numeric() or dtype == pl.Boolean)
    ]


def _matrix(features: pl.DataFrame, columns: tuple[str, ...] | list[str]) -> np.ndarray:
    """float64 matrix of ``columns`` (absent columns and nulls as NaN), in that order."""
    exprs = [
        pl.col(c).cast(pl.Float64) if c in features.columns else pl.lit(None, dtype=pl.Float64).alias(c)
        for c in columns
    ]
    matrix = features.select(exprs).to_numpy().astype(np.float64, copy=False).reshape(features.height, len(columns))
    matrix[~np.isfinite(matrix)] = np.nan  # nulls, and any infinite ratio, are missing values
    return matrix


def _labels(labels: pl.Series | np.ndarray | list, rows: int) -> np.ndarray:
    """0/1 int array of the labels, checked against the number of feature rows."""
    series = labels if isinstance(labels, pl.Series) else pl.Series("label", labels)
    if series.len() != rows:
        raise ValueError(f"labels has {series.len()} values for {rows} feature rows")
    if series.null_count():
        raise ValueError(f"labels has {series.null_count()} nulls; label every row 0 (stayed) or 1 (churned)")
    y = series.cast(pl.Int64).to_numpy()
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (stayed) or 1 (churned)")
    return y


def _snapshot_time(features: pl.DataFrame) -> datetime | None:
    """The frame's single ``as_of``, when it has that column."""
    if "as_of" not in features.columns or features.height == 0:
        return None
    values = features.get_column("as_of").unique()
    if values.len() != 1 or values[0] is None:
        raise ValueError(f"features mix {values.len()} as_of values; one snapshot per frame")
    value = values[0]
    return value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time())


def _check_counts(y: np.ndarray, *, min_rows: int, min_class: int, purpose: str) -> tuple[int, int]:
    """(churners, stayers), or NotEnoughData naming the shortfall."""
    rows, churners = len(y), int(y.sum())
    stayers = rows - churners
    if rows < min_rows:
        raise NotEnoughData(
            f"{purpose} needs at least {min_rows} players, got {rows} "
            f"({churners} churned, {stayers} stayed): use a longer history or a larger population",
            what="rows", needed=min_rows, got=rows,
        )
    if churners < min_class or stayers < min_class:
        raise NotEnoughData(
            f"{purpose} needs at least {min_class} churned and {min_class} retained players, got "
            f"{churners} churned and {stayers} retained (of {rows})",
            what="class", needed=min_class, got={"churned": churners, "stayed": stayers},
        )
    return churners, stayers


# ---------------------------------------------------------------------------------- model


def _threads(rows: int) -> Any:
    """A scope limiting OpenMP/BLAS to one thread for small data (which also makes HGB reproducible
    whatever the machine's core count)."""
    return threadpool_limits(limits=1) if rows < _SINGLE_THREAD_ROWS else contextlib.nullcontext()


def _estimator(kind: str, seed: int) -> Any:
    if kind == "hgb":
        # small, regularised trees: a few thousand players at most per property snapshot
        return HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=200, max_leaf_nodes=15, min_samples_leaf=20,
            l2_regularization=1.0, early_stopping=False, random_state=seed,
        )
    if kind == "logistic":
        return Pipeline([
            # keep_empty_features: an all-null column (no orders anywhere) stays, as 0, without a warning
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=1.0, max_iter=5000, random_state=seed)),
        ])
    raise ValueError(f"estimator must be one of {ESTIMATORS}, got {kind!r}")


def train_churn_model(
    features: pl.DataFrame,
    labels: pl.Series,
    *,
    min_rows: int = 200,
    min_class: int = 30,
    seed: int = 0,
    estimator: str = "logistic",
    horizon_days: int | None = None,
    test: tuple[pl.DataFrame, pl.Series] | None = None,
) -> ChurnModel:
    """Fit on one labelled snapshot, every row of it (no random split).

    ``labels``: 1 = churned (no visit in the horizon after the snapshot), 0 = stayed, one per row
    of ``features``. ``test``: (features, labels) of a *later* snapshot; the returned model then
    carries its :class:`ChurnReport` (as :func:`evaluate_churn_model` gives). Raises
    :class:`NotEnoughData` with fewer than ``min_rows`` players or fewer than ``min_class`` of
    either label.
    """
    y = _labels(labels, features.height)
    churners, stayers = _check_counts(y, min_rows=min_rows, min_class=min_class, purpose="training a churn model")
    columns = tuple(feature_columns(features))
    if not columns:
        raise ValueError("features has no numeric or boolean column to learn from")
    model = _estimator(estimator, seed)
    with _threads(len(y)):
        model.fit(_matrix(features, columns), y)
    fitted = ChurnModel(
        estimator=model, features=columns, kind=estimator, seed=seed, rows=len(y), churners=churners,
        stayers=stayers, trained_as_of=_snapshot_time(features), horizon_days=horizon_days,
    )
    return fitted if test is None else evaluate_churn_model(fitted, *test)


def predict_churn(model: ChurnModel, features: pl.DataFrame) -> np.ndarray:
    """P(churn) per row of ``features`` (columns matched by name; absent ones count as missing)."""
    if features.height == 0:
        return np.empty(0, dtype=np.float64)
    with _threads(features.height):
        return model.estimator.predict_proba(_matrix(features, model.features))[:, 1]


def _calibration(y: np.ndarray, p: np.ndarray, n_bins: int) -> pl.DataFrame:
    """calibration_curve's bins with the number of players in each (the same uniform binning)."""
    observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
    return pl.DataFrame({
        "mean_predicted": predicted, "observed_rate": observed,
        "players": counts[counts > 0].astype(np.int64),
    })


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score))


def evaluate_churn_model(
    model: ChurnModel,
    features: pl.DataFrame,
    labels: pl.Series,
    *,
    n_bins: int = 10,
    min_class: int = 1,
) -> ChurnModel:
    """The model with its :class:`ChurnReport` on a later labelled snapshot (``model.report``).

    When both snapshots carry ``as_of``, the test one must be later than the training one, and at
    least ``horizon_days`` later when the model knows its horizon (the training labels must be
    complete before the test snapshot starts). Raises :class:`NotEnoughData` with fewer than
    ``min_class`` players of either label (ROC-AUC needs both).
    """
    y = _labels(labels, features.height)
    churners, stayers = _check_counts(y, min_rows=2 * min_class, min_class=min_class,
                                      purpose="evaluating a churn model")
    tested = _snapshot_time(features)
    trained = model.trained_as_of
    if tested is not None and trained is not None:
        if tested <= trained:
            raise ValueError(f"the test snapshot ({tested}) must be later than the training one ({trained}): "
                             "churn models are evaluated forward in time")
        if model.horizon_days is not None and tested < trained + timedelta(days=model.horizon_days):
            raise ValueError(
                f"the test snapshot ({tested}) starts before the training labels end "
                f"({trained + timedelta(days=model.horizon_days)}): the training labels would overlap it"
            )
    p = predict_churn(model, features)
    baseline = None
    if BASELINE_FEATURE in features.columns:
        recency = features.get_column(BASELINE_FEATURE).cast(pl.Float64).to_numpy()
        # never seen counts as the longest absence; with no recency at all there is no baseline
        finite = np.isfinite(recency)
        if finite.any():
            baseline = _auc(y, np.where(finite, recency, np.nanmax(recency) + 1.0))
    report = ChurnReport(
        rows=len(y), churners=churners, stayers=stayers, roc_auc=_auc(y, p), baseline_roc_auc=baseline,
        brier=float(brier_score_loss(y, p)), churn_rate=churners / len(y),
        calibration=_calibration(y, p, n_bins), as_of=tested,
    )
    return replace(model, report=report)
