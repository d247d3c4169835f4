"""Cohorts page state: cohorts by enrollment or first-visit month, their retention, revenue and sBG
retention curves, for all players or compared between segments or properties (no Panel here).

The counting runs in DuckDB (`queries_segments.cohort_rollup`, one pass over the events); the math
(retention table, survivors, sBG fits and projections) is `metrics.cohorts`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import param
import polars as pl

from app.data import DataStore, DataUnavailable
from app.data_segments import SegmentData
from app.queries_segments import COHORT_BASES, COHORT_GROUPS, REVENUES
from app.state.segments import fresh_schemes
from app.state.session import Session
from metrics import cohorts as C


def shift_month(day: date, months: int) -> date:
    """The first day of the month `months` after (or before) `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


class CohortState(param.Parameterized):
    """How cohorts are formed and compared, and what they show."""

    data = param.ClassSelector(class_=DataStore, doc="The cached data store.")
    session = param.ClassSelector(class_=Session, doc="Who is looking: every count is in their scope.")
    basis = param.Selector(default="enrollment", objects=list(COHORT_BASES),
                           doc="A player's cohort: the month they enrolled, or of their first visit.")
    by = param.Selector(default="all", objects=list(COHORT_GROUPS),
                        doc="Compare cohorts of all players, of each segment, or of each property.")
    scheme = param.Selector(default="worth", objects=[], doc="The scheme whose segments are compared (by segment).")
    revenue = param.Selector(default="theo", objects=list(REVENUES),
                             doc="Revenue measure: theoretical win, cash-in, or actual casino win.")
    months = param.Integer(default=12, bounds=(2, 60), doc="Cohorts of the last this many complete months.")
    horizon = param.Integer(default=24, bounds=(3, 120), doc="Months the sBG curves project forward.")
    groups = param.ListSelector(default=[], objects=[], doc="Groups shown (none chosen: all of them).")
    message = param.String(default="", doc="Why nothing shows, when nothing does.")

    def __init__(self, **params: Any):
        params.setdefault("session", Session())
        super().__init__(**params)
        self._data = SegmentData.of(self.data)
        schemes = fresh_schemes()
        self._label_columns = {name: s.label_column() for name, s in schemes.items()}
        self.param.scheme.objects = list(schemes)

    # -- reads -------------------------------------------------------------------------------------
    def window(self) -> tuple[date, date] | None:
        """[first cohort month, the running month): complete months only, none before the data."""
        try:
            first, running = self._data.data_months(self.session.principal)
        except DataUnavailable as exc:
            self.message = str(exc)
            return None
        if running is None or first is None:
            self.message = "No activity on record yet."
            return None
        return max(first, shift_month(running, -self.months)), running

    @param.depends("basis", "by", "scheme", "revenue", "months")
    def parts(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, date] | None:
        """(sizes, activity, last_active, end) of the cohorts in the window (None: nothing to show)."""
        window = self.window()
        if window is None:
            return None
        start, end = window
        try:
            who = self.session.principal
            dates = self._data.dates(who) if self.by == "segment" else []
            as_of = dates[0] if dates else None
            if self.by == "segment" and as_of is None:
                self.message = "No segment snapshot yet: run `player360 build` first."
                return None
            rollup = self._data.cohort_rollup(who, basis=self.basis, by=self.by, revenue=self.revenue,
                                              segment=self._label_columns.get(self.scheme), as_of=as_of)
        except DataUnavailable as exc:
            self.message = str(exc)
            return None
        rollup = rollup.rename({"grp": "group"}).filter((pl.col("cohort") >= start) & (pl.col("cohort") < end))
        if rollup.is_empty():
            self.message = f"No cohort between {start:%Y-%m} and {end:%Y-%m}."
            return None
        self.message = ""
        present = sorted(rollup["group"].unique().to_list())
        self.param.groups.objects = present
        keep = [g for g in self.groups if g in present] or present
        rollup = rollup.filter(pl.col("group").is_in(keep))
        sizes = rollup.filter(pl.col("part") == "size").select("cohort", "group", "players")
        activity = rollup.filter(pl.col("part") == "activity").select("cohort", "group", "k", "active", "revenue")
        last = rollup.filter(pl.col("part") == "last").select("cohort", "group", pl.col("k").alias("last_k"), "players")
        return sizes, activity, last, end

    # -- what the page shows -----------------------------------------------------------------------
    @param.depends("basis", "by", "scheme", "revenue", "months", "groups")
    def table(self) -> pl.DataFrame:
        """Per cohort, group and month k: size, active, retention, revenue (see `metrics.cohorts`)."""
        parts = self.parts()
        return pl.DataFrame() if parts is None else C.retention_table(parts[0], parts[1], parts[3])

    @param.depends("basis", "by", "scheme", "revenue", "months", "groups")
    def revenue_by_cohort(self) -> pl.DataFrame:
        """Per cohort and group: players, revenue, revenue per player, months observed."""
        table = self.table()
        return pl.DataFrame() if table.is_empty() else C.cohort_revenue(table)

    @param.depends("basis", "by", "scheme", "revenue", "months", "groups", "horizon")
    def curves(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(curves, fits): per group the pooled share still around at month k, and its sBG fit
        projected to the horizon."""
        parts = self.parts()
        if parts is None:
            return pl.DataFrame(), pl.DataFrame()
        alive = C.survivors(parts[0], parts[2], parts[3])
        return C.fit_retention(alive, self.horizon)

    def label(self) -> str:
        """'Enrollment cohorts, last 12 complete months, by segment (worth)'."""
        by = {"all": "all players", "segment": f"by segment ({self.scheme})", "property": "by property"}[self.by]
        basis = "Enrollment" if self.basis == "enrollment" else "First-visit"
        return f"{basis} cohorts, last {self.months} complete months, {by}"
