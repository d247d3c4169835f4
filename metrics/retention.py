"""Contractual retention: the shifted-beta-geometric (sBG) model.

Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive Marketing 21(1).
Each customer churns at the end of any period with their own probability theta ~ Beta(alpha, beta),
so a cohort's retention rate rises over time as the churn-prone leave. With T the period in which a
customer churns:

* P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)
* S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)
* retention rate r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln

__all__ = ["SBGParams", "fit_sbg", "retention_rate", "sbg_log_likelihood", "survival"]

_LOG_BOUNDS = (-20.0, 20.0)


@dataclass(frozen=True)
class SBGParams:
    """Fitted sBG parameters and the log-likelihood of the cohort they were fitted on."""

    alpha: float
    beta: float
    log_likelihood: float = math.nan


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
    alive = _counts(survivors)
    size = alive[0]

    def objective(log_params: np.ndarray) -> float:
        """Negative log-likelihood per cohort member."""
        return -_log_likelihood(*np.exp(log_params), alive) / size

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


def retention_rate(params: SBGParams, periods: Any) -> np.ndarray:
    """Share of those alive at period t - 1 who are still alive at t, for t in ``periods`` (t >= 1)."""
    t = np.asarray(periods, dtype=np.float64)
    return (params.beta + t - 1.0) / (params.alpha + params.beta + t - 1.0)
