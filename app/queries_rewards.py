"""The Rewards page's reads and writes, all through the access layer (`pipelines.access.Access`).

Every function takes the signed-in user's `Access`: evaluations and ROI see only the players of the
user's property scope (the pipelines read `s_events()`, `s_derived(...)`); rule writes and runs
check the role's policy (edit_rules, issue_rewards) and are attributed and audited.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from metrics.rewards.rules import Rule
from pipelines import rewards_roi as RO
from pipelines import rewards_rules as RR
from pipelines import rewards_run as RN
from pipelines.access import Access

RULE_COLUMNS = ("rule_id", "version", "status", "priority", "reward_type", "saved_by", "role", "saved_at", "reason")


def rules(acc: Access) -> pl.DataFrame:
    """The newest version of every rule (retired ones too), highest priority first."""
    frame = RR.current(acc.store, include_retired=True)
    return frame.select(*RULE_COLUMNS, "body") if frame.height else frame


def history(acc: Access, rule_id: str) -> pl.DataFrame:
    """Every change of one rule: action, versions, who, role, when, why, before and after."""
    return RR.audit(acc.store, rule_id)


def active(acc: Access) -> list[Rule]:
    """The active rules (newest versions)."""
    return RR.active_rules(acc.store)


def evaluate(acc: Access, rules_: list[Rule], players: list[str] | None = None,
             at: datetime | None = None) -> RN.Evaluation:
    """What the rules would do now for the user's players (or the listed ones)."""
    return RN.evaluate_rules(acc, rules_, players=players, at=at)


def player_frame(acc: Access, player_id: str, at: datetime | None = None) -> tuple[pl.DataFrame, object, object]:
    """(one player's engine inputs, the profit model, the abuse policy): what a condition reads."""
    profit, abuse, _ = RN.policies(acc.store)
    return RN.player_inputs(acc, players=[player_id], at=at, abuse=abuse)[0], profit, abuse


def save(acc: Access, rule: Rule, reason: str) -> int:
    """Save a rule as its next version, written by the user (edit_rules)."""
    acc.principal.require("edit_rules")
    return RR.save(acc.store, rule, actor=acc.principal.user, role=acc.principal.role, reason=reason)


def retire(acc: Access, rule_id: str, reason: str) -> int:
    """Retire a rule (edit_rules)."""
    acc.principal.require("edit_rules")
    return RR.retire(acc.store, rule_id, actor=acc.principal.user, role=acc.principal.role, reason=reason)


def issue(acc: Access, rule_ids: list[str], reason: str, holdout_share: float, window_days: int) -> RN.RunResult:
    """Issue a run to the user's players with a random holdout (issue_rewards)."""
    return RN.issue(acc, rule_ids, reason=reason, holdout_share=holdout_share, measurement_days=window_days)


def runs(acc: Access) -> pl.DataFrame:
    """Issued runs and ingested campaigns with the members the user may see, newest first."""
    return RO.measurable(acc)


def roi(acc: Access, run_id: str) -> RO.RoiReport:
    """The measured effect of a run or campaign over the user's members."""
    return RO.roi(acc, run_id)
