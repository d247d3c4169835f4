"""Wall time of BG/NBD + Gamma-Gamma fitting and CLV scoring on 1M simulated customers.

Run: ``.venv/bin/python benchmarks/bench_clv.py [n_customers]``. Customers are drawn from known
parameters (weeks; first purchases spread over two years), once with exact purchase times (every
history distinct: the worst case for the fit's row aggregation) and once with times rounded to whole
days as a transaction log would give them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from metrics import clv

TRUE_BGNBD = clv.BGNBDParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
TRUE_GG = clv.GammaGammaParams(p=6.0, q=4.0, v=15.0)


def timed(label: str, fn: Callable[[], Any]) -> Any:
    """Run fn, print its wall time, return its result."""
    start = time.perf_counter()
    result = fn()
    print(f"  {label:<44} {time.perf_counter() - start:7.2f} s")
    return result


def population(n: int, daily: bool, seed: int = 0) -> pl.DataFrame:
    """Simulated RFM summary with monetary values, in weeks."""
    rng = np.random.default_rng(seed)
    T_days = rng.integers(1, 731, n)
    summary = clv.simulate_bgnbd(TRUE_BGNBD, T_days / 7.0, seed=seed + 1)
    if daily:
        # a purchase log only knows the day of the last purchase
        summary = summary.with_columns((pl.col("recency") * 7).floor() / 7)
    money = clv.simulate_gamma_gamma(TRUE_GG, summary["frequency"].to_numpy(), seed=seed + 2)
    return summary.with_columns(monetary_value=money)


def run(n: int, daily: bool) -> None:
    """Fit and score one simulated population, printing timings and recovered parameters."""
    summary = population(n, daily)
    distinct = summary.select("frequency", "recency", "T").n_unique()
    kind = "daily-rounded times" if daily else "exact times"
    print(f"\n{n:,} customers, {kind}: {distinct:,} distinct (x, t_x, T) histories")
    total = time.perf_counter()
    bg = timed("fit_bgnbd", lambda: clv.fit_bgnbd(summary))
    timed("fit_bgnbd(sample=100_000)", lambda: clv.fit_bgnbd(summary, sample=100_000))
    timed("p_alive", lambda: clv.p_alive(bg, summary))
    timed("expected_purchases(t=52)", lambda: clv.expected_purchases(bg, summary, 52))
    gg = timed("fit_gamma_gamma", lambda: clv.fit_gamma_gamma(summary))
    timed("conditional_expected_spend", lambda: clv.conditional_expected_spend(gg, summary))
    timed("clv(horizon=52)", lambda: clv.clv(bg, gg, summary, 52))
    timed(
        "clv(horizon=52, discount_rate=0.1)",
        lambda: clv.clv(bg, gg, summary, 52, discount_rate=0.1),
    )
    print(f"  {'total':<44} {time.perf_counter() - total:7.2f} s")
    print(f"  BG/NBD true r={TRUE_BGNBD.r} alpha={TRUE_BGNBD.alpha} a={TRUE_BGNBD.a} b={TRUE_BGNBD.b}")
    print(f"  BG/NBD fit  r={bg.r:.4f} alpha={bg.alpha:.4f} a={bg.a:.4f} b={bg.b:.4f}")
    print(f"  Gamma-Gamma true p={TRUE_GG.p} q={TRUE_GG.q} v={TRUE_GG.v}")
    print(f"  Gamma-Gamma fit  p={gg.p:.4f} q={gg.q:.4f} v={gg.v:.4f} (n={gg.n:,})")


def main() -> None:
    """Benchmark both time resolutions."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    for daily in (False, True):
        run(n, daily)


if __name__ == "__main__":
    main()
