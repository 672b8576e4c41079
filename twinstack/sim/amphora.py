"""Simulated amphorae: the data plane of the load-balancing service, in the simulation.

:class:`SimAmphoraDriver` speaks the amphora protocol (:mod:`twinstack.rpc.loadbalancer`) as a real driver
would: it takes each load balancer's whole configuration, holds it after a time drawn from its behaviour (an
amphora reloading haproxy), and answers. ``failing`` makes the next applies fail (nothing changes), ``silent``
makes the driver take commands and never answer, and :meth:`pause` holds the applies until :meth:`resume` (an
amphora slow to come back), as does the settings' ``pause_file`` while it exists (the switch a test can reach
in a served cloud): the tests' and scenarios' switches.

A command is applied once: a repeat (the worker resending to an amphora it thinks silent) is dropped while
the first is being applied and answered from memory after; that memory is a window of time
(:class:`~twinstack.rpc.answers.AnswerMemory`), and the log of what was applied keeps the last
``APPLIED_KEPT`` entries, so a long run does not grow without bound.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

from twinstack.config import LoadBalancerSettings
from twinstack.core.runtime import Runtime
from twinstack.rpc.answers import AnswerMemory
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.loadbalancer import AMPHORA_TOPIC, LOADBALANCER_TOPIC, ApplyLoadBalancer, LoadBalancerApplied
from twinstack.rpc.messages import Envelope, Message
from twinstack.sim.distributions import Fixed, LogNormal

APPLIED_KEPT = 1000
PAUSE_FILE_POLL_SECONDS = 0.05


class SimAmphoraDriver:
    def __init__(self, runtime: Runtime, bus: Bus, settings: LoadBalancerSettings) -> None:
        self.runtime = runtime
        self.bus = bus
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.configs: dict[str, ApplyLoadBalancer] = {}
        """load balancer id -> the configuration its amphora holds"""
        self.applied: deque[tuple[float, str, str]] = deque(maxlen=APPLIED_KEPT)
        """(time, load balancer id, 'create' | 'update' | 'delete'): what the amphorae did lately, in order"""
        self._answered: AnswerMemory[LoadBalancerApplied] = AnswerMemory(runtime.clock)
        self._working: set[str] = set()
        self.failing = False
        self.silent = False
        self._paused = False
        self._held: list[Callable[[], None]] = []

    def start(self) -> None:
        self.bus.subscribe(AMPHORA_TOPIC, typed(self._on_command))

    def pause(self) -> None:
        """From any thread: applies whose time is up from now on wait, neither applied nor answered, until
        :meth:`resume` applies and answers them."""
        self.runtime.call_soon(lambda: setattr(self, "_paused", True))

    def resume(self) -> None:
        """From any thread: answer what was held, and answer as usual again."""
        def release() -> None:
            self._paused = False
            held, self._held = self._held, []
            for answer in held:
                answer()

        self.runtime.call_soon(release)

    def _seconds(self) -> float:
        median = self.settings.apply_seconds
        if median <= 0:
            return 0.0
        dist = LogNormal(median=median, sigma=self.settings.jitter) if self.settings.jitter else Fixed(value=median)
        return dist.sample(self.rng)

    def _on_command(self, message: Message, _envelope: Envelope) -> None:
        if not isinstance(message, ApplyLoadBalancer):
            return
        repeated = self._answered.get(message.command_id)
        if repeated is not None:
            send(self.bus, LOADBALANCER_TOPIC, repeated)
            return
        if message.command_id in self._working:
            return  # being applied: its answer is coming
        self._working.add(message.command_id)

        def done() -> None:
            if self.silent:
                self._working.discard(message.command_id)
                return
            if self._paused:
                self._held.append(done)
                return
            if self.settings.pause_file is not None and self.settings.pause_file.exists():
                self.runtime.call_later(PAUSE_FILE_POLL_SECONDS, done)
                return
            ok = not self.failing
            if ok:
                known = message.loadbalancer_id in self.configs
                if message.deleted:
                    self.configs.pop(message.loadbalancer_id, None)
                else:
                    self.configs[message.loadbalancer_id] = message
                action = "delete" if message.deleted else "update" if known else "create"
                self.applied.append((self.runtime.clock.now(), message.loadbalancer_id, action))
            answer = LoadBalancerApplied(command_id=message.command_id, loadbalancer_id=message.loadbalancer_id,
                                         ok=ok, fault=None if ok else "Simulated amphora failure")
            self._answered.remember(message.command_id, answer)
            self._working.discard(message.command_id)
            send(self.bus, LOADBALANCER_TOPIC, answer)

        self.runtime.call_later(self._seconds(), done)
