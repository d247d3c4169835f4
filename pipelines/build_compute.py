"""The per-player part of the build, with its I/O: full (in player-range shards) or incremental.

Both produce the same :class:`Computed` for the same events: every player's aggregated metrics
(``player_aggregates``), every player's CLV state (``clv_state``) and, when the churn model is to
be trained, the training rows of a fixed sample of players. Everything here is per player, so

* a **full** pass reads the events one range of player ids at a time (``Store.events_for``), runs the
  pure stages on that shard and concatenates: memory is bounded by the shard, not the history, and
  the shards could as well run on several workers (Dask);
* an **incremental** pass asks the store which players may have changed since a base build
  (``Store.changed_players`` with the intervals of ``metrics.incremental.changed_intervals``),
  recomputes those from their events and carries every other player's row forward from the base
  snapshot (``pipelines.derived.incremental.carry_forward``). It gives up (returns None) when too
  many players changed for it to pay off.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from metrics.incremental import changed_intervals
from pipelines.ahead import ahead
from pipelines.derived.churn_training import VISIT_EVENTS, training_frame
from pipelines.derived.clv import STATE_COLUMNS, clv_state
from pipelines.derived.incremental import carry_forward
from pipelines.derived.metrics import EVENT_INPUTS, aggregate_columns, event_attributes, player_aggregates
from pipelines.store import Store
from pipelines.store_derived import IdRange

__all__ = ["SHARD_EVENTS", "SHARD_MEMORY_LIMIT", "Computed", "Training", "full_pass", "incremental_pass",
           "read_shards"]

# Events per shard of a full pass: two shards are in memory at once (one aggregated, the next being
# read), about 0.05 GB each. Metrics of the build's path at 20M events (benchmarks/bench_metrics.py,
# read-ahead, 64MB pool): peak RSS 1,402 MiB with 500k-event shards, 1,509 with 700k, 1,673 with 1M;
# the smaller shards cost 1-3 s more CPU over the 20M events (per-shard planning).
SHARD_EVENTS = 500_000
# DuckDB's buffer pool while a full pass reads its shards (PLAYER360_BUILD_MEMORY_LIMIT overrides):
# each shard's scan reads its blocks once, so the pool only caches blocks nobody reads again. 1M
# players, 20M events, metrics of the build's path (1M-event shards, read one after the other):
# peak RSS 1,650 MiB with 256MB, 1,455-1,487 MiB with 64MB, same CPU time. (The build's other
# reads, such as id_ranges' quantiles over every player id, need more: 32MB ran out of memory there.)
SHARD_MEMORY_LIMIT = "64MB"
MAX_CHANGED_SHARE = 0.5  # beyond this share of changed players a full pass is cheaper

Say = Callable[[str], None]


@dataclass(frozen=True)
class Training:
    """What the churn model is trained on: the sample's features as of ``t0``, labels after it."""

    sample: pl.DataFrame  # player_id of the players it may use (Store.sample_players)
    t0: datetime
    horizon_days: int
    active_days: int = 365


@dataclass
class Computed:
    """Every player's aggregates and CLV state (sorted by player), and the churn training rows."""

    aggregates: pl.DataFrame
    clv_state: pl.DataFrame
    training: tuple[pl.DataFrame, pl.Series] | None
    mode: str  # full | incremental
    recomputed: int  # players computed from their events
    shards: int = 1
    base_build_id: str | None = None


def _read(store: Store, **which: Any) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(events, player master) of a range or a set of players."""
    attributes = {name: (a.path, a.event_types) for name, a in event_attributes().items()}
    events = store.events_for(list(EVENT_INPUTS), attributes=attributes, **which)
    return events.lazy(), store.players_for(**which).lazy()


# the event columns a model input is summed from: sorting by them fixes the summation order
_CANONICAL = ["player_id", "ts", "event_type", "amount", "points", "avg_bet", "minutes", "theo", "casino_win",
              "property_id", "game"]


def _training_rows(events: pl.LazyFrame, players: pl.LazyFrame, training: Training) -> tuple[pl.DataFrame, pl.Series]:
    """The training rows of the sample's players among these events.

    The events are put in one canonical order first: float sums depend on the order of their terms,
    and an iterative fit turns last-bit differences into different coefficients, so a full pass (a
    shard's events) and an incremental build (the sample's events) should sum alike. (Polars' threads
    may still merge partial sums in another order: the churn scores of the two agree to about 1e-11.)
    """
    sample = training.sample.lazy()
    ordered = events.join(sample, on="player_id", how="semi").sort(_CANONICAL, nulls_last=True)
    return training_frame(ordered,
                          players.join(sample, on="player_id", how="semi"),
                          training.t0, training.horizon_days, active_days=training.active_days)


def _owned(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with string buffers of its own. Rows gathered from a frame (a semi-join) keep views
    into the whole frame's string buffers: keeping the churn sample's 5% of each shard would keep
    every shard's strings alive (0.9 GB at 20M events). Large strings are copied, then viewed again."""
    return pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))  # type: ignore[return-value]


