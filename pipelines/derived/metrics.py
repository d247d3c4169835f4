"""Per-player metrics: the pure stage ``player_metrics(events, as_of, players)``.

The metrics themselves live in ``metrics.catalog`` (one declarative object each); this stage only
evaluates the catalog's plan over a LazyFrame of canonical events (``events_current``, see
docs/data-model.md), producing one row per player with every column of docs/metrics-contract.md:

1. keep events with ``ts <= as_of`` and add the flag columns (one per event type, one per window)
   once (``catalog.event_features``);
2. ONE ``group_by("player_id").agg(...)`` of conditional aggregations (``catalog.aggregations``);
3. per grain (game, property, month, trip day, reward) one small pre-aggregation of the few events
   it reads, aggregated per player and joined once;
4. the player master (optional) adds players without events and their enrollment date;
5. players without an event of some kind get the metric's fill (0 for counts and sums);
6. derived metrics and ratios in a few topologically ordered ``with_columns``.

Everything is per player (no population statistics), so sharding the events by player (Dask,
several processes) gives the same rows. Health score constants: see ``metrics.catalog``
(``HEALTH_WEIGHTS`` etc.), re-exported here.
"""

from __future__ import annotations

from datetime import date, datetime, time

import polars as pl

from metrics import catalog as C
from metrics.catalog import (  # noqa: F401 - re-exported: the health score's documented constants
    DISPUTE_PENALTY, ENGAGEMENT_REF_DAYS, HEALTH_WEIGHTS, INCIDENT_PENALTY, PURCHASE_REF_MONTHLY,
    RECENCY_HALF_LIFE_DAYS, REWARD_VALID_DAYS,
)

__all__ = ["EVENT_INPUTS", "aggregate_columns", "event_attributes", "finish_metrics", "metric_columns",
           "player_aggregates", "player_metrics"]

# Event columns the catalog reads, with the type it expects (absent optional columns read as null),
# then the attributes (catalog.ATTRIBUTES): parsed from ``attrs`` when the events bring only that.
EVENT_INPUTS: dict[str, pl.DataType] = {
    "player_id": pl.String, "ts": pl.Datetime("us"), "event_type": pl.String,
    "property_id": pl.String, "amount": pl.Float64, "points": pl.Float64, "game": pl.String,
    "avg_bet": pl.Float64, "minutes": pl.Float64, "theo": pl.Float64, "casino_win": pl.Float64,
    **dict.fromkeys(C.ATTRIBUTES, pl.String),
}
REQUIRED = ("player_id", "ts", "event_type")


def as_of_datetime(value: datetime | date) -> datetime:
    """as_of as a naive datetime (a date means its midnight)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("as_of must be naive (venue-local time, like the events' ts)")
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    raise TypeError(f"as_of must be a datetime, got {type(value).__name__}")


def _inputs(events: pl.LazyFrame) -> pl.LazyFrame:
    """The event columns the catalog reads, typed; absent optional columns as nulls."""
    schema = events.collect_schema()
    missing = [c for c in REQUIRED if c not in schema]
    if missing:
        raise ValueError(f"events lack required columns: {', '.join(missing)}")
    cols = []
    for name, dtype in EVENT_INPUTS.items():
        if name not in schema and name in C.ATTRIBUTES and "attrs" in schema:
            cols.append(C.ATTRIBUTES[name].from_attrs())
        elif name not in schema:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
        elif name == "ts" or schema[name] == dtype:
            cols.append(pl.col(name))
        else:
            cols.append(pl.col(name).cast(dtype))
    return events.select(cols)


def _scoped(events: pl.LazyFrame, as_of: datetime, catalog: dict[str, C.Metric],
            event_types: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Events up to as_of (of some types only, when given) with the catalog's flag columns."""
    rows = _inputs(events)
    if event_types:
        rows = rows.filter(pl.col("event_type").is_in(event_types))
    return rows.filter(pl.col("ts") <= as_of).with_columns(C.event_features(as_of, catalog))


def _grain_frame(events: pl.LazyFrame, as_of: datetime, catalog: dict[str, C.Metric], grain: C.Grain,
                 exprs: list[pl.Expr]) -> pl.LazyFrame:
    """One row per player: the grain's metrics over its (player_id, key) pre-aggregation.

    The grain selects its few event types first and flags only those rows, so its branch costs a
    fraction of the main group_by.
    """
    rows = _scoped(events, as_of, catalog, grain.event_types)
    if grain.window is not None:
        rows = rows.filter(pl.col(C.window_flag(grain.window)))
    keyed = rows.with_columns(grain.key.alias(grain.name))
    if grain.drop_null_key:
        keyed = keyed.filter(pl.col(grain.name).is_not_null())
    return keyed.group_by("player_id", grain.name).agg(grain.measures).group_by("player_id").agg(exprs)


