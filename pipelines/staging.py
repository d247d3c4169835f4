"""Staging: type the raw columns of a source and give every bad row its reason (pure stages)."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipelines.sources import Field, Source

RAW = "raw."  # raw columns are kept under this prefix so rejected rows keep what was read
EXTRA = "extra."  # undeclared columns, kept in the event's attrs
TS_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
TS_HINT = "YYYY-MM-DD HH:MM:SS"


def _text(raw: pl.Expr) -> pl.Expr:
    """Trimmed text, with empty strings as missing."""
    s = raw.cast(pl.String).str.strip_chars()
    return pl.when(s.str.len_bytes() > 0).then(s)


def _timestamp(raw: pl.Expr, dtype: pl.DataType, date_format: str | None) -> pl.Expr:
    """A timestamp from text in any accepted format, or from a native date/datetime."""
    if dtype.is_temporal():
        return raw.cast(pl.Datetime("us"), strict=False)
    s = _text(raw).str.replace("T", " ", literal=True)
    formats = ((date_format,) if date_format else ()) + TS_FORMATS
    return pl.coalesce([s.str.to_datetime(f, strict=False, time_unit="us") for f in formats])


def _typed(f: Field, dtype: pl.DataType, date_format: str | None) -> pl.Expr:
    """The typed value of one raw column."""
    raw = pl.col(RAW + f.name)
    if f.kind == "ts":
        return _timestamp(raw, dtype, date_format)
    if f.kind == "date":
        return _timestamp(raw, dtype, date_format).dt.date()
    if f.kind == "float":
        if dtype.is_numeric():
            return raw.cast(pl.Float64)
        return _text(raw).str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)
    if f.kind == "enum":
        return _text(raw).str.to_lowercase()
    if f.kind == "list":
        return _text(raw).str.split(";").list.eval(pl.element().str.strip_chars()).list.eval(
            pl.element().filter(pl.element().str.len_bytes() > 0)
        )
    return _text(raw)


def typed(lf: pl.LazyFrame, source: Source, date_format: str | None = None) -> pl.LazyFrame:
    """Keep raw columns under `raw.` and add the typed declared fields (absent ones as nulls)."""
    schema = lf.collect_schema()
    declared = set(source.field_names())
    raw_cols = [c for c in schema if c != "_row"]
    out = lf.rename({c: RAW + c for c in raw_cols})
    exprs = []
    for f in source.fields:
        if f.name in schema:
            exprs.append(_typed(f, schema[f.name], date_format).alias(f.name))
        else:
            exprs.append(pl.lit(None, dtype=_dtype(f)).alias(f.name))
    extras = [c for c in raw_cols if c not in declared]
    exprs += [_text(pl.col(RAW + c)).alias(EXTRA + c) for c in extras]
    return out.with_columns(exprs)


def _dtype(f: Field) -> pl.DataType:
    """Polars type of a typed field."""
    return {
        "ts": pl.Datetime("us"), "date": pl.Date, "float": pl.Float64, "list": pl.List(pl.String)
    }.get(f.kind, pl.String)


def _field_checks(f: Field, present: bool) -> list[tuple[pl.Expr, pl.Expr]]:
    """(failed, reason) pairs for one field, most basic first."""
    value, raw = pl.col(f.name), pl.col(RAW + f.name)
    if not present:
        return []
    checks = []
    if f.required:
        checks.append((value.is_null() & _text(raw).is_null(), pl.lit(f"missing {f.name}")))
    if f.kind in ("ts", "date"):
        hint = TS_HINT if f.kind == "ts" else "YYYY-MM-DD"
        checks.append((
            value.is_null() & _text(raw).is_not_null(),
            pl.format(f"cannot read '{{}}' as a {'timestamp' if f.kind == 'ts' else 'date'} (expected {hint})",
                      raw.cast(pl.String)),
        ))
    elif f.kind == "float":
        checks.append((
            value.is_null() & _text(raw).is_not_null(),
            pl.format("cannot read '{}' as a number", raw.cast(pl.String)),
        ))
        if f.nonnegative:
            checks.append((value < 0, pl.format(f"impossible negative {f.name} {{}}", value)))
    elif f.kind == "enum":
        checks.append((
            value.is_not_null() & ~value.is_in(list(f.allowed)),
            pl.format(f"'{{}}' is not a valid {f.name} (expected one of: {', '.join(f.allowed)})", raw),
        ))
    return checks


def checks(
    lf: pl.LazyFrame,
    source: Source,
    *,
    present: set[str],
    known_players: pl.Series | None,
    now: datetime,
) -> pl.LazyFrame:
    """Add `_reason` and `_column`: the first problem of each row, null for a good row."""
    pairs: list[tuple[pl.Expr, pl.Expr, str]] = []
    for f in source.fields:
        pairs += [(bad, why, f.name) for bad, why in _field_checks(f, f.name in present)]
    if source.known_player and known_players is not None:
        pairs.append((
            pl.col("player_id").is_not_null() & ~pl.col("player_id").is_in(known_players.implode()),
            pl.format("unknown player '{}' (ingest players first)", pl.col("player_id")),
            "player_id",
        ))
    for f in source.fields:
        if f.kind == "ts" and f.name in present:
            pairs.append((
                pl.col(f.name) > pl.lit(now),
                pl.format(f"{f.name} {{}} is in the future",
                          pl.col(f.name).dt.strftime("%Y-%m-%d %H:%M:%S")),
                f.name,
            ))
    pairs += _source_checks(source)
    reason = pl.coalesce([pl.when(bad).then(why) for bad, why, _ in pairs]) if pairs else pl.lit(None)
    column = pl.coalesce([pl.when(bad).then(pl.lit(col)) for bad, _, col in pairs]) if pairs else pl.lit(None)
    return lf.with_columns(reason.cast(pl.String).alias("_reason"), column.cast(pl.String).alias("_column"))


def _source_checks(source: Source) -> list[tuple[pl.Expr, pl.Expr, str]]:
    """Checks that span several columns of one source."""
    if source.name == "visits":
        return [(pl.col("check_out") < pl.col("check_in"),
                 pl.lit("check_out is before check_in"), "check_out")]
    if source.name == "rating_slips":
        return [(pl.col("end_time") < pl.col("start_time"),
                 pl.lit("end_time is before start_time"), "end_time")]
    if source.name == "orders":
        missing = pl.col("amount").is_null() & (pl.col("quantity").is_null() | pl.col("unit_price").is_null())
        return [(missing, pl.lit("missing amount (or quantity and unit_price)"), "amount")]
    return []


def rejected(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Rejected rows as kept in the store: row number, raw values as JSON, column, reason."""
    raw = [c for c in lf.collect_schema() if c.startswith(RAW)]
    return lf.filter(pl.col("_reason").is_not_null()).select(
        pl.col("_row").cast(pl.Int64).alias("row_number"),
        pl.struct([pl.col(c).cast(pl.String).alias(c[len(RAW):]) for c in raw]).struct.json_encode().alias("raw"),
        pl.col("_column").alias("column"),
        pl.col("_reason").alias("reason"),
    )
