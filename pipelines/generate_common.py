"""Constants and vectorised helpers shared by the demo data generator (`pipelines/generate*.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

MINUTE, HOUR, DAY = 60, 3_600, 86_400
# Casinos close their books at 06:00, so a night out counts as one gaming day.
GAMING_DAY_START = 6 * HOUR

PROPERTIES = np.array(["P01", "P02", "P03"])
HOME_SHARE = np.array([0.5, 0.3, 0.2])

GAMES = np.array(["blackjack", "baccarat", "roulette", "craps", "slots"])
SLOTS = 4
TABLE_GAME_SHARE = np.array([0.45, 0.2, 0.2, 0.15])
DECISIONS_PER_HOUR = np.array([70, 72, 38, 48, 600])
HOUSE_EDGE = np.array([0.02, 0.0124, 0.053, 0.014, 0.08])
# Spread of one decision's result, in bets: sets how far casino_win strays from theo.
DECISION_SD = np.array([1.15, 0.95, 0.97, 1.0, 4.0])
LOCATION_PREFIX = np.array(["BJ-", "BAC-", "RL-", "CR-", "SL-"])

# Share of check-ins per hour after the gaming-day start (06:00 .. 02:00): an evening crowd.
_HOUR_WEIGHTS = np.array(
    [0.2, 0.3, 0.5, 1, 1.5, 2, 3, 3.5, 3.5, 3.5, 4, 5, 6, 7, 7, 6.5, 6, 5, 3.5, 2, 1], dtype=float
)
_HOUR_CDF = np.cumsum(_HOUR_WEIGHTS) / _HOUR_WEIGHTS.sum()


@dataclass(frozen=True)
class Window:
    """The generated time span, in epoch seconds of naive venue-local time."""

    start: int
    end: int
    day0: int  # start of the gaming day that contains `start`

    @classmethod
    def of(cls, end: int, days: int) -> Window:
        """Window of `days` days ending at `end`."""
        start = end - days * DAY
        day0 = (start - GAMING_DAY_START) // DAY * DAY + GAMING_DAY_START
        return cls(start=start, end=end, day0=day0)

    @property
    def last_day(self) -> int:
        """Index of the gaming day that contains `end`."""
        return (self.end - self.day0) // DAY

    def day_of(self, ts: np.ndarray) -> np.ndarray:
        """Gaming-day index of epoch seconds."""
        return (ts - self.day0) // DAY


class Counters:
    """Running id numbers per prefix, so ids stay unique and deterministic across blocks."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, prefix: str, n: int) -> np.ndarray:
        """Reserve `n` consecutive numbers for `prefix`."""
        first = self._next.get(prefix, 1)
        self._next[prefix] = first + n
        return np.arange(first, first + n, dtype=np.int64)


def fmt_ids(prefix: str, numbers: np.ndarray, width: int = 9) -> pl.Series:
    """Ids like `V000000042` from integers."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and numbers.max() >= 10**width:
        return prefix + pl.Series(numbers).cast(pl.String).str.zfill(width)
    # Printing number + 10**width and dropping the leading 1 is a cheap zero-padding.
    return prefix + pl.Series(numbers + 10**width).cast(pl.String).str.slice(1)


def labels(options, codes: np.ndarray) -> pl.Series:
    """Strings by integer code, -1 for missing (far faster than building NumPy string arrays)."""
    table = pl.Series([str(o) for o in options] + [None], dtype=pl.String)
    codes = np.asarray(codes, dtype=np.int64)
    return table.gather(np.where(codes < 0, len(options), codes))


def player_ids(first_no: int, local: np.ndarray) -> pl.Series:
    """Player ids (`PL0000001`) of block-local player indices."""
    return fmt_ids("PL", first_no + local.astype(np.int64), 7)


def ts_array(seconds: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    """Epoch seconds as datetime64[us] (NaT where `null`), which Polars reads as a naive Datetime."""
    out = (seconds.astype(np.int64) * 1_000_000).astype("datetime64[us]")
    if null is not None:
        out[null] = np.datetime64("NaT")
    return out


def frame(columns: dict[str, object], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A source frame with exactly `schema`'s columns and types; empty strings become nulls."""
    df = pl.DataFrame(columns, nan_to_null=True)
    exprs = []
    for name, dtype in schema.items():
        col = pl.col(name) if name in df.columns else pl.lit(None)
        if dtype == pl.String:
            col = col.cast(pl.String)
            col = pl.when(col.str.len_bytes() == 0).then(None).otherwise(col)
        exprs.append(col.cast(dtype).alias(name))
    return df.select(exprs)


def uniform(rng: np.random.Generator, lo, hi, size: int | None = None) -> np.ndarray:
    """Uniform draws in [lo, hi), tolerating hi < lo (then everything is lo)."""
    lo = np.asarray(lo, dtype=float)
    hi = np.maximum(np.asarray(hi, dtype=float), lo)
    return lo + (hi - lo) * rng.random(size if size is not None else np.broadcast(lo, hi).shape)


def pick(rng: np.random.Generator, probs: np.ndarray, size: int) -> np.ndarray:
    """Categorical draws from one probability vector."""
    cdf = np.cumsum(probs) / np.sum(probs)
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(probs) - 1)


def round_to(x: np.ndarray, step: float) -> np.ndarray:
    """Round to a multiple of `step` (chip denominations, bill sizes)."""
    return np.round(np.asarray(x) / step) * step


def check_in_times(rng: np.random.Generator, win: Window, days: np.ndarray) -> np.ndarray:
    """Check-in epoch seconds on the given gaming days, following the evening-heavy hour curve."""
    hours = np.searchsorted(_HOUR_CDF, rng.random(len(days)), side="right")
    return win.day0 + days.astype(np.int64) * DAY + hours * HOUR + rng.integers(0, HOUR, len(days))


def group_starts(group: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array."""
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    return first


def run_start_index(first: np.ndarray) -> np.ndarray:
    """For every element, the index where its run starts."""
    return np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))


def run_cumsum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum restarting at every run start."""
    total = np.cumsum(values)
    start = run_start_index(first)
    return total - total[start] + values[start]


def sort_key(player: np.ndarray, ts: np.ndarray, win: Window) -> np.ndarray:
    """One int64 per (player, time) that sorts like the pair, for searchsorted look-ups."""
    return (player.astype(np.int64) << 32) + (ts.astype(np.int64) - win.day0 + (1 << 31))
