"""Facts: typed source rows become canonical events (pure stages, one expression per column)."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import polars as pl

from pipelines.sources import GAME_RATES, Source
from pipelines.staging import EXTRA

# Columns the store receives for each staged row; the store adds ids, sequence and attribution.
STAGED_SCHEMA: dict[str, pl.DataType] = {
    "_row": pl.Int64,
    "content": pl.String,
    "record_key": pl.String,
    "player_id": pl.String,
    "property_id": pl.String,
    "ts": pl.Datetime("us"),
    "event_type": pl.String,
    "amount": pl.Float64,
    "currency": pl.String,
    "points": pl.Float64,
    "game": pl.String,
    "game_type": pl.String,
    "location": pl.String,
    "avg_bet": pl.Float64,
    "minutes": pl.Float64,
    "theo": pl.Float64,
    "casino_win": pl.Float64,
    "ends_at": pl.Datetime("us"),
    "attrs": pl.String,
    "source": pl.String,
    "source_ref": pl.String,
}

c = pl.col


def theo() -> pl.Expr:
    """Theoretical win: average bet x hours x decisions per hour x house edge."""
    rates = pl.DataFrame(
        {"game": list(GAME_RATES), "dph": [r[0] for r in GAME_RATES.values()],
         "edge": [r[1] for r in GAME_RATES.values()]}
    )
    dph = pl.coalesce(c("decisions_per_hour"), c("game").replace_strict(rates["game"], rates["dph"], default=None))
    edge = pl.coalesce(c("house_edge"), c("game").replace_strict(rates["game"], rates["edge"], default=None))
    return pl.coalesce(c("theo"), c("avg_bet") * c("minutes_played") / 60.0 * dph * edge)


def minutes_between(start: str, end: str) -> pl.Expr:
    """Minutes from one timestamp column to another."""
    return (c(end) - c(start)).dt.total_seconds() / 60.0


def _attrs_of(*fields: str | pl.Expr, extras: list[str]) -> pl.Expr:
    """Attributes without a typed column, plus the file's unknown columns, as JSON."""
    parts = [c(f) if isinstance(f, str) else f for f in fields]
    parts += [c(EXTRA + name).alias(name) for name in extras]
    return pl.struct(parts).struct.json_encode() if parts else pl.lit("{}")


def _signed_points() -> pl.Expr:
    """Points with their direction: redeemed and expired points leave the balance."""
    out = c("type").is_in(["points_redeemed"])
    return pl.when(out).then(-c("points").abs()).when(c("type") == "points_earned").then(c("points").abs()).otherwise(c("points"))


def _order_amount() -> pl.Expr:
    """Order value: the amount, or quantity x unit price."""
    return pl.coalesce(c("amount"), c("quantity") * c("unit_price"))


