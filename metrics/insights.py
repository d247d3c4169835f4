"""Change-detection insights: plain sentences on what moved for a player, with the numbers behind.

Rules, not predictions (seed 000 section 3: "favor change detection over predictions ... start with
rules + deltas"). Each rule is a set of Polars expressions over the metrics frame
(``docs/metrics-contract.md``): when it fires, its severity (info / warning / critical), its
sentence, the player's current value and the baseline it was compared with. ``insights`` evaluates
every rule over the whole frame and stacks the fired ones into one long frame
``player_id, as_of, rule, severity, sentence, value, baseline`` — no per-player Python.

The deltas are computed here from the contract columns: visits, cash-in and theo of the last 30
days vs the prior 30, theo of the last 30 days vs a third of the last 90 (the 90-day monthly
baseline), average session length vs the prior 30 days, and days since last activity vs the
player's usual gap between visits.

The "new dispute" rule needs a ``disputes_30d`` column (disputes in the last 30 days); the contract
has only ``disputes_total``, so the rule is skipped on frames without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import param
import polars as pl

from metrics.segments import KEYS, Versioned

__all__ = ["RULES", "SEVERITIES", "InsightRules", "Rule", "change", "insights"]

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

SEVERITIES = ("info", "warning", "critical")
SEVERITY = pl.Enum(list(SEVERITIES))
RULES = ("visits_down", "visits_up", "cash_in_down", "cash_in_up", "theo_up", "theo_down",
         "session_up_cash_down", "overdue", "new_dispute")
RULE = pl.Enum(list(RULES))


@dataclass(frozen=True)
class Rule:
    """One insight rule as expressions: when it fires and what it then says."""

    name: str
    fired: pl.Expr
    severity: pl.Expr
    sentence: pl.Expr
    value: pl.Expr
    baseline: pl.Expr


def _num(column: str) -> pl.Expr:
    """A metrics column as Float64."""
    return pl.col(column).cast(pl.Float64)


def _sev(name: str) -> pl.Expr:
    """A severity literal."""
    return pl.lit(name, dtype=SEVERITY)


def change(current: pl.Expr, baseline: pl.Expr) -> pl.Expr:
    """Relative change of ``current`` vs ``baseline`` (null unless the baseline is positive)."""
    relative = (current.fill_null(0.0) - baseline) / baseline
    # NaN compares above every number in Polars: keep it (and inf) out of the rules
    return pl.when((baseline > 0) & relative.is_finite()).then(relative)


def _whole(x: pl.Expr) -> pl.Expr:
    """``x`` rounded to a whole number, as text for a sentence."""
    # absurd magnitudes do not fit an Int64: print them as floats rather than fail
    return x.round(0).cast(pl.Int64, strict=False).cast(pl.String).fill_null(x.cast(pl.String))


def _format(template: str, *values: pl.Expr) -> pl.Expr:
    """``template`` with each ``{}`` replaced by the next value (null when a value is null).

    ``pl.format`` does the same, but in Polars 2.1 it panics (a binview index assertion) under the
    streaming engine after a filter, on frames concatenated from shards; ``concat_str`` does not.
    """
    pieces = template.split("{}")
    if len(pieces) != len(values) + 1:
        raise ValueError(f"{template!r} has {len(pieces) - 1} placeholders for {len(values)} values")
    parts: list[pl.Expr] = []
    for piece, value in zip(pieces, [*values, None], strict=True):
        if piece:
            parts.append(pl.lit(piece))
        if value is not None:
            parts.append(value)
    return pl.concat_str(parts)


def _pct(relative: pl.Expr) -> pl.Expr:
    """|relative change| as a whole percentage, as text for a sentence."""
    return _whole(relative.abs() * 100)


class InsightRules(Versioned):
    """Thresholds of the insight rules (all fractions are relative changes: 0.5 = 50 %)."""

    kind = "insights"

    name = param.String(default="insights", constant=True, doc="Name of this rule set.")
    min_prior_visits = param.Integer(
        default=3, bounds=(1, 100), step=1,
        doc="Prior-30-day visits needed before a change in visits is worth saying.",
    )
    visits_drop = param.Number(
        default=0.5, bounds=(0, 1), step=0.05, doc="Visits down at least this much: warning.",
    )
    visits_drop_critical = param.Number(
        default=0.8, bounds=(0, 1), step=0.05, doc="Visits down at least this much: critical.",
    )
    visits_rise = param.Number(
        default=1.0, bounds=(0, None), softbounds=(0, 5), step=0.1,
        doc="Visits up at least this much: info.",
    )
    min_prior_cash = param.Number(
        default=500.0, bounds=(0, None), softbounds=(0, 50_000), step=50,
        doc="Prior-30-day cash-in needed before a change in cash-in is worth saying.",
    )
    cash_drop = param.Number(
        default=0.5, bounds=(0, 1), step=0.05, doc="Cash-in down at least this much: warning.",
    )
    cash_drop_critical = param.Number(
        default=0.9, bounds=(0, 1), step=0.05, doc="Cash-in down at least this much: critical.",
    )
    cash_rise = param.Number(
        default=1.0, bounds=(0, None), softbounds=(0, 5), step=0.1,
        doc="Cash-in up at least this much: info.",
    )
    min_theo_baseline = param.Number(
        default=50.0, bounds=(0, None), softbounds=(0, 5_000), step=10,
        doc="90-day monthly theo baseline needed before a change in theo is worth saying.",
    )
    theo_rise = param.Number(
        default=0.5, bounds=(0, None), softbounds=(0, 5), step=0.1,
        doc="Theo of the last 30 days up at least this much vs the 90-day baseline: info.",
    )
    theo_drop = param.Number(
        default=0.5, bounds=(0, 1), step=0.05,
        doc="Theo of the last 30 days down at least this much vs the 90-day baseline: warning.",
    )
    session_rise = param.Number(
        default=0.2, bounds=(0, None), softbounds=(0, 3), step=0.05,
        doc="Average session length up at least this much ...",
    )
    session_cash_drop = param.Number(
        default=0.2, bounds=(0, 1), step=0.05,
        doc="... while cash-in is down at least this much: warning (playing longer, bringing less)",
    )
    overdue_ratio = param.Number(
        default=3.0, bounds=(1, None), softbounds=(1, 20), step=0.5,
        doc="Days since last activity at least this many usual gaps: warning.",
    )
    overdue_critical_ratio = param.Number(
        default=6.0, bounds=(1, None), softbounds=(1, 30), step=0.5,
        doc="Days since last activity at least this many usual gaps: critical.",
    )
    min_overdue_days = param.Integer(
        default=14, bounds=(0, 365), step=1,
        doc="Never call a player overdue before this many days without activity.",
    )

    def visits_down(self) -> Rule:
        """Visits of the last 30 days well below the prior 30."""
        now, before = _num("visits_30d"), _num("visits_prior_30d")
        rel = change(now, before)
        return Rule(
            "visits_down",
            (before >= self.min_prior_visits) & (rel <= -self.visits_drop),
            pl.when(rel <= -self.visits_drop_critical).then(_sev("critical"))
            .otherwise(_sev("warning")),
            _format("Visits down {}% vs their prior 30 days", _pct(rel)),
            now, before,
        )

    def visits_up(self) -> Rule:
        """Visits of the last 30 days well above the prior 30."""
        now, before = _num("visits_30d"), _num("visits_prior_30d")
        rel = change(now, before)
        return Rule(
            "visits_up",
            (before >= self.min_prior_visits) & (rel >= self.visits_rise),
            _sev("info"),
            _format("Visits up {}% vs their prior 30 days", _pct(rel)),
            now, before,
        )

    def cash_in_down(self) -> Rule:
        """Cash-in of the last 30 days well below the prior 30."""
        now, before = _num("cash_in_30d"), _num("cash_in_prior_30d")
        rel = change(now, before)
        return Rule(
            "cash_in_down",
            (before >= self.min_prior_cash) & (rel <= -self.cash_drop),
            pl.when(rel <= -self.cash_drop_critical).then(_sev("critical"))
            .otherwise(_sev("warning")),
            _format("Cash-in down {}% vs their prior 30 days", _pct(rel)),
            now, before,
        )

    def cash_in_up(self) -> Rule:
        """Cash-in of the last 30 days well above the prior 30."""
        now, before = _num("cash_in_30d"), _num("cash_in_prior_30d")
        rel = change(now, before)
        return Rule(
            "cash_in_up",
            (before >= self.min_prior_cash) & (rel >= self.cash_rise),
            _sev("info"),
            _format("Cash-in up {}% vs their prior 30 days", _pct(rel)),
            now, before,
        )

    def theo_up(self) -> Rule:
        """Theo of the last 30 days well above the player's 90-day monthly baseline."""
        now, base = _num("theo_30d"), _num("theo_90d") / 3
        rel = change(now, base)
        return Rule(
            "theo_up",
            (base >= self.min_theo_baseline) & (rel >= self.theo_rise),
            _sev("info"),
            _format("Theo up {}% vs their 90-day baseline", _pct(rel)),
            now, base,
        )

    def theo_down(self) -> Rule:
        """Theo of the last 30 days well below the player's 90-day monthly baseline."""
        now, base = _num("theo_30d"), _num("theo_90d") / 3
        rel = change(now, base)
        return Rule(
            "theo_down",
            (base >= self.min_theo_baseline) & (rel <= -self.theo_drop),
            _sev("warning"),
            _format("Theo down {}% vs their 90-day baseline", _pct(rel)),
            now, base,
        )

    def session_up_cash_down(self) -> Rule:
        """Longer sessions but less cash-in: value and baseline are the session minutes."""
        now, before = _num("avg_session_minutes_30d"), _num("avg_session_minutes_prior_30d")
        session = change(now, before)
        cash_before = _num("cash_in_prior_30d")
        cash = change(_num("cash_in_30d"), cash_before)
        return Rule(
            "session_up_cash_down",
            (now.is_not_null() & (session >= self.session_rise))
            & ((cash_before >= self.min_prior_cash) & (cash <= -self.session_cash_drop)),
            _sev("warning"),
            _format(
                "Average session length up {}% ({} -> {} min), cash-in down {}%",
                _pct(session), _whole(before), _whole(now), _pct(cash),
            ),
            now, before,
        )

    def overdue(self) -> Rule:
        """No activity for several of the player's usual gaps between visits."""
        days, gap = _num("recency_days"), _num("avg_days_between_visits")
        usual = gap.clip(lower_bound=1.0)
        return Rule(
            "overdue",
            (days >= self.min_overdue_days) & (days >= self.overdue_ratio * usual),
            pl.when(days >= self.overdue_critical_ratio * usual).then(_sev("critical"))
            .otherwise(_sev("warning")),
            _format("No visit for {} days (usually every {})", _whole(days), _whole(usual)),
            days, gap,
        )

    def new_dispute(self) -> Rule:
        """A dispute in the last 30 days (needs a disputes_30d column)."""
        recent = _num("disputes_30d")
        earlier = _num("disputes_total") - recent
        return Rule(
            "new_dispute",
            recent >= 1,
            _sev("warning"),
            pl.when(recent == 1).then(pl.lit("New dispute in the last 30 days"))
            .otherwise(_format("{} new disputes in the last 30 days", _whole(recent))),
            recent, earlier,
        )

    def rules(self, columns: set[str] | None = None) -> list[Rule]:
        """Every rule whose input columns are present (all when ``columns`` is None)."""
        out = [self.visits_down(), self.visits_up(), self.cash_in_down(), self.cash_in_up(),
               self.theo_up(), self.theo_down(), self.session_up_cash_down(), self.overdue()]
        if columns is None or "disputes_30d" in columns:
            out.append(self.new_dispute())
        return out


def insights(frame: Frame, rules: InsightRules | None = None) -> Frame:
    """Long frame of fired rules: player_id, as_of, rule, severity, sentence, value, baseline."""
    rules = rules or InsightRules()
    lf = frame.lazy()
    parts = [
        lf.filter(r.fired.fill_null(False)).select(
            *KEYS,
            pl.lit(r.name, dtype=RULE).alias("rule"),
            r.severity.alias("severity"),
            r.sentence.alias("sentence"),
            r.value.cast(pl.Float64).alias("value"),
            r.baseline.cast(pl.Float64).alias("baseline"),
        )
        for r in rules.rules(set(lf.collect_schema().names()))
    ]
    out = pl.concat(parts, how="vertical")
    return out.collect() if isinstance(frame, pl.DataFrame) else out
