"""Run once by `panel serve --setup` before the first session.

- Imports every page's modules (scipy, scikit-learn, HoloViews...), so that the first visitor after a
  start does not wait for them: each session runs `app/main.py` again, but its imports then come
  from memory. Where bytecode is not cached (PYTHONDONTWRITEBYTECODE), that first import compiled
  the sources and took 10-40 s on a busy 2-core machine, longer than a browser waits for a sign-in.
- Opens the store and computes the every-property KPI strips in a background thread (seconds at
  20M events), so that the first overview finds them cached instead of every early visitor
  waiting on the same scans.
"""

import logging

import app.pages.audit  # noqa: F401
import app.pages.cohorts  # noqa: F401
import app.pages.overview  # noqa: F401
import app.pages.player  # noqa: F401
import app.pages.rewards  # noqa: F401
import app.pages.segments  # noqa: F401
import app.pages.shift  # noqa: F401
from app.data import DataStore

logging.getLogger("player360").setLevel(logging.INFO)  # "warm-up done in N s" in the server log
DataStore.shared().warm()
