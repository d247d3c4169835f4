"""Demo data generator: the raw source files of a three-property casino group (see docs/sources.md).

Players are generated in blocks of `BLOCK` with vectorised NumPy and appended to the output files, so
memory stays bounded at any size. Each block has its own random stream (seed, block number), and ids
are numbered in block order, so the same arguments always give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.generate_campaigns import Campaign, contacts, responses, schedule
from pipelines.generate_common import DAY, MINUTE, Counters, Window
from pipelines.generate_identity import (
    ACTIVE, BANNED, DECEASED, INACTIVE, PLAYER_SCHEMA, flags_of, make_identity, players_frame, tier_of,
)
from pipelines.generate_io import DATETIME_FORMAT, SourceWriter, dirty_rows
from pipelines.generate_loyalty import LOYALTY_SCHEMA, ledger_frame, make_ledger
from pipelines.generate_money import TXN_SCHEMA, make_transactions, txns_frame
from pipelines.generate_people import People, make_people
from pipelines.generate_play import SLIP_SCHEMA, Slips, make_slips, slips_frame
from pipelines.generate_staff import COMPLIANCE_SCHEMA, NOTE_SCHEMA, compliance_frame, make_compliance, make_notes, notes_frame
from pipelines.generate_visits import (
    VISIT_SCHEMA, Exclusions, Visits, add_visits, base_visits, excluded_at, exclusions, finalize, on_days, visits_frame,
)

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "players": PLAYER_SCHEMA,
    "visits": VISIT_SCHEMA,
    "rating_slips": SLIP_SCHEMA,
    "transactions": TXN_SCHEMA,
    "loyalty": LOYALTY_SCHEMA,
    "notes": NOTE_SCHEMA,
    "compliance": COMPLIANCE_SCHEMA,
}
SOURCES = tuple(SCHEMAS)
FORMATS = ("csv", "parquet")
BLOCK = 50_000  # players per block: part of the output's identity, so never derived from the arguments
_EPOCH = datetime(1970, 1, 1)

Progress = Callable[[str, float], None]


def generate(
    out_dir: Path,
    players: int = 5000,
    days: int = 730,
    seed: int = 42,
    end: datetime | None = None,
    fmt: str = "csv",
    progress: Progress | None = None,
    *,
    dirty: bool = False,
) -> dict[str, Path]:
    """Write one file per source into `out_dir` and return {source: path}; nothing is later than `end`."""
    _check(players, days, fmt, dirty)
    end = _end_of(end)
    win = Window.of(int((end - _EPOCH).total_seconds()), days)
    plan = schedule(seed, win)
    ids = Counters()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    writers = {s: SourceWriter(out_dir / f"{s}.{fmt}", SCHEMAS[s], fmt) for s in SOURCES}
    try:
        for number, first in enumerate(range(0, players, BLOCK)):
            n = min(BLOCK, players - first)
            rng = np.random.default_rng([seed, number])
            for source, df in _block(rng, first + 1, n, win, plan, ids).items():
                writers[source].write(df)
            if progress is not None:
                progress("generate", (first + n) / players)
        if dirty:
            for source, rows in dirty_rows(players, end.strftime(DATETIME_FORMAT)).items():
                writers[source].append_raw(rows)
        paths = {s: w.close() for s, w in writers.items()}
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    if progress is not None:
        progress("done", 1.0)
    return paths


def _check(players: int, days: int, fmt: str, dirty: bool) -> None:
    """Refuse arguments that cannot give a meaningful data set."""
    if players < 1:
        raise ValueError(f"players must be at least 1, got {players}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if dirty and fmt != "csv":
        raise ValueError("dirty rows can only be written to CSV (Parquet columns are typed)")


def _end_of(end: datetime | None) -> datetime:
    """The window end as naive venue-local time: now truncated to the hour by default."""
    if end is None:
        return datetime.now().replace(minute=0, second=0, microsecond=0)
    if end.tzinfo is not None:
        end = end.astimezone().replace(tzinfo=None)
    return end.replace(microsecond=0)


def _block(
    rng: np.random.Generator, first_no: int, n: int, win: Window, plan: list[Campaign], ids: Counters
) -> dict[str, pl.DataFrame]:
    """Generate every source's rows for players `first_no .. first_no + n - 1`."""
    people = make_people(rng, first_no, n, win)
    raw = base_visits(rng, people, win)
    excl = exclusions(rng, people, raw, win)
    got = contacts(rng, people, raw, excl, plan, win)
    raw = add_visits(raw, *on_days(rng, people, win, *responses(rng, got, plan, win)), win)
    visits = finalize(rng, people, raw, excl, win, ids)
    slips = make_slips(rng, people, visits, win, ids)
    txns = make_transactions(rng, people, visits, slips, win, ids)
    ledger = make_ledger(rng, people, visits, slips, got, plan, win, ids)
    compliance = make_compliance(rng, people, visits, txns, excl, win, ids)
    notes = make_notes(rng, people, visits, compliance, win, ids)
    return {
        "players": _players(rng, people, visits, slips, excl, win),
        "visits": visits_frame(people, visits),
        "rating_slips": slips_frame(people, visits, slips),
        "transactions": txns_frame(people, txns),
        "loyalty": ledger_frame(people, ledger, plan),
        "notes": notes_frame(people, notes),
        "compliance": compliance_frame(people, compliance),
    }


