"""Cohorts page: retention heatmap, revenue per cohort and sBG retention curves."""

from __future__ import annotations

import panel as pn
import param

from app.state.cohorts import CohortState
from app.views.cohorts import CohortChartsView, CohortControlsView
from app.views.common import html_pane


class CohortsPage(pn.viewable.Viewer):
    """Cohorts by enrollment or first-visit month, for all players or compared between groups."""

    cohorts = param.ClassSelector(class_=CohortState, doc="How cohorts are formed and compared.")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(html_pane("<h2>Cohorts</h2>"), CohortControlsView(cohorts=self.cohorts),
                         CohortChartsView(cohorts=self.cohorts), sizing_mode="stretch_width",
                         css_classes=["page-cohorts"])
