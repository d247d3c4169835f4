"""metrics.rfm: lifetimes-compatible RFM summaries, checked on the published CDNOW summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import rfm

CDNOW = Path(__file__).resolve().parents[1] / "data" / "reference" / "cdnow"
CUT = dt.date(1997, 9, 30)


def load_cdnow_sample() -> pl.DataFrame:
    """CDNOW 1/10 sample as transactions keyed by the sample id (whitespace separated, no header)."""
    raw = np.loadtxt(CDNOW / "CDNOW_sample.txt")
    return pl.DataFrame(
        {
            "customer_id": raw[:, 1].astype(np.int64),
            "ts": raw[:, 2].astype(np.int64),
            "amount": raw[:, 4],
        }
    ).with_columns(pl.col("ts").cast(pl.String).str.to_date("%Y%m%d"))


def test_cdnow_summary_matches_published_reference():
    summary = rfm.summary(load_cdnow_sample(), observation_end=CUT, freq="W")
    reference = pl.read_csv(CDNOW / "cdnow_customers_summary.csv")
    assert summary.height == reference.height == 2357
    joined = reference.join(summary, left_on="ID", right_on="customer_id", how="left", suffix="_ours")
    assert joined["frequency_ours"].null_count() == 0
    assert (joined["frequency"] == joined["frequency_ours"]).all()
    for col in ("recency", "T"):
        assert (joined[col] - joined[f"{col}_ours"]).abs().max() <= 0.01 + 1e-12
    # 946 repeat customers: the Gamma-Gamma paper's count
    assert (summary["frequency"] > 0).sum() == 946


def test_cdnow_first_customer_by_hand():
    summary = rfm.summary(load_cdnow_sample(), observation_end=CUT, freq="D")
    row = summary.row(0, named=True)
    # purchases 1997-01-01 ($29.33), 01-18 ($29.73), 08-02 ($14.96); 12-12 is after the cut
    assert row == {
        "customer_id": 1,
        "frequency": 2,
        "recency": 213.0,
        "T": 272.0,
        "monetary_value": pytest.approx((29.73 + 14.96) / 2),
    }


def tx(*rows: tuple) -> pl.DataFrame:
    """Small transaction frame from (customer, ts, amount) tuples."""
    return pl.DataFrame(rows, schema=["customer_id", "ts", "amount"], orient="row")


def test_same_period_purchases_count_once_and_amounts_are_summed():
    frame = tx(
        ("a", dt.datetime(2024, 1, 1, 9), 10.0),
        ("a", dt.datetime(2024, 1, 1, 18), 5.0),  # same day as the first: not a repeat
        ("a", dt.datetime(2024, 1, 4, 10), 20.0),
        ("a", dt.datetime(2024, 1, 4, 11), 4.0),
        ("a", dt.datetime(2024, 1, 6, 23), 6.0),
        ("a", dt.datetime(2024, 1, 20, 1), 99.0),  # after the end: dropped
        ("b", dt.datetime(2024, 1, 8, 12), 7.0),
    )
    out = rfm.summary(frame, observation_end=dt.datetime(2024, 1, 10, 8), freq="D")
    assert out.rows() == [("a", 2, 5.0, 9.0, 15.0), ("b", 0, 0.0, 2.0, 0.0)]
    hourly = rfm.summary(frame, observation_end=dt.datetime(2024, 1, 10, 8), freq="h")
    assert hourly.row(0) == ("a", 4, 134.0, 215.0, pytest.approx((5 + 20 + 4 + 6) / 4))


def test_purchase_in_the_end_period_counts():
    # lifetimes compares floored periods: a purchase later on the end day is inside the window
    frame = tx(("a", dt.datetime(2024, 1, 1), 1.0), ("a", dt.datetime(2024, 1, 3, 22), 2.0))
    out = rfm.summary(frame, observation_end=dt.date(2024, 1, 3))
    assert out.row(0) == ("a", 1, 2.0, 2.0, 2.0)


def test_customers_without_purchases_before_the_end_are_left_out():
    frame = tx(("a", dt.date(2024, 1, 1), 1.0), ("b", dt.date(2024, 2, 1), 1.0))
    assert rfm.summary(frame, observation_end="2024-01-15")["customer_id"].to_list() == ["a"]


def test_date_datetime_lazy_and_default_end_agree():
    frame = tx(
        ("a", dt.date(2024, 1, 1), 3.0),
        ("a", dt.date(2024, 1, 15), 4.0),
        ("b", dt.date(2024, 1, 5), 5.0),
        ("b", dt.date(2024, 1, 29), 6.0),
    )
    expected = rfm.summary(frame, observation_end=dt.date(2024, 1, 29), freq="W")
    as_datetime = frame.with_columns(pl.col("ts").cast(pl.Datetime("ns")))
    assert rfm.summary(as_datetime.lazy(), freq="W").equals(expected)  # end defaults to the last purchase
    assert expected["T"].to_list() == [4.0, 24 / 7]


def test_weeks_are_days_over_seven():
    frame = load_cdnow_sample()
    days = rfm.summary(frame, observation_end=CUT, freq="D")
    weeks = rfm.summary(frame, observation_end=CUT, freq="W")
    assert np.allclose(days["T"].to_numpy() / 7, weeks["T"].to_numpy(), rtol=0, atol=1e-12)
    assert days["frequency"].equals(weeks["frequency"])
    # parallel group sums may add in another order: equal up to rounding
    assert np.allclose(days["monetary_value"].to_numpy(), weeks["monetary_value"].to_numpy(), rtol=1e-12)


def test_no_amount_gives_no_monetary_column():
    frame = tx(("a", dt.date(2024, 1, 1), 1.0)).drop("amount")
    out = rfm.summary(frame, amount=None, observation_end=dt.date(2024, 1, 2))
    assert out.columns == ["customer_id", "frequency", "recency", "T"]


def test_timezone_aware_timestamps_use_local_days():
    frame = tx(
        ("a", dt.datetime(2024, 1, 1, 23, 30), 1.0),  # 00:30 on Jan 2 in Berlin
        ("a", dt.datetime(2024, 1, 2, 1, 0), 1.0),
    ).with_columns(pl.col("ts").dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Berlin"))
    out = rfm.summary(frame, observation_end=dt.datetime(2024, 1, 3, 12, tzinfo=dt.UTC))
    assert out.row(0) == ("a", 0, 0.0, 1.0, 0.0)


def test_bad_arguments_are_refused():
    frame = tx(("a", dt.date(2024, 1, 1), 1.0))
    with pytest.raises(ValueError, match="freq"):
        rfm.summary(frame, freq="M")
    with pytest.raises(ValueError, match="lack"):
        rfm.summary(frame, amount="spend")
    with pytest.raises(TypeError):
        rfm.summary(frame.with_columns(pl.lit(1).alias("ts")))


def lifetimes_by_hand(rows: list[tuple[int, dt.datetime, float]], end: dt.date) -> dict:
    """Straight-line restatement of lifetimes' definitions, customer by customer (freq="D")."""
    periods: dict[int, dict[dt.date, float]] = {}
    for customer, ts, amount in rows:
        if ts.date() <= end:
            days = periods.setdefault(customer, {})
            days[ts.date()] = days.get(ts.date(), 0.0) + amount
    out = {}
    for customer, days in periods.items():
        ordered = sorted(days)
        repeat = [days[d] for d in ordered[1:]]
        out[customer] = (
            len(ordered) - 1,
            float((ordered[-1] - ordered[0]).days),
            float((end - ordered[0]).days),
            sum(repeat) / len(repeat) if repeat else 0.0,
        )
    return out


transactions = st.lists(
    st.tuples(
        st.integers(0, 6),
        st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2024, 3, 31)),
        st.floats(0.01, 1000.0),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows=transactions, end=st.dates(min_value=dt.date(2023, 12, 25), max_value=dt.date(2024, 4, 5)))
def test_summary_properties_and_reference(rows, end):
    out = rfm.summary(tx(*rows), observation_end=end, freq="D")
    assert (out["frequency"] >= 0).all()
    assert (out["recency"] <= out["T"]).all()
    assert ((out["monetary_value"] == 0) == (out["frequency"] == 0)).all()
    assert ((out["recency"] == 0) == (out["frequency"] == 0)).all()
    assert (out["frequency"] <= out["recency"]).all()  # distinct days inside [first, last]
    expected = lifetimes_by_hand(rows, end)
    assert sorted(out["customer_id"].to_list()) == sorted(expected)
    for customer, frequency, recency, T, monetary in out.iter_rows():
        e_frequency, e_recency, e_T, e_monetary = expected[customer]
        assert (frequency, recency, T) == (e_frequency, e_recency, e_T)
        assert monetary == pytest.approx(e_monetary, rel=1e-12)
