"""Simulate and issue reward rule runs: store in, decisions out, reward events and the run written back.

I/O at the edges: the newest (or a given) ``player_metrics`` / ``player_segments`` snapshot and the
ledger events the reward features need are read through the access layer (``Access``: the
principal's property scope applies to every read); the pure engine (:mod:`metrics.rewards`)
decides; issuing writes, in ONE transaction, a ``reward_issued`` event (a ``points_adjusted`` event
for loyalty points) per treated player, the run's members (treated and holdout, with what the
holdout would have got), the run itself and an audit-log entry.

Scope: a principal limited to some properties evaluates the players enrolled at them, with reward
features from the events at those properties. One exception, on purpose: *how many other players
share an address* is counted over the whole group (a multi-account at another property is still a
multi-account) with the system principal; only the count reaches the engine, never an address.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl

from metrics.rewards import holdout
from metrics.rewards.abuse import AbusePolicy
from metrics.rewards.engine import ISSUED_STATUSES, Program, evaluate, explain
from metrics.rewards.rules import Rule
from metrics.rewards.safety import ProfitModel
from metrics.rewards.signals import INPUT_TYPES, LOOKBACK_DAYS, player_signals, reward_history, rule_history
from metrics.rewards.simulate import simulate, totals
from metrics.rewards.types import REWARD_TYPES
from metrics.segments import Versioned
from pipelines import rewards_rules as RR
from pipelines import schema_rewards as R
from pipelines.access import SYSTEM, Access, register_derived
from pipelines.errors import UserError
from pipelines.sources import GAME_RATES
from pipelines.store import Store

register_derived(R.REWARD_RUN_MEMBERS)  # members are per-player rows: read through s_derived

MAX_HOLDOUT = 0.9


@dataclass
class Evaluation:
    """What the rules would do now: every decision, summaries, and the inputs' dates."""

    as_of: date
    at: datetime
    players: int
    rules: list[Rule]
    decisions: pl.DataFrame
    summary: pl.DataFrame = field(default_factory=pl.DataFrame)
    totals: pl.DataFrame = field(default_factory=pl.DataFrame)
    homes: pl.DataFrame = field(default_factory=pl.DataFrame)  # player_id, property_id (where rewards go)
    policy: dict[str, Any] = field(default_factory=dict)
    profit: ProfitModel | None = None

    def explained(self, decisions: pl.DataFrame | None = None) -> pl.DataFrame:
        """Decisions (all, or the given subset) with the reason of each in words."""
        return explain(self.decisions if decisions is None else decisions, self.profit)


def policies(store: Store) -> tuple[ProfitModel, AbusePolicy, Program]:
    """Profit model, abuse policy and program caps: newest saved versions, else defaults; the profit
    model's house edges default to the sources' GAME_RATES."""
    saved = {n: Versioned.from_toml(t) for n, t in store.latest_schemes().items()
             if n in ("reward_profit", "reward_abuse", "reward_program")}
    profit = saved.get("reward_profit") or ProfitModel()
    if not profit.house_edges:
        profit.house_edges = {g: edge for g, (_, edge) in GAME_RATES.items()}
    return profit, saved.get("reward_abuse") or AbusePolicy(), saved.get("reward_program") or Program()


def snapshot_as_of(acc: Access, as_of: date | None = None) -> date:
    """The snapshot day used: the given one (it must exist) or the newest."""
    if "player_metrics" not in set(acc.sql("SELECT table_name FROM information_schema.tables")["table_name"]):
        raise UserError(f"{acc.store.path}: no player metrics yet; run `player360 build` first")
    days = acc.sql("SELECT DISTINCT as_of FROM s_derived('player_metrics') ORDER BY as_of DESC")["as_of"].to_list()
    if not days:
        raise UserError("no player metrics in your scope yet; run `player360 build` first")
    if as_of is None:
        return days[0]
    if as_of not in days:
        raise UserError(f"no snapshot as of {as_of}; built days: {', '.join(str(d) for d in days[:10])}")
    return as_of


