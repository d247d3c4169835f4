"""Small Bokeh charts (bars, grouped bars, line, weekday x hour heatmap) that are built once and
then only fed new data.

Building a Bokeh figure costs tens of milliseconds; replacing the data of an existing one costs
almost nothing and sends only the new numbers to the browser. The player page switches players
often, so each chart keeps its figure and `update()` swaps its data and categories.
"""

from __future__ import annotations

from collections.abc import Sequence

import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearColorMapper
from bokeh.plotting import figure
from bokeh.transform import dodge

HEIGHT = 230
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2")
BLUES = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
HOURS = [str(h) for h in range(24)]


def _fig(title: str, x_factors: Sequence[str] | None = None, y_factors: Sequence[str] | None = None,
         height: int = HEIGHT):
    ranges = {}
    if x_factors is not None:
        ranges["x_range"] = FactorRange(factors=list(x_factors))
    if y_factors is not None:
        ranges["y_range"] = FactorRange(factors=list(y_factors))
    f = figure(title=title, height=height, sizing_mode="stretch_width", toolbar_location=None, tools="", **ranges)
    f.title.text_font_size = "12px"
    f.xgrid.grid_line_color = None
    f.outline_line_color = None
    return f


def _numbers(values: Sequence[float | None]) -> list[float]:
    return [float(v) if v is not None else 0.0 for v in values]


class Chart:
    """A chart: a Bokeh figure in a Panel pane, fed by `update()`."""

    def __init__(self, fig):
        self.fig = fig
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")

    def __panel__(self) -> pn.pane.Bokeh:
        return self.pane


class Bars(Chart):
    """Vertical bars of values per category."""

    def __init__(self, title: str, label: str = "value", color: str = PALETTE[0], rotate: bool = True):
        f = _fig(title, x_factors=[])
        self.source = ColumnDataSource({"x": [], "y": []})
        f.vbar(x="x", top="y", width=0.8, source=self.source, color=color)
        f.add_tools(HoverTool(tooltips=[("", "@x"), (label, "@y{0,0.[00]}")]))
        f.y_range.start = 0
        f.yaxis.axis_label = label
        if rotate:
            f.xaxis.major_label_orientation = 0.8
        super().__init__(f)

    def update(self, categories: Sequence[str], values: Sequence[float | None]) -> None:
        cats = [str(c) for c in categories]
        self.fig.x_range.factors = cats
        self.source.data = {"x": cats, "y": _numbers(values)}


class GroupedBars(Chart):
    """Side-by-side bars: one group per category, one bar per series."""

    def __init__(self, title: str, series: Sequence[str], label: str = "value"):
        f = _fig(title, x_factors=[])
        self.series = list(series)
        self.source = ColumnDataSource({"x": [], **{s: [] for s in self.series}})
        width = 0.8 / max(len(self.series), 1)
        for i, name in enumerate(self.series):
            f.vbar(x=dodge("x", -0.4 + width * (i + 0.5), range=f.x_range), top=name, width=width * 0.95,
                   source=self.source, color=PALETTE[i % len(PALETTE)], legend_label=name)
        f.add_tools(HoverTool(tooltips=[("", "@x"), *[(s, f"@{{{s}}}{{0,0.[00]}}") for s in self.series]]))
        f.y_range.start = 0
        f.yaxis.axis_label = label
        f.xaxis.major_label_orientation = 0.8
        f.legend.location = "top_left"
        f.legend.label_text_font_size = "11px"
        super().__init__(f)

    def update(self, categories: Sequence[str], values: dict[str, Sequence[float | None]]) -> None:
        cats = [str(c) for c in categories]
        self.fig.x_range.factors = cats
        self.source.data = {"x": cats, **{s: _numbers(values[s]) for s in self.series}}


class Line(Chart):
    """A line over categories (e.g. 30-day windows)."""

    def __init__(self, title: str, label: str = "value", color: str = PALETTE[0]):
        f = _fig(title, x_factors=[])
        self.source = ColumnDataSource({"x": [], "y": []})
        f.line(x="x", y="y", source=self.source, color=color, line_width=2)
        f.scatter(x="x", y="y", source=self.source, color=color, size=5)
        f.add_tools(HoverTool(tooltips=[("", "@x"), (label, "@y{0,0.[00]}")]))
        f.yaxis.axis_label = label
        f.xaxis.major_label_orientation = 0.8
        super().__init__(f)

    def update(self, categories: Sequence[str], values: Sequence[float | None]) -> None:
        cats = [str(c) for c in categories]
        self.fig.x_range.factors = cats
        self.source.data = {"x": cats, "y": _numbers(values)}


class HeatMap(Chart):
    """Weekday (rows, Monday on top) x hour (columns) counts."""

    def __init__(self, title: str, label: str = "count"):
        f = _fig(title, x_factors=HOURS, y_factors=list(reversed(DAYS)), height=HEIGHT + 20)
        self.mapper = LinearColorMapper(palette=BLUES, low=0, high=1)
        self.source = ColumnDataSource({"hour": [], "weekday": [], "count": []})
        f.rect(x="hour", y="weekday", width=1, height=1, source=self.source, line_color=None,
               fill_color={"field": "count", "transform": self.mapper})
        f.add_tools(HoverTool(tooltips=[("", "@weekday @hour:00"), (label, "@count{0}")]))
        f.xaxis.axis_label = "hour"
        f.grid.grid_line_color = None
        super().__init__(f)

    def update(self, weekdays: Sequence[str], hours: Sequence[int], counts: Sequence[float]) -> None:
        values = _numbers(counts)
        self.mapper.high = max([*values, 1.0])
        self.source.data = {"hour": [str(h) for h in hours], "weekday": list(weekdays), "count": values}
