"""Demo stores for the segment and cohort tests: a second, earlier snapshot for migrations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pipelines.build import build
from pipelines.store import Store


def add_earlier_snapshot(db: Path, days: int = 60) -> None:
    """Build the snapshot of `days` before the newest one, so that migrations have two to compare."""
    with Store(db) as store:
        newest = store.snapshot_dates("player_segments")[0]
        build(store, newest - timedelta(days=days), actor="test")
