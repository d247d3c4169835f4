"""Players of one block: behavioural archetypes, enrollment, play style and identity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.generate_common import (
    DAY, HOME_SHARE, HOUR, MINUTE, TABLE_GAME_SHARE, Window, check_in_times, pick, uniform,
)

ARCHETYPES = ("regular", "casual", "occasional", "cooling", "dormant", "new", "volatile", "heavy_cash", "whale")
REGULAR, CASUAL, OCCASIONAL, COOLING, DORMANT, NEW, VOLATILE, HEAVY_CASH, WHALE = range(len(ARCHETYPES))
SHARE = np.array([0.025, 0.08, 0.525, 0.03, 0.22, 0.05, 0.025, 0.02, 0.005])
# Per archetype: mean days between visits (range), gamma shape of the gaps (higher = more regular).
GAP_LO = np.array([6, 30, 0, 10, 30, 5, 14, 10, 14], dtype=float)
GAP_HI = np.array([10, 75, 0, 20, 90, 20, 40, 25, 30], dtype=float)
GAP_SHAPE = np.array([4, 1.5, 1, 3, 1.5, 2, 0.7, 2, 2], dtype=float)
# Share of players who prefer tables over slots.
TABLE_FANS = np.array([0.35, 0.3, 0.3, 0.35, 0.3, 0.3, 0.6, 0.85, 1.0])
BET_TABLE = np.array([25, 20, 15, 25, 20, 15, 75, 150, 2500], dtype=float)
BET_SLOT = np.array([1.0, 0.75, 0.5, 1.0, 0.75, 0.75, 3, 5, 25])
BET_SIGMA = np.array([0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.9, 0.4, 0.4])
STAY_HOURS = np.array([2.0, 2.5, 3.0, 2.0, 2.5, 2.5, 3.0, 3.0, 5.0])
EXTRA_SLIPS = np.array([0.35, 0.3, 0.3, 0.35, 0.3, 0.3, 0.6, 0.6, 2.0])
CASH_SCALE = np.array([1, 1, 1, 1, 1, 1, 1.5, 1.2, 1], dtype=float)


@dataclass
class People:
    """Per-player parameters of one block (arrays indexed by block-local player index)."""

    first_no: int
    arch: np.ndarray
    dup_of: np.ndarray  # original's local index for a duplicate enrollment, else -1
    home: np.ndarray
    enroll: np.ndarray  # epoch seconds of the home-property enrollment
    until: np.ndarray  # no visits after this (dormant players went quiet)
    cool_from: np.ndarray  # cooling players come much less often after this
    gap: np.ndarray
    shape: np.ndarray
    p_table: np.ndarray
    fav_game: np.ndarray
    bet_table: np.ndarray
    bet_slot: np.ndarray
    bet_sigma: np.ndarray
    away_rate: np.ndarray
    away_off: np.ndarray  # the other property a player visits: (home + away_off) % 3
    three: np.ndarray  # enrolled across the group (whales)
    deceased: np.ndarray
    no_contact: np.ndarray

    @property
    def n(self) -> int:
        """Number of players in the block."""
        return len(self.arch)


def assign_archetypes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Archetype per player with fixed proportions, so even small runs show every kind."""
    counts = np.floor(SHARE * n).astype(int)
    if n >= 50:
        counts = np.maximum(counts, 1)
    counts[OCCASIONAL] += n - counts.sum()
    return rng.permutation(np.repeat(np.arange(len(SHARE)), counts))


def pick_duplicates(rng: np.random.Generator, arch: np.ndarray) -> np.ndarray:
    """About 1% of the players are a second enrollment of another player of the block."""
    n = len(arch)
    dup_of = np.full(n, -1)
    k = max(1, round(0.01 * n)) if n >= 20 else 0
    slots = rng.choice(n, size=2 * k, replace=False)
    originals, copies = slots[:k], slots[k:]
    dup_of[copies] = originals
    # A forgotten card means a fresh enrollment that is then used only a few times.
    arch[copies] = OCCASIONAL
    return dup_of


