"""Segment migration between two snapshots: a transition matrix and a Sankey diagram (HoloViews)."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (the Bokeh backend: options need it, notebooks too)
import panel as pn
import param

from app.state.migration import MigrationState
from app.views.common import empty, esc, html_pane
from metrics import segment_stats as S


def sankey_edges(transitions) -> list[tuple[str, str, int]]:
    """Edges from 'before · x' to 'after · y' (distinct nodes, so staying put is not a cycle)."""
    return [(f"before · {r['from']}", f"after · {r['to']}", int(r["players"]))
            for r in transitions.iter_rows(named=True) if r["players"] > 0]


class MigrationView(pn.viewable.Viewer):
    """Pick a scheme and two snapshots; see who moved where."""

    migration = param.ClassSelector(class_=MigrationState, doc="The migration state.")

    def __init__(self, **params):
        super().__init__(**params)
        m = self.migration
        self._controls = pn.Row(
            pn.widgets.Select.from_param(m.param.scheme, label="Scheme", width=160, css_classes=["migration-scheme"]),
            pn.widgets.Select.from_param(m.param.before, label="From snapshot", width=150,
                                         css_classes=["migration-before"]),
            pn.widgets.Select.from_param(m.param.after, label="To snapshot", width=150, css_classes=["migration-after"]),
            pn.widgets.Checkbox.from_param(m.param.relabel, label="Relabel both at the thresholds being tuned",
                                           align="end"))

    @param.depends("migration.scheme", "migration.before", "migration.after", "migration.relabel",
                   "migration.moved_thresholds")
    def _body(self) -> pn.viewable.Viewable:
        m = self.migration
        why = m.why_not()
        if why:
            return empty(why, "migration-empty")
        long = m.transitions()
        if long.is_empty():
            return empty("No labels stored for this scheme in one of the snapshots.", "migration-empty")
        matrix = m.matrix()
        columns = [c for c in matrix.columns if c != "from"]
        head = "".join(f"<th>{esc(c)}</th>" for c in columns)
        rows = []
        for r in matrix.iter_rows(named=True):
            total = r["total"] or 1
            cells = "".join(
                f'<td style="background:rgba(245,133,24,{(r[c] / total) * 0.6 if c != "total" and c != r["from"] else 0:.2f})">'
                f"{r[c]:,}</td>" for c in columns)
            rows.append(f"<tr><th>{esc(r['from'])}</th>{cells}</tr>")
        moved = long.filter(long["moved"] & (long["from"] != S.NEW) & (long["to"] != S.GONE))["players"].sum()
        table = html_pane(
            f"<h3>{esc(m.label())}</h3><div class=\"muted\">Rows: segment in the earlier snapshot; columns: in the "
            f"later one. Shaded: share of the row that moved there. {moved:,} players changed segment.</div>"
            f'<table class="simple"><tr><th>from \\ to</th>{head}</tr>{"".join(rows)}</table>',
            ["migration-matrix"])
        sankey = hv.Sankey(sankey_edges(long), kdims=["from", "to"], vdims=["players"]).opts(
            height=420, responsive=True, label_position="outer", node_color="index", cmap="Category10",
            edge_color="from", tools=["hover"], title="Who moved where")
        return pn.Column(table, pn.pane.HoloViews(sankey, sizing_mode="stretch_width", css_classes=["migration-sankey"]),
                         sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._controls, self._body, sizing_mode="stretch_width", css_classes=["segment-migration"])
