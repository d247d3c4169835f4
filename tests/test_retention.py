"""metrics.retention: the shifted-beta-geometric model against Fader & Hardie (2007)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import retention

# Fader & Hardie (2007), "How to Project Customer Retention", table 1 and section 3:
# customers alive at the start of years 0..7 of a 1,000-customer cohort
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]


@pytest.mark.parametrize(
    ("survivors", "alpha", "beta"),
    [(HIGH_END, 0.668, 3.806), (REGULAR, 0.704, 1.182)],
    ids=["high_end", "regular"],
)
def test_reproduces_published_fits(survivors, alpha, beta):
    fit = retention.fit_sbg(survivors)
    assert fit.alpha == pytest.approx(alpha, rel=0.01)
    assert fit.beta == pytest.approx(beta, rel=0.01)
    assert fit.log_likelihood == pytest.approx(retention.sbg_log_likelihood(fit, survivors))


def test_fit_is_the_maximum():
    fit = retention.fit_sbg(REGULAR)
    for da, db in [(1.01, 1), (0.99, 1), (1, 1.01), (1, 0.99)]:
        nudged = retention.SBGParams(fit.alpha * da, fit.beta * db)
        assert retention.sbg_log_likelihood(nudged, REGULAR) < fit.log_likelihood


def test_fit_tracks_the_data_it_saw():
    fit = retention.fit_sbg(REGULAR)
    projected = 1000 * retention.survival(fit, np.arange(8))
    # the paper's figure: the 7-year fit follows the regular cohort within a few customers
    assert np.max(np.abs(projected - np.array(REGULAR))) < 10


def test_right_censoring_matters():
    # without the survivors' term a cohort that mostly never churns would look like it all churns
    fit = retention.fit_sbg([1000, 990, 985])
    assert retention.survival(fit, [2])[0] == pytest.approx(0.985, abs=0.002)


def test_projection_functions():
    params = retention.SBGParams(alpha=0.704, beta=1.182)
    t = np.arange(0, 13)
    s = retention.survival(params, t)
    assert s[0] == 1.0
    assert np.all(np.diff(s) < 0)
    rates = retention.retention_rate(params, t[1:])
    # survival is the running product of retention rates; rates rise as churn-prone customers leave
    np.testing.assert_allclose(s[1:], np.cumprod(rates), rtol=1e-12)
    assert np.all(np.diff(rates) > 0)
    assert rates[0] == pytest.approx(params.beta / (params.alpha + params.beta))


@pytest.mark.parametrize(
    "bad",
    [[1000], [1000, 1100], [1000, -1], [0, 0], [[1000, 900]]],
)
def test_invalid_survivors_are_refused(bad):
    with pytest.raises(ValueError):
        retention.fit_sbg(bad)


@settings(max_examples=40, deadline=None)
@given(
    alpha=st.floats(0.2, 5.0),
    beta=st.floats(0.2, 10.0),
    periods=st.integers(3, 12),
)
def test_fit_recovers_expected_counts(alpha, beta, periods):
    # a cohort that follows the model exactly (in expectation) is fitted back to its parameters
    truth = retention.SBGParams(alpha, beta)
    survivors = 1e6 * retention.survival(truth, np.arange(periods + 1))
    fit = retention.fit_sbg(survivors)
    np.testing.assert_allclose(
        retention.survival(fit, np.arange(periods + 1)), survivors / 1e6, atol=1e-4
    )


def test_fit_object_projects_forward():
    fit = retention.fit_sbg(REGULAR)
    assert (fit.alpha, fit.beta) == pytest.approx((0.704, 1.182), rel=0.01)
    ahead = fit.project(1000, np.arange(8, 13))
    # the paper's projection for years 8..12 continues the decline, slowing as retention rises
    assert np.all(np.diff(ahead) < 0) and ahead[0] < REGULAR[-1] + 10
    np.testing.assert_allclose(ahead, 1000 * fit.survival(np.arange(8, 13)))
    np.testing.assert_allclose(retention.project(fit, 1000, [3]), fit.project(1000, [3]))
    assert fit.mean_churn == pytest.approx(fit.alpha / (fit.alpha + fit.beta))


def test_pooled_fit_of_cohorts_of_different_ages():
    # the regular cohort cut into a 7-year-old and a 3-year-old cohort of the same customers' kind
    young = [500, 315.5, 234, 191]
    pooled = retention.fit_sbg_cohorts([REGULAR, young])
    alone = retention.fit_sbg(REGULAR)
    assert pooled.alpha == pytest.approx(alone.alpha, rel=0.05)
    assert pooled.beta == pytest.approx(alone.beta, rel=0.05)
    both = retention.sbg_log_likelihood(pooled, REGULAR) + retention.sbg_log_likelihood(pooled, young)
    assert pooled.log_likelihood == pytest.approx(both)
    # newborn and empty cohorts are skipped, not errors
    again = retention.fit_sbg_cohorts([REGULAR, young, [40], [0, 0, 0]])
    assert again.alpha == pytest.approx(pooled.alpha, rel=1e-6)
    with pytest.raises(ValueError, match="nothing to fit"):
        retention.fit_sbg_cohorts([[40], [0, 0]])