def _by_player(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame sorted by player_id (checked: sorting is skipped when it already is)."""
    return frame if frame.get_column("player_id").is_sorted() else frame.sort("player_id")


def read_shards(store: Store, ranges: list[IdRange]) -> Iterator[tuple[pl.LazyFrame, pl.LazyFrame]]:
    """(events, player master) of each player-id range in order, the next range read (DuckDB's scan
    releases the GIL) while the caller aggregates this one (Polars releases it too); only the reader
    uses the store meanwhile."""
    return ahead(lambda id_range: _read(store, id_range=id_range), ranges, "shard-reader")


def full_pass(store: Store, cutoff: datetime, training: Training | None, say: Say) -> Computed:
    """Every player computed from their events, one player-id range at a time.

    The churn sample's events are kept from each shard and its training rows computed once at the
    end (per player, so the same rows as per shard, without running the catalog 21 more times)."""
    ranges = store.id_ranges(max(1, math.ceil(store.events_count() / SHARD_EVENTS)))
    aggregates, states, sample_events, sample_players = [], [], [], []
    pool = os.environ.get("PLAYER360_BUILD_MEMORY_LIMIT", SHARD_MEMORY_LIMIT)
    with store.build_session(pool):
        for k, (events, players) in enumerate(read_shards(store, ranges), 1):
            say(f"metrics: shard {k}/{len(ranges)}")
            aggregates.append(player_aggregates(events, cutoff, players).collect(engine="streaming").sort("player_id"))
            states.append(clv_state(events, cutoff))
            if training is not None:
                sample = training.sample.lazy()
                sample_events.append(_owned(events.join(sample, on="player_id", how="semi").collect()))
                sample_players.append(_owned(players.join(sample, on="player_id", how="semi").collect()))
            del events, players
    rows = None
    if training is not None:
        say(f"churn training rows: {training.sample.height:,} sampled players")
        rows = _training_rows(pl.concat(sample_events, how="vertical_relaxed").lazy(),
                              pl.concat(sample_players, how="vertical_relaxed").lazy(), training)
    return Computed(  # ranges come in id order: the sorted shards concatenate sorted, without a copy
        aggregates=_by_player(pl.concat(aggregates, how="vertical_relaxed", rechunk=False)),
        clv_state=_by_player(pl.concat(states, how="vertical_relaxed", rechunk=False)),
        training=rows, mode="full", recomputed=sum(a.height for a in aggregates), shards=len(ranges),
    )


def incremental_pass(store: Store, base: dict[str, Any], cutoff: datetime, training: Training | None,
                     say: Say) -> Computed | None:
    """The players changed since ``base`` computed anew, everyone else carried forward; None when a
    full pass is the better deal (or the base snapshot cannot be carried)."""
    base_cutoff = datetime.combine(base["as_of"] + timedelta(days=1), datetime.min.time())
    lo, hi = sorted((base_cutoff, cutoff))
    say("finding changed players")
    changed = store.changed_players(base, cutoff=cutoff, intervals=changed_intervals(base_cutoff, cutoff),
                                    enrolled=(lo, hi) if lo != hi else None)
    if changed.height > MAX_CHANGED_SHARE * max(base["players"] or 0, 1):
        say(f"{changed.height:,} players changed: full recomputation")
        return None
    try:
        previous = store.snapshot_columns("player_metrics", base["as_of"], aggregate_columns())
        previous_state = store.snapshot_columns("player_clv", base["as_of"], ["player_id", *STATE_COLUMNS])
    except KeyError as missing:  # written by older definitions: nothing to carry
        say(f"base snapshot not carried ({missing}): full recomputation")
        return None
    if previous.height != base["players"]:  # rows removed since by hand: not the snapshot the build wrote
        say(f"base snapshot has {previous.height:,} of its {base['players']:,} rows: full recomputation")
        return None
    say(f"metrics: {changed.height:,} changed players")
    events, players = _read(store, players=changed)
    fresh = player_aggregates(events, cutoff, players).collect(engine="streaming")
    state = clv_state(events, cutoff)
    rows = None
    if training is not None:
        say(f"churn training rows: {training.sample.height:,} sampled players")
        sample_events, sample_players = _read(store, players=training.sample)
        rows = _training_rows(sample_events, sample_players, training)
    return Computed(
        aggregates=carry_forward(previous, fresh, changed),
        clv_state=carry_forward(previous_state, state, changed),
        training=rows, mode="incremental", recomputed=changed.height, base_build_id=base["build_id"],
    )


def first_visit(store: Store, by: datetime | None = None) -> datetime | None:
    """The earliest visit or rated session in the store (the churn model's history check; with
    ``by``, any one at or before ``by`` will do: see ``Store.first_event_ts``)."""
    return store.first_event_ts(VISIT_EVENTS, by=by)
