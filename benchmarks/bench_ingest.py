"""Ingest speed and memory: our pipeline vs a hand-written DuckDB SQL load vs pandas, same files,
and `duckdb_floor`: the file copied into a DuckDB table as it is, the most any ingest can reach here.

Run: `python -m benchmarks.bench_ingest` (200,000 rating slips; `BENCH_SCALE=full` or `--rows
20000000` for the 20M-row run). Files are cached under data/bench/. Each measurement runs in its
own process, so its peak RSS is its own; ours starts from a cached store already holding the 1M
players, so the peak is the slips ingest's. CPU seconds (user + system, all threads) are printed
next to wall time: on a shared machine they move less than wall time does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.synth import write_players, write_slips

BENCH = Path("data/bench")
PLAYERS = 1_000_000
FULL = 20_000_000
SMALL = 200_000
PANDAS_MAX = 2_000_000  # pandas holds the file and its md5 strings in memory: beyond this it swaps or dies


def _peak_mb() -> float:
    """Peak RSS of this process (VmHWM: unlike ru_maxrss, not inherited from the parent at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _players_store() -> Path:
    """A store holding the 1M bench players (built once, copied for each run of ours)."""
    base = BENCH / "ingest-players-base.duckdb"
    if not base.exists():
        from pipelines.ingest import ingest_file
        from pipelines.store import Store

        tmp = base.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        with Store(tmp) as store:
            ingest_file(store, "players", BENCH / "players.parquet")
        tmp.rename(base)
    return base


def run_ours(path: Path, db: Path) -> dict:
    """Our ingest into a store holding the players, then the same file again (idempotent replay)."""
    from pipelines.ingest import ingest_file
    from pipelines.store import Store

    shutil.copy(_players_store(), db)
    with Store(db) as store:  # opening migrates an older cached copy: outside the timing
        t, cpu = time.perf_counter(), _cpu()
        first = ingest_file(store, "rating_slips", path)
        wall, cpu = time.perf_counter() - t, _cpu() - cpu
        peak = _peak_mb()
        t = time.perf_counter()
        again = ingest_file(store, "rating_slips", path)
        replay = time.perf_counter() - t
    assert first.events_added == first.rows_read and again.events_added == 0
    return {"wall": wall, "cpu": cpu, "replay": replay, "rows": first.rows_read, "peak_mb": peak,
            "replay_peak_mb": _peak_mb()}


def _reader(path: Path) -> str:
    """DuckDB's table function reading the file (CSV as text, as our ingest reads it)."""
    quoted = str(path).replace("'", "''")
    return f"read_parquet('{quoted}')" if path.suffix == ".parquet" else f"read_csv('{quoted}', all_varchar=true)"


def run_duckdb(path: Path, db: Path) -> dict:
    """Hand-written SQL: typed load with TRY_CAST validation, md5 keys and an anti-join insert."""
    import duckdb

    con = duckdb.connect(str(db), config={"memory_limit": os.environ.get("PLAYER360_MEMORY_LIMIT", "4GB")})
    con.execute("CREATE TABLE ev (event_id VARCHAR, player_id VARCHAR, property_id VARCHAR, ts TIMESTAMP, "
                "game VARCHAR, avg_bet DOUBLE, minutes DOUBLE, theo DOUBLE, source_ref VARCHAR)")
    con.execute("CREATE TABLE rejected (row_number BIGINT, reason VARCHAR)")
    con.execute("CREATE TABLE players AS SELECT player_id FROM read_parquet(?)", [str(BENCH / "players.parquet")])
    reader = _reader(path)
    sql = f"""
        CREATE OR REPLACE TEMP TABLE typed AS
        SELECT row_number() OVER () AS r, slip_id, player_id, property_id,
               TRY_CAST(start_time AS TIMESTAMP) AS ts, lower(game) AS game,
               TRY_CAST(avg_bet AS DOUBLE) AS avg_bet, TRY_CAST(minutes_played AS DOUBLE) AS minutes
        FROM {reader};
        INSERT INTO rejected SELECT r, 'bad row' FROM typed
        WHERE ts IS NULL OR avg_bet IS NULL OR avg_bet < 0 OR minutes IS NULL OR player_id IS NULL
           OR player_id NOT IN (SELECT player_id FROM players);
        INSERT INTO ev
        SELECT md5('rating_slips' || chr(31) || slip_id || chr(31) || concat_ws(chr(31), player_id,
                   property_id, ts, game, avg_bet, minutes)) AS id, player_id, property_id, ts, game,
               avg_bet, minutes, avg_bet * minutes / 60 * 70 * 0.02, 'row ' || r
        FROM typed t
        WHERE ts IS NOT NULL AND avg_bet >= 0 AND minutes IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM ev e WHERE e.event_id = md5('rating_slips' || chr(31) || t.slip_id
              || chr(31) || concat_ws(chr(31), player_id, property_id, ts, game, avg_bet, minutes)));
    """
    t, cpu = time.perf_counter(), _cpu()
    con.execute("BEGIN")
    for statement in sql.split(";"):
        if statement.strip():
            con.execute(statement)
    con.execute("COMMIT")
    wall, cpu = time.perf_counter() - t, _cpu() - cpu
    rows = con.sql("SELECT count(*) FROM ev").fetchall()[0][0]
    con.close()
    return {"wall": wall, "cpu": cpu, "rows": rows, "peak_mb": _peak_mb()}


def run_pandas(path: Path, db: Path) -> dict:
    """pandas: read, parse, validate, md5 keys with hashlib, dedup with a set; written to Parquet."""
    import hashlib

    import pandas as pd

    t, cpu = time.perf_counter(), _cpu()
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    frame["ts"] = pd.to_datetime(frame["start_time"], errors="coerce")
    frame["avg_bet"] = pd.to_numeric(frame["avg_bet"], errors="coerce")
    frame["minutes"] = pd.to_numeric(frame["minutes_played"], errors="coerce")
    known = set(pd.read_parquet(BENCH / "players.parquet")["player_id"])
    good = frame["ts"].notna() & (frame["avg_bet"] >= 0) & frame["minutes"].notna() & frame["player_id"].isin(known)
    frame = frame[good]
    content = frame[["slip_id", "player_id", "property_id", "ts", "game", "avg_bet", "minutes"]].astype(str).agg("\x1f".join, axis=1)
    frame["event_id"] = [hashlib.md5(("rating_slips\x1f" + c).encode()).hexdigest() for c in content]
    frame = frame.drop_duplicates("event_id")
    frame["theo"] = frame["avg_bet"] * frame["minutes"] / 60 * 70 * 0.02
    frame.to_parquet(db.with_suffix(".parquet"))
    return {"wall": time.perf_counter() - t, "cpu": _cpu() - cpu, "rows": len(frame), "peak_mb": _peak_mb()}


def run_floor(path: Path, db: Path) -> dict:
    """The ceiling of any ingest into DuckDB here: the file copied into a table as it is (no typing,
    validation, keys or dedup), then checkpointed. Nothing that stores events in DuckDB beats it."""
    import duckdb

    con = duckdb.connect(str(db))
    reader = _reader(path)
    t, cpu = time.perf_counter(), _cpu()
    con.execute(f"CREATE TABLE ev AS SELECT * FROM {reader}")
    con.execute("CHECKPOINT")
    wall, cpu = time.perf_counter() - t, _cpu() - cpu
    rows = con.sql("SELECT count(*) FROM ev").fetchall()[0][0]
    con.close()
    return {"wall": wall, "cpu": cpu, "rows": rows, "peak_mb": _peak_mb()}


RUNNERS = {"ours": run_ours, "duckdb_sql": run_duckdb, "duckdb_floor": run_floor, "pandas": run_pandas}


def one(kind: str, path: Path) -> None:
    """Run one measurement in this process and print it as JSON."""
    db = BENCH / f"ingest-{kind}-{path.suffix[1:]}.duckdb"
    for stale in (db, Path(f"{db}.wal"), db.with_suffix(".parquet")):
        stale.unlink(missing_ok=True)
    result = RUNNERS[kind](path, db)
    for done in (db, Path(f"{db}.wal"), db.with_suffix(".parquet")):  # 20M-row stores are large
        done.unlink(missing_ok=True)
    print(json.dumps(result))


def main() -> None:
    scale = FULL if os.environ.get("BENCH_SCALE") == "full" else SMALL
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=scale, help=f"rating slips per file (default {scale:,})")
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument("--skip", default="", help="comma-separated runners to skip (e.g. pandas)")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one[0], Path(args.one[1]))
        return
    BENCH.mkdir(parents=True, exist_ok=True)
    write_players(BENCH / "players.parquet", PLAYERS)
    subprocess.run([sys.executable, "-c", "from benchmarks.bench_ingest import _players_store; _players_store()"],
                   check=True)
    skip = set(filter(None, args.skip.split(",")))
    if args.rows > PANDAS_MAX and "pandas" not in skip:
        print(f"(pandas skipped above {PANDAS_MAX:,} rows: it holds the whole file and its keys in memory)")
        skip.add("pandas")
    for fmt in args.formats.split(","):
        path = write_slips(BENCH / f"slips-{args.rows}.{fmt}", args.rows, PLAYERS)
        results, load = {}, os.getloadavg()[0]
        for kind in RUNNERS:
            if kind in skip:
                continue
            out = subprocess.run([sys.executable, "-m", "benchmarks.bench_ingest", "--one", kind, str(path)],
                                 capture_output=True, text=True, check=True)
            results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        ours = results["ours"]
        print(f"\ningest {args.rows:,} rating slips from {fmt} "
              f"(machine load average {load:.1f} before, {os.getloadavg()[0]:.1f} after; 2 cores)")
        for kind, r in results.items():
            ratio = f"  ours/this = {ours['wall'] / r['wall']:.2f}x" if kind != "ours" else ""
            print(f"  {kind:11s} {r['wall']:7.2f} s  {args.rows / r['wall']:>10,.0f} rows/s  cpu {r['cpu']:7.1f} s "
                  f"({r['cpu'] * 1e6 / args.rows:4.1f} s per M rows)  peak RSS {r['peak_mb']:7,.0f} MB{ratio}")
        print(f"  ours replay (same file again, adds 0): {ours['replay']:.2f} s, "
              f"peak RSS {ours['replay_peak_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
