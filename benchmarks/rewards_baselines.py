"""The 20 benchmark rules, and the same decisions hand-written in DuckDB SQL and in pandas.

The baselines implement the engine's semantics with the default abuse policy, profit model (house
edges from GAME_RATES) and a program day cap of 200: amount = formula clipped to [0, max_amount] and
reduced by the abuse factor (whole units for points), blocked for abuse (2+ signals), blocked when
unprofitable (profit_check block), one winner per player and group by priority (ties: smaller
rule_id), then rule and program caps filled in priority order.
"""

from __future__ import annotations

import numpy as np

from metrics.rewards.rules import rule_from_dict
from metrics.rewards.safety import DEFAULT_LIFT
from pipelines.sources import GAME_RATES

EDGES = {g: e for g, (_, e) in GAME_RATES.items()}
BLENDED, DEFAULT_LIFT_OTHER, HORIZON, DEFAULT_REDEEM, PROGRAM_DAY = 0.03, 0.08, 30, 0.8, 200.0
SEGS = ("NEW", "VIP", "WINNING", "BREAKEVEN", "LOSING")
RANGES = (("net_loss", 100), ("theo_90d", 50), ("sessions_total", 20), ("visits_30d", 1), ("cash_in_30d", 300))
FORMULAS = (("theo_90d", 0.11), ("net_loss", 0.05), ("cash_in_30d", 0.02), ("theo_90d", 5.0))
TYPES = ("COMP", "FREEPLAY", "BONUS_BALANCE", "LOYALTY_POINTS")
ABUSE = (0.5, 0.5, 0.5, 0.75, 0.25)  # bonus_only, cash_out, min_bets, shared_address, shared_device


def _spec(i: int) -> dict:
    col, lo = RANGES[i % len(RANGES)]
    fcol, k = FORMULAS[i % len(FORMULAS)]
    kind = TYPES[i % len(TYPES)]
    reward = {"type": kind, "formula": f"{fcol} * {k}", "max_amount": 5000 if kind == "LOYALTY_POINTS" else 50 + 25 * i}
    if kind == "BONUS_BALANCE":
        reward |= {"wagering_requirement": 5, "eligible_games": ["slots"]}
    doc = {"rule_id": f"R{i:02d}", "priority": (i * 37) % 101, "group": f"g{i % 4}",
           "conditions": {"segment": [SEGS[i % 5], SEGS[(i + 2) % 5]], f"{col}_min": lo * (1 + i % 3)},
           "reward": reward}
    if i % 5 == 0:
        doc["caps"] = {"day": 100}
    if i % 7 == 0:
        doc["profit_check"] = "report"
    return doc


SPECS = [_spec(i) for i in range(20)]
RULES = [rule_from_dict(s) for s in SPECS]


def _lit_map(column: str, mapping: dict, default: float) -> str:
    cases = " ".join(f"WHEN '{k}' THEN {v}" for k, v in mapping.items())
    return f"coalesce(CASE {column} {cases} END, {default})"


def _rule_select(r) -> str:
    rr = r.reward
    (ccol, cond), = [(c.column, c) for c in r.conditions if c.op == "between"]
    segs = next(c.values for c in r.conditions if c.op == "in")
    fcol, k = rr.formula.split(" * ")
    whole = rr.type == "LOYALTY_POINTS"
    raw = f"least(greatest(coalesce({fcol}, 0) * {k}, 0), {rr.max_amount})"
    units = f"floor({raw} * abuse_factor)" if whole else f"{raw} * abuse_factor"
    raw = f"floor({raw})" if whole else raw
    edge = str(sum(EDGES[g] for g in rr.eligible_games) / len(rr.eligible_games)) if rr.eligible_games else "fav_edge"
    bonus = (f" * greatest(1 - {rr.wagering_requirement} * {edge}, 0)"
             if rr.type in ("BONUS_BALANCE", "FREEPLAY") and rr.wagering_requirement else "")
    cap = rr.max_amount if False else (r.caps.day if r.caps.day else "'Infinity'::DOUBLE")
    segs_sql = ", ".join(f"'{s}'" for s in segs)
    return f"""SELECT player_id, '{r.rule_id}' AS rule_id, {r.priority} AS priority, '{r.group}' AS grp,
        {str(whole).lower()} AS whole, {rr.unit_cost} AS unit_cost, {raw} AS units_raw, {units} * {rr.unit_cost} AS value,
        {units} * {rr.unit_cost} * p_redeem{bonus} AS cost, daily_wager * {HORIZON} * lift * {edge} AS margin,
        '{r.profit_check}' AS profit_check, abuse_factor, reward_value_1d, {cap} AS rule_left
    FROM p WHERE loyalty IN ({segs_sql}) AND {ccol} >= {cond.lo}"""


