"""`pipelines.ahead`: the items made in order, the next one made while the caller holds this one."""

from __future__ import annotations

import threading

import pytest

from pipelines.ahead import ahead


def test_items_come_in_order_and_the_next_is_made_on_the_worker():
    threads = []

    def make(k: int) -> int:
        threads.append(threading.current_thread().name)
        return k * k

    assert list(ahead(make, [1, 2, 3, 4], "sq")) == [1, 4, 9, 16]
    assert all(name.startswith("sq") for name in threads)


def test_the_next_item_is_made_before_the_caller_asks_for_it():
    made = [threading.Event() for _ in range(3)]

    def make(k: int) -> int:
        made[k].set()
        return k

    for value in ahead(make, range(3), "next"):
        if value < 2:  # the worker makes the next one while this one is held
            assert made[value + 1].wait(timeout=5)


def test_no_items_and_errors():
    assert list(ahead(lambda k: k, [], "none")) == []

    def fail(k: int) -> int:
        raise ValueError(f"bad {k}")

    with pytest.raises(ValueError, match="bad 0"):
        list(ahead(fail, [0, 1], "fail"))
