"""Money of one block: buy-ins and markers at the tables and machines, cash-outs, marker repayments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.generate_common import (
    DAY, MINUTE, PROPERTIES, SLOTS, Counters, Window, fmt_ids, frame, group_starts, labels, pick, player_ids,
    round_to, ts_array, uniform,
)
from pipelines.generate_people import CASH_SCALE, WHALE, People
from pipelines.generate_play import Slips
from pipelines.generate_visits import Visits

TXN_SCHEMA = {
    "txn_id": pl.String, "player_id": pl.String, "property_id": pl.String, "ts": pl.Datetime("us"),
    "type": pl.String, "amount": pl.Float64, "currency": pl.String, "method": pl.String,
}
TXN_TYPES = np.array(["buy_in", "cash_out", "marker", "marker_repayment"])
BUY_IN, CASH_OUT, MARKER, REPAYMENT = range(4)
METHODS = np.array(["cash", "chips", "card", "ticket", "wire"])
CASH, CHIPS, CARD, TICKET, WIRE = range(len(METHODS))
NO_METHOD = -1


@dataclass
class Txns:
    """Transactions of one block, sorted by (player, ts)."""

    player: np.ndarray
    prop: np.ndarray
    ts: np.ndarray
    kind: np.ndarray
    amount: np.ndarray
    method: np.ndarray
    number: np.ndarray


def _buy_ins(rng: np.random.Generator, people: People, visits: Visits, slips: Slips) -> dict[str, np.ndarray]:
    """Buy-ins (and whales' markers) just before rated play starts."""
    n = len(slips)
    player = visits.player[slips.visit]
    first = group_starts(slips.visit)
    table = slips.game != SLOTS
    # Table players buy in when they sit down; slot players mostly play on their card or a ticket.
    take = rng.random(n) < np.where(table, np.where(first, 0.85, 0.3), np.where(first, 0.35, 0.1))
    scale = CASH_SCALE[people.arch[player]]
    at_table = slips.avg_bet * uniform(rng, 10, 30, n) * scale
    at_table = np.where(at_table >= 500, round_to(at_table, 100), np.maximum(round_to(at_table, 20), 20))
    at_slot = np.maximum(round_to(slips.avg_bet * 600 * uniform(rng, 0.05, 0.3, n) * scale, 20), 20)
    method = np.where(table, np.where(rng.random(n) < 0.85, CASH, CARD), np.array([CASH, TICKET, CARD])[pick(rng, np.array([0.7, 0.2, 0.1]), n)])
    amount = np.where(table, at_table, at_slot)
    # Card cash advances are capped by the bank; above that the player brings cash.
    method = np.where((method == CARD) & (amount > 5_000), CASH, method)
    # Whales mostly play on credit: a marker signed at the table instead of cash.
    marker = table & (people.arch[player] == WHALE) & (rng.random(n) < 0.75)
    credit = np.maximum(round_to(slips.avg_bet * uniform(rng, 20, 60, n), 1000), 5000)
    ts = np.maximum(slips.start - rng.integers(0, 4 * MINUTE, n), visits.check_in[slips.visit])
    return {
        "visit": slips.visit[take],
        "player": player[take],
        "prop": visits.prop[slips.visit][take],
        "ts": ts[take],
        "kind": np.where(marker, MARKER, BUY_IN)[take],
        "amount": np.where(marker, credit, amount)[take],
        "method": np.where(marker, NO_METHOD, method)[take],
    }


def _cash_outs(rng: np.random.Generator, people: People, visits: Visits, slips: Slips, buys: dict) -> dict:
    """What players take to the cage when they leave: what they brought minus what the casino won."""
    nv = len(visits)
    bought = np.bincount(buys["visit"], weights=buys["amount"], minlength=nv)
    won = np.bincount(slips.visit, weights=slips.casino_win, minlength=nv)
    tables = np.bincount(slips.visit, weights=slips.game != SLOTS, minlength=nv) > 0
    out = bought - won + rng.normal(0, 1, nv) * 0.05 * bought
    last_end = visits.check_in.copy()
    last = np.r_[slips.visit[1:] != slips.visit[:-1], True] if len(slips) else np.zeros(0, dtype=bool)
    last_end[slips.visit[last]] = (slips.start + slips.minutes * MINUTE)[last]
    ts = np.maximum(visits.check_out - rng.integers(2 * MINUTE, 15 * MINUTE, nv), (last_end + visits.check_out) // 2)
    ok = ~visits.open & (bought > 0) & (out >= 20) & (rng.random(nv) < 0.92)
    wire = (people.arch[visits.player] == WHALE) & (out >= 50_000) & (rng.random(nv) < 0.5)
    table_method = np.where(wire, WIRE, np.where(rng.random(nv) < 0.8, CASH, CHIPS))
    slot_method = np.where(rng.random(nv) < 0.6, TICKET, CASH)
    amount = np.where(tables, round_to(out, 5), np.round(out, 2))
    return {
        "player": visits.player[ok],
        "prop": visits.prop[ok],
        "ts": ts[ok],
        "kind": np.full(ok.sum(), CASH_OUT),
        "amount": amount[ok],
        "method": np.where(tables, table_method, slot_method)[ok],
    }


def _repayments(rng: np.random.Generator, buys: dict, win: Window) -> dict:
    """Markers are repaid by wire (sometimes cash) weeks later; recent ones are still outstanding."""
    m = buys["kind"] == MARKER
    k = int(m.sum())
    ts = buys["ts"][m] + rng.integers(3 * DAY, 45 * DAY, k)
    ok = ts <= win.end - MINUTE
    amount = np.where(rng.random(k) < 0.85, buys["amount"][m], round_to(buys["amount"][m] / 2, 1000))
    return {
        "player": buys["player"][m][ok],
        "prop": buys["prop"][m][ok],
        "ts": ts[ok],
        "kind": np.full(ok.sum(), REPAYMENT),
        "amount": amount[ok],
        "method": np.where(rng.random(k) < 0.8, WIRE, CASH)[ok],
    }


def make_transactions(
    rng: np.random.Generator, people: People, visits: Visits, slips: Slips, win: Window, ids: Counters
) -> Txns:
    """All transactions of the block, in (player, time) order with ids."""
    buys = _buy_ins(rng, people, visits, slips)
    parts = [buys, _cash_outs(rng, people, visits, slips, buys), _repayments(rng, buys, win)]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in ("player", "prop", "ts", "kind", "amount", "method")}
    order = np.lexsort((cols["kind"], cols["ts"], cols["player"]))
    cols = {k: v[order] for k, v in cols.items()}
    return Txns(**cols, number=ids.take("T", len(order)))


def txns_frame(people: People, txns: Txns) -> pl.DataFrame:
    """The `transactions` source rows of one block."""
    return frame(
        {
            "txn_id": fmt_ids("T", txns.number),
            "player_id": player_ids(people.first_no, txns.player),
            "property_id": labels(PROPERTIES, txns.prop),
            "ts": ts_array(txns.ts),
            "type": labels(TXN_TYPES, txns.kind),
            "amount": txns.amount.astype(float),
            "currency": labels(["USD"], np.zeros(len(txns.player))),
            "method": labels(METHODS, txns.method),
        },
        TXN_SCHEMA,
    )
