"""The researcher notebook 04_validate_rule_roi runs headless (nbmake) and reads only project files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "04_validate_rule_roi.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    opening = "".join(nb["cells"][0]["source"]).lower()
    assert "for researchers" in opening and "whether" in opening
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    assert "/work/shared" not in NOTEBOOK.read_text()


@pytest.mark.slow
def test_notebook_runs_headless(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbmake", str(NOTEBOOK), "-q", "-p", "no:cacheprovider",
         "-o", "addopts=", "--rootdir", str(ROOT)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
