"""One-player 360 reads on an existing store: p50 / p95 over random players, CPU per read, load.

Run: `python -m benchmarks.bench_read --db data/bench/build-work.duckdb` (the store `bench_build`
leaves behind: 1M players, 20.7M events, built). Each read is a real read of another random player
(no result is kept between reads), from a fresh read-only connection as the app (another process)
makes them. `--snapshots` reads the rows from the snapshot tables instead of the player cards
(the read path of a store without cards), for a comparison on the same store and data.
`--unfrozen` asks the newest as_of, hidden batches, aliases and card layout on every read, as a
connection that can see another's writes must, instead of once per read-only connection.
The first and last quarter of the reads are reported apart: a fresh connection's first reads load
the events row groups (blocks of every column) that the later reads find loaded.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

from pipelines.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=Path("data/bench/build-work.duckdb"))
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snapshots", action="store_true", help="read the snapshot tables, not the cards")
    parser.add_argument("--unfrozen", action="store_true",
                        help="ask the fixed lookups on every read, as a connection that can see writes does")
    args = parser.parse_args()
    with Store(args.db, read_only=True) as store:
        newest = store.sql("SELECT max(as_of) AS d FROM builds WHERE status = 'done'")["d"][0]
        ids = store.sql("SELECT player_id FROM player_metrics WHERE as_of = ?", [newest])["player_id"].to_list()
        sample = random.Random(args.seed).sample(ids, min(args.reads, len(ids)))
        if args.snapshots:
            store.card = lambda *_: None  # type: ignore[method-assign]
        if args.unfrozen:
            store.frozen = False
        load, times = os.getloadavg()[0], []
        cpu = time.process_time()
        for pid in sample:
            t = time.perf_counter()
            store.player_360(pid)
            times.append((time.perf_counter() - t) * 1000)
        cpu = (time.process_time() - cpu) * 1000 / len(sample)
        q = statistics.quantiles(times, n=100)
        path = "snapshot tables" if args.snapshots else "player cards"
        if args.unfrozen:
            path += ", lookups asked per read"
        print(f"one-player 360 read ({path}), {len(sample):,} random players of {len(ids):,}: "
              f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, max {max(times):.1f} ms, CPU {cpu:.1f} ms per read; "
              f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
        quarter = len(times) // 4
        if quarter >= 20:  # a fresh connection's first reads load row groups the later ones find loaded
            first, last = (statistics.quantiles(part, n=20) for part in (times[:quarter], times[-quarter:]))
            print(f"  first {quarter} reads p50 {first[9]:.1f} / p95 {first[18]:.1f} ms; "
                  f"last {quarter} p50 {last[9]:.1f} / p95 {last[18]:.1f} ms")


if __name__ == "__main__":
    main()
