"""The conductor's command deadlines come back in the very order one heap of (deadline, command id) gave them."""

from __future__ import annotations

import heapq

from hypothesis import given
from hypothesis import strategies as st

from twinstack.core.compute.deadlines import Deadlines

# one step: the clock moves (by a small amount, possibly back, as a wall clock may), then a command with one of a
# few timeouts is sent, or the due deadlines are popped
_STEP = st.tuples(st.sampled_from([0.0, 0.0, 1.0, 5.0, 30.0, -2.0]), st.sampled_from([None, 10.0, 60.0, 600.0]))


Entry = tuple[float, str]


def _popped_both_ways(steps: list[tuple[float, float | None]]) -> tuple[list[Entry], list[Entry]]:
    heap: list[Entry] = []
    lanes = Deadlines()
    from_heap: list[Entry] = []
    from_lanes: list[Entry] = []
    now = 0.0
    for n, (move, timeout) in enumerate(steps):
        now += move
        if timeout is None:
            while heap and heap[0][0] <= now:
                from_heap.append(heapq.heappop(heap))
            while (due := lanes.pop_due(now)) is not None:
                from_lanes.append(due)
        else:
            command_id = f"c{n % 7}"  # ids repeat: a command waited on again (its answer failed to be handled)
            heapq.heappush(heap, (now + timeout, command_id))
            lanes.add(timeout, now + timeout, command_id)
    assert len(lanes) == len(heap)
    return from_heap, from_lanes


@given(st.lists(_STEP, max_size=200))
def test_due_deadlines_pop_in_the_heap_order(steps: list[tuple[float, float | None]]) -> None:
    from_heap, from_lanes = _popped_both_ways([*steps, (10_000.0, None)])
    assert from_lanes == from_heap


def test_a_deadline_not_due_stays_and_ties_go_by_command_id() -> None:
    lanes = Deadlines()
    lanes.add(60.0, 100.0, "b")
    lanes.add(40.0, 100.0, "a")
    lanes.add(10.0, 50.0, "z")
    assert lanes.pop_due(49.0) is None
    assert [lanes.pop_due(100.0), lanes.pop_due(100.0), lanes.pop_due(100.0), lanes.pop_due(100.0)] == [
        (50.0, "z"), (100.0, "a"), (100.0, "b"), None]
