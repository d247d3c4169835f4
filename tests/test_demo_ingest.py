"""Generated demo files ingest cleanly; their deliberate bad rows are rejected with reasons."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.cli import DEMO_ORDER
from pipelines.generate import generate
from pipelines.ingest import ingest_file


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_generated_files_ingest_without_loss(tmp_path, store, fmt):
    files = generate(tmp_path / "demo", players=300, days=120, seed=3, end=datetime(2026, 1, 1, 20), fmt=fmt)
    for source in DEMO_ORDER:
        result = ingest_file(store, source, files[source])
        assert result.rejected == 0, store.rejected_rows(result.batch_id).head(3)
        assert result.rows_read == result.events_added + result.duplicates
    merged = store.sql("SELECT count(DISTINCT event_type) AS n FROM events")["n"][0]
    assert merged >= 15
    assert store.sql("SELECT count(*) AS n FROM events WHERE event_type='visit' AND ends_at IS NULL")["n"][0] > 0


def test_dirty_rows_are_rejected_and_good_rows_land(tmp_path, store):
    files = generate(tmp_path / "demo", players=300, days=120, seed=3, end=datetime(2026, 1, 1, 20), dirty=True)
    rejected = {}
    for source in DEMO_ORDER:
        result = ingest_file(store, source, files[source])
        assert result.rows_read == result.events_added + result.duplicates + result.rejected
        rejected[source] = store.rejected_rows(result.batch_id)["reason"].to_list()
    reasons = " | ".join(r for rs in rejected.values() for r in rs)
    assert "cannot read '2024-13-45 25:61' as a timestamp" in reasons
    assert "impossible negative amount" in reasons
    assert "unknown player" in reasons
    assert "missing player_id" in reasons
    assert sum(len(r) for r in rejected.values()) == 6
