"""Hardware failures injected into the simulated datacenter, and what they cost.

Hosts fail independently (time to failure drawn from ``mtbf``, repair time from ``mttr``) and whole racks
lose power at given times. A failure is a crash of the simulated host (:meth:`SimAgent.crash`: its
instances are gone, it stops heartbeating); the control plane learns of it only as a real one would, from
missing heartbeats. Without evacuation the instances that were running there are lost: their users delete
them once the host is reported down (``service_down_time`` later), which releases their allocations. With
evacuation asked for but not offered by the conductor, the run says so in its warnings and does the same.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from twinstack.core.runtime import Runtime
from twinstack.sim.agent import SimAgent
from twinstack.sim.offline.scenario import Failures

LostHandler = Callable[[list[str]], None]


@dataclass
class FailureRecord:
    time: float
    kind: str
    """host_failure, host_repair, rack_power_loss, rack_power_back"""
    target: str
    hosts: int
    instances_lost: int


class FailureInjector:
    def __init__(self, runtime: Runtime, agent: SimAgent, failures: Failures, seed: int, detect_after: float,
                 on_lost: LostHandler) -> None:
        self.runtime = runtime
        self.agent = agent
        self.failures = failures
        self.rng = random.Random(f"{seed}:failures")
        self.detect_after = detect_after
        self.on_lost = on_lost
        self.records: list[FailureRecord] = []
        self._down: dict[str, int] = {}
        """host -> how many causes keep it down (its own failure, its rack's power)"""

    def start(self) -> None:
        for outage in self.failures.rack_power_loss:
            hosts = [name for name, host in self.agent.hosts.items() if host.report.rack == outage.rack]
            if not hosts:
                raise ValueError(f"rack_power_loss names rack {outage.rack!r}, which has no hosts")
            self.runtime.call_later(outage.at, self._rack_down_later(outage.rack, hosts, outage.duration))
        if self.failures.hosts is not None:
            for host in self.agent.hosts:
                self._schedule_failure(host)

    def _rack_down_later(self, rack: str, hosts: list[str], duration: float | None) -> Callable[[], None]:
        return lambda: self._rack_down(rack, hosts, duration)

    def _now(self) -> float:
        return self.runtime.clock.now()

    def _schedule_failure(self, host: str) -> None:
        assert self.failures.hosts is not None
        delay = self.failures.hosts.mtbf.sample(self.rng)
        if math.isfinite(delay):
            self.runtime.call_later(delay, lambda: self._host_fails(host))

    def _host_fails(self, host: str) -> None:
        assert self.failures.hosts is not None
        lost = self._take_down(host)
        self.records.append(FailureRecord(self._now(), "host_failure", host, 1, len(lost)))
        self._report_lost(lost)
        repair = self.failures.hosts.mttr.sample(self.rng)
        if math.isfinite(repair):
            self.runtime.call_later(repair, lambda: self._host_repaired(host))

    def _host_repaired(self, host: str) -> None:
        self._bring_up(host)
        self.records.append(FailureRecord(self._now(), "host_repair", host, 1, 0))
        self._schedule_failure(host)

    def _rack_down(self, rack: str, hosts: list[str], duration: float | None) -> None:
        lost: list[str] = []
        for host in hosts:
            lost.extend(self._take_down(host))
        self.records.append(FailureRecord(self._now(), "rack_power_loss", rack, len(hosts), len(lost)))
        self._report_lost(lost)
        if duration is not None:
            self.runtime.call_later(duration, lambda: self._rack_up(rack, hosts))

    def _rack_up(self, rack: str, hosts: list[str]) -> None:
        for host in hosts:
            self._bring_up(host)
        self.records.append(FailureRecord(self._now(), "rack_power_back", rack, len(hosts), 0))

    def _take_down(self, host: str) -> list[str]:
        """Crash the host (if it is not down already); the instances that were running on it."""
        self._down[host] = self._down.get(host, 0) + 1
        if self._down[host] > 1:
            return []
        running = list(self.agent.hosts[host].instances)
        self.agent.crash(host)
        return running

    def _bring_up(self, host: str) -> None:
        self._down[host] -= 1
        if self._down[host] == 0:
            del self._down[host]
            self.agent.repair(host)

    def _report_lost(self, lost: list[str]) -> None:
        if lost:
            self.runtime.call_later(self.detect_after, lambda: self.on_lost(lost))

    @property
    def hosts_down(self) -> int:
        return len(self._down)
