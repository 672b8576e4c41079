"""Placement's resource accounting: providers, inventories, traits, aggregates, claims and usages.

Two halves. The capacity maths is pure: an :class:`InventorySpec` knows its capacity, and
:func:`fits` says whether an amount can be added to what is used. The database operations take a
:class:`~sqlalchemy.orm.Session` (one transaction, opened by the caller) -- the claims, releases
and a consumer's allocations also a Core Connection, as the scheduler makes one per build -- and
keep one invariant:

    for every provider and resource class, the sum of the allocations is at most
    (total - reserved) * allocation_ratio.

Every writer that can break it (a claim, an inventory change) first reads the provider's
generation, then the usage (a claim: both in one statement), checks, and finally bumps the
generation with a compare-and-swap
(``UPDATE ... SET generation = generation + 1 WHERE id = ? AND generation = ?``). Generations only
grow, so a successful swap proves nobody changed the provider between the read and the write:
any number of claimers over PostgreSQL can race, one wins each round, the others see
:class:`ConcurrentUpdate` and retry (:func:`run_in_transaction`) on fresh data.
"""

from __future__ import annotations

import uuid as uuidlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar, overload

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.core.scheduler.placement_names import (
    DuplicateName,
    require_resource_classes,
    require_traits,
)
from twinstack.db.base import Base
from twinstack.db.models.placement import (
    Allocation,
    Consumer,
    Inventory,
    ProviderAggregate,
    ProviderTrait,
    ResourceProvider,
)

MAX_INT = 2_147_483_647
T = TypeVar("T")


# Errors -----------------------------------------------------------------------------------------


class ConcurrentUpdate(Conflict):
    """A provider's or a consumer's generation moved under us: re-read and try again."""


class StaleConsumerGeneration(ConcurrentUpdate):
    """The consumer generation the caller gave is not the consumer's: retrying cannot help."""


class ProviderNotFound(NotFound):
    pass


class InventoryInUse(Conflict):
    """An inventory cannot go (or shrink) below what its allocations already use."""


class ProviderInUse(Conflict):
    """A provider holding allocations cannot be deleted."""


class CannotDeleteParent(Conflict):
    """A provider with children cannot be deleted."""


class CapacityExceeded(Conflict):
    """A claim does not fit the provider's inventory (capacity, min_unit, max_unit or step_size)."""


# Capacity maths (pure) --------------------------------------------------------------------------


class InventorySpec(NamedTuple):
    """One resource class of one provider, as an operator describes it (a tuple: cheap by the thousand)."""

    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = MAX_INT
    step_size: int = 1
    allocation_ratio: float = 1.0

    @property
    def capacity(self) -> int:
        return capacity(self)


def capacity(inventory: InventorySpec) -> int:
    """What may be allocated in all: (total - reserved) * allocation_ratio, rounded down."""
    return int((inventory.total - inventory.reserved) * inventory.allocation_ratio)


def unit_problem(inventory: InventorySpec, amount: int) -> str | None:
    """Why ``amount`` cannot be allocated in one piece from ``inventory``, or None if it can."""
    if amount < inventory.min_unit:
        return f"the amount {amount} is below min_unit {inventory.min_unit}"
    if amount > inventory.max_unit:
        return f"the amount {amount} is above max_unit {inventory.max_unit}"
    if amount % inventory.step_size:
        return f"the amount {amount} is not a multiple of step_size {inventory.step_size}"
    return None


def fits(inventory: InventorySpec, used: int, amount: int) -> bool:
    """Whether ``amount`` more can be allocated from ``inventory`` where ``used`` is already taken."""
    return unit_problem(inventory, amount) is None and used + amount <= capacity(inventory)


def free(inventory: InventorySpec, used: int) -> int:
    return capacity(inventory) - used


def check_inventory(resource_class: str, inventory: InventorySpec, reserved_may_equal_total: bool = True) -> None:
    """Refuse an inventory Placement would refuse: reserved above (or, before 1.26, equal to) total."""
    room = capacity(inventory)
    if room < 0 or (room == 0 and not reserved_may_equal_total and inventory.total > 0):
        relation = "greater than" if reserved_may_equal_total else "greater than or equal to"
        raise BadRequest(f"Invalid inventory for '{resource_class}'. The reserved value is {relation} total.")
    if inventory.min_unit > inventory.max_unit:
        raise BadRequest(f"Invalid inventory for '{resource_class}': min_unit is greater than max_unit.")


# Providers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    id: int
    uuid: str
    name: str
    generation: int
    parent_uuid: str | None
    root_uuid: str


_Parent = aliased(ResourceProvider)
_Root = aliased(ResourceProvider)
_PROVIDER_COLUMNS = (
    ResourceProvider.id,
    ResourceProvider.uuid,
    ResourceProvider.name,
    ResourceProvider.generation,
    _Parent.uuid,
    _Root.uuid,
)


def _provider_select() -> Select[int, str, str, int, str, str]:
    return (
        select(*_PROVIDER_COLUMNS)
        .outerjoin(_Parent, _Parent.id == ResourceProvider.parent_provider_id)
        .outerjoin(_Root, _Root.id == ResourceProvider.root_provider_id)
    )


def _to_provider(row: Sequence[object]) -> Provider:
    pid, uuid, name, generation, parent, root = row
    assert isinstance(pid, int) and isinstance(uuid, str) and isinstance(name, str)
    assert isinstance(generation, int)
    return Provider(pid, uuid, name, generation, parent if isinstance(parent, str) else None,
                    root if isinstance(root, str) else uuid)