def sql_issue(con) -> tuple[int, float, int]:
    """(rewards issued, their value, decision rows) computed in DuckDB SQL."""
    signals = ("bonus_only_play", "cash_outs_after_bonus >= 1",
               "coalesce(wagering_bet_ratio < 0.5, false) AND wagering_slips >= 2",
               "shared_address_players >= 1", "shared_device_players >= 1")
    count = " + ".join(f"CAST({s} AS INTEGER)" for s in signals)
    factor = " * ".join(f"CASE WHEN {s} THEN {f}::DOUBLE ELSE 1 END" for s, f in zip(signals, ABUSE))
    fav = _lit_map("favourite_game", EDGES, BLENDED)
    query = f"""
    WITH p AS (
        SELECT *, greatest(coalesce(win_loss_total, 0), 0) AS net_loss,
            CASE WHEN {count} >= 2 THEN 0 ELSE {factor} END AS abuse_factor, {fav} AS fav_edge,
            CASE WHEN coalesce(theo_90d, 0) > 0 THEN theo_90d / 90
                ELSE coalesce(theo_total, 0) / greatest(coalesce(tenure_days, 0), 90) END / {fav} AS daily_wager, {_lit_map('loyalty', DEFAULT_LIFT, DEFAULT_LIFT_OTHER)} AS lift,
            CASE WHEN rewards_issued >= 3 AND redemption_rate IS NOT NULL THEN redemption_rate ELSE {DEFAULT_REDEEM} END
                AS p_redeem
        FROM players
    ), c AS ({' UNION ALL '.join(_rule_select(r) for r in RULES)}
    ), g AS (
        SELECT *, CASE WHEN units_raw <= 0 OR abuse_factor <= 0 OR (margin < cost AND profit_check = 'block')
            THEN false ELSE true END AS cand FROM c
    ), w AS (
        SELECT *, cand AND sum(CAST(cand AS INTEGER)) OVER (PARTITION BY player_id, grp ORDER BY priority DESC, rule_id
            ROWS UNBOUNDED PRECEDING) = 1 AS wins FROM g
    ), k AS (
        SELECT *, CASE WHEN wins THEN least(value, rule_left) ELSE 0 END AS rc,
            greatest({PROGRAM_DAY} - reward_value_1d, 0) AS prog FROM w
    ), s AS (
        SELECT *, sum(rc) OVER (PARTITION BY player_id ORDER BY priority DESC, rule_id ROWS UNBOUNDED PRECEDING) AS cum
        FROM k
    ), a AS (
        SELECT *, greatest(least(cum, prog) - least(cum - rc, prog), 0) AS allowed FROM s
    )
    SELECT count(*) FILTER (WHERE wins AND allowed > 1e-9) AS issued,
        sum(CASE WHEN wins AND allowed > 1e-9 THEN (CASE WHEN whole THEN floor(allowed / unit_cost + 1e-9)
            ELSE round(allowed / unit_cost, 2) END) * unit_cost ELSE 0 END) AS value, count(*) AS decisions
    FROM a"""
    issued, value, decisions = con.execute(query).fetchall()[0]
    return int(issued), float(value or 0.0), int(decisions)


