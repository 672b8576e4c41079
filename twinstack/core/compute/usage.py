"""os-simple-tenant-usage: what each project's servers used over a window, in hours of flavor.

A server counts from when it launched (or the window's start) to when it was terminated (or the
window's end); one never launched counts nothing. The totals multiply those hours by the flavor's
vCPUs, RAM and disk (root + ephemeral), as Nova's simple usage does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twinstack.core.compute.model import Instance
from twinstack.core.compute.stores import InstanceQuery, InstanceStore
from twinstack.core.errors import BadRequest


def hours_for(instance: Instance, start: float, stop: float) -> float:
    """Hours of the window [start, stop] the instance was up."""
    launched, terminated = instance.launched_at, instance.terminated_at
    if launched is None or launched > stop or (terminated is not None and terminated < start):
        return 0.0
    end = min(stop, terminated) if terminated is not None else stop
    return max(0.0, end - max(launched, start)) / 3600.0


@dataclass(frozen=True)
class ServerUsage:
    instance: Instance
    hours: float
    uptime: int
    """Seconds from launch to termination, or to now while it lives."""

    @property
    def local_gb(self) -> int:
        return self.instance.flavor.disk_gb + self.instance.flavor.ephemeral_gb

    @property
    def state(self) -> str:
        return "terminated" if self.instance.terminated_at is not None else self.instance.vm_state


@dataclass
class TenantUsage:
    project_id: str
    start: float
    stop: float
    total_hours: float = 0.0
    total_vcpus_usage: float = 0.0
    total_memory_mb_usage: float = 0.0
    total_local_gb_usage: float = 0.0
    servers: list[ServerUsage] = field(default_factory=list)

    def add(self, usage: ServerUsage) -> None:
        flavor = usage.instance.flavor
        self.total_hours += usage.hours
        self.total_vcpus_usage += flavor.vcpus * usage.hours
        self.total_memory_mb_usage += flavor.ram_mb * usage.hours
        self.total_local_gb_usage += usage.local_gb * usage.hours
        self.servers.append(usage)


def active_in_window(instances: InstanceStore, start: float, stop: float,
                     project_id: str | None = None) -> list[Instance]:
    """Instances launched before ``stop`` and not terminated before ``start`` (deleted ones included),
    oldest first (created_at, then uuid)."""
    live = instances.find(InstanceQuery(project_id=project_id, sort=(("created_at", "asc"),)))
    gone = instances.find(InstanceQuery(project_id=project_id, deleted=True, changes_since=start,
                                        sort=(("created_at", "asc"),)))
    found = [i for i in live + gone if i.launched_at is not None and i.launched_at < stop
             and (i.terminated_at is None or i.terminated_at > start)]
    return sorted(found, key=lambda i: (i.created_at, i.uuid))


def tenant_usages(instances: InstanceStore, start: float, stop: float, now: float, project_id: str | None = None,
                  limit: int | None = None, marker: str | None = None) -> tuple[list[TenantUsage], str | None]:
    """Each project's usage over [start, stop] (one project if named), in the order its servers were made;
    with ``limit``/``marker`` (a server uuid) the servers are paged. Also returns the marker of the next page
    (the last server counted, when the page is full)."""
    if start >= stop:
        raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
    found = active_in_window(instances, start, stop, project_id)
    if marker is not None:
        index = next((n for n, i in enumerate(found) if i.uuid == marker), None)
        if index is None:
            raise BadRequest(f"marker [{marker}] not found")
        found = found[index + 1:]
    if limit is not None:
        found = found[:limit]
    usages: dict[str, TenantUsage] = {}
    for instance in found:
        ended = instance.terminated_at if instance.terminated_at is not None else now
        assert instance.launched_at is not None
        usage = ServerUsage(instance, hours_for(instance, start, stop), int(ended - instance.launched_at))
        usages.setdefault(instance.project_id, TenantUsage(instance.project_id, start, stop)).add(usage)
    following = found[-1].uuid if found and limit is not None and len(found) == limit else None
    return list(usages.values()), following
