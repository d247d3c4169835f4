"""Customer lifetime value per player: the pure stage ``player_clv(events, as_of)``.

Events (``events_current``, docs/data-model.md) -> one transaction per *trip* -> RFM summary
(:func:`metrics.rfm.summary`) -> BG/NBD and Gamma-Gamma (:mod:`metrics.clv`) -> per-player
``p_alive``, expected trips and expected value over a horizon.

Purchase periods (trips)
    A trip is a player's gaming day (``GAMING_DAY_START_HOURS`` = 06:00 to 06:00, as the metrics
    catalog's trip days) with at least one ``visit``, ``rating_slip``, ``buy_in``, ``marker`` (a
    buy-in on credit) or ``order`` event at or before ``as_of``. Several events of one gaming day are
    one trip. Cash-outs, loyalty, notes etc. do not make a trip (a cash-out follows a buy-in of the
    same trip). Trips are dated by their gaming day, and ``observation_end`` is the gaming day of
    ``as_of``, so a player seen on the last gaming day has ``recency == T``. ``freq`` ("W", "D",
    "h") only sets the unit of recency, T and the horizon; a trip is a gaming day whatever it is.

Monetary value of a trip
    ``theo`` of the trip's rating slips plus the value of its orders less refunds, floored at 0.
    For casino players this is the theo per trip (the casino's expected win, the house's measure of
    a player's worth, steadier than actual win/loss), for order-only players the order value per
    trip, and mixed players get both, which is how ``lifetime_value`` in docs/metrics-contract.md
    adds them up. Values are rounded to whole cents. A trip without play or orders
    (a visit only) is worth 0: it counts for the purchase process (BG/NBD) but Gamma-Gamma, which
    assumes positive spend, is fitted on repeaters with a positive mean repeat value only; players
    whose repeat trips are all worth 0 are scored with the population-weighted spend. Refunds on a
    gaming day without a trip are not counted (they do not make a trip).

Fitting and scoring are separate
    The model parameters are population statistics; everything else is per player. So
    :func:`fit_clv_models` runs once (on the whole summary, BG/NBD on a uniform random sample of
    ``sample`` customers drawn with ``seed`` when there are more), and :func:`score_clv` applies the
    parameters row by row: scoring shards of the summary with the same parameters gives exactly the
    rows of scoring the whole. :func:`player_clv` is trips -> summary -> fit -> score in one call.

Degenerate data: null columns, never an exception (by default)
    With fewer than ``min_customers`` customers or ``min_repeaters`` repeat customers the BG/NBD is
    not fitted and ``p_alive``, ``expected_trips_*`` and ``expected_value`` are null; with fewer
    than ``min_spenders`` repeaters of positive value (or a Gamma-Gamma fit whose population mean
    spend is infinite, q <= 1) only ``expected_value_per_trip`` and ``expected_value`` are null.
    The reason is kept in :attr:`CLVParams.issues` and in the ``clv_issues`` column, so a build
    never crashes on a small or young property. ``strict=True`` raises ``ValueError`` with the same
    message instead. Events without any trip give an empty frame with the full schema. Bad
    arguments (unknown ``freq``, negative ``horizon``) always raise ``ValueError``.

Output (one row per player with at least one trip, sorted by player_id)
    player_id, as_of, frequency (repeat trips), recency, T (in ``freq`` periods), monetary_value
    (mean value of the repeat trips), p_alive, ``expected_trips_<horizon><unit>`` (e.g.
    ``expected_trips_52w``), expected_value_per_trip (Gamma-Gamma conditional spend),
    expected_value (CLV over the horizon: trips x value per trip, undiscounted unless
    ``discount_rate``), and the fit as constant columns (:data:`PARAM_COLUMNS`: ``bgnbd_r``,
    ``bgnbd_alpha``, ``bgnbd_a``, ``bgnbd_b``, ``bgnbd_n``, ``gg_p``, ``gg_q``, ``gg_v``, ``gg_n``,
    ``clv_customers``, ``clv_repeaters``, ``clv_spenders``, ``clv_freq``, ``clv_issues``), so a
    snapshot table keeps the parameters next to the scores: :meth:`CLVParams.from_frame` reads them
    back, :meth:`CLVParams.to_frame` shows them as one row. Values are rounded to whole cents per
    event and summed as integers, so a rerun on the same events gives bit-identical output (a
    float sum in Polars' parallel group-by order would not, and the fits would drift ~1e-8).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from metrics import clv as C
from metrics import rfm
from metrics.catalog import GAMING_DAY_START_HOURS
from pipelines.derived.metrics import as_of_datetime

__all__ = [
    "EVENT_COLUMNS",
    "MIN_CUSTOMERS",
    "MIN_REPEATERS",
    "MIN_SPENDERS",
    "PARAM_COLUMNS",
    "TRIP_EVENTS",
    "CLVParams",
    "STATE_COLUMNS",
    "clv_from_state",
    "clv_state",
    "clv_summary",
    "expected_trips_column",
    "fit_clv_models",
    "player_clv",
    "score_clv",
    "summary_from_state",
    "trips",
]

EVENT_COLUMNS = ("player_id", "ts", "event_type", "theo", "amount")  # what the stage reads
TRIP_EVENTS = ("visit", "rating_slip", "buy_in", "marker", "order")  # what makes a gaming day a trip
_VALUE_EVENTS = ("rating_slip", "order", "refund")  # what adds value to a trip
MIN_CUSTOMERS = 30  # customers (players with a trip) below which BG/NBD is not fitted
MIN_REPEATERS = 10  # customers with a repeat trip below which BG/NBD is not fitted
MIN_SPENDERS = 10  # repeaters with positive mean repeat value below which Gamma-Gamma is not fitted

_UNITS = {"W": ("w", 52.0), "D": ("d", 365.0), "h": ("h", 8760.0), "H": ("h", 8760.0)}
_GAMING_DAY = timedelta(hours=GAMING_DAY_START_HOURS)

PARAM_COLUMNS: dict[str, pl.DataType] = {
    "bgnbd_r": pl.Float64, "bgnbd_alpha": pl.Float64, "bgnbd_a": pl.Float64, "bgnbd_b": pl.Float64,
    "bgnbd_n": pl.Int64, "gg_p": pl.Float64, "gg_q": pl.Float64, "gg_v": pl.Float64, "gg_n": pl.Int64,
    "clv_customers": pl.Int64, "clv_repeaters": pl.Int64, "clv_spenders": pl.Int64, "clv_freq": pl.String,
    "clv_issues": pl.String,
}
_ISSUE_SEPARATOR = " | "


def expected_trips_column(horizon: float, freq: str = "W") -> str:
    """Name of the expected-trips column, e.g. ``expected_trips_52w``."""
    if freq not in _UNITS:
        raise ValueError(f"freq must be one of {sorted(set(_UNITS) - {'H'})}, got {freq!r}")
    h = f"{horizon:g}".replace(".", "_")
    return f"expected_trips_{h}{_UNITS[freq][0]}"


# ---------------------------------------------------------------------------------- trips, summary


def _trip_cents(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """One row per player and trip (gaming day) up to ``as_of``: player_id, trip_day (Date), cents (Int64)."""
    schema = events.collect_schema()
    missing = [c for c in ("player_id", "ts", "event_type") if c not in schema]
    if missing:
        raise ValueError(f"events lack required columns: {', '.join(missing)}")
    theo = pl.col("theo").cast(pl.Float64) if "theo" in schema else pl.lit(None, dtype=pl.Float64)
    amount = pl.col("amount").cast(pl.Float64) if "amount" in schema else pl.lit(None, dtype=pl.Float64)
    kind = pl.col("event_type")
    value = (
        pl.when(kind == "rating_slip").then(theo)
        .when(kind.is_in(["order", "refund"])).then(amount)
        .otherwise(None)
    )
    # whole cents: integer sums come out the same in any order, so reruns give identical fits
    cents = (value * 100).round().cast(pl.Int64)
    rows = (
        events.select(
            pl.col("player_id").cast(pl.String),
            pl.col("ts").cast(pl.Datetime("us")),
            kind.cast(pl.String),
            cents.alias("cents"),
        )
        .filter(pl.col("ts") <= as_of, pl.col("event_type").is_in([*TRIP_EVENTS, *_VALUE_EVENTS]))
        .with_columns((pl.col("ts") - _GAMING_DAY).dt.date().alias("trip_day"))
    )
    return (
        rows.group_by("player_id", "trip_day")
        .agg(
            pl.col("event_type").is_in(list(TRIP_EVENTS)).any().alias("_trip"),
            pl.col("cents").sum().clip(lower_bound=0),
        )
        .filter(pl.col("_trip"))
        .select("player_id", "trip_day", "cents")
    )


def trips(events: pl.LazyFrame, as_of: datetime | date) -> pl.LazyFrame:
    """One row per player and trip (gaming day) up to ``as_of``: player_id, trip_day (Date), value."""
    return _trip_cents(events, as_of_datetime(as_of)).select(
        "player_id", "trip_day", (pl.col("cents") / 100).alias("value"))


def clv_state(events: pl.LazyFrame, as_of: datetime | date) -> pl.DataFrame:
    """Per player with a trip up to ``as_of``: first_trip, last_trip (gaming days), trips and
    repeat_value_cents (value of every trip but the first), sorted by player_id.

    What the RFM summary needs before the observation end: a player without new events keeps their
    state from one as_of to the next, so an incremental build recomputes it for changed players only.
    """
    state = rfm.customer_state(_trip_cents(events, as_of_datetime(as_of)), "player_id", "trip_day", "cents")
    return state.select(
        "player_id",
        pl.col("first_period").alias("first_trip"),
        pl.col("last_period").alias("last_trip"),
        pl.col("periods").alias("trips"),
        pl.col("repeat_amount").round().cast(pl.Int64).alias("repeat_value_cents"),
    ).sort("player_id").collect()


def summary_from_state(state: pl.DataFrame, as_of: datetime | date, *, freq: str = "W") -> pl.DataFrame:
    """The RFM summary (player_id, frequency, recency, T, monetary_value) of :func:`clv_state` rows."""
    expected_trips_column(1, freq)  # validates freq
    end = (as_of_datetime(as_of) - _GAMING_DAY).date()  # the gaming day as_of falls in
    periods = state.lazy().select(
        "player_id",
        pl.col("first_trip").alias("first_period"),
        pl.col("last_trip").alias("last_period"),
        pl.col("trips").alias("periods"),
        pl.col("repeat_value_cents").cast(pl.Float64).alias("repeat_amount"),
    )
    summary = rfm.from_state(periods, pl.lit(end, dtype=pl.Date), freq, "player_id")
    # summed in whole cents (exact in float64 whatever the order), back to currency after the mean
    return summary.with_columns(pl.col("monetary_value") / 100).collect()


def clv_summary(events: pl.LazyFrame, as_of: datetime | date, *, freq: str = "W") -> pl.DataFrame:
    """RFM summary of the players' trips: player_id, frequency, recency, T, monetary_value."""
    expected_trips_column(1, freq)  # validates freq
    return summary_from_state(clv_state(events, as_of), as_of, freq=freq)


