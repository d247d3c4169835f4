"""Player segmentation schemes: one label per player per scheme, from the per-player metrics frame.

Every scheme is a ``param.Parameterized`` whose thresholds are parameters (bounds, step, doc): the
same objects the app's sliders and the notebooks tune. A scheme turns the metrics columns of
``docs/metrics-contract.md`` into Polars expressions, so re-segmenting is one ``with_columns`` over
the frame, never a Python loop. Every label expression ends in a fallback label, so each player gets
exactly one non-null label per scheme whatever their metrics (nulls, zeros, NaN).

Schemes and where their defaults come from:

* ``worth`` (low / medium / high) by theo or cash-in, fixed thresholds or population quantiles
  (seed 000 section 3, "worth banding"; the cuts are ours).
* ``engagement`` (active / cooling / dormant) by recency and the 30-day visit trend (seed 000
  section 3; the 30 / 90 day cuts follow seed 001's lifecycle stages).
* ``lifecycle`` (new / active / at_risk / churned): seed 001, first activity < 30 days ago, last
  < 90 days, 90-180 days, > 180 days.
* ``spending`` (vip / high / medium / low): seed 001, > 1000, 500-1000, 100-500, < 100.
* ``frequency`` (frequent / regular / occasional / one_time): seed 001, > 10, 5-10, 2-4, 1 visits.
* ``attention`` (exclusion / dispute / heavy_cash / volatile / none) plus one boolean column per
  flag (seed 000 section 3, "risk/attention flags").
* ``loyalty`` (NEW / VIP / WINNING / BREAKEVEN / LOSING): seed 003 component 3, mapped to our
  metrics (see :class:`LoyaltySegments`).

Quantile-based cuts come from :class:`QuantileSummary`, a fixed-bin histogram on a log scale that is
computed per shard and merged exactly (counts add), so a sharded run (Dask, by player) gets the same
cuts as a single-process run: compute ``quantile_summary`` per shard, ``merge_summaries`` them, and
pass the result to ``segment_all(shard, schemes, summaries=merged)``.

A scheme serialises to versioned TOML (``to_toml`` / ``Scheme.from_toml``); every assignment carries
a ``<scheme>_version`` column so a label can be traced back to the thresholds that produced it.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import param
import polars as pl
import tomli_w

__all__ = [
    "KEYS",
    "SCHEMES",
    "AttentionFlags",
    "EngagementBands",
    "FrequencyTiers",
    "LifecycleStage",
    "LoyaltySegments",
    "QuantileSummary",
    "Scheme",
    "SpendingTiers",
    "Versioned",
    "WorthBands",
    "default_schemes",
    "merge_summaries",
    "quantile_summary",
    "segment_all",
]

KEYS = ("player_id", "as_of")

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


# --------------------------------------------------------------------------- quantile summaries

_BIN_WIDTH = 0.01


@dataclass(frozen=True)
class QuantileSummary:
    """Mergeable histogram of one column: counts per bin of sign(x) * log1p(|x|), exact min and max.

    Bin ``k`` (k > 0) holds x > 0 with ``(k-1)*w <= log1p(x) < k*w``; bin 0 holds exact zeros;
    negative bins mirror the positive ones. With ``w = 0.01`` a quantile is off by at most half a
    bin: about 0.5 % of the value for |x| >> 1, 0.005 absolute near zero. Nulls and non-finite
    values are counted in ``missing`` and ignored by ``quantile``.
    """

    column: str
    bins: tuple[tuple[int, int], ...]
    missing: int = 0
    min: float | None = None
    max: float | None = None
    bin_width: float = _BIN_WIDTH

    @property
    def n(self) -> int:
        """Number of finite values summarised."""
        return sum(c for _, c in self.bins)

    def merge(self, other: QuantileSummary) -> QuantileSummary:
        """The summary of both shards' values together (exact: counts add)."""
        if other.column != self.column or other.bin_width != self.bin_width:
            raise ValueError(
                f"cannot merge summaries of {self.column!r} (w={self.bin_width}) and "
                f"{other.column!r} (w={other.bin_width})"
            )
        counts = dict(self.bins)
        for k, c in other.bins:
            counts[k] = counts.get(k, 0) + c
        lows = [v for v in (self.min, other.min) if v is not None]
        highs = [v for v in (self.max, other.max) if v is not None]
        return QuantileSummary(
            column=self.column,
            bins=tuple(sorted(counts.items())),
            missing=self.missing + other.missing,
            min=min(lows) if lows else None,
            max=max(highs) if highs else None,
            bin_width=self.bin_width,
        )

    def quantile_bin(self, q: float) -> int | None:
        """Bin holding the nearest-rank ``q`` quantile (numpy's "lower"); None without values."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile level must be within [0, 1], got {q}")
        n = self.n
        if n == 0:
            return None
        rank = math.floor(q * (n - 1))
        seen = 0
        for k, c in self.bins:
            seen += c
            if seen > rank:
                return k
        return self.bins[-1][0]  # unreachable: rank < n

    def quantile(self, q: float) -> float | None:
        """Nearest-rank ``q`` quantile (bin midpoint clamped to [min, max]); None without values."""
        k = self.quantile_bin(q)
        if k is None:
            return None
        return min(max(self._midpoint(k), self.min), self.max)  # type: ignore[type-var]

    def above(self, x: pl.Expr, q: float) -> pl.Expr:
        """True where ``x`` lies in a higher bin than the ``q`` quantile (+inf always; NaN never).

        Comparing bins rather than values keeps the decision consistent with the summary: values
        sharing the quantile's bin are indistinguishable from it, so they count as at the quantile.
        """
        k = self.quantile_bin(q)
        if k is None:
            return pl.lit(False)
        return (_bin_index(x, self.bin_width) > k) | (x == math.inf)

    def _midpoint(self, k: int) -> float:
        """Representative value of bin ``k``."""
        if k == 0:
            return 0.0
        t = (abs(k) - 0.5) * self.bin_width
        return math.copysign(math.expm1(t), k)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON/TOML/pickle friendly) for shipping between workers."""
        return {
            "column": self.column,
            "bins": [list(b) for b in self.bins],
            "missing": self.missing,
            "min": self.min,
            "max": self.max,
            "bin_width": self.bin_width,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantileSummary:
        """Inverse of ``to_dict``."""
        return cls(
            column=data["column"],
            bins=tuple((int(k), int(c)) for k, c in data["bins"]),
            missing=int(data.get("missing", 0)),
            min=data.get("min"),
            max=data.get("max"),
            bin_width=float(data.get("bin_width", _BIN_WIDTH)),
        )


def _bin_index(x: pl.Expr, width: float) -> pl.Expr:
    """Histogram bin of each value (see ``QuantileSummary``); null for null and non-finite."""
    finite = pl.when(x.is_finite()).then(x)
    return (finite.sign() * ((finite.abs().log1p() / width).floor() + 1)).cast(pl.Int64)


def quantile_summary(
    frame: pl.DataFrame | pl.LazyFrame, column: str, bin_width: float = _BIN_WIDTH
) -> QuantileSummary:
    """Histogram summary of ``column`` in this frame (one shard); merge shards with ``merge``."""
    x = pl.col(column).cast(pl.Float64)
    lf = frame.lazy().select(x.alias("x"))
    finite = pl.col("x").filter(pl.col("x").is_finite())
    stats, counts = pl.collect_all(
        [
            lf.select(
                finite.min().alias("min"),
                finite.max().alias("max"),
                (pl.len() - pl.col("x").is_finite().sum()).alias("missing"),
            ),
            lf.filter(pl.col("x").is_finite())
            .group_by(_bin_index(pl.col("x"), bin_width).alias("k"))
            .len()
            .sort("k"),
        ]
    )
    row = stats.row(0, named=True)
    return QuantileSummary(
        column=column,
        bins=tuple(zip(counts["k"].to_list(), counts["len"].to_list(), strict=True)),
        missing=int(row["missing"] or 0),
        min=row["min"],
        max=row["max"],
        bin_width=bin_width,
    )


def merge_summaries(summaries: Iterable[QuantileSummary]) -> QuantileSummary:
    """Merge the summaries of several shards of the same column."""
    parts = list(summaries)
    if not parts:
        raise ValueError("nothing to merge")
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part)
    return out


