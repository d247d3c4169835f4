"""Reward rules in the store: validate, save versions, retire, list, and the audit trail.

Every change is a new version in ``reward_rules`` plus one ``reward_rule_audit`` row with the actor,
their role, the time, the reason and the rule before and after (canonical JSON), and an entry in
the store's audit log, in one transaction. Nothing is updated or deleted: retiring a rule is a
version whose status is ``retired``. Only roles whose policy (``pipelines.roles``) grants
``edit_rules`` change rules; ``issue_rewards`` issues them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import polars as pl

from metrics.rewards.rules import Rule, RuleError, parse_rule, rule_from_dict
from pipelines import schema_rewards as R
from pipelines.access import AccessDenied
from pipelines.errors import UserError
from pipelines.roles import ROLES, policy
from pipelines.sources import GAME_RATES
from pipelines.store import Store

MAX_RULE_BYTES = 64_000


def games() -> list[str]:
    """Game names a rule may restrict a reward to."""
    return list(GAME_RATES)


def validate(text: str, fmt: str | None = None, source: str = "") -> Rule:
    """A rule from JSON or TOML text, or UserError listing every problem by field."""
    if len(text.encode()) > MAX_RULE_BYTES:
        raise UserError(f"{source or 'rule'}: larger than {MAX_RULE_BYTES:,} bytes")
    try:
        return parse_rule(text, fmt, games=games(), source=source)
    except RuleError as exc:
        raise UserError(str(exc)) from None


def load_file(path: Path | str) -> Rule:
    """A rule file (.json or .toml), validated; UserError names the file and the fields."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    fmt = {".json": "json", ".toml": "toml"}.get(path.suffix.lower())
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    return validate(text, fmt, source=str(path))


def check_role(role: str, action: str = "edit_rules") -> None:
    """AccessDenied unless the role's policy grants the action (edit_rules or issue_rewards)."""
    if action not in policy(role).actions:
        allowed = [r for r in ROLES if action in policy(r).actions]
        raise AccessDenied(f"role {role!r} may not {action.replace('_', ' ')} ({', '.join(allowed)} may)")


def versions(store: Store, rule_id: str | None = None) -> pl.DataFrame:
    """Saved versions, newest first (every rule, or one)."""
    where, params = ("WHERE rule_id = ?", [rule_id]) if rule_id else ("", [])
    return store.sql(f"SELECT * FROM {R.REWARD_RULES} {where} ORDER BY rule_id, version DESC", params)


def current(store: Store, include_retired: bool = False) -> pl.DataFrame:
    """The newest version of each rule (active ones only unless asked), highest priority first."""
    frame = store.sql(
        f"""SELECT * FROM {R.REWARD_RULES} QUALIFY row_number() OVER (PARTITION BY rule_id ORDER BY version DESC) = 1
        ORDER BY priority DESC, rule_id""")
    return frame if include_retired else frame.filter(pl.col("status") == "active")


def to_rule(row: dict) -> Rule:
    """A stored version as a Rule (with its version number)."""
    return replace(rule_from_dict(json.loads(row["body"])), version=int(row["version"]))


def active_rules(store: Store, rule_ids: list[str] | None = None) -> list[Rule]:
    """The newest active version of the rules (all, or the named ones: unknown names are an error)."""
    frame = current(store)
    rules = {r["rule_id"]: to_rule(r) for r in frame.iter_rows(named=True)}
    if rule_ids is None:
        return list(rules.values())
    missing = [r for r in rule_ids if r not in rules]
    if missing:
        raise UserError(f"no active rule named {', '.join(missing)} (see `player360 rules list`)")
    return [rules[r] for r in rule_ids]


def audit(store: Store, rule_id: str | None = None) -> pl.DataFrame:
    """The audit trail, newest first."""
    where, params = ("WHERE rule_id = ?", [rule_id]) if rule_id else ("", [])
    return store.sql(f"SELECT * FROM {R.REWARD_RULE_AUDIT} {where} ORDER BY audit_seq DESC", params)


def _write(store: Store, rule: Rule, status: str, action: str, actor: str, role: str, reason: str) -> int:
    """One new version and its audit row, in one transaction; returns the version."""
    check_role(role)
    if not actor:
        raise UserError("every write needs an actor")
    if not reason.strip():
        raise UserError("a rule change needs a reason")
    now = datetime.now().replace(microsecond=0)
    with store.transaction():
        latest = store.sql(f"SELECT version, status, body FROM {R.REWARD_RULES} WHERE rule_id = ? "
                           "ORDER BY version DESC LIMIT 1", [rule.rule_id])
        before = latest.row(0, named=True) if latest.height else None
        if action == "add" and before is not None:
            action = "restore" if before["status"] == "retired" else "update"
        after = rule.to_json()
        if before is not None and before["body"] == after and before["status"] == status:
            raise UserError(f"rule {rule.rule_id}: nothing changed since version {before['version']}")
        version = (before["version"] if before else 0) + 1
        store.append_rows(R.REWARD_RULES, pl.DataFrame([{
            "rule_id": rule.rule_id, "version": version, "status": status, "body": after,
            "priority": rule.priority, "reward_type": rule.reward.type, "saved_by": actor, "role": role,
            "reason": reason.strip(), "saved_at": now}]))
        seq = store.sql(f"SELECT coalesce(max(audit_seq), 0) + 1 AS n FROM {R.REWARD_RULE_AUDIT}")["n"][0]
        store.append_rows(R.REWARD_RULE_AUDIT, pl.DataFrame([{
            "audit_seq": seq, "rule_id": rule.rule_id, "action": action,
            "version_before": before["version"] if before else None, "version_after": version,
            "before": before["body"] if before else None, "after": after, "actor": actor, "role": role,
            "reason": reason.strip(), "changed_at": now}], schema_overrides={"version_before": pl.Int32}))
        store.audit(actor=actor, role=role, action=f"rule.{action}", target_kind="reward_rule",
                    target_id=rule.rule_id, before=json.loads(before["body"]) if before else None,
                    after=json.loads(after) | {"version": version, "status": status}, detail=reason.strip())
    return version


def save(store: Store, rule: Rule, *, actor: str, role: str, reason: str) -> int:
    """Save a rule as its next version (the first one adds it); returns the version."""
    return _write(store, rule, "active", "add", actor, role, reason)


def retire(store: Store, rule_id: str, *, actor: str, role: str, reason: str) -> int:
    """Retire a rule (a new version with status retired); returns the version."""
    rows = current(store, include_retired=True).filter(pl.col("rule_id") == rule_id)
    if rows.is_empty():
        raise UserError(f"no rule named {rule_id}")
    if rows["status"][0] == "retired":
        raise UserError(f"rule {rule_id} is already retired")
    return _write(store, to_rule(rows.row(0, named=True)), "retired", "retire", actor, role, reason)
