"""Segmentation schemes: hand-computed labels, one label per player, TOML, quantile summaries."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import param
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metrics.segments import (
    SCHEMES,
    AttentionFlags,
    EngagementBands,
    FrequencyTiers,
    LifecycleStage,
    LoyaltySegments,
    QuantileSummary,
    Scheme,
    SpendingTiers,
    Versioned,
    WorthBands,
    default_schemes,
    merge_summaries,
    quantile_summary,
    segment_all,
)

AS_OF = dt.date(2025, 6, 30)

# contract columns the schemes read, with a neutral value each
BASE: dict[str, object] = {
    "as_of": AS_OF,
    "first_seen": dt.datetime(2024, 1, 1, 12),
    "tenure_days": 500,
    "recency_days": 5,
    "visits_total": 20,
    "visits_30d": 4,
    "visits_prior_30d": 4,
    "sessions_total": 30,
    "theo_total": 1_000.0,
    "cash_in_total": 20_000.0,
    "cash_out_total": 19_000.0,
    "win_loss_total": 1_000.0,
    "cash_in_30d": 1_000.0,
    "ctr_count_90d": 0,
    "buy_in_volatility": 0.3,
    "disputes_total": 0,
    "exclusion_active": False,
    "lifetime_value": 1_000.0,
    "order_total": 0.0,
}
SCHEMA = {
    "player_id": pl.String, "as_of": pl.Date, "first_seen": pl.Datetime("us"),
    "tenure_days": pl.Int64, "recency_days": pl.Int64, "visits_total": pl.Int64,
    "visits_30d": pl.Int64, "visits_prior_30d": pl.Int64, "sessions_total": pl.Int64,
    "theo_total": pl.Float64, "cash_in_total": pl.Float64, "cash_out_total": pl.Float64,
    "win_loss_total": pl.Float64, "cash_in_30d": pl.Float64, "ctr_count_90d": pl.Int64,
    "buy_in_volatility": pl.Float64, "disputes_total": pl.Int64, "exclusion_active": pl.Boolean,
    "lifetime_value": pl.Float64, "order_total": pl.Float64,
}


def frame(*rows: dict[str, object]) -> pl.DataFrame:
    """A metrics frame: one row per dict of overrides on BASE, players P0, P1, ..."""
    data = [{"player_id": f"P{i}", **BASE, **row} for i, row in enumerate(rows)]
    return pl.DataFrame(data, schema=SCHEMA)


def labels(scheme: Scheme, *rows: dict[str, object]) -> list[str]:
    """The scheme's labels for the given rows, in order."""
    return scheme.assign(frame(*rows))[scheme.label_column()].cast(pl.String).to_list()


# --------------------------------------------------------------------------- worth


def test_worth_fixed_thresholds_are_inclusive_and_null_is_low():
    scheme = WorthBands(mode="fixed", medium_from=500, high_from=5_000)
    values = [None, 0.0, 499.99, 500.0, 4_999.0, 5_000.0]
    assert labels(scheme, *({"theo_total": v} for v in values)) == [
        "low", "low", "low", "medium", "medium", "high"]


def test_worth_basis_switches_to_cash_in():
    scheme = WorthBands(mode="fixed", basis="cash_in_total", medium_from=500, high_from=5_000)
    rows = [{"theo_total": 10_000.0, "cash_in_total": 100.0},
            {"theo_total": 0.0, "cash_in_total": 6_000.0}]
    assert labels(scheme, *rows) == ["low", "high"]


def test_worth_quantile_bands_cut_strictly_above_the_quantile():
    # 100..1000: the lower-rank 50 % quantile is 500, the 90 % one is 900
    rows = [{"theo_total": 100.0 * i} for i in range(1, 11)]
    assert labels(WorthBands(), *rows) == ["low"] * 5 + ["medium"] * 4 + ["high"]


def test_worth_quantile_mass_of_zeros_stays_low():
    rows = [{"theo_total": 0.0}] * 8 + [{"theo_total": 50.0}, {"theo_total": 900.0}]
    assert labels(WorthBands(), *rows) == ["low"] * 8 + ["medium", "high"]


def test_worth_quantile_needs_summaries_outside_segment_all():
    with pytest.raises(ValueError, match="QuantileSummary"):
        WorthBands().label(None)


def test_sharded_quantile_bands_equal_whole_population_bands():
    rng = np.random.default_rng(7)
    whole = frame(*({"theo_total": float(v)} for v in rng.lognormal(5, 2, 300)))
    shards = [whole[:100], whole[100:170], whole[170:]]
    merged = merge_summaries(quantile_summary(s, "theo_total") for s in shards)
    parts = pl.concat([segment_all(s, [WorthBands()], summaries={"theo_total": merged})
                       for s in shards])
    assert parts.equals(segment_all(whole, [WorthBands()]))


