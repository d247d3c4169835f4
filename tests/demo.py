"""Demo data for tests: the generator's raw files of a given size and seed, and a store with them
ingested in the order the CLI's `demo` command uses.

A test module that wants its own demo data declares it once, at module level::

    demo_files = demo_files_fixture(players=400, days=200, seed=5)

and then asks for `demo_files` (the raw files, generated once per module) or `demo_store` (a fresh
store with them ingested, tests/conftest.py). Size and seed are the module's own: its expectations
depend on them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import DEMO_ORDER
from pipelines.generate import generate
from pipelines.ingest import ingest_file
from pipelines.store import Store

END = datetime(2026, 1, 1, 20)


def generate_demo(folder: Path, players: int, days: int, seed: int) -> dict[str, Path]:
    """Raw demo files (one per source) of `players` over `days` ending at END: {source: path}."""
    return generate(folder, players=players, days=days, seed=seed, end=END)


def ingest_demo(store: Store, files: dict[str, Path]) -> Store:
    """`store` with every demo source's file ingested, players first (the CLI's DEMO_ORDER)."""
    for source in DEMO_ORDER:
        ingest_file(store, source, files[source])
    return store


def demo_frames(folder: Path, players: int, days: int, seed: int) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(events, players) of generated demo data as a store serves them after ingesting it (in memory)."""
    files = generate_demo(folder / "files", players, days, seed)
    with Store(folder / "x.duckdb") as store:
        ingest_demo(store, files)
        return store.events_frame().collect().lazy(), store.players_frame().collect().lazy()


def demo_files_fixture(players: int, days: int, seed: int):
    """A module-scoped `demo_files` fixture: raw demo files of this size and seed, generated once."""

    @pytest.fixture(scope="module", name="demo_files")
    def demo_files(tmp_path_factory) -> dict[str, Path]:
        return generate_demo(tmp_path_factory.mktemp("demo"), players, days, seed)

    return demo_files
