"""Shift report state: one property and a shift window (no Panel here)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import param

from app import model as M
from app.data import DataStore, DataUnavailable, PlayerData
from app.state.session import Session


class ShiftState(param.Parameterized):
    """Which property and shift the report shows; the snapshot itself comes from the data store, so
    the report, its summary widget and the player page's shift lens show the same truth."""

    data = param.ClassSelector(class_=DataStore, doc="The cached data store.")
    session = param.ClassSelector(class_=Session, default=Session(), instantiate=True,
                                  doc="The signed-in user: every read is scoped to them.")
    property_id = param.String(default="", doc="The property of the report (?property= in the URL).")
    day = param.CalendarDate(default=None, allow_None=True,
                             doc="The day the shift starts on (default: the shift of the newest event).")
    shift = param.Selector(default="swing", objects=list(M.SHIFTS),
                           doc="day 06-14, swing 14-22, grave 22-06 (into the next morning).")
    refresh = param.Event(doc="Read the snapshot again (open visits are live data).")

    def __init__(self, **params: Any):
        super().__init__(**params)
        if not self.property_id:
            props = self.property_options()
            if props:
                self.property_id = props[0]
        if self.day is None:
            self.to_latest()

    def property_options(self) -> list[str]:
        """Properties to choose from."""
        try:
            return self.data.properties(self.session.principal)
        except DataUnavailable:
            return []

    def to_latest(self) -> None:
        """Show the shift holding the newest event in the store (the data's 'now', the same moment for
        every property)."""
        try:
            clock = self.data.data_clock(self.session.principal)
        except DataUnavailable:
            clock = None
        day, shift = M.shift_of(clock or datetime.now())
        self.param.update(day=day, shift=shift)

    @property
    def window(self) -> tuple[datetime, datetime]:
        """[start, end) of the shift."""
        return M.shift_window(self.day or date.today(), self.shift)

    @param.depends("property_id", "day", "shift", "refresh")
    def snapshot(self) -> M.ShiftSnapshot:
        """The shift snapshot (an empty one with a message when there is nothing to read)."""
        start, end = self.window
        if not self.property_id:
            return M.empty_shift("", start, end, "No property yet: ingest some data first.")
        try:
            return self.data.shift_snapshot(self.session.principal, self.property_id, start, end)
        except DataUnavailable as exc:
            return M.empty_shift(self.property_id, start, end, str(exc))

    def label(self) -> str:
        """'P01 · swing shift 2026-01-01 14:00-22:00'."""
        start, end = self.window
        return f"{self.property_id} · {self.shift} shift {start:%Y-%m-%d %H:%M}–{end:%H:%M}"

    def player_lens(self, player: PlayerData) -> dict[str, Any] | None:
        """How one player appears in a shift report, without changing this state: the shift of their
        open visit if they are in the room, else the newest shift at their preferred property."""
        try:
            visit = M.open_visit(player.current)  # the player's own events: no store-wide read
            clock = self.data.data_clock(self.session.principal) or datetime.now()
            stale = visit if visit and visit["ts"] < clock - timedelta(hours=M.STALE_OPEN_HOURS) else None
            if stale:
                # a check-out never recorded: the shift report leaves such visits out, and the shift they
                # began in would be a scan of its own (seconds at 20M) for every such player
                visit = None
            prop = (visit or {}).get("property_id") or (player.metrics or {}).get("preferred_property") or (
                player.properties["property_id"][0] if player.properties.height else None)
            if not prop:
                return None
            day, shift = M.shift_of(visit["ts"] if visit else clock)
            start, end = M.shift_window(day, shift)
            snap = self.data.shift_snapshot(self.session.principal, prop, start, end)
        except DataUnavailable:
            return None
        label = f"{prop} · {shift} shift {start:%Y-%m-%d %H:%M}–{end:%H:%M}"
        return {"label": label, "property_id": prop, "day": day, "shift": shift,
                "stale_since": stale["ts"] if stale else None, **snap.player(player.player_id)}
