"""Player cards: each player's newest metrics and segments rows packed into one binary value.

Pure (no I/O): the store writes and reads the cards (``pipelines.store_cards``). Why: a one-player
read of a wide row costs DuckDB about 25-40 us per column whatever the table's size (a 2,000-row
table of 132 columns answers a point read in 3.5 ms, compressed or not), so the 136 columns of a
player's metrics and segments rows cost more than the 10 ms the whole 360 read may take. A card is
one BLOB per table, found through an index on player_id: one short row instead of 136 columns.

A packed row is ``ceil(n / 8)`` bytes of null bits followed by ``n`` 8-byte little-endian values,
one per column in the layout's order: DOUBLE for floats, BIGINT for everything else (integers,
booleans, dates as days and timestamps as microseconds since 1970, strings as their index in the
layout's dictionary of that column). Decoding gives the Python values DuckDB's ``fetchone`` gives
for the same row of the snapshot table (a float's bits are kept, NaN included).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

# Above this many distinct values a string column is not a label: no cards (reads fall back).
MAX_DICTIONARY = 10_000
_CHUNK = 100_000  # rows packed at a time (a 100k x 136 matrix of 8-byte values: about 110 MB)
_EPOCH_DAY = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1)


def kind_of(dtype: pl.DataType) -> str | None:
    """How a column is packed: f64, int, bool, date, ts (microseconds), str, or None (not packable)."""
    if dtype in (pl.Float64, pl.Float32):
        return "f64"
    if dtype in (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32):
        return "int"  # (a UInt64 or Int128 may not fit 8 signed bytes)
    if dtype == pl.Boolean:
        return "bool"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime) and dtype.time_unit == "us" and dtype.time_zone is None:
        return "ts"
    if dtype == pl.String or isinstance(dtype, (pl.Enum, pl.Categorical)):
        return "str"  # DuckDB gives an ENUM's values as strings too
    return None


def layout(frame: pl.DataFrame, key: str = "player_id") -> dict[str, Any] | None:
    """The packing of a frame's columns (names, kinds, string dictionaries), or None when a column
    cannot be packed (a type the card does not know, or a string column with too many values).
    The ``key`` column is not packed: the card is stored under it, and `unpack` is given it."""
    kinds = {name: "key" if name == key else kind_of(dtype) for name, dtype in frame.schema.items()}
    if any(k is None for k in kinds.values()):
        return None
    strings = [name for name, k in kinds.items() if k == "str"]
    dicts: dict[str, list[str]] = {}
    if strings:
        counts = frame.select(pl.col(strings).n_unique()).row(0, named=True)
        if max(counts.values()) > MAX_DICTIONARY + 1:  # + 1: null counts as a value
            return None
        dicts = {name: frame.get_column(name).cast(pl.String).drop_nulls().unique().sort().to_list()
                 for name in strings}
    return {"columns": [[name, kind] for name, kind in kinds.items()], "dicts": dicts}


def _physical(name: str, kind: str, dicts: dict[str, list[str]]) -> pl.Expr:
    """The column as the 8-byte number it is stored as (nulls as 0: the null bits say which)."""
    col = pl.col(name)
    if kind == "key":
        return pl.lit(0, dtype=pl.Int64).alias(name)
    if kind == "f64":
        return col.cast(pl.Float64).fill_null(0.0)
    if kind == "str":
        return col.cast(pl.String).cast(pl.Enum(dicts[name])).to_physical().cast(pl.Int64).fill_null(0)
    if kind in ("date", "ts"):
        col = col.to_physical()
    return col.cast(pl.Int64).fill_null(0)


def pack(frame: pl.DataFrame, spec: dict[str, Any]) -> pa.Array:
    """One packed row (BLOB) per row of ``frame``, in its row order, by the layout ``spec``."""
    columns = spec["columns"]
    values = [_physical(name, kind, spec["dicts"]) for name, kind in columns]
    nulls = [pl.lit(False).alias(name) if kind == "key" else pl.col(name).is_null() for name, kind in columns]
    n, mask_len = len(columns), (len(columns) + 7) // 8
    width = mask_len + 8 * n
    chunks = []
    for start in range(0, frame.height, _CHUNK):
        part = frame.slice(start, _CHUNK)
        out = np.zeros((part.height, width), dtype=np.uint8)
        out[:, :mask_len] = np.packbits(part.select(nulls).to_numpy(), axis=1, bitorder="little")
        data = np.empty((part.height, n), dtype="<i8")
        physical = part.select(values)
        for k, (_, kind) in enumerate(columns):
            series = physical.to_series(k).to_numpy()
            data[:, k] = series.view("<i8") if kind == "f64" else series
        out[:, mask_len:] = data.view(np.uint8).reshape(part.height, 8 * n)
        chunks.append(pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), part.height,
                                                           [None, pa.py_buffer(out)]))
    return pa.chunked_array(chunks, type=pa.binary(width)).cast(pa.binary())


def unpack(blob: bytes, spec: dict[str, Any], key: Any) -> dict[str, Any]:
    """A packed row back as column -> Python value, as DuckDB returns the snapshot's row (``key``:
    the value of the key column, under which the card is stored)."""
    columns, dicts = spec["columns"], spec["dicts"]
    n = len(columns)
    mask_len = (n + 7) // 8
    nulls = np.unpackbits(np.frombuffer(blob, dtype=np.uint8, count=mask_len), count=n,
                          bitorder="little").tolist()
    ints = np.frombuffer(blob, dtype="<i8", count=n, offset=mask_len).tolist()
    floats = np.frombuffer(blob, dtype="<f8", count=n, offset=mask_len).tolist()
    row: dict[str, Any] = {}
    for k, (name, kind) in enumerate(columns):
        if nulls[k]:
            row[name] = None
        elif kind == "key":
            row[name] = key
        elif kind == "f64":
            row[name] = floats[k]
        elif kind == "int":
            row[name] = ints[k]
        elif kind == "str":
            row[name] = dicts[name][ints[k]]
        elif kind == "ts":
            row[name] = _EPOCH + timedelta(microseconds=ints[k])
        elif kind == "date":
            row[name] = _EPOCH_DAY + timedelta(days=ints[k])
        else:
            row[name] = bool(ints[k])
    return row