def shared_addresses(store: Store) -> pl.LazyFrame:
    """player_id, address of every player, read with the system principal: the input of the
    shared-address count only (see the module doc), never shown."""
    return Access(store, SYSTEM).sql("SELECT player_id, address FROM s_players() WHERE address IS NOT NULL").lazy()


def player_inputs(acc: Access, *, as_of: date | None = None, at: datetime | None = None,
                  abuse: AbusePolicy | None = None, players: list[str] | None = None
                  ) -> tuple[pl.DataFrame, pl.LazyFrame, date]:
    """(one row per visible player -- or per listed player --: metrics, segments and reward
    features; per-rule history for caps; as_of)."""
    as_of = snapshot_as_of(acc, as_of)
    cutoff = datetime.combine(as_of + timedelta(days=1), time())
    at = at or datetime.now().replace(microsecond=0)
    only, ids = ("AND player_id IN (SELECT unnest(?::VARCHAR[]))", [players]) if players is not None else ("", [])
    metrics = acc.sql("SELECT * EXCLUDE (computed_at, source_newest_ts) FROM s_derived('player_metrics') "
                      f"WHERE as_of = ? {only}", [as_of, *ids])
    segments = acc.sql("SELECT * EXCLUDE (as_of, computed_at, source_newest_ts) FROM s_derived('player_segments') "
                       f"WHERE as_of = ? {only}", [as_of, *ids])
    types = ", ".join(f"'{t}'" for t in INPUT_TYPES)
    events = acc.sql(
        f"""SELECT player_id, ts, event_type, amount, points, game, avg_bet, CAST(attrs AS VARCHAR) AS attrs
        FROM s_events() WHERE ts <= ? AND event_type IN ({types})
          AND (event_type IN ('buy_in', 'marker') OR ts > ?) {only}""",
        [max(cutoff, at), min(cutoff, at) - timedelta(days=LOOKBACK_DAYS), *ids]).lazy()
    devices = acc.sql(
        f"""SELECT DISTINCT player_id, json_extract_string(attrs, '$.device_id') AS device_id FROM s_events()
        WHERE ts <= ? AND CAST(attrs AS VARCHAR) LIKE '%device_id%'
          AND json_extract_string(attrs, '$.device_id') IS NOT NULL""", [cutoff]).lazy()
    signals = player_signals(events, cutoff, shared_addresses(acc.store), devices,
                             abuse.cash_out_hours if abuse else 24.0)
    if players is not None:
        signals = signals.filter(pl.col("player_id").is_in(players))
    # caps count what was given up to the moment of issue, not only up to the snapshot day
    signals = signals.drop("reward_value_1d", "reward_value_7d", "reward_value_30d").join(
        reward_history(events, at), on="player_id", how="left")
    frame = metrics.join(segments, on="player_id", how="left").join(signals.collect(), on="player_id", how="left")
    return frame, rule_history(events, at), as_of


def evaluate_rules(acc: Access, rules: list[Rule], *, as_of: date | None = None, at: datetime | None = None,
                   players: list[str] | None = None) -> Evaluation:
    """Every decision of the rules over the principal's players (or the listed ones), with summaries
    per rule and segment."""
    if not rules:
        raise UserError("no rules to evaluate")
    at = at or datetime.now().replace(microsecond=0)
    profit, abuse, program = policies(acc.store)
    frame, history, as_of = player_inputs(acc, as_of=as_of, at=at, abuse=abuse, players=players)
    decisions = evaluate(frame, rules, profit=profit, abuse=abuse, program=program, history=history).collect(
        engine="in-memory")
    policy = {p.kind: {"version": p.version, **p.thresholds()} for p in (profit, abuse, program)}
    homes = frame.select("player_id", pl.col("preferred_property").alias("property_id"))
    scope = acc.principal.properties
    if scope is not None:  # rewards are booked at a property the principal may write to
        homes = homes.with_columns(pl.when(pl.col("property_id").is_in(list(scope))).then("property_id")
                                   .otherwise(pl.lit(scope[0] if scope else None)).alias("property_id"))
    return Evaluation(as_of, at, frame.height, list(rules), decisions, simulate(decisions),
                      totals(decisions, [r.rule_id for r in rules if r.enabled]), homes, policy, profit)


