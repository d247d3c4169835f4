"""Customer lifetime value: BG/NBD purchase counts and Gamma-Gamma spend per purchase.

* BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers" the Easy Way: An Alternative to
  the Pareto/NBD Model. Marketing Science 24(2). While alive a customer buys at Poisson rate
  lambda ~ Gamma(r, alpha); after each repeat purchase they drop out with probability
  p ~ Beta(a, b).
* Gamma-Gamma: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value". Spend per
  purchase z ~ Gamma(p, nu), nu ~ Gamma(q, v) across customers, independent of the purchase process.

Inputs are RFM summaries as built by :func:`metrics.rfm.summary` (columns ``frequency``,
``recency``, ``T`` and for spend ``monetary_value``): a Polars DataFrame/LazyFrame or anything
indexable by column name (pandas, dict of arrays). Times are in the summary's period (e.g. weeks);
``t`` and ``horizon`` are in the same unit. Outputs are numpy arrays in the summary's row order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

__all__ = [
    "BGNBDParams",
    "GammaGammaParams",
    "bgnbd_log_likelihood",
    "clv",
    "conditional_expected_spend",
    "expected_purchases",
    "expected_purchases_new",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "p_alive",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
]

# log-parameter box: keeps exp() finite while leaving any sensible scale (alpha in hours ~1e4) free
_LOG_BOUNDS = (-20.0, 20.0)
# rows per block in likelihood sums: temporaries of this size stay in cache and are recycled by
# malloc, where million-row temporaries are page-faulted fresh on every one of ~20 operations
_BLOCK = 8192


@dataclass(frozen=True)
class BGNBDParams:
    """Fitted BG/NBD parameters and the log-likelihood of the data they were fitted on."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = math.nan
    n: int = 0


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma spend parameters and the log-likelihood of the repeat customers."""

    p: float
    q: float
    v: float
    log_likelihood: float = math.nan
    n: int = 0


# ---------------------------------------------------------------------------------- inputs


def _column(summary: Any, name: str) -> np.ndarray:
    """One summary column as a float64 numpy array."""
    if isinstance(summary, pl.LazyFrame):
        summary = summary.select(name).collect()
    if isinstance(summary, pl.DataFrame):
        return summary.get_column(name).cast(pl.Float64).to_numpy()
    return np.asarray(summary[name], dtype=np.float64)


def _frt(summary: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``frequency, recency, T`` arrays of a summary."""
    if isinstance(summary, pl.LazyFrame):
        summary = summary.select("frequency", "recency", "T").collect()
    return _column(summary, "frequency"), _column(summary, "recency"), _column(summary, "T")