def normalize_uuid(value: str, what: str = "UUID") -> str:
    """The canonical dashed lowercase form; BadRequest if ``value`` is no UUID."""
    try:
        return str(uuidlib.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise BadRequest(f"Malformed {what}: {value}") from None


def find_provider(session: Session, uuid: str) -> Provider | None:
    row = session.execute(_provider_select().where(ResourceProvider.uuid == uuid)).first()
    return _to_provider(tuple(row)) if row else None


def get_provider(session: Session, uuid: str) -> Provider:
    provider = find_provider(session, uuid)
    if provider is None:
        raise ProviderNotFound(f"No resource provider with uuid {uuid} found")
    return provider


def _provider_id(session: Session, uuid: str) -> int:
    pid = session.scalar(select(ResourceProvider.id).where(ResourceProvider.uuid == uuid))
    if pid is None:
        raise ProviderNotFound(f"No resource provider with uuid {uuid} found")
    return pid


def create_provider(session: Session, name: str, uuid: str | None = None, parent_uuid: str | None = None) -> Provider:
    """A new provider at generation 0, the root of its own tree or a child of ``parent_uuid``."""
    uuid = normalize_uuid(uuid) if uuid else str(uuidlib.uuid4())
    clash = session.execute(
        select(ResourceProvider.uuid, ResourceProvider.name).where(
            or_(ResourceProvider.uuid == uuid, ResourceProvider.name == name)
        )
    ).first()
    if clash is not None:
        what = f"uuid: {uuid}" if clash[0] == uuid else f"name: {name}"
        raise DuplicateName(f"Conflicting resource provider {what} already exists.")
    parent_id: int | None = None
    root_id: int | None = None
    if parent_uuid is not None:
        parent = session.execute(
            select(ResourceProvider.id, ResourceProvider.root_provider_id).where(ResourceProvider.uuid == parent_uuid)
        ).first()
        if parent is None:
            raise BadRequest(f"Unable to create resource provider \"{name}\", {uuid}: "
                             f"parent provider UUID {parent_uuid} does not exist.")
        parent_id, root_id = parent[0], parent[1]
    row = ResourceProvider(uuid=uuid, name=name, generation=0, parent_provider_id=parent_id)
    session.add(row)
    session.flush()
    row.root_provider_id = root_id if root_id is not None else row.id
    session.flush()
    return get_provider(session, uuid)


def _descendant_ids(session: Session, provider_id: int, root_id: int) -> set[int]:
    links = session.execute(
        select(ResourceProvider.id, ResourceProvider.parent_provider_id).where(
            ResourceProvider.root_provider_id == root_id
        )
    ).all()
    children: dict[int, list[int]] = defaultdict(list)
    for child, parent in links:
        if parent is not None:
            children[parent].append(child)
    found: set[int] = set()
    stack = [provider_id]
    while stack:
        for child in children[stack.pop()]:
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


UNCHANGED = object()
"""As ``parent_uuid`` of update_provider: leave the parent as it is."""


def update_provider(session: Session, uuid: str, name: str, parent_uuid: object = UNCHANGED,
                    allow_reparenting: bool = False) -> Provider:
    """Rename a provider and, if ``parent_uuid`` is given, set its parent.

    Before microversion 1.37 a parent may be given only to a provider without one; with
    ``allow_reparenting`` a provider may move under any provider outside its own subtree, or
    become a root again (``parent_uuid=None``); its whole subtree follows it to the new root.
    """
    row = session.scalar(select(ResourceProvider).where(ResourceProvider.uuid == uuid))
    if row is None:
        raise ProviderNotFound(f"No resource provider with uuid {uuid} found")
    if name != row.name:
        taken = session.scalar(select(exists().where(ResourceProvider.name == name, ResourceProvider.id != row.id)))
        if taken:
            raise DuplicateName(f"Conflicting resource provider {name} already exists.")
        row.name = name
    if parent_uuid is not UNCHANGED:
        current = get_provider(session, uuid).parent_uuid
        if parent_uuid != current:
            if not allow_reparenting and current is not None:
                raise BadRequest(f"Unable to save resource provider {uuid}: Object action update failed because: "
                                 + ("un-parenting a provider is not currently allowed." if parent_uuid is None
                                    else "re-parenting a provider is not currently allowed."))
            _reparent(session, row, parent_uuid if isinstance(parent_uuid, str) else None)
    session.flush()
    return get_provider(session, uuid)


def _reparent(session: Session, row: ResourceProvider, parent_uuid: str | None) -> None:
    subtree = _descendant_ids(session, row.id, row.root_provider_id or row.id)
    new_parent_id: int | None = None
    new_root: int | None = row.id
    if parent_uuid is not None:
        parent = session.execute(
            select(ResourceProvider.id, ResourceProvider.root_provider_id).where(ResourceProvider.uuid == parent_uuid)
        ).first()
        if parent is None:
            raise BadRequest(f"Unable to save resource provider {row.uuid}: "
                             f"parent provider UUID {parent_uuid} does not exist.")
        if parent[0] == row.id or parent[0] in subtree:
            raise BadRequest(f"Unable to save resource provider {row.uuid}: creating loop in the provider tree "
                             "is not allowed.")
        new_parent_id, new_root = parent[0], parent[1]
    row.parent_provider_id = new_parent_id
    row.root_provider_id = new_root
    session.flush()
    if subtree:
        session.execute(update(ResourceProvider).where(ResourceProvider.id.in_(sorted(subtree)))
                        .values(root_provider_id=new_root).execution_options(synchronize_session=False))


def delete_provider(session: Session, uuid: str) -> None:
    """Delete a provider with no allocations and no children, with its inventories, traits, aggregates."""
    pid = _provider_id(session, uuid)
    if session.scalar(select(exists().where(Allocation.provider_id == pid))):
        raise ProviderInUse(f"Unable to delete resource provider {uuid}: Resource provider has allocations.")
    if session.scalar(select(exists().where(ResourceProvider.parent_provider_id == pid))):
        raise CannotDeleteParent(f"Unable to delete parent resource provider {uuid}: "
                                 "It has child resource providers.")
    for model in (Inventory, ProviderTrait, ProviderAggregate):
        session.execute(delete(model).where(model.provider_id == pid))
    session.execute(update(ResourceProvider).where(ResourceProvider.id == pid)
                    .values(root_provider_id=None).execution_options(synchronize_session=False))
    session.execute(delete(ResourceProvider).where(ResourceProvider.id == pid)
                    .execution_options(synchronize_session=False))


@dataclass(frozen=True)
class ProviderFilter:
    """What GET /resource_providers may ask for; every given criterion must hold."""

    name: str | None = None
    uuid: str | None = None
    in_tree: str | None = None
    member_of: Sequence[frozenset[str]] = ()
    forbidden_aggregates: frozenset[str] = frozenset()
    required: Sequence[frozenset[str]] = ()
    forbidden: frozenset[str] = frozenset()
    resources: Mapping[str, int] = field(default_factory=dict)


def list_providers(session: Session, wanted: ProviderFilter | None = None) -> list[Provider]:
    wanted = wanted or ProviderFilter()
    query = _provider_select()
    if wanted.name is not None:
        query = query.where(ResourceProvider.name == wanted.name)
    if wanted.uuid is not None:
        query = query.where(ResourceProvider.uuid == wanted.uuid)
    if wanted.in_tree is not None:
        root = session.scalar(select(ResourceProvider.root_provider_id).where(ResourceProvider.uuid == wanted.in_tree))
        if root is None:
            return []
        query = query.where(ResourceProvider.root_provider_id == root)
    for any_of in wanted.member_of:
        query = query.where(exists().where(ProviderAggregate.provider_id == ResourceProvider.id,
                                           ProviderAggregate.aggregate_uuid.in_(sorted(any_of))))
    if wanted.forbidden_aggregates:
        query = query.where(~exists().where(ProviderAggregate.provider_id == ResourceProvider.id,
                                            ProviderAggregate.aggregate_uuid.in_(sorted(wanted.forbidden_aggregates))))
    if wanted.required or wanted.forbidden:
        require_traits(session, set().union(*wanted.required, wanted.forbidden))
    for any_of in wanted.required:
        query = query.where(exists().where(ProviderTrait.provider_id == ResourceProvider.id,
                                           ProviderTrait.trait.in_(sorted(any_of))))
    if wanted.forbidden:
        query = query.where(~exists().where(ProviderTrait.provider_id == ResourceProvider.id,
                                            ProviderTrait.trait.in_(sorted(wanted.forbidden))))
    providers = [_to_provider(tuple(row)) for row in session.execute(query.order_by(ResourceProvider.id))]
    if wanted.resources:
        require_resource_classes(session, wanted.resources)
        able = providers_with_room(session, wanted.resources)
        providers = [p for p in providers if p.id in able]
    return providers


# Inventories ------------------------------------------------------------------------------------


def _spec(row: Inventory) -> InventorySpec:
    return InventorySpec(row.total, row.reserved, row.min_unit, row.max_unit, row.step_size, row.allocation_ratio)


def get_inventories(session: Session, uuid: str) -> tuple[Provider, dict[str, InventorySpec]]:
    provider = get_provider(session, uuid)
    rows = session.scalars(select(Inventory).where(Inventory.provider_id == provider.id)
                           .order_by(Inventory.resource_class))
    return provider, {row.resource_class: _spec(row) for row in rows}


def _usage_by_class(session: Session, provider_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Allocation.resource_class, func.sum(Allocation.used))
        .where(Allocation.provider_id == provider_id)
        .group_by(Allocation.resource_class)
    )
    return {rc: int(used) for rc, used in rows}


