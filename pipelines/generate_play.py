"""Rated play of one block: table and slot rating slips inside the visits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.generate_common import (
    DECISION_SD, DECISIONS_PER_HOUR, GAMES, HOUSE_EDGE, LOCATION_PREFIX, MINUTE, PROPERTIES, SLOTS, TABLE_GAME_SHARE,
    Counters, Window, fmt_ids, frame, group_starts, labels, pick, player_ids, round_to, run_cumsum, ts_array, uniform,
)
from pipelines.generate_people import EXTRA_SLIPS, VOLATILE, People
from pipelines.generate_visits import Visits

SLIP_SCHEMA = {
    "slip_id": pl.String, "player_id": pl.String, "property_id": pl.String, "visit_id": pl.String,
    "start_time": pl.Datetime("us"), "end_time": pl.Datetime("us"), "game": pl.String, "game_type": pl.String,
    "location": pl.String, "avg_bet": pl.Float64, "minutes_played": pl.Int64, "decisions_per_hour": pl.Int64,
    "house_edge": pl.Float64, "theo": pl.Float64, "casino_win": pl.Float64,
}
TABLES_PER_GAME = np.array([24, 8, 6, 6, 1])


@dataclass
class Slips:
    """Rating slips of one block, grouped by visit."""

    visit: np.ndarray  # index into the block's visits
    start: np.ndarray
    minutes: np.ndarray
    game: np.ndarray
    location: np.ndarray
    avg_bet: np.ndarray
    theo: np.ndarray
    casino_win: np.ndarray
    number: np.ndarray

    def __len__(self) -> int:
        """Number of slips."""
        return len(self.visit)


def _slip_layout(rng: np.random.Generator, people: People, visits: Visits, win: Window) -> tuple:
    """How many slips each visit has and when they start and stop (finished slips only)."""
    n = len(visits)
    span_end = np.minimum(visits.check_out, win.end - MINUTE)
    span = span_end - visits.check_in
    # Some visits are dinner or a show only: no rated play.
    count = np.where(rng.random(n) < 0.08, 0, 1 + np.minimum(rng.poisson(EXTRA_SLIPS[people.arch[visits.player]]), 5))
    count = np.where(span < 10 * MINUTE, 0, count)
    visit = np.repeat(np.arange(n), count)
    first = group_starts(visit)
    pause = rng.exponential(0.15, len(visit))
    play = rng.gamma(2.0, 0.5, len(visit))
    units = np.bincount(visit, weights=pause + play, minlength=n) + rng.exponential(0.15, n)
    scale = span / units
    start = visits.check_in[visit] + ((run_cumsum(pause + play, first) - play) * scale[visit]).astype(np.int64)
    minutes = np.minimum(np.floor(play * scale[visit] / MINUTE), (span_end[visit] - start) // MINUTE).astype(np.int64)
    keep = minutes >= 1
    return visit[keep], start[keep], minutes[keep]


def _bets(rng: np.random.Generator, people: People, player: np.ndarray, game: np.ndarray) -> np.ndarray:
    """Average bet per slip around the player's usual stake, in realistic increments."""
    noise = rng.lognormal(0, people.bet_sigma[player])
    table = people.bet_table[player] * noise
    table = np.maximum(np.where(table >= 1000, round_to(table, 100), round_to(table, 5)), 5)
    slot = np.clip(np.round(people.bet_slot[player] * noise, 2), 0.25, 100)
    return np.where(game == SLOTS, slot, table)


def make_slips(rng: np.random.Generator, people: People, visits: Visits, win: Window, ids: Counters) -> Slips:
    """Table and slot rating slips inside the visits, theo by formula and a noisy actual result."""
    visit, start, minutes = _slip_layout(rng, people, visits, win)
    player = visits.player[visit]
    n = len(visit)
    table = rng.random(n) < people.p_table[player]
    usual = rng.random(n) < 0.75
    game = np.where(table, np.where(usual, people.fav_game[player], pick(rng, TABLE_GAME_SHARE, n)), SLOTS)
    avg_bet = _bets(rng, people, player, game)
    decisions = minutes / 60 * DECISIONS_PER_HOUR[game]
    theo = np.round(avg_bet * decisions * HOUSE_EDGE[game], 2)
    spread = avg_bet * np.sqrt(decisions) * DECISION_SD[game] * np.where(people.arch[player] == VOLATILE, 1.6, 1.0)
    result = theo + rng.normal(0, 1, n) * spread
    # Rare slot jackpots are what make slot results fat-tailed.
    jackpot = (game == SLOTS) & (rng.random(n) < 0.003)
    result = np.where(jackpot, result - avg_bet * uniform(rng, 200, 1500, n), result)
    casino_win = np.where(game == SLOTS, np.round(result, 2), np.round(result))
    location = rng.integers(0, 10_000, n) % TABLES_PER_GAME[game] + np.where(game == SLOTS, 1001 + rng.integers(0, 1400, n), 1)
    return Slips(visit, start, minutes, game, location, avg_bet, theo, casino_win, ids.take("S", n))


def slips_frame(people: People, visits: Visits, slips: Slips) -> pl.DataFrame:
    """The `rating_slips` source rows of one block."""
    slot = slips.game == SLOTS
    location = labels(LOCATION_PREFIX, slips.game) + pl.Series(slips.location).cast(pl.String).str.zfill(2)
    v = slips.visit
    return frame(
        {
            "slip_id": fmt_ids("S", slips.number),
            "player_id": player_ids(people.first_no, visits.player[v]),
            "property_id": labels(PROPERTIES, visits.prop[v]),
            "visit_id": fmt_ids("V", visits.number[v]),
            "start_time": ts_array(slips.start),
            "end_time": ts_array(slips.start + slips.minutes * MINUTE),
            "game": labels(GAMES, slips.game),
            "game_type": labels(["table", "slot"], slot),
            "location": location,
            "avg_bet": slips.avg_bet,
            "minutes_played": slips.minutes,
            "decisions_per_hour": DECISIONS_PER_HOUR[slips.game],
            "house_edge": HOUSE_EDGE[slips.game],
            "theo": slips.theo,
            "casino_win": slips.casino_win,
        },
        SLIP_SCHEMA,
    )
