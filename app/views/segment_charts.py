"""Segmentation charts (HoloViews): players vs value share per segment, the distribution of a metric
stacked by segment, the segment x segment crosstab, and segment profiles with catalog labels.

Charts are DynamicMaps over the state's methods, so a threshold move updates the existing plots'
data instead of building new figures.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (the Bokeh backend: options need it, notebooks too)
import panel as pn
import param
import polars as pl

from app.state.segments import SegmentsState, metric_label
from app.views.common import esc, live_html
from app.views.segments import AfterCounts
from metrics.catalog import CATALOG, UNIT_FORMATS

HEIGHT = 300
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d"]


def _fmt(column: str, value: float | None) -> str:
    """A profile value in its catalog unit's format."""
    if value is None or value != value:
        return "—"
    metric = CATALOG.get(column)
    spec = UNIT_FORMATS.get(metric.unit, "{:,.2f}") if metric else "{:,.2f}"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return f"{value:,.2f}"


def _range(low: float, high: float) -> str:
    """'1.2k–1.8k': a short label of a histogram bin."""
    def short(x: float) -> str:
        for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(x) >= size:
                return f"{x / size:.3g}{unit}"
        return f"{x:.3g}"
    return f"{short(low)}–{short(high)}"


class SegmentChartsView(pn.viewable.Viewer):
    """Shares, distribution, crosstab and profiles of the scheme shown."""

    segments = param.ClassSelector(class_=SegmentsState, doc="The dashboard state.")
    shown = param.Integer(default=0, precedence=-1,
                          doc="Bumped on the tick after the dashboard changed: what the charts redraw on.")

    def __init__(self, **params):
        super().__init__(**params)
        s = self.segments
        bump = AfterCounts(lambda: self.param.update(shown=self.shown + 1),
                           prepare=lambda: (s.summary(), s.crosstab(), s.profiles(), s.histogram()))
        s.param.watch(bump, ["revision", "scheme", "as_of", "compare", "distribution", "profile_metrics"])
        self._distribution = pn.widgets.Select.from_param(s.param.distribution, label="Distribution of",
                                                          css_classes=["segment-distribution-pick"], width=220)
        self._compare = pn.widgets.Select.from_param(s.param.compare, label="Cross with", width=180,
                                                     css_classes=["segment-compare"])
        self._profile = pn.widgets.MultiChoice.from_param(s.param.profile_metrics, label="Profile metrics",
                                                          sizing_mode="stretch_width")

    # -- charts ------------------------------------------------------------------------------------
    def _shares(self, *_deps) -> hv.Bars:
        summary = self.segments.summary()
        rows = []
        for r in summary.iter_rows(named=True) if summary.height else []:
            rows += [(r["segment"], "players", r["players_share"] or 0.0),
                     (r["segment"], "theo", r["theo_total_sum_share"] or 0.0),
                     (r["segment"], "cash in", r["cash_in_total_sum_share"] or 0.0)]
        return hv.Bars(rows, kdims=["segment", "measure"], vdims=["share"]).opts(
            title="Share of players vs share of value", height=HEIGHT, responsive=True, ylim=(0, 1), invert_axes=True,
            tools=["hover"], framewise=True, show_legend=True,
            cmap=PALETTE[:3], xlabel="", ylabel="share", invert_yaxis=True)

    def _histogram(self, *_deps) -> hv.Bars:
        s = self.segments
        hist = s.histogram()
        rows = [] if hist.is_empty() else [(_range(r["low"], r["high"]), r["segment"], r["players"])
                                           for r in hist.iter_rows(named=True)]
        label = metric_label(s.distribution or "")
        return hv.Bars(rows, kdims=["range", "segment"], vdims=["players"]).opts(
            stacked=True, title=f"{label}: players per bin, by segment", height=HEIGHT, responsive=True,
            xrotation=60, tools=["hover"], framewise=True, cmap=PALETTE, xlabel=label, ylabel="players")

    def _heatmap(self, *_deps) -> hv.Overlay:
        s = self.segments
        cross = s.crosstab()
        rows = [] if cross.is_empty() else [(r["column"], r["row"], r["row_share"] or 0.0, r["players"])
                                            for r in cross.iter_rows(named=True)]
        # the first value dimension colours the cells: the share of the row, so rows of any size compare
        heat = hv.HeatMap(rows, kdims=["compare", "segment"], vdims=["row_share", "players"]).opts(
            title=f"{s.scheme} x {s.compare} (colour: share of the row)", height=HEIGHT, responsive=True,
            cmap="Blues", clim=(0, 1), colorbar=False, tools=["hover"], framewise=True,
            xlabel=s.compare, ylabel=s.scheme, invert_yaxis=True)
        labels = hv.Labels([(c, r, n) for c, r, _share, n in rows], kdims=["compare", "segment"],
                           vdims=["players"]).opts(text_font_size="10pt", text_color="#1f2933")
        return heat * labels

    # -- tables ------------------------------------------------------------------------------------
    def _crosstab_table(self) -> str:
        s = self.segments
        cross = s.crosstab()
        if cross.is_empty():
            return ""
        columns = list(s.schemes[s.compare].labels)
        head = "".join(f"<th>{esc(c)}</th>" for c in columns)
        body = []
        for row in s.current.labels:
            cells = cross.filter(pl.col("row") == row)
            tds = "".join(
                f'<td style="background:rgba(76,120,168,{(r["row_share"] or 0) * 0.6:.2f})">{r["players"]:,}</td>'
                for r in cells.iter_rows(named=True))
            body.append(f"<tr><th>{esc(row)}</th>{tds}<td>{cells['players'].sum():,}</td></tr>")
        return (f'<table class="simple"><tr><th>{esc(s.scheme)} \\ {esc(s.compare)}</th>{head}<th>total</th></tr>'
                f'{"".join(body)}</table>')

    def _profiles_table(self) -> str:
        s = self.segments
        prof = s.profiles()
        if prof.is_empty():
            return ""
        segments = prof["segment"].to_list()
        head = "".join(f"<th>{esc(x)}</th>" for x in segments)
        body = [f"<tr><th>Players</th>{''.join(f'<td>{n:,}</td>' for n in prof['players'])}</tr>"]
        for m in [c for c in prof.columns if c not in ("segment", "players")]:
            tip = esc(CATALOG[m].description) if m in CATALOG else ""
            cells = "".join(f"<td>{esc(_fmt(m, v))}</td>" for v in prof[m].to_list())
            body.append(f'<tr><th title="{tip}">{esc(metric_label(m))}</th>{cells}</tr>')
        return (f'<h3>Profiles: mean per player in each {esc(s.scheme)} segment</h3>'
                f'<table class="simple"><tr><th>Metric</th>{head}</tr>{"".join(body)}</table>')

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.segments
        if not s.ready:
            return pn.Column()
        shares = hv.DynamicMap(pn.bind(self._shares, self.param.shown))
        histogram = hv.DynamicMap(pn.bind(self._histogram, self.param.shown))
        heatmap = hv.DynamicMap(pn.bind(self._heatmap, self.param.shown))
        watch = [(self, ["shown"])]
        return pn.Column(
            pn.Row(pn.pane.HoloViews(shares, sizing_mode="stretch_width", css_classes=["segment-shares"]),
                   pn.Column(self._distribution,
                             pn.pane.HoloViews(histogram, sizing_mode="stretch_width",
                                               css_classes=["segment-distribution"]),
                             sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            pn.Row(pn.Column(self._compare, pn.pane.HoloViews(heatmap, sizing_mode="stretch_width",
                                                                css_classes=["segment-heatmap"]),
                             live_html(self._crosstab_table, watch, ["segment-crosstab"]),
                             sizing_mode="stretch_width"),
                   pn.Column(self._profile,
                             live_html(self._profiles_table, watch, ["segment-profiles"]),
                             sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width", css_classes=["segment-charts"])
