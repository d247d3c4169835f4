"""Reading raw files (CSV, whitespace-separated text, Excel, Parquet) in bounded chunks."""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipelines.errors import UserError

CHUNK_ROWS = 1_000_000
_READ_BYTES = 1 << 20


@dataclass
class RawFile:
    """A raw file opened for ingestion: its format, columns (as in the file) and hash."""

    path: Path
    kind: str  # csv | text | excel | parquet
    separator: str
    columns: list[str]
    sha256: str
    size: int


def _check_text(path: Path) -> str:
    """Hash a text file and check it is UTF-8, naming the line of the first bad byte."""
    digest, decoder = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")()
    line, first = 1, True
    with path.open("rb") as fh:
        while block := fh.read(_READ_BYTES):
            digest.update(block)
            try:
                decoder.decode(block[3:] if first and block.startswith(codecs.BOM_UTF8) else block)
            except UnicodeDecodeError as exc:
                bad_line = line + block[: exc.start].count(b"\n")
                raise UserError(
                    f"{path}: line {bad_line}: not UTF-8 text (byte 0x{block[exc.start]:02x}); "
                    "save the file as UTF-8 and retry"
                ) from None
            line += block.count(b"\n")
            first = False
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise UserError(f"{path}: line {line}: the file ends inside a UTF-8 character") from None
    return digest.hexdigest()


def _hash(path: Path) -> str:
    """sha256 of a binary file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _sniff(path: Path) -> tuple[str, str]:
    """(kind, separator) of a text file from its first line."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as fh:
        head = fh.readline()
    for sep in (",", "\t", ";", "|"):
        if sep in head:
            return "csv", sep
    if path.suffix.lower() == ".csv":
        return "csv", ","
    return ("text", " ") if len(head.split()) > 1 else ("csv", ",")


def open_raw(path: Path) -> RawFile:
    """Check the file exists, is non-empty and readable; learn its format and columns."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a file")
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            columns = pq.ParquetFile(path).schema_arrow.names
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
        return RawFile(path, "parquet", "", columns, _hash(path), size)
    if suffix in (".xlsx", ".xlsm"):
        try:
            columns = pl.read_excel(path, read_options={"dtypes": "string", "n_rows": 0}).columns
        except Exception as exc:  # fastexcel raises its own types
            raise UserError(f"{path}: not a readable Excel workbook ({exc})") from None
        return RawFile(path, "excel", "", columns, _hash(path), size)
    if suffix == ".xls":
        raise UserError(f"{path}: legacy .xls is not supported; save it as .xlsx or CSV")
    digest = _check_text(path)
    kind, sep = _sniff(path)
    with path.open("r", encoding="utf-8-sig") as fh:
        header = fh.readline()
    columns = header.split() if kind == "text" else _csv_header(path, sep)
    if not [c for c in columns if c.strip()]:
        raise UserError(f"{path}: line 1: no header row (expected column names)")
    return RawFile(path, kind, sep, columns, digest, size)


def _csv_header(path: Path, sep: str) -> list[str]:
    """Column names of a CSV file."""
    try:
        return pl.read_csv(path, separator=sep, n_rows=0, infer_schema=False).columns
    except pl.exceptions.PolarsError as exc:
        raise UserError(f"{path}: line 1: cannot read the header ({exc})") from None


def chunks(raw: RawFile, rename: dict[str, str], chunk_rows: int = CHUNK_ROWS) -> Iterator[pl.DataFrame]:
    """The file's rows in chunks, columns renamed, with `_row` = 1-based data row number."""
    offset = 0
    for frame in _frames(raw, chunk_rows):
        frame = frame.rename(rename).with_row_index("_row", offset=offset + 1)
        offset += frame.height
        yield frame


def _frames(raw: RawFile, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Raw chunks as read, before renaming."""
    path = raw.path
    try:
        if raw.kind == "parquet":  # Polars' own reader: same frames as pyarrow's, at half the CPU
            yield from pl.scan_parquet(path).collect_batches(chunk_size=chunk_rows)
        elif raw.kind == "excel":
            frame = pl.read_excel(path, read_options={"dtypes": "string"})
            for start in range(0, frame.height, chunk_rows):
                yield frame.slice(start, chunk_rows)
        elif raw.kind == "text":
            yield from _whitespace_frames(raw, chunk_rows)
        else:
            lf = pl.scan_csv(path, separator=raw.separator, infer_schema=False, encoding="utf8")
            yield from lf.collect_batches(chunk_size=chunk_rows)
    except pl.exceptions.PolarsError as exc:
        raise UserError(f"{path}: cannot read the file: {str(exc).splitlines()[0]}") from None


def _whitespace_frames(raw: RawFile, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Rows of a whitespace-aligned text file (as fixed-width exports often are)."""
    lines = pl.read_csv(raw.path, has_header=False, separator="\x1f", quote_char=None,
                        infer_schema=False, new_columns=["line"], skip_rows=1)
    parts = lines.select(pl.col("line").str.strip_chars().str.extract_all(r"\S+").alias("p"))
    frame = parts.select(
        pl.col("p").list.get(i, null_on_oob=True).alias(name) for i, name in enumerate(raw.columns)
    )
    for start in range(0, frame.height, chunk_rows):
        yield frame.slice(start, chunk_rows)
