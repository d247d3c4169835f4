"""Small helpers the views share: escaping, chips, SVG sparklines, empty states and the stylesheet.

Everything a person typed (notes, names, tags, task titles) goes through `esc` before it reaches
an HTML pane, so it always shows as text and never as markup.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from typing import Any

import panel as pn
import param

CSS = """
:host { --p360-muted: #5f6b7a; --p360-line: #e3e7ee; --p360-good: #1a7f37; --p360-bad: #c62828; }
.p360 { font-family: inherit; font-size: 14px; line-height: 1.4; color: #1f2933; }
.p360 h2 { margin: 0 0 4px 0; font-size: 22px; }
.p360 h3 { margin: 6px 0 6px 0; font-size: 15px; }
.p360 .muted { color: var(--p360-muted); font-size: 12px; }
.p360 .row { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.p360 .chip { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px;
  background: #eef2f7; border: 1px solid #d5dce6; white-space: nowrap; }
.p360 .chip.vip { background: #fff4d6; border-color: #e5b93c; }
.p360 .chip.bad { background: #fde8e8; border-color: #e4a0a0; color: #8a1c1c; }
.p360 .chip.warn { background: #fff1e0; border-color: #f0b46d; color: #8a4b00; }
.p360 .chip.good { background: #e6f4ea; border-color: #9fd3ad; color: #1a5c2e; }
.p360 .chip.info { background: #e8f0fe; border-color: #a8c1f0; color: #1c3f8a; }
.p360 .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; }
.p360 .card { border: 1px solid var(--p360-line); border-radius: 8px; padding: 8px 10px; background: #fff; }
.p360 .card .label { color: var(--p360-muted); font-size: 12px; }
.p360 .card .value { font-size: 20px; font-weight: 600; }
.p360 .up.good, .p360 .down.good { color: var(--p360-good); }
.p360 .up.bad, .p360 .down.bad { color: var(--p360-bad); }
.p360 .bar { height: 8px; background: #edf0f4; border-radius: 4px; overflow: hidden; }
.p360 .bar > span { display: block; height: 100%; background: #4c78a8; }
.p360 .factor { display: grid; grid-template-columns: 150px 1fr 48px; gap: 6px; align-items: center;
  font-size: 12px; margin: 2px 0; }
.p360 .note { border-left: 3px solid #c9d3e0; padding: 4px 8px; margin: 6px 0; background: #fafbfc; }
.p360 .note .text { white-space: pre-wrap; word-break: break-word; }
.p360 .insight { margin: 2px 0; }
.p360 .insight.critical::before { content: "● "; color: var(--p360-bad); }
.p360 .insight.warning::before { content: "● "; color: #e08a00; }
.p360 .insight.info::before { content: "● "; color: #4c78a8; }
.p360 table.simple { border-collapse: collapse; width: 100%; font-size: 13px; }
.p360 table.simple th { text-align: left; color: var(--p360-muted); font-weight: 500;
  border-bottom: 1px solid var(--p360-line); padding: 3px 6px; }
.p360 table.simple td { border-bottom: 1px solid #f0f2f5; padding: 3px 6px; vertical-align: top; }
.p360 .tl-item { border-bottom: 1px solid #eef1f5; padding: 5px 2px; }
.p360 .tl-summary { white-space: pre-wrap; word-break: break-word; margin: 2px 0; }
.p360 .empty { color: var(--p360-muted); font-style: italic; padding: 6px 0; }
.p360 .stale { color: #8a4b00; }
.p360 details summary { cursor: pointer; color: var(--p360-muted); font-size: 12px; }
.p360 .attention-on { background: #fde8e8; border: 1px solid #e4a0a0; border-radius: 8px; padding: 6px 10px; }
.p360 .attention-off { background: #f3f6f9; border: 1px solid var(--p360-line); border-radius: 8px;
  padding: 6px 10px; }
"""


def esc(value: Any) -> str:
    """Text for HTML: escaped, None as an em dash."""
    return "—" if value is None else html.escape(str(value), quote=True)


def html_pane(body: str, css_classes: Sequence[str] = (), **kwargs: Any) -> pn.pane.HTML:
    """An HTML pane with the app's stylesheet; `body` must already be escaped."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(f'<div class="p360">{body}</div>', css_classes=list(css_classes),
                        stylesheets=[CSS], **kwargs)


def chip(text: str, tone: str = "", title: str = "") -> str:
    """A small rounded label (escaped)."""
    tip = f' title="{esc(title)}"' if title else ""
    return f'<span class="chip {tone}"{tip}>{esc(text)}</span>'


def empty(message: str, css_class: str = "p360-empty") -> pn.pane.HTML:
    """An empty state: a muted line saying what is missing and why."""
    return html_pane(f'<div class="empty">{esc(message)}</div>', [css_class])


def sparkline(values: Sequence[float | None], width: int = 120, height: int = 28, color: str = "#4c78a8") -> str:
    """An inline SVG sparkline of numbers (no text inside, so nothing to escape)."""
    vals = [float(v) if v is not None else 0.0 for v in values]
    if len(vals) < 2:
        return f'<svg width="{width}" height="{height}"></svg>'
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    step = (width - 4) / (len(vals) - 1)
    pts = " ".join(f"{2 + i * step:.1f},{height - 3 - (v - lo) / span * (height - 6):.1f}" for i, v in enumerate(vals))
    last_x, last_y = pts.split(" ")[-1].split(",")
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
            f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{pts}"/>'
            f'<circle cx="{last_x}" cy="{last_y}" r="2.2" fill="{color}"/></svg>')


def change_html(change: float | None, direction: int, good: bool | None, compare: str) -> str:
    """'▲ 25% vs prior 30d' coloured by whether the move is good."""
    if direction == 0 and change is None:
        return f'<span class="muted">{esc(compare) if compare else "&nbsp;"}</span>'
    arrow = "▲" if direction > 0 else ("▼" if direction < 0 else "■")
    tone = "" if good is None else ("good" if good else "bad")
    pct = f"{abs(change):.0%}" if change is not None else "new"
    if direction == 0:
        pct = "no change"
    cls = "up" if direction > 0 else "down"
    return f'<span class="{cls} {tone}">{arrow} {esc(pct)}</span> <span class="muted">{esc(compare)}</span>'


def table(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]], empty_text: str = "Nothing here.") -> str:
    """A small HTML table of dicts (escaped); columns are (key, header) pairs."""
    if not rows:
        return f'<div class="empty">{esc(empty_text)}</div>'
    head = "".join(f"<th>{esc(h)}</th>" for _, h in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(k))}</td>" for k, _ in columns) + "</tr>" for r in rows)
    return f'<table class="simple"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value: Any) -> str:
    from datetime import datetime

    if isinstance(value, datetime):
        return esc(value.strftime("%Y-%m-%d %H:%M"))
    if isinstance(value, float):
        return esc(f"{value:,.2f}")
    if isinstance(value, bool):
        return "yes" if value else ""
    return esc(value)


def live_html(render: Callable[[], str], watch: Sequence[tuple[param.Parameterized, Sequence[str]]],
              css_classes: Sequence[str] = (), **kwargs: Any) -> pn.pane.HTML:
    """An HTML pane kept in step with state: `render()` (escaped HTML) runs again whenever one of the
    watched parameters changes, and only the pane's text is sent to the browser (no new models)."""
    pane = html_pane(render(), css_classes, **kwargs)

    def update(*_events: param.parameterized.Event) -> None:
        pane.object = f'<div class="p360">{render()}</div>'

    for obj, names in watch:
        obj.param.watch(update, list(names))
    return pane


class Background:
    """Slow reads of a served session on worker threads: `start(read, show)` runs `read()` on a thread
    and calls `show(value, error)` with its answer on the session's next tick (where Panel objects may
    change); a newer `start` wins over an older read still running. The server's event loop, which
    every session shares, does not wait for the read."""

    def __init__(self, doc: Any):
        self.doc = doc
        self.generation = 0

    def start(self, read: Callable[[], Any], show: Callable[[Any, Exception | None], None]) -> None:
        self.generation += 1
        mine = self.generation

        def work() -> None:
            try:
                value, error = read(), None
            except Exception as exc:  # shown, not raised: a worker thread has no caller to tell
                value, error = None, exc

            def deliver() -> None:
                if mine == self.generation:  # not overtaken by a newer change meanwhile
                    show(value, error)
            self.doc.add_next_tick_callback(deliver)

        threading.Thread(target=work, name="player360-view", daemon=True).start()


def served_doc() -> Any | None:
    """The Bokeh document of the served session this code runs for, or None (notebook, test)."""
    doc = pn.state.curdoc
    return doc if doc is not None and doc.session_context is not None else None


def live_html_async(render: Callable[[], str], watch: Sequence[tuple[param.Parameterized, Sequence[str]]],
                    css_classes: Sequence[str] = (), waiting: str = "Reading…", **kwargs: Any) -> pn.pane.HTML:
    """`live_html` for a slow, secondary part of a page: in a served session `render()` runs on a
    worker thread (`Background`) and its result replaces a `waiting` note, so the rest of the page
    (a new player's header, metrics, timeline) is not held up by it. Outside a server it renders
    at once."""
    doc = served_doc()
    pane = html_pane(f'<span class="muted">{esc(waiting)}</span>' if doc else render(), css_classes, **kwargs)
    background = Background(doc) if doc else None

    def show(body: str | None, error: Exception | None) -> None:
        if error is not None:
            body = f'<span class="muted">Could not read this: {esc(error)}</span>'
        pane.object = f'<div class="p360">{body}</div>'

    def update(*_events: param.parameterized.Event) -> None:
        if background is None:
            pane.object = f'<div class="p360">{render()}</div>'
            return
        pane.object = f'<div class="p360"><span class="muted">{esc(waiting)}</span></div>'
        background.start(render, show)

    for obj, names in watch:
        obj.param.watch(update, list(names))
    if background is not None:
        update()
    return pane


def live_async(read: Callable[[], Any], build: Callable[[Any], Any],
               watch: Sequence[tuple[param.Parameterized, Sequence[str]]], waiting: str = "Reading…",
               **kwargs: Any) -> pn.Column:
    """A part of a page built by `build(read())` again whenever a watched parameter changes; in a
    served session the read runs on a worker thread (`Background`) and the part shows `waiting`
    meanwhile, so that other sessions do not wait for a slow read. Outside a server, at once."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    doc = served_doc()
    holder = pn.Column(**kwargs)
    background = Background(doc) if doc else None

    def show(value: Any, error: Exception | None) -> None:
        holder.objects = [empty(f"Could not read this: {error}") if error is not None else build(value)]

    def update(*_events: param.parameterized.Event) -> None:
        if background is None:
            holder.objects = [build(read())]
            return
        holder.objects = [html_pane(f'<span class="muted">{esc(waiting)}</span>')]
        background.start(read, show)

    for obj, names in watch:
        obj.param.watch(update, list(names))
    update()
    return holder


def deferred(make: Callable[[], Any], css_classes: Sequence[str] = (), **kwargs: Any) -> pn.Column:
    """A part of a page (the player page's body) built on the session's next tick instead of while
    the page's document is made. A new session's HTML goes out first and the part is built while the
    browser loads the scripts, before it pulls the document: the server's work and the browser's
    overlap. Outside a server it is built at once."""
    kwargs.setdefault("sizing_mode", "stretch_width")
    holder = pn.Column(css_classes=list(css_classes), **kwargs)
    doc = served_doc()
    if doc is None:
        holder.objects = [make()]
        return holder

    def fill() -> None:
        holder.objects = [make()]
    doc.add_next_tick_callback(fill)
    return holder


def later(fn: Callable[[], Any]) -> None:
    """Run `fn` on the next tick of the session (so a button that `fn` removes finishes its own click
    first), or now outside a server."""
    doc = served_doc()
    if doc is not None:
        doc.add_next_tick_callback(fn)
    else:
        fn()