def pandas_issue(df) -> tuple[int, float, int]:
    """(rewards issued, their value, decision rows) computed with pandas."""
    import pandas as pd

    net_loss = df["win_loss_total"].fillna(0).clip(lower=0)
    flags = [df["bonus_only_play"], df["cash_outs_after_bonus"] >= 1,
             (df["wagering_bet_ratio"] < 0.5).fillna(False) & (df["wagering_slips"] >= 2),
             df["shared_address_players"] >= 1, df["shared_device_players"] >= 1]
    factor = np.ones(len(df))
    for flag, f in zip(flags, ABUSE):
        factor = np.where(flag, factor * f, factor)
    factor = np.where(sum(f.astype(int) for f in flags) >= 2, 0.0, factor)
    fav = df["favourite_game"].map(EDGES).fillna(BLENDED).to_numpy()
    recent = df["theo_90d"].fillna(0).to_numpy() / 90
    lifetime = df["theo_total"].fillna(0).to_numpy() / np.maximum(df["tenure_days"].fillna(0).to_numpy(), 90)
    daily = np.where(recent > 0, recent, lifetime) / fav
    lift = df["loyalty"].map(DEFAULT_LIFT).fillna(DEFAULT_LIFT_OTHER).to_numpy()
    redeem = np.where((df["rewards_issued"] >= 3) & df["redemption_rate"].notna(), df["redemption_rate"], DEFAULT_REDEEM)
    cols = {"net_loss": net_loss}
    parts = []
    for r in RULES:
        rr = r.reward
        cond = next(c for c in r.conditions if c.op == "between")
        segs = next(c.values for c in r.conditions if c.op == "in")
        source = cols.get(cond.column, df.get(cond.column))
        mask = (df["loyalty"].isin(segs) & (source >= cond.lo)).to_numpy()
        fcol, k = rr.formula.split(" * ")
        x = cols.get(fcol, df.get(fcol)).fillna(0).to_numpy()[mask]
        raw = np.clip(x * float(k), 0, rr.max_amount)
        whole = rr.type == "LOYALTY_POINTS"
        units = np.floor(raw * factor[mask]) if whole else raw * factor[mask]
        raw = np.floor(raw) if whole else raw
        value = units * rr.unit_cost
        edge = (sum(EDGES[g] for g in rr.eligible_games) / len(rr.eligible_games)) if rr.eligible_games else fav[mask]
        cost = value * redeem[mask]
        if rr.type in ("BONUS_BALANCE", "FREEPLAY") and rr.wagering_requirement:
            cost = cost * np.maximum(1 - rr.wagering_requirement * edge, 0)
        margin = daily[mask] * HORIZON * lift[mask] * edge
        blocked = (raw <= 0) | (factor[mask] <= 0) | ((margin < cost) & (r.profit_check == "block"))
        parts.append(pd.DataFrame({
            "player_id": df["player_id"].to_numpy()[mask], "rule_id": r.rule_id, "priority": r.priority,
            "grp": r.group, "whole": whole, "unit_cost": rr.unit_cost, "value": value, "cand": ~blocked,
            "rule_left": r.caps.day if r.caps.day else np.inf,
            "prog": np.maximum(PROGRAM_DAY - df["reward_value_1d"].to_numpy()[mask], 0)}))
    d = pd.concat(parts, ignore_index=True)
    d = d.sort_values(["player_id", "grp", "priority", "rule_id"], ascending=[True, True, False, True])
    d["wins"] = d["cand"] & (d.groupby(["player_id", "grp"], sort=False)["cand"].cumsum() == 1)
    d["rc"] = np.where(d["wins"], np.minimum(d["value"], d["rule_left"]), 0.0)
    d = d.sort_values(["player_id", "priority", "rule_id"], ascending=[True, False, True])
    cum = d.groupby("player_id", sort=False)["rc"].cumsum()
    allowed = np.maximum(np.minimum(cum, d["prog"]) - np.minimum(cum - d["rc"], d["prog"]), 0)
    issued = d["wins"].to_numpy() & (allowed.to_numpy() > 1e-9)
    units = np.where(d["whole"], np.floor(allowed / d["unit_cost"] + 1e-9), np.round(allowed / d["unit_cost"], 2))
    return int(issued.sum()), float((units * d["unit_cost"])[issued].sum()), len(d)
