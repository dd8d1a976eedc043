"""The collector's settings for a run: start-up frozen, young objects collected less often,
everything frozen at the end, the thresholds given back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from cpi_preflight import garbage_collection


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()  # this test process goes on
    gc.set_threshold(*thresholds)


def test_begin_freezes_the_heap_and_raises_the_thresholds(collector: None) -> None:
    assert garbage_collection.begin() == (700, 10, 10)
    assert gc.get_threshold() == (20_000, 20, 20)
    assert gc.get_freeze_count() > 0


def test_end_freezes_what_the_run_left_and_restores_the_thresholds(collector: None) -> None:
    previous = garbage_collection.begin()
    frozen = gc.get_freeze_count()
    left = [[] for _ in range(1000)]  # objects the run made after begin
    garbage_collection.end(previous)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() >= frozen + len(left)