# --------------------------------------------------------------------------- versioned parameters

_REGISTRY: dict[str, type[Versioned]] = {}


class Versioned(param.Parameterized):
    """Parameters that are saved as versioned TOML: name, version, who, when, why, thresholds."""

    kind: ClassVar[str] = ""

    version = param.Integer(
        default=1, bounds=(1, None), doc="Version of these thresholds; recorded with every result."
    )
    saved_by = param.String(default="", doc="Who saved this version.")
    saved_at = param.Date(default=None, allow_None=True, doc="When this version was saved (UTC).")
    reason = param.String(default="", doc="Why this version was saved (free text).")

    _META: ClassVar[tuple[str, ...]] = ("name", "version", "saved_by", "saved_at", "reason")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            _REGISTRY[cls.kind] = cls

    def thresholds(self) -> dict[str, Any]:
        """The tunable parameters (everything but name and version metadata)."""
        return {k: v for k, v in self.param.values().items() if k not in self._META}

    def release(self, saved_by: str, reason: str, at: dt.datetime | None = None) -> Versioned:
        """Bump the version and stamp who/when/why: call before saving changed thresholds."""
        self.param.update(
            version=self.version + 1,
            saved_by=saved_by,
            reason=reason,
            saved_at=at or dt.datetime.now(dt.UTC).replace(microsecond=0),
        )
        return self

    def to_toml(self) -> str:
        """Versioned TOML: kind, scheme name, version, saved_by, saved_at, reason, thresholds."""
        doc: dict[str, Any] = {
            "kind": self.kind,
            "scheme": self.name,
            "version": self.version,
            "saved_by": self.saved_by,
            "reason": self.reason,
        }
        if self.saved_at is not None:
            doc["saved_at"] = self.saved_at
        doc["thresholds"] = self.thresholds()
        return tomli_w.dumps(doc)

    @classmethod
    def from_toml(cls, text: str) -> Versioned:
        """Rebuild the object saved by ``to_toml`` (the class is chosen by ``kind``)."""
        doc = tomllib.loads(text)
        kind = doc.get("kind")
        target = _REGISTRY.get(kind) if kind else None
        if target is None:
            raise ValueError(f"unknown scheme kind {kind!r}; known: {sorted(_REGISTRY)}")
        if not issubclass(target, cls):
            raise ValueError(f"TOML holds a {kind!r}, not a {cls.__name__}")
        thresholds = dict(doc.get("thresholds", {}))
        allowed = set(target.param) - set(cls._META)
        unknown = sorted(set(thresholds) - allowed)
        if unknown:
            raise ValueError(f"unknown threshold(s) for {kind!r}: {unknown}")
        meta = {k: doc[k] for k in ("version", "saved_by", "saved_at", "reason") if k in doc}
        if "scheme" in doc:
            meta["name"] = doc["scheme"]
        return target(**meta, **thresholds)