# --------------------------------------------------------------------------- engagement


def test_engagement_bands():
    rows = [
        {"recency_days": 5},                                          # active
        {"recency_days": 30},                                         # active (not more than 30)
        {"recency_days": 31},                                         # cooling by recency
        {"recency_days": 90},                                         # cooling
        {"recency_days": 91},                                         # dormant
        {"recency_days": None},                                       # nothing on record
        {"recency_days": 3, "visits_30d": 2, "visits_prior_30d": 4},  # -50 %: cooling
        {"recency_days": 3, "visits_30d": 3, "visits_prior_30d": 4},  # -25 %: active
        {"recency_days": 3, "visits_30d": 0, "visits_prior_30d": 1},  # prior too small: active
        {"recency_days": 3, "visits_30d": None, "visits_prior_30d": 6},  # null now = 0: cooling
    ]
    assert labels(EngagementBands(), *rows) == [
        "active", "active", "cooling", "cooling", "dormant", "dormant",
        "cooling", "active", "active", "cooling"]


# --------------------------------------------------------------------------- lifecycle


def test_lifecycle_stages_follow_seed_001():
    rows = [
        {"first_seen": dt.datetime(2025, 6, 1), "recency_days": 1},   # 29 days since first: new
        {"first_seen": dt.datetime(2025, 5, 31), "recency_days": 1},  # 30 days: active
        {"recency_days": 89},                                          # active
        {"recency_days": 90},                                          # at risk
        {"recency_days": 180},                                         # at risk
        {"recency_days": 181},                                         # churned
        {"first_seen": None, "tenure_days": 10, "recency_days": None},   # enrolled, no play: new
        {"first_seen": None, "tenure_days": 400, "recency_days": None},  # long enrolled: churned
        {"first_seen": None, "tenure_days": None, "recency_days": None},  # nothing known: new
    ]
    assert labels(LifecycleStage(), *rows) == [
        "new", "active", "active", "at_risk", "at_risk", "churned", "new", "churned", "new"]


# --------------------------------------------------------------------------- tiers


def test_spending_tiers_follow_seed_001():
    values = [1_000.01, 1_000.0, 500.0, 499.99, 100.0, 99.99, 0.0, None]
    assert labels(SpendingTiers(), *({"cash_in_total": v} for v in values)) == [
        "vip", "high", "high", "medium", "medium", "low", "low", "low"]


def test_spending_basis_is_a_parameter():
    scheme = SpendingTiers(basis="theo_total")
    assert labels(scheme, {"theo_total": 2_000.0, "cash_in_total": 0.0}) == ["vip"]


def test_frequency_tiers_follow_seed_001():
    values = [11, 10, 5, 4, 2, 1, 0, None]
    assert labels(FrequencyTiers(), *({"visits_total": v} for v in values)) == [
        "frequent", "regular", "regular", "occasional", "occasional", "one_time", "one_time",
        "one_time"]


# --------------------------------------------------------------------------- attention


def test_attention_flags_and_priority():
    rows = [
        {},                                                         # none
        {"buy_in_volatility": 1.5},                                 # volatile
        {"buy_in_volatility": 1.5, "cash_in_30d": 10_000.0},        # heavy cash beats volatile
        {"ctr_count_90d": 1},                                       # heavy cash by CTR
        {"disputes_total": 1, "ctr_count_90d": 2},                  # dispute beats heavy cash
        {"exclusion_active": True, "disputes_total": 3},            # exclusion beats all
        {"exclusion_active": None, "disputes_total": None, "cash_in_30d": None,
         "ctr_count_90d": None, "buy_in_volatility": None},         # nothing known: none
    ]
    out = AttentionFlags().assign(frame(*rows))
    assert out["attention"].cast(pl.String).to_list() == [
        "none", "volatile", "heavy_cash", "heavy_cash", "dispute", "exclusion", "none"]
    assert out["attention_volatile"].to_list() == [False, True, True, False, False, False, False]
    assert out["attention_heavy_cash"].to_list() == [False, False, True, True, True, False, False]
    assert out["attention_dispute"].to_list() == [False, False, False, False, True, True, False]
    assert out["attention_exclusion"].to_list() == [False] * 5 + [True, False]


# --------------------------------------------------------------------------- loyalty


