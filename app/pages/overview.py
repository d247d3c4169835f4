"""Overview page: KPI strip, the current shift at each property, and what the store holds."""

from __future__ import annotations

import panel as pn
import param

from app.data import DataStore
from app.state.overview import OverviewState
from app.state.shift import ShiftState
from app.views.common import esc, html_pane
from app.views.kpi import KpiStripView
from app.views.shift import ShiftSummaryView
from app.views.status import StoreStatusView


class OverviewPage(pn.viewable.Viewer):
    """KPIs vs the previous period, shift summaries and the store's contents."""

    overview = param.ClassSelector(class_=OverviewState, doc="The KPI period.")

    def __panel__(self) -> pn.viewable.Viewable:
        data: DataStore = self.overview.data
        status = StoreStatusView(data=data)
        refresh = pn.widgets.Button(label="Refresh", color="primary", css_classes=["overview-refresh"])

        def again(_e):
            data.invalidate()
            status.param.trigger("refresh")
            self.overview.param.trigger("refresh")
        refresh.on_click(again)
        session = self.overview.session
        available, _ = data.available()
        shifts = ([ShiftSummaryView(shift=ShiftState(data=data, session=session, property_id=p))
                   for p in data.properties(session.principal)]
                  if available and session.may_view("shift") else [])
        # table counts and batches are about every property: for unscoped readers of the status page
        store = ([html_pane("<h3>Store</h3>"), status]
                 if session.may_view("status") and session.principal.properties is None else [])
        return pn.Column(
            html_pane(f"<h2>Overview</h2><div class='muted'>Store <code>{esc(data.path)}</code></div>"),
            refresh,
            html_pane("<h3>KPIs</h3>"), KpiStripView(overview=self.overview),
            *([html_pane("<h3>Shift now (newest shift with data, per property)</h3>"), pn.FlexBox(*shifts)]
              if shifts else []),
            *store,
            sizing_mode="stretch_width", css_classes=["page-overview"])
