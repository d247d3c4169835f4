"""The notebooks run headless, top to bottom, on a small demo store made in a temporary folder
(PLAYER360_DB points there: never at the user's store or shared data), and are committed clean."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.slow


def test_the_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == ["01_tune_segment_thresholds", "02_explore_cohorts", "03_churn_and_clv",
                                           "04_validate_rule_roi"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_opening_with_who_it_is_for(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "**For " in first.source and "?" in first.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"


@pytest.fixture(scope="module")
def notebook_store(demo_db, tmp_path_factory) -> Path:
    """The built demo store with two snapshots (so the migration section has something to compare) and
    the demo users (the notebooks read as a user of the store, through the access layer)."""
    from pipelines.store import Store
    from pipelines.users import add_demo_users
    from tests.app.demo_store import copy_store
    from tests.app.segment_store import add_earlier_snapshot

    db = copy_store(demo_db, tmp_path_factory.mktemp("notebooks") / "demo.duckdb")
    add_earlier_snapshot(db, days=60)
    with Store(db) as store:
        add_demo_users(store)
    return db


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless(path, notebook_store, tmp_path, monkeypatch):
    from nbmake.nb_run import NotebookRun

    from tests.app.demo_store import copy_store

    db = copy_store(notebook_store, tmp_path / "p360.duckdb")  # notebook 01 saves a scheme version
    monkeypatch.setenv("PLAYER360_DB", str(db))  # the kernel inherits it
    monkeypatch.delenv("PLAYER360_USER", raising=False)  # each notebook's own default user
    result = NotebookRun(path, default_timeout=600).execute()
    assert result.error is None, f"{path.name} failed:\n{result.error.summary if result.error else ''}\n" \
                                 f"{result.error.trace if result.error else ''}"
    if path.stem.startswith("01"):
        from pipelines.store import Store

        with Store(db, read_only=True) as s:
            saved = s.scheme_versions("spending")
        assert saved.height == 1 and (saved["saved_by"][0], saved["role"][0]) == ("analyst", "analyst")