def test_loyalty_segments_follow_seed_003():
    rows = [
        {"cash_in_total": 999.0},                                        # NEW
        {"cash_in_total": None},                                         # nothing wagered: NEW
        {"cash_in_total": 200_000.0, "sessions_total": 101},             # VIP
        {"cash_in_total": 200_000.0, "sessions_total": 100,
         "win_loss_total": 50_000.0},                                    # not VIP: LOSING
        {"cash_in_total": 5_000.0, "cash_out_total": 6_000.0,
         "win_loss_total": -1_000.0},                                    # +1000, ratio 1.2: WINNING
        {"cash_in_total": 10_000.0, "cash_out_total": 10_500.0,
         "win_loss_total": -300.0},                                      # ratio 1.05, |300| < 500
        {"cash_in_total": 10_000.0, "win_loss_total": 400.0},            # BREAKEVEN
        {"cash_in_total": 10_000.0, "win_loss_total": 2_000.0},          # LOSING
        {"cash_in_total": 10_000.0, "win_loss_total": None},             # net 0: BREAKEVEN
    ]
    assert labels(LoyaltySegments(), *rows) == [
        "NEW", "NEW", "VIP", "LOSING", "WINNING", "BREAKEVEN", "BREAKEVEN", "LOSING", "BREAKEVEN"]


def test_loyalty_theo_wager_proxy():
    # theo 30 at a 2 % edge is 1500 wagered: past NEW; 15 is 750: NEW
    scheme = LoyaltySegments(wager_basis="theo_over_edge")
    rows = [{"theo_total": 30.0, "cash_in_total": 0.0, "win_loss_total": 0.0},
            {"theo_total": 15.0, "cash_in_total": 1e6, "win_loss_total": 0.0}]
    assert labels(scheme, *rows) == ["BREAKEVEN", "NEW"]


# --------------------------------------------------------------------------- segment_all


def test_segment_all_columns_and_versions():
    schemes = default_schemes()
    schemes[0].version = 4
    out = segment_all(frame({}, {"recency_days": 200}), schemes)
    for s in schemes:
        assert s.name in out.columns
        assert out[s.name].dtype == pl.Enum(list(s.labels))
        assert out[f"{s.name}_version"].to_list() == [s.version] * 2
    assert out["worth_version"].to_list() == [4, 4]
    assert out.columns[:2] == ["player_id", "as_of"]
    assert set(out.columns) == {"player_id", "as_of"} | {
        c for s in schemes for c in s.output_columns()}


def test_segment_all_keeps_lazy_frames_lazy():
    schemes = [WorthBands(mode="fixed"), EngagementBands()]
    lazy = segment_all(frame({}, {}).lazy(), schemes)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(segment_all(frame({}, {}), schemes))


def test_segment_all_rejects_duplicate_names():
    with pytest.raises(ValueError, match="unique"):
        segment_all(frame({}), [SpendingTiers(), SpendingTiers()])


def test_two_schemes_of_one_kind_side_by_side():
    schemes = [SpendingTiers(), SpendingTiers(name="spending_theo", basis="theo_total")]
    out = segment_all(frame({"cash_in_total": 50.0, "theo_total": 5_000.0}), schemes)
    assert out.row(0, named=True) == {
        "player_id": "P0", "as_of": AS_OF, "spending": "low", "spending_version": 1,
        "spending_theo": "vip", "spending_theo_version": 1}


# --------------------------------------------------------------------- every player, one label

_MONEY = st.one_of(st.none(), st.just(0.0), st.floats(allow_nan=True, allow_infinity=True))
_COUNT = st.one_of(st.none(), st.just(0), st.integers(-5, 10**9))
_STRATEGY: dict[str, st.SearchStrategy] = {
    "first_seen": st.one_of(
        st.none(), st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1))),
    "exclusion_active": st.one_of(st.none(), st.booleans()),
}
_ROW = st.fixed_dictionaries({
    c: _STRATEGY.get(c, _MONEY if SCHEMA[c] == pl.Float64 else _COUNT)
    for c in SCHEMA if c not in ("player_id", "as_of")
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_ROW, min_size=1, max_size=12))
def test_every_player_gets_exactly_one_label_per_scheme(rows):
    metrics = frame(*rows)
    schemes = [*default_schemes(), WorthBands(name="worth_fixed", mode="fixed"),
               LoyaltySegments(name="loyalty_theo", wager_basis="theo_over_edge")]
    out = segment_all(metrics, schemes)
    assert out.height == metrics.height
    assert out["player_id"].to_list() == metrics["player_id"].to_list()
    for s in schemes:
        column = out[s.label_column()]
        assert column.null_count() == 0
        assert set(column.cast(pl.String).to_list()) <= set(s.labels)
    flags = [f"attention_{f}" for f in AttentionFlags.flags]
    assert out.select(pl.any_horizontal(pl.col(flags).is_null()).any()).item() is False


# --------------------------------------------------------------------------- TOML


