"""What an operator sees of the hosts: hypervisors with their usage, and compute services with their state.

A host is both a hypervisor (one node per host, as with libvirt) and a ``nova-compute`` service;
the control plane adds its own ``nova-conductor`` and ``nova-scheduler`` services, in the internal
zone, always up while the API answers. A service is up when it heartbeat within
``service_down_time`` and was not forced down; disabling one keeps new builds off its host (the
scheduler honours ComputeHost.disabled) without touching what runs there.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass

from twinstack.core.compute.aggregates import INTERNAL_ZONE, effective_zones
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.model import ComputeHost, Instance
from twinstack.core.compute.stores import HostLoad, InstanceQuery
from twinstack.core.errors import BadRequest, NotFound

COMPUTE = "nova-compute"
CONTROL_SERVICES = ("nova-conductor", "nova-scheduler")
_IDS = uuidlib.UUID("0c1a6f8e-5b1e-4d6a-9a57-7e3f4c2b9d10")
"""Namespace of the services' uuids, derived so that they stay the same across restarts."""


def is_up(host: ComputeHost, now: float, service_down_time: float) -> bool:
    """Nova's servicegroup: alive if it reported lately and no operator forced it down."""
    return not host.forced_down and now - host.last_heartbeat <= service_down_time


# services ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    id: int
    """Nova's service id before 2.53: the control services are 1 and 2, a host's is its id + 2."""
    uuid: str
    binary: str
    host: str
    zone: str
    disabled: bool
    disabled_reason: str | None
    forced_down: bool
    up: bool
    updated_at: float


def _compute_service(host: ComputeHost, zone: str, now: float, down_time: float) -> Service:
    return Service(id=host.id + len(CONTROL_SERVICES), uuid=str(uuidlib.uuid5(_IDS, f"{COMPUTE}/{host.uuid}")),
                   binary=COMPUTE, host=host.host, zone=zone, disabled=host.disabled,
                   disabled_reason=host.disabled_reason, forced_down=host.forced_down,
                   up=is_up(host, now, down_time), updated_at=host.last_heartbeat)


def control_services(control_host: str, now: float) -> list[Service]:
    return [Service(id=n + 1, uuid=str(uuidlib.uuid5(_IDS, f"{binary}/{control_host}")), binary=binary,
                    host=control_host, zone=INTERNAL_ZONE, disabled=False, disabled_reason=None, forced_down=False,
                    up=True, updated_at=now) for n, binary in enumerate(CONTROL_SERVICES)]


def list_services(compute: ComputeContext, control_host: str, host: str | None = None,
                  binary: str | None = None) -> list[Service]:
    """The control plane's services, then one nova-compute per host; filtered by host and binary if given."""
    now = compute.now()
    hosts = compute.hosts.all()
    zones = effective_zones(hosts, compute.aggregates.all())
    found = control_services(control_host, now) + [
        _compute_service(h, zones[h.host], now, compute.service_down_time) for h in hosts]
    return [s for s in found if (host is None or s.host == host) and (binary is None or s.binary == binary)]


def update_service(compute: ComputeContext, host: str, disabled: bool | None = None,
                   disabled_reason: str | None = None, forced_down: bool | None = None) -> Service:
    """Enable or disable a host's compute service, or force it down (or up again); returns it as it now is."""
    changed = compute.hosts.set_service(host, disabled, disabled_reason, forced_down)
    if changed is None:
        raise NotFound(f"Compute host {host} could not be found.")
    compute.service.hosts_changed(f"service of {host} updated")
    zone = effective_zones([changed], compute.aggregates.all())[changed.host]
    return _compute_service(changed, zone, compute.now(), compute.service_down_time)


def find_service(compute: ComputeContext, control_host: str, service_uuid: str) -> Service:
    for service in list_services(compute, control_host):
        if service.uuid == service_uuid:
            return service
    raise NotFound(f"Service {service_uuid} could not be found.")


