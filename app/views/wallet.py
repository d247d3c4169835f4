"""The player page's wallet card: balances derived from the ledger, and the open rewards behind them."""

from __future__ import annotations

import panel as pn
import param

from app.state.wallet import WalletState
from app.views.common import esc, live_html, table

BALANCES = (("loyalty_points", "Loyalty points", "{:,.0f}"), ("reward_points", "Reward points", "{:,.0f}"),
            ("bonus", "Bonus", "{:,.2f}"), ("freeplay", "Free play", "{:,.2f}"), ("comp", "Comps", "{:,.2f}"),
            ("voucher", "Vouchers", "{:,.2f}"), ("tickets", "Tickets", "{:,.0f}"))


class WalletView(pn.viewable.Viewer):
    """Balances, then each open reward with its expiry and wagering progress."""

    wallet = param.ClassSelector(class_=WalletState, doc="The open player's wallet.")

    def _render(self) -> str:
        w = self.wallet.summary()
        if w is None:
            return ""
        b = w["balances"]
        cards = "".join(
            f'<div class="card"><div class="label">{esc(label)}</div>'
            f'<div class="value">{esc(fmt.format(b.get(key) or 0))}</div></div>' for key, label, fmt in BALANCES)
        rows = []
        for r in w["open"].iter_rows(named=True):
            progress = r.get("wagering_progress")
            rows.append({
                "reward": r["reward_type"], "value": r["value"], "units": r["units"], "issued": r["issued_at"],
                "expires": r["expires_at"],
                "wagering": "" if progress is None else
                f"{progress:.0%} of {r['wagering_required']:,.0f} ({r['wagered']:,.0f} wagered)",
                "rule / campaign": r.get("rule_id") or r.get("campaign_id") or ""})
        cols = [("reward", "Reward"), ("value", "Value"), ("units", "Units"), ("issued", "Issued"),
                ("expires", "Expires"), ("wagering", "Wagering"), ("rule / campaign", "From")]
        return (f'<h3>Wallet <span class="muted">derived from the ledger, as of {esc(w["as_of"])}</span></h3>'
                f'<div class="cards wallet-balances">{cards}</div>'
                f'<div class="wallet-open">{table(rows, cols, "No open rewards.")}</div>')

    def __panel__(self) -> pn.viewable.Viewable:
        return live_html(self._render, [(self.wallet.player, ["snapshot"])], ["player-wallet"])
