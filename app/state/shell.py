"""The navigation shell's state: which page is open (synced with ?page= in the URL)."""

from __future__ import annotations

import param

PAGES = {"overview": "Overview", "player": "Player 360", "shift": "Shift report", "segments": "Segments",
         "cohorts": "Cohorts", "rewards": "Rewards", "audit": "Audit log"}


class AppState(param.Parameterized):
    """The open page of a session, among the pages its user may view."""

    page = param.Selector(default="overview", objects=list(PAGES), doc="The open page (?page= in the URL).")
    allowed = param.List(default=list(PAGES), item_type=str, doc="Pages the signed-in user may open.")

    def go(self, page: str) -> None:
        """Open a page by key (a page the user may not view opens the overview instead)."""
        self.page = page if page in self.allowed else "overview"

    @param.depends("page", watch=True)
    def _guard(self) -> None:
        """A page set from the URL that the user may not view falls back to the overview (side effect)."""
        if self.page not in self.allowed:
            self.page = "overview"
