"""A SIGKILL mid-ingest leaves no partial batch and nothing that blocks the next run.

Chunks commit one by one (bounded memory), so the killed process did leave rows on disk: readers
must not see them, and the next writer must remove them and mark the batch failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import polars as pl

from pipelines.ingest import ingest_file
from pipelines.store import Store

SCRIPT = textwrap.dedent(
    """
    import sys
    from pipelines.ingest import ingest_file
    from pipelines.store import Store
    def tick(done, total):
        print(done, flush=True)
    with Store(sys.argv[1]) as store:
        ingest_file(store, "transactions", sys.argv[2], actor="crash", progress=tick, chunk_rows=5000)
    print("finished", flush=True)
    """
)


def test_sigkill_mid_ingest(tmp_path, loaded):
    n = 400_000
    path = tmp_path / "big.csv"
    pl.DataFrame({
        "txn_id": [f"T{i}" for i in range(n)], "player_id": ["PL1"] * n, "property_id": ["P01"] * n,
        "ts": ["2025-01-01 10:00:00"] * n, "type": ["buy_in"] * n, "amount": ["10"] * n,
    }).write_csv(path)
    db = loaded.path
    loaded.close()
    lines = []
    with subprocess.Popen([sys.executable, "-c", SCRIPT, str(db), str(path)], stdout=subprocess.PIPE,
                          text=True, cwd=os.getcwd()) as proc:
        for line in proc.stdout:
            lines.append(line.strip())
            if len(lines) == 3:  # three chunks committed inside the running batch
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert "finished" not in lines
    with Store(db, read_only=True) as reader:  # a reader cannot clean up: it must not see the rows
        left = reader.sql("SELECT count(*) AS n FROM events WHERE source='transactions'")["n"][0]
        assert left >= 15_000  # the three committed chunks are on disk ...
        assert reader.sql("SELECT count(*) AS n FROM events_current WHERE source='transactions'")["n"][0] == 0
        assert reader.counts()["events"] == 3  # ... yet readers see only the three players
        assert reader.player_360("PL1")["events"].filter(pl.col("source") == "transactions").height == 0
        assert reader.watermark()[0] <= 3
        assert reader.sql("SELECT status FROM ingest_batches WHERE actor='crash'")["status"].to_list() == ["running"]
    with Store(db) as store:  # the next writer removes the stale batch
        assert store.sql("SELECT count(*) AS n FROM events WHERE source='transactions'")["n"][0] == 0
        assert store.sql("SELECT count(*) AS n FROM ingest_keys")["n"][0] == 3
        batch = store.sql("SELECT status, error, events_added FROM ingest_batches WHERE actor='crash'").row(0)
        assert batch[0] == "failed" and batch[1].startswith("interrupted") and batch[2] == 0
        assert f"{left:,} uncommitted events removed" in batch[1]
        result = ingest_file(store, "transactions", path, actor="retry")  # one 400k-row chunk
        assert (result.events_added, result.duplicates, result.rejected) == (n, 0, 0)
        assert store.counts()["events"] == n + 3
