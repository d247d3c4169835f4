"""Shared fixtures: a fresh store per test, small raw files written on the fly, and demo stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.store import Store
from tests.demo import ingest_demo

PLAYERS = [
    {"player_id": "PL1", "first_name": "Ann", "last_name": "Lee", "date_of_birth": "1980-01-02",
     "email": "ann@example.com", "property_id": "P01", "tier": "gold", "enrolled_at": "2024-01-01"},
    {"player_id": "PL2", "first_name": "Bob", "last_name": "Ray", "date_of_birth": "1975-05-05",
     "email": "bob@example.com", "property_id": "P01", "tier": "silver", "enrolled_at": "2024-02-01"},
    {"player_id": "PL3", "first_name": "Ann", "last_name": "Lea", "date_of_birth": "1980-01-02",
     "email": "ANN@example.com", "property_id": "P02", "tier": "bronze", "enrolled_at": "2024-03-01"},
]


@pytest.fixture
def store(tmp_path: Path):
    """A fresh, migrated store in a temporary folder."""
    with Store(tmp_path / "p360.duckdb") as s:
        yield s


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write rows (dicts of strings) to a CSV file in the test folder and return its path."""

    def write(name: str, rows: list[dict[str, str | None]], columns: list[str] | None = None) -> Path:
        path = tmp_path / name
        frame = pl.DataFrame(rows, schema={c: pl.String for c in (columns or list(rows[0]))})
        frame.write_csv(path)
        return path

    return write


@pytest.fixture
def players_csv(write_csv) -> Path:
    """Three players, two of them the same person enrolled twice."""
    return write_csv("players.csv", PLAYERS)


@pytest.fixture
def loaded(store: Store, players_csv: Path) -> Store:
    """A store with the three players ingested."""
    from pipelines.ingest import ingest_file

    ingest_file(store, "players", players_csv, actor="tester")
    return store


@pytest.fixture
def demo_store(store: Store, demo_files: dict[str, Path]) -> Store:
    """The fresh store with the module's demo files ingested (the module declares `demo_files` with
    tests.demo.demo_files_fixture: its own size and seed)."""
    return ingest_demo(store, demo_files)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """One built demo store (300 players, tests.app.demo_store) for the session: read it, or copy it
    (copy_store) before writing."""
    from tests.app.demo_store import make_demo_store  # imports the app's state: only when asked for

    return make_demo_store(tmp_path_factory.mktemp("demo-db"))


def txn(i: int, player: str = "PL1", amount: str = "100", ts: str = "2025-01-01 10:00:00",
        kind: str = "buy_in") -> dict[str, str]:
    """One transactions row."""
    return {"txn_id": f"T{i}", "player_id": player, "property_id": "P01", "ts": ts, "type": kind,
            "amount": amount}


def running_batch(store: Store, batch_id: str, player_id: str, ts: datetime, record_key: str = "T9",
                  amount: float | None = None) -> int:
    """A transactions batch left 'running' with one buy_in of a player committed in it (invisible to
    readers until `finish_batch`); returns the batch's base sequence number."""
    from pipelines.facts import STAGED_SCHEMA

    base = store.start_batch({"batch_id": batch_id, "source": "transactions", "file_name": f"{batch_id}.csv",
                              "actor": "a", "role": "etl", "started_at": ts.replace(hour=0, minute=0, second=0)})
    row = {"_row": [1], "content": ["c"], "record_key": [record_key], "player_id": [player_id], "ts": [ts],
           "event_type": ["buy_in"], "source": ["transactions"]} | ({"amount": [amount]} if amount is not None else {})
    staged = pl.DataFrame(row)
    staged = staged.with_columns(
        [pl.lit(None, t).alias(n) for n, t in STAGED_SCHEMA.items() if n not in staged.columns]
    ).select(list(STAGED_SCHEMA))
    rejected = pl.DataFrame(schema={"row_number": pl.Int64, "raw": pl.String, "column": pl.String, "reason": pl.String})
    assert store.apply_chunk(staged, rejected, batch_id=batch_id, source="transactions", actor="a", role="etl",
                             base_seq=base) == (1, 0)
    return base