# --------------------------------------------------------------------------- scheme base


class Scheme(Versioned):
    """A segmentation: exactly one of its ordered ``labels`` per player (``fallback`` last)."""

    labels: ClassVar[tuple[str, ...]] = ()
    fallback: ClassVar[str] = ""

    @property
    def dtype(self) -> pl.Enum:
        """Enum of the ordered labels: compact, sortable, and rejects typos in filters."""
        return pl.Enum(list(self.labels))

    def lit(self, label: str) -> pl.Expr:
        """A label literal of this scheme's Enum type."""
        if label not in self.labels:
            raise ValueError(f"{label!r} is not a label of {self.kind!r}: {self.labels}")
        return pl.lit(label, dtype=self.dtype)

    def inputs(self) -> tuple[str, ...]:
        """Metrics columns the scheme reads."""
        raise NotImplementedError

    def quantile_columns(self) -> tuple[str, ...]:
        """Columns whose population quantiles the scheme needs (as ``QuantileSummary``)."""
        return ()

    def label(self, summaries: Mapping[str, QuantileSummary] | None = None) -> pl.Expr:
        """The label expression (second pass: may read ``extra`` columns by name).

        Must end in ``otherwise(self.lit(self.fallback))`` so no player is left without a label.
        """
        raise NotImplementedError

    def extra(self) -> list[pl.Expr]:
        """First-pass per-player columns the scheme shows (flags, factors); none by default."""
        return []

    def derived(self) -> list[pl.Expr]:
        """Second-pass columns computed from ``extra`` columns (e.g. a score); none by default."""
        return []

    def version_column(self) -> pl.Expr:
        """``<name>_version``: the version of the thresholds that produced the labels."""
        return pl.lit(self.version, dtype=pl.Int32).alias(f"{self.name}_version")

    def label_column(self) -> str:
        """Name of the label column."""
        return self.name

    def passes(
        self, summaries: Mapping[str, QuantileSummary] | None = None
    ) -> tuple[list[pl.Expr], list[pl.Expr]]:
        """Expressions of the two ``with_columns`` passes: metrics -> extra, extra -> label."""
        second = [
            *self.derived(),
            self.label(summaries).alias(self.label_column()),
            self.version_column(),
        ]
        return self.extra(), second

    def output_columns(self) -> list[str]:
        """Names of the columns the scheme adds, in order."""
        first, second = self.passes(_PLACEHOLDER)
        return [e.meta.output_name() for e in (*first, *second)]

    def assign(self, frame: Frame, summaries: Mapping[str, QuantileSummary] | None = None) -> Frame:
        """player_id, as_of and this scheme's columns, for every row of ``frame``."""
        return segment_all(frame, [self], summaries)


