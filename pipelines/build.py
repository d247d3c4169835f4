"""The derived build: events -> player metrics (with deltas), segments and churn, insights, CLV.

I/O sits at the edges (``pipelines.build_compute`` reads events shard by shard or for the changed
players only; this module writes the snapshots); every stage in between is a pure function from
``pipelines.derived`` and ``metrics``.

A build of an as_of is *incremental* when an earlier build computed with the same metric
definitions exists: only players whose events (or windows over them) changed since are recomputed,
everyone else's aggregates are carried forward, and the cheap as_of-dependent columns (recency,
tenure, health, deltas, segments, insights, scores) are recomputed for everyone. The result equals
a full build on the same events. ``full=True`` forces a full pass.
"""

from __future__ import annotations

import os
import time as clock
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

import polars as pl

import metrics.churn  # noqa: F401  (registers the churn kind for loading saved versions)
import metrics.insights  # noqa: F401  (registers the insights kind)
from metrics.churn import ChurnRisk
from metrics.incremental import fingerprint
from metrics.insights import InsightRules, insights
from metrics.segments import QuantileSummary, Scheme, Versioned, default_schemes, merge_summaries, quantile_summary, segment_all
from pipelines.build_compute import full_pass, incremental_pass
from pipelines.build_models import churn_scores, clv_scores, plan_training, train_churn, usable_fit
from pipelines.derived.deltas import player_deltas
from pipelines.derived.metrics import finish_metrics
from pipelines.errors import UserError
from pipelines.store import Store
from pipelines.store_layout import SORT_TAIL_ROWS

Progress = Callable[[str], None]
# DuckDB's buffer pool while a build reads (PLAYER360_BUILD_MEMORY_LIMIT overrides): the build
# streams events shard by shard, so a larger pool would only cache pages it never reads again
# (1M players, 20M events: peak RSS of the metrics 2.5 GB with 1GB and 2.5M-event shards, 1.6 GB
# with 256MB and 1M-event shards, same CPU time). The shard scans themselves run with a smaller one
# still (``build_compute.SHARD_MEMORY_LIMIT``).
BUILD_MEMORY_LIMIT = "256MB"


@dataclass
class BuildResult:
    """What a build did."""

    as_of: date
    status: str  # built | current (nothing new since the last build of this as_of)
    players: int = 0
    insights: int = 0
    seconds: float = 0.0
    build_id: str = ""
    mode: str = ""  # full | incremental
    recomputed: int = 0  # players computed from their events (the rest carried forward)

    def to_dict(self) -> dict:
        """Plain dict for JSON output."""
        return asdict(self) | {"as_of": self.as_of.isoformat()}


def configured(store: Store) -> tuple[list[Scheme], InsightRules]:
    """The schemes and insight rules the build uses: newest saved versions, else defaults."""
    saved = {name: Versioned.from_toml(text) for name, text in store.latest_schemes().items()}
    schemes: list[Scheme] = [saved.get(s.name, s) for s in [*default_schemes(), ChurnRisk()]]
    rules = saved.get("insights")
    return schemes, rules if isinstance(rules, InsightRules) else InsightRules()


def summaries(parts: list[pl.DataFrame], schemes: list[Scheme]) -> dict[str, QuantileSummary]:
    """The quantile summaries the schemes need, per part and merged (exact: histogram counts add)."""
    columns = sorted({c for s in schemes for c in s.quantile_columns()})
    return {c: merge_summaries(quantile_summary(p, c) for p in parts) for c in columns}