@dataclass
class RunResult:
    """What an issued run did."""

    run_id: str
    as_of: date
    issued_at: datetime
    eligible: int
    treated: int
    holdout: int
    issued_value: float
    expected_cost: float
    expected_margin: float
    summary: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in self.__dict__.items()}


def _events(treated: pl.DataFrame, rules: dict[str, Rule], run_id: str, at: datetime) -> pl.DataFrame:
    """The ledger events of the treated members (one per reward)."""
    meta = pl.DataFrame([{
        "rule_id": r.rule_id, "event_type": REWARD_TYPES[r.reward.type].event_type,
        "ledger_type": REWARD_TYPES[r.reward.type].ledger_type,
        "expires_at": (at + timedelta(hours=r.reward.expiry_hours)).isoformat(),
        "wagering_requirement": r.reward.wagering_requirement, "eligible_games": list(r.reward.eligible_games)}
        for r in rules.values()], schema_overrides={"eligible_games": pl.List(pl.String)})
    rows = treated.join(meta, on="rule_id", how="left")
    points = pl.col("event_type") == "points_adjusted"
    attrs = pl.struct(
        "reward_id", pl.col("ledger_type").alias("reward_type"), pl.col("amount").alias("units"),
        pl.lit(run_id).alias("run_id"), pl.lit(run_id).alias("campaign_id"), "rule_id", "rule_version",
        "expires_at", "wagering_requirement", "eligible_games", pl.lit(holdout.TREATMENT).alias("arm"),
    ).struct.json_encode()
    return rows.select(
        pl.col("reward_id").alias("record_key"), "player_id", "property_id", pl.lit(at).alias("ts"), "event_type",
        pl.when(points).then(None).otherwise(pl.col("value")).alias("amount"),
        pl.when(points).then(pl.col("amount")).otherwise(None).alias("points"),
        attrs.alias("attrs"), pl.format("reward run {} rule {}", pl.lit(run_id), "rule_id").alias("source_ref"))


