"""Charts made ahead, while the server has nothing else to do.

A Bokeh figure costs 10-20 ms of server CPU to build (about 25 models each) and the player page's
first tab needs three on every page load, before the page counts as rendered. A served session's
charts come from here: the pool hands out one built earlier when it has one and then, on later turns
of the server's event loop (one chart per turn, so that a session waiting behind it waits 20 ms at
most), builds the next ones, typically while the browser is still drawing the page just sent.
A chart is handed out once and never shared: Bokeh models belong to one document.
Outside a server (notebooks, tests) every chart is built on the spot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.views.common import served_doc

Key = tuple[Any, ...]
Scheduler = Callable[[Callable[[], None]], None]


def _on_server_loop(fn: Callable[[], None]) -> None:
    """Run `fn` on a later turn of the serving process's event loop."""
    from tornado.ioloop import IOLoop

    IOLoop.current().add_callback(fn)


class ChartPool:
    """Ready-made charts by constructor and arguments, at most `keep` of each kind."""

    def __init__(self, keep: int = 2, schedule: Scheduler | None = None):
        self.keep = keep
        self._schedule = schedule
        self._ready: dict[Key, list[Any]] = {}
        self._makers: dict[Key, Callable[[], Any]] = {}
        self._pending = False
        self.built_ahead = 0  # charts built between page loads (for tests and curiosity)

    def take(self, cls: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A chart `cls(*args, **kwargs)`: one made ahead when there is one (in a served session)."""
        schedule = self._schedule or (_on_server_loop if served_doc() is not None else None)
        if schedule is None:
            return cls(*args, **kwargs)
        key = (cls, args, tuple(sorted(kwargs.items())))
        self._makers.setdefault(key, lambda: cls(*args, **kwargs))
        ready = self._ready.setdefault(key, [])
        chart = ready.pop() if ready else cls(*args, **kwargs)
        self._refill_later(schedule)
        return chart

    def _refill_later(self, schedule: Scheduler) -> None:
        if not self._pending:
            self._pending = True
            schedule(lambda: self._refill_one(schedule))

    def _refill_one(self, schedule: Scheduler) -> None:
        """Build one missing chart, and come back for the next on a later turn."""
        self._pending = False
        for key, make in self._makers.items():
            if len(self._ready[key]) < self.keep:
                self._ready[key].append(make())
                self.built_ahead += 1
                self._refill_later(schedule)
                return


POOL = ChartPool()