# stands in for real summaries where only expression names are needed
_PLACEHOLDER: Mapping[str, QuantileSummary] = {}


def _num(column: str) -> pl.Expr:
    """A metrics column as Float64 (counts may arrive as unsigned ints)."""
    return pl.col(column).cast(pl.Float64)


def _above(summaries: Mapping[str, QuantileSummary] | None, column: str, q: float) -> pl.Expr:
    """True where ``column`` is above its population ``q`` quantile, from the merged summaries."""
    if summaries is _PLACEHOLDER:
        return pl.lit(False)
    if summaries is None or column not in summaries:
        raise ValueError(
            f"quantile mode needs a QuantileSummary of {column!r}: pass summaries= (segment_all "
            "computes them from the frame when it is the whole population)"
        )
    return summaries[column].above(_num(column), q)


# --------------------------------------------------------------------------- schemes


class WorthBands(Scheme):
    """Worth bands low / medium / high by theo or cash-in.

    ``fixed``: medium from ``medium_from``, high from ``high_from`` (inclusive, property currency).
    ``quantile``: medium above the ``medium_quantile`` of the population, high above the
    ``high_quantile`` (strictly above, so a mass of zero-value players never leaves "low"; "above"
    is decided on the summary's 1 % log bins, see ``QuantileSummary.above``).
    Players without the basis value are "low".
    """

    kind = "worth"
    labels = ("low", "medium", "high")
    fallback = "low"

    name = param.String(default="worth", constant=True, doc="Output column of the worth band.")
    basis = param.Selector(
        default="theo_total",
        objects=["theo_total", "cash_in_total"],
        doc="Metric the bands rank: lifetime theoretical win or lifetime cash-in.",
    )
    mode = param.Selector(
        default="quantile",
        objects=["quantile", "fixed"],
        doc="Cut at population quantiles (adapts to any property's scale) or at fixed amounts.",
    )
    medium_from = param.Number(
        default=500.0, bounds=(0, None), softbounds=(0, 50_000), step=50,
        doc="Fixed mode: basis amount from which a player is medium worth.",
    )
    high_from = param.Number(
        default=5_000.0, bounds=(0, None), softbounds=(0, 500_000), step=500,
        doc="Fixed mode: basis amount from which a player is high worth (wins over medium).",
    )
    medium_quantile = param.Number(
        default=0.5, bounds=(0, 1), step=0.01,
        doc="Quantile mode: players above this population quantile are at least medium.",
    )
    high_quantile = param.Number(
        default=0.9, bounds=(0, 1), step=0.01,
        doc="Quantile mode: players above this population quantile are high (top 10 % by default).",
    )

    def inputs(self) -> tuple[str, ...]:
        """Metrics columns the scheme reads."""
        return (self.basis,)

    def quantile_columns(self) -> tuple[str, ...]:
        """The basis column in quantile mode."""
        return (self.basis,) if self.mode == "quantile" else ()

    def label(self, summaries: Mapping[str, QuantileSummary] | None = None) -> pl.Expr:
        """low / medium / high."""
        x = _num(self.basis)
        if self.mode == "fixed":
            is_high, is_medium = x >= self.high_from, x >= self.medium_from
        else:
            is_high = _above(summaries, self.basis, self.high_quantile)
            is_medium = _above(summaries, self.basis, self.medium_quantile)
        return (
            pl.when(is_high).then(self.lit("high"))
            .when(is_medium).then(self.lit("medium"))
            .otherwise(self.lit("low"))
        )


