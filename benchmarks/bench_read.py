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
`--parts` also prints the CPU per read of its parts: the card lookup, the events read (query, rows,
frame) and the rest. `--block-size 16384` reads a copy of the store made with that block size
(`pipelines.store.copy_with_block_size`, written once under `--copy-dir`; the given store is only
read): DuckDB loads whole blocks (256 KiB by default), one per column a first read of a row group
touches. `--as host:P01` reads as the app does, through the access layer (`Access.player`: the
player's links, profile, card, insights and every version of its events, as a host scoped to P01
may see them; `--as admin` sees every property), instead of `Store.player_360`, of random players
the principal may see, with the lookups asked per read as on the app's connection (which can write).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

from pipelines.access import Access, Principal
from pipelines.store import Store, copy_with_block_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=Path("data/bench/build-work.duckdb"))
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snapshots", action="store_true", help="read the snapshot tables, not the cards")
    parser.add_argument("--unfrozen", action="store_true",
                        help="ask the fixed lookups on every read, as a connection that can see writes does")
    parser.add_argument("--parts", action="store_true", help="CPU per read of the card, the events and the rest")
    parser.add_argument("--block-size", type=int, help="read a copy of the store with blocks of this many bytes")
    parser.add_argument("--as", dest="principal", metavar="ROLE[:PROPERTY,...]",
                        help="read as the app does for this role and scope (e.g. host:P01; admin: every property)")
    parser.add_argument("--copy-dir", type=Path, default=Path("data/bench"), help="where --block-size keeps its copy")
    args = parser.parse_args()
    if args.parts and args.principal:
        parser.error("--parts splits Store.player_360's read; it cannot be combined with --as")
    db = args.db
    if args.block_size:
        db = args.copy_dir / f"{args.db.stem}-{args.block_size // 1024}k.duckdb"
        if not db.exists():
            args.copy_dir.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            copy_with_block_size(args.db, db, block_size=args.block_size)
            print(f"copied {args.db} to {db} ({args.block_size:,}-byte blocks) in {time.perf_counter() - t:.0f} s")
    with Store(db, read_only=True) as store:
        newest = store.sql("SELECT max(as_of) AS d FROM builds WHERE status = 'done'")["d"][0]
        ids = store.sql("SELECT player_id FROM player_metrics WHERE as_of = ?", [newest])["player_id"].to_list()
        acc = None
        if args.principal:
            role, _, props = args.principal.partition(":")
            acc = Access(store, Principal("bench", role, tuple(props.split(",")) if props else None))
            # players the principal may see: another player's read ends at the scope check
            visible = set(acc.sql("SELECT player_id FROM s_players()")["player_id"].to_list())
            ids = [pid for pid in ids if pid in visible]
        sample = random.Random(args.seed).sample(ids, min(args.reads, len(ids)))
        if args.snapshots:
            store.card = lambda *_: None  # type: ignore[method-assign]
        per_read = args.unfrozen or acc is not None  # the app's connection can write: it asks them per read
        if per_read:
            store.frozen = False
        read, path = store.player_360, "player cards"
        if acc is not None:
            read, path = acc.player, f"the app's read as {args.principal}, access layer"
        parts = _timed_parts(store) if args.parts else None
        load, times = os.getloadavg()[0], []
        cpu = time.process_time()
        for pid in sample:
            t = time.perf_counter()
            read(pid)
            times.append((time.perf_counter() - t) * 1000)
        cpu = (time.process_time() - cpu) * 1000 / len(sample)
        q = statistics.quantiles(times, n=100)
        path = "snapshot tables" if args.snapshots else path
        if args.block_size:
            path += f", {args.block_size:,}-byte blocks"
        if per_read:
            path += ", lookups asked per read"
        print(f"one-player 360 read ({path}), {len(sample):,} random players of {len(ids):,}: "
              f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, max {max(times):.1f} ms, CPU {cpu:.1f} ms per read; "
              f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
        quarter = len(times) // 4
        if quarter >= 20:  # a fresh connection's first reads load row groups the later ones find loaded
            first, last = (statistics.quantiles(part, n=20) for part in (times[:quarter], times[-quarter:]))
            print(f"  first {quarter} reads p50 {first[9]:.1f} / p95 {first[18]:.1f} ms; "
                  f"last {quarter} p50 {last[9]:.1f} / p95 {last[18]:.1f} ms")
        if parts is not None:
            card, events = (parts[k] * 1000 / len(sample) for k in ("card", "_newest_events"))
            print(f"  CPU per read: card {card:.2f} ms, events {events:.2f} ms, the rest {cpu - card - events:.2f} ms")


def _timed_parts(store: Store) -> dict[str, float]:
    """Wrap the store's card lookup and events read so that their CPU time adds up (per process:
    DuckDB's worker threads included) in the returned dict, filled as the reads run."""
    spent = {"card": 0.0, "_newest_events": 0.0}
    for name in spent:
        inner = getattr(store, name)

        def timed(*args, _inner=inner, _name=name):
            t = time.process_time()
            try:
                return _inner(*args)
            finally:
                spent[_name] += time.process_time() - t
        setattr(store, name, timed)
    return spent


if __name__ == "__main__":
    main()
