"""player_deltas: last 30 days vs the prior 30 and vs the player's own 90-day baseline."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from pipelines.derived import player_deltas, player_metrics
from pipelines.derived.deltas import DELTAS, delta_columns
from tests.test_metrics_catalog import AS_OF, HISTORY, at, ev, frame
from tests.test_player_metrics import histories


def metrics_row(**values) -> pl.LazyFrame:
    """A one-player metrics frame with the window columns the deltas read (zeros unless given)."""
    cols = {"player_id": ["P1"], "as_of": [AS_OF]}
    for d in DELTAS:
        for c in (d.last_30d, d.prior_30d, d.last_90d):
            cols[c] = [values.get(c, 0 if d.base == "visits" else 0.0)]
    return pl.LazyFrame(cols)


def test_hand_computed_deltas():
    out = player_deltas(metrics_row(
        visits_30d=2, visits_prior_30d=4, visits_90d=9,
        cash_in_30d=300.0, cash_in_prior_30d=0.0, cash_in_90d=600.0,
        theo_30d=0.0, theo_prior_30d=50.0, theo_90d=0.0,
        avg_session_minutes_30d=90.0, avg_session_minutes_prior_30d=60.0, avg_session_minutes_90d=75.0,
    )).collect().row(0, named=True)
    assert out["visits_delta_abs"] == -2 and out["visits_delta_pct"] == pytest.approx(-50.0)
    assert out["visits_baseline"] == pytest.approx(3.0)
    assert out["visits_vs_baseline_abs"] == pytest.approx(-1.0)
    assert out["visits_vs_baseline_pct"] == pytest.approx(-100 / 3)
    assert out["cash_in_delta_abs"] == 300.0 and out["cash_in_delta_pct"] is None  # prior 0: undefined
    assert out["cash_in_baseline"] == pytest.approx(200.0) and out["cash_in_vs_baseline_pct"] == pytest.approx(50.0)
    assert out["theo_delta_pct"] == pytest.approx(-100.0) and out["theo_vs_baseline_pct"] is None
    # an average is not divided by 3: its baseline is the 90-day average
    assert out["avg_session_minutes_delta_abs"] == 30.0
    assert out["avg_session_minutes_delta_pct"] == pytest.approx(50.0)
    assert out["avg_session_minutes_baseline"] == 75.0
    assert out["avg_session_minutes_vs_baseline_pct"] == pytest.approx(20.0)


def test_columns_and_keys():
    out = player_deltas(metrics_row()).collect()
    assert out.columns == ["player_id", "as_of", *delta_columns()]
    assert out.schema["visits_delta_abs"] == pl.Int64
    assert len(delta_columns()) == 20


def test_null_averages_stay_null():
    out = player_deltas(metrics_row().with_columns(
        pl.lit(None, pl.Float64).alias("avg_session_minutes_30d"))).collect().row(0, named=True)
    assert out["avg_session_minutes_delta_abs"] is None and out["avg_session_minutes_vs_baseline_abs"] is None


def test_on_player_metrics_of_the_hand_made_history():
    rows = [*HISTORY, ev("visit", at(35)), ev("visit", at(36)), ev("buy_in", at(31), amount=250.0)]
    out = player_deltas(player_metrics(frame(rows), AS_OF)).collect().row(0, named=True)
    # visits: 30d 1, prior 3 (40, 35, 36), 90d 4; cash in: 30d 500, prior 1250, 90d 1750
    assert out["visits_delta_abs"] == -2 and out["visits_delta_pct"] == pytest.approx(-200 / 3)
    assert out["visits_vs_baseline_abs"] == pytest.approx(1 - 4 / 3)
    assert out["cash_in_delta_abs"] == -750.0 and out["cash_in_delta_pct"] == pytest.approx(-60.0)
    assert out["theo_delta_abs"] == 21.0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=histories())
def test_deltas_reconcile_with_window_counts(rows):
    metrics = player_metrics(frame(rows), AS_OF).collect()
    deltas = player_deltas(metrics.lazy()).collect()
    assert deltas.height == metrics.height
    both = metrics.join(deltas, on=["player_id", "as_of"], how="inner")
    assert both.height == metrics.height
    for d in DELTAS:
        last, prior, ninety = both[d.last_30d], both[d.prior_30d], both[d.last_90d]
        assert both[f"{d.base}_delta_abs"].equals(last - prior, check_names=False)
        base = both[f"{d.base}_baseline"]
        expected = (ninety / 3.0 if d.kind == "sum" else ninety).cast(pl.Float64)
        assert (base.is_null() == expected.is_null()).all()
        assert ((base - expected).abs() <= 1e-12 * (1 + expected.abs())).fill_null(True).all()
        assert both[f"{d.base}_vs_baseline_abs"].equals(last - base, check_names=False)
        undefined = (prior == 0) | prior.is_null()
        assert (both[f"{d.base}_delta_pct"].is_null() | ~undefined).all()
    # and the window counts reconcile with the raw events
    for row in both.iter_rows(named=True):
        mine = [r for r in rows if r["player_id"] == row["player_id"] and r["event_type"] == "visit"]
        last = sum(AS_OF - timedelta(days=30) < r["ts"] <= AS_OF for r in mine)
        prior = sum(AS_OF - timedelta(days=60) < r["ts"] <= AS_OF - timedelta(days=30) for r in mine)
        assert row["visits_delta_abs"] == last - prior