class EngagementBands(Scheme):
    """Engagement bands active / cooling / dormant.

    dormant: no activity for more than ``dormant_after_days`` (or none on record); cooling: no
    activity for more than ``cooling_after_days``, or visits in the last 30 days fell by at least
    ``visit_drop`` vs the prior 30 (when the prior 30 had at least ``min_prior_visits``); else
    active.
    """

    kind = "engagement"
    labels = ("active", "cooling", "dormant")
    fallback = "dormant"

    name = param.String(default="engagement", constant=True, doc="Output column of the band.")
    cooling_after_days = param.Integer(
        default=30, bounds=(1, 730), step=1,
        doc="Days without any activity after which a player is cooling (seed 001: 30-day 'new').",
    )
    dormant_after_days = param.Integer(
        default=90, bounds=(1, 1095), step=1,
        doc="Days without any activity after which a player is dormant (seed 001: active < 90).",
    )
    visit_drop = param.Number(
        default=0.5, bounds=(0, 1), step=0.05,
        doc="Fractional drop of visits_30d vs visits_prior_30d that marks a recent player cooling.",
    )
    min_prior_visits = param.Integer(
        default=2, bounds=(1, 100), step=1,
        doc="Prior-30-day visits needed before a drop counts (1 -> 0 is noise, not a trend).",
    )

    def inputs(self) -> tuple[str, ...]:
        """Metrics columns the scheme reads."""
        return ("recency_days", "visits_30d", "visits_prior_30d")

    def label(self, summaries: Mapping[str, QuantileSummary] | None = None) -> pl.Expr:
        """active / cooling / dormant."""
        recency = _num("recency_days")
        prior = _num("visits_prior_30d")
        dropped = (prior >= self.min_prior_visits) & (
            _num("visits_30d").fill_null(0) <= prior * (1 - self.visit_drop)
        )
        return (
            pl.when(recency > self.dormant_after_days).then(self.lit("dormant"))
            .when(recency > self.cooling_after_days).then(self.lit("cooling"))
            .when(recency.is_not_null() & dropped).then(self.lit("cooling"))
            .when(recency.is_not_null()).then(self.lit("active"))
            .otherwise(self.lit("dormant"))
        )


def days_since_first() -> pl.Expr:
    """Days from first activity to as_of, falling back to tenure_days when first_seen is unknown."""
    first = (pl.col("as_of").cast(pl.Date) - pl.col("first_seen").cast(pl.Date)).dt.total_days()
    return pl.coalesce(first.cast(pl.Float64), _num("tenure_days")).alias("days_since_first")


class LifecycleStage(Scheme):
    """Lifecycle stage new / active / at_risk / churned (seed 001 defaults).

    new: first activity less than ``new_days`` ago (or no dates known at all); active: last
    activity less than ``active_days`` ago; at_risk: up to ``churned_after_days``; churned: longer,
    or enrolled long ago with no activity on record.
    """

    kind = "lifecycle"
    labels = ("new", "active", "at_risk", "churned")
    fallback = "churned"

    name = param.String(default="lifecycle", constant=True, doc="Output column of the stage.")
    new_days = param.Integer(
        default=30, bounds=(0, 365), step=1,
        doc="A player whose first activity is fewer days ago than this is new (seed 001: 30).",
    )
    active_days = param.Integer(
        default=90, bounds=(1, 730), step=1,
        doc="Last activity fewer days ago than this: active (seed 001: 90).",
    )
    churned_after_days = param.Integer(
        default=180, bounds=(1, 1095), step=1,
        doc="Last activity more days ago than this: churned; in between: at risk (seed 001: 180).",
    )

    def inputs(self) -> tuple[str, ...]:
        """Metrics columns the scheme reads."""
        return ("as_of", "first_seen", "tenure_days", "recency_days")

    def label(self, summaries: Mapping[str, QuantileSummary] | None = None) -> pl.Expr:
        """new / active / at_risk / churned."""
        since_first = days_since_first()
        recency = _num("recency_days")
        return (
            pl.when(since_first.is_null() | (since_first < self.new_days)).then(self.lit("new"))
            .when(recency < self.active_days).then(self.lit("active"))
            .when(recency <= self.churned_after_days).then(self.lit("at_risk"))
            .otherwise(self.lit("churned"))
        )


