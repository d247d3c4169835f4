"""A SIGKILL mid-ingest leaves no partial batch and nothing that blocks the next run."""

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
            if len(lines) == 3:  # three chunks staged inside the open transaction
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert "finished" not in lines
    with Store(db) as store:
        assert store.sql("SELECT count(*) AS n FROM events WHERE source='transactions'")["n"][0] == 0
        assert store.sql("SELECT count(*) AS n FROM ingest_batches WHERE actor='crash'")["n"][0] == 0
        result = ingest_file(store, "transactions", path, actor="retry")  # one 400k-row chunk
        assert (result.events_added, result.duplicates, result.rejected) == (n, 0, 0)
