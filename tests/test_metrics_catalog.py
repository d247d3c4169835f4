"""The metric catalog: integrity, and every metric's expression on a tiny hand-made event history."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from metrics import catalog as C
from metrics.catalog import CATALOG, CONTEXT_COLUMNS, Metric, Ratio, registry
from pipelines.derived.metrics import metric_columns, player_metrics

AS_OF = datetime(2025, 3, 1, 12, 0)
TAXONOMY = {
    "enrollment", "profile_update", "visit", "rating_slip", "buy_in", "cash_out", "marker", "marker_repayment",
    "points_earned", "points_redeemed", "points_adjusted", "reward_issued", "reward_redeemed", "reward_expired",
    "campaign_contact", "note", "dispute", "service", "incident", "exclusion", "exclusion_lifted", "mtl", "ctr",
    "order", "refund", "note_edited", "tag_added", "tag_removed", "task_created", "task_completed",
}
UNITS = {"count", "days", "currency", "minutes", "ratio", "score", "date", "text", "bool", "points",
         "per_month", "percent"}
SCHEMA = {
    "player_id": pl.String, "ts": pl.Datetime("us"), "event_type": pl.String, "property_id": pl.String,
    "amount": pl.Float64, "points": pl.Float64, "game": pl.String, "avg_bet": pl.Float64,
    "minutes": pl.Float64, "theo": pl.Float64, "casino_win": pl.Float64, "attrs": pl.String,
}


def at(days_before: float, hours: float = 0.0) -> datetime:
    """A time `days_before` days before AS_OF, plus `hours`."""
    return AS_OF - timedelta(days=days_before) + timedelta(hours=hours)


def ev(event_type: str, ts: datetime, player: str = "P1", **values) -> dict:
    """One event row (absent columns null)."""
    row = dict.fromkeys(SCHEMA)
    row.update(player_id=player, event_type=event_type, ts=ts, **values)
    if "reward_id" in values:
        row["attrs"] = f'{{"reward_id":"{row.pop("reward_id")}","reward_type":"comp"}}'
    return row


def frame(rows: list[dict]) -> pl.LazyFrame:
    """Events as a LazyFrame with the canonical column types."""
    return pl.DataFrame(rows, schema=SCHEMA).lazy()


# One player's history; the hand-computed value of every metric is in EXPECTED below.
HISTORY = [
    ev("enrollment", at(500)),
    ev("visit", at(5), property_id="A", minutes=120.0),
    ev("visit", at(40), property_id="B", minutes=60.0),
    ev("visit", at(100), property_id="A", minutes=90.0),
    ev("rating_slip", at(5, 1), game="blackjack", minutes=60.0, avg_bet=50.0, theo=30.0, casino_win=100.0),
    ev("rating_slip", at(45), game="roulette", minutes=90.0, avg_bet=10.0, theo=9.0, casino_win=-20.0),
    ev("rating_slip", at(200), game="blackjack", minutes=40.0, avg_bet=20.0, theo=5.0, casino_win=10.0),
    ev("buy_in", at(5), amount=500.0),
    ev("marker", at(50), amount=1000.0),
    ev("buy_in", at(400), amount=200.0),
    ev("marker_repayment", at(20), amount=1000.0),  # repaying credit is not cash in
    ev("cash_out", at(4), amount=300.0),
    ev("reward_issued", at(10), amount=25.0, reward_id="R1"),
    ev("reward_redeemed", at(8), amount=25.0, reward_id="R1"),
    ev("reward_issued", at(60), amount=40.0, reward_id="R2"),
    ev("reward_expired", at(30), amount=40.0, reward_id="R2"),
    ev("reward_issued", at(3), amount=10.0, reward_id="R3"),  # still open
    ev("reward_issued", at(90), amount=15.0, reward_id="R4"),  # never used, past its validity: ignored
    ev("points_earned", at(5), points=100.0),
    ev("points_redeemed", at(4), points=-40.0),
    ev("note", at(2)), ev("note", at(70)), ev("note_edited", at(1)),
    ev("dispute", at(20)), ev("service", at(1)), ev("incident", at(200)),
    ev("exclusion", at(300)), ev("exclusion_lifted", at(250)),
    ev("ctr", at(10), amount=12_000.0), ev("mtl", at(10), amount=3_000.0), ev("mtl", at(100), amount=4_000.0),
    ev("order", at(20), amount=80.0), ev("refund", at(15), amount=-30.0),
    ev("campaign_contact", at(12)), ev("tag_added", at(1)),
    ev("visit", at(-1), property_id="C"),  # after as_of: ignored
    ev("buy_in", at(-0.5), amount=9_999.0),  # after as_of: ignored
]

_PURCHASE = 100 * math.log1p((39 + 50) / 3) / math.log1p(1000)
_ENGAGEMENT = 100 * (3 + 1) / 12
_RECENCY = 100 * 0.5 ** (4 / 30)
_SCORE = 0.35 * _PURCHASE + 0.25 * _ENGAGEMENT + 0.15 * 75 + 0.25 * _RECENCY

EXPECTED: dict[str, object] = {
    "first_seen": at(400), "last_seen": at(4), "enrolled_at": at(500), "recency_days": 4, "tenure_days": 500,
    "visits_total": 3, "visits_30d": 1, "visits_prior_30d": 1, "visits_90d": 2,
    "first_visit_at": at(100), "last_visit_at": at(5), "last_trip_at": at(5, 1), "visits_per_month": 3 / (500 / 30.4375),
    "avg_days_between_visits": 95 / 2,
    "sessions_total": 3, "sessions_30d": 1, "sessions_prior_30d": 1, "sessions_90d": 2,
    "trip_days_30d": 1, "trip_days_60d": 3, "trip_days_90d": 3, "preferred_property": "A",
    "cash_in_total": 1700.0, "cash_in_30d": 500.0, "cash_in_prior_30d": 1000.0, "cash_in_90d": 1500.0,
    "buy_ins_total": 3, "avg_buy_in": 1700 / 3, "cash_out_total": 300.0, "net_cash": -1400.0,
    "buy_in_volatility": math.sqrt(2 * 250**2) / 750,
    "minutes_played_total": 190.0, "minutes_played_30d": 60.0, "minutes_played_prior_30d": 90.0,
    "minutes_played_90d": 150.0, "avg_session_minutes": 190 / 3, "avg_session_minutes_30d": 60.0,
    "avg_session_minutes_prior_30d": 90.0, "avg_session_minutes_90d": 75.0,
    "bet_minutes_total": 4700.0, "rated_minutes_total": 190.0, "avg_bet": 4700 / 190,
    "theo_total": 44.0, "theo_30d": 30.0, "theo_prior_30d": 9.0, "theo_60d": 39.0, "theo_90d": 39.0,
    "adt_30d": 30.0, "adt_60d": 13.0, "adt_90d": 13.0, "win_loss_total": 90.0,
    "favourite_game": "blackjack", "games_played": 2,
    "rewards_issued": 4, "rewards_redeemed": 1, "rewards_expired": 1, "rewards_open": 1, "rewards_ignored": 2,
    "redemption_rate": 0.25, "reward_cost_total": 25.0, "points_balance": 60.0,
    # note_edited is the current version of an edited note, so it counts as a note
    "notes_total": 3, "disputes_total": 1, "disputes_90d": 1, "service_touches": 1, "incidents_total": 1,
    "incidents_90d": 0, "exclusion_active": False, "ctr_count_90d": 1, "mtl_count_90d": 1,
    "order_total": 50.0, "orders_total": 1, "order_total_90d": 50.0, "orders_90d": 1,
    "lifetime_value": 44 + 50 - 25.0,
    "health_purchase": _PURCHASE, "health_engagement": _ENGAGEMENT, "health_service": 75.0,
    "health_recency": _RECENCY, "health_score": _SCORE, "health_level": "good",
}


def closure(names: list[str]) -> dict[str, Metric]:
    """A sub-catalog: the named metrics and everything they depend on."""
    todo, keep = list(names), set()
    while todo:
        name = todo.pop()
        if name not in keep and name not in CONTEXT_COLUMNS:
            keep.add(name)
            todo.extend(CATALOG[name].depends)
    return registry(m for n, m in CATALOG.items() if n in keep)


def evaluate(names: list[str], rows: list[dict], as_of: datetime = AS_OF, player: str = "P1") -> dict:
    """The named metrics of one player, each evaluated with only its own dependencies."""
    out = player_metrics(frame(rows), as_of, catalog=closure(names)).collect()
    return out.filter(pl.col("player_id") == player).select(names).row(0, named=True)


def same(actual: object, expected: object) -> bool:
    """Equal, floats within 1e-9 relative."""
    if isinstance(expected, float) and actual is not None:
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    return actual == expected and type(actual) is type(expected)


# -- integrity --------------------------------------------------------------------------------------
def test_every_metric_has_a_hand_computed_expectation():
    assert set(EXPECTED) == set(CATALOG)


def test_references_exist_and_order_is_topological():
    seen = set(CONTEXT_COLUMNS)
    for name, m in CATALOG.items():
        assert name == m.name
        assert set(m.depends) <= seen, f"{name} reads {set(m.depends) - seen} before they exist"
        seen.add(name)
    ratios = [m for m in CATALOG.values() if m.stage == "derived"]
    assert len(ratios) >= 20 and all(m.depends for m in ratios)


def test_grains_exist_and_event_types_are_in_the_taxonomy():
    for m in CATALOG.values():
        assert set(m.event_types) <= TAXONOMY, m.name
        assert m.grain is None or m.grain in C.GRAINS
    for g in C.GRAINS.values():
        assert set(g.event_types) <= TAXONOMY and g.description


def test_labels_descriptions_units_windows():
    for m in CATALOG.values():
        assert m.label.strip() and m.description.strip(), m.name
        assert "\n" not in m.description, m.name  # one line
        assert m.unit in UNITS, m.name
        assert m.window is None or m.window > 0
        assert m.window_offset >= 0 and (m.window_offset == 0 or m.window is not None)
        assert m.higher_is_better in (True, False, None)
        assert m.stage in ("events", "grain", "derived")


def test_contract_columns_match_the_document_and_are_all_produced():
    text = (Path(__file__).parents[1] / "docs" / "metrics-contract.md").read_text()
    documented = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and cells[0] not in ("column", "---"):
            documented += [c.strip() for c in cells[0].split(",")]
    assert documented and all(re.fullmatch(r"[a-z0-9_]+", c) for c in documented)
    assert set(documented) == set(C.CONTRACT_COLUMNS)
    assert set(C.CONTRACT_COLUMNS) <= set(metric_columns())


def test_registry_rejects_unknown_references_duplicates_and_cycles():
    def d(name: str, *deps: str) -> Metric:
        return C.Derived(name, pl.lit(1), depends=deps, label=name, description=name, unit="count")

    with pytest.raises(ValueError, match="unknown"):
        registry([d("a", "nope")])
    with pytest.raises(ValueError, match="duplicate"):
        registry([d("a"), d("a")])
    with pytest.raises(ValueError, match="cycle"):
        registry([d("a", "b"), d("b", "c"), d("c", "a")])
    ordered = registry([d("c", "b"), d("b", "a"), d("a")])
    assert list(ordered) == ["a", "b", "c"]


def test_metric_object_is_frozen_and_validated():
    m = CATALOG["visits_30d"]
    with pytest.raises(AttributeError):
        m.name = "x"  # type: ignore[misc]
    assert m.event_types == ("visit",) and m.window == 30 and m.stage == "events" and m.fill == 0
    assert CATALOG["redemption_rate"].depends == ("rewards_redeemed", "rewards_issued")
    with pytest.raises(ValueError):
        Metric(name="not an id", label="x", description="x", unit="count", expr=pl.lit(1))
    with pytest.raises(ValueError):
        Metric(name="x", label="x", description="x", unit="count", expr=pl.lit(1), depends=("a",))


def test_catalog_frame():
    f = C.catalog_frame()
    assert f.height == len(CATALOG)
    assert f.columns[:4] == ["name", "label", "description", "unit"]
    assert {"window", "event_types", "higher_is_better", "stage", "depends"} <= set(f.columns)
    assert f["name"].to_list() == list(CATALOG)
    row = f.filter(pl.col("name") == "cash_in_prior_30d").row(0, named=True)
    assert row["window"] == 30 and row["window_offset"] == 30 and row["event_types"] == "buy_in, marker"
    assert f.filter(pl.col("name") == "net_cash")["depends"].item() == "cash_out_total, cash_in_total"
    assert f["label"].str.len_chars().min() > 0


def test_derived_layers_are_topological():
    produced = {n for n, m in CATALOG.items() if m.stage != "derived"} | set(CONTEXT_COLUMNS)
    for layer in C.derived_layers():
        names = [e.meta.output_name() for e in layer]
        for name in names:
            assert set(CATALOG[name].depends) <= produced, name
        produced |= set(names)
    assert produced >= set(CATALOG)


# -- every metric on the hand-made history ----------------------------------------------------------
@pytest.mark.parametrize("name", list(CATALOG))
def test_metric_on_hand_made_history(name):
    actual = evaluate([name], HISTORY)[name]
    assert same(actual, EXPECTED[name]), f"{name}: {actual!r} != {EXPECTED[name]!r}"


def test_whole_catalog_at_once_matches_metric_by_metric():
    out = player_metrics(frame(HISTORY), AS_OF).collect()
    assert out.height == 1
    row = out.row(0, named=True)
    bad = {n: (row[n], v) for n, v in EXPECTED.items() if not same(row[n], v)}
    assert not bad


# -- edge cases of single expressions ---------------------------------------------------------------
def test_windows_are_half_open():
    rows = [ev("visit", at(30)), ev("visit", at(60)), ev("visit", AS_OF), ev("visit", at(90))]
    got = evaluate(["visits_30d", "visits_prior_30d", "visits_90d", "visits_total", "recency_days"], rows)
    # at(30) belongs to the prior window, at(60) to none of the 30-day ones, AS_OF itself counts
    assert got == {"visits_30d": 1, "visits_prior_30d": 1, "visits_90d": 3, "visits_total": 4, "recency_days": 0}


def test_ratios_are_null_without_denominator():
    got = evaluate(["avg_buy_in", "redemption_rate", "avg_bet", "adt_30d", "avg_session_minutes"],
                   [ev("visit", at(100))])
    assert got == dict.fromkeys(got)
    # a trip day without play: ADT 0, not null
    assert evaluate(["adt_30d"], [ev("visit", at(1))])["adt_30d"] == 0.0


def test_ratio_constructor_refers_by_name():
    r = Ratio("x_rate", numerator="a", denominator="b", label="X", description="a per b")
    df = pl.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2, 0, None]})
    assert df.select(r.expr)["x_rate"].to_list() == [0.5, None, None]
    assert r.depends == ("a", "b") and r.stage == "derived"


def test_exclusion_states():
    def active(*rows):
        return evaluate(["exclusion_active"], [ev("visit", at(1)), *rows])["exclusion_active"]

    assert active() is False
    assert active(ev("exclusion", at(10))) is True
    assert active(ev("exclusion", at(10)), ev("exclusion_lifted", at(5))) is False
    assert active(ev("exclusion", at(10)), ev("exclusion_lifted", at(20))) is True
    assert active(ev("exclusion", at(10)), ev("exclusion_lifted", at(10))) is True  # tie: stay safe
    assert active(ev("exclusion_lifted", at(10))) is False


def test_trip_days_follow_the_gaming_day():
    # 23:00 visit and 02:00 slip the next morning are one gaming day (books close at 06:00)
    night = datetime(2025, 2, 20, 23, 0)
    rows = [ev("visit", night), ev("rating_slip", night + timedelta(hours=3), theo=10.0, minutes=30.0),
            ev("rating_slip", night + timedelta(hours=8), theo=20.0, minutes=30.0)]
    got = evaluate(["trip_days_30d", "adt_30d"], rows)
    assert got == {"trip_days_30d": 2, "adt_30d": 15.0}


def test_favourite_game_and_property_ties_go_to_the_first_name():
    rows = [ev("rating_slip", at(1), game="roulette", minutes=30.0),
            ev("rating_slip", at(2), game="craps", minutes=10.0),
            ev("rating_slip", at(3), game="craps", minutes=20.0),
            ev("rating_slip", at(3), game=None, minutes=500.0),
            ev("visit", at(1), property_id="P2"), ev("visit", at(2), property_id="P1")]
    got = evaluate(["favourite_game", "games_played", "preferred_property"], rows)
    assert got == {"favourite_game": "craps", "games_played": 2, "preferred_property": "P1"}


def test_volatility_needs_two_months():
    one = [ev("buy_in", datetime(2025, 2, 3), amount=100.0), ev("buy_in", datetime(2025, 2, 20), amount=300.0)]
    assert evaluate(["buy_in_volatility"], one)["buy_in_volatility"] is None
    two = [*one, ev("marker", datetime(2025, 1, 31, 23, 59), amount=200.0)]
    # months: 2025-01 = 200, 2025-02 = 400 -> mean 300, sample std 141.42
    assert math.isclose(evaluate(["buy_in_volatility"], two)["buy_in_volatility"], math.sqrt(2 * 100**2) / 300)


def test_rewards_without_ids_are_matched_by_count():
    rows = [ev("reward_issued", at(5)), ev("reward_issued", at(6)), ev("reward_issued", at(50)),
            ev("reward_redeemed", at(4)), ev("reward_expired", at(20)),
            ev("reward_issued", at(2), reward_id="K1")]
    got = evaluate(["rewards_open", "rewards_ignored", "redemption_rate"], rows)
    # unkeyed: 3 issued, 2 settled -> 1 unsettled, 2 issued recently -> 1 open; keyed K1 open
    assert got == {"rewards_open": 2, "rewards_ignored": 1, "redemption_rate": 0.25}


def test_avg_days_between_visits_is_the_mean_gap():
    rows = [ev("visit", at(10)), ev("visit", at(7)), ev("visit", at(1, 12))]
    assert math.isclose(evaluate(["avg_days_between_visits"], rows)["avg_days_between_visits"], (10 - 0.5) / 2)


def test_health_factors_on_reference_points():
    def health(**inputs):
        df = pl.DataFrame(inputs)
        return df.select([CATALOG[n].expr for n in ("health_purchase", "health_engagement", "health_service",
                                                     "health_recency") if set(CATALOG[n].depends) <= set(inputs)])

    got = health(theo_90d=[3000.0, 0.0, 1e9], order_total_90d=[0.0, 0.0, 0.0])
    assert got["health_purchase"].to_list() == pytest.approx([100.0, 0.0, 100.0])
    got = health(trip_days_90d=[6, 0, 40], orders_90d=[0, 0, 0])
    assert got["health_engagement"].to_list() == pytest.approx([50.0, 0.0, 100.0])
    got = health(disputes_90d=[0, 1, 1, 9], incidents_90d=[0, 1, 0, 0], exclusion_active=[False, False, True, False])
    assert got["health_service"].to_list() == pytest.approx([100.0, 35.0, 0.0, 0.0])
    got = health(recency_days=pl.Series([0, 30, 90, None], dtype=pl.Int64))
    assert got["health_recency"].to_list() == pytest.approx([100.0, 50.0, 12.5, 0.0])
    assert sum(C.HEALTH_WEIGHTS.values()) == pytest.approx(1.0)
    levels = pl.DataFrame({"health_score": [80.0, 50.0, 30.0, 10.0]}).select(CATALOG["health_level"].expr)
    assert levels["health_level"].to_list() == ["excellent", "good", "fair", "poor"]
