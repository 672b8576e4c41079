"""The resource providers of many compute hosts, made or brought up to date with a few set-based statements.

An agent registers its hosts in one message, thousands at a time. Made one host at a time through Placement's own
calls (find the provider, create it, read and replace its inventories, check each trait, read and replace its
traits), that was some 24 statements per new host and 8 per known one: 5,000 hosts took minutes on PostgreSQL,
with a conductor busy all along. Here every step is done for all the hosts at once, 500 to a statement: read what
exists, check, swap the generations, write what differs.

The end state is the one the per-host calls leave (twinstack.core.scheduler.placement): each host has a provider
named after its hypervisor (made with :func:`provider_uuid` when new, generation 0, its own root); its inventories
and traits are replaced only where they differ, each replacement bumping the generation by one as a compare-and-
swap (ConcurrentUpdate if another writer moved it meanwhile, so the caller's transaction is run again); a custom
trait the host reports is created, a standard name Placement does not know is left out. The same refusals too:
an unknown resource class or an invalid inventory (BadRequest), an inventory removed or shrunk below what is
allocated (InventoryInUse), a new provider whose UUID another name holds (DuplicateName). Allocations are never
touched: a host registering again keeps what it holds.
"""

from __future__ import annotations

import uuid as uuidlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TypeVar

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from twinstack.core.compute.model import ComputeHost
from twinstack.core.scheduler import placement as sql
from twinstack.core.scheduler.placement_names import (
    STANDARD_TRAITS,
    DuplicateName,
    create_trait,
    require_resource_classes,
)
from twinstack.db.models.placement import Allocation, CustomTrait, Inventory, ProviderTrait, ResourceProvider

PROVIDER_NAMESPACE = uuidlib.UUID("6f1b2b86-5a8e-4cb7-9a3e-2f5c1d7e9a10")
CHUNK = 500
"""Names or ids per IN list (well under SQLite's and PostgreSQL's bound-parameter limits)."""

T = TypeVar("T")


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


def chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def ensure_providers(session: Session, hosts: Sequence[ComputeHost]) -> list[str]:
    """Every host's provider made or brought up to date (see the module's docstring); their UUIDs, in order.

    Hosts sharing a hypervisor name share its provider, which ends with the last one's inventories and traits."""
    last_of: dict[str, ComputeHost] = {host.hypervisor_hostname: host for host in hosts}
    first_of: dict[str, ComputeHost] = {}
    for host in hosts:
        first_of.setdefault(host.hypervisor_hostname, host)
    names = list(last_of)
    found = _providers_named(session, names)
    _create_providers(session, [(name, provider_uuid(first_of[name].host)) for name in names if name not in found])
    found.update(_providers_named(session, [name for name in names if name not in found]))
    ids = [found[name][0] for name in names]
    bumps: dict[int, int] = defaultdict(int)
    inventories = _changed_inventories(session, {found[name][0]: inventory_specs(last_of[name]) for name in names},
                                       {found[name][0]: found[name][1] for name in names})
    traits = _changed_traits(session, {found[name][0]: last_of[name].traits for name in names}, ids)
    for provider_id in (*inventories, *traits):
        bumps[provider_id] += 1
    _bump_generations(session, {found[name][0]: found[name][2] for name in names}, bumps)
    _replace(session, Inventory, [{"provider_id": pid, "resource_class": rc, **_columns(spec)}
                                  for pid, specs in inventories.items() for rc, spec in specs.items()],
             list(inventories))
    _replace(session, ProviderTrait, [{"provider_id": pid, "trait": trait}
                                      for pid, wanted in traits.items() for trait in wanted], list(traits))
    return [found[host.hypervisor_hostname][1] for host in hosts]


def _providers_named(session: Session, names: Sequence[str]) -> dict[str, tuple[int, str, int]]:
    """name -> (id, uuid, generation) of the providers that exist among ``names``."""
    found: dict[str, tuple[int, str, int]] = {}
    for part in chunks(names):
        for pid, uuid, name, generation in session.execute(
                select(ResourceProvider.id, ResourceProvider.uuid, ResourceProvider.name, ResourceProvider.generation)
                .where(ResourceProvider.name.in_(part))):
            found[name] = (pid, uuid, generation)
    return found


def _create_providers(session: Session, wanted: Sequence[tuple[str, str]]) -> None:
    """New root providers (name, uuid) at generation 0; DuplicateName if a UUID is taken (under another name)."""
    for part in chunks(wanted):
        uuids = [uuid for _name, uuid in part]
        taken = session.scalars(select(ResourceProvider.uuid).where(ResourceProvider.uuid.in_(uuids))).first()
        if taken is not None:
            raise DuplicateName(f"Conflicting resource provider uuid: {taken} already exists.")
        session.execute(insert(ResourceProvider), [{"uuid": uuid, "name": name, "generation": 0}
                                                   for name, uuid in part])
        session.execute(update(ResourceProvider).where(ResourceProvider.uuid.in_(uuids))
                        .values(root_provider_id=ResourceProvider.id))


