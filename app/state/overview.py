"""Overview state: the KPI strip's period and its cards (no Panel here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import param
import polars as pl

from app import model as M
from app.data import DataStore, DataUnavailable
from app.state.session import Session

KPI_SPECS = (
    # key, label, trend column, kind, higher is better
    ("cash_in", "Cash-in", "cash_in", "money", True),
    ("theo", "Theo", "theo", "money", True),
    ("active", "Active players", "active", "count", True),
    ("new_players", "New players", "new_players", "count", True),
    ("rewards_issued", "Rewards issued", "rewards_issued", "count", True),
    ("rewards_redeemed", "Rewards redeemed", "rewards_redeemed", "count", True),
)


class OverviewState(param.Parameterized):
    """The overview's period and the KPI cards it yields."""

    data = param.ClassSelector(class_=DataStore, doc="The cached data store.")
    session = param.ClassSelector(class_=Session, default=Session(), instantiate=True,
                                  doc="The signed-in user: every read is scoped to them.")
    days = param.Selector(default=30, objects=[7, 30, 90], doc="Length of the KPI period in days.")
    refresh = param.Event(doc="Read the KPIs again.")

    @param.depends("days", "refresh")
    def kpis(self) -> M.Kpis:
        """The KPI periods (an empty result with a message when the store cannot be read)."""
        try:
            return self.data.kpis(self.session.principal, self.days)
        except DataUnavailable as exc:
            return M.Kpis(None, self.days, pl.DataFrame(), pl.DataFrame(), str(exc))

    @param.depends("days", "refresh")
    def cards(self) -> list[dict[str, Any]]:
        """One card per KPI: value of the current period, previous period, change, trend."""
        k = self.kpis()
        if k.trend.is_empty():
            return []
        out = []
        for key, label, col, kind, higher in KPI_SPECS:
            out.append(_card(key, label, k.value(col), k.value(col, 1), kind, higher,
                             k.trend[col].to_list(), f"vs previous {self.days} days"))
        risk = k.at_risk
        if risk.height and risk["at_risk"].null_count() < risk.height:
            cur = risk["at_risk"][-1]
            prev = risk["at_risk"][-2] if risk.height > 1 else None
            card = _card("at_risk", "At-risk players", cur, prev, "count", False, risk["at_risk"].to_list(),
                         "vs previous build")
            card["detail"] = (f"segments as of {risk['as_of'][-1]}; high churn risk: {risk['churn_high'][-1]}"
                              + ("" if prev is not None else "; one build so far"))
            out.insert(4, card)
        issued, redeemed = k.value("rewards_issued"), k.value("rewards_redeemed")
        for card in out:
            if card["key"] == "rewards_redeemed" and issued:
                card["detail"] = f"{redeemed / issued:.0%} of issued this period"
        return out

    def period_label(self) -> str:
        """'30 days to 2026-01-01 vs the 30 days before'."""
        k = self.kpis()
        if k.end is None:
            return ""
        last = (k.end - timedelta(days=1)).date()
        return f"{self.days} days to {last} (the newest event's day) vs the {self.days} days before"


def _card(key: str, label: str, value: Any, prev: Any, kind: str, higher: bool, trend: list,
          compare: str) -> dict[str, Any]:
    change = (value - prev) / abs(prev) if value is not None and prev else None
    direction = 0 if value is None or prev is None or value == prev else (1 if value > prev else -1)
    return {"key": key, "label": label, "value": value, "display": M.fmt(value, kind), "previous": prev,
            "previous_display": M.fmt(prev, kind), "change": change, "direction": direction,
            "good": None if direction == 0 else (direction > 0) == higher, "trend": trend,
            "compare": compare, "detail": ""}
