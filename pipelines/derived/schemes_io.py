"""Save and load segmentation schemes (and churn / insight thresholds) as versioned TOML files.

The TOML text itself is made and read by ``metrics.segments.Versioned`` (pure); this module only
touches the file system.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import metrics.churn  # noqa: F401  (registers the "churn" kind for load)
import metrics.insights  # noqa: F401  (registers the "insights" kind for load)
from metrics.segments import Versioned

__all__ = ["load", "save"]


def save(scheme: Versioned, path: str | Path) -> Path:
    """Write ``scheme.to_toml()`` to ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(scheme.to_toml())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | Path) -> Versioned:
    """The scheme saved at ``path`` (its class is chosen by the file's ``kind``)."""
    return Versioned.from_toml(Path(path).read_text(encoding="utf-8"))
