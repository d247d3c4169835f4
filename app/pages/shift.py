"""Shift report page: one property and shift window."""

from __future__ import annotations

import panel as pn
import param

from app.state.shift import ShiftState
from app.views.common import html_pane
from app.views.shift import ShiftReportView


class ShiftPage(pn.viewable.Viewer):
    """Who is in the room, who needs attention, who had an incident, top theo."""

    shift = param.ClassSelector(class_=ShiftState, doc="Property and shift window.")
    open_player = param.Callable(default=None, allow_None=True, doc="Opens a player (and the player page).")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(html_pane("<h2>Shift report</h2>"),
                         ShiftReportView(shift=self.shift, open_player=self.open_player),
                         sizing_mode="stretch_width", css_classes=["page-shift"])
