"""A serving process settles its collector once started: what start-up built is frozen, collections spaced out."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from twinstack.collector import SERVING_THRESHOLDS, settle_for_serving


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_restored")
def test_what_start_up_built_is_frozen_and_collections_are_spaced_out() -> None:
    built_at_start = [{"host": n} for n in range(1000)]
    gc.unfreeze()
    settle_for_serving()
    assert gc.get_freeze_count() >= len(built_at_start)
    assert gc.get_threshold() == SERVING_THRESHOLDS
    walked = {id(item) for item in gc.get_objects()}
    assert not any(id(item) in walked for item in built_at_start), "frozen objects are walked no more"


@pytest.mark.usefixtures("collector_restored")
def test_cycles_made_while_serving_are_still_collected() -> None:
    settle_for_serving()

    class Node:
        pass

    made = Node()
    made.self = made  # type: ignore[attr-defined]
    del made
    assert gc.collect() >= 1
