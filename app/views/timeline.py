"""Center of the player page: the unified timeline, newest first, filtered and paged."""

from __future__ import annotations

import panel as pn
import param

from app import model as M
from app.state.player import PlayerState
from app.views.common import esc, html_pane, live_html

TYPE_TONE = {"Note": "info", "Note (edited)": "info", "Dispute": "warn", "Incident": "bad", "Exclusion": "bad",
             "Tag added": "good", "Tag removed": "", "Task created": "good", "Task completed": "good",
             "Visit": "", "Rating slip": "", "MTL": "warn", "CTR": "warn"}
# quick day ranges, ending at the player's newest event (0: whatever the date picker says)
QUICK_RANGES = {"—": 0, "7 days": 7, "30 days": 30, "90 days": 90, "1 year": 365}


class TimelineView(pn.viewable.Viewer):
    """Every current event of the player with its source and actor; filter by type and days."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player (its timeline state).")

    def __init__(self, **params):
        super().__init__(**params)
        tl = self.player.timeline
        self._types = pn.widgets.CheckButtonGroup(
            options=list(M.TYPE_GROUPS), value=tl.groups(), color="primary", variant="outline",
            sizing_mode="stretch_width", css_classes=["timeline-types"],
            stylesheets=[".bk-btn-group { flex-wrap: wrap; gap: 4px; } .bk-btn-group > .bk-btn "
                         "{ flex: 0 0 auto; border-radius: 4px !important; }"])
        self._days = pn.widgets.DateRangePicker(label="Days", value=(tl.start, tl.end) if tl.start else None,
                                                width=230, css_classes=["timeline-days"])
        self._size = pn.widgets.Select(label="Per page", options=tl.param.page_size.objects, value=tl.page_size,
                                       width=90)
        self._last = pn.widgets.Select(label="Last", options=QUICK_RANGES, value=0, width=90,
                                       css_classes=["timeline-last"])
        self._last_range: tuple | None = None  # the dates the quick range picked, while they hold
        self._clear = pn.widgets.Button(label="Clear filter", color="light", css_classes=["timeline-clear"],
                                        align="end")
        self._prev = pn.widgets.Button(label="◀ Newer", color="light", css_classes=["timeline-prev"], width=90)
        self._next = pn.widgets.Button(label="Older ▶", color="light", css_classes=["timeline-next"], width=90)
        self._feed = html_pane(self._feed_html(), ["timeline-feed"])
        self._types.param.watch(lambda e: tl.set_groups(list(e.new)), "value")
        self._days.param.watch(self._set_days, "value")
        self._size.param.watch(lambda e: setattr(tl, "page_size", e.new), "value")
        self._last.param.watch(self._set_last, "value")
        self._clear.on_click(lambda _e: tl.clear())
        self._prev.on_click(lambda _e: tl.previous_page())
        self._next.on_click(lambda _e: tl.next_page())
        tl.param.watch(self._refresh, ["events", "types", "start", "end", "page", "page_size"])

    def _set_days(self, event: param.parameterized.Event) -> None:
        start, end = event.new if event.new else (None, None)
        self.player.timeline.param.update(start=start, end=end)

    def _set_last(self, event: param.parameterized.Event) -> None:
        if event.new:
            self.player.timeline.last_days(event.new)
            self._last_range = (self.player.timeline.start, self.player.timeline.end)

    def _feed_html(self) -> str:
        """The current page as a feed: time, type, property, what happened, source and who (escaped)."""
        rows = self.player.timeline.rows()
        if rows.is_empty():
            return '<div class="empty">Nothing to show.</div>'
        items = []
        for r in rows.iter_rows(named=True):
            tone = TYPE_TONE.get(r["type"], "")
            items.append(
                f'<div class="tl-item"><div class="row"><b>{esc(M.when(r["time"]))}</b>'
                f'<span class="chip {tone}">{esc(r["type"])}</span>'
                + (f'<span class="muted">{esc(r["property"])}</span>' if r["property"] else "")
                + f'</div><div class="tl-summary">{esc(r["summary"])}</div>'
                f'<div class="muted">source {esc(r["source"])} · by {esc(r["by"])}</div></div>')
        return "".join(items)

    def _refresh(self, *_events: param.parameterized.Event) -> None:
        """Show the current page and keep the widgets in step with the state (a side effect)."""
        tl = self.player.timeline
        if list(self._types.value) != tl.groups():
            self._types.value = tl.groups()
        days = (tl.start, tl.end) if tl.start or tl.end else None
        if self._days.value != days:
            self._days.value = days
        if self._last.value and (tl.start, tl.end) != self._last_range:  # other dates now: no quick range
            self._last.value = 0
        self._feed.object = f'<div class="p360">{self._feed_html()}</div>'

    def _status(self) -> str:
        tl = self.player.timeline
        total, pages = tl.total, tl.pages
        if not tl.events.height:
            text = "No events for this player."
        elif total == 0:
            text = "No events match the filter."
        else:
            first = (min(tl.page, pages) - 1) * tl.page_size + 1
            last = min(total, first + tl.page_size - 1)
            text = f"{first:,}–{last:,} of {total:,} events · page {min(tl.page, pages)} of {pages}"
        return f'<span class="muted">{esc(text)}</span>'

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            html_pane("<h3>Timeline</h3>"),
            pn.Row(self._types, sizing_mode="stretch_width"),
            pn.Row(self._days, self._last),
            pn.Row(self._size, self._clear),
            pn.Row(self._prev, self._next,
                   live_html(self._status, [(self.player.timeline, ["events", "types", "start", "end", "page",
                                                                    "page_size"])], ["timeline-status"],
                             margin=(12, 10)), sizing_mode="stretch_width"),
            pn.Column(self._feed, height=760, scroll=True, sizing_mode="stretch_width"),
            sizing_mode="stretch_width", css_classes=["timeline"])