# hypervisors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hypervisor:
    """A host as os-hypervisors shows it: capacity from its inventory, use from Placement and its servers."""

    host: ComputeHost
    service: Service
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    """Allocated plus reserved, as Nova's resource tracker counts it."""
    local_gb: int
    local_gb_used: int
    running_vms: int
    current_workload: int
    """Servers on the host with a task under way (building, resizing, rebooting...)."""

    @property
    def free_ram_mb(self) -> int:
        return self.memory_mb - self.memory_mb_used

    @property
    def free_disk_gb(self) -> int:
        return self.local_gb - self.local_gb_used


def _total(host: ComputeHost, rc: str) -> int:
    return int(host.inventory.get(rc, {}).get("total", 0))


def _reserved(host: ComputeHost, rc: str) -> int:
    return int(host.inventory.get(rc, {}).get("reserved", 0))


def list_hypervisors(compute: ComputeContext, pattern: str | None = None) -> list[Hypervisor]:
    """Every hypervisor (by id), or those whose hostname contains ``pattern`` (any case; NotFound if none)."""
    now = compute.now()
    hosts = compute.hosts.all()
    if pattern is not None:
        hosts = [h for h in hosts if pattern.lower() in h.hypervisor_hostname.lower()]
        if not hosts:
            raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    zones = effective_zones(hosts, compute.aggregates.all())
    loads = compute.instances.load_by_host()
    idle = HostLoad(0, 0)
    found = []
    for host in hosts:
        used = compute.placement.usage(host.host)
        load = loads.get(host.host, idle)
        found.append(Hypervisor(
            host=host, service=_compute_service(host, zones[host.host], now, compute.service_down_time),
            vcpus=_total(host, "VCPU"), vcpus_used=used.get("VCPU", 0), memory_mb=_total(host, "MEMORY_MB"),
            memory_mb_used=used.get("MEMORY_MB", 0) + _reserved(host, "MEMORY_MB"),
            local_gb=_total(host, "DISK_GB"), local_gb_used=used.get("DISK_GB", 0) + _reserved(host, "DISK_GB"),
            running_vms=load.instances, current_workload=load.busy))
    return sorted(found, key=lambda h: h.host.id)


def get_hypervisor(compute: ComputeContext, hypervisor_id: str) -> Hypervisor:
    """By number (before 2.53) or uuid; NotFound in Nova's words."""
    for hypervisor in list_hypervisors(compute):
        if hypervisor_id in (str(hypervisor.host.id), hypervisor.host.uuid):
            return hypervisor
    raise NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")


def page(hypervisors: list[Hypervisor], limit: int | None, marker: str | None) -> list[Hypervisor]:
    """The hypervisors after ``marker`` (a hypervisor id, BadRequest if unknown), at most ``limit``."""
    if marker is not None:
        index = next((n for n, h in enumerate(hypervisors) if marker in (str(h.host.id), h.host.uuid)), None)
        if index is None:
            raise BadRequest(f"marker [{marker}] not found")
        hypervisors = hypervisors[index + 1:]
    return hypervisors if limit is None else hypervisors[:limit]


def servers_on(compute: ComputeContext, host: str) -> list[Instance]:
    """The live servers placed on ``host``, oldest first."""
    return compute.instances.find(InstanceQuery(host=host, sort=(("created_at", "asc"),)))


@dataclass(frozen=True)
class Statistics:
    count: int
    vcpus: int
    vcpus_used: int
    memory_mb: int
    memory_mb_used: int
    local_gb: int
    local_gb_used: int
    running_vms: int
    current_workload: int

    @property
    def free_ram_mb(self) -> int:
        return self.memory_mb - self.memory_mb_used

    @property
    def free_disk_gb(self) -> int:
        return self.local_gb - self.local_gb_used


def statistics(compute: ComputeContext) -> Statistics:
    """The sums over every hypervisor (os-hypervisors/statistics)."""
    found = list_hypervisors(compute)
    return Statistics(
        count=len(found), vcpus=sum(h.vcpus for h in found), vcpus_used=sum(h.vcpus_used for h in found),
        memory_mb=sum(h.memory_mb for h in found), memory_mb_used=sum(h.memory_mb_used for h in found),
        local_gb=sum(h.local_gb for h in found), local_gb_used=sum(h.local_gb_used for h in found),
        running_vms=sum(h.running_vms for h in found), current_workload=sum(h.current_workload for h in found))
