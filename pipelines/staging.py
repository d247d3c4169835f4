"""Staging: type the raw columns of a source and give every bad row its reason (pure stages)."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipelines.sources import Field, Source

RAW = "raw."  # raw columns are kept under this prefix so rejected rows keep what was read
EXTRA = "extra."  # undeclared columns, kept in the event's attrs
TS_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
# Tried first when guessing a column's format: same values as %.f where both read, and faster.
EXACT_FORMATS = ("%Y-%m-%d %H:%M:%S",)
TS_HINT = "YYYY-MM-DD HH:MM:SS"
PLAIN = "plain"  # a number column read with a direct cast (see `plain_numbers`)


def _text(raw: pl.Expr) -> pl.Expr:
    """Trimmed text, with empty strings as missing."""
    s = raw.cast(pl.String).str.strip_chars()
    return pl.when(s.str.len_bytes() > 0).then(s)


def _timestamp(raw: pl.Expr, dtype: pl.DataType, date_format: str | None, formats: tuple[str, ...] = ()) -> pl.Expr:
    """A timestamp from text in the given formats (default: all accepted), or from a native value."""
    if dtype.is_temporal():
        return raw.cast(pl.Datetime("us"), strict=False)
    if len(formats) == 1:  # the chunk was checked to parse as is: skip the clean-up
        return raw.str.to_datetime(formats[0], strict=False, time_unit="us")
    s = _text(raw).str.replace("T", " ", literal=True)
    formats = formats or (((date_format,) if date_format else ()) + TS_FORMATS)
    parsed = [s.str.to_datetime(f, strict=False, time_unit="us") for f in formats]
    return parsed[0] if len(parsed) == 1 else pl.coalesce(parsed)


def timestamp_formats(frame: pl.DataFrame, source: Source, date_format: str | None) -> dict[str, tuple[str, ...]]:
    """Per text timestamp column, the one format its first value is written in, where there is one.

    Parsing with one exact format is several times faster than trying them all, and files rarely
    mix formats. The guess comes from one value; `misread` then finds the columns where it failed
    some other value, which are parsed again trying every accepted format.
    """
    chosen = {}
    base = ((date_format,) if date_format else ()) + EXACT_FORMATS + TS_FORMATS
    candidates = base + tuple(f.replace(" ", "T", 1) for f in base if " " in f)
    for f in source.fields:
        if f.kind not in ("ts", "date") or f.name not in frame.columns or frame[f.name].dtype != pl.String:
            continue
        sample = frame[f.name].drop_nulls().head(1)
        for fmt in candidates:
            if sample.len() and sample.str.to_datetime(fmt, strict=False).null_count() == 0:
                chosen[f.name] = (fmt,)
                break
    return chosen


def plain_numbers(source: Source, schema: dict[str, pl.DataType]) -> dict[str, tuple[str, ...]]:
    """Number columns read as text, to be tried with a plain cast first (`PLAIN`).

    Most files write numbers plainly: a direct cast is several times faster than trimming and
    dropping thousands separators first. Where it leaves a given value unread, `misread` names
    the column and the chunk is read again with the clean-up (same values where both read).
    """
    return {f.name: (PLAIN,) for f in source.fields
            if f.kind == "float" and schema.get(f.name) == pl.String}


def misread(frame: pl.DataFrame, formats: dict[str, tuple[str, ...]]) -> list[str]:
    """Columns of a `typed` frame where the guessed format left a given value unread."""
    return [
        name for name in formats
        # a null raw value is always a null typed one: equal null counts mean nothing was misread
        if frame[name].null_count() != frame[RAW + name].null_count()
        and frame.select((pl.col(name).is_null() & _given(pl.col(RAW + name), pl.String)).any()).item()
    ]


def _typed(f: Field, dtype: pl.DataType, date_format: str | None, formats: tuple[str, ...] = ()) -> pl.Expr:
    """The typed value of one raw column."""
    raw = pl.col(RAW + f.name)
    if f.kind == "ts":
        return _timestamp(raw, dtype, date_format, formats)
    if f.kind == "date":
        return _timestamp(raw, dtype, date_format, formats).dt.date()
    if f.kind == "float":
        if dtype.is_numeric():
            return raw.cast(pl.Float64)
        if formats == (PLAIN,):
            return raw.cast(pl.Float64, strict=False)
        return _text(raw).str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)
    if f.kind == "enum":
        return _text(raw).str.to_lowercase()
    if f.kind == "list":
        return _text(raw).str.split(";").list.eval(pl.element().str.strip_chars()).list.eval(
            pl.element().filter(pl.element().str.len_bytes() > 0)
        )
    return _text(raw)


def typed(lf: pl.LazyFrame, source: Source, date_format: str | None = None,
          formats: dict[str, tuple[str, ...]] | None = None) -> pl.LazyFrame:
    """Keep raw columns under `raw.` and add the typed declared fields (absent ones as nulls)."""
    formats = formats or {}
    schema = lf.collect_schema()
    declared = set(source.field_names())
    raw_cols = [c for c in schema if c != "_row"]
    out = lf.rename({c: RAW + c for c in raw_cols})
    exprs = []
    for f in source.fields:
        if f.name in schema:
            exprs.append(_typed(f, schema[f.name], date_format, formats.get(f.name, ())).alias(f.name))
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


def _given(raw: pl.Expr, dtype: pl.DataType | None) -> pl.Expr:
    """Whether the file gave a value (text must be non-blank; native values just non-null)."""
    return _text(raw).is_not_null() if dtype in (None, pl.String) else raw.is_not_null()


def _field_checks(f: Field, dtype: pl.DataType | None) -> list[tuple[pl.Expr, pl.Expr]]:
    """(failed, reason) pairs for one field present with raw type `dtype`, most basic first."""
    value, raw = pl.col(f.name), pl.col(RAW + f.name)
    given = _given(raw, dtype)
    checks = []
    if f.required:
        checks.append((value.is_null() & ~given, pl.lit(f"missing {f.name}")))
    if f.kind in ("ts", "date"):
        hint = TS_HINT if f.kind == "ts" else "YYYY-MM-DD"
        checks.append((
            value.is_null() & given,
            pl.format(f"cannot read '{{}}' as a {'timestamp' if f.kind == 'ts' else 'date'} (expected {hint})",
                      raw.cast(pl.String)),
        ))
    elif f.kind == "float":
        checks.append((
            value.is_null() & given,
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


def problems(
    source: Source,
    *,
    present: dict[str, pl.DataType | None] | set[str],
    known_players: pl.Series | None,
    now: datetime,
) -> list[tuple[pl.Expr, pl.Expr, str]]:
    """Every row-level check of a source: (failed, reason, column), most basic first.

    `present` maps the file's columns to their raw types (None or a set when all are text).
    """
    types = present if isinstance(present, dict) else dict.fromkeys(present)
    pairs: list[tuple[pl.Expr, pl.Expr, str]] = []
    for f in source.fields:
        if f.name in types:
            pairs += [(bad, why, f.name) for bad, why in _field_checks(f, types[f.name])]
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
    return pairs + _source_checks(source)


def flag_bad(lf: pl.LazyFrame, checks: list[tuple[pl.Expr, pl.Expr, str]]) -> pl.LazyFrame:
    """Add `_bad`: whether any check fails (cheap booleans; reasons come later, for bad rows only)."""
    if not checks:
        return lf.with_columns(pl.lit(False).alias("_bad"))
    return lf.with_columns(pl.any_horizontal([bad.fill_null(False) for bad, _, _ in checks]).alias("_bad"))


def explain(lf: pl.LazyFrame, checks: list[tuple[pl.Expr, pl.Expr, str]]) -> pl.LazyFrame:
    """Add `_reason` and `_column`: the first failing check of each (bad) row."""
    reason = pl.coalesce([pl.when(bad).then(why) for bad, why, _ in checks]) if checks else pl.lit(None)
    column = pl.coalesce([pl.when(bad).then(pl.lit(col)) for bad, _, col in checks]) if checks else pl.lit(None)
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


def rejected(lf: pl.LazyFrame, checks: list[tuple[pl.Expr, pl.Expr, str]]) -> pl.LazyFrame:
    """Rejected rows as kept in the store: row number, raw values as JSON, column, reason."""
    raw = [c for c in lf.collect_schema() if c.startswith(RAW)]
    return lf.filter(pl.col("_bad")).pipe(explain, checks).select(
        pl.col("_row").cast(pl.Int64).alias("row_number"),
        pl.struct([pl.col(c).cast(pl.String).alias(c[len(RAW):]) for c in raw]).struct.json_encode().alias("raw"),
        pl.col("_column").alias("column"),
        pl.col("_reason").alias("reason"),
    )