def _players(
    rng: np.random.Generator, people: People, visits: Visits, slips: Slips, excl: Exclusions, win: Window
) -> pl.DataFrame:
    """Player master rows: home enrollment plus one row per other property the player has played at."""
    n = people.n
    identity = make_identity(rng, people, win.end // DAY)
    away = np.flatnonzero(visits.prop != people.home[visits.player])
    key = visits.player[away] * 3 + visits.prop[away]
    _, first = np.unique(key, return_index=True)
    first = away[first]  # visits are in time order per player, so this is the first visit there
    player = np.concatenate([np.arange(n), visits.player[first]])
    prop = np.concatenate([people.home, visits.prop[first]])
    enrolled = np.concatenate([people.enroll, visits.check_in[first] - rng.integers(3 * MINUTE, 25 * MINUTE, len(first))])
    order = np.lexsort((enrolled, player))
    player, prop, enrolled = player[order], prop[order], enrolled[order]
    recent = slips.start >= win.end - 365 * DAY
    slip_key = visits.player[slips.visit] * 3 + visits.prop[slips.visit]
    theo = np.bincount(slip_key[recent], weights=slips.theo[recent], minlength=3 * n)
    status, self_excluded = _status(people, visits, excl, win)
    rows = {"player": player, "prop": prop, "enrolled_at": enrolled, "tier": tier_of(theo[player * 3 + prop], people.arch[player])}
    return players_frame(people, identity, rows, status, flags_of(rng, people, self_excluded))


def _status(people: People, visits: Visits, excl: Exclusions, win: Window) -> tuple[np.ndarray, np.ndarray]:
    """Player status (index into STATUSES) at the window end, and who is currently self-excluded."""
    n = people.n
    last = np.searchsorted(visits.player, np.arange(n), side="right") - 1
    seen = (last >= 0) & (visits.player[np.maximum(last, 0)] == np.arange(n)) if len(visits) else np.zeros(n, bool)
    last_in = np.where(seen, visits.check_in[np.maximum(last, 0)], win.start - DAY)
    inactive = (last_in < win.end - 365 * DAY) & (people.enroll < win.end - 365 * DAY)
    barred = excluded_at(excl, n, win.end)
    self_excluded = np.zeros(n, dtype=bool)
    self_excluded[excl.player] = ~excl.banned
    self_excluded &= barred
    status = np.where(inactive, INACTIVE, ACTIVE)
    status = np.where(barred, BANNED, status)
    return np.where(people.deceased, DECEASED, status), self_excluded