class SpendingTiers(Scheme):
    """Spending tiers vip / high / medium / low (seed 001: > 1000, 500-1000, 100-500, < 100).

    Seed 001's thresholds are a booking business's dollars: tune them to the property's scale. The
    basis defaults to lifetime cash-in, the casino's closest analogue of "total spent".
    """

    kind = "spending"
    labels = ("vip", "high", "medium", "low")
    fallback = "low"

    name = param.String(default="spending", constant=True, doc="Output column of the tier.")
    basis = param.Selector(
        default="cash_in_total",
        objects=["cash_in_total", "theo_total", "lifetime_value", "order_total"],
        doc="Metric that stands for 'total spent'.",
    )
    vip_above = param.Number(
        default=1_000.0, bounds=(0, None), softbounds=(0, 1_000_000), step=100,
        doc="Spend strictly above this is VIP (seed 001: > $1000).",
    )
    high_from = param.Number(
        default=500.0, bounds=(0, None), softbounds=(0, 500_000), step=50,
        doc="Spend from this up to the VIP line is high (seed 001: $500-$1000).",
    )
    medium_from = param.Number(
        default=100.0, bounds=(0, None), softbounds=(0, 100_000), step=10,
        doc="Spend from this up to the high line is medium; below it low (seed 001: $100-$500).",
    )

    def inputs(self) -> tuple[str, ...]:
        """Metrics columns the scheme reads."""
        return (self.basis,)

    def label(self, summaries: Mapping[str, QuantileSummary] | None = None) -> pl.Expr:
        """vip / high / medium / low."""
        x = _num(self.basis)
        return (
            pl.when(x > self.vip_above).then(self.lit("vip"))
            .when(x >= self.high_from).then(self.lit("high"))
            .when(x >= self.medium_from).then(self.lit("medium"))
            .otherwise(self.lit("low"))
        )


class FrequencyTiers(Scheme):
    """Frequency tiers frequent / regular / occasional / one_time (seed 001: > 10, 5-10, 2-4, 1).

    Players with no visit at all (e.g. only orders) fall back to one_time: seed 001 has no tier
    below it.
    """

    kind = "frequency"
    labels = ("frequent", "regular", "occasional", "one_time")
    fallback = "one_time"

    name = param.String(default="frequency", constant=True, doc="Output column of the tier.")
    basis = param.Selector(
        default="visits_total",
        objects=["visits_total", "sessions_total"],
        doc="Count that stands for 'bookings': visits or rated sessions (rating slips).",
    )
    frequent_above = param.Integer(
        default=10, bounds=(1, 10_000), softbounds=(1, 200), step=1,
        doc="More than this many is frequent (seed 001: > 10).",
    )
    regular_from = param.Integer(
        default=5, bounds=(1, 10_000), softbounds=(1, 100), step=1,
        doc="From this many up to the frequent line is regular (seed 001: 5-10).",
    )
    occasional_from = param.Integer(
        default=2, bounds=(1, 10_000), softbounds=(1, 50), step=1,
        doc="From this many up to the regular line is occasional; fewer: one-time (seed 001: 2-4).",
    )

    def inputs(self) -> tuple[str, ...]:
        """Metrics columns the scheme reads."""
        return (self.basis,)

    def label(self, summaries: Mapping[str, QuantileSummary] | None = None) -> pl.Expr:
        """frequent / regular / occasional / one_time."""
        x = _num(self.basis)
        return (
            pl.when(x > self.frequent_above).then(self.lit("frequent"))
            .when(x >= self.regular_from).then(self.lit("regular"))
            .when(x >= self.occasional_from).then(self.lit("occasional"))
            .otherwise(self.lit("one_time"))
        )


