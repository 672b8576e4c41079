"""The runtimes keep their contract: time order, cancellation, and live pacing by the wall clock."""

from __future__ import annotations

import random
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from twinstack.rpc.bus import send, typed
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Envelope, Message, register
from twinstack.sim.runtime import LiveRuntime, SimRuntime


def test_callbacks_run_in_virtual_time_order() -> None:
    runtime = SimRuntime(epoch=1000.0)
    log: list[tuple[float, str]] = []
    runtime.call_later(2, lambda: log.append((runtime.clock.now(), "b")))
    runtime.call_later(1, lambda: log.append((runtime.clock.now(), "a")))
    runtime.call_soon(lambda: log.append((runtime.clock.now(), "now")))
    runtime.run()
    assert log == [(1000.0, "now"), (1001.0, "a"), (1002.0, "b")]


def test_callbacks_due_at_one_time_run_in_the_order_they_were_scheduled() -> None:
    """SimPy's order (time, then insertion): timers due at 5 set earlier run before what they hand on at 5,
    and what is handed on runs first in, first out, before the clock moves on."""
    runtime = SimRuntime(epoch=0.0)
    log: list[tuple[float, str]] = []

    def note(label: str) -> None:
        log.append((runtime.clock.now(), label))

    def first() -> None:
        note("a")
        runtime.call_soon(lambda: (note("c"), runtime.call_soon(lambda: note("e"))))
        runtime.call_later(0, lambda: note("d"))

    runtime.call_later(5, first)
    runtime.call_later(5, lambda: note("b"))
    runtime.call_later(5.5, lambda: note("f"))
    runtime.run()
    assert log == [(5, "a"), (5, "b"), (5, "c"), (5, "d"), (5, "e"), (5.5, "f")]


def _busy(runtime: SimRuntime, log: list[tuple[float, str]]) -> None:
    """Timers, cancelled timers, work handed on at once and later, a failing callback and a plain SimPy event."""
    def note(label: str) -> None:
        log.append((runtime.clock.now(), label))

    def chain(label: str, left: int) -> None:
        note(label)
        if left:
            runtime.call_soon(lambda: chain(f"{label}>", left - 1))
            runtime.call_later(left * 0.5, lambda: chain(f"{label}+", left - 1))

    for k in range(5):
        runtime.call_later(k, lambda k=k: chain(f"t{k}", 3))
    runtime.call_later(2, lambda: note("never")).cancel()
    runtime.call_soon(lambda: 1 / 0)  # type: ignore[func-returns-value]
    runtime.env.timeout(1.25).callbacks.append(lambda _event: note("simpy"))


def test_running_until_a_time_takes_events_in_the_order_stepping_one_by_one_does() -> None:
    """``run_until`` is the offline loop: the same events, in the same order, as ``while peek() <= end:
    step()``, the same count of them, and nothing due later."""
    stepped, ran = SimRuntime(epoch=0.0), SimRuntime(epoch=0.0)
    by_step: list[tuple[float, str]] = []
    by_run: list[tuple[float, str]] = []
    _busy(stepped, by_step)
    _busy(ran, by_run)
    for end in (0.0, 1.25, 2.0, 3.7, 100.0):
        count = 0
        while stepped.env.peek() <= end:
            stepped.env.step()
            count += 1
        ticks: list[int] = []
        assert ran.env.run_until(end, lambda _now, seen, into=ticks: into.append(seen), every=4) == count
        assert by_run == by_step
        assert ran.env.now == stepped.env.now
        assert ticks == list(range(4, count + 1, 4))
    assert {label for _at, label in by_run} >= {"t0", "t4+++", "simpy"} and "never" not in dict(by_run).values()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.3, 1.0, 2.5, 7.0]))
def test_far_timers_kept_in_buckets_run_in_the_order_one_heap_runs_them(seed: int, width: float) -> None:
    """Timers due past the kernel's horizon wait in buckets of ``far_after`` seconds, outside SimPy's heap: the
    callbacks must run at the same times in the same order (ties too: SimPy's insertion order) as with every
    timer in one heap, however delays fall across bucket edges, whether stepped, run to a time or to the end."""
    def play(far_after: float | None) -> list[tuple[float, int]]:
        runtime, rng, log = SimRuntime(epoch=0.0, far_after=far_after), random.Random(seed), []
        delays = [0.0, 0.1, width, 2 * width, width / 3, 5.0, 0.5 * width, 11.0, 3 * width + 0.25]
        made = 0

        def fire(label: int) -> None:
            nonlocal made
            log.append((runtime.clock.now(), label))
            for _ in range(rng.randrange(3) if made < 300 else 0):
                made += 1
                delay = rng.choice(delays) if rng.random() < 0.7 else rng.uniform(0, 4 * width)
                timer = runtime.call_later(delay, lambda label=made: fire(label))
                if rng.random() < 0.1:
                    timer.cancel()
        for k in range(5):
            runtime.call_later(rng.choice(delays), lambda k=k: fire(-k - 1))
        runtime.env.run_until(width * 1.5)
        for _ in range(7):
            if runtime.env.peek() == float("inf"):
                break
            runtime.env.step()
        runtime.advance(width * 4)
        runtime.run()
        return log
    assert play(width) == play(None)