def _dedup(*cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of equal-length columns and each input row's index into them."""
    # a Polars dense rank is ~6x faster than np.unique(axis=0, return_inverse=True) at 1M rows
    frame = pl.DataFrame({f"c{i}": c for i, c in enumerate(cols)})
    inverse = frame.select(pl.struct(frame.columns).rank("dense") - 1).to_series().to_numpy()
    k = int(inverse.max()) + 1 if len(inverse) else 0
    uniques = []
    for c in cols:  # one pass per column, not per row
        u = np.empty(k, dtype=np.float64)
        u[inverse] = c  # duplicates write the same value
        uniques.append(u)
    return uniques, inverse


def _distinct(*cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of equal-length columns (first-seen order) and how often each occurs."""
    frame = pl.DataFrame({f"c{i}": c for i, c in enumerate(cols)})
    # maintain_order: deterministic sums in the likelihood, and faster than sorting afterwards
    counts = frame.group_by(frame.columns, maintain_order=True).len()
    uniques = [counts.get_column(name).to_numpy() for name in frame.columns]
    return uniques, counts.get_column("len").cast(pl.Float64).to_numpy()


def _subsample(n: int, sample: int | float | None, seed: int) -> np.ndarray | None:
    """Row indices of a uniform random sample without replacement, or None for all rows."""
    if sample is None:
        return None
    if isinstance(sample, float):
        if not 0.0 < sample <= 1.0:
            raise ValueError(f"a float sample is a fraction in (0, 1], got {sample!r}")
        size = round(sample * n)
    else:
        size = int(sample)
    if size >= n:
        return None
    if size < 1:
        raise ValueError(f"sample must keep at least one customer, got {sample!r}")
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _check_histories(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> None:
    """Refuse summaries no purchase history can produce."""
    if not (np.all(np.isfinite(x) & np.isfinite(tx) & np.isfinite(T))):
        raise ValueError("frequency, recency and T must be finite")
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must be a non-negative whole number")
    if np.any(tx < 0) or np.any(tx > T):
        raise ValueError("recency must lie in [0, T]")


# ---------------------------------------------------------------------------------- BG/NBD


@dataclass(frozen=True)
class _BGNBDData:
    """Weighted distinct histories, split by whether there was a repeat purchase."""

    T0: np.ndarray  # x = 0: only T matters
    w0: np.ndarray
    x1: np.ndarray  # x > 0
    tx1: np.ndarray
    T1: np.ndarray
    w1: np.ndarray
    x_unique: np.ndarray  # distinct x with their total weight, for the terms in x alone
    w_by_x: np.ndarray
    total: float


def _bgnbd_data(x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> _BGNBDData:
    """Split and index weighted histories once, so each likelihood evaluation only does row math."""
    repeat = x > 0
    x_unique, x_index = np.unique(x, return_inverse=True)
    return _BGNBDData(
        T0=T[~repeat],
        w0=w[~repeat],
        x1=x[repeat],
        tx1=tx[repeat],
        T1=T[repeat],
        w1=w[repeat],
        x_unique=x_unique,
        w_by_x=np.bincount(x_index, weights=w, minlength=len(x_unique)),
        total=float(w.sum()),
    )


def _block_sums(fn: Any, *arrays: np.ndarray) -> np.ndarray:
    """Sum the vector ``fn(*blocks)`` over row blocks of ``arrays``."""
    n = len(arrays[0])
    total = fn(*(a[:_BLOCK] for a in arrays))
    for start in range(_BLOCK, n, _BLOCK):  # a few dozen blocks per million rows, not per customer
        total += fn(*(a[start : start + _BLOCK] for a in arrays))
    return total


def _no_repeat_sums(alpha: float, T: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted sums over x = 0 histories: sum w log(alpha+T), sum w / (alpha+T)."""
    return np.array([w @ np.log(alpha + T), w @ (1.0 / (alpha + T))])


def _repeat_sums(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Weighted sums over x > 0 histories that the likelihood and its gradient need."""
    rx = r + x
    log_at = np.log(alpha + T)
    log_atx = np.log(alpha + tx)
    a3 = -rx * log_at  # still alive at T
    a4 = math.log(a) - np.log(b + x - 1.0) - rx * log_atx  # dropped out right after the last purchase
    # log-sum-exp by hand: np.logaddexp has no SIMD loop and is ~10x slower
    lse = np.maximum(a3, a4) + np.log1p(np.exp(-np.abs(a3 - a4)))
    w4 = np.exp(a4 - lse)  # posterior probability of the dropout branch
    ww4 = w * w4
    return np.array(
        [
            w @ lse,
            w @ log_at,
            ww4 @ (log_atx - log_at),
            (w * rx) @ ((1.0 - w4) / (alpha + T) + w4 / (alpha + tx)),
            ww4.sum(),
            ww4 @ (1.0 / (b + x - 1.0)),
        ]
    )


def _bgnbd_objective(log_params: np.ndarray, d: _BGNBDData) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood (FHL 2005 eq. 6) and its gradient in log-parameter space."""
    r, alpha, a, b = np.exp(log_params)
    xu, log_alpha = d.x_unique, math.log(alpha)
    # terms in x alone: summed over customers via the weight of each distinct x
    g = gammaln(r + xu) - gammaln(r) + betaln(a, b + xu) - betaln(a, b)
    psi_r = digamma(r + xu) - digamma(r)
    psi_ab = digamma(a + b) - digamma(a + b + xu)
    psi_b = digamma(b + xu) - digamma(b)
    # x = 0: likelihood (alpha + T)^-r; dropout is only possible after a repeat purchase
    log_at0, inv_at0 = _block_sums(lambda T, w: _no_repeat_sums(alpha, T, w), d.T0, d.w0)
    lse, log_at1, w4_dlog, alpha_term, w4_sum, w4_inv_bx1 = _block_sums(
        lambda x, tx, T, w: _repeat_sums(r, alpha, a, b, x, tx, T, w), d.x1, d.tx1, d.T1, d.w1
    )

    W = d.total
    ll = W * r * log_alpha + d.w_by_x @ g - r * log_at0 + lse
    d_r = d.w_by_x @ psi_r + W * log_alpha - log_at0 - log_at1 - w4_dlog
    d_alpha = W * r / alpha - r * inv_at0 - alpha_term
    d_a = d.w_by_x @ psi_ab + w4_sum / a
    d_b = d.w_by_x @ (psi_b + psi_ab) - w4_inv_bx1
    grad = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    # averaging keeps L-BFGS-B's absolute gradient tolerance meaningful for any n
    return -ll / W, -grad / W


def bgnbd_log_likelihood(params: BGNBDParams, summary: Any) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (FHL 2005 eq. 6)."""
    x, tx, T = _frt(summary)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    bx1 = np.where(repeat, b + x - 1.0, 1.0)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.where(repeat, np.log(a) - np.log(bx1) - (r + x) * np.log(alpha + tx), -np.inf)
    return (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + betaln(a, b + x)
        - betaln(a, b)
        + np.logaddexp(a3, a4)
    )


def _bgnbd_start(x: np.ndarray, T: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Log-space start: unit shapes and alpha matching the observed purchase rate."""
    mean_x = max(float(w @ x) / w.sum(), 1e-3)
    mean_t = max(float(w @ T) / w.sum(), 1e-3)
    # r / alpha is the mean purchase rate; the observed rate underestimates it (dropouts), fine for a start
    return np.log([1.0, mean_t / mean_x, 1.0, 1.0])


def _minimize_log(objective, start: np.ndarray, data):
    """Minimise an (value, gradient) objective over log-parameters: L-BFGS-B, then a polish."""
    res = minimize(
        objective,
        start,
        args=(data,),
        jac=True,
        method="L-BFGS-B",
        bounds=[_LOG_BOUNDS] * len(start),
        options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9},
    )
    if not res.success:
        # a polish from wherever L-BFGS-B stopped; Nelder-Mead needs no gradient accuracy
        res = minimize(
            lambda p: objective(p, data)[0],
            res.x,
            method="Nelder-Mead",
            options={"maxiter": 4000, "xatol": 1e-8, "fatol": 1e-12},
        )
    return res


def fit_bgnbd(summary: Any, sample: int | float | None = None, seed: int = 0) -> BGNBDParams:
    """Maximum-likelihood BG/NBD fit on ``frequency, recency, T``.

    ``sample``: fit on a uniform random sample without replacement of that many customers (an int)
    or that fraction of them (a float in (0, 1]), drawn with ``numpy.random.default_rng(seed)``;
    ``log_likelihood`` and ``n`` then refer to the sample. Without it every customer is used:
    identical histories are fitted once with a weight, so cost grows with distinct histories.
    """
    x, tx, T = _frt(summary)
    rows = _subsample(len(x), sample, seed)
    if rows is not None:
        x, tx, T = x[rows], tx[rows], T[rows]
    if len(x) == 0:
        raise ValueError("cannot fit BG/NBD on an empty summary")
    _check_histories(x, tx, T)
    # identical (x, t_x, T) rows contribute identically: fit on distinct rows with weights
    (x, tx, T), w = _distinct(x, np.where(x > 0, tx, 0.0), T)
    data = _bgnbd_data(x, tx, T, w)
    res = _minimize_log(_bgnbd_objective, _bgnbd_start(x, T, w), data)
    r, alpha, a, b = np.exp(res.x)
    return BGNBDParams(
        r=float(r),
        alpha=float(alpha),
        a=float(a),
        b=float(b),
        log_likelihood=float(-res.fun * w.sum()),
        n=int(w.sum()),
    )


def _log_odds_dead(params: BGNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x): odds of having dropped out; -inf for x=0."""
    repeat = x > 0
    bx1 = np.where(repeat, params.b + x - 1.0, 1.0)
    log_odds = (
        math.log(params.a)
        - np.log(bx1)
        + (params.r + x) * (np.log(params.alpha + T) - np.log(params.alpha + tx))
    )
    return np.where(repeat, log_odds, -np.inf)


def _p_alive(params: BGNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive at T | x, t_x, T) on arrays."""
    # expit of the negative log-odds stays finite where the odds themselves overflow
    return expit(-_log_odds_dead(params, x, tx, T))


def p_alive(params: BGNBDParams, summary: Any) -> np.ndarray:
    """Probability each customer is still alive at the end of observation (FHL 2005 eq. 13 / 2008 note)."""
    return _p_alive(params, *_frt(summary))


def _hyp2f1(A: float, B: float, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Gauss 2F1 via scipy, retried where scipy's integer-parameter branch overflows."""
    out = np.array(hyp2f1(A, B, c, z), dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        # scipy returns inf for some integer (A, B, c) with z near 1, e.g. 2F1(1, 1; 101; 0.905) where
        # the answer is 1.009; 2F1 is smooth in c, and a 1e-12 relative nudge stays ~1e-11 accurate
        c_bad = np.broadcast_to(c, out.shape)[bad]
        z_bad = np.broadcast_to(z, out.shape)[bad]
        out[bad] = hyp2f1(A, B, c_bad * (1.0 + 1e-12), z_bad)
    return out


def _purchases_if_alive(params: BGNBDParams, x: np.ndarray, T: np.ndarray, t: Any) -> np.ndarray:
    """E[Y(t) | x, T, alive at T]: eq. 10 without its P(alive) factor; t_x does not enter."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1.0) < 1e-7:
        # eq. 10 is continuous in a but 0/0 at a = 1; a step this small costs ~1e-9 relative accuracy
        a = 1.0 + math.copysign(1e-7, a - 1.0)
    if abs(a + b - 1.0) < 1e-8:
        # likewise 0 * inf at a + b = 1 for x = 0 (2F1 has a pole at c = 0)
        b = 1.0 - a + math.copysign(1e-8, a + b - 1.0)
    t = np.asarray(t, dtype=np.float64)
    one_minus_z = (alpha + T) / (alpha + T + t)
    z = t / (alpha + T + t)
    # Euler's transformation: (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)
    #   = (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)
    # the left side overflows/NaNs for large x and t; the right side has bounded parameters
    hyp = one_minus_z ** (a - 1.0) * _hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    return (a + b + x - 1.0) / (a - 1.0) * (1.0 - hyp)


def _conditional_expectation(
    params: BGNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray, t: Any
) -> np.ndarray:
    """E[Y(t) | x, t_x, T] (FHL 2005 eq. 10) on arrays."""
    return _purchases_if_alive(params, x, T, t) * _p_alive(params, x, tx, T)


def expected_purchases(params: BGNBDParams, summary: Any, t: Any) -> np.ndarray:
    """Expected number of purchases in the next ``t`` periods given each customer's history (eq. 10)."""
    return _conditional_expectation(params, *_frt(summary), t)


def expected_purchases_new(params: BGNBDParams, t: Any) -> np.ndarray:
    """Expected repeat purchases in ``t`` periods after the first purchase for a new customer (eq. 9)."""
    # eq. 9 is eq. 10 for a customer observed for zero time with no repeats
    t = np.asarray(t, dtype=np.float64)
    zeros = np.zeros_like(t)
    return _conditional_expectation(params, zeros, zeros, zeros, t)


# ---------------------------------------------------------------------------------- Gamma-Gamma


def _repeat_spenders(summary: Any) -> tuple[np.ndarray, np.ndarray]:
    """``frequency, monetary_value`` of customers with repeat purchases and positive mean spend."""
    x, m = _column(summary, "frequency"), _column(summary, "monetary_value")
    keep = (x > 0) & (m > 0)
    return x[keep], m[keep]


def _gg_terms(p: float, q: float, v: float, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of mean spend m over x purchases."""
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


@dataclass(frozen=True)
class _GGData:
    """Repeat spenders prepared once so each likelihood evaluation needs one log per customer."""

    x: np.ndarray
    xm: np.ndarray  # x * m: the customer's total repeat spend
    x_unique: np.ndarray
    n_by_x: np.ndarray
    sum_log_m: float
    sum_x_log_m: float
    n: int


def _gg_data(x: np.ndarray, m: np.ndarray) -> _GGData:
    """Precompute the parameter-free parts of the Gamma-Gamma likelihood."""
    x_unique, x_index = np.unique(x, return_inverse=True)
    log_m = np.log(m)
    return _GGData(
        x=x,
        xm=x * m,
        x_unique=x_unique,
        n_by_x=np.bincount(x_index, minlength=len(x_unique)).astype(np.float64),
        sum_log_m=float(log_m.sum()),
        sum_x_log_m=float(x @ log_m),
        n=len(x),
    )


def _spend_sums(v: float, x: np.ndarray, xm: np.ndarray) -> np.ndarray:
    """Sums over customers of log(xm+v), x log(xm+v), 1/(xm+v), x/(xm+v)."""
    log_xmv = np.log(xm + v)
    inv_xmv = 1.0 / (xm + v)
    return np.array([log_xmv.sum(), x @ log_xmv, inv_xmv.sum(), x @ inv_xmv])


def _gg_objective(log_params: np.ndarray, d: _GGData) -> tuple[float, np.ndarray]:
    """Mean negative Gamma-Gamma log-likelihood and its gradient in log-parameter space."""
    p, q, v = np.exp(log_params)
    pxu, log_xu = p * d.x_unique, np.log(d.x_unique)
    psi_pxq = digamma(pxu + q)
    sum_l, sum_xl, sum_inv, sum_x_inv = _block_sums(lambda x, xm: _spend_sums(v, x, xm), d.x, d.xm)
    n, log_v = d.n, math.log(v)
    ll = (
        d.n_by_x @ (gammaln(pxu + q) - gammaln(pxu) + pxu * log_xu)
        + n * (q * log_v - gammaln(q))
        + p * d.sum_x_log_m
        - d.sum_log_m
        - p * sum_xl
        - q * sum_l
    )
    d_p = (d.n_by_x * d.x_unique) @ (psi_pxq - digamma(pxu) + log_xu) + d.sum_x_log_m - sum_xl
    d_q = d.n_by_x @ psi_pxq - n * digamma(q) + n * log_v - sum_l
    d_v = n * q / v - p * sum_x_inv - q * sum_inv
    grad = np.array([d_p * p, d_q * q, d_v * v])
    return -ll / n, -grad / n


def gamma_gamma_log_likelihood(params: GammaGammaParams, summary: Any) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the repeat spenders (others are left out)."""
    x, m = _repeat_spenders(summary)
    return _gg_terms(params.p, params.q, params.v, x, m)


def fit_gamma_gamma(summary: Any) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma fit on customers with frequency > 0 and monetary_value > 0."""
    x, m = _repeat_spenders(summary)
    if len(x) == 0:
        raise ValueError("Gamma-Gamma needs customers with repeat purchases and positive spend")
    data = _gg_data(x, m)
    mean_m = float(m.mean())
    # p=1, q=2 put the population mean spend p*v/(q-1) at v: start v at the observed mean
    start = np.log([1.0, 2.0, mean_m])
    res = _minimize_log(_gg_objective, start, data)
    p, q, v = np.exp(res.x)
    return GammaGammaParams(
        p=float(p), q=float(q), v=float(v), log_likelihood=float(-res.fun * data.n), n=data.n
    )


def conditional_expected_spend(params: GammaGammaParams, summary: Any) -> np.ndarray:
    """E[spend per purchase | x, m]: a credibility-weighted mix of population mean and own mean."""
    x = _column(summary, "frequency")
    m = np.where(x > 0, _column(summary, "monetary_value"), 0.0)
    p, q, v = params.p, params.q, params.v
    # x = 0 gives the population mean p*v/(q-1) (infinite when q <= 1)
    with np.errstate(divide="ignore"):
        return p * (v + x * m) / (p * x + q - 1.0)


# ---------------------------------------------------------------------------------- CLV


def clv(
    bgnbd: BGNBDParams,
    gg: GammaGammaParams,
    summary: Any,
    horizon: float,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    freq_per_year: float = 52,
) -> np.ndarray:
    """Expected (discounted) margin over the next ``horizon`` periods per customer.

    Purchases expected in period k (E[Y(k)] - E[Y(k-1)], eq. 10) times the expected spend per purchase,
    times ``margin``, discounted at the end of each period by (1 + discount_rate)^(-k / freq_per_year):
    ``discount_rate`` is annual and ``freq_per_year`` the number of summary periods in a year
    (52 for weeks, 365 for days). A fractional horizon ends with a partial period. ``summary`` needs
    ``frequency, recency, T, monetary_value``.
    """
    if horizon < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    x, tx, T = _frt(summary)
    spend = conditional_expected_spend(gg, summary)
    if discount_rate == 0.0:
        return margin * spend * _conditional_expectation(bgnbd, x, tx, T, horizon)
    # eq. 10 = P(alive) x E[purchases | alive], and only the second factor changes with t; it depends
    # on (x, T) alone, which take few distinct values in a day-resolution log: loop over those
    (ux, uT), inverse = _dedup(x, T)
    steps = np.minimum(np.arange(1, math.ceil(horizon) + 1, dtype=np.float64), horizon)
    discount = (1.0 + discount_rate) ** (-steps / freq_per_year)
    purchases = np.zeros_like(ux)
    previous = np.zeros_like(ux)
    for step, factor in zip(steps, discount):  # loop over periods; each step is vectorized
        current = _purchases_if_alive(bgnbd, ux, uT, step)
        purchases += factor * (current - previous)
        previous = current
    return margin * spend * _p_alive(bgnbd, x, tx, T) * purchases[inverse]


# ---------------------------------------------------------------------------------- simulation


def simulate_bgnbd(params: BGNBDParams, T: Any, seed: int = 0) -> pl.DataFrame:
    """Draw ``frequency, recency, T`` for customers observed for ``T`` periods from a BG/NBD population."""
    rng = np.random.default_rng(seed)
    T = np.asarray(T, dtype=np.float64)
    n = T.shape[0]
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    # Beta draws can underflow to 0 for small a; geometric() needs p > 0
    p = np.clip(rng.beta(params.a, params.b, n), 1e-12, 1.0)
    arrivals = rng.poisson(lam * T)  # repeat purchases in (0, T] had the customer stayed alive
    lifetime = rng.geometric(p)  # the repeat purchase after which the customer drops out
    x = np.minimum(arrivals, lifetime)
    # given N arrivals on (0, T], the x-th arrival time is T * Beta(x, N - x + 1)
    repeat = x > 0
    kth = rng.beta(np.where(repeat, x, 1), np.where(repeat, arrivals - x + 1, 1))
    recency = np.where(repeat, T * kth, 0.0)
    return pl.DataFrame({"frequency": x.astype(np.int64), "recency": recency, "T": T})


def simulate_gamma_gamma(params: GammaGammaParams, frequency: Any, seed: int = 0) -> np.ndarray:
    """Draw each customer's mean spend over ``frequency`` purchases (0 where frequency is 0)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(params.q, 1.0 / params.v, x.shape[0])
    # a sum of x Gamma(p, nu) spends is Gamma(p x, nu)
    total = rng.gamma(np.where(x > 0, params.p * x, 1.0), 1.0 / nu)
    return np.where(x > 0, total / np.maximum(x, 1.0), 0.0)