class AttentionFlags(Scheme):
    """Risk and attention flags, and one ``attention`` label: the most serious flag raised.

    Priority exclusion > dispute > heavy_cash > volatile > none. Each flag is also its own boolean
    column ``<name>_<flag>`` (never null: missing data raises no flag).
    """

    kind = "attention"
    labels = ("exclusion", "dispute", "heavy_cash", "volatile", "none")
    fallback = "none"
    flags: ClassVar[tuple[str, ...]] = ("exclusion", "dispute", "heavy_cash", "volatile")

    name = param.String(default="attention", constant=True, doc="Output column of the label.")
    volatility_above = param.Number(
        default=1.0, bounds=(0, None), softbounds=(0, 5), step=0.05,
        doc="buy_in_volatility (CV of monthly buy-ins) above this flags volatile: spread > mean.",
    )
    heavy_cash_30d = param.Number(
        default=10_000.0, bounds=(0, None), softbounds=(0, 200_000), step=500,
        doc="Cash-in over the last 30 days from which a player is heavy cash (US CTR line: $10k).",
    )
    ctr_min = param.Integer(
        default=1, bounds=(1, 100), softbounds=(1, 20), step=1,
        doc="CTR filings in the last 90 days from which a player is heavy cash.",
    )
    dispute_min = param.Integer(
        default=1, bounds=(1, 100), softbounds=(1, 20), step=1,
        doc="Disputes on record from which a player is flagged.",
    )

    def inputs(self) -> tuple[str, ...]:
        """Metrics columns the scheme reads."""
        return ("exclusion_active", "disputes_total", "cash_in_30d", "ctr_count_90d",
                "buy_in_volatility")

    def flag(self, which: str) -> pl.Expr:
        """``<name>_<which>``: boolean flag (null inputs raise nothing)."""
        conditions = {
            "exclusion": pl.col("exclusion_active").cast(pl.Boolean),
            "dispute": _num("disputes_total") >= self.dispute_min,
            "heavy_cash": (_num("cash_in_30d") >= self.heavy_cash_30d)
            | (_num("ctr_count_90d") >= self.ctr_min),
            "volatile": _num("buy_in_volatility") > self.volatility_above,
        }
        return conditions[which].fill_null(False).alias(f"{self.name}_{which}")

    def extra(self) -> list[pl.Expr]:
        """One boolean column per flag."""
        return [self.flag(f) for f in self.flags]

    def label(self, summaries: Mapping[str, QuantileSummary] | None = None) -> pl.Expr:
        """The highest-priority flag raised, or none."""
        expr: Any = pl
        for f in self.flags:
            expr = expr.when(pl.col(f"{self.name}_{f}")).then(self.lit(f))
        return expr.otherwise(self.lit("none"))


def net_pnl() -> pl.Expr:
    """The player's net result: minus the casino's actual win."""
    return (-_num("win_loss_total")).fill_null(0.0).alias("net_pnl")


def win_loss_ratio() -> pl.Expr:
    """Cash taken out per unit brought in (cash_out_total / cash_in_total; null without cash-in)."""
    cash_in = _num("cash_in_total")
    return pl.when(cash_in > 0).then(_num("cash_out_total") / cash_in).alias("win_loss_ratio")


def total_wagered(basis: str, house_edge: float) -> pl.Expr:
    """Wager proxy: lifetime cash-in, or theo / house edge (theo = wagered x edge)."""
    wagered = _num("cash_in_total") if basis == "cash_in_total" else _num("theo_total") / house_edge
    return wagered.fill_null(0.0).alias("total_wagered")