@pytest.mark.parametrize("kind", sorted(SCHEMES))
def test_toml_round_trip_preserves_thresholds_and_version(kind):
    scheme = SCHEMES[kind]()
    # move every number off its default so a lost value shows
    for name, p in scheme.param.objects().items():
        if name in Versioned._META:
            continue
        value = getattr(scheme, name)
        if isinstance(p, param.Selector):
            setattr(scheme, name, p.objects[-1])
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            setattr(scheme, name, value + 1 if p.bounds is None or p.bounds[1] is None
                    or value + 1 <= p.bounds[1] else value - 1)
        elif isinstance(value, float):
            setattr(scheme, name, value / 2)
    scheme.release("ana", "tuned for the spring campaign", at=dt.datetime(2025, 3, 1, 9, 30,
                                                                           tzinfo=dt.UTC))
    text = scheme.to_toml()
    back = Scheme.from_toml(text)
    assert type(back) is type(scheme)
    assert back.version == 2
    assert back.thresholds() == scheme.thresholds()
    assert (back.name, back.saved_by, back.reason, back.saved_at) == (
        scheme.name, "ana", "tuned for the spring campaign", dt.datetime(2025, 3, 1, 9, 30,
                                                                         tzinfo=dt.UTC))
    assert back.to_toml() == text


def test_toml_text_is_readable():
    text = SpendingTiers(vip_above=5_000).to_toml()
    assert 'kind = "spending"' in text
    assert 'scheme = "spending"' in text
    assert "version = 1" in text
    assert "[thresholds]" in text
    assert "vip_above = 5000" in text


def test_from_toml_rejects_unknown_kind_threshold_and_out_of_bounds():
    with pytest.raises(ValueError, match="unknown scheme kind"):
        Scheme.from_toml('kind = "nope"\nversion = 1\n')
    with pytest.raises(ValueError, match="unknown threshold"):
        Scheme.from_toml('kind = "spending"\n[thresholds]\nvip_abve = 3.0\n')
    with pytest.raises(ValueError, match="not a WorthBands"):
        WorthBands.from_toml(SpendingTiers().to_toml())
    with pytest.raises(ValueError):
        Scheme.from_toml('kind = "worth"\n[thresholds]\nhigh_quantile = 1.5\n')


def test_schemes_io_save_and_load(tmp_path):
    from pipelines.derived.schemes_io import load, save

    scheme = EngagementBands(cooling_after_days=21).release("bo", "shorter cooling")
    path = save(scheme, tmp_path / "schemes" / "engagement.toml")
    back = load(path)
    assert isinstance(back, EngagementBands)
    assert (back.version, back.cooling_after_days, back.reason) == (2, 21, "shorter cooling")
    assert [p.name for p in path.parent.iterdir()] == ["engagement.toml"]


def test_every_parameter_is_documented_and_bounded():
    for cls in SCHEMES.values():
        for name, p in cls.param.objects().items():
            assert p.doc, f"{cls.__name__}.{name} has no doc"
            if isinstance(p, param.Number) and name not in Versioned._META:
                assert p.bounds is not None, f"{cls.__name__}.{name} has no bounds"
                assert p.step is not None, f"{cls.__name__}.{name} has no step"


# --------------------------------------------------------------------------- quantile summaries


@settings(max_examples=40, deadline=None)
@given(
    a=st.lists(st.one_of(st.none(), st.floats(-1e9, 1e9), st.just(math.nan)), max_size=60),
    b=st.lists(st.one_of(st.none(), st.floats(-1e9, 1e9), st.just(math.inf)), max_size=60),
)
def test_summary_of_both_shards_equals_merged_summaries(a, b):
    def summarise(values):
        return quantile_summary(pl.DataFrame({"x": values}, schema={"x": pl.Float64}), "x")

    merged = summarise(a).merge(summarise(b))
    assert merged == summarise(a + b)


def test_quantiles_from_summary_match_exact_quantiles():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.lognormal(6, 2, 4_000), np.zeros(500), -rng.lognormal(2, 1, 300)])
    shards = np.array_split(rng.permutation(values), 5)
    merged = merge_summaries(quantile_summary(pl.DataFrame({"x": s}), "x") for s in shards)
    assert merged.n == values.size
    for q in (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0):
        exact = float(np.quantile(values, q, method="lower"))
        assert merged.quantile(q) == pytest.approx(exact, rel=0.006, abs=0.01), q


def test_summary_round_trips_through_plain_data_and_handles_empty():
    s = quantile_summary(pl.DataFrame({"x": [1.0, None, 5.0, math.nan]}), "x")
    assert (s.n, s.missing, s.min, s.max) == (2, 2, 1.0, 5.0)
    assert QuantileSummary.from_dict(s.to_dict()) == s
    empty = quantile_summary(pl.DataFrame({"x": [None]}, schema={"x": pl.Float64}), "x")
    assert empty.quantile(0.5) is None
    with pytest.raises(ValueError, match="cannot merge"):
        s.merge(QuantileSummary(column="y", bins=()))
