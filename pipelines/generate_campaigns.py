"""Marketing campaigns: a group-wide schedule, per-block contacts with random holdouts, and their effect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from pipelines.generate_common import DAY, HOUR, MINUTE, Window, sort_key
from pipelines.generate_people import People
from pipelines.generate_visits import Exclusions, RawVisits, excluded_at

KINDS = ("RET", "REACT", "WELCOME", "VIP")
RETENTION, REACTIVATION, WELCOME, VIP = range(len(KINDS))
CHANNELS = np.array(["email", "sms", "mail", "host"])
REWARD_TYPES = np.array(["comp", "freeplay", "bonus", "voucher", "ticket"])
COMP, FREEPLAY, BONUS, VOUCHER, TICKET = range(len(REWARD_TYPES))
HOLDOUT_SHARE = 0.1
# Extra visits a contacted (treatment) player makes within two weeks: the campaign's true lift.
LIFT = np.array([0.25, 0.15, 0.3, 0.2])


@dataclass(frozen=True)
class Campaign:
    """One campaign of the group's calendar."""

    campaign_id: str
    at: int  # contacts go out from this time (epoch seconds)
    kind: int
    channel: int
    reward_type: int
    value: float


@dataclass
class Contacts:
    """Campaign contacts of one block."""

    player: np.ndarray
    ts: np.ndarray
    campaign: np.ndarray  # index into the schedule
    treatment: np.ndarray


def per_campaign(plan: list[Campaign], attr: str) -> np.ndarray:
    """One attribute of every campaign, as an array indexable by campaign number."""
    values = [getattr(c, attr) for c in plan]
    return np.array(values, dtype=float if attr == "value" else np.int64)


def schedule(seed: int, win: Window) -> list[Campaign]:
    """Roughly monthly campaigns over the window, the same for every block."""
    rng = np.random.default_rng([seed, 0xCA_4A16])
    out: list[Campaign] = []
    at = win.day0 + 15 * DAY + 4 * HOUR
    while at <= win.end - 3 * DAY:
        kind = len(out) % len(KINDS)
        day = datetime(1970, 1, 1) + timedelta(seconds=int(at))
        out.append(Campaign(
            campaign_id=f"CMP-{day:%Y%m%d}-{KINDS[kind]}",
            at=int(at),
            kind=kind,
            channel=int(rng.integers(0, len(CHANNELS) - (kind != VIP))),
            reward_type=int(rng.choice([FREEPLAY, BONUS, VOUCHER])),
            value=float(rng.choice([10, 20, 25, 50]) * (5 if kind == VIP else 1)),
        ))
        at += int(rng.integers(28, 36)) * DAY
    return out


def _targets(people: People, raw: RawVisits, excl: Exclusions, c: Campaign, win: Window) -> np.ndarray:
    """Mask of the players a campaign aims at."""
    n = people.n
    everyone = np.arange(n)
    keys = sort_key(raw.player, raw.check_in, win)
    before = np.searchsorted(keys, sort_key(everyone, np.full(n, c.at), win))
    first = np.searchsorted(raw.player, everyone)
    seen = before > first
    last = np.where(seen, raw.check_in[np.maximum(before - 1, 0)], np.iinfo(np.int64).min // 2)
    since = c.at - last
    ok = (people.enroll < c.at - DAY) & ~people.deceased & ~people.no_contact & ~excluded_at(excl, n, c.at)
    if c.kind == RETENTION:
        return ok & (since <= 30 * DAY)
    if c.kind == REACTIVATION:
        return ok & (since >= 45 * DAY) & (since <= 180 * DAY)
    if c.kind == WELCOME:
        return ok & (people.enroll >= c.at - 30 * DAY)
    recent = before - np.searchsorted(keys, sort_key(everyone, np.full(n, c.at - 90 * DAY), win))
    return ok & (recent >= 5)


def contacts(
    rng: np.random.Generator, people: People, raw: RawVisits, excl: Exclusions, plan: list[Campaign], win: Window
) -> Contacts:
    """Who each campaign contacted and whether they were held out (about 10%, at random)."""
    parts = []
    for i, c in enumerate(plan):
        chosen = np.flatnonzero(_targets(people, raw, excl, c, win) & (rng.random(people.n) < 0.5))
        ts = np.minimum(c.at + rng.integers(0, 6 * HOUR, len(chosen)), win.end - MINUTE)
        parts.append((chosen, ts, np.full(len(chosen), i), rng.random(len(chosen)) >= HOLDOUT_SHARE))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Contacts(empty, empty, empty, np.zeros(0, dtype=bool))
    return Contacts(*(np.concatenate(col) for col in zip(*parts)))


def responses(rng: np.random.Generator, got: Contacts, plan: list[Campaign], win: Window) -> tuple:
    """Extra visits caused by the campaign among treated players: (player, gaming day)."""
    kind = per_campaign(plan, "kind")[got.campaign]
    lifted = got.treatment & (rng.random(len(got.player)) < LIFT[kind])
    day = win.day_of(got.ts[lifted]) + rng.integers(1, 15, int(lifted.sum()))
    return got.player[lifted], day
