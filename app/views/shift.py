"""The shift report, its embeddable summary widget and the player page's shift lens.

All three read `DataStore.shift_snapshot(property, start, end)`: the same snapshot, different lenses.
"""

from __future__ import annotations

from collections.abc import Callable

import panel as pn
import param
import polars as pl

from app import model as M
from app.state.player import PlayerState
from app.state.shift import ShiftState
from app.views.common import chip, empty, esc, html_pane, live_async, live_html_async

SEVERITY_TONE = {"critical": "bad", "warning": "warn", "info": "info"}


def _table(frame: pl.DataFrame, columns: dict[str, str], css: str, on_open: Callable[[str], None] | None,
           empty_text: str, height: int = 260) -> pn.viewable.Viewable:
    """A read-only table; clicking a row opens that player."""
    if frame.is_empty():
        return empty(empty_text, f"{css}-empty")
    shown = frame.select([pl.col(c).alias(label) for c, label in columns.items()])
    shown = shown.with_columns([pl.col(c).dt.strftime("%Y-%m-%d %H:%M") for c, t in shown.schema.items()
                                if isinstance(t, pl.Datetime)])
    text_cols = [c for c, t in shown.schema.items() if t == pl.String]
    widget = pn.widgets.Tabulator(
        shown.to_pandas(), disabled=True, show_index=False, sizing_mode="stretch_width",
        max_height=height, layout="fit_data_stretch", css_classes=[css], selectable=False,
        formatters={c: {"type": "plaintext"} for c in text_cols})
    if on_open is not None and "player_id" in frame.columns:
        ids = frame["player_id"].to_list()
        widget.on_click(lambda e: on_open(ids[e.row]) if e.row is not None and e.row < len(ids) else None)
    return widget


class ShiftReportView(pn.viewable.Viewer):
    """One property and shift: who is in the room, who needs attention, incidents, top theo."""

    shift = param.ClassSelector(class_=ShiftState, doc="Property and shift window of the report.")
    open_player = param.Callable(default=None, allow_None=True,
                                 doc="Called with a player id when a row is clicked (opens the player page).")

    def __init__(self, **params):
        super().__init__(**params)
        s = self.shift
        self._property = pn.widgets.Select(label="Property", options=s.property_options(), value=s.property_id or None,
                                           width=140, css_classes=["shift-property"])
        self._day = pn.widgets.DatePicker(label="Day", value=s.day, width=150, css_classes=["shift-day"])
        self._which = pn.widgets.RadioButtonGroup(label="Shift", options={"Day 06–14": "day", "Swing 14–22": "swing",
                                                                          "Grave 22–06": "grave"},
                                                  value=s.shift, color="primary", variant="outline",
                                                  css_classes=["shift-which"], align="end")
        self._latest = pn.widgets.Button(label="Latest shift", color="light", align="end")
        self._refresh = pn.widgets.Button(label="Refresh", color="primary", align="end", css_classes=["shift-refresh"])
        self._property.param.watch(lambda e: setattr(s, "property_id", e.new or ""), "value")
        self._day.param.watch(lambda e: setattr(s, "day", e.new), "value")
        self._which.param.watch(lambda e: setattr(s, "shift", e.new), "value")
        self._latest.on_click(lambda _e: s.to_latest())
        self._refresh.on_click(lambda _e: s.param.trigger("refresh"))
        s.param.watch(self._sync, ["property_id", "day", "shift"])

    def _sync(self, *_events) -> None:
        """Widgets follow the state (URL changes, 'latest shift') - a side effect."""
        s = self.shift
        self._property.value = s.property_id or None
        self._day.value = s.day
        self._which.value = s.shift

    def _open(self, player_id: str) -> None:
        if self.open_player is not None:
            self.open_player(player_id)

    def _report(self, snap: M.ShiftSnapshot) -> pn.viewable.Viewable:
        if snap.message:
            return empty(snap.message, "shift-empty")
        t = snap.totals
        clock = (f"newest event at {esc(snap.property_id)}: {esc(M.when(snap.data_newest))}"
                 if snap.data_newest else "no events at this property yet")
        stale = (f' · <span class="stale">{snap.stale_open} open visit(s) older than {M.STALE_OPEN_HOURS} h left '
                 "out (missing check-out?)</span>" if snap.stale_open else "")
        chips = (chip(f"In the room: {t['in_room']}", "info") + chip(f"Visited this shift: {t['visited']}", "")
                 + chip(f"Need attention: {t['attention']}", "warn" if t["attention"] else "")
                 + chip(f"Incidents: {t['incidents']}", "bad" if t["incidents"] else "")
                 + chip(f"Theo this shift: {M.money(t['theo'])}", ""))
        head = html_pane(
            f"<h3>{esc(self.shift.label())}</h3><div class=\"row\">{chips}</div>"
            f'<div class="muted">Data as of: {clock}; read {esc(M.when(snap.generated_at))} · open visits are live, '
            f"refresh to re-read{stale}</div>", ["shift-head"])
        in_room = _table(snap.in_room.with_columns(pl.when(pl.col("open")).then(pl.lit("in the room"))
                                                   .otherwise(pl.lit("left")).alias("state"),
                                                   pl.col("minutes").round(0).cast(pl.Int64))
                         if snap.in_room.height else snap.in_room,
                         {"name": "Player", "player_id": "Id", "tier": "Tier", "state": "Now", "since": "Since",
                          "minutes": "Minutes", "location": "Area", "source": "Source"},
                         "shift-in-room", self._open, "Nobody in the room during this shift.")
        attention = _table(snap.attention.with_columns(
                               pl.when(pl.col("in_room")).then(pl.lit("yes")).otherwise(pl.lit("")).alias("in_room"))
                           if snap.attention.height else snap.attention,
                           {"severity": "Severity", "name": "Player", "player_id": "Id", "in_room": "In room",
                            "reasons": "Why"},
                           "shift-attention", self._open, "Nobody needs attention this shift.")
        incidents = _table(snap.incidents, {"time": "Time", "type": "Type", "name": "Player", "player_id": "Id",
                                            "detail": "Detail", "severity": "Severity", "by": "By",
                                            "source": "Source"},
                           "shift-incidents", self._open, "No incidents this shift.")
        top = _table(snap.top_theo, {"name": "Player", "player_id": "Id", "tier": "Tier", "theo": "Theo",
                                     "minutes": "Minutes", "slips": "Slips"},
                     "shift-top-theo", self._open, "No rated play this shift.")
        card = dict(sizing_mode="stretch_width", collapsible=False, margin=(6, 6))
        return pn.Column(
            head,
            pn.Row(pn.Card(in_room, title="Who is in the room", **card),
                   pn.Card(attention, title="Who needs attention", **card), sizing_mode="stretch_width"),
            pn.Row(pn.Card(incidents, title="Who had an incident", **card),
                   pn.Card(top, title="Top players by theo", **card), sizing_mode="stretch_width"),
            html_pane('<div class="muted">Click a row to open the player.</div>'),
            sizing_mode="stretch_width", css_classes=["shift-report"])

    def __panel__(self) -> pn.viewable.Viewable:
        # a property's snapshot is a scan of its events the first time (seconds at 20M): read on a
        # worker thread, so that the server's other sessions do not wait for it
        report = live_async(self.shift.snapshot, self._report,
                            [(self.shift, ["property_id", "day", "shift", "refresh"])], waiting="Reading the shift…")
        return pn.Column(pn.Row(self._property, self._day, self._which, self._latest, self._refresh),
                         report, sizing_mode="stretch_width")


