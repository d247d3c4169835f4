"""The derived build at scale: full build, one-day incremental, re-segmentation, one-player reads.

Run: `python -m benchmarks.bench_build --players 1000000 --days 340` (1M players and about 20.7M
events with the demo generator's mix; files and store are cached under data/bench/). Wall times
and peak memory are measured here, never asserted in tests. Each build step prints the build's
own stage log (mode, players recomputed) with the wall and CPU time of each stage, and the peak
resident memory of each timed step (the process's high-water mark is reset before it, so a step's
peak is its own, not the store upgrade's or an earlier step's).

The cached store is brought up to date before anything is timed: opening it applies the migrations
written since it was ingested, and the upkeep an up-to-date store would already have had (event
summary, sorted player links, the record of the sorted events) runs once; both are printed apart.
The cached store itself is upgraded so (once per new migration), then copied, and the copy's own
upgrade finds nothing left to do. The full build is then the build of a store that is current in
schema and layout.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import shutil
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from metrics.segments import SpendingTiers, default_schemes, segment_all
from pipelines import schema as S
from pipelines.access import Access, Principal
from pipelines.build import BuildResult, build
from pipelines.cli import DEMO_ORDER
from pipelines.generate import generate
from pipelines.ingest import ingest_file
from pipelines.store import Store

END = datetime(2026, 11, 20, 20)


def _peak_mb() -> float:
    """The process's peak resident memory since it started."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hwm_mb() -> float:
    """The resident high-water mark since the last `_reset_hwm` (Linux; else the process's peak)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return _peak_mb()


def _reset_hwm() -> None:
    """Start a new high-water mark at the current resident size (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


_last: list = [time.perf_counter(), time.process_time(), "before the first stage"]  # since when, in which stage
_peaks: list[float] = []  # each timed step's own peak


def _stage(text: str) -> None:
    """Print the stage the build just left, with the wall and CPU time it took (where a build spends
    its time), and start timing the stage ``text``."""
    now, cpu = time.perf_counter(), time.process_time()
    print(f"    . {_last[2]:50s} {now - _last[0]:6.2f} s, CPU {cpu - _last[1]:6.2f} s  (peak so far {_hwm_mb():,.0f} MB)",
          flush=True)
    _last[:] = [now, cpu, text]


def _timed(label: str, fn):
    _reset_hwm()
    t, cpu = time.perf_counter(), time.process_time()
    _last[:] = [t, cpu, "before the first stage"]
    value = fn()
    peak = _hwm_mb()
    _peaks.append(peak)
    print(f"  {label:44s} {time.perf_counter() - t:8.2f} s, CPU {time.process_time() - cpu:6.1f} s   "
          f"(peak {peak:7,.0f} MB, load average {os.getloadavg()[0]:.1f})", flush=True)
    return value


def _ended(result: BuildResult) -> BuildResult:
    """Print the build's last stage (the event summary and layout upkeep after the commit)."""
    _stage("(returned)")
    return result


def upgrade(path: str) -> None:
    """Open a copy of the cached store (applying the migrations written since it was made) and give it
    the layout upkeep an up-to-date store has had (event summary, sorted player links, the record of
    the sorted events)."""
    store = _timed("open the cached store (applies new migrations)", lambda: Store(path))
    with store:
        def upkeep() -> None:
            store.refresh_event_stats()
            store.keep_properties_sorted()
            store.unsorted_events()  # records the sorted prefix of events when the store never did
        _timed("upkeep the cached store lacks (event summary, sorted links)", upkeep)


def refresh_cache(db: Path) -> None:
    """Bring the cached store itself up to date once (on a copy, swapped in when done), so that each
    run's copy has no migrations left to apply: at 1M players they took 41-44 s of every run."""
    with Store(db, read_only=True) as store:
        current = store.schema_version() == max(v for v, _, _ in S.MIGRATIONS_LIST)
    if current:
        return
    tmp = db.with_suffix(".upgrading.duckdb")
    try:
        shutil.copyfile(db, tmp)
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(upgrade, (str(tmp),))
        tmp.replace(db)
    finally:  # a failed upgrade leaves the cache as it was, and no half-upgraded copy of it
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)