def event_attributes(catalog: dict[str, C.Metric] | None = None) -> dict[str, C.Attribute]:
    """The attributes (``catalog.ATTRIBUTES``) some metric or grain of the catalog reads, by name:
    what a reader of the store extracts from ``attrs``, instead of shipping the JSON itself (the
    widest event column; parsing it in Polars cost a shard of 500k events 0.03 s of CPU)."""
    catalog = C.CATALOG if catalog is None else catalog
    exprs = [m.expr for m in catalog.values() if m.stage == "events"]
    for name in dict.fromkeys(m.grain for m in catalog.values() if m.grain):
        grain = C.GRAINS[name]
        exprs += [grain.key, *grain.measures]
    read = {root for e in exprs for root in e.meta.root_names()}
    return {name: a for name, a in C.ATTRIBUTES.items() if name in read}


def metric_columns(catalog: dict[str, C.Metric] | None = None) -> list[str]:
    """Output columns of player_metrics, in order: the keys, then every metric of the catalog."""
    return ["player_id", "as_of", *(C.CATALOG if catalog is None else catalog)]


def aggregate_columns(catalog: dict[str, C.Metric] | None = None) -> list[str]:
    """The columns of ``player_aggregates``: player_id and every non-derived metric, in catalog order."""
    catalog = C.CATALOG if catalog is None else catalog
    return ["player_id", *(name for name, m in catalog.items() if m.stage != "derived")]


def player_aggregates(
    events: pl.LazyFrame,
    as_of: datetime | date,
    players: pl.LazyFrame | None = None,
    *,
    catalog: dict[str, C.Metric] | None = None,
) -> pl.LazyFrame:
    """One row per player with the aggregated metrics (events and grain stages, fills applied).

    What a player's events up to ``as_of`` say, before the derived metrics that also read the
    ``as_of`` key (recency, tenure, health): an incremental build carries these columns forward for
    players whose events did not change and re-derives the rest with :func:`finish_metrics`.
    """
    as_of = as_of_datetime(as_of)
    catalog = C.CATALOG if catalog is None else catalog
    out = _scoped(events, as_of, catalog).group_by("player_id").agg(C.aggregations(catalog))
    for name, exprs in C.grain_aggregations(catalog).items():
        out = out.join(_grain_frame(events, as_of, catalog, C.GRAINS[name], exprs), on="player_id", how="left")
    if players is not None:
        enrolled = (pl.col("enrolled_at") if "enrolled_at" in players.collect_schema()
                    else pl.lit(None)).cast(pl.Datetime("us"))
        master = players.select(
            pl.col("player_id").cast(pl.String), enrolled.alias("_master_enrolled_at"),
        ).filter(pl.col("_master_enrolled_at").is_null() | (pl.col("_master_enrolled_at") <= as_of))
        out = out.join(master.unique("player_id"), on="player_id", how="full", coalesce=True)
        if "enrolled_at" in catalog:
            out = out.with_columns(pl.coalesce("_master_enrolled_at", "enrolled_at").alias("enrolled_at"))
        out = out.drop("_master_enrolled_at")
    fills = [pl.col(name).fill_null(value) for name, value in C.fills(catalog).items()]
    return out.with_columns(*fills).select(aggregate_columns(catalog))


def finish_metrics(
    aggregates: pl.LazyFrame, as_of: datetime | date, *, catalog: dict[str, C.Metric] | None = None,
) -> pl.LazyFrame:
    """The aggregates of :func:`player_aggregates` with ``as_of`` and every derived metric."""
    as_of = as_of_datetime(as_of)
    catalog = C.CATALOG if catalog is None else catalog
    out = aggregates.with_columns(pl.lit(as_of, dtype=pl.Datetime("us")).alias("as_of"))
    for layer in C.derived_layers(catalog):
        out = out.with_columns(layer)
    return out.select(metric_columns(catalog))


def player_metrics(
    events: pl.LazyFrame,
    as_of: datetime | date,
    players: pl.LazyFrame | None = None,
    *,
    catalog: dict[str, C.Metric] | None = None,
) -> pl.LazyFrame:
    """One row per player with every catalog metric as of ``as_of`` (events with ts <= as_of count).

    ``players`` (player_id, enrolled_at): the player master. When given, every player in it gets a
    row (zeros for counts and sums when the player has no events), and its enrolled_at wins over
    the enrollment events for tenure. Players enrolled after ``as_of`` without earlier events are
    left out (they did not exist yet). Pass survivors only (merged ids resolved), like the events.
    """
    aggregates = player_aggregates(events, as_of, players, catalog=catalog)
    return finish_metrics(aggregates, as_of, catalog=catalog)
