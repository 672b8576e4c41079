"""In-memory stores: the offline simulation's state, and the executable spec of the store protocols."""

from __future__ import annotations

import copy
import re
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from twinstack.core.compute import quotas, states
from twinstack.core.compute.model import (
    ActionEvent,
    Aggregate,
    ComputeHost,
    Instance,
    InstanceAction,
    Migration,
    ServerGroup,
)
from twinstack.core.compute.stores import (
    EventRecord,
    Expected,
    HostLoad,
    HostLocation,
    HostService,
    InstanceQuery,
    MarkerNotFound,
    MigrationQuery,
    read_then_start_event,
    record_events,
    tags_match,
)
from twinstack.core.errors import BadRequest, Conflict


class MemoryInstanceStore:
    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self._actions: dict[str, list[InstanceAction]] = {}

    def get(self, uuid: str) -> Instance | None:
        return self.instances.get(uuid)

    def save(self, instance: Instance) -> None:
        known = self.instances.get(instance.uuid)
        if known is not None and known is not instance:
            instance.name, instance.metadata = known.name, known.metadata
            instance.locked_by, instance.attributes = known.locked_by, known.attributes
        self.instances[instance.uuid] = instance

    def update_user_fields(self, instance: Instance) -> None:
        known = self.instances.get(instance.uuid)
        if known is not None:
            known.name, known.metadata = instance.name, dict(instance.metadata)
            known.locked_by, known.attributes = instance.locked_by, instance.attributes

    def load_by_host(self) -> dict[str, HostLoad]:
        counts: dict[str, list[int]] = {}
        for instance in self.find(InstanceQuery()):
            if instance.host:
                held = counts.setdefault(instance.host, [0, 0])
                held[0] += 1
                held[1] += instance.vm_state == states.BUILDING or instance.task_state is not None
        return {host: HostLoad(n, busy) for host, (n, busy) in counts.items()}

    def find(self, query: InstanceQuery) -> list[Instance]:
        found = [i for i in self.instances.values() if _matches(i, query)]
        found = _sorted(found, query.sort)
        if query.marker is not None:
            index = next((n for n, i in enumerate(found) if i.uuid == query.marker), None)
            if index is None:
                raise MarkerNotFound(query.marker)
            found = found[index + 1:]
        return found if query.limit is None else found[:query.limit]

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

    def record_and_save(self, instance: Instance, request_id: str, record: EventRecord) -> None:
        record_events(self, instance.uuid, request_id, record)
        self.save(instance)

    def save_and_record(self, instance: Instance, request_id: str, record: EventRecord) -> None:
        self.save(instance)
        record_events(self, instance.uuid, request_id, record)

    def get_and_start_event(self, uuid: str, request_id: str, event: ActionEvent,
                            when: Callable[[Instance], bool]) -> Instance | None:
        return read_then_start_event(self, uuid, request_id, event, when)

    def update_expecting(self, uuid: str, expected: Expected, changes: Mapping[str, Any],
                         request_id: str | None = None, record: EventRecord | None = None) -> bool:
        instance = self.instances.get(uuid)
        if instance is None or not expected.matches(instance):
            return False
        for name, value in changes.items():
            setattr(instance, name, value)
        self.save(instance)  # through save: a store watching saves (the offline one's observer) sees it
        if request_id is not None and record is not None:
            record_events(self, uuid, request_id, record)
        return True


def _matches(instance: Instance, query: InstanceQuery) -> bool:
    deleted = instance.vm_state == states.DELETED
    if query.deleted is None:
        if deleted and query.changes_since is None:
            return False
    elif query.deleted != deleted:
        return False
    equal: list[tuple[Any, Any]] = [
        (query.project_id, instance.project_id), (query.user_id, instance.user_id), (query.host, instance.host),
        (query.node, instance.node), (query.availability_zone, instance.availability_zone),
        (query.image_id, instance.image.id if instance.image else None), (query.flavor_id, instance.flavor.id),
        (query.reservation_id, instance.reservation_id), (query.key_name, instance.key_name),
    ]
    if any(wanted is not None and wanted != actual for wanted, actual in equal):
        return False
    if query.name_pattern is not None and not re.search(query.name_pattern, instance.name, re.IGNORECASE):
        return False
    if query.vm_states is not None and instance.vm_state not in query.vm_states:
        return False
    if query.task_states is not None and instance.task_state not in query.task_states:
        return False
    if query.power_states is not None and instance.power_state not in query.power_states:
        return False
    if query.locked is not None and query.locked != (instance.locked_by is not None):
        return False
    if query.changes_since is not None and instance.updated_at < query.changes_since:
        return False
    if query.changes_before is not None and instance.updated_at > query.changes_before:
        return False
    return tags_match(instance.attributes.tags, query)


def _sorted(instances: list[Instance], sort: tuple[tuple[str, str], ...]) -> list[Instance]:
    """Stable sorts from the last key to the first; None sorts lowest, as the SQL stores order it."""
    keys = list(sort)
    if not any(key == "uuid" for key, _ in keys):
        keys.append(("uuid", keys[0][1] if keys else "desc"))
    result = list(instances)
    for key, direction in reversed(keys):
        def value(instance: Instance, key: str = key) -> tuple[bool, Any]:
            found = getattr(instance, key)
            return (found is not None, found if found is not None else 0)

        result.sort(key=value, reverse=direction == "desc")
    return result


