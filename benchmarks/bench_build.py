"""The derived build at scale: full build, one-day incremental, re-segmentation, one-player reads.

Run: `python -m benchmarks.bench_build --players 560000` (about 20M events with the demo
generator's mix; files and store are cached under data/bench/). Wall times and peak memory are
measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from metrics.segments import SpendingTiers, default_schemes, segment_all
from pipelines.build import build
from pipelines.cli import DEMO_ORDER
from pipelines.generate import generate
from pipelines.ingest import ingest_file
from pipelines.store import Store

END = datetime(2026, 11, 20, 20)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(label: str, fn):
    t = time.perf_counter()
    value = fn()
    print(f"  {label:44s} {time.perf_counter() - t:8.2f} s   (process peak so far {_peak_mb():7.0f} MB)")
    return value


def prepare(players: int, root: Path) -> Path:
    """Generate and ingest the data set once (cached), compacted for player reads."""
    db = root / f"build-{players}.duckdb"
    if db.exists():
        return db
    files = _timed("generate raw files", lambda: generate(root / f"raw-{players}", players=players, days=730,
                                                          seed=11, end=END, fmt="parquet"))
    tmp = db.with_suffix(".tmp.duckdb")
    with Store(tmp) as store:
        for source in DEMO_ORDER:
            result = _timed(f"ingest {source}", lambda s=source: ingest_file(store, s, files[s]))
            print(f"    {result.rows_read:,} rows, {result.rows_read / max(result.seconds, 1e-9):,.0f} rows/s")
        _timed("compact events by player", store.compact_events)
    tmp.rename(db)
    return db


def one_more_day(store: Store, root: Path) -> None:
    """Ingest a day of visits after END for 1% of players (the incremental case)."""
    ids = store.sql("SELECT player_id FROM players ORDER BY player_id")["player_id"].gather_every(100)
    day = END + timedelta(hours=2)
    frame = pl.DataFrame({
        "visit_id": [f"VX{i}" for i in range(ids.len())], "player_id": ids,
        "property_id": "P01", "check_in": day, "check_out": day + timedelta(hours=3),
    })
    path = root / "one-more-day.parquet"
    frame.write_parquet(path)
    ingest_file(store, "visits", path, now=day + timedelta(hours=4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--players", type=int, default=560_000)
    parser.add_argument("--reads", type=int, default=1000)
    args = parser.parse_args()
    root = Path("data/bench")
    root.mkdir(parents=True, exist_ok=True)
    print(f"derived build benchmark, {args.players:,} players")
    db = prepare(args.players, root)
    work = root / "build-work.duckdb"
    work.unlink(missing_ok=True)
    work.write_bytes(db.read_bytes())
    with Store(work) as store:
        events = store.sql("SELECT count(*) AS n FROM events")["n"][0]
        print(f"  {events:,} events")
        full = _timed("full build", lambda: build(store, actor="bench", force=True))
        one_more_day(store, root)
        _timed("build after one more day (full recompute today)", lambda: build(store, actor="bench"))
        metrics = store.snapshot("player_metrics")
        schemes = default_schemes()
        _timed("segment all players (defaults)", lambda: segment_all(metrics, schemes))
        tuned = [s if s.kind != "spending" else SpendingTiers(vip_above=5_000.0) for s in schemes]
        _timed("re-segment after a threshold change", lambda: segment_all(metrics, tuned))
        ids = metrics["player_id"].to_list()
        sample = random.Random(1).sample(ids, min(args.reads, len(ids)))
        times = []
        for pid in sample:
            t = time.perf_counter()
            store.player_360(pid)
            times.append((time.perf_counter() - t) * 1000)
        q = statistics.quantiles(times, n=100)
        print(f"  one-player 360 read (metrics + segments + 200 events): p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms")
        print(f"  full build: {full.players:,} players, {full.insights:,} insights, {full.seconds:.1f} s")
    print(f"peak memory {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
