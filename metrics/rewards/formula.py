"""Reward formulas: a small arithmetic language over metric names, compiled to ONE Polars expression.

``"net_loss * 0.10"``, ``"min(theo_90d * 0.2, 50) + 5"``, ``"round(daily_theo_90d * 7)"``: numbers,
numeric metric or feature names, ``+ - * /``, parentheses, unary minus and the functions ``min``,
``max`` (two or more arguments), ``abs``, ``round`` (optionally to n digits), ``floor``, ``ceil``.
Nothing else parses (no attribute access, no calls to anything else), so a formula is safe to
accept from a rule file or the app's editor. Null inputs count as 0; a division by zero gives no
amount (null), which the engine treats as nothing to issue.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import reduce

import polars as pl

from metrics.rewards.vocabulary import lookup, suggest

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_FUNCS = {"min": (2, None), "max": (2, None), "abs": (1, 1), "round": (1, 2), "floor": (1, 1), "ceil": (1, 1)}
MAX_LENGTH = 500


class FormulaError(ValueError):
    """A formula that does not parse or names something unknown (the message says where)."""


@dataclass(frozen=True)
class Formula:
    """A parsed formula: its text and the column names it reads."""

    text: str
    names: tuple[str, ...]

    def expr(self) -> pl.Expr:
        """The formula as a Float64 expression (nulls in the inputs count 0)."""
        return _compile(ast.parse(self.text, mode="eval").body)


def parse(text: str) -> Formula:
    """Parse and check a formula; FormulaError names the problem."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("a formula is required, e.g. \"net_loss * 0.10\"")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"not a formula: {exc.msg} at character {exc.offset or 0}") from None
    names: list[str] = []
    _check(tree.body, names)
    return Formula(text.strip(), tuple(dict.fromkeys(names)))


def _check(node: ast.AST, names: list[str]) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(f"only numbers may appear as constants, not {node.value!r}")
    elif isinstance(node, ast.Name):
        known = lookup(node.id)
        if known is None:
            raise FormulaError(f"unknown metric {node.id!r}{suggest(node.id)}")
        if known.kind != "number":
            raise FormulaError(f"{node.id!r} is not a number (it is a {known.kind})")
        names.append(known.name)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, names)
        _check(node.right, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, names)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
        lo, hi = _FUNCS[node.func.id]
        n = len(node.args)
        if node.keywords or n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
            raise FormulaError(f"{node.func.id}() takes {want} argument(s)")
        if node.func.id == "round" and n == 2 and not (
                isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, int)):
            raise FormulaError("round(x, n): n must be a whole number")
        for arg in node.args:
            _check(arg, names)
    elif isinstance(node, ast.Call):
        called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        raise FormulaError(f"unknown function {called!r}; allowed: {', '.join(_FUNCS)}")
    else:
        raise FormulaError(f"not allowed in a formula: {ast.unparse(node)!r} (use numbers, metric names, "
                           "+ - * / and min, max, abs, round, floor, ceil)")


def _compile(node: ast.AST) -> pl.Expr:
    if isinstance(node, ast.Constant):
        return pl.lit(float(node.value))
    if isinstance(node, ast.Name):
        known = lookup(node.id)
        return pl.col(known.name if known else node.id).cast(pl.Float64).fill_null(0.0)
    if isinstance(node, ast.UnaryOp):
        inner = _compile(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left), _compile(node.right)
        op = _BINOPS[type(node.op)]
        if op == "/":
            return pl.when(right != 0).then(left / right)
        return {"+": left + right, "-": left - right, "*": left * right}[op]
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    args = [_compile(a) for a in node.args]
    fn = node.func.id
    if fn == "min":
        return reduce(lambda a, b: pl.min_horizontal(a, b), args)
    if fn == "max":
        return reduce(lambda a, b: pl.max_horizontal(a, b), args)
    if fn == "abs":
        return args[0].abs()
    if fn == "round":
        digits = int(node.args[1].value) if len(node.args) == 2 else 0  # type: ignore[attr-defined]
        return args[0].round(digits)
    return args[0].floor() if fn == "floor" else args[0].ceil()
