"""Reward rules: seed 003's JSON rule format (TOML too), parsed into frozen objects and validated.

A rule (JSON, or the same keys in TOML)::

    {"rule_id": "LOSING_PLAYER_CASHBACK", "priority": 10,
     "conditions": {"segment": "LOSING", "net_loss_min": 100, "session_count_min": 3,
                    "days_since_last_deposit": {"max": 7}},
     "reward": {"type": "BONUS_BALANCE", "formula": "net_loss * 0.10", "max_amount": 500,
                "wagering_requirement": 10, "expiry_hours": 48, "eligible_games": ["slots", "roulette"]}}

Optional keys: ``name``, ``description``, ``group`` (rules of one group compete: a player gets the
highest-priority one; default ``"default"``), ``enabled``, ``profit_check`` (``"block"``, the
default, blocks rewards the profit-safety check finds unprofitable; ``"report"`` only reports them),
``caps`` (``day``, ``week``, ``month``: most value per player from this rule in those rolling windows)
and ``reward.unit_value`` (cash cost of one unit: tickets; points default to 0.01).

Conditions (all must hold): a segment column (``loyalty``, ``lifecycle``, ...; ``segment`` means
``loyalty``) with a label or a list of labels; ``<metric>_min`` / ``<metric>_max`` or
``<metric>: {"min": .., "max": ..}`` on numbers (inclusive; a missing value never matches); a bool
metric with true/false; a text metric with a value or a list. Every problem is reported with the
field it concerns (``conditions.net_los_min: unknown metric 'net_los' (did you mean 'net_loss'?)``).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import tomli_w

from metrics.rewards import formula as F
from metrics.rewards.conditions import Condition, parse_conditions
from metrics.rewards.types import REWARD_TYPES, WAGERING_TYPES, canonical_type

RULE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
TOP_KEYS = ("rule_id", "name", "description", "priority", "group", "enabled", "profit_check", "conditions",
            "reward", "caps")
REWARD_KEYS = ("type", "formula", "max_amount", "wagering_requirement", "expiry_hours", "eligible_games",
               "unit_value")
CAP_KEYS = ("day", "week", "month")
PROFIT_CHECKS = ("block", "report")
MAX_PRIORITY = 1_000_000
DEFAULT_EXPIRY_HOURS = 30 * 24.0  # the catalog's REWARD_VALID_DAYS


class RuleError(ValueError):
    """A rule that cannot be used: every problem found, each naming its field."""

    def __init__(self, problems: list[tuple[str, str]], source: str = ""):
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(f"{f}: {m}" if f else m for f, m in problems))


@dataclass(frozen=True)
class Reward:
    """What a matching player gets."""

    type: str
    formula: str
    max_amount: float
    wagering_requirement: float = 0.0
    expiry_hours: float = DEFAULT_EXPIRY_HOURS
    eligible_games: tuple[str, ...] = ()
    unit_value: float | None = None

    @property
    def unit_cost(self) -> float:
        """Cash cost of one unit (a point, a dollar of bonus, a ticket)."""
        return self.unit_value if self.unit_value is not None else REWARD_TYPES[self.type].unit_cost


@dataclass(frozen=True)
class Caps:
    """Most value (cash cost) one player may get from a rule per rolling day, week and month."""

    day: float | None = None
    week: float | None = None
    month: float | None = None


@dataclass(frozen=True)
class Rule:
    """One validated reward rule."""

    rule_id: str
    priority: int
    conditions: tuple[Condition, ...]
    reward: Reward
    name: str = ""
    description: str = ""
    group: str = "default"
    enabled: bool = True
    profit_check: str = "block"
    caps: Caps = field(default_factory=Caps)
    version: int = 0  # set by the store when saved

    def to_dict(self) -> dict[str, Any]:
        """The rule in its file format (canonical spelling, defaults left out)."""
        out: dict[str, Any] = {"rule_id": self.rule_id}
        for key in ("name", "description"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out["priority"] = self.priority
        if self.group != "default":
            out["group"] = self.group
        if not self.enabled:
            out["enabled"] = False
        if self.profit_check != "block":
            out["profit_check"] = self.profit_check
        out["conditions"] = {k: v for c in self.conditions for k, v in c.to_dict().items()}
        r = self.reward
        reward: dict[str, Any] = {"type": r.type, "formula": r.formula, "max_amount": r.max_amount}
        if r.wagering_requirement:
            reward["wagering_requirement"] = r.wagering_requirement
        reward["expiry_hours"] = r.expiry_hours
        if r.eligible_games:
            reward["eligible_games"] = list(r.eligible_games)
        if r.unit_value is not None:
            reward["unit_value"] = r.unit_value
        out["reward"] = reward
        caps = {k: getattr(self.caps, k) for k in CAP_KEYS if getattr(self.caps, k) is not None}
        if caps:
            out["caps"] = caps
        return out

    def to_json(self) -> str:
        """Pretty JSON (what the store keeps and the editor shows)."""
        return json.dumps(self.to_dict(), indent=2)

    def to_toml(self) -> str:
        """The same rule as TOML."""
        return tomli_w.dumps(self.to_dict())


def load_text(text: str, fmt: str | None = None) -> dict[str, Any]:
    """A rule document as a dict (format from `fmt`, else guessed: JSON starts with '{')."""
    fmt = (fmt or ("json" if text.lstrip().startswith("{") else "toml")).lower()
    try:
        doc = json.loads(text) if fmt == "json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleError([("", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError([("", f"not valid TOML: {exc}")]) from None
    if not isinstance(doc, dict):
        raise RuleError([("", "a rule is an object with rule_id, priority, conditions and reward")])
    return doc


def parse_rule(text: str, fmt: str | None = None, *, games: Iterable[str] | None = None,
               source: str = "") -> Rule:
    """Parse and validate a rule from JSON or TOML text; RuleError lists every problem."""
    try:
        return rule_from_dict(load_text(text, fmt), games=games)
    except RuleError as exc:
        raise RuleError(exc.problems, source) from None


def _number(doc: Mapping[str, Any], key: str, where: str, problems: list, *, positive: bool = False,
            required: bool = False) -> float | None:
    value = doc.get(key)
    if value is None:
        if required:
            problems.append((where, "is required"))
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        problems.append((where, f"must be a number, got {value!r}"))
        return None
    if value < 0 or (positive and value == 0):
        problems.append((where, f"must be {'above' if positive else 'at least'} 0, got {value!r}"))
        return None
    return float(value)


def _unknown(doc: Mapping[str, Any], allowed: tuple[str, ...], where: str, problems: list) -> None:
    for key in doc:
        if key not in allowed:
            problems.append((f"{where}{key}", f"unknown field (expected one of: {', '.join(allowed)})"))


def _text(doc: Mapping[str, Any], key: str, problems: list, limit: int, default: str = "") -> str:
    value = doc.get(key, default)
    if not isinstance(value, str) or len(value) > limit:
        problems.append((key, f"must be text of at most {limit} characters"))
        return default
    return value.strip()


def _reward(doc: Any, games: Iterable[str] | None, problems: list) -> Reward | None:
    if not isinstance(doc, dict):
        problems.append(("reward", "is required: a table with type, formula and max_amount"))
        return None
    _unknown(doc, REWARD_KEYS, "reward.", problems)
    kind = canonical_type(doc.get("type"))
    if kind is None:
        problems.append(("reward.type", f"must be one of {', '.join(REWARD_TYPES)}, got {doc.get('type')!r}"))
    try:
        formula = F.parse(doc.get("formula")).text
    except F.FormulaError as exc:
        problems.append(("reward.formula", str(exc)))
        formula = None
    cap = _number(doc, "max_amount", "reward.max_amount", problems, positive=True, required=True)
    wagering = _number(doc, "wagering_requirement", "reward.wagering_requirement", problems) or 0.0
    if wagering and kind is not None and kind not in WAGERING_TYPES:
        problems.append(("reward.wagering_requirement", f"applies to {', '.join(WAGERING_TYPES)} only, not {kind}"))
    if wagering > 100:
        problems.append(("reward.wagering_requirement", f"at most 100 times the reward, got {wagering:g}"))
    expiry = _number(doc, "expiry_hours", "reward.expiry_hours", problems, positive=True)
    unit_value = _number(doc, "unit_value", "reward.unit_value", problems, positive=True)
    eligible = doc.get("eligible_games", [])
    known = {g.casefold(): g for g in games} if games is not None else None
    if not isinstance(eligible, list) or not all(isinstance(g, str) for g in eligible):
        problems.append(("reward.eligible_games", "must be a list of game names"))
        eligible = []
    elif known is not None:
        bad = [g for g in eligible if g.casefold() not in known]
        if bad:
            problems.append(("reward.eligible_games", f"unknown game(s) {bad}; known: {', '.join(sorted(known.values()))}"))
        eligible = [known.get(g.casefold(), g) for g in eligible]
    if kind is None or formula is None or cap is None:
        return None
    return Reward(kind, formula, cap, wagering, expiry or DEFAULT_EXPIRY_HOURS, tuple(dict.fromkeys(eligible)),
                  unit_value)


def _caps(doc: Any, problems: list) -> Caps:
    if doc is None:
        return Caps()
    if not isinstance(doc, dict):
        problems.append(("caps", "must be a table with day, week and/or month"))
        return Caps()
    _unknown(doc, CAP_KEYS, "caps.", problems)
    values = {k: _number(doc, k, f"caps.{k}", problems, positive=True) for k in CAP_KEYS}
    return Caps(**values)


def rule_from_dict(doc: Mapping[str, Any], *, games: Iterable[str] | None = None) -> Rule:
    """Validate a rule document (already loaded from JSON or TOML)."""
    problems: list[tuple[str, str]] = []
    _unknown(doc, TOP_KEYS, "", problems)
    rule_id = doc.get("rule_id")
    if not isinstance(rule_id, str) or not RULE_ID.fullmatch(rule_id):
        problems.append(("rule_id", "is required: a letter then letters, digits, _ . - (at most 64), "
                                    f"got {rule_id!r}"))
    priority = doc.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        problems.append(("priority", f"is required: a whole number 0..{MAX_PRIORITY} (higher wins), got {priority!r}"))
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(("enabled", f"must be true or false, got {enabled!r}"))
    check = doc.get("profit_check", "block")
    if check not in PROFIT_CHECKS:
        problems.append(("profit_check", f"must be one of {', '.join(PROFIT_CHECKS)}, got {check!r}"))
    group = _text(doc, "group", problems, 40, "default") or "default"
    conditions = doc.get("conditions", None)
    if not isinstance(conditions, dict):
        problems.append(("conditions", "is required: a table of conditions ({} for every player)"))
        conds: tuple[Condition, ...] = ()
    else:
        conds, found = parse_conditions(conditions)
        problems += found
    reward = _reward(doc.get("reward"), games, problems)
    caps = _caps(doc.get("caps"), problems)
    name, description = _text(doc, "name", problems, 120), _text(doc, "description", problems, 1000)
    if problems:
        raise RuleError(problems)
    assert reward is not None
    return Rule(rule_id=rule_id, priority=priority, conditions=conds, reward=reward, name=name,
                description=description, group=group, enabled=enabled, profit_check=check, caps=caps)
