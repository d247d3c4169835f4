"""`make bench`: every benchmark of the project in one run (long: generates and caches data/bench/).

Each part prints its own wall times, peak memory and ratios against its baselines:
- ingest: our pipeline vs hand-written DuckDB SQL vs pandas, from Parquet and CSV;
- metrics: the per-player metric set in Polars vs DuckDB SQL vs pandas, 20M events / 1M players;
- CLV: BG/NBD + Gamma-Gamma fit and scoring of 1M customers;
- build: full derived build, one-day rebuild, re-segmentation, one-player 360 reads;
- app: the served 360 page in headless Chromium (navigation to rendered, player switch);
- segments: threshold moves at 1M players (state, whole page, browser), member pages, 400k-row exports;
- rewards: 20 reward rules over 1M players, engine vs DuckDB SQL vs pandas.
Small data by default (minutes); BENCH_SCALE=full runs the issue's scale (20M events, 1M players:
generating and ingesting it once takes about 6 minutes, each part then several more).
"""

from __future__ import annotations

import os
import subprocess
import sys

SMALL = os.environ.get("BENCH_SCALE", "small") != "full"
PARTS = [
    ["benchmarks.bench_ingest"],  # 200k rows; BENCH_SCALE=full: the 20M-row file
    ["benchmarks.bench_metrics", "--events", "2000000" if SMALL else "20000000",
     "--players", "100000" if SMALL else "1000000", "--data",
     f"data/bench/events-{'2M' if SMALL else '20M'}.parquet"],
    ["benchmarks.bench_clv", "100000" if SMALL else "1000000"],
    ["benchmarks.bench_build", *(["--players", "20000"] if SMALL else ["--players", "1000000", "--days", "340"])],
    ["benchmarks.bench_app", "--db", "data/bench/build-work.duckdb"],  # the store bench_build built
    ["benchmarks.bench_segments", "--players", "100000" if SMALL else "1000000", "--browser"],
    ["benchmarks.bench_rewards", "--players", "100000" if SMALL else "1000000"],
]


def main() -> int:
    failed = 0
    for part in PARTS:
        print(f"\n=== {' '.join(part)}", flush=True)
        failed |= subprocess.call([sys.executable, "-m", *part])
    return failed


if __name__ == "__main__":
    sys.exit(main())
