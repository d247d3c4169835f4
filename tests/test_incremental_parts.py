"""The parts of incremental builds: swept intervals, the catalog fingerprint, carry-forward, the
store's changed players and shards, and the exported churn model."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from metrics import catalog as C
from metrics.churn_export import export_logistic, predict_exported
from metrics.churn_model import train_churn_model
from metrics.incremental import changed_intervals, edge_distances, fingerprint
from pipelines.derived.incremental import carry_forward
from pipelines.derived.metrics import aggregate_columns, event_attributes, finish_metrics, player_aggregates, player_metrics
from pipelines.ingest import ingest_file
from tests.conftest import txn

D = timedelta(days=1)


def test_edges_cover_every_window_edge_of_the_catalog():
    edges = edge_distances()
    assert edges[0] == 0 and 30 in edges and 60 in edges and 90 in edges and 365 in edges
    for window, offset in C.windows():
        assert offset in edges and offset + window in edges


def test_changed_intervals_are_swept_edges_merged_and_symmetric():
    c1, c2 = datetime(2025, 6, 2), datetime(2025, 6, 4)
    spans = changed_intervals(c1, c2)
    assert spans == changed_intervals(c2, c1)
    assert changed_intervals(c1, c1) == []
    assert (c1, c2) in spans and (c1 - 30 * D, c2 - 30 * D) in spans and (c1 - 365 * D, c2 - 365 * D) in spans
    assert all(lo < hi for lo, hi in spans) and spans == sorted(spans)
    wide = changed_intervals(c1, c1 + 40 * D)  # 40 days sweep across the 30-day edge: merged
    assert all(a[1] < b[0] for a, b in zip(wide, wide[1:]))


def test_an_event_outside_the_swept_intervals_keeps_its_players_aggregates():
    """The claim the incremental build rests on, checked on one player for every day of a year."""
    c1 = datetime(2025, 6, 2)
    for day in range(-400, 5):
        ts = c1 + timedelta(days=day, hours=7)
        events = pl.LazyFrame({"player_id": ["p"], "ts": [ts], "event_type": ["buy_in"], "amount": [10.0]})
        for c2 in (c1 + D, c1 + 3 * D, c1 - 2 * D):
            swept = any(lo < ts <= hi for lo, hi in changed_intervals(c1, c2))
            before = player_aggregates(events, c1).collect()
            after = player_aggregates(events, c2).collect()
            if not swept:
                assert before.equals(after), (ts, c2)


def test_fingerprint_follows_the_definitions():
    assert fingerprint() == fingerprint()
    fewer = {k: v for k, v in C.CATALOG.items() if k != "games_played"}
    assert fingerprint(fewer) != fingerprint()


def test_player_metrics_is_aggregates_then_finish():
    events = pl.LazyFrame({"player_id": ["a", "a", "b"], "ts": [datetime(2025, 1, 1), datetime(2025, 1, 5), datetime(2025, 1, 2)],
                           "event_type": ["visit", "buy_in", "visit"], "amount": [None, 50.0, None]})
    as_of = datetime(2025, 2, 1)
    whole = player_metrics(events, as_of).collect().sort("player_id")
    parts = finish_metrics(player_aggregates(events, as_of), as_of).collect().sort("player_id")
    assert whole.equals(parts)
    assert player_aggregates(events, as_of).collect_schema().names() == aggregate_columns()
    assert list(event_attributes()) == ["reward_id"]


def test_an_attribute_shipped_as_a_column_or_parsed_from_attrs_gives_the_same_aggregates():
    """The store ships ``reward_id`` (of reward events only) as a column; events that bring only
    ``attrs`` get it parsed. Either way the same metrics, and another event type's key is ignored."""
    ts = [datetime(2025, 1, d) for d in (1, 2, 3, 4, 5, 6)]
    attrs = ['{"reward_id": "R1", "reward_type": "comp"}', '{"reward_id": "R1"}', '{"reward_type": "comp"}',
             '{"reward_id": 7}', '{"reward_id": "R9"}', None]
    types = ["reward_issued", "reward_redeemed", "reward_issued", "reward_issued", "campaign_contact", "reward_issued"]
    raw = pl.LazyFrame({"player_id": ["a"] * 6, "ts": ts, "event_type": types, "attrs": attrs})
    shipped = raw.with_columns(reward_id=pl.Series([
        "R1", "R1", None, "7", None, None])).drop("attrs")
    as_of = datetime(2025, 1, 10)
    parsed = player_aggregates(raw, as_of).collect()
    assert parsed.equals(player_aggregates(shipped, as_of).collect())
    assert parsed.select("rewards_issued", "rewards_redeemed", "rewards_open").row(0) == (4, 1, 3)


