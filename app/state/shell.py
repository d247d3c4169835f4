"""The navigation shell's state: which page is open (synced with ?page= in the URL)."""

from __future__ import annotations

import param

PAGES = {"overview": "Overview", "player": "Player 360", "shift": "Shift report", "segments": "Segments",
         "cohorts": "Cohorts"}


class AppState(param.Parameterized):
    """The open page of a session."""

    page = param.Selector(default="overview", objects=list(PAGES), doc="The open page (?page= in the URL).")

    def go(self, page: str) -> None:
        """Open a page by key."""
        self.page = page