def derive(aggregates: pl.DataFrame, as_of: date, schemes: list[Scheme], rules: InsightRules,
           parts: int = 1) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(metrics with deltas, segments, insights) of every player from their aggregates as of the end
    of ``as_of``. Per player except the segment quantiles, merged from ``parts`` row slices' summaries."""
    cutoff = datetime.combine(as_of + timedelta(days=1), time())  # the whole as_of day counts
    base = finish_metrics(aggregates.lazy(), cutoff)
    deltas = player_deltas(base).drop("as_of", strict=False)
    # contiguous (one chunk per column, where a join leaves them unevenly chunked) before anything
    # else holds memory: DuckDB scans such a frame on one thread (see Store.write_snapshot)
    wide = (base.join(deltas, on="player_id", how="left", maintain_order="left")  # sorted by player: see write
            .with_columns(pl.lit(as_of).alias("as_of")).collect().rechunk())
    step = max(1, -(-wide.height // parts))
    slices = [wide.slice(k, step) for k in range(0, max(wide.height, 1), step)]
    merged = summaries(slices, schemes)
    segments = pl.concat([segment_all(s, schemes, merged) for s in slices], how="vertical_relaxed").rechunk()
    found = insights(wide.lazy(), rules).collect()
    return wide, segments, found


def build(store: Store, as_of: date | None = None, *, actor: str, role: str = "etl", force: bool = False,
          full: bool = False, refit: bool | None = None, progress: Progress | None = None) -> BuildResult:
    """Compute and keep the snapshot of ``as_of`` (default: the day of the newest event); a no-op when
    a build of that day already saw every event, merge and batch (unless ``force``).

    ``full``: recompute every player from their events instead of carrying unchanged players
    forward. ``refit``: see :mod:`pipelines.build_models` (None: refit stale models only).
    """
    say = progress or (lambda _stage: None)
    started, t0 = datetime.now().replace(microsecond=0), clock.perf_counter()
    horizon = store.batch_horizon()  # before the watermark: a batch committing in between is seen as new
    max_seq, newest = store.watermark()
    if newest is None:
        raise UserError(f"{store.path}: no events yet; ingest something first")
    as_of = as_of or newest.date()
    version, merge_seq = fingerprint(), store.merge_watermark()
    if not force and store.build_saw_everything(as_of, max_seq=max_seq, merge_seq=merge_seq,
                                                batches=horizon["batches_seen"],
                                                catalog_version=version):
        return BuildResult(as_of, "current")
    build_id = f"D{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
    cutoff = datetime.combine(as_of + timedelta(days=1), time())
    with store.build_session(os.environ.get("PLAYER360_BUILD_MEMORY_LIMIT", BUILD_MEMORY_LIMIT)):  # reads
        schemes, rules = configured(store)
        clv_fit = usable_fit(store, "clv", version, as_of, refit)
        churn_fit = usable_fit(store, "churn", version, as_of, refit)
        training = None if churn_fit else plan_training(store, cutoff, say)
        base = None if full else store.carry_base(as_of, version)
        computed = incremental_pass(store, base, cutoff, training, say) if base else None
        computed = computed or full_pass(store, cutoff, training, say)
        fitting = [name for name, fit in (("CLV", clv_fit), ("churn model", churn_fit)) if not fit]
        say("deltas, segments, churn risk, insights; CLV scores"
            + (f"; fitting {' and '.join(fitting)} alongside" if fitting else ""))
        # The CLV scores and the churn training read neither the aggregates nor what derive makes, so
        # each runs on a thread of its own meanwhile (Polars, scipy and scikit-learn release the GIL
        # in their loops): 0.5-0.8 s less at 1M players, where each alone leaves part of the two
        # cores idle. (The churn training's one-thread BLAS limit is process-wide; the CLV fit's
        # arrays are elementwise numpy and 4-parameter L-BFGS, which that limit does not change.)
        skipped: list[str] = []  # the progress display belongs to this thread
        with ThreadPoolExecutor(2, thread_name_prefix="build-models") as pool:
            clv_job = pool.submit(clv_scores, computed.clv_state, cutoff, clv_fit)
            churn_job = pool.submit(lambda: churn_fit["params"] if churn_fit
                                    else train_churn(computed.training, skipped.append))
            wide, segments, found = derive(computed.aggregates, as_of, schemes, rules, computed.shards)
            computed.aggregates = pl.DataFrame()  # wide holds every column now: 0.8 GB less at 1M players
            (clv, clv_params), churn_params = clv_job.result(), churn_job.result()
        for message in skipped:
            say(message)
        say("churn scores")
        churn = churn_scores(wide, cutoff, churn_params)
    stamp = [pl.lit(started).alias("computed_at"), pl.lit(newest).alias("source_newest_ts"),
             pl.lit(as_of).alias("as_of")]
    say("writing snapshots")
    with store.build_session():  # writes: DuckDB's usual pool (compressing 1M-row snapshots needs it)
        with store.transaction():
            carded = {"player_metrics": wide.with_columns(stamp), "player_segments": segments.with_columns(stamp)}
            for table, frame in carded.items():
                store.write_snapshot(table, frame, as_of)
            say("packing player cards")
            if not store.write_cards(carded, as_of, build_id):  # one-player reads: see pipelines.cards
                say("player cards kept or dropped: a newer day's cards stay; rows they cannot pack leave none")
            del carded
            say("writing insights, CLV and churn snapshots")
            store.write_snapshot("player_insights", found.with_columns(stamp), as_of)
            store.write_snapshot("player_clv", clv.with_columns(stamp), as_of)
            if churn is not None:
                store.write_snapshot("player_churn_model", churn.with_columns(stamp), as_of)
            else:
                store.clear_snapshot("player_churn_model", as_of)
            # a fit the data could not support is not kept: the next build tries again
            fits = {"clv": None if clv_fit or clv_params.issues else clv_params.columns(),
                    "churn": None if churn_fit else churn_params}
            for kind, params in fits.items():
                if params is not None:
                    store.save_fit(fit_id=f"{build_id}-{kind}", kind=kind, as_of=as_of, build_id=build_id,
                                   catalog_version=version, params=params, actor=actor, role=role)
            seconds = round(clock.perf_counter() - t0, 3)
            store.log_build({
                "build_id": build_id, "as_of": as_of, "status": "done", "max_seq": max_seq,
                "newest_event_ts": newest, "players": wide.height, "insights": found.height,
                "seconds": seconds, "actor": actor, "role": role, "started_at": started,
                "finished_at": datetime.now().replace(microsecond=0), "merge_seq": merge_seq,
                "catalog_version": version, "mode": computed.mode, "base_build_id": computed.base_build_id,
                "recomputed": computed.recomputed, **horizon,
            })
            say("committing")
    say("event summary")
    store.refresh_event_stats()  # the app's data clock now summarises every event this build saw
    # after the commit (the snapshots are visible meanwhile): keep one-player reads on a few row groups
    tail = store.unsorted_events()
    if tail >= SORT_TAIL_ROWS:
        say(f"sorting events by player ({tail:,} appended since the last sort)")
        store.keep_sorted()
    if store.keep_properties_sorted():
        say("sorted player_properties by player")
    return BuildResult(as_of, "built", wide.height, found.height, seconds, build_id, computed.mode, computed.recomputed)