def _bump_generation(session: Session, provider_id: int, expected: int) -> int:
    """The compare-and-swap every writer ends with; ConcurrentUpdate if the generation moved."""
    return _swap_generation(session.connection(), provider_id, expected)


def _swap_generation(connection: Connection, provider_id: int, expected: int) -> int:
    if connection.execute(_SWAP_GENERATION, {"provider": provider_id, "expected": expected}).rowcount != 1:
        raise ConcurrentUpdate("resource provider generation conflict")
    return expected + 1


def _expect_generation(provider: Provider, generation: int | None) -> int:
    if generation is not None and generation != provider.generation:
        raise ConcurrentUpdate("resource provider generation conflict")
    return provider.generation


def set_inventories(session: Session, uuid: str, generation: int | None,
                    inventories: Mapping[str, InventorySpec], reserved_may_equal_total: bool = True) -> Provider:
    """Replace every inventory of a provider (classes not named are removed).

    Refused with InventoryInUse if a class in use would be removed or shrink below its usage, and
    with ConcurrentUpdate if ``generation`` (when given) is not the provider's.
    """
    provider = get_provider(session, uuid)
    expected = _expect_generation(provider, generation)
    require_resource_classes(session, inventories)
    for rc, spec in inventories.items():
        check_inventory(rc, spec, reserved_may_equal_total)
    used = _usage_by_class(session, provider.id)
    gone = sorted(rc for rc in used if rc not in inventories)
    if gone:
        raise InventoryInUse(f"Inventory for '{', '.join(gone)}' on resource provider '{uuid}' in use.")
    _refuse_shrinking_below_usage(uuid, inventories, used)
    _bump_generation(session, provider.id, expected)
    session.execute(delete(Inventory).where(Inventory.provider_id == provider.id))
    if inventories:
        session.execute(insert(Inventory), [
            {"provider_id": provider.id, "resource_class": rc, **_spec_columns(spec)}
            for rc, spec in inventories.items()
        ])
    return get_provider(session, uuid)


