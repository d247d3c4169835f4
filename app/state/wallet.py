"""The open player's wallet, derived from their ledger events (no Panel here).

Loyalty points, reward points, bonus money with its wagering progress and expiry, free play, comps,
vouchers and tickets: `metrics.rewards.wallet` recomputes them from the events the player page
already read (through the access layer), so the wallet always agrees with the timeline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import param
import polars as pl

from app.state.player import PlayerState
from metrics.rewards.wallet import wallet
from pipelines.sources import GAME_RATES

HOUSE_EDGES = {game: edge for game, (_, edge) in GAME_RATES.items()}


class WalletState(param.Parameterized):
    """Balances and open rewards of the open player."""

    player = param.ClassSelector(class_=PlayerState, doc="The open player whose ledger the wallet is derived from.")

    def now(self) -> datetime:
        """The wallet's 'now': the data's newest event, or the player's own newest event if later
        (rewards issued from the app are stamped with the wall clock)."""
        snap = self.player.snapshot
        times = [snap.freshness.newest_event] if snap and snap.freshness.newest_event else []
        if snap is not None and snap.current.height:
            times.append(snap.current["ts"].max())
        return max(times) if times else datetime.now().replace(microsecond=0)

    @param.depends("player.snapshot")
    def summary(self) -> dict[str, Any] | None:
        """{"balances": one player's balances, "open": open rewards, "as_of": now}; None without a player."""
        snap = self.player.snapshot
        if snap is None or not snap.found:
            return None
        events = snap.current
        if events.is_empty():
            return {"balances": {}, "open": pl.DataFrame(), "as_of": self.now()}
        now = self.now()
        # merged ids count as the survivor
        rows = events.select("event_id", pl.lit(snap.player_id).alias("player_id"), "ts", "event_type", "amount",
                             "points", "game", "theo", "attrs")
        w = wallet(rows, now, HOUSE_EDGES)
        open_ = w.rewards.filter(pl.col("state") == "open").sort("expires_at")
        return {"balances": w.of(snap.player_id), "open": open_, "as_of": now}
