"""What the compute API needs from a running compute plane, whatever backend the plane drives."""

from __future__ import annotations

from dataclasses import dataclass

from twinstack.core.compute.service import ComputeService
from twinstack.core.compute.stores import (
    AggregateStore,
    HostStore,
    InstanceStore,
    Placement,
    QuotaStore,
    ServerGroupStore,
)


@dataclass
class ComputeContext:
    service: ComputeService
    instances: InstanceStore
    hosts: HostStore
    placement: Placement
    aggregates: AggregateStore
    server_groups: ServerGroupStore
    quotas: QuotaStore
    service_down_time: float = 60.0

    def now(self) -> float:
        """The plane's clock (virtual time in a simulation, possibly sped up)."""
        return self.service.runtime.clock.now()
