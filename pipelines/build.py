"""The derived build: events -> player metrics (with deltas), segments and churn, insights.

I/O sits here at the edge (read events from the store, write snapshots back); every stage in
between is a pure LazyFrame function from `pipelines.derived` and `metrics`.
"""

from __future__ import annotations

import time as clock
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

import polars as pl

import metrics.churn  # noqa: F401  (registers the churn kind for loading saved versions)
import metrics.insights  # noqa: F401  (registers the insights kind)
from metrics.churn import ChurnRisk
from metrics.churn_model import NotEnoughData
from metrics.insights import InsightRules, insights
from metrics.segments import Scheme, Versioned, default_schemes, segment_all
from pipelines.derived.churn_training import score_churn
from pipelines.derived.clv import player_clv
from pipelines.derived.deltas import player_deltas
from pipelines.derived.metrics import EVENT_INPUTS, player_metrics
from pipelines.errors import UserError
from pipelines.store import Store

Progress = Callable[[str], None]
CHURN_HORIZON_DAYS = 60  # churn = no visit in the next 60 days (the model's label)


@dataclass
class BuildResult:
    """What a build did."""

    as_of: date
    status: str  # built | current (nothing new since the last build of this as_of)
    players: int = 0
    insights: int = 0
    seconds: float = 0.0
    build_id: str = ""

    def to_dict(self) -> dict:
        """Plain dict for JSON output."""
        return asdict(self) | {"as_of": self.as_of.isoformat()}


def configured(store: Store) -> tuple[list[Scheme], InsightRules]:
    """The schemes and insight rules the build uses: newest saved versions, else defaults."""
    saved = {name: Versioned.from_toml(text) for name, text in store.latest_schemes().items()}
    schemes: list[Scheme] = [saved.get(s.name, s) for s in [*default_schemes(), ChurnRisk()]]
    rules = saved.get("insights")
    return schemes, rules if isinstance(rules, InsightRules) else InsightRules()


def derive(events: pl.LazyFrame, players: pl.LazyFrame | None, as_of: date, schemes: list[Scheme],
           rules: InsightRules) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(metrics with deltas, segments, insights) of every player as of the end of `as_of`."""
    cutoff = datetime.combine(as_of + timedelta(days=1), time())  # the whole as_of day counts
    base = player_metrics(events, cutoff, players).collect()
    deltas = player_deltas(base.lazy()).drop("as_of", strict=False)
    wide = base.lazy().join(deltas, on="player_id", how="left").with_columns(pl.lit(as_of).alias("as_of")).collect()
    segments = segment_all(wide, schemes)
    found = insights(wide, rules)
    return wide, segments, found.collect() if isinstance(found, pl.LazyFrame) else found


def build(store: Store, as_of: date | None = None, *, actor: str, role: str = "etl", force: bool = False,
          progress: Progress | None = None) -> BuildResult:
    """Compute and keep the snapshot of `as_of` (default: the day of the newest event); a no-op
    when a build of that day already saw every event."""
    say = progress or (lambda _stage: None)
    max_seq, newest = store.watermark()
    if newest is None:
        raise UserError(f"{store.path}: no events yet; ingest something first")
    as_of = as_of or newest.date()
    if not force and store.build_is_current(as_of, max_seq):
        return BuildResult(as_of, "current")
    started, t0 = datetime.now().replace(microsecond=0), clock.perf_counter()
    say("reading events")
    events, players = store.events_frame(list(EVENT_INPUTS)), store.players_frame()
    schemes, rules = configured(store)
    say("metrics, deltas, segments, churn, insights")
    wide, segments, found = derive(events, players, as_of, schemes, rules)
    say("CLV (BG/NBD + Gamma-Gamma), churn model")
    cutoff = datetime.combine(as_of + timedelta(days=1), time())
    clv = player_clv(events, cutoff).with_columns(pl.lit(as_of).alias("as_of"))  # thin data: null scores + reason
    try:
        churn, _model = score_churn(events, players, cutoff, CHURN_HORIZON_DAYS)
        churn = churn.with_columns(pl.lit(as_of).alias("as_of"))
    except NotEnoughData as exc:  # too little history or too few churners/stayers: no model today
        say(f"churn model skipped: {exc}")
        churn = None
    stamp = [pl.lit(started).alias("computed_at"), pl.lit(newest).alias("source_newest_ts")]
    build_id = f"D{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
    say("writing snapshots")
    with store.transaction():
        store.write_snapshot("player_metrics", wide.with_columns(stamp), as_of)
        store.write_snapshot("player_segments", segments.with_columns(stamp), as_of)
        store.write_snapshot("player_insights", found.with_columns(stamp), as_of)
        store.write_snapshot("player_clv", clv.with_columns(stamp), as_of)
        if churn is not None:
            store.write_snapshot("player_churn_model", churn.with_columns(stamp), as_of)
        seconds = round(clock.perf_counter() - t0, 3)
        store.log_build({
            "build_id": build_id, "as_of": as_of, "status": "done", "max_seq": max_seq,
            "newest_event_ts": newest, "players": wide.height, "insights": found.height,
            "seconds": seconds, "actor": actor, "role": role, "started_at": started,
            "finished_at": datetime.now().replace(microsecond=0),
        })
    return BuildResult(as_of, "built", wide.height, found.height, seconds, build_id)
