"""In-memory stores: the offline simulation's state, and the executable spec of the store protocols."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from twinstack.core.compute.model import ActionEvent, ComputeHost, Instance, InstanceAction


class MemoryInstanceStore:
    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self._actions: dict[str, list[InstanceAction]] = {}

    def get(self, uuid: str) -> Instance | None:
        return self.instances.get(uuid)

    def save(self, instance: Instance) -> None:
        self.instances[instance.uuid] = instance

    def add_action(self, action: InstanceAction) -> None:
        self._actions.setdefault(action.instance_uuid, []).append(action)

    def actions(self, instance_uuid: str) -> list[InstanceAction]:
        return list(self._actions.get(instance_uuid, []))

    def _action(self, instance_uuid: str, request_id: str) -> InstanceAction | None:
        for action in reversed(self._actions.get(instance_uuid, [])):
            if action.request_id == request_id:
                return action
        return None

    def start_event(self, instance_uuid: str, request_id: str, event: ActionEvent) -> None:
        action = self._action(instance_uuid, request_id)
        if action is not None:
            action.events.append(event)

    def finish_event(self, instance_uuid: str, request_id: str, event: str, finish_time: float, result: str,
                     traceback: str | None = None) -> None:
        action = self._action(instance_uuid, request_id)
        if action is None:
            return
        for recorded in reversed(action.events):
            if recorded.event == event and recorded.finish_time is None:
                recorded.finish_time, recorded.result, recorded.traceback = finish_time, result, traceback
                return


class MemoryHostStore:
    def __init__(self) -> None:
        self.hosts: dict[str, ComputeHost] = {}

    def upsert(self, host: ComputeHost) -> None:
        known = self.hosts.get(host.host)
        if known is not None:
            host.disabled, host.disabled_reason, host.forced_down = (known.disabled, known.disabled_reason,
                                                                     known.forced_down)
        self.hosts[host.host] = host

    def get(self, host: str) -> ComputeHost | None:
        return self.hosts.get(host)

    def heartbeat(self, hosts: Iterable[str], at: float) -> None:
        for name in hosts:
            host = self.hosts.get(name)
            if host is not None:
                host.last_heartbeat = at

    def all(self) -> list[ComputeHost]:
        return list(self.hosts.values())


@dataclass
class Provider:
    capacity: dict[str, float]
    used: dict[str, int] = field(default_factory=dict)
    traits: set[str] = field(default_factory=set)
    zone: str = "nova"


class MemoryPlacement:
    """Capacity = (total - reserved) * allocation_ratio per resource class; claims all or nothing."""

    def __init__(self) -> None:
        self.providers: dict[str, Provider] = {}
        self.consumers: dict[str, tuple[str, dict[str, int]]] = {}

    def register_host(self, host: ComputeHost) -> None:
        capacity = {
            rc: (inv["total"] - inv.get("reserved", 0)) * inv.get("allocation_ratio", 1.0)
            for rc, inv in host.inventory.items()
        }
        known = self.providers.get(host.host)
        used = known.used if known else {}
        self.providers[host.host] = Provider(capacity, used, set(host.traits), host.availability_zone)

    def fits(self, host: str, resources: dict[str, int]) -> bool:
        provider = self.providers.get(host)
        if provider is None:
            return False
        return all(provider.used.get(rc, 0) + amount <= provider.capacity.get(rc, 0)
                   for rc, amount in resources.items())

    def claim(self, consumer: str, project_id: str, user_id: str, host: str, resources: dict[str, int]) -> bool:
        if consumer in self.consumers or not self.fits(host, resources):
            return False
        provider = self.providers[host]
        for rc, amount in resources.items():
            provider.used[rc] = provider.used.get(rc, 0) + amount
        self.consumers[consumer] = (host, dict(resources))
        return True

    def release(self, consumer: str) -> None:
        held = self.consumers.pop(consumer, None)
        if held is None:
            return
        host, resources = held
        provider = self.providers[host]
        for rc, amount in resources.items():
            provider.used[rc] -= amount

    def allocations(self, consumer: str) -> dict[str, dict[str, int]]:
        held = self.consumers.get(consumer)
        return {} if held is None else {held[0]: dict(held[1])}
