"""The player header: identity, tier and status, properties, quick flags, freshness and insights."""

from __future__ import annotations

from datetime import date

import panel as pn
import param

from app import model as M
from app.data import PlayerData
from app.state.player import PlayerState
from app.views.common import chip, esc, live_html

STATUS_TONE = {"active": "good", "inactive": "", "banned": "bad", "deceased": "bad", "excluded": "bad"}


def _age(dob: date | None) -> str:
    if not dob:
        return ""
    today = date.today()
    return str(today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day)))


def freshness_line(s: PlayerData) -> str:
    """'Profile from … updated … · metrics as of … · newest event …' (escaped HTML)."""
    f = s.freshness
    parts = []
    p = s.profile or {}
    parts.append(f"Profile: players source, updated {esc(M.when(p.get('updated_at')))}")
    m = s.metrics
    if m:
        parts.append(f"Metrics as of <b>{esc(m['as_of'])}</b> (computed {esc(M.when(m.get('computed_at')))} "
                     f"from events up to {esc(M.when(m.get('source_newest_ts')))})")
    elif f.build:
        parts.append(f'<span class="stale">Not in the latest build (as of {esc(f.as_of)}): metrics missing</span>')
    else:
        parts.append('<span class="stale">Metrics not built yet: run <code>player360 build</code></span>')
    cur = s.current
    if cur.height:
        newest = cur.row(0, named=True)
        parts.append(f"Newest event {esc(M.when(newest['ts']))} ({esc(newest['source'])} · "
                     f"{esc(newest['source_ref'] or '')})")
    else:
        parts.append("No events yet")
    line = " · ".join(parts)
    if f.stale:
        line += (f' <span class="stale">· {f.events_since_build:,} event(s) arrived after the newest build: '
                 "metrics and insights miss them until the next build</span>")
    if s.truncated:
        line += ' <span class="stale">· showing the newest 100,000 events</span>'
    return f'<div class="muted freshness">Data as of: {line}</div>'


class PlayerHeaderView(pn.viewable.Viewer):
    """Who the player is, where they play, the flags staff must see first, and how fresh it all is."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player.")

    def _header(self) -> str:
        s = self.player.snapshot
        if s is None:
            return (f'<div class="empty player-empty">'
                    f'{esc(self.player.message or "Search for a player, or open one from the shift report.")}</div>')
        if not s.found:
            return f'<div class="empty player-empty">{esc(self.player.message or "No such player.")}</div>'
        p = s.profile
        flags = self.player.flags()
        chips = [chip((p.get("status") or "unknown status").title(), STATUS_TONE.get(p.get("status") or "", ""))]
        tiers = [t for t in s.properties["tier"].to_list() if t] if s.properties.height else []
        best = max(tiers, key=lambda t: M.TIER_ORDER.get(t, 0)) if tiers else None
        if best:
            chips.append(chip(f"Tier {best}", "info"))
        if flags.vip:
            chips.append(chip("VIP", "vip", "; ".join(flags.vip)))
        if flags.excluded:
            chips.append(chip("EXCLUDED", "bad", "; ".join(flags.excluded)))
        if flags.disputes:
            chips.append(chip("Dispute history", "warn", "; ".join(flags.disputes)))
        if flags.attention:
            chips.append(chip("Attention needed", "bad", "; ".join(flags.attention)))
        chips += [chip(f.replace("_", " "), "") for f in flags.other]
        seg = s.segments or {}
        for key in ("worth", "engagement", "lifecycle", "spending"):
            if seg.get(key):
                chips.append(chip(f"{key}: {str(seg[key]).replace('_', ' ')}", "", "segment (newest build)"))
        age = _age(p.get("date_of_birth"))
        ident = (f"<h2>{esc(s.name)}</h2>"
                 f'<div class="muted">{esc(s.player_id)}'
                 + (f" · born {esc(p.get('date_of_birth'))} ({esc(age)})" if p.get("date_of_birth") else "")
                 + (f" · enrolled {esc(M.when(p.get('enrolled_at')))}" if p.get("enrolled_at") else "")
                 + (f" · {esc(p.get('email'))}" if p.get("email") else "")
                 + (f" · {esc(p.get('phone'))}" if p.get("phone") else "") + "</div>")
        if s.requested_id != s.player_id:
            ident += f'<div class="muted">{esc(s.requested_id)} was merged into {esc(s.player_id)}</div>'
        props = []
        for r in s.properties.iter_rows(named=True) if s.properties.height else []:
            bits = [r["property_id"], f"card {r['card_number']}" if r.get("card_number") else "",
                    r.get("tier") or "", f"since {M.when(r.get('enrolled_at'))[:10]}" if r.get("enrolled_at") else ""]
            props.append(chip(" · ".join(b for b in bits if b), ""))
        ltv = (s.metrics or {}).get("lifetime_value")
        extra = f' <span class="muted">Lifetime value {esc(M.money(ltv))}</span>' if ltv is not None else ""
        return (ident + f'<div class="row" style="margin-top:6px">{"".join(chips)}</div>'
                + '<div class="row" style="margin-top:6px"><span class="muted">Properties:</span>'
                + ("".join(props) or '<span class="muted">none</span>') + extra + "</div>"
                + (f'<div class="muted" style="margin-top:4px">Attention: {esc("; ".join(flags.attention))}</div>'
                   if flags.attention else "")
                + freshness_line(s))

    def _insights(self) -> str:
        s = self.player.snapshot
        if s is None or not s.found:
            return ""
        if s.insights.is_empty():
            text = ("No insights fired for this player in the newest build." if s.freshness.build
                    else "Insights appear after the first build.")
            return f'<div class="muted">{esc(text)}</div>'
        lines = "".join(f'<div class="insight {esc(str(r["severity"]))}">{esc(r["sentence"])}</div>'
                        for r in s.insights.iter_rows(named=True))
        return f"<h3>Insights</h3>{lines}"

    def __panel__(self) -> pn.viewable.Viewable:
        watch = [(self.player, ["snapshot"])]
        return pn.Column(live_html(self._header, watch, ["player-header"]),
                         live_html(self._insights, watch, ["player-insights"]), sizing_mode="stretch_width")
