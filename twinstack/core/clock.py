"""The clock seam: core code reads time only through a Clock it was handed (DESIGN.md rule 3)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Seconds since the epoch: wall time for a real cloud, virtual time in a simulation."""

    def now(self) -> float: ...


class ManualClock:
    """A clock that moves only when told to: the executable spec of Clock, and the tests' clock."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


def utcnow(clock: Clock) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.now(), dt.UTC)


def from_timestamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)
