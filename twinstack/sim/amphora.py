"""Simulated amphorae: the data plane of the load-balancing service, in the simulation.

:class:`SimAmphoraDriver` speaks the amphora protocol (:mod:`twinstack.rpc.loadbalancer`) as a real driver
would: it takes each load balancer's whole configuration, holds it after a time drawn from its behaviour (an
amphora reloading haproxy), and answers. ``failing`` makes the next applies fail (nothing changes), ``silent``
makes the driver take commands and never answer, and :meth:`pause` holds the answers until :meth:`resume` (an
amphora slow to come back): the tests' and scenarios' switches.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from twinstack.config import LoadBalancerSettings
from twinstack.core.runtime import Runtime
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.loadbalancer import AMPHORA_TOPIC, LOADBALANCER_TOPIC, ApplyLoadBalancer, LoadBalancerApplied
from twinstack.rpc.messages import Envelope, Message
from twinstack.sim.distributions import Fixed, LogNormal


class SimAmphoraDriver:
    def __init__(self, runtime: Runtime, bus: Bus, settings: LoadBalancerSettings) -> None:
        self.runtime = runtime
        self.bus = bus
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.configs: dict[str, ApplyLoadBalancer] = {}
        """load balancer id -> the configuration its amphora holds"""
        self.applied: list[tuple[float, str, str]] = []
        """(time, load balancer id, 'create' | 'update' | 'delete'): what the amphorae did, in order"""
        self._answered: dict[str, LoadBalancerApplied] = {}
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

        def done() -> None:
            if self.silent:
                return
            if self._paused:
                self._held.append(done)
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
            self._answered[message.command_id] = answer
            send(self.bus, LOADBALANCER_TOPIC, answer)

        self.runtime.call_later(self._seconds(), done)