# ---------------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class CLVParams:
    """The population fit: BG/NBD and Gamma-Gamma parameters (None when not fitted) and why not."""

    freq: str
    bgnbd: C.BGNBDParams | None
    gamma_gamma: C.GammaGammaParams | None
    customers: int = 0  # rows of the summary the fit saw
    repeaters: int = 0  # of them with a repeat trip
    spenders: int = 0  # of them with a repeat trip of positive mean value (the Gamma-Gamma data)
    issues: tuple[str, ...] = field(default_factory=tuple)

    def columns(self) -> dict[str, float | int | str | None]:
        """The fit as the constant columns of the scored frame (:data:`PARAM_COLUMNS`)."""
        bg, gg = self.bgnbd, self.gamma_gamma
        return {
            "bgnbd_r": bg and bg.r, "bgnbd_alpha": bg and bg.alpha, "bgnbd_a": bg and bg.a,
            "bgnbd_b": bg and bg.b, "bgnbd_n": bg and bg.n,
            "gg_p": gg and gg.p, "gg_q": gg and gg.q, "gg_v": gg and gg.v, "gg_n": gg and gg.n,
            "clv_customers": self.customers, "clv_repeaters": self.repeaters, "clv_spenders": self.spenders,
            "clv_freq": self.freq, "clv_issues": _ISSUE_SEPARATOR.join(self.issues) or None,
        }

    def to_frame(self) -> pl.DataFrame:
        """One row: the parameters, sample sizes and issues, for display."""
        return pl.DataFrame([self.columns()], schema=PARAM_COLUMNS)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> CLVParams:
        """The parameters kept in a scored frame's constant columns (its first row). The
        log-likelihoods are not kept there and come back as NaN."""
        if frame.height == 0:
            raise ValueError("an empty frame holds no CLV parameters")
        row = frame.select(list(PARAM_COLUMNS)).row(0, named=True)
        bg = None if row["bgnbd_r"] is None else C.BGNBDParams(
            r=row["bgnbd_r"], alpha=row["bgnbd_alpha"], a=row["bgnbd_a"], b=row["bgnbd_b"], n=row["bgnbd_n"])
        gg = None if row["gg_p"] is None else C.GammaGammaParams(
            p=row["gg_p"], q=row["gg_q"], v=row["gg_v"], n=row["gg_n"])
        issues = tuple(row["clv_issues"].split(_ISSUE_SEPARATOR)) if row["clv_issues"] else ()
        return cls(row["clv_freq"], bg, gg, customers=row["clv_customers"], repeaters=row["clv_repeaters"],
                   spenders=row["clv_spenders"], issues=issues)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _fit_quietly(fn, *args, **kwargs):
    """(params or None, note): a fit whose numeric warnings and errors are kept, not raised.

    L-BFGS-B may probe extreme points on its way; a RuntimeWarning there means nothing when the
    fit ends up finite, so warnings are recorded in this scope (never shown or turned into errors)
    and the result is judged by its values; the first warning or the error explains a failure.
    """
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            result = fn(*args, **kwargs)
        except (ValueError, ArithmeticError) as error:
            return None, f"{type(error).__name__}: {error}"
    return result, (str(caught[0].message) if caught else "")


