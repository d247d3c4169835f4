"""One item made ahead: the next item is made on a worker thread while the caller uses this one.

Worth it where both sides release the GIL (DuckDB's scans and inserts, Polars, numpy): the full
build reads the next shard while it aggregates one, and packs the next slice of player cards while
DuckDB inserts one. Memory holds two items at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ahead(make: Callable[[T], R], items: Sequence[T], name: str) -> Iterator[R]:
    """``make(item)`` of each item in order, the next one made by a worker thread (named ``name``)
    while the caller holds this one."""
    if not items:
        return
    with ThreadPoolExecutor(1, thread_name_prefix=name) as worker:
        pending = worker.submit(make, items[0])
        for k in range(1, len(items) + 1):
            made = pending.result()
            if k < len(items):
                pending = worker.submit(make, items[k])
            yield made
            del made