class LoyaltySegments(Scheme):
    """Seed 003's loyalty segments NEW / VIP / WINNING / BREAKEVEN / LOSING, first match wins.

    Seed 003 logic, with our mapping of its inputs:

    * total_wagered: lifetime cash-in (default; buy-ins and markers are what the player put in) or
      ``theo_total / house_edge`` (theo is wagered x edge, so this inverts it);
    * sessions: sessions_total (rating slips);
    * net_pnl: the player's side, ``-win_loss_total`` (win_loss_total is the casino's win);
    * win_loss_ratio: cash_out_total / cash_in_total (what came back per unit brought in).

    NEW if wagered < ``new_below``; VIP if wagered > ``vip_wager_above`` and sessions >
    ``vip_sessions_above``; WINNING if net_pnl > 0 and ratio > ``winning_ratio_above``; BREAKEVEN
    if |net_pnl| < wagered x ``breakeven_fraction``; else LOSING.
    """

    kind = "loyalty"
    labels = ("NEW", "VIP", "WINNING", "BREAKEVEN", "LOSING")
    fallback = "LOSING"

    name = param.String(default="loyalty", constant=True, doc="Output column of the segment.")
    wager_basis = param.Selector(
        default="cash_in_total",
        objects=["cash_in_total", "theo_over_edge"],
        doc="Proxy of seed 003's total_wagered: lifetime cash-in, or theo_total / house_edge.",
    )
    house_edge = param.Number(
        default=0.02, bounds=(0.001, 0.5), step=0.001,
        doc="Blended house edge used by the theo_over_edge wager proxy.",
    )
    new_below = param.Number(
        default=1_000.0, bounds=(0, None), softbounds=(0, 100_000), step=100,
        doc="Wagered below this is NEW (seed 003: 1000).",
    )
    vip_wager_above = param.Number(
        default=100_000.0, bounds=(0, None), softbounds=(0, 10_000_000), step=1_000,
        doc="Wagered above this (and enough sessions) is VIP (seed 003: 100000).",
    )
    vip_sessions_above = param.Integer(
        default=100, bounds=(0, None), softbounds=(0, 2_000), step=1,
        doc="Sessions above this (and enough wagered) is VIP (seed 003: 100).",
    )
    winning_ratio_above = param.Number(
        default=1.1, bounds=(0, None), softbounds=(0, 5), step=0.01,
        doc="Cash-out / cash-in above this with a positive net is WINNING (seed 003: 1.1).",
    )
    breakeven_fraction = param.Number(
        default=0.05, bounds=(0, 1), step=0.01,
        doc="|net| below this fraction of wagered is BREAKEVEN (seed 003: 0.05).",
    )

    def inputs(self) -> tuple[str, ...]:
        """Metrics columns the scheme reads."""
        return ("cash_in_total", "theo_total", "sessions_total", "win_loss_total", "cash_out_total")

    def label(self, summaries: Mapping[str, QuantileSummary] | None = None) -> pl.Expr:
        """NEW / VIP / WINNING / BREAKEVEN / LOSING."""
        wagered = total_wagered(self.wager_basis, self.house_edge)
        pnl = net_pnl()
        return (
            pl.when(wagered < self.new_below).then(self.lit("NEW"))
            .when((wagered > self.vip_wager_above)
                  & (_num("sessions_total") > self.vip_sessions_above)).then(self.lit("VIP"))
            .when((pnl > 0) & (win_loss_ratio() > self.winning_ratio_above))
            .then(self.lit("WINNING"))
            .when(pnl.abs() < wagered * self.breakeven_fraction).then(self.lit("BREAKEVEN"))
            .otherwise(self.lit("LOSING"))
        )


# --------------------------------------------------------------------------- registry and runner

SCHEMES: dict[str, type[Scheme]] = {
    cls.kind: cls
    for cls in (WorthBands, EngagementBands, LifecycleStage, SpendingTiers, FrequencyTiers,
                AttentionFlags, LoyaltySegments)
}


def default_schemes() -> list[Scheme]:
    """One instance of every registered scheme with its default thresholds."""
    return [cls() for cls in SCHEMES.values()]


def segment_all(
    frame: Frame,
    schemes: Sequence[Scheme] | None = None,
    summaries: Mapping[str, QuantileSummary] | None = None,
) -> Frame:
    """player_id, as_of and, per scheme, its extra columns, label and ``<name>_version``.

    Two ``with_columns`` over all schemes at once: the first computes the per-player flags and
    factors from the metrics, the second the labels (which read those columns by name instead of
    recomputing them). ``summaries`` feed the quantile-mode schemes: pass them merged across
    shards when ``frame`` is one shard; when missing they are computed from ``frame`` itself (right
    only if ``frame`` is the whole population).
    """
    schemes = default_schemes() if schemes is None else list(schemes)
    names = [s.name for s in schemes]
    if len(set(names)) != len(names):
        raise ValueError(f"scheme names must be unique, got {names}")
    wanted = {c for s in schemes for c in s.quantile_columns()}
    have = dict(summaries or {})
    for column in sorted(wanted - set(have)):
        have[column] = quantile_summary(frame, column)
    passes = [s.passes(have) for s in schemes]
    first = [e for p in passes for e in p[0]]
    second = [e for p in passes for e in p[1]]
    outputs = [e.meta.output_name() for e in (*first, *second)]
    # lazy even for a DataFrame: the eager path skips common-subexpression elimination
    lf = frame.lazy()
    if first:
        lf = lf.with_columns(first)
    out = lf.with_columns(second).select(*KEYS, *outputs)
    return out.collect() if isinstance(frame, pl.DataFrame) else out
