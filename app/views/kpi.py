"""The overview's KPI strip: each KPI vs the previous period, with its trend."""

from __future__ import annotations

import panel as pn
import param

from app.state.overview import OverviewState
from app.views.common import change_html, empty, esc, html_pane, sparkline


class KpiStripView(pn.viewable.Viewer):
    """Cash-in, theo, active, new and at-risk players, rewards issued and redeemed."""

    overview = param.ClassSelector(class_=OverviewState, doc="The overview state (period, KPIs).")

    def __init__(self, **params):
        super().__init__(**params)
        self._days = pn.widgets.RadioButtonGroup(options={"7 days": 7, "30 days": 30, "90 days": 90},
                                                 value=self.overview.days, color="primary", variant="outline",
                                                 css_classes=["kpi-period"])
        self._days.param.watch(lambda e: setattr(self.overview, "days", e.new), "value")

    @param.depends("overview.days", "overview.refresh")
    def _strip(self) -> pn.viewable.Viewable:
        cards = self.overview.cards()
        if not cards:
            return empty(self.overview.kpis().message or "No KPIs yet.", "kpi-empty")
        html = []
        for c in cards:
            html.append(
                f'<div class="card kpi kpi-{esc(c["key"])}"><div class="label">{esc(c["label"])}</div>'
                f'<div class="value">{esc(c["display"])}</div>'
                f'<div>{change_html(c["change"], c["direction"], c["good"], c["compare"])}</div>'
                f'<div class="muted">previous: {esc(c["previous_display"])}</div>'
                f"<div>{sparkline(c['trend'], width=140)}</div>"
                f'<div class="muted">{esc(c["detail"])}</div></div>')
        return html_pane(f'<div class="muted">{esc(self.overview.period_label())}; trend: the last '
                         f'{len(cards[0]["trend"])} periods</div><div class="cards">{"".join(html)}</div>',
                         ["kpi-strip"])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._days, self._strip, sizing_mode="stretch_width")
