"""Slow reads of a served session on worker threads (`app.views.common.Background`)."""

from __future__ import annotations

import threading

from app.views.common import Background


class FakeDoc:
    """The one part of a Bokeh document `Background` uses: callbacks for the session's next tick."""

    def __init__(self):
        self.ticks: list = []
        self.queued = threading.Condition()

    def add_next_tick_callback(self, fn) -> None:
        with self.queued:
            self.ticks.append(fn)
            self.queued.notify_all()

    def wait_for(self, n: int) -> None:
        with self.queued:
            assert self.queued.wait_for(lambda: len(self.ticks) >= n, timeout=10)


def test_the_answer_is_shown_on_the_next_tick_not_on_the_worker_thread():
    doc, shown = FakeDoc(), []
    Background(doc).start(lambda: threading.current_thread().name, lambda v, e: shown.append((v, e)))
    doc.wait_for(1)
    assert shown == []  # nothing happens until the session runs its tick
    doc.ticks[0]()
    assert shown == [("player360-view", None)]


def test_a_newer_read_wins_over_an_older_one_that_answers_later():
    doc, shown, slow = FakeDoc(), [], threading.Event()
    background = Background(doc)
    background.start(lambda: slow.wait(10) and "old player", lambda v, e: shown.append(v))
    background.start(lambda: "new player", lambda v, e: shown.append(v))
    doc.wait_for(1)
    slow.set()
    doc.wait_for(2)
    for tick in doc.ticks:
        tick()
    assert shown == ["new player"]


def test_a_failed_read_is_shown_as_its_error():
    doc, shown = FakeDoc(), []

    def fails() -> str:
        raise RuntimeError("store gone")

    Background(doc).start(fails, lambda v, e: shown.append((v, str(e))))
    doc.wait_for(1)
    doc.ticks[0]()
    assert shown == [(None, "store gone")]
