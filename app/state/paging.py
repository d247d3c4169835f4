"""Paging over a list shown a page at a time (the timeline, a segment's member list)."""

from __future__ import annotations

import param


class Paged(param.Parameterized):
    """The page shown and moves between pages; a subclass says how many pages there are."""

    page = param.Integer(default=1, bounds=(1, None), doc="Page shown, from 1.")

    @property
    def pages(self) -> int:
        """How many pages the list has (at least 1)."""
        raise NotImplementedError

    def next_page(self) -> None:
        """Show the next page (if any)."""
        if self.page < self.pages:
            self.page += 1

    def previous_page(self) -> None:
        """Show the previous page (if any)."""
        if self.page > 1:
            self.page -= 1
