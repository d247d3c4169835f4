"""Shared fixtures: a fresh store per test and small raw files written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from pipelines.store import Store

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


def txn(i: int, player: str = "PL1", amount: str = "100", ts: str = "2025-01-01 10:00:00",
        kind: str = "buy_in") -> dict[str, str]:
    """One transactions row."""
    return {"txn_id": f"T{i}", "player_id": player, "property_id": "P01", "ts": ts, "type": kind,
            "amount": amount}