def _show(params: C.BGNBDParams | C.GammaGammaParams) -> str:
    names = ("r", "alpha", "a", "b") if isinstance(params, C.BGNBDParams) else ("p", "q", "v")
    return ", ".join(f"{n}={getattr(params, n):.4g}" for n in names)


_PROBE_ROWS = 2_000
_PROBE_HORIZONS = (1.0, 52.0, 520.0)


def _scores_finite(params: C.BGNBDParams, summary: pl.DataFrame) -> bool:
    """Whether p_alive and expected purchases come out finite on (a slice of) the fitted histories.

    Extreme fits (a, b or r, alpha in the millions) are legitimate maxima of the likelihood, but
    the hypergeometric function of the conditional expectation overflows there.
    """
    probe = summary.select("frequency", "recency", "T")
    if probe.height > _PROBE_ROWS:  # the extremes and an even spread in between
        probe = pl.concat([
            probe.gather_every(probe.height // _PROBE_ROWS),
            probe.sort("frequency").tail(1), probe.sort("T").tail(1),
        ])
    with np.errstate(all="ignore"):
        values = [C.p_alive(params, probe)] + [C.expected_purchases(params, probe, t) for t in _PROBE_HORIZONS]
    return all(np.isfinite(v).all() for v in values)


def fit_clv_models(
    summary: pl.DataFrame,
    *,
    freq: str = "W",
    sample: int | None = 200_000,
    seed: int = 0,
    min_customers: int = MIN_CUSTOMERS,
    min_repeaters: int = MIN_REPEATERS,
    min_spenders: int = MIN_SPENDERS,
    strict: bool = False,
) -> CLVParams:
    """Fit BG/NBD (on a ``sample``-customer random sample when larger, ``seed``) and Gamma-Gamma.

    ``summary``: frequency, recency, T, monetary_value (e.g. :func:`clv_summary`; row order matters
    for which customers the sample draws, so pass it sorted, as clv_summary returns it). A model
    the data cannot support is left out (None) with the reason in ``issues``; ``strict`` raises
    ``ValueError`` with that reason instead.
    """
    expected_trips_column(1, freq)
    x = summary.get_column("frequency").cast(pl.Float64).to_numpy()
    m = summary.get_column("monetary_value").cast(pl.Float64).fill_null(0.0).to_numpy()
    n, repeaters = len(x), int((x > 0).sum())
    spenders = int(((x > 0) & (m > 0)).sum())
    issues: list[str] = []
    bg = gg = None

    if n < min_customers or repeaters < min_repeaters:
        issues.append(
            f"BG/NBD not fitted: needs at least {min_customers} customers and {min_repeaters} with a "
            f"repeat trip, got {n} and {repeaters}"
        )
    else:
        fitted, note = _fit_quietly(C.fit_bgnbd, summary, sample=sample, seed=seed)
        if fitted is None or not _finite(fitted.r, fitted.alpha, fitted.a, fitted.b, fitted.log_likelihood):
            issues.append("BG/NBD fit failed: " + "; ".join(filter(None, [fitted and _show(fitted), note])))
        elif not _scores_finite(fitted, summary):
            issues.append(
                f"BG/NBD fit degenerate, its expected trips are not computable: {_show(fitted)} "
                "(the likelihood peaks at extreme parameters, as when customers hardly differ in visit rate or dropout)"
            )
        else:
            bg = fitted

    if spenders < min_spenders:
        issues.append(
            f"Gamma-Gamma not fitted: needs at least {min_spenders} repeat customers with positive "
            f"value, got {spenders}"
        )
    else:
        fitted, note = _fit_quietly(C.fit_gamma_gamma, summary)
        if fitted is None or not _finite(fitted.p, fitted.q, fitted.v, fitted.log_likelihood):
            issues.append("Gamma-Gamma fit failed: " + "; ".join(filter(None, [fitted and _show(fitted), note])))
        elif fitted.q <= 1.0:
            issues.append(f"Gamma-Gamma fit unusable: q = {fitted.q:.4g} <= 1 makes the mean spend infinite")
        else:
            gg = fitted

    if strict and issues:
        raise ValueError(_ISSUE_SEPARATOR.join(issues))
    return CLVParams(freq, bg, gg, customers=n, repeaters=repeaters, spenders=spenders, issues=tuple(issues))


# ---------------------------------------------------------------------------------- score


def score_clv(
    summary: pl.DataFrame,
    params: CLVParams,
    *,
    horizon: float = 52,
    discount_rate: float = 0.0,
) -> pl.DataFrame:
    """The summary with p_alive, expected trips, value per trip and expected value over ``horizon``
    periods (of ``params.freq``), plus the fit's constant columns. Row by row: shards score alike."""
    if horizon < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    trips_col = expected_trips_column(horizon, params.freq)
    n = summary.height
    null = np.full(n, np.nan)
    p_alive = expected = per_trip = value = null
    with np.errstate(all="ignore"):  # extreme histories: values are checked below, not warned about
        if params.bgnbd is not None and n:
            p_alive = C.p_alive(params.bgnbd, summary)
            expected = C.expected_purchases(params.bgnbd, summary, horizon)
        if params.gamma_gamma is not None and n:
            per_trip = C.conditional_expected_spend(params.gamma_gamma, summary)
        if params.bgnbd is not None and params.gamma_gamma is not None and n:
            if discount_rate:
                value = C.clv(params.bgnbd, params.gamma_gamma, summary, horizon, discount_rate=discount_rate,
                              freq_per_year=_UNITS[params.freq][1])
            else:  # the same product clv() computes, without recomputing both factors
                value = per_trip * expected
    scores = pl.DataFrame(
        {"p_alive": p_alive, trips_col: expected, "expected_value_per_trip": per_trip, "expected_value": value},
        schema={c: pl.Float64 for c in ("p_alive", trips_col, "expected_value_per_trip", "expected_value")},
    ).with_columns(pl.all().fill_nan(None))
    if params.bgnbd is not None:
        scores = scores.with_columns(pl.col("p_alive").clip(0.0, 1.0))
    constants = [pl.lit(v, dtype=PARAM_COLUMNS[k]).alias(k) for k, v in params.columns().items()]
    return pl.concat([summary, scores], how="horizontal").with_columns(constants)


# ---------------------------------------------------------------------------------- the stage


STATE_COLUMNS = ("first_trip", "last_trip", "trips", "repeat_value_cents")


def clv_from_state(
    state: pl.DataFrame,
    as_of: datetime | date,
    *,
    params: CLVParams | None = None,
    freq: str = "W",
    horizon: float = 52,
    sample: int | None = 200_000,
    seed: int = 0,
    discount_rate: float = 0.0,
    strict: bool = False,
) -> tuple[pl.DataFrame, CLVParams]:
    """(per-player CLV, the fit) from :func:`clv_state` rows: summary -> fit (unless ``params`` are
    given: then only scored) -> score. The state columns are kept, so a snapshot can be carried on."""
    as_of = as_of_datetime(as_of)
    if horizon < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    if params is not None and params.freq != freq:
        raise ValueError(f"the parameters were fitted in freq {params.freq!r}, not {freq!r}")
    summary = summary_from_state(state, as_of, freq=freq)
    if params is None:
        params = fit_clv_models(summary, freq=freq, sample=sample, seed=seed, strict=strict)
    scored = score_clv(summary, params, horizon=horizon, discount_rate=discount_rate)
    out = scored.join(state.select("player_id", *STATE_COLUMNS), on="player_id", how="left", maintain_order="left")
    return out.with_columns(pl.lit(as_of, dtype=pl.Datetime("us")).alias("as_of")).select(
        "player_id", "as_of", pl.exclude("player_id", "as_of")
    ), params


def player_clv(
    events: pl.LazyFrame,
    as_of: datetime | date,
    *,
    freq: str = "W",
    horizon: float = 52,
    sample: int | None = 200_000,
    seed: int = 0,
    discount_rate: float = 0.0,
    strict: bool = False,
) -> pl.DataFrame:
    """Per-player CLV as of ``as_of`` (events with ts <= as_of): trips -> summary -> fit -> score.

    Columns: see the module docstring, plus the state (:data:`STATE_COLUMNS`). Degenerate data gives
    null score columns and a ``clv_issues`` note (``strict=True``: a ValueError).
    ``CLVParams.from_frame(result)`` gives the fitted parameters back.
    """
    scored, _ = clv_from_state(clv_state(events, as_of), as_of, freq=freq, horizon=horizon, sample=sample,
                               seed=seed, discount_rate=discount_rate, strict=strict)
    return scored
