"""Fixtures for the app's state tests: one demo store per session, a private copy per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.data import DataStore
from tests.app.demo_store import copy_store, make_demo_store


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """A built demo store of 300 players (read it, or copy it before writing)."""
    return make_demo_store(tmp_path_factory.mktemp("app-demo"))


@pytest.fixture
def data(demo_db, tmp_path) -> DataStore:
    """A data store over a private copy of the demo store."""
    ds = DataStore(copy_store(demo_db, tmp_path / "p360.duckdb"))
    yield ds
    ds.close()