def _spec_columns(spec: InventorySpec) -> dict[str, object]:
    return {"total": spec.total, "reserved": spec.reserved, "min_unit": spec.min_unit, "max_unit": spec.max_unit,
            "step_size": spec.step_size, "allocation_ratio": spec.allocation_ratio}


def _refuse_shrinking_below_usage(uuid: str, inventories: Mapping[str, InventorySpec], used: Mapping[str, int]) -> None:
    for rc, spec in inventories.items():
        if used.get(rc, 0) > capacity(spec):
            raise InventoryInUse(
                f"Inventory for '{rc}' on resource provider '{uuid}' in use: the new capacity "
                f"{capacity(spec)} is below the {used[rc]} already allocated."
            )


def set_inventory(session: Session, uuid: str, generation: int | None, resource_class: str, spec: InventorySpec,
                  must_exist: bool | None = None, reserved_may_equal_total: bool = True) -> Provider:
    """Create or update one class of inventory; ``must_exist`` True (PUT) or False (POST) narrows it."""
    provider, current = get_inventories(session, uuid)
    expected = _expect_generation(provider, generation)
    if must_exist is True and resource_class not in current:
        raise BadRequest(f"No inventory record with resource class for resource provider {uuid}: "
                         f"No inventory of class {resource_class} found.")
    if must_exist is False and resource_class in current:
        raise ConcurrentUpdate(f"Update conflict: Inventory for '{resource_class}' on resource provider "
                               f"'{uuid}' already exists.")
    require_resource_classes(session, [resource_class])
    check_inventory(resource_class, spec, reserved_may_equal_total)
    _refuse_shrinking_below_usage(uuid, {resource_class: spec}, _usage_by_class(session, provider.id))
    _bump_generation(session, provider.id, expected)
    session.execute(delete(Inventory).where(Inventory.provider_id == provider.id,
                                            Inventory.resource_class == resource_class))
    session.execute(insert(Inventory), [{"provider_id": provider.id, "resource_class": resource_class,
                                         **_spec_columns(spec)}])
    return get_provider(session, uuid)


def delete_inventory(session: Session, uuid: str, resource_class: str, generation: int | None = None) -> Provider:
    provider, current = get_inventories(session, uuid)
    expected = _expect_generation(provider, generation)
    if resource_class not in current:
        raise NotFound(f"No inventory of class {resource_class} found for delete")
    if _usage_by_class(session, provider.id).get(resource_class):
        raise InventoryInUse(f"Inventory for '{resource_class}' on resource provider '{uuid}' in use.")
    _bump_generation(session, provider.id, expected)
    session.execute(delete(Inventory).where(Inventory.provider_id == provider.id,
                                            Inventory.resource_class == resource_class))
    return get_provider(session, uuid)


# Traits and aggregates --------------------------------------------------------------------------


def get_traits(session: Session, uuid: str) -> tuple[Provider, list[str]]:
    provider = get_provider(session, uuid)
    traits = session.scalars(select(ProviderTrait.trait).where(ProviderTrait.provider_id == provider.id)
                             .order_by(ProviderTrait.trait))
    return provider, list(traits)


def set_traits(session: Session, uuid: str, generation: int | None, traits: Iterable[str]) -> Provider:
    """Replace the provider's traits (every one must exist)."""
    provider = get_provider(session, uuid)
    expected = _expect_generation(provider, generation)
    wanted = sorted(set(traits))
    require_traits(session, wanted)
    _bump_generation(session, provider.id, expected)
    session.execute(delete(ProviderTrait).where(ProviderTrait.provider_id == provider.id))
    if wanted:
        session.execute(insert(ProviderTrait), [{"provider_id": provider.id, "trait": t} for t in wanted])
    return get_provider(session, uuid)


def get_aggregates(session: Session, uuid: str) -> tuple[Provider, list[str]]:
    provider = get_provider(session, uuid)
    aggregates = session.scalars(select(ProviderAggregate.aggregate_uuid)
                                 .where(ProviderAggregate.provider_id == provider.id)
                                 .order_by(ProviderAggregate.aggregate_uuid))
    return provider, list(aggregates)


def set_aggregates(session: Session, uuid: str, generation: int | None, aggregates: Iterable[str]) -> Provider:
    """Replace the aggregates the provider is a member of."""
    provider = get_provider(session, uuid)
    expected = _expect_generation(provider, generation)
    wanted = sorted({normalize_uuid(a, "aggregate UUID") for a in aggregates})
    _bump_generation(session, provider.id, expected)
    session.execute(delete(ProviderAggregate).where(ProviderAggregate.provider_id == provider.id))
    if wanted:
        session.execute(insert(ProviderAggregate), [{"provider_id": provider.id, "aggregate_uuid": a} for a in wanted])
    return get_provider(session, uuid)


# Claims -----------------------------------------------------------------------------------------


class Unchecked:
    def __repr__(self) -> str:
        return "UNCHECKED"


UNCHECKED = Unchecked()
"""As a claim's ``generation``: write whatever the consumer's generation is (Placement before 1.28)."""


@dataclass(frozen=True)
class ConsumerClaim:
    """Every allocation one consumer is to hold afterwards (provider UUID -> class -> amount).

    Empty ``allocations`` release the consumer. ``generation`` is the consumer generation the
    caller last saw (None: the consumer must not exist yet), or UNCHECKED.
    """

    consumer: str
    allocations: Mapping[str, Mapping[str, int]]
    project_id: str
    user_id: str
    generation: int | Unchecked | None = UNCHECKED
    consumer_type: str | None = None


@dataclass(frozen=True)
class HeldAllocation:
    provider_uuid: str
    provider_generation: int
    resources: dict[str, int]


