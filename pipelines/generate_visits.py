"""Visit sessions of one block: when each player comes, where, for how long, and who is still in the room."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.generate_common import (
    DAY, HOUR, MINUTE, PROPERTIES, Counters, Window, check_in_times, fmt_ids, frame, group_starts, labels,
    pick, player_ids, run_cumsum, ts_array, uniform,
)
from pipelines.generate_people import DORMANT, OCCASIONAL, STAY_HOURS, WHALE, People

VISIT_SCHEMA = {
    "visit_id": pl.String, "player_id": pl.String, "property_id": pl.String,
    "check_in": pl.Datetime("us"), "check_out": pl.Datetime("us"), "area": pl.String,
}
AREAS = np.array(["main_floor", "slot_floor", "high_limit", "vip_salon"])


@dataclass
class RawVisits:
    """Check-ins before durations and properties are known, sorted by (player, check_in)."""

    player: np.ndarray
    check_in: np.ndarray
    enrolling: np.ndarray  # the visit on which the player signed up


@dataclass
class Exclusions:
    """Players barred from the floor: from `at` until `lifted` (-1: still excluded)."""

    player: np.ndarray
    at: np.ndarray
    lifted: np.ndarray
    banned: np.ndarray  # barred by the casino rather than self-excluded


@dataclass
class Visits:
    """Final visits of one block, sorted by (player, check_in)."""

    player: np.ndarray
    check_in: np.ndarray
    check_out: np.ndarray  # planned end; later than the window end for visits still open
    prop: np.ndarray
    open: np.ndarray
    number: np.ndarray  # global visit number (the id)

    def __len__(self) -> int:
        """Number of visits."""
        return len(self.player)


def _renewal_visits(rng: np.random.Generator, people: People, win: Window) -> tuple[np.ndarray, np.ndarray]:
    """Repeat visits as a gamma renewal process per player: (player, gaming day)."""
    idx = np.flatnonzero(people.arch != OCCASIONAL)
    inside = people.enroll[idx] >= win.start
    base = np.where(inside, (people.enroll[idx] - win.day0) / DAY, 0.0)
    gap, shape = people.gap[idx], people.shape[idx]
    # Players who joined before the window are caught mid-cycle, not on a fresh visit.
    first_gap = np.where(inside, rng.gamma(shape, gap / shape), rng.random(len(idx)) * gap)
    stop = (np.minimum(people.until[idx], win.end) - win.day0) / DAY
    mean = np.maximum(stop - base, 0) / gap
    cap = np.ceil(mean + 5 * np.sqrt(mean / shape + 1) + 2).astype(np.int64)
    rep = np.repeat(np.arange(len(idx)), cap)
    first = group_starts(rep)
    gaps = rng.gamma(shape[rep], gap[rep] / shape[rep])
    gaps[first] = first_gap
    pos = base[rep] + run_cumsum(gaps, first)
    cool_day = (people.cool_from[idx] - win.day0) / DAY
    keep = (pos < stop[rep]) & ((pos < cool_day[rep]) | (rng.random(len(pos)) < 0.25))
    return idx[rep[keep]], np.floor(pos[keep]).astype(np.int64)


def _one_timer_visits(rng: np.random.Generator, people: People, win: Window) -> tuple[np.ndarray, np.ndarray]:
    """A few scattered visits of occasional players besides their sign-up visit: (player, gaming day)."""
    idx = np.flatnonzero(people.arch == OCCASIONAL)
    inside = people.enroll[idx] >= win.start
    extra = pick(rng, np.array([0.6, 0.3, 0.1]), len(idx))
    rep = np.repeat(np.arange(len(idx)), np.where(inside, extra, extra + 1))
    enroll_day = (people.enroll[idx[rep]] - win.day0) / DAY
    day = np.where(inside[rep], enroll_day + uniform(rng, 1, 180, len(rep)), uniform(rng, 0, win.last_day + 1, len(rep)))
    return idx[rep], np.floor(day).astype(np.int64)


def sort_visits(player: np.ndarray, check_in: np.ndarray, enrolling: np.ndarray, win: Window) -> RawVisits:
    """Sort by (player, time) keeping one visit per player and gaming day (the sign-up visit first)."""
    day = win.day_of(check_in)
    order = np.lexsort((check_in, ~enrolling, day, player))
    player, check_in, enrolling, day = player[order], check_in[order], enrolling[order], day[order]
    keep = np.ones(len(player), dtype=bool)
    keep[1:] = (player[1:] != player[:-1]) | (day[1:] != day[:-1])
    player, check_in, enrolling = player[keep], check_in[keep], enrolling[keep]
    order = np.lexsort((check_in, player))
    return RawVisits(player[order], check_in[order], enrolling[order])


def on_days(rng: np.random.Generator, people: People, win: Window, player: np.ndarray, day: np.ndarray) -> tuple:
    """Check-in times on gaming days, dropping those outside the player's active span."""
    check_in = check_in_times(rng, win, day)
    ok = (check_in >= win.start) & (check_in <= win.end) & (check_in > people.enroll[player] + HOUR)
    ok &= check_in <= people.until[player]
    return player[ok], check_in[ok]


