"""Segmentation dashboard views: the scheme picker and its threshold widgets, the counts and value
shares per segment, and saving the thresholds as a new scheme version.

The threshold widgets are `pn.Param` over the scheme's own Param object: the very parameters
`metrics.segments` defines (bounds, steps, docs), so the app, the notebooks and the build share
them. Sliders update when released (throttled) and have a box to type an exact value.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import panel as pn
import param
from tornado.ioloop import IOLoop

from app import model as M
from app.state.segments import SegmentsState
from app.views.common import empty, esc, html_pane, live_html, served_doc

BAR = '<div class="bar"><span style="width:{w:.1f}%"></span></div>'


class AfterCounts:
    """Runs a view's update once after the current change however often it is asked to in it, with its
    data computed first in a worker thread: the counts reach the browser first, and the event loop
    stays free to write them while charts and lists are computed (Polars releases the GIL).

    `prepare` (optional) computes, thread-safely, what `fn` shows (the state's memoised frames); `fn`
    then updates the widgets on the session's loop. Outside a server both simply run at once.
    """

    def __init__(self, fn: Callable[[], None], prepare: Callable[[], object] | None = None):
        self.fn = fn
        self.prepare = prepare
        self.pending = False

    def __call__(self, *_events) -> None:
        if self.pending:
            return
        self.pending = True
        doc = served_doc()

        def apply() -> None:
            self.pending = False
            self.fn()
        if doc is None:
            if self.prepare is not None:
                self.prepare()
            apply()
            return

        async def compute_then_apply() -> None:
            # not a document callback: the document lock stays free while this waits, so the
            # counts' own update is applied and written meanwhile
            try:
                if self.prepare is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self.prepare)
            finally:
                doc.add_next_tick_callback(apply)
        IOLoop.current().add_callback(compute_then_apply)


def threshold_widgets(scheme: param.Parameterized) -> pn.Param:
    """Widgets bound to a scheme's thresholds: editable sliders where the parameter has (soft)
    bounds on both sides, plain inputs elsewhere; every change applies when a slider is released."""
    names = [n for n in scheme.thresholds()]
    widgets = {}
    for name in names:
        p = scheme.param[name]
        low, high = p.get_soft_bounds() if isinstance(p, param.Number) else (None, None)
        if low is None or high is None:
            continue
        spec: dict = {"type": pn.widgets.EditableIntSlider if isinstance(p, param.Integer)
                      else pn.widgets.EditableFloatSlider, "throttled": True}
        # money thresholds have soft bounds in the millions: a slider that long cannot pick 1,000, so it
        # spans 20x the default (the box still takes any allowed value)
        reach = 20 * max(abs(p.default or 0), 1)
        if high - low > reach and reach > 20:
            spec["end"] = type(p.default)(low + reach)
        widgets[name] = spec
    return pn.Param(scheme, parameters=names, widgets=widgets, show_name=False, sizing_mode="stretch_width",
                    css_classes=["segment-thresholds", f"thresholds-{scheme.name}"])


class SchemeControlsView(pn.viewable.Viewer):
    """Snapshot and scheme pickers, the scheme's threshold widgets, revert / defaults, and save."""

    segments = param.ClassSelector(class_=SegmentsState, doc="The dashboard state.")

    def __init__(self, **params):
        super().__init__(**params)
        s = self.segments
        self._as_of = pn.widgets.Select.from_param(s.param.as_of, label="Snapshot", css_classes=["segment-as-of"],
                                                   sizing_mode="stretch_width")
        self._scheme = pn.widgets.Select.from_param(s.param.scheme, label="Scheme", css_classes=["segment-scheme"],
                                                    sizing_mode="stretch_width")
        self._reason = pn.widgets.TextInput(label="Why (kept with the version)", placeholder="e.g. Q3 review: VIP at 5k",
                                            css_classes=["scheme-reason"], max_length=300)
        self._save = pn.widgets.Button(label="Save as new version", color="primary",
                                       css_classes=["scheme-save"], disabled=not s.can_save())
        self._revert = pn.widgets.Button(label="Back to saved", css_classes=["scheme-revert"])
        self._defaults = pn.widgets.Button(label="Defaults", css_classes=["scheme-defaults"])
        self._save.on_click(self._on_save)
        self._revert.on_click(lambda _e: s.revert())
        self._defaults.on_click(lambda _e: s.defaults())

    def _on_save(self, _event) -> None:
        if self.segments.save(self._reason.value):
            self._reason.value = ""

    @param.depends("segments.scheme")
    def _thresholds(self) -> pn.viewable.Viewable:
        return threshold_widgets(self.segments.current)

    def _status(self) -> str:
        s = self.segments
        saved = s.saved()
        where = (f"saved version {saved.version} by {esc(saved.saved_by)} at {esc(M.when(saved.saved_at))}: "
                 f"“{esc(saved.reason)}”" if saved else "defaults (never saved)")
        dirty = '<span class="stale"> · changed, not saved</span>' if s.dirty() else ""
        note = "" if s.can_save() else (f'<div class="muted">Saving needs the analyst or admin role '
                                        f"(you are {esc(s.session.role)}).</div>")
        return (f'<div class="muted">{esc(s.current.__doc__.splitlines()[0])}</div>'
                f'<div class="muted">Next build uses: {where}{dirty}</div>{note}'
                + (f'<div class="segment-message">{esc(s.message)}</div>' if s.message else ""))

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.segments
        status = live_html(self._status, [(s, ["scheme", "revision", "message"])], ["scheme-status"])
        return pn.Column(self._as_of, self._scheme, status, self._thresholds,
                         pn.Row(self._revert, self._defaults), self._reason, self._save,
                         sizing_mode="stretch_width", css_classes=["scheme-controls"])


class SegmentCountsView(pn.viewable.Viewer):
    """Players and value shares per segment, recomputed live as thresholds move."""

    segments = param.ClassSelector(class_=SegmentsState, doc="The dashboard state.")

    def _table(self) -> str:
        s = self.segments
        if not s.ready:
            return f'<div class="empty">{esc(s.message or "No snapshot.")}</div>'
        t = time.perf_counter()
        summary = s.summary()
        s.seconds = time.perf_counter() - t
        head = ("<tr><th>Segment</th><th>Players</th><th>% of players</th><th>Theo</th><th>% of theo</th>"
                "<th>Cash in</th><th>% of cash in</th><th>% of lifetime value</th></tr>")
        rows = []
        for r in summary.iter_rows(named=True):
            share = r["players_share"] or 0.0
            rows.append(
                f'<tr class="segment-row" data-segment="{esc(r["segment"])}"><td><b>{esc(r["segment"])}</b></td>'
                f'<td class="segment-count">{r["players"]:,}</td><td>{share:.1%}{BAR.format(w=100 * share)}</td>'
                f'<td>{esc(M.money(r["theo_total_sum"]))}</td><td>{_pct(r["theo_total_sum_share"])}</td>'
                f'<td>{esc(M.money(r["cash_in_total_sum"]))}</td><td>{_pct(r["cash_in_total_sum_share"])}</td>'
                f'<td>{_pct(r["lifetime_value_sum_share"])}</td></tr>')
        total = summary["players"].sum()
        return (f'<h3>{esc(s.scheme)} · {total:,} players · snapshot {esc(s.as_of)}</h3>'
                f'<table class="simple">{head}{"".join(rows)}</table>'
                f'<div class="muted">Relabelled and counted in {s.seconds * 1000:,.0f} ms at the thresholds '
                "shown; charts and the member list follow.</div>")

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.segments
        if not s.ready:
            return empty(s.message or "No snapshot yet.", "segments-empty")
        return live_html(self._table, [(s, ["scheme", "as_of", "revision"])], ["segment-counts"])


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


class SchemeHistoryView(pn.viewable.Viewer):
    """Saved versions of the scheme shown: who, when, why."""

    segments = param.ClassSelector(class_=SegmentsState, doc="The dashboard state.")

    def _render(self) -> str:
        from app.views.common import table

        frame = self.segments.history()
        rows = frame.to_dicts() if frame.height else []
        return table(rows, [("version", "Version"), ("saved_by", "By"), ("role", "Role"), ("saved_at", "When"),
                            ("reason", "Why")], "Never saved: the build uses the defaults.")

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.segments
        return live_html(self._render, [(s, ["scheme", "message"])], ["scheme-history"])