def test_a_cancelled_timer_never_fires() -> None:
    runtime = SimRuntime()
    log: list[str] = []
    timer = runtime.call_later(1, lambda: log.append("fired"))
    timer.cancel()
    runtime.run()
    assert log == []


def test_a_failing_callback_does_not_stop_the_others() -> None:
    runtime = SimRuntime()
    log: list[str] = []
    runtime.call_soon(lambda: 1 / 0)  # type: ignore[func-returns-value]
    runtime.call_later(1, lambda: log.append("still here"))
    runtime.run()
    assert log == ["still here"]


@register
class Ping(Message):
    name = "test.ping"
    version = "1.0"
    n: int


def test_bus_delivers_later_in_order_and_holds_messages_for_absent_subscribers() -> None:
    runtime = SimRuntime()
    bus = InProcessBus(runtime)
    got: list[tuple[float, int]] = []

    def on_ping(message: Message, _envelope: Envelope) -> None:
        assert isinstance(message, Ping)
        got.append((runtime.env.now, message.n))

    send(bus, "agent.h1", Ping(n=1))
    send(bus, "agent.h1", Ping(n=2))
    runtime.run()
    assert got == [] and bus.pending("agent.h1") == 2
    runtime.call_later(5, lambda: bus.subscribe("agent.h1", typed(on_ping)))
    runtime.run()
    assert got == [(5, 1), (5, 2)]


def test_live_runtime_follows_the_wall_clock_with_a_speed_up() -> None:
    runtime = LiveRuntime(speed=10.0, epoch=0.0)
    fired = threading.Event()
    seen: list[float] = []
    runtime.start()
    try:
        started = time.monotonic()
        runtime.call_later(5.0, lambda: (seen.append(runtime.clock.now()), fired.set()))
        assert fired.wait(5)
        elapsed = time.monotonic() - started
    finally:
        runtime.stop()
    assert 0.4 <= elapsed < 1.5  # 5 virtual seconds at 10x
    assert 5.0 <= seen[0] < 6.5


def test_advancing_leaves_no_marker_behind_so_a_live_loop_can_sleep() -> None:
    runtime = SimRuntime()
    runtime.call_later(10, lambda: None)
    runtime.run(until=3.5)
    assert runtime.env.now == 3.5
    assert runtime.env.peek() == 10
    runtime.run(until=12)
    assert runtime.env.now == 12 and runtime.env.peek() == float("inf")


def test_live_clock_read_from_other_threads_moves_between_kernel_steps() -> None:
    """API threads stamp records with the live clock; two calls a moment apart must not share a time."""
    runtime = LiveRuntime(speed=1.0, max_wait=0.5)  # the kernel naps: its own clock stands still meanwhile
    runtime.start()
    try:
        time.sleep(0.05)
        first = runtime.clock.now()
        time.sleep(0.01)
        second = runtime.clock.now()
        seen_in_kernel: list[float] = []
        done = threading.Event()
        runtime.call_soon(lambda: (seen_in_kernel.append(runtime.clock.now()), done.set()))
        assert done.wait(2)
    finally:
        runtime.stop()
    assert second - first >= 0.009
    assert seen_in_kernel[0] >= second, "the kernel is never behind what other threads were told"


def test_what_the_kernel_publishes_is_delivered_in_virtual_time_even_when_it_falls_behind() -> None:
    """A kernel that lags the wall clock catches up in one long advance; a message it publishes at t (a
    heartbeat) must still be delivered before an event due later (the check that judges heartbeats)."""
    runtime = LiveRuntime(speed=1000.0, epoch=0.0)
    order: list[str] = []
    done = threading.Event()

    def start() -> None:
        time.sleep(0.2)  # the kernel is busy for 200 virtual seconds: the next advance covers them at once
        runtime.call_later(10.0, lambda: runtime.call_soon(lambda: order.append("heartbeat delivered")))
        runtime.call_later(10.5, lambda: (order.append("hosts checked"), done.set()))
        time.sleep(0.2)

    runtime.start()
    try:
        runtime.call_soon(start)
        assert done.wait(5)
    finally:
        runtime.stop()
    assert order == ["heartbeat delivered", "hosts checked"]