def base_visits(rng: np.random.Generator, people: People, win: Window) -> RawVisits:
    """All visits before campaigns and exclusions: sign-up visits, repeat visits and one-timers."""
    signed = np.flatnonzero(people.enroll >= win.start)
    sign_in = np.minimum(people.enroll[signed] + rng.integers(3 * MINUTE, 25 * MINUTE, len(signed)), win.end - MINUTE)
    p1, c1 = on_days(rng, people, win, *_renewal_visits(rng, people, win))
    p2, c2 = on_days(rng, people, win, *_one_timer_visits(rng, people, win))
    player = np.concatenate([signed, p1, p2])
    check_in = np.concatenate([sign_in, c1, c2])
    enrolling = np.zeros(len(player), dtype=bool)
    enrolling[: len(signed)] = True
    return sort_visits(player, check_in, enrolling, win)


def add_visits(raw: RawVisits, player: np.ndarray, check_in: np.ndarray, win: Window) -> RawVisits:
    """Merge extra visits (campaign responses) into the schedule."""
    return sort_visits(
        np.concatenate([raw.player, player]),
        np.concatenate([raw.check_in, check_in]),
        np.concatenate([raw.enrolling, np.zeros(len(player), dtype=bool)]),
        win,
    )


def exclusions(rng: np.random.Generator, people: People, raw: RawVisits, win: Window) -> Exclusions:
    """A few players get excluded after a visit; some exclusions are lifted months later."""
    n = people.n
    counts = np.bincount(raw.player, minlength=n)
    cand = np.flatnonzero((counts >= 2) & ~people.deceased & (people.arch != WHALE))
    k = min(len(cand), max(1, round(0.005 * n))) if n >= 100 else 0
    chosen = np.sort(rng.choice(cand, k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    lo = np.searchsorted(raw.player, chosen)
    # Excluded during one of their visits other than the last one.
    j = lo + rng.integers(0, np.maximum(counts[chosen] - 1, 1))
    at = raw.check_in[j] + rng.integers(10 * MINUTE, 2 * HOUR, k)
    lifted = at + rng.integers(180, 400, k) * DAY
    lifted = np.where((rng.random(k) < 0.4) & (lifted <= win.end - HOUR), lifted, -1)
    return Exclusions(chosen, np.minimum(at, win.end - MINUTE), lifted, rng.random(k) < 0.4)


def excluded_at(excl: Exclusions, n: int, ts: int) -> np.ndarray:
    """Mask of players excluded at time `ts`."""
    mask = np.zeros(n, dtype=bool)
    mask[excl.player] = (excl.at <= ts) & ((excl.lifted < 0) | (excl.lifted > ts))
    return mask


def _drop_excluded(raw: RawVisits, excl: Exclusions, n: int) -> RawVisits:
    """Remove visits while the player was excluded."""
    start = np.full(n, np.iinfo(np.int64).max)
    stop = np.full(n, np.iinfo(np.int64).max)
    start[excl.player] = excl.at
    stop[excl.player] = np.where(excl.lifted < 0, np.iinfo(np.int64).max, excl.lifted)
    ci = raw.check_in
    keep = ~((ci >= start[raw.player]) & (ci < stop[raw.player]))
    return RawVisits(raw.player[keep], ci[keep], raw.enrolling[keep])


def _in_the_room(rng: np.random.Generator, people: People, raw: RawVisits, excl: Exclusions, win: Window) -> tuple:
    """Guarantee a handful of visits still open at the window end ("who is in the room")."""
    n = people.n
    ok = np.isin(people.arch, [DORMANT, OCCASIONAL], invert=True) & ~people.deceased & (people.dup_of < 0)
    ok &= (people.enroll <= win.end - 2 * DAY) & ~excluded_at(excl, n, win.end)
    cand = np.flatnonzero(ok)
    k = min(len(cand), max(2, n // 400))
    chosen = np.sort(rng.choice(cand, k, replace=False))
    check_in = win.end - rng.integers(10 * MINUTE, 5 * HOUR, k)
    # Their later visits would overlap the open one.
    cutoff = np.full(n, np.iinfo(np.int64).max)
    cutoff[chosen] = check_in - DAY
    keep = raw.check_in < cutoff[raw.player]
    kept = RawVisits(raw.player[keep], raw.check_in[keep], raw.enrolling[keep])
    return kept, chosen, check_in


def _drop_overlaps(player: np.ndarray, check_in: np.ndarray, check_out: np.ndarray) -> np.ndarray:
    """Mask keeping visits that start at least 30 minutes after the player's previous one ended."""
    keep = np.ones(len(player), dtype=bool)
    while True:
        idx = np.flatnonzero(keep)
        p, ci, co = player[idx], check_in[idx], check_out[idx]
        clash = (p[1:] == p[:-1]) & (ci[1:] < co[:-1] + 30 * MINUTE)
        if not clash.any():
            return keep
        keep[idx[1:][clash]] = False


def _properties(rng: np.random.Generator, people: People, player: np.ndarray, stay_home: np.ndarray) -> np.ndarray:
    """Property per visit: mostly the home property, sometimes another one of the group."""
    away = (rng.random(len(player)) < people.away_rate[player]) & ~stay_home
    off = people.away_off[player]
    off = np.where(people.three[player] & (rng.random(len(player)) < 0.4), 3 - off, off)
    return np.where(away, (people.home[player] + off) % 3, people.home[player])


def finalize(
    rng: np.random.Generator, people: People, raw: RawVisits, excl: Exclusions, win: Window, ids: Counters
) -> Visits:
    """Durations, open visits, overlaps and properties: the visits as written."""
    raw = _drop_excluded(raw, excl, people.n)
    raw, room, room_in = _in_the_room(rng, people, raw, excl, win)
    player = np.concatenate([raw.player, room])
    check_in = np.concatenate([raw.check_in, room_in])
    enrolling = np.concatenate([raw.enrolling, np.zeros(len(room), dtype=bool)])
    hours = np.clip(STAY_HOURS[people.arch[player]] * rng.lognormal(0, 0.5, len(player)), 0.25, 12)
    check_out = check_in + (hours * HOUR).astype(np.int64)
    forced = np.zeros(len(player), dtype=bool)
    forced[len(raw.player):] = True
    check_out = np.where(forced, np.maximum(check_out, win.end + rng.integers(15 * MINUTE, 3 * HOUR, len(player))), check_out)
    order = np.lexsort((check_in, player))
    player, check_in, check_out, enrolling = player[order], check_in[order], check_out[order], enrolling[order]
    keep = _drop_overlaps(player, check_in, check_out)
    player, check_in, check_out, enrolling = player[keep], check_in[keep], check_out[keep], enrolling[keep]
    return Visits(
        player=player,
        check_in=check_in,
        check_out=check_out,
        prop=_properties(rng, people, player, enrolling),
        open=check_out > win.end,
        number=ids.take("V", len(player)),
    )


def area_of(people: People) -> np.ndarray:
    """Where on the floor each player is usually found (index into AREAS)."""
    table = people.p_table > 0.5
    area = np.where(table, np.where(people.bet_table >= 100, 2, 0), 1)
    return np.where(people.arch == WHALE, 3, area)


def visits_frame(people: People, visits: Visits) -> pl.DataFrame:
    """The `visits` source rows of one block."""
    return frame(
        {
            "visit_id": fmt_ids("V", visits.number),
            "player_id": player_ids(people.first_no, visits.player),
            "property_id": labels(PROPERTIES, visits.prop),
            "check_in": ts_array(visits.check_in),
            "check_out": ts_array(visits.check_out, null=visits.open),
            "area": labels(AREAS, area_of(people)[visits.player]),
        },
        VISIT_SCHEMA,
    )
