"""Left column of the player page: key metrics with change and sparkline, health and churn risk."""

from __future__ import annotations

import panel as pn
import param

from app.state.player import PlayerState
from app.views.common import change_html, esc, live_html, sparkline

LEVEL_TONE = {"excellent": "good", "good": "good", "fair": "warn", "poor": "bad",
              "low": "good", "medium": "warn", "high": "bad"}


def _factors(factors: list[tuple[str, float | None]], scale: float = 100.0, suffix: str = "") -> str:
    rows = []
    for label, value in factors:
        v = value or 0.0
        rows.append(f'<div class="factor"><span>{esc(label)}</span>'
                    f'<div class="bar"><span style="width:{max(0.0, min(100.0, v / scale * 100)):.0f}%"></span></div>'
                    f"<span>{v:,.0f}{esc(suffix)}</span></div>")
    return "".join(rows)


class KeyMetricsView(pn.viewable.Viewer):
    """6-10 key metrics of the open player (from the newest build) with a 12 x 30-day trend."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player.")

    def _metrics(self) -> str:
        s = self.player.snapshot
        if s is None or not s.found:
            return ""
        if s.metrics is None:
            why = ("Metrics not built yet: run `player360 build`." if not s.freshness.build
                   else f"This player is not in the newest build (as of {s.freshness.as_of}).")
            return f'<div class="empty metrics-empty">{esc(why)}</div>'
        cards = []
        for m in self.player.key_metrics():
            cards.append(
                f'<div class="card metric" title="{esc(m["detail"])}"><div class="label">{esc(m["label"])}</div>'
                f'<div class="value">{esc(m["display"])}</div>'
                f'<div>{change_html(m["change"], m["direction"], m["good"], m["compare"])}</div>'
                f"<div>{sparkline(m['spark'])}</div>"
                f'<div class="muted">{esc(m["detail"])}</div></div>')
        as_of = s.metrics.get("as_of")
        return (f'<h3>Key metrics <span class="muted">as of {esc(as_of)}; trend: 12 × 30 days</span></h3>'
                f'<div class="cards">{"".join(cards)}</div>')

    def _scores(self) -> str:
        s = self.player.snapshot
        if s is None or not s.found:
            return ""
        h, c = self.player.health(), self.player.churn()
        parts = []
        if h:
            tone = LEVEL_TONE.get(h["level"], "")
            parts.append(f'<h3>Health score <span class="chip {tone}">{h["score"]:.0f} · {esc(h["level"])}</span></h3>'
                         + _factors(h["factors"]))
        else:
            parts.append('<div class="empty">Health score appears after a build.</div>')
        if c:
            tone = LEVEL_TONE.get(c["level"], "")
            top = max([35.0, *[(v or 0) for _, v in c["factors"]]])
            parts.append(f'<h3>Churn risk <span class="chip {tone}">{c["score"]:.0f} · {esc(c["level"])}</span></h3>'
                         '<div class="muted">points each factor adds (of 100)</div>'
                         + _factors(c["factors"], scale=top))
        else:
            parts.append('<div class="empty">Churn risk appears after a build.</div>')
        return "".join(parts)

    def __panel__(self) -> pn.viewable.Viewable:
        watch = [(self.player, ["snapshot"])]
        return pn.Column(live_html(self._metrics, watch, ["key-metrics"]),
                         live_html(self._scores, watch, ["player-scores"]), sizing_mode="stretch_width")
