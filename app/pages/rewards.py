"""Rewards page: rules and their editor, a one-player test, simulation, issuing, past runs' ROI."""

from __future__ import annotations

import panel as pn
import param

from app.state.rewards import RewardsState
from app.views.common import html_pane
from app.views.rewards import RuleEditorView, RulesListView, RuleTestView
from app.views.rewards_runs import IssueView, RunsView, SimulationView


class RewardsPage(pn.viewable.Viewer):
    """Reward rules with profit safety, and their measured ROI against holdouts."""

    rewards = param.ClassSelector(class_=RewardsState, doc="The Rewards page state.")

    def __panel__(self) -> pn.viewable.Viewable:
        card = dict(sizing_mode="stretch_width", collapsible=False, margin=(6, 6))
        left = pn.Column(pn.Card(RulesListView(rewards=self.rewards), title="Rules", **card),
                         pn.Card(RuleEditorView(rewards=self.rewards), title="Editor", **card),
                         sizing_mode="stretch_width")
        right = pn.Column(pn.Card(RuleTestView(rewards=self.rewards), title="Test", **card),
                          pn.Card(SimulationView(rewards=self.rewards), title="Simulation", **card),
                          pn.Card(IssueView(rewards=self.rewards), title="Issue", **card),
                          sizing_mode="stretch_width")
        return pn.Column(
            html_pane("<h2>Rewards</h2><div class='muted'>Rules are versioned and audited; every simulation and "
                      "run applies the profit-safety check, the abuse policy, priorities and caps.</div>"),
            pn.Row(left, right, sizing_mode="stretch_width"),
            pn.Card(RunsView(rewards=self.rewards), title="Runs and ROI", **card),
            sizing_mode="stretch_width", css_classes=["page-rewards"])
