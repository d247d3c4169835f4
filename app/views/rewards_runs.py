"""The Rewards page's simulation, issuing with a holdout, and past runs with their ROI and intervals."""

from __future__ import annotations

import panel as pn
import param
import polars as pl

from app.state.rewards import RewardsState
from app.views.common import chip, empty, esc, html_pane
from app.views.rewards import frame_table

SUMMARY = ["eligible", "issued", "capped", "blocked_profit", "blocked_abuse", "blocked_cap", "lost_conflict",
           "value", "expected_cost", "expected_margin", "expected_net"]


class SimulationView(pn.viewable.Viewer):
    """What issuing the active rules plus the editor's rule would do now: per rule and segment."""

    rewards = param.ClassSelector(class_=RewardsState, doc="The Rewards page state.")

    def __init__(self, **params):
        super().__init__(**params)
        self._go = pn.widgets.Button(label="Simulate", color="primary", css_classes=["rule-simulate"])
        self._go.on_click(lambda _e: self.rewards.simulate())

    @param.depends("rewards.simulation")
    def _result(self) -> pn.viewable.Viewable:
        sim = self.rewards.simulation
        if not sim:
            return empty("Simulate to see eligible players, expected cost and margin before issuing.", "sim-empty")
        return pn.Column(
            html_pane(f"<div class='muted'>snapshot {esc(sim['as_of'])}, {sim['players']:,} players in your scope; "
                      "expected margin: the profit model's incremental margin over its horizon</div>"),
            frame_table(sim["totals"].select("rule_id", *SUMMARY), "sim-totals", 200),
            html_pane("<b>Per segment</b>"),
            frame_table(sim["segments"].select("rule_id", "segment", *SUMMARY), "sim-segments", 260),
            html_pane("<b>Not issued as is, and why</b>"),
            frame_table(sim["examples"].select("player_id", "rule_id", "status", "reason"), "sim-examples", 220,
                        empty_text="None: every player meeting a rule's conditions gets its reward in full."),
            sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(html_pane("<h3>Simulate</h3>"), self._go, self._result, sizing_mode="stretch_width")


class IssueView(pn.viewable.Viewer):
    """Issue saved rules now, holding out a random control group (marketers and admins)."""

    rewards = param.ClassSelector(class_=RewardsState, doc="The Rewards page state.")

    def __init__(self, **params):
        super().__init__(**params)
        r = self.rewards
        self._rules = pn.widgets.MultiChoice(label="Saved rules to issue", options=self._options(),
                                             sizing_mode="stretch_width", css_classes=["issue-rules"])
        self._holdout = pn.widgets.FloatSlider(label="Holdout share", start=0.0, end=0.9, step=0.05, value=r.holdout,
                                               css_classes=["issue-holdout"])
        self._window = pn.widgets.IntInput(label="ROI window (days)", value=r.window, start=1, end=365, width=140)
        self._go = pn.widgets.Button(label="Issue now", color="warning", css_classes=["issue-run"],
                                     disabled=not r.session.can("issue_rewards"))
        self._holdout.param.watch(lambda e: setattr(r, "holdout", e.new), "value")
        self._window.param.watch(lambda e: setattr(r, "window", e.new), "value")
        self._go.on_click(lambda _e: r.issue(list(self._rules.value)))
        r.param.watch(lambda _e: setattr(self._rules, "options", self._options()), "refresh")

    def _options(self) -> list[str]:
        rules = self.rewards.rules()
        return rules.filter(pl.col("status") == "active")["rule_id"].to_list() if rules.height else []

    def __panel__(self) -> pn.viewable.Viewable:
        note = ("<div class='muted'>Each player's arm is drawn from a hash of the player and the run: "
                "deterministic, recorded with the run. The reason above is required.</div>")
        if not self.rewards.session.can("issue_rewards"):
            note = "<div class='muted'>Your role may simulate but not issue.</div>"
        return pn.Column(html_pane("<h3>Issue</h3>" + note), self._rules, pn.Row(self._holdout, self._window),
                         self._go, sizing_mode="stretch_width")


def _headline(report) -> str:
    h = report.headline
    parts = [chip(report.evidence, "warn" if "weaker" in report.evidence else "info")]
    if not report.complete:
        parts.append(chip(f"window not over: {report.observed_days:.1f} of {report.window_days} days", "warn"))
    for key, label in (("visited", "visit rate"), ("visits", "visits"), ("theo", "theo"), ("net_revenue", "net revenue"),
                       ("theo_net", "theo - cost")):
        if key in h:
            e = h[key]
            scale, fmt = (100.0, "{:+.1f} pts") if key == "visited" else (1.0, "{:+,.2f}")
            parts.append(chip(f"{label}: {fmt.format(e['difference'] * scale)} "
                              f"[{fmt.format(e['ci_low'] * scale)}, {fmt.format(e['ci_high'] * scale)}]"))
    gain = h.get("net_gain_total")
    if gain:
        tone = "good" if gain["ci_low"] > 0 else ("bad" if gain["ci_high"] < 0 else "")
        parts.append(chip(f"net gain {gain['difference']:+,.0f} [{gain['ci_low']:+,.0f}, {gain['ci_high']:+,.0f}] "
                          f"on cost {h['cost_total']:,.0f}", tone))
    return (f"<div><b>{esc(report.run_id)}</b> ({esc(report.kind)}): {report.n_treated:,} treated vs "
            f"{report.n_control:,} control; per treated player, 95% intervals</div><div class='row'>{''.join(parts)}</div>")


class RunsView(pn.viewable.Viewer):
    """Past runs and campaigns; click one for its ROI with intervals, overall and per segment."""

    rewards = param.ClassSelector(class_=RewardsState, doc="The Rewards page state.")

    @param.depends("rewards.refresh")
    def _runs(self) -> pn.viewable.Viewable:
        runs = self.rewards.runs()
        if runs.is_empty():
            return empty("No runs or campaigns yet.", "runs-empty")
        return frame_table(runs, "runs-list", 240, lambda row: setattr(self.rewards, "run_id", row["run_id"]))

    @param.depends("rewards.run_id", "rewards.refresh")
    def _roi(self) -> pn.viewable.Viewable:
        report = self.rewards.roi()
        if report is None:
            return empty(self.rewards.message if self.rewards.run_id else "Click a run to measure it.", "roi-empty")
        cols = [c for c in ("segment", "outcome", "n_treated", "n_control", "treated_mean", "control_mean",
                            "difference", "ci_low", "ci_high", "p_value") if c in report.effects.columns]
        return pn.Column(html_pane(_headline(report), ["roi-headline"]),
                         frame_table(report.effects.select(cols), "roi-effects", 320), sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(html_pane("<h3>Past runs and their ROI</h3>"), self._runs, self._roi,
                         sizing_mode="stretch_width")
