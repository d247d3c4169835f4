"""The loyalty ledger of one block: points, rewards (comps and campaign offers) and campaign contacts."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.generate_campaigns import (
    CHANNELS, COMP, REWARD_TYPES, TICKET, VOUCHER, Campaign, Contacts, per_campaign,
)
from pipelines.generate_common import (
    DAY, HOUR, MINUTE, PROPERTIES, Counters, Window, fmt_ids, frame, group_starts, labels, pick, player_ids, run_cumsum,
    sort_key, ts_array, uniform,
)
from pipelines.generate_people import People
from pipelines.generate_play import Slips
from pipelines.generate_visits import Visits

LOYALTY_SCHEMA = {
    "entry_id": pl.String, "player_id": pl.String, "property_id": pl.String, "ts": pl.Datetime("us"),
    "type": pl.String, "points": pl.Int64, "amount": pl.Float64, "reward_id": pl.String,
    "reward_type": pl.String, "campaign_id": pl.String, "arm": pl.String, "channel": pl.String,
}
# A contact comes first in the ledger when its offer is loaded at the same second (rows sort by type code).
LOYALTY_TYPES = np.array([
    "campaign_contact", "points_earned", "points_redeemed", "points_adjusted", "reward_issued", "reward_redeemed",
    "reward_expired",
])
CONTACT, EARNED, REDEEMED, ADJUSTED, ISSUED, REWARD_REDEEMED, EXPIRED = range(len(LOYALTY_TYPES))
POINTS_PER_THEO = 10  # points per dollar of theo
POINTS_PER_DOLLAR = 100  # redemption value
REWARD_DAYS = 30  # offers and comps expire after this


def _rows(n: int, **cols: np.ndarray) -> dict[str, np.ndarray]:
    """Ledger rows with defaults (missing) for the columns not given."""
    out = {
        "points": np.full(n, np.nan), "amount": np.full(n, np.nan), "reward": np.full(n, -1),
        "reward_type": np.full(n, -1), "campaign": np.full(n, -1), "arm": np.full(n, -1), "channel": np.full(n, -1),
    }
    out.update(cols)
    return out


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack ledger row sets column by column."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _visit_moment(rng: np.random.Generator, visits: Visits, win: Window, lo: float, hi: float) -> np.ndarray:
    """A time inside each visit (before the window end for visits still open)."""
    stop = np.minimum(visits.check_out, win.end - MINUTE)
    return visits.check_in + (uniform(rng, lo, hi, len(visits)) * (stop - visits.check_in)).astype(np.int64)


def _points(rng: np.random.Generator, visits: Visits, slips: Slips, theo: np.ndarray, win: Window) -> dict:
    """Points earned per rated visit, redemptions of part of the balance, and rare goodwill adjustments."""
    nv = len(visits)
    earned = np.round(theo * POINTS_PER_THEO)
    when = visits.check_in.copy()
    last = np.r_[slips.visit[1:] != slips.visit[:-1], True] if len(slips) else np.zeros(0, dtype=bool)
    when[slips.visit[last]] = (slips.start + slips.minutes * MINUTE)[last]
    first = group_starts(visits.player)
    before = run_cumsum(earned, first) - earned
    wants = (rng.random(nv) < 0.1) & ~first
    # Balance since the previous redemption: what was earned since then is certainly still there.
    anchor = np.maximum.accumulate(np.where(wants | first, np.arange(nv), 0))
    prev = np.r_[0, anchor[:-1]]
    since = before - before[prev]
    redeemed = np.floor(since * uniform(rng, 0.3, 0.9, nv) / 100) * 100
    redeem = wants & (redeemed >= 500)
    redeem_ts = _visit_moment(rng, visits, win, 0.02, 0.2)
    adjust = rng.random(nv) < 0.004
    goodwill = np.round(uniform(rng, 1, 20, nv)) * 50
    gained = earned > 0
    return _concat([
        _rows(int(gained.sum()), player=visits.player[gained], prop=visits.prop[gained], ts=when[gained],
              kind=np.full(gained.sum(), EARNED), points=earned[gained]),
        _rows(int(redeem.sum()), player=visits.player[redeem], prop=visits.prop[redeem], ts=redeem_ts[redeem],
              kind=np.full(redeem.sum(), REDEEMED), points=-redeemed[redeem],
              amount=redeemed[redeem] / POINTS_PER_DOLLAR, reward_type=np.full(redeem.sum(), COMP)),
        _rows(int(adjust.sum()), player=visits.player[adjust], prop=visits.prop[adjust],
              ts=_visit_moment(rng, visits, win, 0.5, 0.9)[adjust], kind=np.full(adjust.sum(), ADJUSTED),
              points=goodwill[adjust]),
    ])


def _comps(rng: np.random.Generator, visits: Visits, theo: np.ndarray, win: Window) -> dict:
    """Comps handed out during good visits (dinner, room, show tickets)."""
    give = (theo >= 250) & (rng.random(len(visits)) < 0.2)
    k = int(give.sum())
    return _rows(
        k,
        player=visits.player[give],
        prop=visits.prop[give],
        ts=_visit_moment(rng, visits, win, 0.3, 0.8)[give],
        kind=np.full(k, ISSUED),
        amount=np.maximum(np.round(theo[give] * uniform(rng, 0.1, 0.3, k)), 10),
        reward_type=np.array([COMP, VOUCHER, TICKET])[pick(rng, np.array([0.6, 0.25, 0.15]), k)],
    )


def _offers(people: People, got: Contacts, plan: list[Campaign]) -> dict:
    """Campaign contacts (both arms) and the offers the treatment arm receives."""
    n = len(got.player)
    channel = per_campaign(plan, "channel")[got.campaign]
    contact = _rows(
        n, player=got.player, prop=people.home[got.player], ts=got.ts, kind=np.full(n, CONTACT),
        campaign=got.campaign, arm=np.where(got.treatment, 0, 1), channel=channel,
    )
    t = got.treatment
    offer = _rows(
        int(t.sum()), player=got.player[t], prop=people.home[got.player[t]], ts=got.ts[t],
        kind=np.full(t.sum(), ISSUED), amount=per_campaign(plan, "value")[got.campaign[t]],
        reward_type=per_campaign(plan, "reward_type")[got.campaign[t]], campaign=got.campaign[t],
    )
    return {"contact": contact, "offer": offer}


def _settle(rng: np.random.Generator, issued: dict, visits: Visits, win: Window) -> dict:
    """Rewards are redeemed on a visit within 30 days, expire, or are still outstanding (ignored)."""
    k = len(issued["player"])
    keys = sort_key(visits.player, visits.check_in, win)
    nxt = np.searchsorted(keys, sort_key(issued["player"], issued["ts"], win), side="right")
    nxt_c = np.minimum(nxt, max(len(visits) - 1, 0))
    has_next = (nxt < len(visits)) & (visits.player[nxt_c] == issued["player"]) if len(visits) else np.zeros(k, bool)
    next_in = np.where(has_next, visits.check_in[nxt_c], np.iinfo(np.int64).max)
    comp = issued["campaign"] < 0
    # Comps are used during the visit; offers on the next visit within their validity.
    at_visit = np.minimum(issued["ts"] + rng.integers(10 * MINUTE, 2 * HOUR, k), win.end - MINUTE)
    on_next = np.minimum(next_in + rng.integers(5 * MINUTE, HOUR, k), win.end - MINUTE)
    usable = np.where(comp, True, next_in <= issued["ts"] + REWARD_DAYS * DAY)
    used = usable & (rng.random(k) < np.where(comp, 0.85, 0.8))
    used_ts = np.where(comp, at_visit, on_next)
    expires = issued["ts"] + REWARD_DAYS * DAY
    expired = ~used & (expires <= win.end)
    pick_cols = {c: issued[c] for c in ("player", "prop", "amount", "reward", "reward_type", "campaign")}
    return {
        "redeemed": _rows(int(used.sum()), **{c: v[used] for c, v in pick_cols.items()},
                          ts=used_ts[used], kind=np.full(used.sum(), REWARD_REDEEMED)),
        "expired": _rows(int(expired.sum()), **{c: v[expired] for c, v in pick_cols.items()},
                         ts=expires[expired], kind=np.full(expired.sum(), EXPIRED)),
    }


def make_ledger(
    rng: np.random.Generator, people: People, visits: Visits, slips: Slips, got: Contacts,
    plan: list[Campaign], win: Window, ids: Counters,
) -> dict[str, np.ndarray]:
    """Every loyalty row of the block, sorted by (player, ts), with entry numbers."""
    theo = np.bincount(slips.visit, weights=slips.theo, minlength=len(visits))
    offers = _offers(people, got, plan)
    issued = _concat([_comps(rng, visits, theo, win), offers["offer"]])
    issued["reward"] = ids.take("R", len(issued["player"]))
    settled = _settle(rng, issued, visits, win)
    parts = [_points(rng, visits, slips, theo, win), offers["contact"], issued, settled["redeemed"], settled["expired"]]
    rows = _concat(parts)
    order = np.lexsort((rows["kind"], rows["ts"], rows["player"]))
    rows = {k: v[order] for k, v in rows.items()}
    rows["number"] = ids.take("L", len(order))
    return rows


def ledger_frame(people: People, rows: dict[str, np.ndarray], plan: list[Campaign]) -> pl.DataFrame:
    """The `loyalty` source rows of one block."""
    has_reward = pl.Series(rows["reward"] >= 0)
    return frame(
        {
            "entry_id": fmt_ids("L", rows["number"]),
            "player_id": player_ids(people.first_no, rows["player"]),
            "property_id": labels(PROPERTIES, rows["prop"]),
            "ts": ts_array(rows["ts"]),
            "type": labels(LOYALTY_TYPES, rows["kind"]),
            "points": rows["points"],
            "amount": rows["amount"],
            "reward_id": fmt_ids("R", np.maximum(rows["reward"], 0)).zip_with(has_reward, pl.repeat(None, len(has_reward), dtype=pl.String, eager=True)),
            "reward_type": labels(REWARD_TYPES, rows["reward_type"]),
            "campaign_id": labels([c.campaign_id for c in plan], rows["campaign"]),
            "arm": labels(["treatment", "holdout"], rows["arm"]),
            "channel": labels(CHANNELS, rows["channel"]),
        },
        LOYALTY_SCHEMA,
    )
