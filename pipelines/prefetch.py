"""Run a generator one item ahead on a background thread (overlaps Polars staging with DuckDB writes)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


@contextmanager
def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """Yield an iterator over `items` produced on a worker thread, at most `depth` items ahead.

    Polars and DuckDB both release the GIL, so staging chunk N+1 runs while chunk N is written.
    An exception in the producer is raised in the consumer; leaving the block early stops the
    producer at its next item (memory stays bounded by `depth` + 2 items).
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))
            return
        put((True, _DONE))

    def consume() -> Iterator[T]:
        while True:
            ok, item = handoff.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item

    worker = threading.Thread(target=work, name="prefetch", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()
