"""metrics.clv: BG/NBD and Gamma-Gamma against the published CDNOW results and simulations."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import hyp2f1

from metrics import clv, rfm

CDNOW = Path(__file__).resolve().parents[1] / "data" / "reference" / "cdnow"

# Fader, Hardie & Lee (2005), CDNOW 1/10 sample, calibration to 1997-09-30 in weeks
PUBLISHED = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
# Fader & Hardie (2013) Gamma-Gamma note, the 946 repeat customers of the same sample
PUBLISHED_GG = clv.GammaGammaParams(p=6.25, q=3.74, v=15.44)


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    """RFM summary of the CDNOW sample in weeks (customer_id = sample id)."""
    raw = np.loadtxt(CDNOW / "CDNOW_sample.txt")
    tx = pl.DataFrame(
        {
            "customer_id": raw[:, 1].astype(np.int64),
            "ts": raw[:, 2].astype(np.int64),
            "amount": raw[:, 4],
        }
    ).with_columns(pl.col("ts").cast(pl.String).str.to_date("%Y%m%d"))
    return rfm.summary(tx, observation_end=dt.date(1997, 9, 30), freq="W")


@pytest.fixture(scope="module")
def fitted(cdnow) -> clv.BGNBDParams:
    """BG/NBD fitted on the CDNOW sample."""
    return clv.fit_bgnbd(cdnow)


def one(x: float, tx: float, T: float) -> dict[str, list[float]]:
    """A one-customer summary."""
    return {"frequency": [x], "recency": [tx], "T": [T]}


# ---------------------------------------------------------------------------------- BG/NBD


def test_bgnbd_reproduces_published_cdnow_fit(fitted):
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(PUBLISHED, name), rel=0.01), name
    assert fitted.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert fitted.n == 2357


def test_conditional_expectation_of_published_example(fitted):
    # FHL 2005 section 5: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks
    for params in (fitted, PUBLISHED):
        value = clv.expected_purchases(params, one(2, 30.43, 38.86), 39)
        assert value.shape == (1,)
        assert value[0] == pytest.approx(1.226, abs=0.005)


def test_conditional_expectation_matches_equation_10_literally(fitted):
    # eq. 10 as printed (we evaluate an Euler-transformed 2F1): equal where the printed form is finite
    x = np.array([0.0, 1, 2, 5, 10, 25])
    tx = np.array([0.0, 3.0, 30.43, 20.0, 35.0, 38.0])
    T = np.full(6, 38.86)
    r, alpha, a, b = fitted.r, fitted.alpha, fitted.a, fitted.b
    for t in (1.0, 39.0, 200.0):
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        odds = np.where(x > 0, a / (b + np.maximum(x, 1) - 1) * ((alpha + T) / (alpha + tx)) ** (r + x), 0)
        printed = head * tail / (1 + odds)
        ours = clv.expected_purchases(fitted, {"frequency": x, "recency": tx, "T": T}, t)
        np.testing.assert_allclose(ours, printed, rtol=1e-10)


def test_p_alive_on_cdnow(fitted, cdnow):
    alive = clv.p_alive(fitted, cdnow)
    assert alive.shape == (cdnow.height,)
    assert np.all(alive[cdnow["frequency"].to_numpy() == 0] == 1.0)  # no repeat purchase, no dropout yet
    # customer 1 (x=2, t_x=30.43, T=38.86): 1 / (1 + a/(b+1) * ((alpha+T)/(alpha+t_x))^(r+2))
    r, alpha, a, b = fitted.r, fitted.alpha, fitted.a, fitted.b
    by_hand = 1 / (1 + a / (b + 1) * ((alpha + 38.857142857) / (alpha + 30.428571429)) ** (r + 2))
    assert alive[0] == pytest.approx(by_hand, rel=1e-8)


def test_unconditional_expectation(fitted):
    t = np.array([0.0, 1.0, 39.0, 78.0])
    new = clv.expected_purchases_new(fitted, t)
    assert new[0] == 0
    assert np.all(np.diff(new) > 0)
    # eq. 9 as printed
    r, alpha, a, b = fitted.r, fitted.alpha, fitted.a, fitted.b
    printed = (a + b - 1) / (a - 1) * (
        1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t))
    )
    np.testing.assert_allclose(new, printed, rtol=1e-10, atol=1e-15)
    # the CDNOW cohort's mean repeat purchases per customer by week 78, model-implied (FHL fig. 1 ~ 1.8)
    assert 1.5 < new[-1] < 2.1


def test_unconditional_expectation_matches_simulation():
    params = clv.BGNBDParams(r=0.8, alpha=6.0, a=1.5, b=4.0)
    T = np.full(200_000, 52.0)
    sim = clv.simulate_bgnbd(params, T, seed=3)
    mean = sim["frequency"].mean()
    se = sim["frequency"].std() / math.sqrt(len(T))
    assert abs(mean - clv.expected_purchases_new(params, 52.0)) < 4 * se


def test_fit_aggregates_identical_rows(cdnow, fitted):
    doubled = clv.fit_bgnbd(pl.concat([cdnow, cdnow]))
    assert doubled.n == 2 * fitted.n
    assert doubled.log_likelihood == pytest.approx(2 * fitted.log_likelihood, rel=1e-8)
    assert doubled.r == pytest.approx(fitted.r, rel=1e-4)
    assert doubled.b == pytest.approx(fitted.b, rel=1e-4)


def test_fit_on_sample_is_reproducible(cdnow):
    first = clv.fit_bgnbd(cdnow, sample=1500, seed=7)
    assert first.n == 1500
    assert first == clv.fit_bgnbd(cdnow.lazy(), sample=1500, seed=7)
    assert clv.fit_bgnbd(cdnow, sample=0.5, seed=7).n == round(0.5 * 2357)
    assert clv.fit_bgnbd(cdnow, sample=10**6).n == 2357
    assert clv.fit_bgnbd(cdnow, sample=1.0).n == 2357
    with pytest.raises(ValueError, match="fraction"):
        clv.fit_bgnbd(cdnow, sample=1.5)


@pytest.mark.parametrize(
    "history",
    [(-1, 0.0, 1.0), (1.5, 0.5, 1.0), (2, 3.0, 2.0), (2, -1.0, 2.0), (1, math.nan, 2.0)],
)
def test_impossible_histories_are_refused(history):
    with pytest.raises(ValueError):
        clv.fit_bgnbd(one(*history))


def test_fit_recovers_simulated_parameters():
    truth = clv.BGNBDParams(r=0.5, alpha=8.0, a=0.7, b=3.0)
    T = np.random.default_rng(1).uniform(20, 80, 100_000)
    fit = clv.fit_bgnbd(clv.simulate_bgnbd(truth, T, seed=2))
    assert fit.r == pytest.approx(truth.r, rel=0.05)
    assert fit.alpha == pytest.approx(truth.alpha, rel=0.08)
    assert fit.a == pytest.approx(truth.a, rel=0.15)
    assert fit.b == pytest.approx(truth.b, rel=0.2)


def test_log_likelihood_is_the_fitted_maximum(cdnow, fitted):
    assert clv.bgnbd_log_likelihood(fitted, cdnow).sum() == pytest.approx(fitted.log_likelihood)
    nudged = clv.BGNBDParams(fitted.r * 1.02, fitted.alpha, fitted.a, fitted.b * 0.98)
    assert clv.bgnbd_log_likelihood(nudged, cdnow).sum() < fitted.log_likelihood


def test_extreme_histories_stay_finite(fitted):
    x = np.array([0.0, 1, 300, 2000, 2000])
    tx = np.array([0.0, 0.1, 50.0, 1.0, 99.0])
    T = np.array([1e-3, 1e4, 100.0, 100.0, 100.0])
    summary = {"frequency": x, "recency": tx, "T": T}
    for t in (1e-6, 52.0, 1e5):
        value = clv.expected_purchases(fitted, summary, t)
        assert np.all(np.isfinite(value)) and np.all(value >= 0)
    alive = clv.p_alive(fitted, summary)
    assert alive[3] < 1e-100 < alive[4]  # 2000 purchases then silence: gone; still buying: alive


def test_integer_parameters_where_scipy_hyp2f1_overflows():
    # scipy.special.hyp2f1(1, 1, 101, 19/21) returns inf; the power series says 1.00912...
    params = clv.BGNBDParams(r=1.0, alpha=1.0, a=2.0, b=1.0)
    z = 19 / 21
    term, series = 1.0, 1.0
    for k in range(2000):
        term *= (1 + k) * (1 + k) / ((101 + k) * (k + 1)) * z
        series += term
    if_alive = 101 / 1 * (1 - (1 - z) * series)  # eq. 10 (Euler form) for x=99, T=1, t=19
    summary = one(99, 1.0, 1.0)  # t_x = T: P(alive) = 1 / (1 + a / (b + x - 1))
    value = clv.expected_purchases(params, summary, 19.0)
    assert value[0] == pytest.approx(if_alive / (1 + 2 / 99), rel=1e-9)


@pytest.mark.parametrize(("a", "b"), [(1.0, 2.0), (0.5, 0.5), (0.4, 0.6)])
def test_removable_singularities_are_continuous(a, b):
    # a = 1 (0/0 in eq. 10) and a + b = 1 (2F1 pole at c = 0 for x = 0): match the neighbourhood
    summary = {"frequency": [0, 3], "recency": [0.0, 4.0], "T": [10.0, 10.0]}
    at = clv.expected_purchases(clv.BGNBDParams(1.0, 2.0, a, b), summary, 20)
    near = clv.expected_purchases(clv.BGNBDParams(1.0, 2.0, a + 1e-5, b), summary, 20)
    assert np.all(np.isfinite(at))
    np.testing.assert_allclose(at, near, rtol=1e-4)


histories = st.tuples(
    st.integers(0, 500),
    st.floats(0.0, 1.0),  # recency as a share of T
    st.floats(0.01, 500.0),
)
params = st.builds(
    clv.BGNBDParams,
    r=st.floats(0.05, 20.0),
    alpha=st.floats(0.05, 100.0),
    a=st.floats(0.05, 20.0),
    b=st.floats(0.05, 20.0),
)


@settings(max_examples=150, deadline=None)
@given(p=params, history=histories, t=st.floats(0.0, 300.0), dt_=st.floats(0.01, 300.0))
def test_bgnbd_predictions_are_sane(p, history, t, dt_):
    x, share, T = history
    summary = one(x, share * T if x > 0 else 0.0, T)
    alive = clv.p_alive(p, summary)[0]
    assert 0.0 <= alive <= 1.0
    early = clv.expected_purchases(p, summary, t)[0]
    late = clv.expected_purchases(p, summary, t + dt_)[0]
    assert np.isfinite(early) and np.isfinite(late)
    assert -1e-9 <= early <= late * (1 + 1e-9) + 1e-9


# ---------------------------------------------------------------------------------- Gamma-Gamma


def test_gamma_gamma_reproduces_published_cdnow_fit(cdnow):
    gg = clv.fit_gamma_gamma(cdnow)
    assert gg.n == 946
    for name in ("p", "q", "v"):
        assert getattr(gg, name) == pytest.approx(getattr(PUBLISHED_GG, name), rel=0.02), name
    assert clv.gamma_gamma_log_likelihood(gg, cdnow).sum() == pytest.approx(gg.log_likelihood)


def test_conditional_expected_spend_on_cdnow(cdnow):
    gg = clv.fit_gamma_gamma(cdnow)
    spend = clv.conditional_expected_spend(gg, cdnow)
    # lifetimes' documented values for the first sample customers: 24.66 (x=2, m=22.35), 35.17 (x=0)
    assert spend[0] == pytest.approx(24.66, abs=0.02)
    assert spend[2] == pytest.approx(gg.p * gg.v / (gg.q - 1)) == pytest.approx(35.17, abs=0.02)
    # a weighted mean of the population mean and the customer's own mean
    x = cdnow["frequency"].to_numpy()
    m = cdnow["monetary_value"].to_numpy()
    population = gg.p * gg.v / (gg.q - 1)
    lo, hi = np.minimum(m, population), np.maximum(m, population)
    assert np.all((spend[x > 0] >= lo[x > 0] - 1e-9) & (spend[x > 0] <= hi[x > 0] + 1e-9))


def test_gamma_gamma_recovers_simulated_parameters():
    truth = clv.GammaGammaParams(p=4.0, q=5.0, v=30.0)
    x = np.random.default_rng(5).integers(0, 12, 60_000)
    m = clv.simulate_gamma_gamma(truth, x, seed=6)
    fit = clv.fit_gamma_gamma(pl.DataFrame({"frequency": x, "monetary_value": m}))
    assert fit.n == int((x > 0).sum())
    assert fit.p == pytest.approx(truth.p, rel=0.05)
    assert fit.q == pytest.approx(truth.q, rel=0.1)
    assert fit.v == pytest.approx(truth.v, rel=0.15)


def test_gamma_gamma_needs_repeat_spenders():
    with pytest.raises(ValueError):
        clv.fit_gamma_gamma({"frequency": [0, 0], "monetary_value": [0.0, 0.0]})


# ---------------------------------------------------------------------------------- CLV


def test_undiscounted_clv_is_spend_times_purchases(cdnow, fitted):
    gg = clv.fit_gamma_gamma(cdnow)
    value = clv.clv(fitted, gg, cdnow, horizon=52, margin=0.3)
    expected = 0.3 * clv.conditional_expected_spend(gg, cdnow) * clv.expected_purchases(fitted, cdnow, 52)
    np.testing.assert_allclose(value, expected, rtol=1e-12)


def test_discounted_clv_by_hand(cdnow, fitted):
    gg = clv.fit_gamma_gamma(cdnow)
    horizon, rate = 10.5, 0.15
    value = clv.clv(fitted, gg, cdnow, horizon=horizon, discount_rate=rate, freq_per_year=52)
    # period k pays E[Y(k)] - E[Y(k-1)], discounted by (1+rate)^(-k/52); the last period is half long
    grid = [0.0, *range(1, 11), 10.5]
    cumulative = [clv.expected_purchases(fitted, cdnow, t) for t in grid]
    by_hand = sum(
        (cumulative[i] - cumulative[i - 1]) * (1 + rate) ** (-grid[i] / 52) for i in range(1, len(grid))
    )
    np.testing.assert_allclose(value, clv.conditional_expected_spend(gg, cdnow) * by_hand, rtol=1e-10)
    undiscounted = clv.clv(fitted, gg, cdnow, horizon=horizon)
    assert np.all(value < undiscounted) and np.all(value > undiscounted * (1 + rate) ** (-horizon / 52))
    assert np.all(clv.clv(fitted, gg, cdnow, horizon=0) == 0)
