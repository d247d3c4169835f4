"""Contractual retention: the shifted-beta-geometric (sBG) model.

Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive Marketing 21(1).
Each customer churns at the end of any period with their own probability theta ~ Beta(alpha, beta),
so a cohort's retention rate rises over time as the churn-prone leave. With T the period in which a
customer churns:

* P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)
* S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)
* retention rate r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)

``fit_sbg(survivors)`` fits one cohort (the counts alive at periods 0..n, e.g. 1000, 631, 468, ...);
``fit_sbg_cohorts`` fits several cohorts of different ages at once (their log-likelihoods add, each
cohort right-censored at its own last period). The fit projects forward with ``fit.project(size,
periods)`` (expected survivors), ``fit.survival`` and ``fit.retention_rate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln

__all__ = ["SBGParams", "fit_sbg", "fit_sbg_cohorts", "project", "retention_rate", "sbg_log_likelihood",
           "survival"]

_LOG_BOUNDS = (-20.0, 20.0)


@dataclass(frozen=True)
class SBGParams:
    """Fitted sBG parameters and the log-likelihood of the cohort they were fitted on."""

    alpha: float
    beta: float
    log_likelihood: float = math.nan

    def survival(self, periods: Any) -> np.ndarray:
        """Share of a cohort still alive after each of ``periods`` (S(0) = 1)."""
        return survival(self, periods)

    def retention_rate(self, periods: Any) -> np.ndarray:
        """Share of those alive at t - 1 still alive at t, for t in ``periods`` (t >= 1)."""
        return retention_rate(self, periods)

    def project(self, size: float, periods: Any) -> np.ndarray:
        """Expected customers still alive after each of ``periods`` in a cohort of ``size``."""
        return project(self, size, periods)

    @property
    def mean_churn(self) -> float:
        """Mean churn probability per period of a new cohort, alpha / (alpha + beta)."""
        return self.alpha / (self.alpha + self.beta)


def _counts(survivors: Any) -> np.ndarray:
    """Validated survivor counts at periods 0..n as float64."""
    alive = np.asarray(survivors, dtype=np.float64)
    if alive.ndim != 1 or alive.size < 2:
        raise ValueError("survivors needs the counts alive at periods 0..n with n >= 1")
    if np.any(alive < 0) or np.any(np.diff(alive) > 0):
        raise ValueError("survivors must be non-negative and non-increasing")
    if alive[0] <= 0:
        raise ValueError("the cohort must start with at least one customer")
    return alive


def _log_likelihood(alpha: float, beta: float, alive: np.ndarray) -> float:
    """sBG log-likelihood: churners per period plus the right-censored survivors of the last period."""
    n = alive.size - 1
    t = np.arange(1, n + 1, dtype=np.float64)
    churned = alive[:-1] - alive[1:]
    log_b0 = betaln(alpha, beta)
    log_churn = betaln(alpha + 1.0, beta + t - 1.0) - log_b0
    log_survive_n = betaln(alpha, beta + n) - log_b0
    return float(churned @ log_churn + alive[-1] * log_survive_n)


def sbg_log_likelihood(params: SBGParams, survivors: Any) -> float:
    """Log-likelihood of a cohort's survivor counts under given sBG parameters."""
    return _log_likelihood(params.alpha, params.beta, _counts(survivors))


def fit_sbg(survivors: Any) -> SBGParams:
    """Maximum-likelihood sBG fit to the counts alive at periods 0..n (period 0 = cohort size)."""
    return fit_sbg_cohorts([survivors])


def fit_sbg_cohorts(cohorts: Any) -> SBGParams:
    """One sBG fit to several cohorts' survivor counts (each alive at its periods 0..n_i).

    Cohorts observed for one period only (nothing to learn from) and empty cohorts are skipped; at
    least one cohort with a period 1 is needed.
    """
    usable = []
    for survivors in cohorts:
        alive = np.asarray(survivors, dtype=np.float64)
        if alive.ndim == 1 and (alive.size == 1 or (alive.size > 1 and alive[0] == 0)):
            continue  # a newborn or empty cohort says nothing about churn
        usable.append(_counts(alive))
    if not usable:
        raise ValueError("no cohort observed over at least two periods: nothing to fit")
    size = sum(alive[0] for alive in usable)

    def objective(log_params: np.ndarray) -> float:
        """Negative log-likelihood per cohort member."""
        alpha, beta = np.exp(log_params)
        return -sum(_log_likelihood(alpha, beta, alive) for alive in usable) / size

    # two parameters and a smooth surface: Nelder-Mead from the neutral alpha = beta = 1 is enough
    res = minimize(
        objective,
        np.zeros(2),
        method="Nelder-Mead",
        bounds=[_LOG_BOUNDS] * 2,
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000},
    )
    alpha, beta = np.exp(res.x)
    return SBGParams(alpha=float(alpha), beta=float(beta), log_likelihood=float(-res.fun * size))


def survival(params: SBGParams, periods: Any) -> np.ndarray:
    """Share of the cohort still alive after each of ``periods`` (S(0) = 1)."""
    t = np.asarray(periods, dtype=np.float64)
    return np.exp(betaln(params.alpha, params.beta + t) - betaln(params.alpha, params.beta))


def project(params: SBGParams, size: float, periods: Any) -> np.ndarray:
    """Expected survivors of a cohort of ``size`` after each of ``periods``."""
    return size * survival(params, periods)


def retention_rate(params: SBGParams, periods: Any) -> np.ndarray:
    """Share of those alive at period t - 1 who are still alive at t, for t in ``periods`` (t >= 1)."""
    t = np.asarray(periods, dtype=np.float64)
    return (params.beta + t - 1.0) / (params.alpha + params.beta + t - 1.0)