class ShiftSummaryView(pn.viewable.Viewer):
    """A small card of one property's shift, embeddable anywhere (overview, other dashboards)."""

    shift = param.ClassSelector(class_=ShiftState, doc="Property and shift window shown.")
    names = param.Integer(default=4, bounds=(0, 20), doc="How many names of people in the room to list.")

    def _card(self) -> str:
        snap = self.shift.snapshot()
        if snap.message:
            return f'<div class="empty">{esc(snap.message)}</div>'
        t = snap.totals
        room = snap.in_room.filter(pl.col("open")) if snap.in_room.height else snap.in_room
        who = ", ".join(room["name"].head(self.names).to_list()) if room.height else "nobody"
        more = f" and {room.height - self.names} more" if room.height > self.names else ""
        attention = ", ".join(snap.attention["name"].head(self.names).to_list()) if snap.attention.height else "nobody"
        chips = (chip(f"In room {t['in_room']}", "info")
                 + chip(f"Attention {t['attention']}", "warn" if t["attention"] else "")
                 + chip(f"Incidents {t['incidents']}", "bad" if t["incidents"] else "")
                 + chip(f"Theo {M.money(t['theo'])}", ""))
        return (f'<div class="card"><b>{esc(self.shift.label())}</b>'
                f'<div class="row" style="margin:4px 0">{chips}</div>'
                f'<div class="muted">In the room: {esc(who)}{esc(more)}</div>'
                f'<div class="muted">Needs attention: {esc(attention)}</div></div>')

    def __panel__(self) -> pn.viewable.Viewable:
        # the snapshot is a scan of the property's events the first time (seconds at 20M): on a worker
        # thread, so that the server's other sessions do not wait while an overview fills in
        return live_html_async(self._card, [(self.shift, ["property_id", "day", "shift", "refresh"])],
                               ["shift-summary", f"shift-summary-{self.shift.property_id}"],
                               waiting="Reading the shift…", width=330, sizing_mode=None)


class PlayerShiftLens(pn.viewable.Viewer):
    """How the open player appears in the shift report of their property (same snapshot)."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player.")
    shift = param.ClassSelector(class_=ShiftState, doc="Reads the shift snapshot the lens shows.")

    def _lens(self) -> str:
        s = self.player.snapshot
        if s is None or not s.found:
            return ""
        lens = self.shift.player_lens(s)
        if lens is None:
            return '<div class="muted">No property: not in any shift report.</div>'
        parts = []
        if lens["in_room"]:
            r = lens["in_room"][0]
            state = "In the room" if r["open"] else "Visited"
            parts.append(chip(f"{state} since {M.when(r['since'])} · {r['location']}", "info"))
        else:
            parts.append(chip("Not in the room this shift", ""))
        if lens.get("stale_since"):
            parts.append(chip(f"Open visit since {M.when(lens['stale_since'])} without a check-out "
                              f"(left out of shift reports after {M.STALE_OPEN_HOURS} h)", "warn"))
        for r in lens["attention"]:
            parts.append(chip(f"Needs attention: {r['reasons']}", SEVERITY_TONE.get(r["severity"], "warn")))
        for r in lens["incidents"]:
            parts.append(chip(f"Incident: {r['type']} {r['detail']}", "bad"))
        for r in lens["top_theo"]:
            parts.append(chip(f"Top theo this shift: {M.money(r['theo'])}", "good"))
        return (f'<div class="muted">Shift report · {esc(lens["label"])}</div>'
                f'<div class="row">{"".join(parts)}</div>')

    def __panel__(self) -> pn.viewable.Viewable:
        # a property's shift snapshot is a scan of its events (seconds at 20M the first time):
        # the player's header, metrics and timeline show without waiting for it
        return live_html_async(self._lens, [(self.player, ["snapshot"])], ["shift-lens"],
                               waiting="Reading the shift report…")