class MemoryHostStore:
    def __init__(self) -> None:
        self.hosts: dict[str, ComputeHost] = {}

    def upsert(self, host: ComputeHost) -> None:
        known = self.hosts.get(host.host)
        if known is not None:
            host.disabled, host.disabled_reason, host.forced_down = (known.disabled, known.disabled_reason,
                                                                     known.forced_down)
            host.id, host.uuid = known.id, known.uuid
        else:
            host.id, host.uuid = len(self.hosts) + 1, str(uuidlib.uuid4())
        self.hosts[host.host] = host

    def get_many(self, hosts: Iterable[str]) -> dict[str, ComputeHost]:
        return {name: host for name in hosts if (host := self.get(name)) is not None}

    def services(self, hosts: Iterable[str]) -> dict[str, HostService]:
        return {name: HostService(host.disabled, host.forced_down, host.last_heartbeat)
                for name, host in self.get_many(hosts).items()}

    def upsert_all(self, hosts: Sequence[ComputeHost]) -> None:
        for host in hosts:
            self.upsert(host)

    def locations(self) -> dict[str, HostLocation]:
        return {name: HostLocation.of(host) for name, host in self.hosts.items()}

    def set_service(self, host: str, disabled: bool | None = None, disabled_reason: str | None = None,
                    forced_down: bool | None = None) -> ComputeHost | None:
        known = self.hosts.get(host)
        if known is not None:
            if disabled is not None:
                known.disabled, known.disabled_reason = disabled, disabled_reason if disabled else None
            if forced_down is not None:
                known.forced_down = forced_down
        return known

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

    def register_hosts(self, hosts: Sequence[ComputeHost]) -> None:
        for host in hosts:
            self.register_host(host)

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

    def move(self, source: str, target: str) -> bool:
        if source not in self.consumers or target in self.consumers:
            return False
        self.consumers[target] = self.consumers.pop(source)
        return True

    def allocations(self, consumer: str) -> dict[str, dict[str, int]]:
        held = self.consumers.get(consumer)
        return {} if held is None else {held[0]: dict(held[1])}

    def usage(self, host: str) -> dict[str, int]:
        provider = self.providers.get(host)
        return {} if provider is None else dict(provider.used)


class MemoryAggregateStore:
    def __init__(self) -> None:
        self.aggregates: dict[int, Aggregate] = {}
        self._next_id = 1

    def all(self) -> list[Aggregate]:
        return [copy.deepcopy(a) for _, a in sorted(self.aggregates.items())]

    def get(self, aggregate_id: int) -> Aggregate | None:
        found = self.aggregates.get(aggregate_id)
        return copy.deepcopy(found) if found else None

    def _check_name(self, name: str, aggregate_id: int) -> None:
        if any(a.name == name and a.id != aggregate_id for a in self.aggregates.values()):
            raise Conflict(f"Aggregate {name} already exists.")

    def create(self, name: str, metadata: dict[str, str], now: float) -> Aggregate:
        self._check_name(name, 0)
        aggregate = Aggregate(id=self._next_id, uuid=str(uuidlib.uuid4()), name=name,
                              availability_zone=metadata.get("availability_zone"), metadata=dict(metadata),
                              created_at=now)
        self._next_id += 1
        self.aggregates[aggregate.id] = aggregate
        return copy.deepcopy(aggregate)

    def save(self, aggregate: Aggregate) -> None:
        self._check_name(aggregate.name, aggregate.id)
        aggregate.availability_zone = aggregate.metadata.get("availability_zone")
        if aggregate.id in self.aggregates:
            self.aggregates[aggregate.id] = copy.deepcopy(aggregate)

    def delete(self, aggregate_id: int) -> None:
        self.aggregates.pop(aggregate_id, None)


def _live(instance: Instance) -> bool:
    return instance.vm_state != states.DELETED


class MemoryServerGroupStore:
    """Groups in memory; their members are read from the instance store, as the SQL store reads them."""

    def __init__(self, instances: MemoryInstanceStore) -> None:
        self.instances = instances
        self.groups: dict[str, ServerGroup] = {}

    def live_members(self, uuid: str) -> list[Instance]:
        """The group's instances not deleted, oldest first."""
        found = [i for i in self.instances.instances.values() if i.server_group_id == uuid and _live(i)]
        return sorted(found, key=lambda i: (i.created_at, i.launch_index))

    def _with_members(self, group: ServerGroup) -> ServerGroup:
        return replace(group, members=[i.uuid for i in self.live_members(group.uuid)], rules=dict(group.rules))

    def create(self, group: ServerGroup, limit: int) -> None:
        quotas.check_server_groups({"server_groups": limit},
                            sum(1 for g in self.groups.values() if g.project_id == group.project_id))
        self.groups[group.uuid] = replace(group, members=[], rules=dict(group.rules))

    def get(self, uuid: str) -> ServerGroup | None:
        group = self.groups.get(uuid)
        return self._with_members(group) if group else None

    def find(self, project_id: str | None = None) -> list[ServerGroup]:
        return [self._with_members(g) for g in self.groups.values()
                if project_id is None or g.project_id == project_id]

    def delete(self, uuid: str) -> bool:
        return self.groups.pop(uuid, None) is not None

    def member_hosts(self, uuid: str) -> list[str]:
        return [i.host for i in self.live_members(uuid) if i.host]


