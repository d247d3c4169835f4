"""Segment migration between two snapshots: who moved from active to cooling, and back (no Panel).

Labels are those each build stored (with the thresholds of that day), or, with `relabel`, both
snapshots' metrics labelled again at the thresholds being tuned now, so a move is never an
artefact of a threshold change in between.
"""

from __future__ import annotations

from typing import Any

import param
import polars as pl

from app.data import DataUnavailable
from app.data_segments import SegmentData
from app.state.segments import SegmentsState
from metrics import segment_stats as S
from metrics.segments import segment_all


class MigrationState(param.Parameterized):
    """Two snapshots and a scheme: the transition counts between their segments."""

    segments = param.ClassSelector(class_=SegmentsState, doc="The dashboard: schemes, scope and snapshots.")
    scheme = param.Selector(default="engagement", objects=[], doc="The scheme whose segments are compared.")
    before = param.Selector(default=None, objects=[], allow_None=True, doc="The earlier snapshot.")
    after = param.Selector(default=None, objects=[], allow_None=True, doc="The later snapshot.")
    relabel = param.Boolean(default=False,
                            doc="Label both snapshots at the thresholds being tuned (else: as each build stored).")
    moved_thresholds = param.Event(doc="A threshold moved while relabelling: the transitions change.")

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._data = SegmentData.of(self.segments.data)
        self.param.scheme.objects = list(self.segments.schemes)
        try:
            dates = self._data.dates(self.segments.who)
        except DataUnavailable:
            dates = []
        self.param.before.objects = self.param.after.objects = dates
        if dates:
            self.after = self.after or dates[0]
            self.before = self.before or dates[min(1, len(dates) - 1)]
        self.segments.param.watch(self._thresholds_moved, "revision")

    def _thresholds_moved(self, *_events: param.parameterized.Event) -> None:
        """Stored labels ignore threshold moves; relabelled ones follow them (a side effect)."""
        if self.relabel:
            self.param.trigger("moved_thresholds")

    @property
    def ready(self) -> bool:
        """Whether two different snapshots are chosen."""
        return self.before is not None and self.after is not None and self.before != self.after

    def why_not(self) -> str:
        """Why there is nothing to compare (empty when there is)."""
        dates = self.param.after.objects
        if not dates:
            return "No segment snapshot yet: run `player360 build` first."
        if len(dates) < 2:
            return (f"Only one snapshot ({dates[0]}): build another day to compare, e.g. "
                    "`player360 build --as-of YYYY-MM-DD`.")
        if not self.ready:
            return "Pick two different snapshots."
        return ""

    def _labels(self, as_of: Any) -> pl.DataFrame:
        """player_id and the scheme's label at one snapshot (stored, or relabelled now)."""
        scheme = self.segments.schemes[self.scheme]
        who = self.segments.who
        if not self.relabel:
            column = scheme.label_column()
            return self._data.stored_labels(who, as_of, [column]).rename({column: "label"})
        frame = self._data.frame(who, as_of, self.segments.columns)
        summaries = self._data.summaries(frame, list(scheme.quantile_columns()))
        return segment_all(frame, [scheme], summaries).select("player_id", pl.col(scheme.label_column()).alias("label"))

    @param.depends("scheme", "before", "after", "relabel", "moved_thresholds")
    def transitions(self) -> pl.DataFrame:
        """Players per (segment before, segment after), with the share of the earlier segment."""
        if not self.ready:
            return pl.DataFrame()
        before, after = self._labels(self.before), self._labels(self.after)
        if "label" not in before.columns or "label" not in after.columns:
            return pl.DataFrame()
        if self.before > self.after:
            before, after = after, before
        return S.transitions(before, after, "label", self.segments.schemes[self.scheme].labels)

    def matrix(self) -> pl.DataFrame:
        """The transitions as a table: one row per earlier segment, one column per later one."""
        long = self.transitions()
        if long.is_empty():
            return long
        labels = self.segments.schemes[self.scheme].labels
        order = [S.NEW, *labels, S.GONE]
        wide = long.pivot(on="to", index="from", values="players", aggregate_function="sum").fill_null(0)
        columns = [c for c in order if c in wide.columns]
        rank = {name: i for i, name in enumerate(order)}
        return (wide.with_columns(pl.col("from").replace_strict(rank, default=len(order)).alias("_r"))
                .sort("_r").select("from", *columns).with_columns(pl.sum_horizontal(columns).alias("total")))

    def moved(self, source: str, target: str) -> int:
        """Players who were in `source` and are now in `target`."""
        long = self.transitions()
        if long.is_empty():
            return 0
        hit = long.filter((pl.col("from") == source) & (pl.col("to") == target))
        return int(hit["players"].sum())

    def movers(self, source: str, target: str) -> pl.DataFrame:
        """The players who were in `source` in the earlier snapshot and are in `target` in the later
        one: player_id, name, tier and their newest metrics (e.g. for a win-back list)."""
        if not self.ready:
            return pl.DataFrame()
        early, late = sorted([self.before, self.after])
        a = self._labels(early).filter(pl.col("label").cast(pl.String) == source).select("player_id")
        b = self._labels(late).filter(pl.col("label").cast(pl.String) == target).select("player_id")
        ids = a.join(b, on="player_id")
        frame = self._data.frame(self.segments.who, late, self.segments.columns)
        keep = ["player_id", "name", "tier", "preferred_property", "recency_days", "visits_90d", "theo_total"]
        return frame.join(ids, on="player_id").select([c for c in keep if c in frame.columns]) \
            .sort("theo_total", descending=True, nulls_last=True)

    def label(self) -> str:
        """'engagement: 2025-10-01 → 2026-01-01'."""
        first, last = sorted([self.before, self.after]) if self.ready else (self.before, self.after)
        return f"{self.scheme}: {first} → {last}"
