"""Writing generated sources block by block (CSV or Parquet), plus the optional dirty rows."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class SourceWriter:
    """Appends frames of one source to `<name>.<fmt>`; the file appears under its name only on close."""

    def __init__(self, path: Path, schema: dict[str, pl.DataType], fmt: str) -> None:
        self.path = path
        self.schema = schema
        self.fmt = fmt
        # A crash mid-run must not leave a plausible-looking half file behind.
        self._tmp = path.with_name(path.name + ".part")
        self._csv = None
        self._parquet: pq.ParquetWriter | None = None

    def write(self, df: pl.DataFrame) -> None:
        """Append rows (the first call also writes the header or the Parquet schema)."""
        if self.fmt == "csv":
            first = self._csv is None
            if first:
                self._csv = open(self._tmp, "wb")  # noqa: SIM115 - kept open across blocks
            df.write_csv(self._csv, include_header=first, datetime_format=DATETIME_FORMAT, date_format="%Y-%m-%d")
            return
        table = df.to_arrow()
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._tmp, table.schema, compression="zstd")
        self._parquet.write_table(table)

    def append_raw(self, rows: list[dict[str, str]]) -> None:
        """Append hand-written CSV rows (dirty data) with the source's columns."""
        if self._csv is None:
            self.write(pl.DataFrame(schema=self.schema))
        text = csv.DictWriter(_Sink(self._csv), fieldnames=list(self.schema), lineterminator="\n")
        text.writerows(rows)

    def close(self) -> Path:
        """Finish the file (an empty source still gets its header) and move it into place."""
        if self._csv is None and self._parquet is None:
            self.write(pl.DataFrame(schema=self.schema))
        if self._csv is not None:
            self._csv.close()
        if self._parquet is not None:
            self._parquet.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file after a failure."""
        for handle in (self._csv, self._parquet):
            if handle is not None:
                handle.close()
        self._tmp.unlink(missing_ok=True)


class _Sink:
    """Text facade over a binary file for the csv module."""

    def __init__(self, raw) -> None:
        self.raw = raw

    def write(self, s: str) -> int:
        """Write UTF-8 text."""
        return self.raw.write(s.encode("utf-8"))


def dirty_rows(players: int, end_text: str) -> dict[str, list[dict[str, str]]]:
    """A few rows the ingest must reject: bad date, negative amount, unknown and missing player ids."""
    known = "PL0000001"
    unknown = f"PL{players + 9_000_000:07d}"
    return {
        "visits": [
            {"visit_id": "V-BAD-1", "player_id": known, "property_id": "P01", "check_in": "2024-13-45 25:61", "area": "main_floor"},
        ],
        "transactions": [
            {"txn_id": "T-BAD-1", "player_id": known, "property_id": "P01", "ts": end_text, "type": "buy_in",
             "amount": "-500.0", "currency": "USD", "method": "cash"},
        ],
        "rating_slips": [
            {"slip_id": "S-BAD-1", "player_id": unknown, "property_id": "P02", "start_time": end_text, "game": "blackjack",
             "game_type": "table", "avg_bet": "25.0", "minutes_played": "30"},
        ],
        "notes": [
            {"note_id": "N-BAD-1", "player_id": "", "property_id": "P01", "ts": end_text, "author": "Maria Lopez",
             "author_role": "host", "kind": "note", "text": "Guest did not give a card.", "visibility": "all"},
        ],
        "compliance": [
            {"entry_id": "C-BAD-1", "player_id": known, "property_id": "P03", "ts": "yesterday evening", "type": "incident",
             "description": "Date typed by hand.", "severity": "low"},
        ],
        "loyalty": [
            {"entry_id": "L-BAD-1", "player_id": unknown, "property_id": "P01", "ts": end_text, "type": "points_earned",
             "points": "120"},
        ],
    }
