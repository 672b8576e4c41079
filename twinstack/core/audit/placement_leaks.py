"""Placement's leaks: allocations nobody holds any more, and providers allocated beyond their capacity.

Only compute nodes' providers are audited (as ``nova-manage placement audit`` does): other providers' consumers
(whatever an operator allocated through the placement API) are not compute's to judge.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Select, func, not_, select
from sqlalchemy.orm import Session

from twinstack.core.audit.findings import AuditContext, Finding
from twinstack.core.audit.live import allocation_owner
from twinstack.core.scheduler import placement
from twinstack.db.models.compute import ComputeHostRow, InstanceRow
from twinstack.db.models.placement import Allocation, Inventory, ResourceProvider


def _compute_providers() -> Select[int]:
    return select(ResourceProvider.id).where(ResourceProvider.name.in_(select(ComputeHostRow.hypervisor_hostname)))


class OrphanAllocations:
    """Allocations on a compute node whose consumer is no live instance (deleted, never recorded, or in ERROR
    without a host) and no migration under way. Repair: the consumer's allocations are deleted, as Nova's
    ``placement audit --delete`` does; releasing cannot overcommit anything, so no generation is swapped."""

    name = "orphan_allocation"

    def find(self, session: Session, context: AuditContext) -> list[Finding]:
        rows = session.execute(
            select(Allocation.consumer_uuid, ResourceProvider.name, Allocation.resource_class, Allocation.used)
            .join(ResourceProvider, ResourceProvider.id == Allocation.provider_id)
            .where(Allocation.provider_id.in_(_compute_providers()), not_(allocation_owner(Allocation.consumer_uuid)))
            .order_by(Allocation.consumer_uuid, ResourceProvider.name, Allocation.resource_class))
        held: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for consumer, provider, resource_class, used in rows:
            held[consumer][provider].append(f"{resource_class}={used}")
        findings = []
        for consumer, providers in held.items():
            where = "; ".join(f"{', '.join(amounts)} on {provider}" for provider, amounts in providers.items())
            findings.append(Finding(self.name, consumer, f"consumer {consumer} ({_whose(session, consumer)}) holds "
                                                         f"{where}"))
        return findings

    def repair(self, session: Session, context: AuditContext, finding: Finding) -> str:
        placement.release(session, finding.subject)
        return "deleted its allocations"


def _whose(session: Session, consumer: str) -> str:
    row = session.get(InstanceRow, consumer)
    if row is None:
        return "no instance or migration"
    if row.deleted:
        return "instance deleted"
    return f"instance in {row.vm_state} without a host"


class OverCapacity:
    """Providers whose allocations of a resource class exceed its capacity ((total - reserved) * ratio). Not
    repaired: which consumer should lose its resources is an operator's decision (orphans are removed first, and
    that is often enough)."""

    name = "over_capacity"

    def find(self, session: Session, context: AuditContext) -> list[Finding]:
        used = (select(Allocation.provider_id, Allocation.resource_class, func.sum(Allocation.used).label("used"))
                .group_by(Allocation.provider_id, Allocation.resource_class).subquery())
        rows = session.execute(
            select(ResourceProvider.uuid, ResourceProvider.name, Inventory, used.c.used)
            .join(Inventory, Inventory.provider_id == ResourceProvider.id)
            .join(used, (used.c.provider_id == Inventory.provider_id)
                  & (used.c.resource_class == Inventory.resource_class))
            .order_by(ResourceProvider.name, Inventory.resource_class))
        findings = []
        for uuid, name, inventory, total_used in rows:
            room = placement.InventorySpec(inventory.total, inventory.reserved,
                                           allocation_ratio=inventory.allocation_ratio).capacity
            if total_used > room:
                findings.append(Finding(self.name, f"{uuid}/{inventory.resource_class}",
                                        f"provider {name} has {total_used} {inventory.resource_class} allocated, "
                                        f"capacity {room}", repairable=False))
        return findings

    def repair(self, session: Session, context: AuditContext, finding: Finding) -> str:
        raise NotImplementedError("over-capacity is reported, never repaired")  # the runner skips unrepairable ones
