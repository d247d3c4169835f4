"""Player cards: each player's newest metrics and segments rows packed into one binary value.

Pure (no I/O): the store writes and reads the cards (``pipelines.store_cards``). Why: a one-player
read of a wide row costs DuckDB about 25-40 us per column whatever the table's size (a 2,000-row
table of 132 columns answers a point read in 3.5 ms, compressed or not), so the 136 columns of a
player's metrics and segments rows cost more than the 10 ms the whole 360 read may take. A card is
one BLOB per table, found through an index on player_id: one short row instead of 136 columns.

A packed row is ``n`` null bits (in whole 8-byte words) followed by one little-endian value per
column in the layout's slot order: first the ``wide`` 8-byte slots (DOUBLE for floats, then BIGINT
for timestamps as microseconds since 1970 and integers beyond 32 bits), then 4-byte INTEGER slots
for everything else (other integers, booleans, dates as days since 1970, strings as their index in
the layout's dictionary of that column). Narrow slots make a card a quarter smaller, and the build
writes a million cards. A layout without ``wide`` (written before narrow slots) has 8-byte slots
only. Decoding gives the Python values DuckDB's ``fetchone`` gives for the same row of the snapshot
table (a float's bits are kept, NaN included).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

# Above this many distinct values a string column is not a label: no cards (reads fall back).
MAX_DICTIONARY = 10_000
_EPOCH_DAY = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1)


def kind_of(dtype: pl.DataType) -> str | None:
    """How a column is packed: f64, int, bool, date, ts (microseconds), str, null (no value to
    store: a column of Polars' Null type), or None (not packable)."""
    if dtype == pl.Null:
        return "null"
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
    """The packing of a frame's columns (names, kinds, slots, string dictionaries), or None when a
    column cannot be packed (a type the card does not know, or a string column with too many values).
    The ``key`` column is not packed: the card is stored under it, and `unpack` is given it. Floats
    take the first slots and the other kinds the next, so that packing copies two blocks per row."""
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
    ints = [name for name, k in kinds.items() if k == "int"]
    bounds = frame.select(pl.col(ints).min().name.suffix("_lo"), pl.col(ints).max().name.suffix("_hi")).row(
        0, named=True) if ints else {}
    wide = {name for name in ints if not _fits_i32(bounds[f"{name}_lo"], bounds[f"{name}_hi"])}
    floats = [n for n, k in kinds.items() if k == "f64"]
    longs = [n for n, k in kinds.items() if k == "ts" or n in wide]
    shorts = [n for n, k in kinds.items() if k in ("int", "bool", "date", "str") and n not in wide]
    slot = {name: k for k, name in enumerate(floats + longs + shorts)}
    return {"columns": [[name, kind, slot.get(name, -1)] for name, kind in kinds.items()], "dicts": dicts,
            "floats": len(floats), "slots": len(slot), "wide": len(floats) + len(longs)}


def _fits_i32(lo: int | None, hi: int | None) -> bool:
    """Whether an integer column's values (None: all null) fit a 4-byte slot."""
    return lo is None or (-(2**31) <= lo and hi < 2**31)


def _widths(spec: dict[str, Any]) -> tuple[int, int, int]:
    """(null-bit words, 8-byte slots, 4-byte slots) of a layout."""
    wide = spec.get("wide", spec["slots"])
    return _mask_words(spec["slots"]), wide, spec["slots"] - wide


def _mask_words(slots: int) -> int:
    """8-byte words of null bits in front of the values (whole words keep the values aligned)."""
    return (slots + 63) // 64


def _physical(name: str, kind: str, dicts: dict[str, list[str]], dtype: pl.DataType) -> pl.Expr:
    """A non-float column as the integer it is stored as (nulls as 0: the null bits say which)."""
    col = pl.col(name)
    if kind == "str" and isinstance(dtype, pl.Enum):
        # an Enum's codes mapped to the dictionary's by one gather: going through its strings would
        # build and hash every label of the column again
        index = {value: k for k, value in enumerate(dicts[name])}
        codes = pl.Series([index.get(label, 0) for label in dtype.categories.to_list()], dtype=pl.Int64)
        return pl.lit(codes).gather(col.to_physical()).fill_null(0).alias(name)
    if kind == "str":
        return col.cast(pl.String).cast(pl.Enum(dicts[name])).to_physical().cast(pl.Int64).fill_null(0)
    if kind in ("date", "ts"):
        col = col.to_physical()
    return col.cast(pl.Int64).fill_null(0)


def pack(frame: pl.DataFrame, spec: dict[str, Any]) -> pa.Array:
    """One packed row (BLOB) per row of ``frame``, in its row order, by the layout ``spec``. The
    caller packs a large frame slice by slice (memory: at most 8 bytes per value of the slice)."""
    slotted = sorted((c for c in spec["columns"] if c[2] >= 0), key=lambda c: c[2])
    words, wide, narrow = _widths(spec)
    floats, longs, shorts = slotted[:spec["floats"]], slotted[spec["floats"]:wide], slotted[wide:]
    rows, width = frame.height, 8 * (words + wide) + 4 * narrow
    out = np.zeros((rows, width), dtype=np.uint8)
    eights = out[:, :8 * (words + wide)].view("<i8")  # the mask words and the 8-byte slots
    if floats:
        values = frame.select([pl.col(name).cast(pl.Float64).fill_null(0.0) for name, _, _ in floats])
        eights[:, words:words + len(floats)] = values.to_numpy(order="fortran").view("<i8")
    for part, dtype, at in ((longs, "<i8", 8 * (words + len(floats))), (shorts, "<i4", 8 * (words + wide))):
        if part:
            values = frame.select([_physical(name, kind, spec["dicts"], frame.schema[name]) for name, kind, _ in part])
            out[:, at:at + values.width * np.dtype(dtype).itemsize].view(dtype)[:] = values.to_numpy(order="fortran")
    # null bits of the columns that have nulls (a third of the metrics), set word by word
    nullable = [(name, k) for name, _, k in slotted if frame.get_column(name).null_count()]
    if nullable:
        nulls = frame.select([pl.col(name).is_null() for name, _ in nullable]).to_numpy(order="fortran")
        mask = eights[:, :words].view(np.uint64)
        for j, (_, k) in enumerate(nullable):
            mask[:, k // 64] |= nulls[:, j].astype(np.uint64) << np.uint64(k % 64)
    offsets = np.arange(0, rows * width + 1, width, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(out)])


def unpack(blob: bytes, spec: dict[str, Any], key: Any) -> dict[str, Any]:
    """A packed row back as column -> Python value, as DuckDB returns the snapshot's row (``key``:
    the value of the key column, under which the card is stored)."""
    slots, dicts = spec["slots"], spec["dicts"]
    words, wide, narrow = _widths(spec)
    nulls = np.unpackbits(np.frombuffer(blob, dtype=np.uint8, count=(slots + 7) // 8), count=slots,
                          bitorder="little").tolist()
    ints = (np.frombuffer(blob, dtype="<i8", count=wide, offset=8 * words).tolist()
            + np.frombuffer(blob, dtype="<i4", count=narrow, offset=8 * (words + wide)).tolist())
    floats = np.frombuffer(blob, dtype="<f8", count=spec["floats"], offset=8 * words).tolist()
    row: dict[str, Any] = {}
    for name, kind, k in spec["columns"]:
        if kind == "key":
            row[name] = key
        elif kind == "null" or nulls[k]:
            row[name] = None
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
