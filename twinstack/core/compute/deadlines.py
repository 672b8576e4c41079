"""The deadlines of the commands a conductor waits on, handed back earliest first once they are due.

Why not one heap: every command sent gets a deadline (``now + timeout``), and almost every one is answered
long before it, so the conductor's periodic check pops (and skips) a deadline per command: at 10,000 simulated
hosts that is two million pops through a heap of a few hundred tuples, a few percent of an offline run. But the
timeouts are a handful of settings, and ``now`` never goes back, so the deadlines of one timeout arrive already
in order: kept in one first-in first-out lane per timeout, a pop is the earliest of a few lanes' heads.

The order is the heap's: each lane stays sorted (a deadline earlier than its lane's last, from a clock that
stepped back, is inserted in place), so the least head of the lanes is the least of every entry, compared as the
heap compared them, (deadline, command id).
"""

from __future__ import annotations

import bisect
from collections import deque


class Deadlines:
    """(deadline, command id) pairs, popped in ascending order once due."""

    def __init__(self) -> None:
        self._lanes: dict[float, deque[tuple[float, str]]] = {}

    def add(self, timeout: float, deadline: float, command_id: str) -> None:
        """Wait for ``command_id`` until ``deadline`` (``timeout`` after now: the lane it joins)."""
        lane = self._lanes.get(timeout)
        if lane is None:
            lane = self._lanes[timeout] = deque()
        entry = (deadline, command_id)
        if lane and entry < lane[-1]:
            bisect.insort(lane, entry)
        else:
            lane.append(entry)

    def pop_due(self, now: float) -> tuple[float, str] | None:
        """The earliest entry due by ``now`` (removed), or None when none is. A lane left empty goes, so that
        timeouts that vary (none do today: they are settings) cannot leave lanes to walk for nothing."""
        first: deque[tuple[float, str]] | None = None
        key = 0.0
        for timeout, lane in self._lanes.items():
            if lane[0][0] <= now and (first is None or lane[0] < first[0]):
                first, key = lane, timeout
        if first is None:
            return None
        entry = first.popleft()
        if not first:
            del self._lanes[key]
        return entry

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())
