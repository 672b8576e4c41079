"""Placement for a served cloud: SQL is the truth, the scheduler's columns are a write-through cache.

Every claim is first made in SQL (compare-and-swap on provider generations, so another
scheduler or an operator's ``PUT /allocations`` can never be overcommitted), and only then
mirrored into the columns the scheduler decides on. Registration makes the host's resource
provider (named after the hypervisor, as Nova names them), its inventories and traits, and
loads the allocations it already holds, so a restarted cloud schedules on what is really used.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from twinstack.core.compute.model import ComputeHost
from twinstack.core.errors import Conflict
from twinstack.core.scheduler import placement as sql
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.placement_names import create_trait, trait_exists
from twinstack.db.models.placement import ResourceProvider

PROVIDER_NAMESPACE = uuidlib.UUID("6f1b2b86-5a8e-4cb7-9a3e-2f5c1d7e9a10")


def provider_uuid(host: str) -> str:
    """A stable provider UUID per host, so re-registration finds the same provider."""
    return str(uuidlib.uuid5(PROVIDER_NAMESPACE, host))


def inventory_specs(host: ComputeHost) -> dict[str, sql.InventorySpec]:
    specs = {}
    for rc, inv in host.inventory.items():
        max_unit = inv.get("max_unit") or inv["total"]
        specs[rc] = sql.InventorySpec(total=inv["total"], reserved=inv.get("reserved", 0),
                                      min_unit=inv.get("min_unit", 1), max_unit=max_unit,
                                      step_size=inv.get("step_size", 1),
                                      allocation_ratio=inv.get("allocation_ratio", 1.0))
    return specs


class SqlBackedPlacement(ColumnarPlacement):
    """A ColumnarPlacement (so the scheduler decides on its columns directly) that writes through to SQL."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__()
        self.sessions = sessions
        self._uuid_of: dict[str, str] = {}

    def register_host(self, host: ComputeHost) -> None:
        self.register_hosts([host])

    def register_hosts(self, hosts: Sequence[ComputeHost]) -> None:
        """Providers for every host in one transaction (a commit per host made registering 5,000 simulated
        hosts take minutes on SQLite), then the allocations they already hold into the columns."""
        uuids = sql.run_in_transaction(self.sessions, lambda s: [self._ensure_provider(s, h) for h in hosts])
        for host, uuid in zip(hosts, uuids, strict=True):
            self._uuid_of[host.host] = uuid
            super().register_host(host)
        with self.sessions() as session:
            for host, uuid in zip(hosts, uuids, strict=True):
                _, held = sql.provider_allocations(session, uuid)
                for consumer, (_generation, resources) in held.items():
                    if self.host_of(consumer) is None:
                        owner = sql.consumer_allocations(session, consumer)
                        super().claim(consumer, owner.project_id or "", owner.user_id or "", host.host,
                                      dict(resources))

    def _ensure_provider(self, session: Session, host: ComputeHost) -> str:
        name = host.hypervisor_hostname
        existing = session.scalar(select(ResourceProvider.uuid).where(ResourceProvider.name == name))
        uuid = existing or sql.create_provider(session, name, provider_uuid(host.host)).uuid
        provider, current = sql.get_inventories(session, uuid)
        wanted = inventory_specs(host)
        if dict(current) != wanted:
            sql.set_inventories(session, uuid, provider.generation, wanted)
        known: set[str] = set()
        for trait in set(host.traits):
            if trait_exists(session, trait):
                known.add(trait)
            elif trait.startswith("CUSTOM_"):
                create_trait(session, trait)
                known.add(trait)
            # a standard name Placement does not know is left out of the provider, not invented
        provider, traits = sql.get_traits(session, uuid)
        if sorted(traits) != sorted(known):
            sql.set_traits(session, uuid, provider.generation, sorted(known))
        return uuid

    def claim(self, consumer: str, project_id: str, user_id: str, host: str, resources: dict[str, int]) -> bool:
        """Claim in SQL first (the truth, guarded by generations), then in the columns."""
        uuid = self._uuid_of.get(host)
        if uuid is None or not self.fits(host, resources) or self.host_of(consumer) is not None:
            return False
        wanted = sql.ConsumerClaim(consumer, {uuid: {rc: n for rc, n in resources.items() if n}}, project_id,
                                   user_id, generation=None)
        try:
            sql.run_in_transaction(self.sessions, lambda s: sql.claim(s, [wanted]))
        except Conflict:
            return False
        return super().claim(consumer, project_id, user_id, host, resources)

    def release(self, consumer: str) -> None:
        with self.sessions() as session, session.begin():
            sql.release(session, consumer)
        super().release(consumer)

    def move(self, source: str, target: str) -> bool:
        """In SQL one claim writes both consumers (the target, typed MIGRATION as Nova's are, takes exactly
        what the source held; the source is emptied), so no provider's usage changes; then the columns.
        Handed back from a migration, the allocation is the instance's again (typed INSTANCE)."""
        if self.host_of(source) is None or self.host_of(target) is not None:
            return False

        def hand_over(session: Session) -> None:
            held = sql.consumer_allocations(session, source)
            allocations = {p: dict(a.resources) for p, a in held.allocations.items()}
            project, user = held.project_id or "", held.user_id or ""
            kind = "INSTANCE" if held.consumer_type == "MIGRATION" else "MIGRATION"
            sql.claim(session, [sql.ConsumerClaim(target, allocations, project, user, generation=None,
                                                  consumer_type=kind),
                                sql.ConsumerClaim(source, {}, project, user)])

        try:
            sql.run_in_transaction(self.sessions, hand_over)
        except Conflict:
            return False
        return super().move(source, target)
