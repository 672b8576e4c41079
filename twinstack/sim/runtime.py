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
from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush

import simpy
from simpy.events import NORMAL, EventPriority

from twinstack.core.clock import Clock

LOG = logging.getLogger(__name__)
DEFAULT_EPOCH = 1_800_000_000.0


class SimClock:
    """Epoch seconds: the environment's virtual time offset by the epoch the simulation starts at."""

    def __init__(self, env: simpy.Environment, epoch: float) -> None:
        self._env = env
        self._epoch = float(epoch)

    def now(self) -> float:
        return self._epoch + self._env.now  # a float: the epoch is one


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
    _call(event.callback, event.timer)


def _call(callback: Callable[[], None], timer: SimTimer | None) -> None:
    if timer is not None and timer.cancelled:
        return
    try:
        callback()
    except Exception:  # a failing callback is logged; the simulation goes on
        LOG.exception("runtime callback failed")


class Kernel(simpy.Environment):
    """SimPy's environment with a first-in first-out lane for the callbacks due at the current time.

    Why: most of an offline run's callbacks are due at once (every bus delivery is one), and SimPy puts each in
    its heap, beside the hundreds of thousands of timers a large run holds (an instance's lifetime is one):
    a push and a pop through that heap and an event object per message. Here they wait in a deque instead.

    The order is SimPy's own, so a run's results do not change: SimPy runs events by (time, insertion order).
    A callback due now was scheduled at the current time; an event in the heap due now was scheduled earlier
    (with a positive delay), so it runs first, then the lane in the order it was filled. The clock never moves
    on while the lane holds anything (``peek`` answers the current time).

    Timers due far ahead (an instance's lifetime: days) wait outside the heap too, in buckets of ``far_after``
    seconds of virtual time, and join the heap when the clock reaches their bucket. Why: at 10,000 hosts the
    heap held a quarter of a million lifetimes, and every push and pop walked its 18 levels (pointer chasing
    through tuples scattered in memory) for the few timers due soon. Entries keep SimPy's (time, priority, id),
    so the order is unchanged; the heap's first entry is the earliest of all whenever it is due before
    ``_horizon``, the start of the first bucket not yet moved in (``_settle`` moves the next one in when not).
    """

    def __init__(self, far_after: float | None = 3600.0) -> None:
        super().__init__()
        self._lane: deque[tuple[Callable[[], None], SimTimer | None]] = deque()
        self._width = far_after
        self._horizon = float("inf") if far_after is None else far_after
        """Everything due before this is in the heap; buckets hold only what is due at or after it."""
        self._far: dict[int, list[tuple[float, EventPriority, int, simpy.Event]]] = {}
        self._far_keys: list[int] = []
        """The buckets' numbers, a heap (bucket ``k`` holds what is due in [k * width, (k + 1) * width))."""

    def schedule(self, event: simpy.Event, priority: EventPriority = NORMAL, delay: float = 0) -> None:
        """SimPy's schedule, a far entry into its bucket instead of the heap."""
        when = self._now + delay
        entry = (when, priority, next(self._eid), event)
        if when < self._horizon:
            heappush(self._queue, entry)
            return
        width: float = self._width  # type: ignore[assignment]  # a finite horizon means a width
        key = int(when // width)
        if key * width > when:  # float division rounded up across a boundary: the bucket must hold ``when``
            key -= 1
        elif (key + 1) * width <= when:
            key += 1
        bucket = self._far.get(key)
        if bucket is None:
            bucket = self._far[key] = []
            heappush(self._far_keys, key)
        bucket.append(entry)

    def _settle(self) -> None:
        """Make the heap's first entry the earliest of all: move buckets in while it is not before the horizon."""
        queue, keys = self._queue, self._far_keys
        while keys and (not queue or queue[0][0] >= self._horizon):
            key = heappop(keys)
            for entry in self._far.pop(key):
                heappush(queue, entry)
            self._horizon = (key + 1) * self._width  # type: ignore[operator]

    def call_in(self, delay: float, callback: Callable[[], None], timer: SimTimer | None) -> None:
        """Run ``callback`` after ``delay`` seconds (at once, in order, for 0 or less), unless ``timer`` is
        cancelled by then."""
        now = self._now
        if delay > 0 and now + delay > now:  # a delay too small to move the clock is "now", as SimPy orders it
            self.schedule(_Due(self, callback, timer), NORMAL, delay)
        else:
            self._lane.append((callback, timer))

    def call_now(self, callback: Callable[[], None]) -> None:
        """``call_in(0, callback, None)``, for the bus's every delivery: straight into the lane."""
        self._lane.append((callback, None))

    def peek(self) -> float:
        if self._lane:
            return self._now
        self._settle()
        return super().peek()

    def step(self) -> None:
        self._settle()
        lane = self._lane
        if lane:
            queue = self._queue
            if not queue or queue[0][0] > self._now:
                _call(*lane.popleft())
                return
        super().step()

    def run_until(self, end: float, tick: Callable[[float, int], None] | None = None, every: int = 0x4000) -> int:
        """Process every event due by ``end`` (``while peek() <= end: step()``), in the very order :meth:`step`
        takes them; returns how many ran. ``tick(now, count)`` is called after every ``every`` events (a
        power of two), e.g. to show progress.

        Why one loop: an offline run processes about nine events per instance lifecycle, and a ``peek`` and a
        ``step`` per event (and SimPy's own ``step`` and callback list under them, for a timer) were a few
        percent of the run. A lean timer's callback is called here directly; any other SimPy event goes
        through SimPy's ``step``."""
        lane, queue, popleft, mask, far = self._lane, self._queue, self._lane.popleft, every - 1, self._far_keys
        count = 0
        while True:
            if far and (not queue or queue[0][0] >= self._horizon):
                self._settle()
            if lane and self._now <= end and (not queue or queue[0][0] > self._now):
                callback, timer = popleft()
                _call(callback, timer)
            elif not queue or queue[0][0] > end:
                return count
            elif type(queue[0][3]) is _Due:
                self._now, _, _, due = heappop(queue)
                due.callbacks = None  # type: ignore[assignment]  # processed, as SimPy marks it
                _call(due.callback, due.timer)  # type: ignore[attr-defined]
            else:
                super().step()
            count += 1
            if tick is not None and not count & mask:
                tick(self._now, count)


class SimRuntime:
    def __init__(self, epoch: float = DEFAULT_EPOCH, far_after: float | None = 3600.0) -> None:
        """``far_after``: the width of the kernel's buckets of far timers (None: every timer in SimPy's heap)."""
        self.env = Kernel(far_after)
        self._epoch = epoch
        self._clock = SimClock(self.env, epoch)

    @property
    def clock(self) -> Clock:
        return self._clock

    def _schedule(self, delay: float, callback: Callable[[], None], timer: SimTimer | None) -> None:
        self.env.call_in(delay, callback, timer)

    def _run(self, callback: Callable[[], None]) -> None:
        _call(callback, None)

    def call_later(self, delay: float, callback: Callable[[], None]) -> SimTimer:
        timer = SimTimer()
        self.env.call_in(delay, callback, timer)
        return timer

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.env.call_now(callback)

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
        env.run_until(target)
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