def event_columns(source: Source, known_players: pl.Series | None, now: datetime,
                  extras: list[str] = ()) -> dict[str, pl.Expr]:
    """The canonical event columns of one source as expressions over its typed fields."""
    name = source.name
    _attrs = partial(_attrs_of, extras=list(extras))
    if name == "players":
        is_new = ~c("player_id").is_in(known_players.implode()) if known_players is not None else pl.lit(True)
        return {
            "record_key": pl.concat_str(c("player_id"), c("property_id").fill_null(""), separator="@"),
            "ts": pl.coalesce(c("enrolled_at"), pl.lit(now)),
            "event_type": pl.when(is_new).then(pl.lit("enrollment")).otherwise(pl.lit("profile_update")),
            "attrs": _attrs("first_name", "last_name", "date_of_birth", "email", "phone", "address",
                            "status", "enrolled_at", "card_number", "external_id", "tier", "flags"),
        }
    if name == "visits":
        return {
            "ts": c("check_in"), "ends_at": c("check_out"), "event_type": pl.lit("visit"),
            "minutes": minutes_between("check_in", "check_out"), "location": c("area"),
            "attrs": _attrs(),
        }
    if name == "rating_slips":
        return {
            "ts": c("start_time"), "ends_at": c("end_time"), "event_type": pl.lit("rating_slip"),
            "game": c("game"),
            "game_type": pl.coalesce(c("game_type"), pl.when(c("game") == "slots").then(pl.lit("slot")).otherwise(pl.lit("table"))),
            "location": c("location"), "avg_bet": c("avg_bet"), "minutes": c("minutes_played"),
            "theo": theo(), "casino_win": c("casino_win"),
            "attrs": _attrs("visit_id", "decisions_per_hour", "house_edge"),
        }
    if name == "transactions":
        return {"ts": c("ts"), "event_type": c("type"), "amount": c("amount"), "attrs": _attrs("method")}
    if name == "loyalty":
        return {
            "ts": c("ts"), "event_type": c("type"), "points": _signed_points(), "amount": c("amount"),
            "attrs": _attrs("reward_id", "reward_type", "campaign_id", "arm", "channel"),
        }
    if name == "notes":
        return {
            "ts": c("ts"), "event_type": pl.coalesce(c("kind"), pl.lit("note")),
            "attrs": _attrs("text", "author", "author_role",
                            pl.coalesce(c("visibility"), pl.lit("all")).alias("visibility")),
        }
    if name == "compliance":
        return {
            "ts": c("ts"), "event_type": c("type"), "amount": c("amount"),
            "attrs": _attrs("direction", "description", "severity"),
        }
    if name == "orders":
        amount = _order_amount()
        return {
            "ts": c("ts"), "amount": amount,
            "event_type": pl.when(amount < 0).then(pl.lit("refund")).otherwise(pl.coalesce(c("type"), pl.lit("order"))),
            "attrs": _attrs("quantity", "unit_price"),
        }
    raise ValueError(f"no event mapping for source {name!r}")


CONTENT_COLUMNS = ("player_id", "property_id", "ts", "event_type", "amount", "currency", "points",
                   "game", "game_type", "location", "avg_bet", "minutes", "theo", "casino_win",
                   "ends_at", "attrs")
TS_TEXT = "%Y-%m-%d %H:%M:%S%.6f"  # how Polars casts a microsecond timestamp to text
# A player row's ts and type depend on when it is read (enrollment vs update): not its content.
PLAYER_CONTENT_COLUMNS = ("player_id", "property_id", "attrs")


def _as_text(name: str) -> pl.Expr:
    """A staged column as text, exactly as `cast(pl.String)` writes it (event ids depend on it)."""
    if STAGED_SCHEMA[name] == pl.Datetime("us"):  # the same text, about twice as fast as the cast
        return c(name).dt.to_string(TS_TEXT)
    return c(name).cast(pl.String)


def content(columns: tuple[str, ...] = CONTENT_COLUMNS) -> pl.Expr:
    """The record's content as one string: what makes two versions of a record differ."""
    parts = [_as_text(n).fill_null("\u2205") for n in columns]
    return pl.concat_str(parts, separator="\x1f")


def events(lf: pl.LazyFrame, source: Source, *, file_name: str, known_players: pl.Series | None,
           now: datetime) -> pl.LazyFrame:
    """Good rows as staged events (the store assigns ids, sequence and attribution)."""
    extras = [n[len(EXTRA):] for n in lf.collect_schema() if n.startswith(EXTRA)]
    cols = event_columns(source, known_players, now, extras)
    key = c(source.key) if source.key else cols.pop("record_key", pl.lit(None, pl.String))
    base = {
        "record_key": key,
        "player_id": c("player_id"),
        "property_id": c("property_id"),
        "source": pl.lit(source.name),
        "source_ref": pl.format(f"{file_name} row {{}}", c("_row")),
    }
    base.update(cols)
    if "amount" in cols:
        given = c("currency") if "currency" in source.field_names() else pl.lit(None, pl.String)
        base["currency"] = pl.when(cols["amount"].is_not_null()).then(pl.coalesce(given, pl.lit("USD")))
    exprs = [
        (base[n] if n in base else pl.lit(None)).cast(t).alias(n)
        for n, t in STAGED_SCHEMA.items() if n not in ("_row", "content")
    ]
    good = lf.filter(~c("_bad"))
    return good.select(c("_row").cast(pl.Int64), *exprs).with_columns(
        content(PLAYER_CONTENT_COLUMNS if source.name == "players" else CONTENT_COLUMNS).alias("content")
    ).select(list(STAGED_SCHEMA))