def enrollment(rng: np.random.Generator, arch: np.ndarray, dup_of: np.ndarray, win: Window) -> np.ndarray:
    """Enrollment time per player: spread over the window and the years before it."""
    n = len(arch)
    before = uniform(rng, win.start - 4 * 365 * DAY, win.start, n)
    inside = uniform(rng, win.start, win.end - 60 * DAY, n)
    enroll = np.where(rng.random(n) < 0.4, before, inside)
    # One-timers mostly joined on their (recent) first visit.
    late = arch == OCCASIONAL
    k = int(late.sum())
    enroll[late] = np.where(rng.random(k) < 0.2, before[late], uniform(rng, win.start, win.end - DAY, k))
    quiet = (arch == DORMANT) | (arch == COOLING)
    limit = np.where(arch == DORMANT, 120, 180) * DAY
    enroll[quiet] = np.minimum(enroll[quiet], win.end - limit[quiet] - rng.integers(0, 30 * DAY, quiet.sum()))
    new = arch == NEW
    enroll[new] = uniform(rng, win.end - 60 * DAY, win.end - 2 * HOUR, new.sum())
    copies = dup_of >= 0
    enroll[copies] = uniform(rng, np.maximum(enroll[dup_of[copies]], win.start) + DAY, win.end - DAY)
    return _desk_hours(rng, np.minimum(enroll, win.end - HOUR).astype(np.int64), win)


def _desk_hours(rng: np.random.Generator, enroll: np.ndarray, win: Window) -> np.ndarray:
    """Move in-window sign-ups to the hours players actually arrive (they sign up on arrival)."""
    inside = enroll >= win.start
    at = check_in_times(rng, win, win.day_of(enroll)) - rng.integers(0, 20 * MINUTE, len(enroll))
    at = np.where(at > win.end - HOUR, at - DAY, at)
    at = np.where(inside, np.maximum(at, win.start), enroll)
    return at // MINUTE * MINUTE


def make_people(rng: np.random.Generator, first_no: int, n: int, win: Window) -> People:
    """Draw the players of one block."""
    arch = assign_archetypes(rng, n)
    dup_of = pick_duplicates(rng, arch)
    enroll = enrollment(rng, arch, dup_of, win)
    dormant = arch == DORMANT
    quiet_from = np.maximum(enroll, win.start) + 7 * DAY
    went_quiet = np.minimum(uniform(rng, quiet_from, win.end - 91 * DAY), win.end - 91 * DAY)
    until = np.where(dormant, went_quiet, win.end).astype(np.int64)
    cool_from = np.where(arch == COOLING, win.end - rng.integers(60, 91, n) * DAY, win.end + DAY)
    whale = arch == WHALE
    multi = whale | (rng.random(n) < 0.2)
    p_table = np.where(rng.random(n) < TABLE_FANS[arch], 0.9, 0.08)
    fav_game = np.where(whale & (rng.random(n) < 0.8), 1, pick(rng, TABLE_GAME_SHARE, n))
    return People(
        first_no=first_no,
        arch=arch,
        dup_of=dup_of,
        home=pick(rng, HOME_SHARE, n),
        enroll=enroll,
        until=until,
        cool_from=cool_from.astype(np.int64),
        gap=uniform(rng, GAP_LO[arch], GAP_HI[arch]),
        shape=GAP_SHAPE[arch],
        p_table=p_table,
        fav_game=fav_game,
        bet_table=BET_TABLE[arch] * rng.lognormal(0, 0.6, n),
        bet_slot=BET_SLOT[arch] * rng.lognormal(0, 0.7, n),
        bet_sigma=BET_SIGMA[arch],
        away_rate=np.where(multi, np.where(whale, 0.35, uniform(rng, 0.05, 0.3, n)), 0.0),
        away_off=rng.integers(1, 3, n),
        three=whale,
        deceased=dormant & (rng.random(n) < 0.03),
        no_contact=rng.random(n) < 0.01,
    )
