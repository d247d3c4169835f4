"""campaign_effect (Welch and binary intervals), run ROI, DiD, and the Hillstrom e-mail test."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from metrics.roi import DID_EVIDENCE, campaign_effect, did_effect, run_roi
from pipelines.errors import UserError
from pipelines.reference import HILLSTROM_CONTROL, hillstrom


def test_continuous_outcomes_match_scipys_welch_interval():
    rng = np.random.default_rng(3)
    a, b = rng.gamma(2.0, 30.0, 400), rng.gamma(2.0, 25.0, 900)
    frame = pl.DataFrame({"arm": ["treated"] * 400 + ["control"] * 900, "theo": np.r_[a, b]})
    row = campaign_effect(frame, control="control", outcomes=["theo"]).row(0, named=True)
    test = stats.ttest_ind(a, b, equal_var=False)
    low, high = test.confidence_interval(0.95)
    assert row["difference"] == pytest.approx(a.mean() - b.mean())
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert row["p_value"] == pytest.approx(test.pvalue) and row["df"] == pytest.approx(test.df)
    assert not row["binary"]


def test_binary_outcomes_use_the_difference_of_proportions():
    frame = pl.DataFrame({"arm": ["t"] * 1000 + ["c"] * 1000, "visited": [1] * 300 + [0] * 700 + [1] * 200 + [0] * 800})
    row = campaign_effect(frame, control="c", outcomes=["visited"]).row(0, named=True)
    se = (0.3 * 0.7 / 1000 + 0.2 * 0.8 / 1000) ** 0.5
    assert row["binary"] and row["difference"] == pytest.approx(0.1)
    assert row["ci_low"] == pytest.approx(0.1 - 1.959964 * se, rel=1e-5)
    assert row["relative_lift"] == pytest.approx(0.5)


def test_groups_and_several_arms():
    frame = pl.DataFrame({"arm": ["a", "b", "c"] * 40, "seg": ["x"] * 60 + ["y"] * 60, "v": list(range(120))})
    out = campaign_effect(frame, control="c", outcomes=["v"], by=["seg"])
    assert out.select("seg", "arm").rows() == [("x", "a"), ("x", "b"), ("y", "a"), ("y", "b")]


def test_errors_name_the_problem():
    frame = pl.DataFrame({"arm": ["a", "b"], "v": [1.0, 2.0]})
    with pytest.raises(ValueError, match="lacks column"):
        campaign_effect(frame, control="a", outcomes=["w"])
    with pytest.raises(ValueError, match="no rows in the control arm"):
        campaign_effect(frame, control="z", outcomes=["v"])


def test_run_roi_nets_the_cost_out_of_the_outcome():
    rng = np.random.default_rng(5)
    n = 2000
    treated = rng.random(n) < 0.8
    theo = rng.gamma(2.0, 20.0, n) + np.where(treated, 15.0, 0.0)
    frame = pl.DataFrame({"arm": np.where(treated, "treatment", "holdout"), "visited": (rng.random(n) < 0.3).astype(int),
                          "visits": rng.poisson(1.0, n), "theo": theo, "net_revenue": theo * 1.1,
                          "cost": np.where(treated, 10.0, 0.0), "segment": np.where(rng.random(n) < 0.5, "A", "B")})
    out = run_roi(frame, by=["segment"])
    overall = {r["outcome"]: r for r in out.filter(pl.col("segment") == "ALL").iter_rows(named=True)}
    assert overall["theo_net"]["difference"] == pytest.approx(overall["theo"]["difference"] - 10.0)
    assert overall["theo"]["ci_low"] < 15.0 < overall["theo"]["ci_high"]
    assert set(out["segment"]) == {"ALL", "A", "B"}


def test_did_compares_changes_and_is_labelled_weaker():
    frame = pl.DataFrame({"arm": ["treatment"] * 50 + ["comparison"] * 50,
                          "pre": [10.0] * 50 + [20.0] * 50, "post": [15.0 + (i % 3) for i in range(50)] + [21.0] * 50})
    row = did_effect(frame, control="comparison", pre=["pre"], post=["post"], names=["theo"]).row(0, named=True)
    assert row["difference"] == pytest.approx(np.mean([5.0 + (i % 3) for i in range(50)]) - 1.0)
    assert row["evidence"] == DID_EVIDENCE


# -- the real Hillstrom e-mail test ------------------------------------------------------------------
@pytest.fixture(scope="module")
def hill() -> pl.DataFrame:
    return campaign_effect(hillstrom(), arm="segment", control=HILLSTROM_CONTROL,
                           outcomes=["visit", "conversion", "spend"])


def effect(frame: pl.DataFrame, arm: str, outcome: str) -> dict:
    return frame.filter((pl.col("arm") == arm) & (pl.col("outcome") == outcome)).row(0, named=True)


def test_hillstrom_visit_lifts_match_the_published_results(hill):
    mens, womens = effect(hill, "Mens E-Mail", "visit"), effect(hill, "Womens E-Mail", "visit")
    # published: Mens 18.3% vs 10.6% no e-mail (+7.7 points), Womens 15.1% (+4.5 points)
    assert mens["control_mean"] == pytest.approx(0.106, abs=0.001)
    assert mens["treated_mean"] == pytest.approx(0.183, abs=0.001)
    assert mens["difference"] == pytest.approx(0.077, abs=0.002)
    assert womens["treated_mean"] == pytest.approx(0.151, abs=0.001)
    assert womens["difference"] == pytest.approx(0.045, abs=0.002)
    for row in (mens, womens):
        assert row["binary"] and row["ci_low"] > 0.03 and row["ci_high"] - row["ci_low"] < 0.015


def test_hillstrom_conversion_and_spend(hill):
    conv, spend = effect(hill, "Mens E-Mail", "conversion"), effect(hill, "Mens E-Mail", "spend")
    assert (conv["control_mean"], conv["treated_mean"]) == (pytest.approx(0.0057, abs=2e-4), pytest.approx(0.0125, abs=2e-4))
    assert (spend["control_mean"], spend["treated_mean"]) == (pytest.approx(0.653, abs=0.01), pytest.approx(1.423, abs=0.01))
    assert spend["ci_low"] > 0 and not spend["binary"]
    assert effect(hill, "Womens E-Mail", "spend")["ci_low"] > 0


def test_hillstrom_arms_are_balanced_thirds(hill):
    n = effect(hill, "Mens E-Mail", "visit")
    assert n["n_control"] + n["n_treated"] + effect(hill, "Womens E-Mail", "visit")["n_treated"] == 64_000


def test_hillstrom_reader_names_a_bad_file(tmp_path):
    bad = tmp_path / "h.csv"
    bad.write_text("recency,history\n1,2\n")
    with pytest.raises(UserError, match="line 1: missing column"):
        hillstrom(bad)
