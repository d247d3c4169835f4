"""Tabs under the player page: Visits / Play / Rewards / Transactions / Compliance, with charts.

Charts are Bokeh over the player's events already read for the page. A tab's charts are built (or
taken ready-made from `chart_pool.POOL`) the first time it is opened and afterwards only fed new
data; on a player switch they update a moment after the rest of the page (next tick), so the
header, metrics and timeline show first.
"""

from __future__ import annotations

from collections.abc import Callable

import panel as pn
import param
import polars as pl

from app import model as M
from app.data import PlayerData
from app.state.player import PlayerState
from app.views import charts
from app.views.chart_pool import POOL
from app.views.common import esc, html_pane, later, table

TABS = ("Visits", "Play", "Rewards", "Transactions", "Compliance")
LOG_COLUMNS = [("time", "Time"), ("type", "Type"), ("summary", "Detail"), ("property", "Property"),
               ("source", "Source"), ("by", "By")]

Updater = Callable[[PlayerData, pl.DataFrame], None]


def _html(pane: pn.pane.HTML, body: str) -> None:
    pane.object = f'<div class="p360">{body}</div>'


class ActivityTabsView(pn.viewable.Viewer):
    """Charts and lists of the player's visits, play, rewards, transactions and compliance."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player.")

    def __init__(self, **params):
        super().__init__(**params)
        # the Compliance tab is for compliance and admin only (pipelines.roles)
        self._shown = tuple(t for t in TABS if t != "Compliance" or self.player.session.principal.policy.compliance)
        self._holders = {t: pn.Column(sizing_mode="stretch_width", css_classes=[f"tab-{t.lower()}"])
                         for t in self._shown}
        self._empty = {t: html_pane("", [f"tab-empty-{t.lower()}"]) for t in self._shown}
        self._updaters: dict[str, Updater] = {}
        self._tabs = pn.Tabs(*[(t, self._holders[t]) for t in self._shown], dynamic=True,
                             sizing_mode="stretch_width", css_classes=["activity-tabs"])
        self._tabs.param.watch(lambda _e: self._ensure(self._shown[self._tabs.active]), "active")
        self.player.param.watch(self._follow, "snapshot")
        self._ensure(self._shown[0])

    # -- updates ---------------------------------------------------------------------------------------
    def _follow(self, _event: param.parameterized.Event) -> None:
        """Update the charts after the rest of the page went out (a side effect)."""
        later(self._refresh)

    def _refresh(self) -> None:
        """Feed every built tab the open player's data (the open tab first)."""
        active = self._shown[self._tabs.active]
        for tab in sorted(self._updaters, key=lambda t: t != active):
            self._update(tab)

    def _ensure(self, tab: str) -> None:
        """Build a tab's charts the first time it is shown."""
        if tab not in self._updaters:
            content, updater = getattr(self, f"_build_{tab.lower()}")()
            self._holders[tab].objects = [self._empty[tab], content]
            self._updaters[tab] = updater
            self._update(tab)

    def _update(self, tab: str) -> None:
        s = self.player.snapshot
        holder_empty, content = self._holders[tab].objects
        if s is None or not s.found:
            holder_empty.visible, content.visible = False, False
            return
        events = s.current.filter(pl.col("event_type").is_in(M.TAB_TYPES[tab])) if s.current.height else s.current
        if events.is_empty():
            _html(holder_empty, f'<div class="empty">No {esc(tab.lower())} events for this player.</div>')
            holder_empty.visible, content.visible = True, False
            return
        holder_empty.visible, content.visible = False, True
        self._updaters[tab](s, events)

    @staticmethod
    def _trend(s: PlayerData) -> tuple[list[str], pl.DataFrame]:
        trend = M.monthly(s.current, s.trend_end)
        return trend["month"].dt.strftime("%Y-%m-%d").to_list(), trend

    # -- tabs ------------------------------------------------------------------------------------------
    def _build_visits(self) -> tuple[pn.viewable.Viewable, Updater]:
        per_window = POOL.take(charts.Bars, "Visits per 30 days", "visits")
        by_prop = POOL.take(charts.Bars, "Visits by property", "visits", charts.PALETTE[4], rotate=False)
        heat = POOL.take(charts.HeatMap, "Visit starts: weekday × hour", "visits")

        def update(s: PlayerData, events: pl.DataFrame) -> None:
            windows, trend = self._trend(s)
            per_window.update(windows, trend["visits"])
            props = M.breakdown(events, "property_id", ("visit",))
            by_prop.update(props["property_id"], props["count"])
            cells = M.day_hour(events, ("visit",))
            heat.update(cells["weekday"], cells["hour"], cells["count"])

        content = pn.Column(pn.Row(per_window.pane, by_prop.pane, sizing_mode="stretch_width"), heat.pane,
                            sizing_mode="stretch_width")
        return content, update

    def _build_play(self) -> tuple[pn.viewable.Viewable, Updater]:
        theo = POOL.take(charts.Bars, "Theo per 30 days (spend trend)", "theo $")
        by_game = POOL.take(charts.Bars, "Theo by game", "theo $", charts.PALETTE[1], rotate=False)
        minutes = POOL.take(charts.Bars, "Minutes played per 30 days", "minutes", charts.PALETTE[2])
        heat = POOL.take(charts.HeatMap, "Rated sessions: weekday × hour", "sessions")

        def update(s: PlayerData, events: pl.DataFrame) -> None:
            windows, trend = self._trend(s)
            theo.update(windows, trend["theo"])
            minutes.update(windows, trend["minutes"])
            games = M.breakdown(events, "game", ("rating_slip",), "theo")
            by_game.update(games["game"], games["value"])
            cells = M.day_hour(events, ("rating_slip",))
            heat.update(cells["weekday"], cells["hour"], cells["count"])

        content = pn.Column(pn.Row(theo.pane, by_game.pane, sizing_mode="stretch_width"),
                            pn.Row(minutes.pane, heat.pane, sizing_mode="stretch_width"), sizing_mode="stretch_width")
        return content, update

    def _build_rewards(self) -> tuple[pn.viewable.Viewable, Updater]:
        issued = POOL.take(charts.GroupedBars, "Rewards issued vs redeemed per 30 days", ["issued", "redeemed"], "rewards")
        points = POOL.take(charts.Line, "Points balance", "points")
        by_type = POOL.take(charts.Bars, "Rewards by type", "rewards", charts.PALETTE[5], rotate=False)

        def update(s: PlayerData, events: pl.DataFrame) -> None:
            windows, trend = self._trend(s)
            issued.update(windows, {"issued": trend["rewards_issued"], "redeemed": trend["rewards_redeemed"]})
            points.update(windows, trend["points_cum"])
            kinds = events.filter(pl.col("event_type").str.starts_with("reward_"))
            counts = (kinds.group_by("a_reward_type").agg(pl.len().alias("count"))
                      .with_columns(pl.col("a_reward_type").fill_null("unknown")).sort("count", descending=True))
            by_type.update(counts["a_reward_type"], counts["count"])

        content = pn.Column(pn.Row(issued.pane, points.pane, sizing_mode="stretch_width"), by_type.pane,
                            sizing_mode="stretch_width")
        return content, update

    def _build_transactions(self) -> tuple[pn.viewable.Viewable, Updater]:
        money = POOL.take(charts.GroupedBars, "Cash-in vs cash-out per 30 days", ["cash-in", "cash-out"], "$")
        log = html_pane("", ["transactions-log"])

        def update(s: PlayerData, events: pl.DataFrame) -> None:
            windows, trend = self._trend(s)
            money.update(windows, {"cash-in": trend["cash_in"], "cash-out": trend["cash_out"]})
            rows = M.timeline_rows(events.head(25)).to_dicts()
            _html(log, "<h3>Newest transactions</h3>" + table(rows, LOG_COLUMNS))

        return pn.Column(money.pane, log, sizing_mode="stretch_width"), update

    def _build_compliance(self) -> tuple[pn.viewable.Viewable, Updater]:
        by_type = POOL.take(charts.Bars, "Compliance entries by type", "entries", charts.PALETTE[3], rotate=False)
        log = html_pane("", ["compliance-log"])

        def update(_s: PlayerData, events: pl.DataFrame) -> None:
            counts = events.group_by("event_type").agg(pl.len().alias("count")).sort("count", descending=True)
            by_type.update([M.EVENT_LABELS.get(t, t) for t in counts["event_type"]], counts["count"])
            rows = M.timeline_rows(events.head(50)).to_dicts()
            _html(log, "<h3>Compliance log</h3>" + table(rows, LOG_COLUMNS))

        return pn.Column(by_type.pane, log, sizing_mode="stretch_width"), update

    def __panel__(self) -> pn.viewable.Viewable:
        return self._tabs
