"""Run a generator one item ahead on a background thread (overlaps Polars staging with DuckDB writes)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Handoff:
    """One slot between two threads; the producer waits until its item is taken before going on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._slot: tuple[bool, object] | None = None
        self.closed = False

    def put(self, ok: bool, item: object) -> bool:
        """Hand `item` over and wait until it is taken; False when the consumer has left."""
        with self._cond:
            self._slot = (ok, item)
            self._cond.notify_all()
            while self._slot is not None and not self.closed:
                self._cond.wait()
            return not self.closed

    def take(self) -> tuple[bool, object]:
        with self._cond:
            while self._slot is None:
                self._cond.wait()
            slot, self._slot = self._slot, None
            self._cond.notify_all()
            return slot

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


@contextmanager
def prefetch(items: Iterable[T]) -> Iterator[Iterator[T]]:
    """Yield an iterator over `items` produced on a worker thread, one item ahead.

    Polars and DuckDB both release the GIL, so staging chunk N+1 runs while chunk N is written;
    the producer starts on N+1 only once N is taken, so at most two items exist at a time. An
    exception in the producer is raised in the consumer; leaving the block early stops the
    producer after the item it is working on.
    """
    handoff = _Handoff()

    def work() -> None:
        try:
            for item in items:
                if not handoff.put(True, item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.put(False, exc)
            return
        handoff.put(True, _DONE)

    def consume() -> Iterator[T]:
        while True:
            ok, item = handoff.take()
            if not ok:
                raise item  # type: ignore[misc]
            if item is _DONE:
                return
            yield item  # type: ignore[misc]

    worker = threading.Thread(target=work, name="prefetch", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        handoff.close()
        worker.join()
