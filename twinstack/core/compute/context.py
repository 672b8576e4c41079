"""What the compute API needs from a running compute plane, whatever backend the plane drives."""

from __future__ import annotations

from dataclasses import dataclass, field

from twinstack.core.compute.memory import MemoryMigrationStore
from twinstack.core.compute.service import ComputeService
from twinstack.core.compute.stores import (
    AggregateStore,
    HostStore,
    InstanceStore,
    MigrationStore,
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
    migrations: MigrationStore = field(default_factory=MemoryMigrationStore)
    """The records of moves (the conductor's store: it writes them, the API lists them)."""

    def now(self) -> float:
        """The plane's clock (virtual time in a simulation, possibly sped up)."""
        return self.service.runtime.clock.now()
