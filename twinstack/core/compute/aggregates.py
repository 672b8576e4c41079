"""Host aggregates, as Nova's admins make them: named sets of hosts with metadata, and how zones are made.

An aggregate whose metadata has ``availability_zone`` puts its hosts in that zone; a host may sit in
several aggregates but in one zone only, so a change that would give a host two zones is refused
(as Nova refuses it: 409 when adding a host, 400 when changing an aggregate's zone). The scheduler
reads membership and zones from the same store the API writes (:func:`effective_zones`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from twinstack.core.compute.model import Aggregate, ComputeHost
from twinstack.core.compute.stores import AggregateStore, HostStore
from twinstack.core.errors import BadRequest, Conflict, NotFound

ZONE_KEY = "availability_zone"
INTERNAL_ZONE = "internal"
"""The zone Nova lists its control services in; no aggregate may claim it."""


class AggregateNotFound(NotFound):
    def __init__(self, aggregate_id: int | str) -> None:
        super().__init__(f"Aggregate {aggregate_id} could not be found.")


def effective_zones(hosts: Iterable[ComputeHost], aggregates: Iterable[Aggregate]) -> dict[str, str]:
    """Each host's availability zone: its aggregate's when it is in one with a zone (the lowest aggregate id
    wins, should two disagree), else the zone its agent reported."""
    zones = {host.host: host.availability_zone for host in hosts}
    for aggregate in sorted(aggregates, key=lambda a: a.id, reverse=True):
        if aggregate.availability_zone:
            for name in aggregate.hosts & zones.keys():
                zones[name] = aggregate.availability_zone
    return zones


def effective_zone(host: str, own_zone: str, aggregates: Iterable[Aggregate]) -> str:
    """One host's availability zone, as :func:`effective_zones` gives it: the zone of the aggregate of lowest id
    with a zone that holds it, else ``own_zone`` (its agent's)."""
    zones = [(a.id, a.availability_zone) for a in aggregates if a.availability_zone and host in a.hosts]
    return min(zones)[1] if zones else own_zone


def get_aggregate(store: AggregateStore, aggregate_id: int) -> Aggregate:
    found = store.get(aggregate_id)
    if found is None:
        raise AggregateNotFound(aggregate_id)
    return found


def _zone_problem(store: AggregateStore, aggregate: Aggregate, zone: str | None,
                  hosts: Iterable[str] | None = None) -> str | None:
    """Why ``aggregate`` (with ``hosts``, its own by default) cannot be in ``zone``, or None if it can."""
    if zone is None:
        return None
    if not zone.strip():
        return f"Aggregate {aggregate.name} does not support empty named availability zone"
    if zone == INTERNAL_ZONE:
        return f"The {INTERNAL_ZONE} availability zone is reserved for the control plane's services"
    members = set(aggregate.hosts if hosts is None else hosts)
    conflicting = [other.availability_zone for other in store.all()
                   if other.id != aggregate.id and other.availability_zone and other.availability_zone != zone
                   and other.hosts & members]
    if conflicting:
        return f"One or more hosts already in availability zone(s) {conflicting}"
    return None


def create_aggregate(store: AggregateStore, name: str, zone: str | None, now: float) -> Aggregate:
    """A new, empty aggregate (in ``zone`` if given); Conflict if the name is taken."""
    if zone == INTERNAL_ZONE:
        raise BadRequest(f"Cannot create aggregate {name}. Reason: The {INTERNAL_ZONE} availability zone is "
                         f"reserved for the control plane's services.")
    return store.create(name, {ZONE_KEY: zone} if zone else {}, now)


def update_aggregate(store: AggregateStore, aggregate_id: int, name: str | None, zone: str | None,
                     now: float) -> Aggregate:
    aggregate = get_aggregate(store, aggregate_id)
    problem = _zone_problem(store, aggregate, zone)
    if problem:
        raise BadRequest(f"Cannot update aggregate {aggregate_id}. Reason: {problem}.")
    if name is not None:
        aggregate.name = name
    if zone is not None:
        aggregate.metadata[ZONE_KEY] = zone
    aggregate.updated_at = now
    store.save(aggregate)
    return aggregate


def set_metadata(store: AggregateStore, aggregate_id: int, metadata: Mapping[str, str | None],
                 now: float) -> Aggregate:
    """Merge ``metadata`` into the aggregate's; a key given as None is removed (as Nova does)."""
    aggregate = get_aggregate(store, aggregate_id)
    problem = _zone_problem(store, aggregate, metadata.get(ZONE_KEY))
    if problem:
        raise BadRequest(f"Cannot update metadata of aggregate {aggregate_id}. Reason: {problem}.")
    for key, value in metadata.items():
        if value is None:
            aggregate.metadata.pop(key, None)
        else:
            aggregate.metadata[key] = value
    aggregate.updated_at = now
    store.save(aggregate)
    return aggregate


def _known_host(hosts: HostStore, host: str) -> None:
    if hosts.get(host) is None:
        raise NotFound(f"Compute host {host} could not be found.")


def add_host(store: AggregateStore, hosts: HostStore, aggregate_id: int, host: str, now: float) -> Aggregate:
    _known_host(hosts, host)
    aggregate = get_aggregate(store, aggregate_id)
    if host in aggregate.hosts:
        raise Conflict(f"Aggregate {aggregate_id} already has host {host}.")
    problem = _zone_problem(store, aggregate, aggregate.availability_zone, [host])
    if problem:
        raise Conflict(f"Cannot add host to aggregate {aggregate_id}. Reason: {problem}.")
    aggregate.hosts.add(host)
    aggregate.updated_at = now
    store.save(aggregate)
    return aggregate


def remove_host(store: AggregateStore, hosts: HostStore, aggregate_id: int, host: str, now: float) -> Aggregate:
    aggregate = store.get(aggregate_id)
    if aggregate is None or host not in aggregate.hosts or hosts.get(host) is None:
        raise NotFound(f"Cannot remove host {host} in aggregate {aggregate_id}")
    aggregate.hosts.discard(host)
    aggregate.updated_at = now
    store.save(aggregate)
    return aggregate


def delete_aggregate(store: AggregateStore, aggregate_id: int) -> None:
    """Only an empty aggregate may go."""
    aggregate = get_aggregate(store, aggregate_id)
    if aggregate.hosts:
        raise BadRequest(f"Cannot remove host from aggregate {aggregate_id}. Reason: Host aggregate is not empty.")
    store.delete(aggregate_id)
