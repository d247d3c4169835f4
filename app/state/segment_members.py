"""The member list of a segment: filtered, sorted and paged on the server; exported; bulk-tagged.

Only the page shown leaves the server: filtering and sorting run in Polars over the snapshot's
in-memory frame (`SegmentsState.labelled`), so a page of a 400k-player segment costs one filter,
one sort and one slice. No Panel here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import param
import polars as pl

from app import model as M
from app.data_segments import SegmentData
from app.export_segments import FORMATS, export
from app.state.paging import Paged
from app.state.player import MAX_TAG
from app.state.segments import SegmentsState
from metrics.segments import LifecycleStage

SORTABLE = {"theo_total": "Theo", "cash_in_total": "Cash in", "lifetime_value": "Lifetime value",
            "visits_total": "Visits", "recency_days": "Days since last visit", "health_score": "Health",
            "name": "Name", "player_id": "Player id"}
SHOWN = ("player_id", "name", "segment", "lifecycle_live", "tier", "favourite_game", "preferred_property",
         "properties", "tags", "visits_total", "recency_days", "theo_total", "cash_in_total", "lifetime_value")
EXPORTED = ("player_id", "pseudonym", "first_name", "last_name", "email", "phone", "enrolled_at", "segment", "scheme_version",
            "lifecycle_live", "tier", "properties", "favourite_game", "preferred_property", "tags", "visits_total",
            "visits_90d", "recency_days", "theo_total", "cash_in_total", "adt_90d", "lifetime_value", "health_score")


def any_of(column: str, values: list[str]) -> pl.Expr:
    """Rows whose column is one of `values` (every row when none are chosen)."""
    return pl.col(column).cast(pl.String).is_in(values) if values else pl.lit(True)


def overlaps(column: str, values: list[str]) -> pl.Expr:
    """Rows whose list column shares an element with `values` (every row when none are chosen)."""
    if not values:
        return pl.lit(True)
    return pl.col(column).list.eval(pl.element().is_in(values)).list.any().fill_null(False)


class MemberListState(Paged):
    """Who is in a segment: filters, sort and page, and the actions on the whole filtered list."""

    segments = param.ClassSelector(class_=SegmentsState, doc="The dashboard: snapshot, scheme and live labels.")
    segment = param.String(default="", doc="The segment listed (a label of the scheme shown; empty: everyone).")
    tiers = param.ListSelector(default=[], objects=[], doc="Loyalty tiers to keep (none chosen: all).")
    lifecycle = param.ListSelector(default=[], objects=list(LifecycleStage.labels),
                                   doc="Lifecycle stages to keep, at the live lifecycle thresholds.")
    games = param.ListSelector(default=[], objects=[], doc="Favourite games to keep.")
    venues = param.ListSelector(default=[], objects=[], doc="Favourite venues (most-visited property) to keep.")
    properties = param.ListSelector(default=[], objects=[], doc="Keep players enrolled at any of these properties.")
    tags = param.ListSelector(default=[], objects=[], doc="Keep players carrying any of these tags.")
    text = param.String(default="", doc="Keep players whose id or name contains this text (any case).")
    sort_by = param.Selector(default="theo_total", objects=list(SORTABLE), doc="Column the list is sorted by.")
    descending = param.Boolean(default=True, doc="Sort from the largest value down.")
    page_size = param.Selector(default=25, objects=[25, 50, 100], doc="Players per page.")
    message = param.String(default="", doc="The outcome of the last action.")

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._data = SegmentData.of(self.segments.data)
        self._memo: tuple | None = None  # (labelled frame, tags frame, filters, members)
        self._page_memo: tuple | None = None  # (members, order and page, rows)
        self.options()

    @param.depends("segment", "tiers", "lifecycle", "games", "venues", "properties", "tags", "text", "sort_by",
                   "descending", "page_size", watch=True)
    def _first_page(self) -> None:
        """A new filter or order starts again at the first page (a side effect)."""
        self.page = 1

    @param.depends("segments.scheme", watch=True)
    def _new_scheme(self) -> None:
        """Another scheme: its labels differ, so the segment filter is dropped (a side effect)."""
        self.segment = ""

    def options(self) -> None:
        """Fill the filter choices from the snapshot (tiers, games, venues, properties, tags)."""
        frame = self.segments.frame()
        if frame.is_empty():
            return

        def distinct(column: str) -> list[str]:
            return sorted(v for v in frame[column].drop_nulls().unique().to_list() if v)
        self.param.tiers.objects = distinct("tier")
        self.param.games.objects = distinct("favourite_game")
        self.param.venues.objects = distinct("preferred_property")
        self.param.properties.objects = sorted({p for ps in frame["properties"].to_list() for p in (ps or [])})
        self.param.tags.objects = sorted(set(self._tags()["tag"].to_list()), key=str.casefold)

    def _tags(self) -> pl.DataFrame:
        return self._data.tags(self.segments.who)

    def filters(self) -> pl.Expr:
        """Every filter but the tags as one boolean expression."""
        text = self.text.strip()
        found = (pl.col("player_id").str.contains(text, literal=True)
                 | pl.col("name").str.to_lowercase().str.contains(text.lower(), literal=True)) if text else pl.lit(True)
        segment = pl.col("segment").cast(pl.String) == self.segment if self.segment else pl.lit(True)
        return (segment & any_of("tier", self.tiers) & any_of("lifecycle_live", self.lifecycle)
                & any_of("favourite_game", self.games) & any_of("preferred_property", self.venues)
                & overlaps("properties", self.properties) & found)

    @param.depends("segments.revision", "segments.as_of", "segments.scheme", "segment", "tiers", "lifecycle",
                   "games", "venues", "properties", "tags", "text")
    def members(self) -> pl.DataFrame:
        """Every member matching the filters (unsorted, in player id order)."""
        frame = self.segments.labelled()
        if frame.is_empty():
            return frame
        current = self._tags()
        key = (self.segment, tuple(self.tiers), tuple(self.lifecycle), tuple(self.games), tuple(self.venues),
               tuple(self.properties), tuple(self.tags), self.text)
        if self._memo is not None and self._memo[0] is frame and self._memo[1] is current and self._memo[2] == key:
            return self._memo[3]
        out = frame.lazy().filter(self.filters())
        if self.tags:  # the few tagged players, not a join of every player with their tags
            keys = [M.tag_key(t) for t in self.tags]
            out = out.join(current.lazy().filter(pl.col("key").is_in(keys)).select("player_id").unique(),
                           on="player_id", how="semi", maintain_order="left")
        out = out.collect()
        self._memo = (frame, current, key, out)
        return out

    def with_tags(self, part: pl.DataFrame) -> pl.DataFrame:
        """`part` with each player's current tags (a list column `tags`)."""
        tags = self._tags().filter(pl.col("player_id").is_in(part["player_id"].implode())).group_by("player_id").agg(
            pl.col("tag").alias("tags"))
        return part.join(tags, on="player_id", how="left", maintain_order="left").with_columns(
            pl.col("tags").fill_null([]))

    @property
    def total(self) -> int:
        """Members matching the filters."""
        return self.members().height

    @property
    def pages(self) -> int:
        """Pages of the filtered list (at least 1)."""
        return max(1, -(-self.total // self.page_size))

    def _ordered(self) -> pl.LazyFrame:
        """The filtered members in the chosen order (nulls last; ties in player id order, kept by a
        stable sort), lazily: a sort followed by a slice runs as a top-k, not a full sort."""
        return self.members().lazy().sort(self.sort_by, descending=self.descending, nulls_last=True,
                                          maintain_order=True)

    def sorted_members(self) -> pl.DataFrame:
        """Every filtered member in the chosen order."""
        return self._ordered().collect()

    @param.depends("segments.revision", "segments.as_of", "segments.scheme", "segment", "tiers", "lifecycle",
                   "games", "venues", "properties", "tags", "text", "sort_by", "descending", "page", "page_size")
    def page_rows(self) -> pl.DataFrame:
        """The rows of the page shown (display columns only, with their tags)."""
        members = self.members()
        if members.is_empty():
            return pl.DataFrame()
        page = min(self.page, self.pages)
        key = (self.sort_by, self.descending, page, self.page_size)
        hit = self._page_memo
        if hit is not None and hit[0] is members and hit[1] == key:
            return hit[2]
        rows = self.with_tags(self._ordered().slice((page - 1) * self.page_size, self.page_size).collect())
        rows = rows.select([c for c in SHOWN if c in rows.columns])
        self._page_memo = (members, key, rows)
        return rows

    def clear(self) -> None:
        """Drop every filter (the segment stays)."""
        self.param.update(tiers=[], lifecycle=[], games=[], venues=[], properties=[], tags=[], text="")

    # -- actions on the whole filtered list --------------------------------------------------------
    def describe(self) -> str:
        """'spending = vip, 1,234 players' (what an export or a tag applies to)."""
        what = f"{self.segments.scheme} = {self.segment}" if self.segment else f"all players ({self.segments.scheme})"
        return f"{what}, {self.total:,} players after filters"

    def export(self, fmt: str, folder: Path | str | None = None) -> tuple[Path, int]:
        """Write the filtered members (sorted) to a new file: csv, xlsx or parquet; returns (path, rows).

        Contact details are read batch by batch, so memory stays bounded by the batch."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
        who = self.segments.who
        who.require("export_segment")
        frame = self.sorted_members().with_columns(
            pl.lit(self.segments.current.version).alias("scheme_version"), pl.col("segment").cast(pl.String),
            pl.col("lifecycle_live").cast(pl.String))
        base = frame.select([c for c in EXPORTED if c in frame.columns and c != "tags"])

        def enrich(part: pl.DataFrame) -> pl.DataFrame:
            details = self._data.contact_details(who, part["player_id"].to_list())
            out = self.with_tags(part).join(details, on="player_id", how="left", maintain_order="left")
            return out.select([c for c in EXPORTED if c in out.columns])
        name = f"{self.segments.scheme}-{self.segment or 'all'}-{self.segments.as_of}"
        path, rows = export(base, fmt, folder, enrich, name=name)
        self._data.audit_export(who, name, fmt, rows, self.filter_values())
        self.message = f"Exported {rows:,} players ({FORMATS[fmt]})."
        return path, rows

    def can_tag(self) -> bool:
        """Whether the session's role may bulk-tag."""
        return self.segments.session.can("bulk_tag")

    def can_export(self) -> bool:
        """Whether the session's role may export segments."""
        return self.segments.session.can("export_segment")

    def filter_values(self) -> dict[str, Any]:
        """The list's scheme, segment and filters (what an export or a tag applied to, for the audit log)."""
        names = ("segment", "tiers", "lifecycle", "games", "venues", "properties", "tags", "text")
        return {"scheme": self.segments.scheme, "as_of": str(self.segments.as_of),
                **{n: getattr(self, n) for n in names if getattr(self, n)}}

    def bulk_tag(self, tag: str) -> bool:
        """Tag every filtered member (at most once per player): one attributed event each."""
        tag = " ".join((tag or "").split())
        if not self.can_tag():
            self.message = f"Your role ({self.segments.session.role}) may not tag a segment."
            return False
        if not tag or len(tag) > MAX_TAG:
            self.message = f"A tag needs 1 to {MAX_TAG} characters."
            return False
        members = self.members()
        if members.is_empty():
            self.message = "Nobody to tag."
            return False
        rows = members.select("player_id", property_id=self._home())
        try:
            tagged, already = self._data.tag_players(self.segments.who, rows, tag)
        except Exception as exc:  # noqa: BLE001 - the page says what failed; it never crashes
            self.message = f"Not tagged: {exc}"
            return False
        self.options()
        self.message = f"Tagged {tagged:,} players “{tag}”" + (f" ({already:,} already were)." if already else ".")
        return True

    def _home(self) -> pl.Expr:
        """The property a tag concerns: the favourite venue when in scope, else the first property."""
        first = pl.col("properties").list.first()
        venue = pl.col("preferred_property")
        return pl.when(pl.col("properties").list.contains(venue)).then(venue).otherwise(first)