def _changed_inventories(session: Session, wanted: dict[int, dict[str, sql.InventorySpec]],
                         uuid_of: dict[int, str]) -> dict[int, dict[str, sql.InventorySpec]]:
    """The providers whose inventories differ from ``wanted``, with what they are to hold, checked as
    ``placement.set_inventories`` checks them."""
    current: dict[int, dict[str, sql.InventorySpec]] = {pid: {} for pid in wanted}
    for part in chunks(list(wanted)):
        for row in session.scalars(select(Inventory).where(Inventory.provider_id.in_(part))):
            current[row.provider_id][row.resource_class] = sql.InventorySpec(
                row.total, row.reserved, row.min_unit, row.max_unit, row.step_size, row.allocation_ratio)
    changed = {pid: specs for pid, specs in wanted.items() if current[pid] != specs}
    if not changed:
        return {}
    require_resource_classes(session, {rc for specs in changed.values() for rc in specs})
    for specs in changed.values():
        for rc, spec in specs.items():
            sql.check_inventory(rc, spec)
    used: dict[int, dict[str, int]] = defaultdict(dict)
    for part in chunks(list(changed)):
        for pid, rc, amount in session.execute(
                select(Allocation.provider_id, Allocation.resource_class, func.sum(Allocation.used))
                .where(Allocation.provider_id.in_(part)).group_by(Allocation.provider_id, Allocation.resource_class)):
            used[pid][rc] = int(amount)
    for pid, specs in changed.items():
        gone = sorted(rc for rc in used[pid] if rc not in specs)
        if gone:
            raise sql.InventoryInUse(f"Inventory for '{', '.join(gone)}' on resource provider '{uuid_of[pid]}' in use.")
        for rc, spec in specs.items():
            if used[pid].get(rc, 0) > sql.capacity(spec):
                raise sql.InventoryInUse(
                    f"Inventory for '{rc}' on resource provider '{uuid_of[pid]}' in use: the new capacity "
                    f"{sql.capacity(spec)} is below the {used[pid][rc]} already allocated.")
    return changed


def _changed_traits(session: Session, reported: dict[int, list[str]], ids: Sequence[int]) -> dict[int, list[str]]:
    """The providers whose traits differ from what their hosts report, with the traits they are to carry (sorted):
    a custom trait is created if new, a standard name Placement does not know is left out."""
    custom = sorted({t for traits in reported.values() for t in traits if t not in STANDARD_TRAITS})
    known = set(STANDARD_TRAITS)
    for part in chunks(custom):
        known.update(session.scalars(select(CustomTrait.name).where(CustomTrait.name.in_(part))))
    for trait in custom:
        if trait not in known and trait.startswith("CUSTOM_"):
            create_trait(session, trait)
            known.add(trait)
    current: dict[int, list[str]] = {pid: [] for pid in ids}
    for id_part in chunks(list(ids)):
        for pid, trait in session.execute(select(ProviderTrait.provider_id, ProviderTrait.trait)
                                          .where(ProviderTrait.provider_id.in_(id_part))):
            current[pid].append(trait)
    changed: dict[int, list[str]] = {}
    for pid, traits in reported.items():
        wanted = sorted({t for t in traits if t in known})
        if sorted(current[pid]) != wanted:
            changed[pid] = wanted
    return changed


def _bump_generations(session: Session, generation_of: dict[int, int], bumps: dict[int, int]) -> None:
    """Each provider's generation up by its count of changes, a compare-and-swap per group of providers at the same
    generation: ConcurrentUpdate if any of them moved since it was read."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for pid, count in bumps.items():
        groups[(generation_of[pid], count)].append(pid)
    for (expected, count), pids in groups.items():
        for part in chunks(pids):
            result = session.connection().execute(
                update(ResourceProvider)
                .where(ResourceProvider.id.in_(part), ResourceProvider.generation == expected)
                .values(generation=ResourceProvider.generation + count))
            if result.rowcount != len(part):
                raise sql.ConcurrentUpdate("resource provider generation conflict")


def _replace(session: Session, table: type[Inventory] | type[ProviderTrait], rows: list[dict[str, object]],
             provider_ids: Sequence[int]) -> None:
    """The rows of ``table`` for ``provider_ids`` replaced by ``rows``."""
    for part in chunks(provider_ids):
        session.execute(delete(table).where(table.provider_id.in_(part)))
    if rows:
        session.execute(insert(table), rows)


def _columns(spec: sql.InventorySpec) -> dict[str, object]:
    return {"total": spec.total, "reserved": spec.reserved, "min_unit": spec.min_unit, "max_unit": spec.max_unit,
            "step_size": spec.step_size, "allocation_ratio": spec.allocation_ratio}