def test_carry_forward_keeps_unchanged_rows_replaces_changed_and_drops_vanished():
    previous = pl.DataFrame({"player_id": ["a", "b", "c"], "n": [1, 2, 3], "old": [0, 0, 0]})
    fresh = pl.DataFrame({"player_id": ["b", "d"], "n": [20, 40]})
    changed = pl.DataFrame({"player_id": ["b", "c", "d"]})  # c was merged away: no fresh row
    out = carry_forward(previous, fresh, changed)
    assert out.to_dict(as_series=False) == {"player_id": ["a", "b", "d"], "n": [1, 20, 40]}
    with pytest.raises(ValueError, match="lacks columns"):
        carry_forward(previous.drop("n"), fresh, changed)


def test_changed_players_finds_new_events_merges_and_swept_windows(loaded, write_csv):
    store = loaded
    ingest_file(store, "transactions", write_csv("a.csv", [txn(1, "PL1", ts="2025-01-01 10:00:00"),
                                                           txn(2, "PL2", ts="2024-12-03 12:00:00")]))
    max_seq, _ = store.watermark()
    base = {"max_seq": max_seq, "started_at": datetime.now() + timedelta(hours=1), "merge_seq": store.merge_watermark()}
    cutoff = datetime(2025, 1, 2)
    assert store.changed_players(base, cutoff=cutoff, intervals=[], enrolled=None).height == 0
    # a day later PL2's buy-in (29.5 days before) leaves the 30-day window: swept
    spans = changed_intervals(cutoff, cutoff + D)
    assert store.changed_players(base, cutoff=cutoff + D, intervals=spans, enrolled=None)["player_id"].to_list() == ["PL2"]
    ingest_file(store, "transactions", write_csv("b.csv", [txn(3, "PL3", ts="2025-01-01 12:00:00")]))
    assert store.changed_players(base, cutoff=cutoff, intervals=[], enrolled=None)["player_id"].to_list() == ["PL3"]
    store.merge_players("PL1", "PL3", actor="t", role="host", reason="same person")
    changed = store.changed_players(base, cutoff=cutoff, intervals=[], enrolled=None)["player_id"].to_list()
    assert changed == ["PL1", "PL3"]  # the survivor, and the merged id whose old row must go
    late = store.changed_players(base, cutoff=cutoff, intervals=[], enrolled=(datetime(2024, 1, 15), datetime(2024, 2, 15)))
    assert "PL2" in late["player_id"].to_list()  # enrolled 2024-02-01


def test_id_ranges_partition_the_players(loaded):
    ranges = loaded.id_ranges(2)
    assert ranges[0][0] is None and ranges[-1][1] is None
    seen = []
    for r in ranges:
        seen += loaded.players_for(id_range=r)["player_id"].to_list()
    assert sorted(seen) == ["PL1", "PL2", "PL3"]
    assert loaded.id_ranges(1) == [(None, None)]


def test_exported_logistic_model_predicts_like_the_pipeline():
    rng = np.random.default_rng(0)
    n = 600
    features = pl.DataFrame({
        "recency_days": rng.integers(0, 200, n).astype(float),
        "visits_total": rng.poisson(5, n).astype(float),
        "avg_bet": np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2, 20, n)),
        "empty": np.full(n, np.nan),
        "as_of": [date(2025, 1, 1)] * n,
    }).with_columns(pl.col("avg_bet").fill_nan(None), pl.col("empty").fill_nan(None))
    labels = pl.Series((features["recency_days"] + rng.normal(0, 40, n) > 100).cast(pl.Int8))
    model = train_churn_model(features, labels)
    params = export_logistic(model)
    expected = model.estimator.predict_proba(features.select(model.features).to_numpy().astype(float))[:, 1]
    assert np.allclose(predict_exported(params, features), expected, rtol=0, atol=1e-12)
    assert params["features"] == list(model.features) and params["rows"] == n
