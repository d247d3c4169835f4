"""The app's data store: cached reads through the pipelines' store, never DuckDB directly."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.errors import UserError
from pipelines.store import Store, default_db_path


@dataclass
class StoreStatus:
    """What the store holds, for the overview until the metrics pages land."""

    path: Path
    available: bool
    message: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    by_source: pl.DataFrame = field(default_factory=pl.DataFrame)
    batches: pl.DataFrame = field(default_factory=pl.DataFrame)
    read_at: float = 0.0


class DataStore:
    """Reads the store with short-lived read-only connections and caches results for `ttl` seconds.

    Short-lived connections keep the file free for ingests between page loads (DuckDB lets one
    process write while no other process holds the file).
    """

    def __init__(self, path: Path | str | None = None, ttl: float = 10.0):
        self.path = Path(path) if path else default_db_path()
        self.ttl = ttl
        self._status: StoreStatus | None = None

    def status(self, refresh: bool = False) -> StoreStatus:
        """Counts per table, events per source and recent batches (cached)."""
        now = time.monotonic()
        if refresh or self._status is None or now - self._status.read_at > self.ttl:
            self._status = self._read_status(now)
        return self._status

    def _read_status(self, now: float) -> StoreStatus:
        """Read the status afresh."""
        if not self.path.exists():
            return StoreStatus(self.path, False, f"No data yet: {self.path} does not exist. "
                               "Run `player360 ingest` or `make demo`.", read_at=now)
        try:
            with Store(self.path, read_only=True) as store:
                return StoreStatus(self.path, True, "", store.counts(), store.events_by_source(),
                                   store.recent_batches(10), now)
        except UserError as exc:
            return StoreStatus(self.path, False, str(exc), read_at=now)
