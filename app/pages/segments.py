"""Segmentation page: scheme and thresholds | counts and value shares, then charts, crosstab and
profiles, the member list, and migration between snapshots."""

from __future__ import annotations

import panel as pn
import param

from app.state.migration import MigrationState
from app.state.segment_members import MemberListState
from app.state.segments import SegmentsState
from app.views.common import html_pane
from app.views.segment_charts import SegmentChartsView
from app.views.segment_members import MemberListView
from app.views.segment_migration import MigrationView
from app.views.segments import SchemeControlsView, SchemeHistoryView, SegmentCountsView


class SegmentsPage(pn.viewable.Viewer):
    """Tune a segmentation live, see who is in each segment, act on a segment."""

    segments = param.ClassSelector(class_=SegmentsState, doc="Snapshot, scheme and its thresholds.")
    open_player = param.Callable(default=None, allow_None=True, doc="Opens a player (and the player page).")

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.segments
        head = html_pane("<h2>Segments</h2><div class=\"muted\">Move a threshold: counts, shares, charts and the "
                         "member list follow at once. Save it as a new version and the next build uses it.</div>")
        if not s.ready:
            return pn.Column(head, SegmentCountsView(segments=s), sizing_mode="stretch_width",
                             css_classes=["page-segments"])
        members = MemberListState(segments=s)
        card = dict(sizing_mode="stretch_width", collapsible=True, margin=(6, 6))
        return pn.Column(
            head,
            pn.Row(pn.Column(SchemeControlsView(segments=s), width=380),
                   pn.Column(SegmentCountsView(segments=s), sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            SegmentChartsView(segments=s),
            pn.Card(MemberListView(members=members, open_player=self.open_player), title="Members", **card),
            pn.Card(MigrationView(migration=MigrationState(segments=s)), title="Migration between snapshots",
                    **card),
            pn.Card(SchemeHistoryView(segments=s), title="Saved versions of this scheme", collapsed=True, **card),
            sizing_mode="stretch_width", css_classes=["page-segments"])