def issue(acc: Access, rule_ids: list[str], *, reason: str, holdout_share: float = 0.1,
          measurement_days: int = 14, at: datetime | None = None, as_of: date | None = None) -> RunResult:
    """Evaluate the named active rules over the principal's players and issue their rewards,
    holding out a random share of them (deterministic per player and run); everything in one
    transaction, written by the principal."""
    store, actor, role = acc.store, acc.principal.user, acc.principal.role
    RR.check_role(role, "issue_rewards")
    if not reason.strip():
        raise UserError("issuing a run needs a reason")
    if not 0.0 <= holdout_share <= MAX_HOLDOUT:
        raise UserError(f"--holdout must be between 0 and {MAX_HOLDOUT}, got {holdout_share}")
    if not 1 <= measurement_days <= 365:
        raise UserError(f"--window must be 1..365 days, got {measurement_days}")
    ev = evaluate_rules(acc, RR.active_rules(store, rule_ids), as_of=as_of, at=at)
    run_id = f"RUN-{ev.at:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    winners = ev.decisions.filter(pl.col("status").is_in(ISSUED_STATUSES)).sort("player_id", "rule_id")
    if winners.is_empty():
        raise UserError("no player gets a reward from these rules now: nothing issued (simulate to see why)")
    members = holdout.assign(winners, run_id, holdout_share).with_columns(
        pl.format("{}-{}", pl.lit(run_id), pl.int_range(pl.len()).cast(pl.String).str.zfill(6)).alias("reward_id"))
    members = members.join(ev.homes, on="player_id", how="left")
    members = members.with_columns(
        pl.when(pl.col("arm") == holdout.TREATMENT).then("reward_id").alias("reward_id"))
    treated = members.filter(pl.col("arm") == holdout.TREATMENT)
    events = _events(treated, {r.rule_id: r for r in ev.rules}, run_id, ev.at)
    event_ids = [hashlib.md5(f"app\x1f{k}".encode()).hexdigest() for k in members["reward_id"].fill_null("")]
    members = members.with_columns(pl.Series("event_id", event_ids)).with_columns(
        pl.when(pl.col("reward_id").is_not_null()).then("event_id").alias("event_id"))
    counts = ev.decisions.group_by("status").len()
    summary = dict(zip(counts["status"].to_list(), counts["len"].to_list()))
    result = RunResult(run_id, ev.as_of, ev.at, ev.decisions["player_id"].n_unique(), treated["player_id"].n_unique(),
                       members.filter(pl.col("arm") == holdout.HOLDOUT)["player_id"].n_unique(),
                       float(treated["issued_value"].sum()), float(treated["expected_cost"].sum()),
                       float(treated["expected_margin"].sum()), summary)
    rules_doc = [{"rule_id": r.rule_id, "version": r.version, **r.to_dict()} for r in ev.rules]
    with store.transaction():
        store.record_events(events, actor=actor, role=role, batch_id=run_id)
        store.append_rows(R.REWARD_RUN_MEMBERS, members.select(
            pl.lit(run_id).alias("run_id"), "player_id", "rule_id", "rule_version", "arm", "draw", "segment",
            "reward_type", "status", "amount", pl.col("issued_value").alias("value"), "expected_cost",
            "expected_margin", "reward_id", "event_id"))
        store.append_rows(R.REWARD_RUNS, pl.DataFrame([{
            "run_id": run_id, "as_of": ev.as_of, "issued_at": ev.at, "rules": json.dumps(rules_doc),
            "holdout_share": holdout_share, "measurement_days": measurement_days,
            "scope": None if acc.principal.properties is None else json.dumps(list(acc.principal.properties)),
            "policy": json.dumps(ev.policy, default=str),
            "summary": json.dumps(summary), "eligible": result.eligible, "treated": result.treated,
            "holdout": result.holdout, "issued_value": result.issued_value, "expected_cost": result.expected_cost,
            "expected_margin": result.expected_margin, "actor": actor, "role": role, "reason": reason.strip(),
            "created_at": datetime.now().replace(microsecond=0)}], schema_overrides={"scope": pl.String}))
        store.audit(actor=actor, role=role, action="rewards.issue", target_kind="reward_run", target_id=run_id,
                    after=result.to_dict() | {"rules": [r.rule_id for r in ev.rules], "holdout_share": holdout_share},
                    detail=reason.strip())
    return result


def runs(acc: Access) -> pl.DataFrame:
    """Issued runs, newest first (a run's own figures are group-wide; its members read scoped)."""
    return acc.sql(f"SELECT * FROM {R.REWARD_RUNS} ORDER BY issued_at DESC, run_id DESC")


POLICIES = {"profit": "reward_profit", "abuse": "reward_abuse", "caps": "reward_program"}


def set_policy(store: Store, which: str, changes: dict[str, Any], *, actor: str, role: str, reason: str) -> Versioned:
    """Save a new version of the profit model, abuse policy or program caps with some values
    changed (edit_rules; versioned and audited like a segmentation scheme)."""
    RR.check_role(role)
    if which not in POLICIES:
        raise UserError(f"unknown policy {which!r}: expected one of {', '.join(POLICIES)}")
    current = dict(zip(("profit", "abuse", "caps"), policies(store)))[which]
    unknown = sorted(set(changes) - set(current.thresholds()))
    if unknown:
        raise UserError(f"{which}: unknown setting(s) {unknown}; known: {', '.join(sorted(current.thresholds()))}")
    try:
        current.param.update(**changes)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{which}: {exc}") from None
    current.release(actor, reason)
    store.save_scheme_version(name=current.name, kind=current.kind, version=current.version, toml=current.to_toml(),
                              actor=actor, role=role, reason=reason)
    return current