def prepare(players: int, root: Path, days: int = 730) -> Path:
    """Generate and ingest the data set once (cached), compacted for player reads."""
    db = root / f"build-{players}-{days}d.duckdb"
    if db.exists():
        return db
    files = _timed("generate raw files", lambda: generate(root / f"raw-{players}-{days}d", players=players,
                                                          days=days, seed=11, end=END, fmt="parquet"))
    tmp = db.with_suffix(".tmp.duckdb")
    with Store(tmp) as store:
        for source in DEMO_ORDER:
            result = _timed(f"ingest {source}", lambda s=source: ingest_file(store, s, files[s]))
            print(f"    {result.rows_read:,} rows, {result.rows_read / max(result.seconds, 1e-9):,.0f} rows/s")
        _timed("compact events by player", store.compact_events)
    tmp.rename(db)
    return db


def one_more_day(store: Store, root: Path, day: datetime = END + timedelta(days=1)) -> None:
    """Ingest visits of 1% of players on the day after END (the daily incremental case)."""
    ids = store.sql("SELECT player_id FROM players ORDER BY player_id")["player_id"].gather_every(100)
    frame = pl.DataFrame({
        "visit_id": [f"VX{i}" for i in range(ids.len())], "player_id": ids,
        "property_id": "P01", "check_in": day, "check_out": day + timedelta(hours=3),
    })
    path = root / "one-more-day.parquet"
    frame.write_parquet(path)
    ingest_file(store, "visits", path, now=day + timedelta(hours=4))


def _read_times(read, ids: list[str]) -> str:
    """p50 / p95 of one read per id, in ms."""
    times = []
    for pid in ids:
        t = time.perf_counter()
        read(pid)
        times.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(times, n=100)
    return f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--players", type=int, default=560_000)
    parser.add_argument("--days", type=int, default=730, help="days of history (340 days: ~20 events per player)")
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--prepare-only", action="store_true", help="generate and ingest the data set, then stop")
    args = parser.parse_args()
    root = Path("data/bench")
    root.mkdir(parents=True, exist_ok=True)
    print(f"derived build benchmark, {args.players:,} players")
    db = prepare(args.players, root, args.days)
    if args.prepare_only:
        return
    refresh_cache(db)
    work = root / "build-work.duckdb"
    work.unlink(missing_ok=True)
    shutil.copyfile(db, work)  # not read_bytes: that would count the whole file in this process's peak
    # in a child process: the migration's memory (4 GB at 20M events) stays out of this one's
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(upgrade, (str(work),))
    with Store(work) as store:
        events = store.sql("SELECT count(*) AS n FROM events")["n"][0]
        print(f"  {events:,} events")
        full = _timed("full build (fits the models)", lambda: _ended(build(
            store, actor="bench", force=True, full=True, refit=True, progress=_stage)))
        _timed("ingest one more day (visits of 1% of players)", lambda: one_more_day(store, root))
        step = _timed("incremental build of the next day", lambda: _ended(build(store, actor="bench", progress=_stage)))
        print(f"    {step.mode}: {step.recomputed:,} of {step.players:,} players recomputed")
        metrics = store.snapshot("player_metrics")
        schemes = default_schemes()
        _timed("segment all players (defaults)", lambda: segment_all(metrics, schemes))
        tuned = [s if s.kind != "spending" else SpendingTiers(vip_above=5_000.0) for s in schemes]
        _timed("re-segment after a threshold change", lambda: segment_all(metrics, tuned))
        ids = metrics["player_id"].to_list()
        sample = random.Random(1).sample(ids, min(args.reads, len(ids)))
    # reads from a fresh connection, as the app (another process) makes them: not through the
    # build's buffer pool and heap
    with Store(work, read_only=True) as store:
        print(f"  one-player 360 read (metrics + segments + 200 events), Store: {_read_times(store.player_360, sample)}")
        # the app's path: a property-scoped user (a host at P01) through the access layer
        acc = Access(store, Principal("bench", "host", ("P01",)))
        at_p01 = store.sql("SELECT DISTINCT player_id FROM player_properties WHERE property_id = 'P01' "
                           "ORDER BY player_id")["player_id"].to_list()
        scoped = random.Random(2).sample(at_p01, min(args.reads, len(at_p01)))
        print(f"  the app's read through the access layer (Access.player, host scoped to P01): "
              f"{_read_times(lambda p: acc.player(p), scoped)}")
    print(f"  full build: {full.players:,} players, {full.insights:,} insights, {full.seconds:.1f} s")
    print(f"peak memory of the timed steps {max(_peaks, default=0):,.0f} MB (the store's upgrade ran in a child process)")


if __name__ == "__main__":
    main()