@dataclass(frozen=True)
class ConsumerAllocations:
    consumer: str
    allocations: dict[str, HeldAllocation]
    project_id: str | None = None
    user_id: str | None = None
    generation: int | None = None
    consumer_type: str | None = None


# The claim's statements, built once at import: the scheduler claims once per build, and on SQLite an ORM
# session's transaction (unit of work, identity map) cost about four times a Core connection's, and a select()
# built per call about 30 us of cache-key work more. Tables, not mapped classes: no ORM compile step either.


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_providers = _table(ResourceProvider)
_inventories = _table(Inventory)
_consumers = _table(Consumer)
_allocations = _table(Allocation)


def _held_select(which: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    return (
        select(_consumers.c.uuid, _consumers.c.generation, _consumers.c.consumer_type,
               _allocations.c.provider_id, _allocations.c.resource_class, _allocations.c.used)
        .outerjoin(_allocations, _allocations.c.consumer_uuid == _consumers.c.uuid)
        .where(which)
    )


_HELD = _held_select(_consumers.c.uuid.in_(bindparam("consumers", expanding=True)))
"""Every named consumer that exists (generation, type) with each allocation it holds: a row per allocation, one
row of NULL allocation for a consumer holding none."""
_HELD_BY_ONE = _held_select(_consumers.c.uuid == bindparam("consumer"))
"""As _HELD for one consumer (every build's claim): a plain parameter, compiled once, where an expanding one
renders its IN list again at every execution."""

_USED = (
    select(func.coalesce(func.sum(_allocations.c.used), 0))
    .where(_allocations.c.provider_id == _inventories.c.provider_id,
           _allocations.c.resource_class == _inventories.c.resource_class)
    .correlate(_inventories)
    .scalar_subquery()
)


def _room_select(which: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    return (
        select(_providers.c.id, _providers.c.uuid, _providers.c.generation, _inventories.c.resource_class,
               _inventories.c.total, _inventories.c.reserved, _inventories.c.min_unit, _inventories.c.max_unit,
               _inventories.c.step_size, _inventories.c.allocation_ratio, _USED)
        .outerjoin(_inventories, _inventories.c.provider_id == _providers.c.id)
        .where(which)
    )


_ROOM = _room_select(_providers.c.uuid.in_(bindparam("uuids", expanding=True)))
"""Each named provider's generation, with every inventory it has and what is used of it, in one statement: one
snapshot, so the usage is the one of that generation, and a compare-and-swap on it that succeeds later proves
nobody claimed there in between. A row of NULL inventory for a provider with none."""
_ROOM_OF_ONE = _room_select(_providers.c.uuid == bindparam("uuid"))
"""As _ROOM for one provider (every build's claim), without an expanding parameter."""
_ROOM_OR_HELD = _room_select(or_(_providers.c.uuid.in_(bindparam("uuids", expanding=True)),
                                 _providers.c.id.in_(bindparam("ids", expanding=True))))
"""As _ROOM, also for the providers (by id) the claiming consumers held something on before."""

_SWAP_GENERATION = (
    update(_providers)
    .where(_providers.c.id == bindparam("provider"), _providers.c.generation == bindparam("expected"))
    .values(generation=_providers.c.generation + 1)
)
_ADD_CONSUMERS = insert(_consumers)
_REWRITE_CONSUMER = (
    update(_consumers)
    .where(_consumers.c.uuid == bindparam("consumer"), _consumers.c.generation == bindparam("seen"))
    .values(generation=_consumers.c.generation + 1, project_id=bindparam("project"), user_id=bindparam("user"),
            consumer_type=bindparam("kind"))
)
_DROP_CONSUMER = delete(_consumers).where(_consumers.c.uuid == bindparam("consumer"))
_DROP_HELD = delete(_allocations).where(_allocations.c.consumer_uuid.in_(bindparam("consumers", expanding=True)))
_DROP_HELD_BY_ONE = delete(_allocations).where(_allocations.c.consumer_uuid == bindparam("consumer"))
_ADD_ALLOCATIONS = insert(_allocations)


def _connection(db: Session | Connection) -> Connection:
    """The connection (and transaction) to run Core statements on: a session's own, after it has written what it
    holds pending, so the statements see the caller's earlier writes."""
    if isinstance(db, Session):
        db.flush()
        return db.connection()
    return db


class _Consumer(NamedTuple):
    generation: int
    consumer_type: str | None


def claim(db: Session | Connection, claims: Sequence[ConsumerClaim]) -> None:
    """Write, atomically, all allocations of each consumer named (replacing what it held before).

    Either everything is written or nothing: CapacityExceeded if an amount does not fit its
    inventory, BadRequest for an unknown provider, ConcurrentUpdate if a consumer's generation is
    not the one given or if a touched provider changed meanwhile (retry with run_in_transaction).
    Consumers left with no allocation are removed.

    Runs on the caller's transaction, a Session's or a Connection's. Five statements for a new
    consumer (every build's claim): what the consumers hold; each provider's generation,
    inventories and usage; a compare-and-swap per provider; the consumer; its allocations.
    """
    if not claims:
        return
    by_consumer = {c.consumer: c for c in claims}
    if len(by_consumer) != len(claims):
        raise BadRequest("A consumer may appear only once in one claim.")
    wanted_uuids = sorted({p for c in claims for p in c.allocations})
    for c in claims:
        for provider_uuid, resources in c.allocations.items():
            for rc, amount in resources.items():
                if not isinstance(amount, int) or amount < 1:
                    raise BadRequest(f"Allocation of {rc} on {provider_uuid} must be a positive integer.")
    connection = _connection(db)
    named = sorted(by_consumer)
    consumers: dict[str, _Consumer] = {}
    old_amounts: dict[tuple[int, str], int] = defaultdict(int)
    held = (connection.execute(_HELD_BY_ONE, {"consumer": named[0]}) if len(named) == 1
            else connection.execute(_HELD, {"consumers": named}))
    for consumer, generation, kind, pid, rc, used in held:
        consumers[consumer] = _Consumer(generation, kind)
        if pid is not None:
            old_amounts[(pid, rc)] += used
    for c in claims:
        _check_consumer_generation(c, consumers.get(c.consumer))

    old_ids = sorted({pid for pid, _rc in old_amounts})
    ids_by_uuid: dict[str, int] = {}
    generations: dict[int, int] = {}
    inventories: dict[tuple[int, str], InventorySpec] = {}
    used_now: dict[tuple[int, str], int] = {}
    if wanted_uuids or old_ids:
        if old_ids:
            room = connection.execute(_ROOM_OR_HELD, {"uuids": wanted_uuids, "ids": old_ids})
        elif len(wanted_uuids) == 1:
            room = connection.execute(_ROOM_OF_ONE, {"uuid": wanted_uuids[0]})
        else:
            room = connection.execute(_ROOM, {"uuids": wanted_uuids})
        for pid, puuid, generation, rc, total, reserved, lo, hi, step, ratio, used in room:
            ids_by_uuid[puuid] = pid
            generations[pid] = generation
            if rc is not None:
                inventories[(pid, rc)] = InventorySpec(total, reserved, lo, hi, step, ratio)
                used_now[(pid, rc)] = int(used)
    missing = [u for u in wanted_uuids if u not in ids_by_uuid]
    if missing:
        raise BadRequest(f"Allocation for resource provider '{missing[0]}' that does not exist.")
    if any(pid not in generations for pid in old_ids):
        # a provider the consumers held on was deleted after that read: they were released meanwhile (an allocation
        # keeps its provider), so what was read of them is stale: retried, as any other race lost
        raise ConcurrentUpdate("resource provider generation conflict")

    new_amounts: dict[tuple[int, str], int] = defaultdict(int)
    for c in claims:
        for provider_uuid, resources in c.allocations.items():
            for rc, amount in resources.items():
                new_amounts[(ids_by_uuid[provider_uuid], rc)] += amount
    _check_room(claims, ids_by_uuid, inventories, used_now, new_amounts, old_amounts)

    for pid in sorted({pid for pid, _rc in new_amounts}.union(old_ids)):  # one order for every claimer: no deadlock
        _swap_generation(connection, pid, generations[pid])
    if old_amounts:  # a new consumer (every build's claim) has nothing to delete: a statement fewer
        connection.execute(_DROP_HELD, {"consumers": named})
    _write_consumers(connection, claims, consumers)
    rows = [
        {"consumer_uuid": c.consumer, "provider_id": ids_by_uuid[p], "resource_class": rc, "used": amount}
        for c in claims for p, resources in c.allocations.items() for rc, amount in resources.items()
    ]
    if rows:
        connection.execute(_ADD_ALLOCATIONS, rows)


def _check_consumer_generation(c: ConsumerClaim, existing: _Consumer | None) -> None:
    if isinstance(c.generation, Unchecked):
        return
    if existing is None and c.generation is not None:
        raise StaleConsumerGeneration(f"consumer generation conflict - expected null but got {c.generation}")
    if existing is not None and existing.generation != c.generation:
        got = "null" if c.generation is None else c.generation
        raise StaleConsumerGeneration(f"consumer generation conflict - expected {existing.generation} but got {got}")


def _check_room(claims: Sequence[ConsumerClaim], ids_by_uuid: Mapping[str, int],
                inventories: Mapping[tuple[int, str], InventorySpec], used: Mapping[tuple[int, str], int],
                new_amounts: Mapping[tuple[int, str], int], old_amounts: Mapping[tuple[int, str], int]) -> None:
    """CapacityExceeded unless every amount fits its inventory's units, and every total its capacity (counting what
    the claiming consumers held there as freed; a total that does not grow is never refused)."""
    uuid_of = {pid: u for u, pid in ids_by_uuid.items()}
    for c in claims:
        for provider_uuid, resources in c.allocations.items():
            for rc, amount in resources.items():
                spec = inventories.get((ids_by_uuid[provider_uuid], rc))
                if spec is None:
                    raise CapacityExceeded(f"Unable to allocate inventory: Inventory for '{rc}' on resource "
                                           f"provider '{provider_uuid}' invalid.")
                problem = unit_problem(spec, amount)
                if problem:
                    raise CapacityExceeded(f"Unable to allocate inventory: Unable to create allocation for '{rc}' "
                                           f"on resource provider '{provider_uuid}': {problem}.")
    for key, amount in new_amounts.items():
        spec = inventories[key]
        after = used.get(key, 0) - old_amounts.get(key, 0) + amount
        if after > capacity(spec) and amount > old_amounts.get(key, 0):
            raise CapacityExceeded(f"Unable to allocate inventory: Unable to create allocation for '{key[1]}' on "
                                   f"resource provider '{uuid_of[key[0]]}'. The requested amount would exceed "
                                   "the capacity.")


def _write_consumers(connection: Connection, claims: Sequence[ConsumerClaim],
                     existing: Mapping[str, _Consumer]) -> None:
    """New consumers holding something are added at generation 1, existing ones bumped (a compare-and-swap:
    ConcurrentUpdate if someone else bumped it since it was read) or, left with nothing, removed. A new consumer
    someone else adds meanwhile fails the insert (IntegrityError), which run_in_transaction retries too."""
    added = []
    for c in claims:
        seen = existing.get(c.consumer)
        if seen is None:
            if c.allocations:
                added.append({"uuid": c.consumer, "project_id": c.project_id, "user_id": c.user_id, "generation": 1,
                              "consumer_type": c.consumer_type})
        elif not c.allocations:
            connection.execute(_DROP_CONSUMER, {"consumer": c.consumer})
        else:
            kind = c.consumer_type if c.consumer_type is not None else seen.consumer_type
            result = connection.execute(_REWRITE_CONSUMER, {"consumer": c.consumer, "seen": seen.generation,
                                                            "project": c.project_id, "user": c.user_id,
                                                            "kind": kind})
            if result.rowcount != 1:
                raise ConcurrentUpdate("consumer generation conflict")
    if added:
        connection.execute(_ADD_CONSUMERS, added)


def release(db: Session | Connection, consumer: str) -> bool:
    """Remove every allocation of ``consumer`` (and the consumer); False if it held none.

    Releasing cannot overcommit anything, so it swaps no provider generation (unlike a claim).
    Runs on the caller's transaction, a Session's or a Connection's: two statements built once.
    """
    connection = _connection(db)
    gone = connection.execute(_DROP_HELD_BY_ONE, {"consumer": consumer})
    connection.execute(_DROP_CONSUMER, {"consumer": consumer})
    return gone.rowcount > 0


_CONSUMER_ALLOCATIONS = (
    select(_providers.c.uuid, _providers.c.generation, _allocations.c.resource_class, _allocations.c.used,
           _consumers.c.project_id, _consumers.c.user_id, _consumers.c.generation, _consumers.c.consumer_type)
    .select_from(_allocations.join(_providers, _providers.c.id == _allocations.c.provider_id)
                 .join(_consumers, _consumers.c.uuid == _allocations.c.consumer_uuid))
    .where(_allocations.c.consumer_uuid == bindparam("consumer"))
    .order_by(_providers.c.uuid, _allocations.c.resource_class)
)
"""Each allocation of one consumer, with its provider's generation and the consumer's own columns (an allocation
always has its consumer: a foreign key)."""


def consumer_allocations(db: Session | Connection, consumer: str) -> ConsumerAllocations:
    """What ``consumer`` holds, per provider; a consumer holding nothing reads as one unknown (no project, user
    or generation). One statement, on a Session's transaction or a Connection's."""
    held: dict[str, HeldAllocation] = {}
    owner: tuple[str, str, int, str | None] | None = None
    for puuid, generation, rc, used, project, user, consumer_generation, kind in _connection(db).execute(
            _CONSUMER_ALLOCATIONS, {"consumer": consumer}):
        held.setdefault(puuid, HeldAllocation(puuid, generation, {})).resources[rc] = used
        owner = (project, user, consumer_generation, kind)
    if owner is None:
        return ConsumerAllocations(consumer, held)
    return ConsumerAllocations(consumer, held, *owner)


def provider_allocations(session: Session, uuid: str) -> tuple[Provider, dict[str, tuple[int, dict[str, int]]]]:
    """Consumer UUID -> (consumer generation, class -> used) for everything held on one provider."""
    provider = get_provider(session, uuid)
    out: dict[str, tuple[int, dict[str, int]]] = {}
    for consumer, generation, rc, used in session.execute(
        select(Allocation.consumer_uuid, Consumer.generation, Allocation.resource_class, Allocation.used)
        .join(Consumer, Consumer.uuid == Allocation.consumer_uuid)
        .where(Allocation.provider_id == provider.id)
        .order_by(Allocation.consumer_uuid, Allocation.resource_class)
    ):
        out.setdefault(consumer, (generation, {}))[1][rc] = used
    return provider, out


@overload
def run_in_transaction(sessions: sessionmaker[Session], operation: Callable[[Session], T], attempts: int = 10) -> T:
    ...


@overload
def run_in_transaction(sessions: Engine, operation: Callable[[Connection], T], attempts: int = 10) -> T:
    ...


def run_in_transaction(sessions: sessionmaker[Session] | Engine, operation: Callable[[Any], T],
                       attempts: int = 10) -> T:
    """Run ``operation`` in a fresh transaction, again on ConcurrentUpdate, up to ``attempts`` times.

    Meant for writes whose inputs do not come from a generation the caller read (a scheduler's
    claim, an API PUT of allocations): losing a race just means redoing the checks on new data.
    A consumer inserted concurrently by someone else surfaces as a ConcurrentUpdate too.

    Given a session factory, ``operation`` gets a Session; given an Engine, a Connection (Core
    statements only, without the session's unit of work: the scheduler's claim, once per build).
    """
    for attempt in range(1, attempts + 1):
        try:
            if isinstance(sessions, Engine):
                with sessions.begin() as connection:
                    return operation(connection)
            with sessions() as session, session.begin():
                return operation(session)
        except StaleConsumerGeneration:
            raise
        except ConcurrentUpdate:
            if attempt == attempts:
                raise
        except IntegrityError as exc:
            if attempt == attempts:
                raise ConcurrentUpdate(f"Conflicting concurrent update: {exc.orig}") from exc
    raise AssertionError("unreachable")


# Usages -----------------------------------------------------------------------------------------


def provider_usages(session: Session, uuid: str) -> tuple[Provider, dict[str, int]]:
    """Class -> used for every class the provider has inventory of (0 when nothing is allocated)."""
    provider = get_provider(session, uuid)
    usage = dict.fromkeys(session.scalars(select(Inventory.resource_class)
                                          .where(Inventory.provider_id == provider.id)), 0)
    usage.update(_usage_by_class(session, provider.id))
    return provider, dict(sorted(usage.items()))


def project_usages(session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    query = (select(Allocation.resource_class, func.sum(Allocation.used))
             .join(Consumer, Consumer.uuid == Allocation.consumer_uuid)
             .where(Consumer.project_id == project_id))
    if user_id is not None:
        query = query.where(Consumer.user_id == user_id)
    return {rc: int(used) for rc, used in session.execute(query.group_by(Allocation.resource_class))}


UNKNOWN_CONSUMER_TYPE = "unknown"


def project_usages_by_type(session: Session, project_id: str, user_id: str | None = None,
                           consumer_type: str | None = None) -> dict[str, dict[str, int]]:
    """Usages grouped by consumer type, each with its ``consumer_count`` (Placement 1.38).

    ``consumer_type`` "all" folds every type into one group "all"; "unknown" selects consumers
    written without a type; any other name selects that type only.
    """
    query = (select(Consumer.consumer_type, Allocation.consumer_uuid, Allocation.resource_class, Allocation.used)
             .join(Consumer, Consumer.uuid == Allocation.consumer_uuid)
             .where(Consumer.project_id == project_id))
    if user_id is not None:
        query = query.where(Consumer.user_id == user_id)
    if consumer_type == UNKNOWN_CONSUMER_TYPE:
        query = query.where(Consumer.consumer_type.is_(None))
    elif consumer_type not in (None, "all"):
        query = query.where(Consumer.consumer_type == consumer_type)
    totals: dict[str, dict[str, int]] = {}
    consumers: dict[str, set[str]] = defaultdict(set)
    for ctype, consumer, rc, used in session.execute(query):
        group = "all" if consumer_type == "all" else (ctype or UNKNOWN_CONSUMER_TYPE)
        bucket = totals.setdefault(group, {})
        bucket[rc] = bucket.get(rc, 0) + used
        consumers[group].add(consumer)
    return {group: {"consumer_count": len(consumers[group]), **totals[group]} for group in sorted(totals)}


def providers_with_room(session: Session, resources: Mapping[str, int]) -> set[int]:
    """Ids of the providers able to take every amount of ``resources`` on their own."""
    able: set[int] | None = None
    for rc, amount in resources.items():
        rows = inventory_usage(session, [rc], at_least={rc: amount})
        here = {row.provider_id for row in rows if fits(row.inventory, row.used, amount)}
        able = here if able is None else able & here
    return able or set()


class InventoryUsage(NamedTuple):
    provider_id: int
    resource_class: str
    inventory: InventorySpec
    used: int


def inventory_usage(session: Session, classes: Sequence[str], provider_ids: Iterable[int] | None = None,
                    at_least: Mapping[str, int] | None = None) -> list[InventoryUsage]:
    """Every inventory of ``classes`` (of any class if empty), with what is used of it.

    ``at_least`` (class -> amount) keeps, in SQL, only inventories with that much room left, so
    a search over thousands of providers reads back only those worth looking at.
    """
    sums = (select(Allocation.provider_id.label("pid"), Allocation.resource_class.label("rc"),
                   func.sum(Allocation.used).label("used"))
            .group_by(Allocation.provider_id, Allocation.resource_class))
    wanted = sorted(set(provider_ids)) if provider_ids is not None else None
    if classes:
        sums = sums.where(Allocation.resource_class.in_(list(classes)))
    if wanted is not None:
        sums = sums.where(Allocation.provider_id.in_(wanted))
    usage = sums.subquery()
    used = func.coalesce(usage.c.used, 0)
    query = (select(Inventory.provider_id, Inventory.resource_class, Inventory.total, Inventory.reserved,
                    Inventory.min_unit, Inventory.max_unit, Inventory.step_size, Inventory.allocation_ratio, used)
             .outerjoin(usage, and_(usage.c.pid == Inventory.provider_id, usage.c.rc == Inventory.resource_class)))
    if classes:
        query = query.where(Inventory.resource_class.in_(list(classes)))
    if wanted is not None:
        query = query.where(Inventory.provider_id.in_(wanted))
    if at_least:
        # (total - reserved) * ratio >= used + amount is floor(capacity) - used >= amount, amounts being whole.
        query = query.where(or_(*(
            and_(Inventory.resource_class == rc,
                 (Inventory.total - Inventory.reserved) * Inventory.allocation_ratio >= used + amount)
            for rc, amount in at_least.items()
        )))
    return [InventoryUsage(pid, rc, InventorySpec(total, reserved, lo, hi, step, ratio), int(n))
            for pid, rc, total, reserved, lo, hi, step, ratio, n in session.connection().execute(query)]


# Reshaping --------------------------------------------------------------------------------------


def reshape(session: Session, inventories: Mapping[str, tuple[int, Mapping[str, InventorySpec]]],
            claims: Sequence[ConsumerClaim], reserved_may_equal_total: bool = True) -> None:
    """Move inventory and the allocations using it between providers, in one step (Placement 1.30).

    Each named provider gets exactly the inventories given (its generation must match), each named
    consumer exactly the allocations given; the invariant is checked only once everything moved,
    so in-between states (allocations on a class that just left) are allowed.
    """
    touched: list[Provider] = []
    for uuid, (generation, specs) in inventories.items():
        provider = get_provider(session, uuid)
        expected = _expect_generation(provider, generation)
        require_resource_classes(session, specs)
        for rc, spec in specs.items():
            check_inventory(rc, spec, reserved_may_equal_total)
        _bump_generation(session, provider.id, expected)
        session.execute(delete(Inventory).where(Inventory.provider_id == provider.id))
        if specs:
            session.execute(insert(Inventory), [
                {"provider_id": provider.id, "resource_class": rc, **_spec_columns(spec)} for rc, spec in specs.items()
            ])
        touched.append(provider)
    claim(session, claims)
    for provider in touched:
        current = get_inventories(session, provider.uuid)[1]
        used = _usage_by_class(session, provider.id)
        gone = sorted(rc for rc in used if rc not in current)
        if gone:
            raise InventoryInUse(f"Inventory for '{', '.join(gone)}' on resource provider '{provider.uuid}' in use.")
        _refuse_shrinking_below_usage(provider.uuid, current, used)
