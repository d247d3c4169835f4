"""Rule conditions: one per column, parsed from seed 003's spelling and compiled to a Polars expression."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from metrics.rewards.vocabulary import lookup, segment_label, suggest

MAX_VALUES = 50


@dataclass(frozen=True)
class Condition:
    """``column`` between ``lo`` and ``hi`` (inclusive), in ``values``, or equal to a bool."""

    column: str
    op: str  # between | in | is
    lo: float | None = None
    hi: float | None = None
    values: tuple[Any, ...] = ()

    def expr(self) -> pl.Expr:
        """True where the player meets the condition (a missing value never does)."""
        col = pl.col(self.column)
        if self.op == "between":
            x = col.cast(pl.Float64)
            parts = [x >= self.lo] if self.lo is not None else []
            parts += [x <= self.hi] if self.hi is not None else []
            out = parts[0] if len(parts) == 1 else parts[0] & parts[1]
        elif self.op == "in":
            out = col.cast(pl.String).is_in(list(self.values))
        else:
            out = col.cast(pl.Boolean) == self.values[0]
        return out.fill_null(False)

    def to_dict(self) -> dict[str, Any]:
        """The condition in the rule file's spelling."""
        if self.op == "between":
            return {self.column: {k: v for k, v in (("min", self.lo), ("max", self.hi)) if v is not None}}
        if self.op == "in":
            return {self.column: self.values[0] if len(self.values) == 1 else list(self.values)}
        return {self.column: self.values[0]}

    def describe(self) -> str:
        """'net_loss >= 100', 'loyalty in LOSING, BREAKEVEN'."""
        if self.op == "between":
            if self.lo is not None and self.hi is not None:
                return f"{self.lo:g} <= {self.column} <= {self.hi:g}"
            return f"{self.column} >= {self.lo:g}" if self.lo is not None else f"{self.column} <= {self.hi:g}"
        if self.op == "in":
            return f"{self.column} in {', '.join(map(str, self.values))}"
        return f"{self.column} is {str(self.values[0]).lower()}"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _split(key: str) -> tuple[str, str | None]:
    """('net_loss', 'min') for 'net_loss_min' when net_loss is a known number; (key, None) otherwise."""
    for suffix in ("min", "max"):
        base = key[: -len(suffix) - 1]
        if key.endswith(f"_{suffix}") and lookup(key) is None and (n := lookup(base)) and n.kind == "number":
            return base, suffix
    return key, None


def _labels(column: str, value: Any, where: str, problems: list) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > MAX_VALUES or not all(isinstance(v, str) for v in items):
        problems.append((where, f"must be a label or a list of labels of {column}"))
        return ()
    known = lookup(column)
    if known and known.kind == "segment":
        out = []
        for v in items:
            label = segment_label(known.name, v)
            if label is None:
                from metrics.rewards.vocabulary import SEGMENTS
                problems.append((where, f"{v!r} is not a {known.name} label; known: {', '.join(SEGMENTS[known.name])}"))
            else:
                out.append(label)
        return tuple(dict.fromkeys(out))
    return tuple(dict.fromkeys(items))


def parse_conditions(doc: Mapping[str, Any]) -> tuple[tuple[Condition, ...], list[tuple[str, str]]]:
    """Conditions of a rule (one per column) and the problems found, each naming its field."""
    problems: list[tuple[str, str]] = []
    ranges: dict[str, dict[str, float]] = {}
    out: dict[str, Condition] = {}
    for key, value in doc.items():
        where = f"conditions.{key}"
        base, bound = _split(str(key))
        known = lookup(base)
        if known is None:
            stem = base.removesuffix("_min").removesuffix("_max")
            hint = suggest(base) or (suggest(stem) and suggest(stem)[:-2] + f" with _{base[-3:]}?)")
            problems.append((where, f"unknown metric or segment {stem!r}{hint}"))
            continue
        column = known.name
        if bound is not None or (known.kind == "number" and isinstance(value, dict)):
            parts = {bound: value} if bound else value
            extra = [k for k in parts if k not in ("min", "max")]
            if extra:
                problems.append((where, f"a range takes min and/or max, not {extra}"))
                continue
            for side, v in parts.items():
                number = _num(v)
                if number is None:
                    problems.append((where, f"{side} must be a number, got {v!r}"))
                elif side in ranges.get(column, {}):
                    problems.append((where, f"{column} has its {side} set twice"))
                else:
                    ranges.setdefault(column, {})[side] = number
        elif known.kind == "number":
            number = _num(value)
            if number is None:
                problems.append((where, f"must be a number or {{min, max}}, got {value!r}"))
            else:
                ranges[column] = {"min": number, "max": number}
        elif known.kind == "bool":
            if not isinstance(value, bool):
                problems.append((where, f"must be true or false, got {value!r}"))
            else:
                out[column] = Condition(column, "is", values=(value,))
        else:
            labels = _labels(column, value, where, problems)
            if labels:
                out[column] = Condition(column, "in", values=labels)
    for column, r in ranges.items():
        lo, hi = r.get("min"), r.get("max")
        if lo is not None and hi is not None and lo > hi:
            problems.append((f"conditions.{column}", f"min {lo:g} is above max {hi:g}: no player can match"))
            continue
        out[column] = Condition(column, "between", lo, hi)
    return tuple(out.values()), problems
