"""Runtimes over a SimPy environment: virtual time as fast as the CPU allows, or kept on the wall clock.

``SimRuntime`` is the offline kernel: single-threaded, deterministic, time jumps from event to
event. ``LiveRuntime`` is the same kernel on its own thread, paced by the wall clock (times a
speed-up factor), with a thread-safe inbox so HTTP workers can hand it work: the live simulation.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import simpy
from simpy.events import NORMAL

from twinstack.core.clock import Clock

LOG = logging.getLogger(__name__)
DEFAULT_EPOCH = 1_800_000_000.0


class SimClock:
    """Epoch seconds: the environment's virtual time offset by the epoch the simulation starts at."""

    def __init__(self, env: simpy.Environment, epoch: float) -> None:
        self._env = env
        self._epoch = epoch

    def now(self) -> float:
        return self._epoch + float(self._env.now)


class SimTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Due(simpy.Event):
    """A callback due at a virtual time: the leanest event SimPy processes.

    Why not ``env.timeout``: a Timeout checks its delay and a closure was made per call; an offline run
    schedules about ten of these per instance lifecycle, so each one's cost counts.
    """

    def __init__(self, env: simpy.Environment, callback: Callable[[], None], timer: SimTimer | None) -> None:
        self.env = env
        self.callbacks: list[Callable[[simpy.Event], None]] = [_fire]
        self._ok = True
        self._value = None
        self.callback = callback
        self.timer = timer


def _fire(event: simpy.Event) -> None:
    assert isinstance(event, _Due)
    if event.timer is not None and event.timer.cancelled:
        return
    try:
        event.callback()
    except Exception:  # a failing callback is logged; the simulation goes on
        LOG.exception("runtime callback failed")


class SimRuntime:
    def __init__(self, env: simpy.Environment | None = None, epoch: float = DEFAULT_EPOCH) -> None:
        self.env = env or simpy.Environment()
        self._epoch = epoch
        self._clock = SimClock(self.env, epoch)

    @property
    def clock(self) -> Clock:
        return self._clock

    def _schedule(self, delay: float, callback: Callable[[], None], timer: SimTimer | None) -> None:
        env = self.env
        env.schedule(_Due(env, callback, timer), NORMAL, delay if delay > 0 else 0.0)

    def _run(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:  # a failing callback is logged; the simulation goes on
            LOG.exception("runtime callback failed")

    def call_later(self, delay: float, callback: Callable[[], None]) -> SimTimer:
        timer = SimTimer()
        self._schedule(delay, callback, timer)
        return timer

    def call_soon(self, callback: Callable[[], None]) -> None:
        self._schedule(0.0, callback, None)

    def run(self, until: float | None = None) -> None:
        """Run events until virtual time ``until`` (seconds since the start) or until none are left."""
        if until is None:
            self.env.run()
        else:
            self.advance(until)

    def advance(self, target: float) -> None:
        """Process every event due by ``target``, then leave the clock exactly at ``target``.

        Done by hand rather than with ``env.run(until=...)``, which leaves its marker event queued
        and so makes the next ``peek`` look due: a live loop would spin on it.
        """
        env = self.env
        while env.peek() <= target:
            env.step()
        if target > env.now:
            env.timeout(target - env.now)
            env.step()


class LiveClock:
    """Virtual time read between the kernel's steps: what the kernel will reach, not where it last stopped.

    The kernel wakes at most every ``max_wait`` seconds, so its own clock stands still in between;
    two API calls in that window would share a timestamp and list in arbitrary order. Threads
    other than the kernel read the paced target instead, which only grows and is never behind
    the kernel; the kernel itself keeps reading its environment, so events stay consistent.
    """

    def __init__(self, runtime: LiveRuntime) -> None:
        self._runtime = runtime

    def now(self) -> float:
        return self._runtime.virtual_now()


class LiveRuntime(SimRuntime):
    """The kernel on a thread of its own, one virtual second per ``1 / speed`` wall seconds.

    Other threads never touch the environment: ``call_soon`` and ``call_later`` from them go
    through the inbox, which the kernel thread drains between events.
    """

    def __init__(self, speed: float = 1.0, epoch: float | None = None, max_wait: float = 0.05) -> None:
        super().__init__(epoch=time.time() if epoch is None else epoch)
        self.speed = speed
        self._inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_wall = 0.0
        self._max_wait = max_wait
        self._live_clock = LiveClock(self)

    @property
    def clock(self) -> Clock:
        return self._live_clock

    def virtual_now(self) -> float:
        """Epoch seconds of virtual time: the kernel's own time on its thread, the paced target elsewhere."""
        kernel_time = float(self.env.now)
        if self._thread is None or self._in_kernel():
            return self._epoch + kernel_time
        return self._epoch + max(kernel_time, self._target())

    def _in_kernel(self) -> bool:
        return threading.current_thread() is self._thread

    def call_later(self, delay: float, callback: Callable[[], None]) -> SimTimer:
        timer = SimTimer()
        if self._in_kernel():
            self._schedule(delay, callback, timer)
        else:
            self._inbox.put(lambda: self._schedule(delay, callback, timer))
        return timer

    def call_soon(self, callback: Callable[[], None]) -> None:
        """From another thread: through the inbox. From the kernel itself: an event at the kernel's now, so
        that what the kernel publishes is delivered in virtual-time order. Through the inbox it would wait for
        the end of the current ``advance``, which, when the conductor falls behind by more than a minute,
        delivered hosts' heartbeats after the check that then found every host silent and failed their
        builds."""
        if self._in_kernel():
            self._schedule(0.0, callback, None)
        else:
            self._inbox.put(callback)

    def _target(self) -> float:
        return (time.monotonic() - self._started_wall) * self.speed

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.advance(self._target())
            drained = False
            while True:
                try:
                    callback = self._inbox.get_nowait()
                except queue.Empty:
                    break
                drained = True
                self._run(callback)
            if drained:
                continue
            next_event = self.env.peek()
            wait = self._max_wait
            if next_event != float("inf"):
                wait = min(wait, max(0.0, (next_event - self._target()) / self.speed))
            try:
                callback = self._inbox.get(timeout=wait)
            except queue.Empty:
                continue
            self.advance(self._target())
            self._run(callback)

    def start(self) -> None:
        self._started_wall = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="twinstack-runtime", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
