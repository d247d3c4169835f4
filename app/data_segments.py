"""Data access of the segmentation and cohort pages, over the app's `DataStore` (no Panel here).

Every read goes through the access layer with the session's principal (`DataStore.cached` or
`DataStore.access`), so scope and masking apply to everything these pages show or export.

The segmentation dashboard recomputes labels on every threshold move, so it works on a metrics
frame read ONCE per snapshot and kept in memory: a few dozen numeric columns per player, about
0.3 GB at a million players. Principals who see the same rows (same properties, same masking)
share one frame; the newest `FRAMES_KEPT` frames are kept. A new build of the same day is noticed
through the build id and read again.

Writes (scheme versions, bulk tags) check the role's permission, carry the session's actor and
role, are audited, and drop the cached reads they change. Exports are audited.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from datetime import date
from typing import Any, ClassVar

import polars as pl

from app import model as M
from app import queries_segments as Q
from app.data import DataStore
from metrics.segments import QuantileSummary, Versioned, quantile_summary
from pipelines.access import AccessDenied, Principal

TAG_CACHE = "segment_tags"


def rows_key(who: Principal) -> tuple:
    """Principals with equal keys see the same rows of these pages (scope and masking)."""
    return (who.properties, who.policy.pii, bool(who.policy.pages))


class SegmentData:
    """Cached reads and attributed writes of the segment and cohort pages (one per DataStore)."""

    FRAMES_KEPT = 3
    _of: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()
    _of_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, data: DataStore):
        self.data = data
        self._frames: OrderedDict[tuple, pl.DataFrame] = OrderedDict()
        self._summaries: dict[tuple, tuple[pl.DataFrame, QuantileSummary]] = {}
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
    def dates(self, who: Principal) -> list[date]:
        """As-of dates of the segment snapshots, newest first (empty before the first build)."""
        return self.data.cached(who, ("segment_dates",), Q.snapshot_dates)

    def _build_stamp(self, who: Principal) -> Any:
        """Changes whenever a build finishes (a rebuilt day must be read again)."""
        build = self.data.freshness(who).build
        return build["build_id"] if build else None

    def frame(self, who: Principal, as_of: date, columns: list[str]) -> pl.DataFrame:
        """The players `who` sees at `as_of` with the asked metric columns, name, status, best tier and
        properties (see `queries_segments.metrics_frame`); read once, then kept in memory."""
        key = (as_of, self._build_stamp(who), tuple(columns), rows_key(who))
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        with self.data.access(who) as acc:  # not through the TTL cache: this frame lives here
            frame = Q.metrics_frame(acc, as_of, columns)
        with self._lock:
            self.frame_reads += 1
            self._frames[key] = frame
            while len(self._frames) > self.FRAMES_KEPT:
                self._frames.popitem(last=False)
        return frame

    def summaries(self, frame: pl.DataFrame, columns: list[str]) -> dict[str, QuantileSummary]:
        """Quantile summaries of metric columns over a frame: the population the user sees (a
        quantile band is "the top 10 % of my players"), computed once per frame."""
        out = {}
        for column in columns:
            key = (id(frame), column)
            with self._lock:
                hit = self._summaries.get(key)
            if hit is None or hit[0] is not frame:  # the same frame object, not one that reused its id
                hit = (frame, quantile_summary(frame, column))
                with self._lock:
                    if len(self._summaries) > 16:
                        self._summaries.clear()
                    self._summaries[key] = hit
            out[column] = hit[1]
        return out

    def stored_labels(self, who: Principal, as_of: date, columns: list[str]) -> pl.DataFrame:
        """The labels a build stored at `as_of` (player_id + label columns), players `who` sees."""
        return self.data.cached(who, ("segment_labels", as_of, self._build_stamp(who), tuple(columns)),
                                lambda acc: Q.stored_labels(acc, as_of, columns), self.data.aggregate_ttl)

    # -- tags --------------------------------------------------------------------------------------
    def tags(self, who: Principal) -> pl.DataFrame:
        """Current tags of the players `who` sees: player_id, tag (display text), key (for comparing)."""
        return self.data.cached(who, (TAG_CACHE,), lambda acc: current_tags(Q.tag_events(acc)))

    # -- schemes -----------------------------------------------------------------------------------
    def saved_schemes(self, who: Principal) -> dict[str, Versioned]:
        """The newest saved version of each scheme (what the next build uses), by name."""
        texts = self.data.cached(who, ("saved_schemes",), Q.latest_schemes)
        return {name: Versioned.from_toml(text) for name, text in texts.items()}

    def history(self, who: Principal, name: str) -> pl.DataFrame:
        """Saved versions of a scheme, newest first."""
        return self.data.cached(who, ("scheme_history", name), lambda acc: Q.scheme_history(acc, name))

    def save_scheme(self, who: Principal, scheme: Versioned, reason: str) -> int:
        """Keep the scheme's thresholds as its next version, stamped with who, when and why (audited);
        the next build uses it. Returns the version saved (the scheme object carries it after)."""
        who.require("edit_schemes")
        reason = (reason or "").strip()
        with self.data.access(who) as acc:
            saved = acc.sql("SELECT coalesce(max(version), 0) AS v FROM scheme_versions WHERE name = ?",
                            [scheme.name])["v"][0]
            before = scheme.param.values()
            scheme.param.update(version=max(int(saved), scheme.version))
            scheme.release(saved_by=who.user, reason=reason)
            try:
                acc.store.save_scheme_version(name=scheme.name, kind=scheme.kind, version=scheme.version,
                                              toml=scheme.to_toml(), actor=who.user, role=who.role, reason=reason)
            except BaseException:
                scheme.param.update({k: v for k, v in before.items() if k != "name"})
                raise
        self.data.invalidate(frozenset({"saved_schemes", "scheme_history"}))
        return scheme.version

    # -- bulk tag ----------------------------------------------------------------------------------
    def tag_players(self, who: Principal, rows: pl.DataFrame, tag: str) -> tuple[int, int]:
        """Tag every player of `rows` (player_id, property_id) who does not carry the tag yet (compared
        without case): one attributed, audited `tag_added` event each. Players `who` does not see are
        refused, all or nothing. Returns (tagged, already tagged)."""
        who.require("bulk_tag")
        key = M.tag_key(tag)
        with self.data.access(who) as acc:
            ids = rows["player_id"].unique().to_list()
            seen = acc.sql("SELECT count(*) AS n FROM s_players() WHERE player_id IN (SELECT unnest(?::VARCHAR[]))",
                           [ids])["n"][0]
            if seen != len(ids):
                raise AccessDenied(f"{len(ids) - seen} of these players are outside your scope: nothing was tagged")
            outside = [p for p in rows["property_id"].drop_nulls().unique().to_list() if not who.in_scope(p)]
            if outside:
                raise AccessDenied(f"properties {outside} are outside your scope: nothing was tagged")
            have = current_tags(Q.tag_events(acc))  # fresh: the cached tags may be seconds old
            tagged = have.filter(pl.col("key") == key).select("player_id")
            todo = rows.select("player_id", "property_id").unique("player_id").join(tagged, on="player_id",
                                                                                    how="anti")
            written = acc.store.record_events_bulk(player_ids=todo, event_type="tag_added", actor=who.user,
                                                   role=who.role, attrs={"tag": tag},
                                                   source_ref=f"app:segments:{who.user}")
            self.data.writes += 1
        self.data.invalidate(frozenset({TAG_CACHE, *self.data.WRITE_SENSITIVE}))
        return written, len(ids) - todo.height

    # -- exports and cohorts -----------------------------------------------------------------------
    def contact_details(self, who: Principal, ids: list[str]) -> pl.DataFrame:
        """Name, e-mail, phone and enrollment of the given players, masked as for `who` (not cached)."""
        with self.data.access(who) as acc:
            return Q.contact_details(acc, ids)

    def audit_export(self, who: Principal, name: str, fmt: str, rows: int, filters: dict[str, Any]) -> None:
        """Record a segment export in the audit log (after a permission check)."""
        who.require("export_segment")
        self.data.audit(who, "segment.export", target_kind="segment", target_id=name,
                        after={"format": fmt, "rows": rows, "filters": filters})

    def cohort_rollup(self, who: Principal, *, basis: str, by: str, revenue: str, segment: str | None,
                      as_of: date | None) -> pl.DataFrame:
        """Cohort sizes, activity and last activity (see `queries_segments.cohort_rollup`), cached."""
        key = ("cohorts", basis, by, revenue, segment, as_of, self._build_stamp(who))
        return self.data.cached(who, key, lambda acc: Q.cohort_rollup(acc, basis=basis, by=by, revenue=revenue,
                                                                        segment=segment, as_of=as_of),
                                self.data.aggregate_ttl)

    def model_inputs(self, who: Principal, columns: list[str]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        """(events, players) `who` sees, as LazyFrames, for the CLV and churn models (not cached)."""
        with self.data.access(who) as acc:
            return Q.scoped_events(acc, columns).lazy(), Q.scoped_players(acc).lazy()

    def data_months(self, who: Principal) -> tuple[date | None, date | None]:
        """(first month with activity, the running month of the newest event) of what `who` sees."""
        return self.data.cached(who, ("cohort_months",), Q.data_months, self.data.aggregate_ttl)


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
