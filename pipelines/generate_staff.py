"""What staff record about players: compliance entries (MTL, CTR, incidents, exclusions) and notes."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.generate_common import (
    DAY, HOUR, MINUTE, PROPERTIES, Counters, Window, fmt_ids, frame, labels, pick, player_ids, ts_array, uniform,
)
from pipelines.generate_money import CASH, CASH_OUT, Txns
from pipelines.generate_names import EXCLUSIONS, INCIDENTS, NOTE_TEXTS, STAFF
from pipelines.generate_people import COOLING, DORMANT, VOLATILE, WHALE, People
from pipelines.generate_visits import Exclusions, Visits

COMPLIANCE_SCHEMA = {
    "entry_id": pl.String, "player_id": pl.String, "property_id": pl.String, "ts": pl.Datetime("us"),
    "type": pl.String, "amount": pl.Float64, "direction": pl.String, "description": pl.String,
    "severity": pl.String,
}
NOTE_SCHEMA = {
    "note_id": pl.String, "player_id": pl.String, "property_id": pl.String, "ts": pl.Datetime("us"),
    "author": pl.String, "author_role": pl.String, "kind": pl.String, "text": pl.String, "visibility": pl.String,
}
COMPLIANCE_TYPES = np.array(["mtl", "ctr", "incident", "exclusion", "exclusion_lifted"])
MTL, CTR, INCIDENT, EXCLUSION, LIFTED = range(len(COMPLIANCE_TYPES))
SEVERITIES = np.array(["low", "medium", "high"])
DIRECTIONS = np.array(["in", "out"])
MTL_THRESHOLD, CTR_THRESHOLD = 3_000, 10_000
NOTE_KINDS = np.array(["note", "dispute", "service"])
TEXT_GROUPS = ("note", "dispute", "service", "compliance", "outreach")
ROLES = np.array(["host", "shift_manager"])
VISIBILITY = np.array(["all", "managers", "compliance"])


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack row sets column by column."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _entries(player, prop, ts, kind, amount=None, direction=None, text=None, severity=None) -> dict:
    """Compliance rows; `text` indexes the description list `DESCRIPTIONS`."""
    n = len(player)
    return {
        "player": player, "prop": prop, "ts": ts, "kind": np.full(n, kind),
        "amount": np.full(n, np.nan) if amount is None else amount,
        "direction": np.full(n, -1) if direction is None else direction,
        "text": np.zeros(n, dtype=np.int64) if text is None else text,
        "severity": np.full(n, -1) if severity is None else severity,
    }


DESCRIPTIONS = np.concatenate([
    ["Multiple transaction log: cash in", "Multiple transaction log: cash out",
     "Currency transaction report: cash in over 10,000 in one gaming day",
     "Currency transaction report: cash out over 10,000 in one gaming day",
     "Exclusion lifted after review."],
    INCIDENTS, EXCLUSIONS,
])
_INCIDENT_TEXT, _EXCLUSION_TEXT = 5, 5 + len(INCIDENTS)


def _cash_reports(txns: Txns, win: Window) -> list[dict]:
    """MTL rows for cash moves of 3,000 or more, CTR rows for more than 10,000 per gaming day and direction."""
    cash = np.flatnonzero(txns.method == CASH)
    out = (txns.kind[cash] == CASH_OUT).astype(np.int64)
    player, prop, ts, amount = txns.player[cash], txns.prop[cash], txns.ts[cash], txns.amount[cash]
    big = amount >= MTL_THRESHOLD
    mtl = _entries(player[big], prop[big], np.minimum(ts[big] + 2 * MINUTE, win.end), MTL, amount[big], out[big], out[big])
    day = win.day_of(ts)
    order = np.lexsort((ts, out, day, player))
    key = np.stack([player, day, out])[:, order]
    first = np.r_[True, (key[:, 1:] != key[:, :-1]).any(axis=0)] if len(order) else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(order)] - 1
    total = np.add.reduceat(amount[order], starts) if len(starts) else np.zeros(0)
    last = order[ends]
    over = total > CTR_THRESHOLD
    filed = np.minimum(ts[last][over] + 30 * MINUTE, win.end)
    ctr = _entries(player[last][over], prop[last][over], filed, CTR, np.round(total[over], 2), out[last][over], 2 + out[last][over])
    return [mtl, ctr]


def _incidents(rng: np.random.Generator, people: People, visits: Visits, excl: Exclusions, win: Window) -> list[dict]:
    """Floor incidents during visits, exclusions (bans follow an incident) and lifted exclusions."""
    hit = rng.random(len(visits)) < 0.002
    k = int(hit.sum())
    stop = np.minimum(visits.check_out[hit], win.end)
    ts = visits.check_in[hit] + (rng.random(k) * (stop - visits.check_in[hit])).astype(np.int64)
    severity = pick(rng, np.array([0.6, 0.3, 0.1]), k)
    floor = _entries(visits.player[hit], visits.prop[hit], ts, INCIDENT, text=_INCIDENT_TEXT + rng.integers(0, len(INCIDENTS), k), severity=severity)
    b = excl.banned
    nb = int(b.sum())
    cause = _entries(excl.player[b], people.home[excl.player[b]], excl.at[b] - rng.integers(5 * MINUTE, HOUR, nb),
                     INCIDENT, text=_INCIDENT_TEXT + rng.integers(0, len(INCIDENTS), nb), severity=np.full(nb, 2))
    why = _EXCLUSION_TEXT + np.where(b, 2, 0) + rng.integers(0, 2, len(b))
    barred = _entries(excl.player, people.home[excl.player], excl.at, EXCLUSION, text=why, severity=np.where(b, 2, 1))
    lift = excl.lifted >= 0
    lifted = _entries(excl.player[lift], people.home[excl.player[lift]], excl.lifted[lift], LIFTED,
                      text=np.full(lift.sum(), 4), severity=np.zeros(lift.sum(), dtype=np.int64))
    return [floor, cause, barred, lifted]


def make_compliance(
    rng: np.random.Generator, people: People, visits: Visits, txns: Txns, excl: Exclusions, win: Window, ids: Counters
) -> dict[str, np.ndarray]:
    """Every compliance row of the block, sorted by (player, ts), with entry numbers."""
    rows = _concat(_cash_reports(txns, win) + _incidents(rng, people, visits, excl, win))
    order = np.lexsort((rows["kind"], rows["ts"], rows["player"]))
    rows = {k: v[order] for k, v in rows.items()}
    rows["number"] = ids.take("C", len(order))
    return rows


def compliance_frame(people: People, rows: dict[str, np.ndarray]) -> pl.DataFrame:
    """The `compliance` source rows of one block."""
    return frame(
        {
            "entry_id": fmt_ids("C", rows["number"]),
            "player_id": player_ids(people.first_no, rows["player"]),
            "property_id": labels(PROPERTIES, rows["prop"]),
            "ts": ts_array(rows["ts"]),
            "type": labels(COMPLIANCE_TYPES, rows["kind"]),
            "amount": rows["amount"],
            "direction": labels(DIRECTIONS, rows["direction"]),
            "description": labels(DESCRIPTIONS, rows["text"]),
            "severity": labels(SEVERITIES, rows["severity"]),
        },
        COMPLIANCE_SCHEMA,
    )


def _notes(player, prop, ts, group, role, visibility) -> dict:
    """Note rows; `group` indexes `TEXT_GROUPS`."""
    return {"player": player, "prop": prop, "ts": ts, "group": group, "role": role, "visibility": visibility}


def make_notes(
    rng: np.random.Generator, people: People, visits: Visits, compliance: dict, win: Window, ids: Counters
) -> dict[str, np.ndarray]:
    """Host and shift-manager notes: during visits, outreach to lapsing players, and cash reviews."""
    nv = len(visits)
    arch = people.arch[visits.player]
    boost = np.where(arch == WHALE, 8.0, 1.0)
    stop = np.minimum(visits.check_out, win.end)
    during = visits.check_in + (uniform(rng, 0.1, 0.9, nv) * (stop - visits.check_in)).astype(np.int64)
    parts = []
    for group, rate, role_p, managers in ((0, 0.02, 0.2, 0.05), (1, 0.004, 0.8, 0.35), (2, 0.012, 0.2, 0.0)):
        p = rate * boost * np.where((group == 1) & (arch == VOLATILE), 3.0, 1.0)
        hit = rng.random(nv) < p
        k = int(hit.sum())
        parts.append(_notes(visits.player[hit], visits.prop[hit], during[hit], np.full(k, group),
                            (rng.random(k) < role_p).astype(np.int64), (rng.random(k) < managers).astype(np.int64)))
    lapsing = np.flatnonzero(np.isin(people.arch, [COOLING, DORMANT]) & (rng.random(people.n) < 0.3) & ~people.deceased)
    ts = win.end - rng.integers(DAY, 60 * DAY, len(lapsing))
    lapsing, ts = lapsing[ts > people.enroll[lapsing]], ts[ts > people.enroll[lapsing]]
    k = len(lapsing)
    parts.append(_notes(lapsing, people.home[lapsing], ts, np.full(k, 4), np.zeros(k, np.int64), np.zeros(k, np.int64)))
    ctr = np.flatnonzero((compliance["kind"] == CTR) & (rng.random(len(compliance["kind"])) < 0.1))
    k = len(ctr)
    parts.append(_notes(compliance["player"][ctr], compliance["prop"][ctr], compliance["ts"][ctr], np.full(k, 3),
                        np.ones(k, np.int64), np.full(k, 2)))
    rows = _concat(parts)
    order = np.lexsort((rows["ts"], rows["player"]))
    rows = {key: v[order] for key, v in rows.items()}
    rows["number"] = ids.take("N", len(order))
    rows["pick"] = rng.integers(0, 1 << 30, len(order))
    return rows


def notes_frame(people: People, rows: dict[str, np.ndarray]) -> pl.DataFrame:
    """The `notes` source rows of one block."""
    texts = [NOTE_TEXTS[g] for g in TEXT_GROUPS]
    sizes = np.array([len(t) for t in texts])
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    text = offsets[rows["group"]] + rows["pick"] % sizes[rows["group"]]
    kind = np.array([0, 1, 2, 0, 0])[rows["group"]]
    staff = np.stack([STAFF["host"], STAFF["shift_manager"]])
    author = np.ravel_multi_index((rows["role"], rows["prop"], rows["pick"] % staff.shape[2]), staff.shape)
    return frame(
        {
            "note_id": fmt_ids("N", rows["number"]),
            "player_id": player_ids(people.first_no, rows["player"]),
            "property_id": labels(PROPERTIES, rows["prop"]),
            "ts": ts_array(rows["ts"]),
            "author": labels(staff.ravel(), author),
            "author_role": labels(ROLES, rows["role"]),
            "kind": labels(NOTE_KINDS, kind),
            "text": labels(np.concatenate(texts), text),
            "visibility": labels(VISIBILITY, rows["visibility"]),
        },
        NOTE_SCHEMA,
    )
