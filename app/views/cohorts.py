"""Cohort views (HoloViews): the retention heatmap (share active in month k), revenue per cohort,
cumulative revenue per player, and retention curves with their sBG projection."""

from __future__ import annotations

import math

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (the Bokeh backend: options need it, notebooks too)
import panel as pn
import param
import polars as pl

from app import model as M
from app.state.cohorts import CohortState
from app.views.common import empty, esc, html_pane, table

HEIGHT = 340
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d"]


def cohort_label(frame: pl.DataFrame, grouped: bool) -> pl.Expr:
    """'2025-03' or '2025-03 · P01' (when cohorts are compared by group)."""
    month = pl.col("cohort").dt.strftime("%Y-%m")
    return (month + pl.lit(" · ") + pl.col("group")) if grouped else month


class CohortControlsView(pn.viewable.Viewer):
    """How cohorts are formed and compared."""

    cohorts = param.ClassSelector(class_=CohortState, doc="The cohort state.")

    def __panel__(self) -> pn.viewable.Viewable:
        c = self.cohorts
        return pn.Row(
            pn.widgets.RadioButtonGroup.from_param(c.param.basis, label="Cohort by", color="primary",
                                                   variant="outline", css_classes=["cohort-basis"], align="end"),
            pn.widgets.Select.from_param(c.param.by, label="Compare", width=120, css_classes=["cohort-by"]),
            pn.widgets.Select.from_param(c.param.scheme, label="Segments of", width=130, css_classes=["cohort-scheme"]),
            pn.widgets.Select.from_param(c.param.revenue, label="Revenue", width=110),
            pn.widgets.IntInput.from_param(c.param.months, label="Months", width=90),
            pn.widgets.IntInput.from_param(c.param.horizon, label="Project (months)", width=120),
            pn.widgets.MultiChoice.from_param(c.param.groups, label="Groups", width=260),
            sizing_mode="stretch_width", css_classes=["cohort-controls"])


class CohortChartsView(pn.viewable.Viewer):
    """Retention heatmap, revenue per cohort, cumulative revenue per player, retention curves."""

    cohorts = param.ClassSelector(class_=CohortState, doc="The cohort state.")

    @param.depends("cohorts.basis", "cohorts.by", "cohorts.scheme", "cohorts.revenue", "cohorts.months",
                   "cohorts.groups", "cohorts.horizon")
    def _body(self) -> pn.viewable.Viewable:
        c = self.cohorts
        data = c.table()
        if data.is_empty():
            return empty(c.message or "No cohort to show.", "cohorts-empty")
        grouped = c.by != "all"
        data = data.with_columns(cohort_label(data, grouped).alias("label"))
        labels = data.sort("cohort", "group")["label"].unique(maintain_order=True).to_list()
        heat_rows = [(r["k"], r["label"], r["retention"], r["active"], r["players"]) for r in data.iter_rows(named=True)]
        heat = hv.HeatMap(heat_rows, kdims=["month k", "cohort"], vdims=["retention", "active", "players"]).opts(
            title="Share of each cohort active in month k", height=max(HEIGHT, 22 * len(labels)), responsive=True,
            cmap="Blues", clim=(0, 1), colorbar=True, tools=["hover"], invert_yaxis=True, xlabel="months since joining",
            shared_axes=False)
        heat = heat * hv.Labels([(k, lab, f"{v:.0%}") for k, lab, v, *_ in heat_rows],
                                kdims=["month k", "cohort"], vdims=["text"]).opts(text_font_size="8pt")
        revenue = c.revenue_by_cohort().with_columns(pl.col("cohort").dt.strftime("%Y-%m").alias("month"))
        kdims = ["cohort", "group"] if grouped else ["cohort"]
        bars = hv.Bars(revenue.select("month", *(["group"] if grouped else []), "revenue").rows(),
                       kdims=kdims, vdims=["revenue"]).opts(
            title=f"{c.revenue} per cohort (to date)", height=HEIGHT, responsive=True, xrotation=45,
            tools=["hover"], cmap=PALETTE, show_legend=grouped, shared_axes=False)
        cumulative = hv.Overlay([
            hv.Curve(part.sort("k").select("k", "cumulative_revenue_per_player").rows(), "month k",
                     "per player", label=lab).opts(color=PALETTE[i % len(PALETTE)], alpha=0.8)
            for i, ((lab,), part) in enumerate(data.group_by("label", maintain_order=True))]).opts(
            title=f"Cumulative {c.revenue} per cohort member", height=HEIGHT, responsive=True, show_legend=False,
            shared_axes=False)
        return pn.Column(
            html_pane(f"<h3>{esc(c.label())}</h3><div class=\"muted\">Month 0 is the cohort's own month; only "
                      "complete months are shown. Retention here is the share with any activity in that month "
                      "(players come back, so it can rise again).</div>"),
            pn.pane.HoloViews(heat, sizing_mode="stretch_width", css_classes=["cohort-heatmap"]),
            pn.Row(pn.pane.HoloViews(bars, sizing_mode="stretch_width", css_classes=["cohort-revenue"]),
                   pn.pane.HoloViews(cumulative, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            self._curves(), sizing_mode="stretch_width")

    def _curves(self) -> pn.viewable.Viewable:
        c = self.cohorts
        curves, fits = c.curves()
        if curves.is_empty():
            return empty("Too little history for retention curves.", "cohort-curves-empty")
        layers = []
        for i, ((group,), part) in enumerate(curves.group_by("group", maintain_order=True)):
            color = PALETTE[i % len(PALETTE)]
            observed = part.drop_nulls("observed").select("k", "observed").rows()
            layers.append(hv.Scatter(observed, "month k", "still around", label=f"{group} observed").opts(
                color=color, size=6))
            if not part["projected"].is_nan().all():
                layers.append(hv.Curve(part.select("k", "projected").rows(), "month k", "still around",
                                       label=f"{group} sBG").opts(color=color, line_dash="dashed"))
        plot = hv.Overlay(layers).opts(title="Share still around (last activity in month k or later) and the sBG "
                                             "projection", height=HEIGHT + 40, responsive=True, ylim=(0, 1.02),
                                       legend_position="right", tools=["hover"], shared_axes=False)
        rows = [{"group": r["group"], "alpha": _num(r["alpha"]), "beta": _num(r["beta"]),
                 "churn": "—" if math.isnan(r["alpha"]) else f"{r['alpha'] / (r['alpha'] + r['beta']):.1%}",
                 "cohorts": r["cohorts"], "players": M.number(r["players"]), "ll": "—" if math.isnan(r["log_likelihood"]) else f"{r['log_likelihood']:,.1f}",
                 "note": r["note"]} for r in fits.iter_rows(named=True)]
        fit_table = html_pane(
            "<h4>Shifted-beta-geometric fits (Fader &amp; Hardie 2007)</h4>"
            + table(rows, [("group", "Group"), ("alpha", "α"), ("beta", "β"), ("churn", "First-month churn"),
                           ("cohorts", "Cohorts"), ("players", "Players"), ("ll", "Log-likelihood"), ("note", "Note")])
            + '<div class="muted">Churn probabilities vary across players as Beta(α, β); retention rises as the '
              "churn-prone leave. Very large α and β mean everyone churns at about the same rate.</div>",
            ["cohort-fits"])
        return pn.Column(pn.pane.HoloViews(plot, sizing_mode="stretch_width", css_classes=["cohort-curves"]),
                         fit_table, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.panel(self._body)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:,.{digits}g}" if abs(value) < 1e5 else f"{value:.2e}"
