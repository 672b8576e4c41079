"""The seams between compute logic and where its state lives (SQL for a cloud, memory for a simulation).

The conductor and scheduler are written once against these protocols. The memory versions
(twinstack.core.compute.memory) double as their executable specification.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from twinstack.core.compute.model import ActionEvent, ComputeHost, Instance, InstanceAction
from twinstack.core.errors import CloudError
from twinstack.rpc.compute import FlavorSpec, ImageSpec


class InstanceStore(Protocol):
    def get(self, uuid: str) -> Instance | None: ...

    def save(self, instance: Instance) -> None:
        """Insert or update the whole instance."""
        ...

    def add_action(self, action: InstanceAction) -> None: ...

    def actions(self, instance_uuid: str) -> list[InstanceAction]:
        """The instance's actions, oldest first, each with its events."""
        ...

    def start_event(self, instance_uuid: str, request_id: str, event: ActionEvent) -> None: ...

    def finish_event(self, instance_uuid: str, request_id: str, event: str, finish_time: float, result: str,
                     traceback: str | None = None) -> None: ...


class HostStore(Protocol):
    def upsert(self, host: ComputeHost) -> None: ...

    def get(self, host: str) -> ComputeHost | None: ...

    def heartbeat(self, hosts: Iterable[str], at: float) -> None: ...

    def all(self) -> list[ComputeHost]: ...


class Placement(Protocol):
    """The claims the conductor makes and releases; the scheduler also reads capacity through it."""

    def register_host(self, host: ComputeHost) -> None:
        """Make (or update) the host's resource provider, inventory, traits and zone aggregate."""
        ...

    def claim(self, consumer: str, project_id: str, user_id: str, host: str, resources: dict[str, int]) -> bool:
        """Allocate atomically; False (and nothing changed) when the host has no room any more."""
        ...

    def release(self, consumer: str) -> None:
        """Drop every allocation of the consumer (releasing twice is harmless)."""
        ...

    def allocations(self, consumer: str) -> dict[str, dict[str, int]]: ...


@dataclass(frozen=True)
class RequestSpec:
    """Everything the scheduler needs to place one instance."""

    instance_uuid: str
    project_id: str
    user_id: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    availability_zone: str | None = None
    server_group_policy: str | None = None
    server_group_hosts: frozenset[str] = frozenset()
    hints: dict[str, Any] = field(default_factory=dict)
    ignore_hosts: frozenset[str] = frozenset()
    alternates: int = 2

    @property
    def resources(self) -> dict[str, int]:
        return resources_of(self.flavor)


def resources_of(flavor: FlavorSpec) -> dict[str, int]:
    """The placement resources a flavor asks for, as Nova derives them."""
    resources = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram_mb}
    disk = flavor.disk_gb + flavor.ephemeral_gb + (flavor.swap_mb + 1023) // 1024
    if disk:
        resources["DISK_GB"] = disk
    return {rc: amount for rc, amount in resources.items() if amount}


class NoValidHost(CloudError):
    status = 500
    title = "No valid host"

    def __init__(self, reason: str = "There are not enough hosts available.") -> None:
        super().__init__(f"No valid host was found. {reason}")


class Scheduler(Protocol):
    def select_destinations(self, spec: RequestSpec) -> list[str]:
        """Hosts for the instance: the first already claimed, the rest alternates for retries.

        Raises NoValidHost when no host passes the filters or every claim lost its race.
        """
        ...
