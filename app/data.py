"""The app's data store: cached reads through the pipelines' store, never DuckDB directly.

One `DataStore` per database file per process (`DataStore.shared()`), holding one `Store` opened
lazily on first use and reused by every session. DuckDB lets one process write a file while no
other process holds it, and the app writes (notes, tags, tasks), so the connection is read-write:
stop the app before a CLI ingest into the same file (the CLI says so when the file is busy).

Reads are cached for a few seconds and aggregates (KPIs, shift reports, segment counts) for ten
minutes: while the app runs it holds the file, so only its own writes can change the data, and
every write through `record_event` drops the cached reads it can change, so the writer sees the
write at once and other sessions within `ttl`. A lock
serialises access to the one connection (Panel may serve sessions from several threads).

No Panel import here: notebooks and the state classes use this module as is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import polars as pl

from app import model as M
from app import queries as Q
from pipelines.access import Access, Principal
from pipelines.errors import UserError
from pipelines.store import Store, default_db_path

T = TypeVar("T")
MISSING = "No data yet: {path} does not exist. Run `player360 ingest` or `make demo`."
# whose scope the start-up warm-up computes (cached per scope: shared by every unscoped reader)
WARM_UP = Principal("warm-up", "admin", None)


class DataUnavailable(Exception):
    """The store cannot be read right now (missing file, file in use, ...): the message says why."""


@dataclass
class StoreStatus:
    """What the store holds, for the overview."""

    path: Path
    available: bool
    message: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    by_source: pl.DataFrame = field(default_factory=pl.DataFrame)
    batches: pl.DataFrame = field(default_factory=pl.DataFrame)
    read_at: float = 0.0


@dataclass
class Freshness:
    """How current the data is: newest event, newest derived build, events since that build."""

    newest_event: datetime | None = None
    newest_recorded: datetime | None = None
    events: int = 0
    build: dict[str, Any] | None = None
    events_since_build: int | None = None

    @property
    def as_of(self) -> date | None:
        """The as_of date of the newest derived snapshot."""
        return self.build["as_of"] if self.build else None

    @property
    def stale(self) -> bool:
        """Whether events arrived after the newest build (its metrics miss them)."""
        return bool(self.events_since_build)


@dataclass
class PlayerData:
    """Everything the player page shows about one player, read in one go."""

    requested_id: str
    player_id: str
    found: bool
    profile: dict[str, Any] | None = None
    properties: pl.DataFrame = field(default_factory=pl.DataFrame)
    metrics: dict[str, Any] | None = None
    segments: dict[str, Any] | None = None
    insights: pl.DataFrame = field(default_factory=pl.DataFrame)
    events: pl.DataFrame = field(default_factory=pl.DataFrame)  # every version, newest first
    truncated: bool = False
    freshness: Freshness = field(default_factory=Freshness)
    read_at: datetime = field(default_factory=lambda: datetime.now().replace(microsecond=0))
    seconds: float = 0.0

    @cached_property
    def current(self) -> pl.DataFrame:
        """The current version of each event (corrections applied), newest first."""
        return M.current(self.events)

    @property
    def trend_end(self) -> date:
        """The last day trends cover: the metrics' as_of, else the newest event's day, else today."""
        if self.metrics and self.metrics.get("as_of"):
            return self.metrics["as_of"]
        return (self.freshness.newest_event or datetime.now()).date()

    @property
    def name(self) -> str:
        """First and last name (or the id)."""
        p = self.profile or {}
        full = " ".join(x for x in (p.get("first_name"), p.get("last_name")) if x)
        return full or p.get("pseudonym") or self.player_id


def by_source(summary: pl.DataFrame) -> pl.DataFrame:
    """Events stored and the newest event time per source and type (from the event summary)."""
    if summary.is_empty():
        return pl.DataFrame()
    return (summary.group_by("source", "event_type")
            .agg(pl.col("events").sum(), pl.col("newest_ts").max().alias("newest"))
            .sort("source", "event_type"))


class DataStore:
    """Cached reads and attributed writes over one store file, shared by the sessions of a process."""

    _shared: ClassVar[dict[Path, DataStore]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()
    EVENT_LIMIT = 100_000  # a player's events read at most (newest first)

    def __init__(self, path: Path | str | None = None, ttl: float = 10.0, aggregate_ttl: float = 600.0,
                 retry_after: float = 5.0):
        self.path = Path(path) if path else default_db_path()
        self.ttl = ttl
        self.aggregate_ttl = aggregate_ttl
        self.retry_after = retry_after
        self._store: Store | None = None
        self._lock = threading.RLock()
        self._cache: dict[tuple, tuple[float, Any]] = {}
        self._running: dict[tuple, threading.Event] = {}  # apart reads under way, by cache key
        self._failed: tuple[float, str] | None = None
        self._status: StoreStatus | None = None
        self.writes = 0

    @classmethod
    def shared(cls, path: Path | str | None = None) -> DataStore:
        """The process-wide data store of a file (default: $PLAYER360_DB or data/player360.duckdb)."""
        key = (Path(path) if path else default_db_path()).resolve()
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(key)
            return cls._shared[key]

    # -- connection ----------------------------------------------------------------------------------
    @contextmanager
    def store(self) -> Iterator[Store]:
        """The open store, under the lock; DataUnavailable when it cannot be opened."""
        with self._lock:
            if self._store is None:
                self._open()
            yield self._store

    def _open(self) -> None:
        """Open the store, or raise DataUnavailable (remembered for `retry_after` seconds)."""
        if self._failed and time.monotonic() - self._failed[0] < self.retry_after:
            raise DataUnavailable(self._failed[1])
        if not self.path.exists():
            self._failed = (time.monotonic(), MISSING.format(path=self.path))
            raise DataUnavailable(self._failed[1])
        try:
            self._store = Store(self.path)
            self._failed = None
        except UserError as exc:
            self._failed = (time.monotonic(), str(exc))
            raise DataUnavailable(str(exc)) from None

    def close(self) -> None:
        """Close the connection (the next read opens it again)."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            self._cache.clear()

    def available(self) -> tuple[bool, str]:
        """(whether the store can be read, why not)."""
        try:
            with self.store():
                return True, ""
        except DataUnavailable as exc:
            return False, str(exc)

    # -- cache -----------------------------------------------------------------------------------------
    def cached(self, who: Principal, key: tuple, fn: Callable[[Access], T], ttl: float | None = None,
               per_scope: bool = False, apart: bool = False) -> T:
        """`fn(access)` for the principal `who`, cached under `key` and who's scope for `ttl` seconds
        (default: the data store's ttl). Every read of the app goes through here: `fn` only ever
        gets the principal's `Access`, never the store. `per_scope`: the answer depends on the
        property scope only (no personal fields, notes or compliance entries), so every user with
        that scope shares it. `apart`: a slow read (seconds), run on a connection of its own outside
        the store's lock, so that other sessions' reads (a player page) do not wait for it; callers
        asking for an apart read already under way wait for its answer instead of running it again
        (the first overview after a start used to scan a year of events twice: the warm-up's and its own)."""
        ttl = self.ttl if ttl is None else ttl
        whose = ("scope", who.properties, bool(who.policy.pages)) if per_scope else who.key
        key = (key[0], whose, *key[1:])
        while True:
            now = time.monotonic()
            with self._lock:
                hit = self._cache.get(key)
                if hit and now - hit[0] < ttl:
                    return hit[1]
                if not apart:
                    with self.store() as store:
                        value = fn(Access(store, who))
                    return self._keep(key, now, value)
                running = self._running.get(key)
                if running is None:
                    with self.store() as store:
                        reader = store.cursor()
                    done = self._running[key] = threading.Event()
                    break
            running.wait()  # then take its answer from the cache (or run it, had it failed)
        try:
            value = fn(Access(reader, who))
            with self._lock:
                return self._keep(key, now, value)
        finally:
            reader.close()
            with self._lock:
                del self._running[key]
            done.set()

    def _keep(self, key: tuple, at: float, value: T) -> T:
        """Cache a value (under the lock)."""
        self._cache[key] = (at, value)
        if len(self._cache) > 512:  # drop the oldest entries
            for old in sorted(self._cache, key=lambda k: self._cache[k][0])[:128]:
                del self._cache[old]
        return value

    # reads an app write (note, tag, task: an event of source 'app') can change; KPIs, open visits,
    # search results and the data clock read ingested events only and stay cached
    WRITE_SENSITIVE = frozenset({"player", "freshness", "shift"})

    def invalidate(self, only: frozenset[str] | None = None) -> None:
        """Forget cached reads: all of them, or those whose key starts with one of `only`."""
        with self._lock:
            if only is None:
                self._cache.clear()
            else:
                for key in [k for k in self._cache if k[0] in only]:
                    del self._cache[key]
            self._status = None

    # -- who is signed in --------------------------------------------------------------------------------
    def user(self, username: str | None) -> dict[str, Any] | None:
        """The `users` row of a signed-in user (without its hash), or None: role and scope always
        come from here, never from the browser."""
        if not username:
            return None
        with self.store() as s:
            row = s.user(username)
        return {k: v for k, v in row.items() if k != "password_hash"} if row else None

    # -- overview --------------------------------------------------------------------------------------
    def status(self, refresh: bool = False) -> StoreStatus:
        """Counts per table, events per source and recent batches (cached)."""
        now = time.monotonic()
        if refresh or self._status is None or now - self._status.read_at > self.ttl:
            try:
                with self.store() as s:
                    self._status = StoreStatus(self.path, True, "", s.counts(), by_source(s.event_summary()),
                                               s.recent_batches(10), now)
            except DataUnavailable as exc:
                self._status = StoreStatus(self.path, False, str(exc), read_at=now)
        return self._status

    def freshness(self, who: Principal) -> Freshness:
        """Newest event, newest build and how many events arrived since, in who's scope (cached)."""
        return self.cached(who, ("freshness",), self._read_freshness)

    def properties(self, who: Principal) -> list[str]:
        """Property ids in who's scope (cached)."""
        return self.cached(who, ("properties",), Q.properties, self.aggregate_ttl)

    def kpis(self, who: Principal, days: int = 30, buckets: int = 12) -> M.Kpis:
        """The KPI strip: `buckets` periods of `days` days ending with the newest event's day."""
        def read(s: Access) -> M.Kpis:
            newest = s.data_clock()["newest_ts"]  # the newest ingested event in scope
            if newest is None:
                return M.Kpis(None, days, pl.DataFrame(), pl.DataFrame(), "No events yet.")
            end = datetime.combine(newest.date() + timedelta(days=1), datetime.min.time())
            start = end - timedelta(days=days * buckets)
            trend = Q.kpi_buckets(s, start, days, buckets).with_columns(
                (pl.lit(start) + pl.duration(days=pl.col("bucket") * days)).alias("start"))
            return M.Kpis(end, days, trend, Q.at_risk_by_snapshot(s))
        return self.cached(who, ("kpis", days, buckets), read, self.aggregate_ttl, per_scope=True, apart=True)

    def warm(self, periods: tuple[int, ...] = (30, 7, 90)) -> threading.Thread:
        """Compute the every-property KPI strips in a background thread (each scans a year or more
        of events: seconds at 20M), so that the first overview after a start finds them cached."""
        def run() -> None:
            started = time.perf_counter()
            for days in periods:
                try:
                    self.kpis(WARM_UP, days)
                except DataUnavailable:
                    return
            # benchmarks/bench_app.py waits for this line: page loads measured while the warm-up
            # scans would measure the warm-up
            logging.getLogger("player360").info("warm-up done in %.1f s", time.perf_counter() - started)
        thread = threading.Thread(target=run, name="player360-warm-up", daemon=True)
        thread.start()
        return thread

    # -- players ---------------------------------------------------------------------------------------
    def search(self, who: Principal, text: str, limit: int = 20) -> pl.DataFrame:
        """Players matching a search text (id, name, e-mail, phone, card; partial, any case)."""
        text = (text or "").strip()
        if not text:
            return pl.DataFrame()
        return self.cached(who, ("search", text.casefold(), limit), lambda s: Q.search_players(s, text, limit))

    def player(self, who: Principal, player_id: str) -> PlayerData:
        """One player's profile, properties, newest metrics / segments / insights and events, as
        `who` may see them (a player outside who's scope is not found)."""
        return self.cached(who, ("player", player_id), lambda s: self._read_player(s, player_id))

    def _read_player(self, s: Access, requested: str) -> PlayerData:
        t0 = time.perf_counter()
        view = s.player(requested, self.EVENT_LIMIT)
        if view is None:
            return PlayerData(requested, requested, False, freshness=self.freshness(s.principal))
        data = PlayerData(
            requested, view.player_id, True, view.profile, view.properties, view.metrics, view.segments,
            view.insights, view.events, view.events.height >= self.EVENT_LIMIT, self.freshness(s.principal),
        )
        data.seconds = time.perf_counter() - t0
        return data

    @staticmethod
    def _read_freshness(s: Access) -> Freshness:
        s.store.fold_event_stats_if_long()  # after an upgrade, or many app writes since the build
        build = Q.latest_build(s)
        mark = s.data_clock(since_seq=build["max_seq"] if build else None)
        return Freshness(mark["newest_ts"], mark["newest_recorded"], mark["events"], build, mark["events_after"])

    def open_visits(self, who: Principal) -> pl.DataFrame:
        """Every open visit in who's scope, newest first, with the player's name (short cache)."""
        def read(s: Access) -> pl.DataFrame:
            visits = Q.open_visits(s)
            if visits.is_empty():
                return visits
            return visits.join(Q.names(s, visits["player_id"].unique().to_list()).select("player_id", "name", "tier"),
                               on="player_id", how="left")
        return self.cached(who, ("open_visits",), read)

    # -- shift report ----------------------------------------------------------------------------------
    def data_clock(self, who: Principal, property_id: str | None = None) -> datetime | None:
        """The newest event time (at a property): 'now' as far as the data knows."""
        return self.cached(who, ("clock", property_id), lambda s: Q.newest_event_at(s, property_id))

    def shift_snapshot(self, who: Principal, property_id: str, start: datetime, end: datetime) -> M.ShiftSnapshot:
        """The shift report of a property and window, shared by every view that shows it (empty
        for a property outside who's scope)."""
        return self.cached(who, ("shift", property_id, start, end),
                           lambda s: self._read_shift(s, property_id, start, end), self.aggregate_ttl, apart=True)

    def _read_shift(self, s: Access, property_id: str, start: datetime, end: datetime) -> M.ShiftSnapshot:
        visits = Q.visits_overlapping(s, property_id, start, end)
        events = Q.shift_events(s, property_id, start, end)
        collab = M.collab_state(Q.collaboration_events(s))
        ids = set(visits["player_id"].to_list()) | set(events["player_id"].to_list()) | set(collab)
        people = Q.names(s, sorted(ids)) if ids else pl.DataFrame()
        segments = Q.segments_for(s, sorted(ids)) if ids else pl.DataFrame()
        insights = Q.insights_for(s, sorted(ids)) if ids else pl.DataFrame()
        excluded = set()
        if Q.table_exists(s, "player_metrics") and ids:
            among, params = Q.in_ids(sorted(ids))
            excluded = set(s.sql(f"SELECT player_id FROM s_derived('player_metrics') WHERE as_of = {Q.NEWEST_AS_OF} "
                                 f"AND exclusion_active AND player_id IN {among}", params)["player_id"].to_list())
        if people.height:
            excluded |= {r["player_id"] for r in people.iter_rows(named=True) if "self_excluded" in (r["flags"] or [])}
        return M.build_shift(property_id, start, end, visits=visits, events=events, people=people,
                             segments=segments, insights=insights, collab=collab, exclusions=excluded,
                             data_newest=Q.newest_event_at(s, property_id), clock=Q.newest_event_at(s))

    # -- writes ----------------------------------------------------------------------------------------
    def record_event(self, who: Principal, *, action: str, **kwargs: Any) -> str:
        """Append one event (note, tag, task, ...) written by `who` if who's role may perform
        `action` on this player, and drop the cache: see `pipelines.access.Access.record_event`."""
        with self.store() as s:
            event_id = Access(s, who).record_event(action=action, **kwargs)
            self.writes += 1
            self.invalidate(self.WRITE_SENSITIVE)
        return event_id

    def audit(self, who: Principal, action: str, **kwargs: Any) -> None:
        """Record an action of `who` (export, reveal, ...) in the audit log."""
        with self.store() as s:
            Access(s, who).audit(action, **kwargs)

    def reveal(self, who: Principal, player_id: str, field_name: str) -> Any:
        """A masked personal field of a player, revealed to `who` (audited)."""
        with self.store() as s:
            return Access(s, who).reveal(player_id, field_name)

    def access(self, who: Principal) -> Iterator[Access]:
        """`with data.access(who) as acc:` the principal's Access under the connection lock, for
        reads that are not cached (exports, audit views)."""
        return self._access(who)

    @contextmanager
    def _access(self, who: Principal) -> Iterator[Access]:
        with self.store() as s:
            yield Access(s, who)
