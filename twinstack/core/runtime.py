"""The runtime seam: how core code reads time, sets timers and hands work to the event loop.

Core never sleeps and never reads the wall clock (DESIGN.md rule 3). It is handed a Runtime: a
SimPy environment in virtual time for offline simulation, the same kernel kept on the wall clock
for a live cloud. Every callback a runtime runs, it runs one at a time, in time order, on one
thread, so core handlers need no locks among themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from twinstack.core.clock import Clock


class Timer(Protocol):
    def cancel(self) -> None:
        """The callback will not run (a no-op if it already has)."""


class Runtime(Protocol):
    @property
    def clock(self) -> Clock: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once, ``delay`` seconds of this runtime's time from now."""
        ...

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` as soon as the runtime gets to it; safe to call from any thread."""
        ...