class MemoryQuotas:
    """Quotas over the memory stores: counts by walking them, admits under one lock (a simulation has one
    writer; the lock keeps API threads honest when a live plane runs on memory stores)."""

    def __init__(self, instances: MemoryInstanceStore, groups: MemoryServerGroupStore) -> None:
        self.instances = instances
        self.groups = groups
        self.limits: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def overrides(self, project_id: str) -> dict[str, int]:
        return dict(self.limits.get(project_id, {}))

    def set_limits(self, project_id: str, limits: Mapping[str, int]) -> None:
        self.limits.setdefault(project_id, {}).update(limits)

    def reset_limits(self, project_id: str) -> None:
        self.limits.pop(project_id, None)

    def usage(self, project_id: str) -> dict[str, int]:
        mine = [quotas.counted_flavor(i) for i in self.instances.instances.values()
                if i.project_id == project_id and _live(i)]
        return {"instances": len(mine), "cores": sum(cores for cores, _ in mine),
                "ram": sum(ram for _, ram in mine),
                "server_groups": sum(1 for g in self.groups.groups.values() if g.project_id == project_id)}

    def admit(self, instances: Sequence[Instance], min_count: int,
              actions: Sequence[InstanceAction] = ()) -> list[Instance]:
        if not instances:
            return []
        first = instances[0]
        with self._lock:
            limits = quotas.limits_of(self, first.project_id)
            demand = quotas.InstanceDemand(first.flavor.vcpus, first.flavor.ram_mb, min_count, len(instances),
                                           len(first.metadata))
            count = quotas.instances_allowed(limits, self.usage(first.project_id), demand)
            if first.server_group_id is not None:
                group = self.groups.groups.get(first.server_group_id)
                if group is None:
                    raise BadRequest(f"Instance group {first.server_group_id} could not be found.")
                quotas.check_group_members(limits, len(self.groups.live_members(group.uuid)), count)
            admitted = list(instances[:count])
            for instance in admitted:
                self.instances.save(instance)
            for action in actions[:count]:
                self.instances.add_action(action)
            return admitted

    def admit_resize(self, instance: Instance) -> None:
        """``instance`` is a changed copy: on success its resize fields land on the stored object (which
        simulation code may hold), on refusal nothing is touched."""
        assert instance.new_flavor is not None
        with self._lock:
            others = [quotas.counted_flavor(i) for i in self.instances.instances.values()
                      if i.project_id == instance.project_id and _live(i) and i.uuid != instance.uuid]
            usage = {"cores": sum(c for c, _ in others) + instance.flavor.vcpus,
                     "ram": sum(r for _, r in others) + instance.flavor.ram_mb}
            quotas.check_resize(quotas.limits_of(self, instance.project_id), usage, instance.flavor,
                                instance.new_flavor)
            stored = self.instances.get(instance.uuid)
            if stored is None or stored is instance:
                self.instances.save(instance)
                return
            stored.old_flavor, stored.new_flavor = instance.old_flavor, instance.new_flavor
            stored.task_state, stored.updated_at = instance.task_state, instance.updated_at


class MemoryMigrationStore:
    def __init__(self) -> None:
        self.migrations: dict[str, Migration] = {}

    def add(self, migration: Migration) -> None:
        migration.id = len(self.migrations) + 1
        self.migrations[migration.uuid] = migration

    def save(self, migration: Migration) -> None:
        self.migrations[migration.uuid] = migration

    def get(self, uuid: str) -> Migration | None:
        return self.migrations.get(uuid)

    def find(self, query: MigrationQuery) -> list[Migration]:
        found = sorted((m for m in self.migrations.values() if _migration_matches(m, query)),
                       key=lambda m: (m.created_at, m.id), reverse=True)
        if query.marker is not None:
            index = next((n for n, m in enumerate(found) if m.uuid == query.marker), None)
            if index is None:
                raise MarkerNotFound(query.marker)
            found = found[index + 1:]
        return found if query.limit is None else found[:query.limit]


def _migration_matches(migration: Migration, query: MigrationQuery) -> bool:
    if query.instance_uuid is not None and migration.instance_uuid != query.instance_uuid:
        return False
    if query.host is not None and query.host not in (migration.source_compute, migration.dest_compute):
        return False
    if query.source_compute is not None and migration.source_compute != query.source_compute:
        return False
    if query.statuses is not None and migration.status not in query.statuses:
        return False
    if query.migration_type is not None and migration.migration_type != query.migration_type:
        return False
    if query.changes_since is not None and migration.updated_at < query.changes_since:
        return False
    return query.changes_before is None or migration.updated_at <= query.changes_before
