"""Data access of the segmentation and cohort pages, over the app's `DataStore` (no Panel here).

The segmentation dashboard recomputes labels on every threshold move, so it works on a metrics
frame read ONCE per snapshot (and scope) and kept in memory: a few dozen numeric columns per
player, about 0.3 GB at a million players, shared by every session of the process (the newest
`FRAMES_KEPT` frames are kept). A new build of the same day is noticed through the build id and
read again. Everything else goes through `DataStore.cached` like the rest of the app.

Writes (scheme versions, bulk tags) carry the session's actor and role and drop the cached reads
they change.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from datetime import date
from typing import Any, ClassVar

import polars as pl

from app import model as M
from app import queries_segments as Q
from app.data import DataStore
from metrics.segments import QuantileSummary, Versioned, quantile_summary

Scope = list[str] | None
TAG_CACHE = "segment_tags"


def _scope_key(scope: Scope) -> tuple[str, ...] | None:
    """A hashable, order-free form of a scope."""
    return None if scope is None else tuple(sorted(scope))


class SegmentData:
    """Cached reads and attributed writes of the segment and cohort pages (one per DataStore)."""

    FRAMES_KEPT = 3
    _of: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()
    _of_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, data: DataStore):
        self.data = data
        self._frames: OrderedDict[tuple, pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self.frame_reads = 0  # how many times a metrics frame was read from the store (tests, bench)

    @classmethod
    def of(cls, data: DataStore) -> SegmentData:
        """The segment data of a data store (one per store, shared by its sessions)."""
        with cls._of_lock:
            if data not in cls._of:
                cls._of[data] = cls(data)
            return cls._of[data]

    # -- snapshots ---------------------------------------------------------------------------------
    def dates(self) -> list[date]:
        """As-of dates of the segment snapshots, newest first (empty before the first build)."""
        if "player_segments" not in self.data.tables():
            return []
        return self.data.cached(("segment_dates",), Q.snapshot_dates)

    def _build_stamp(self) -> Any:
        """Changes whenever a build finishes (a rebuilt day must be read again)."""
        build = self.data.freshness().build
        return build["build_id"] if build else None

    def frame(self, as_of: date, columns: list[str], scope: Scope) -> pl.DataFrame:
        """The players in scope at `as_of` with the asked metric columns, name, status, best tier and
        properties (see `queries_segments.metrics_frame`); read once, then kept in memory."""
        key = (as_of, self._build_stamp(), tuple(columns), _scope_key(scope))
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        with self.data.store() as s:  # not through the TTL cache: this frame lives here
            frame = Q.metrics_frame(s, as_of, columns, scope)
        with self._lock:
            self.frame_reads += 1
            self._frames[key] = frame
            while len(self._frames) > self.FRAMES_KEPT:
                self._frames.popitem(last=False)
        return frame

    def summaries(self, as_of: date, columns: list[str]) -> dict[str, QuantileSummary]:
        """Population quantile summaries of metric columns at `as_of` (every player, like the build)."""
        stamp = self._build_stamp()

        def read(s: Any, column: str) -> QuantileSummary:
            return quantile_summary(Q.population_column(s, as_of, column), column)
        return {c: self.data.cached(("segment_summary", as_of, stamp, c), lambda s, c=c: read(s, c), ttl=3600.0)
                for c in columns}

    def stored_labels(self, as_of: date, columns: list[str], scope: Scope) -> pl.DataFrame:
        """The labels a build stored at `as_of` (player_id + label columns), players in scope."""
        return self.data.cached(("segment_labels", as_of, self._build_stamp(), tuple(columns), _scope_key(scope)),
                                lambda s: Q.stored_labels(s, as_of, columns, scope), self.data.aggregate_ttl)

    # -- tags --------------------------------------------------------------------------------------
    def tags(self, scope: Scope) -> pl.DataFrame:
        """Current tags of the players in scope: player_id, tag (display text), key (for comparing)."""
        return self.data.cached((TAG_CACHE, _scope_key(scope)), lambda s: current_tags(Q.tag_events(s, scope)))

    # -- schemes -----------------------------------------------------------------------------------
    def saved_schemes(self) -> dict[str, Versioned]:
        """The newest saved version of each scheme (what the next build uses), by name."""
        texts = self.data.cached(("saved_schemes",), Q.latest_schemes)
        return {name: Versioned.from_toml(text) for name, text in texts.items()}

    def history(self, name: str) -> pl.DataFrame:
        """Saved versions of a scheme, newest first."""
        return self.data.cached(("scheme_history", name), lambda s: Q.scheme_history(s, name))

    def save_scheme(self, scheme: Versioned, *, actor: str, role: str, reason: str) -> int:
        """Keep the scheme's thresholds as its next version, stamped with who, when and why; the
        next build uses it. Returns the version saved (the scheme object carries it afterwards)."""
        reason = (reason or "").strip()
        with self.data.store() as s:
            saved = s.scheme_versions(scheme.name)
            newest = int(saved["version"].max()) if saved.height else 0
            before = scheme.param.values()
            scheme.param.update(version=max(newest, scheme.version))
            scheme.release(saved_by=actor, reason=reason)
            try:
                s.save_scheme_version(name=scheme.name, kind=scheme.kind, version=scheme.version,
                                      toml=scheme.to_toml(), actor=actor, role=role, reason=reason)
            except BaseException:
                scheme.param.update({k: v for k, v in before.items() if k != "name"})
                raise
        self.data.invalidate(frozenset({"saved_schemes", "scheme_history"}))
        return scheme.version

    # -- bulk tag ----------------------------------------------------------------------------------
    def tag_players(self, rows: pl.DataFrame, tag: str, *, actor: str, role: str, scope: Scope) -> tuple[int, int]:
        """Tag every player of `rows` (player_id, property_id) who does not carry the tag yet (compared
        without case): one attributed `tag_added` event each. Returns (tagged, already tagged)."""
        key = M.tag_key(tag)
        with self.data.store() as s:  # fresh: the cached tags may be seconds old
            have = current_tags(Q.tag_events(s, scope))
        tagged = have.filter(pl.col("key") == key).select("player_id")
        todo = rows.select("player_id", "property_id").unique("player_id").join(tagged, on="player_id", how="anti")
        with self.data.store() as s:
            written = s.record_events_bulk(player_ids=todo, event_type="tag_added", actor=actor, role=role,
                                           attrs={"tag": tag}, source_ref=f"app:segments:{actor}")
            self.data.writes += 1
        self.data.invalidate(frozenset({TAG_CACHE, *self.data.WRITE_SENSITIVE}))
        return written, rows.select("player_id").n_unique() - todo.height

    # -- exports and cohorts -----------------------------------------------------------------------
    def contact_details(self, ids: list[str], scope: Scope) -> pl.DataFrame:
        """Name, e-mail, phone and enrollment of the given players in scope (not cached: exports)."""
        with self.data.store() as s:
            return Q.contact_details(s, ids, scope)

    def cohort_rollup(self, *, basis: str, by: str, revenue: str, scope: Scope, segment: str | None,
                      as_of: date | None) -> pl.DataFrame:
        """Cohort sizes, activity and last activity (see `queries_segments.cohort_rollup`), cached."""
        key = ("cohorts", basis, by, revenue, _scope_key(scope), segment, as_of, self._build_stamp())
        return self.data.cached(key, lambda s: Q.cohort_rollup(s, basis=basis, by=by, revenue=revenue, scope=scope,
                                                                 segment=segment, as_of=as_of),
                                self.data.aggregate_ttl)

    def model_inputs(self, columns: list[str], scope: Scope) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        """(events, players) in scope as LazyFrames, for the CLV and churn models (not cached)."""
        with self.data.store() as s:
            return Q.scoped_events(s, columns, scope).lazy(), Q.scoped_players(s, scope).lazy()

    def data_months(self, scope: Scope) -> tuple[date | None, date | None]:
        """(first month with activity, the running month of the newest event) in scope."""
        return self.data.cached(("cohort_months", _scope_key(scope)), lambda s: Q.data_months(s, scope),
                                self.data.aggregate_ttl)


def current_tags(events: pl.DataFrame) -> pl.DataFrame:
    """Current tags from tag events (seq order): the newest add or remove of each (player, tag key)
    decides, like the player page. Columns: player_id, tag, key."""
    if events.is_empty():
        return pl.DataFrame(schema={"player_id": pl.String, "tag": pl.String, "key": pl.String})
    keys = {t: M.tag_key(t) for t in events["tag"].drop_nulls().unique().to_list()}
    return (events.drop_nulls("tag")
            .with_columns(pl.col("tag").replace_strict(keys, return_dtype=pl.String).alias("key"))
            .filter(pl.col("key") != "")
            .group_by("player_id", "key").agg(pl.all().sort_by("seq").last())
            .filter(pl.col("event_type") == "tag_added")
            .select("player_id", pl.col("tag").str.strip_chars(), "key").sort("player_id", "key"))


def timed(fn, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """(fn(...), seconds): for the pages' "computed in" lines and the benchmark."""
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t
