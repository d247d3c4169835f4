"""Fixtures for the app's state tests: a private copy per test of the session's demo store
(`demo_db`, tests/conftest.py)."""

from __future__ import annotations

import pytest

from app.data import DataStore
from tests.app.demo_store import copy_store


@pytest.fixture
def data(demo_db, tmp_path) -> DataStore:
    """A data store over a private copy of the demo store."""
    ds = DataStore(copy_store(demo_db, tmp_path / "p360.duckdb"))
    yield ds
    ds.close()
