"""Wall time and peak memory of the rules engine (1M players x 20 rules) vs DuckDB SQL and pandas.

Run: ``.venv/bin/python -m benchmarks.bench_rewards`` (1M players) or ``--players 100000``.

A players frame (metrics, segments and reward features, the columns the engine reads) is synthesised
with numpy and written once to Parquet; 20 rules (4 conflict groups, segment and range conditions,
formulas over metrics, points / comp / free play / bonus with wagering, some with caps) are evaluated
by every contender in its own fresh process (its peak RSS is its own), after loading the frame:

* ``polars``  -- ``metrics.rewards.engine.evaluate`` (abuse policy, profit check, conflicts, caps);
* ``duckdb``  -- the same decisions as one hand-written SQL query (UNION ALL of per-rule SELECTs,
  window functions for conflicts and cumulative caps) over a native in-memory table;
* ``pandas``  -- the same with boolean masks per rule, concat, and grouped cumulative sums.

The three must agree on the number of rewards issued and their total value (checked). Ratios are
against DuckDB. Timings on a shared 2-core machine are noisy: compare the CPU times as well.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.rewards_baselines import RULES, pandas_issue, sql_issue

# Polars engine for the collect: the in-memory engine runs the order-dependent passes (running sums,
# forward fills) without the streaming engine's fallbacks; measured faster here.
ENGINE = os.environ.get("BENCH_POLARS_ENGINE", "in-memory")
SEGMENTS = ("NEW", "VIP", "WINNING", "BREAKEVEN", "LOSING")
LIFECYCLE = ("new", "active", "at_risk", "churned")
GAMES = ("blackjack", "baccarat", "roulette", "craps", "poker", "slots")


def synthesise(n: int, path: Path, seed: int = 7) -> Path:
    """A players frame of `n` players with every column the rules read."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    theo = rng.lognormal(4.0, 1.5, n)
    frame = pl.DataFrame({
        "player_id": pl.Series(np.char.add("PL", np.arange(n).astype(str))),
        "loyalty": np.array(SEGMENTS)[rng.integers(0, 5, n)], "lifecycle": np.array(LIFECYCLE)[rng.integers(0, 4, n)],
        "theo_90d": np.where(rng.random(n) < 0.3, 0.0, theo), "theo_total": theo * rng.uniform(3, 12, n),
        "tenure_days": rng.integers(10, 2000, n), "favourite_game": np.array(GAMES)[rng.integers(0, 6, n)],
        "rewards_issued": rng.poisson(3, n), "redemption_rate": np.where(rng.random(n) < 0.8, rng.random(n), np.nan),
        "win_loss_total": rng.normal(300, 2000, n), "sessions_total": rng.poisson(25, n),
        "visits_30d": rng.poisson(2, n), "cash_in_30d": rng.lognormal(5, 1.5, n), "recency_days": rng.integers(0, 400, n),
        "days_since_last_deposit": rng.integers(0, 200, n).astype(float), "reward_value_1d": rng.exponential(5, n),
        "reward_value_7d": rng.exponential(20, n), "reward_value_30d": rng.exponential(60, n),
        "bonus_only_play": rng.random(n) < 0.02, "cash_outs_after_bonus": rng.poisson(0.05, n),
        "wagering_bet_ratio": np.where(rng.random(n) < 0.1, rng.random(n) * 2, np.nan),
        "wagering_slips": rng.poisson(1, n), "shared_address_players": (rng.random(n) < 0.03).astype(np.int64),
        "shared_device_players": (rng.random(n) < 0.01).astype(np.int64),
    }).with_columns(pl.col("redemption_rate", "wagering_bet_ratio").fill_nan(None))
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


def run_engine(engine: str, data: Path) -> dict:
    """Load the frame, then time the evaluation of the 20 rules (in this process)."""
    if engine == "polars":
        from metrics.rewards.engine import Program, evaluate
        from metrics.rewards.safety import ProfitModel
        from pipelines.sources import GAME_RATES

        frame = pl.read_parquet(data)
        profit = ProfitModel(house_edges={g: e for g, (_, e) in GAME_RATES.items()})
        t0, c0 = time.perf_counter(), time.process_time()
        out = evaluate(frame, RULES, profit=profit, program=Program(day=200)).collect(engine=ENGINE)
        issued = out.filter(pl.col("status").is_in(["issued", "capped"]))
        result = (issued.height, float(issued["issued_value"].sum()), out.height)
    elif engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(f"CREATE TABLE players AS SELECT * FROM read_parquet('{data}')")
        t0, c0 = time.perf_counter(), time.process_time()
        result = sql_issue(con)
    else:
        import pandas as pd

        frame = pd.read_parquet(data)
        t0, c0 = time.perf_counter(), time.process_time()
        result = pandas_issue(frame)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"engine": engine, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "peak_mib": round(peak),
            "issued": result[0], "issued_value": round(result[1], 2), "decisions": result[2]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=1_000_000)
    parser.add_argument("--engines", default="polars,duckdb,pandas")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = args.data or Path("data/bench") / f"reward-players-{args.players}.parquet"
    if args.engine:
        print(json.dumps(run_engine(args.engine, data)))
        return 0
    t0 = time.perf_counter()
    synthesise(args.players, data)
    print(f"players frame: {args.players:,} players, {len(RULES)} rules ({data}, {time.perf_counter() - t0:.1f} s)")
    results = []
    for engine in args.engines.split(","):
        env = os.environ | {"POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "")}
        done = subprocess.run([sys.executable, "-m", "benchmarks.bench_rewards", "--engine", engine, "--data",
                               str(data)], capture_output=True, text=True, env={k: v for k, v in env.items() if v})
        if done.returncode:
            print(f"{engine}: failed\n{done.stderr[-2000:]}")
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = next((r for r in results if r["engine"] == "duckdb"), results[0] if results else None)
    for r in results:
        ratio = r["seconds"] / base["seconds"] if base and base["seconds"] else float("nan")
        print(f"{r['engine']:>7}: {r['seconds']:7.2f} s wall, {r['cpu_seconds']:7.2f} s CPU, peak {r['peak_mib']:>6,} MiB, "
              f"{ratio:4.2f}x duckdb; {r['decisions']:,} decisions, {r['issued']:,} rewards, value {r['issued_value']:,.2f}")
    agree = len({(r["issued"], round(r["issued_value"], 0)) for r in results}) == 1
    print("results agree" if agree else "RESULTS DIFFER")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
