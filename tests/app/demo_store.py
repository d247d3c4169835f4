"""A small demo store (generated, ingested, built) for the app's tests, and helpers to find data in it."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.state.session import Session
from pipelines.access import Principal
from pipelines.build import build
from pipelines.store import Store
from tests.demo import END, generate_demo, ingest_demo

__all__ = ["END", "WHO", "an_open_visit", "busiest_player", "copy_store", "make_demo_store", "session"]

# a principal that sees every property (the tests of reads that are not about scope)
WHO = Principal("ana", "admin", None)


def session(user: str = "ana", role: str = "host") -> Session:
    """A signed-in session over every property."""
    return Session(user=user, role=role, all_properties=True)


def make_demo_store(folder: Path, players: int = 300, days: int = 400, seed: int = 11, *,
                    derive: bool = True) -> Path:
    """Generate demo files, ingest every source and (unless `derive` is false) build the derived
    snapshots; return the db path."""
    db = folder / "demo.duckdb"
    files = generate_demo(folder / "raw", players, days, seed)
    with Store(db) as store:
        ingest_demo(store, files)
        if derive:
            build(store, actor="test")
    return db


def copy_store(db: Path, to: Path) -> Path:
    """A private copy of a store file (for tests that write)."""
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(db, to)
    return to


def busiest_player(db: Path) -> dict:
    """The player with the most events (id, first and last name)."""
    with Store(db, read_only=True) as s:
        return s.sql(
            """SELECT p.player_id, p.first_name, p.last_name, count(*) AS n
            FROM events_current e JOIN players p USING (player_id)
            GROUP BY ALL ORDER BY n DESC, p.player_id LIMIT 1""").row(0, named=True)


def an_open_visit(db: Path) -> dict:
    """One open visit (player, property, start) with the player's name."""
    with Store(db, read_only=True) as s:
        return s.sql(
            """SELECT v.player_id, v.property_id, v.ts, p.first_name, p.last_name
            FROM events_current v JOIN players p USING (player_id)
            WHERE v.event_type = 'visit' AND v.ends_at IS NULL ORDER BY v.ts DESC LIMIT 1""").row(0, named=True)
