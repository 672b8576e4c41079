"""Allocation candidates: every way a set of providers can satisfy a resource request.

A request is a list of groups. The unsuffixed group's resources may come from several providers
of one tree (and from sharing providers tied to it by an aggregate); a suffixed group's resources
all come from one provider. Traits (required, any-of, forbidden), aggregates (member_of, any-of,
forbidden), in_tree, group_policy, root_required and same_subtree narrow the choice, as
Placement's ``GET /allocation_candidates`` defines them.

The search is a pure function over a :class:`Snapshot` of the providers that hold any requested
class; :func:`load_snapshot` and :func:`summarize` are the only parts reading the database.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest
from twinstack.core.scheduler.placement import InventorySpec, capacity, fits, inventory_usage
from twinstack.core.scheduler.placement_names import (
    SHARES_VIA_AGGREGATE,
    require_resource_classes,
    require_traits,
)
from twinstack.db.models.placement import Inventory, ProviderAggregate, ProviderTrait, ResourceProvider

# The request ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestGroup:
    """One group of a request; ``suffix`` "" is the unsuffixed group (resources may spread in a tree)."""

    suffix: str = ""
    resources: Mapping[str, int] = field(default_factory=dict)
    required: tuple[frozenset[str], ...] = ()
    """Each set is any-of: at least one of its traits must be present."""
    forbidden: frozenset[str] = frozenset()
    member_of: tuple[frozenset[str], ...] = ()
    """Each set is any-of: the provider must be in at least one of its aggregates."""
    forbidden_aggregates: frozenset[str] = frozenset()
    in_tree: str | None = None

    @property
    def same_provider(self) -> bool:
        return self.suffix != ""


@dataclass(frozen=True)
class CandidateQuery:
    groups: tuple[RequestGroup, ...]
    group_policy: str | None = None
    """"isolate": suffixed groups land on different providers; "none" (or None): no constraint."""
    limit: int | None = None
    root_required: tuple[frozenset[str], ...] = ()
    root_forbidden: frozenset[str] = frozenset()
    same_subtree: tuple[frozenset[str], ...] = ()
    nested: bool = True
    """False before microversion 1.29: no allocation request spans two providers of one tree."""


@dataclass(frozen=True)
class AllocationRequest:
    allocations: dict[str, dict[str, int]]
    """Provider UUID -> resource class -> amount."""
    mappings: dict[str, list[str]]
    """Group suffix -> the UUIDs of the providers satisfying it."""


@dataclass(frozen=True)
class ProviderSummary:
    uuid: str
    parent_uuid: str | None
    root_uuid: str
    resources: dict[str, tuple[int, int]]
    """Resource class -> (capacity, used)."""
    traits: list[str]


@dataclass(frozen=True)
class Candidates:
    allocation_requests: list[AllocationRequest]
    provider_summaries: list[ProviderSummary]


# The snapshot -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderNode:
    id: int
    uuid: str
    parent_id: int | None
    root_id: int
    traits: frozenset[str] = frozenset()
    aggregates: frozenset[str] = frozenset()


@dataclass
class Snapshot:
    """Providers of the trees holding any requested class, and their inventories of those classes."""

    providers: dict[int, ProviderNode]
    inventories: dict[int, dict[str, tuple[InventorySpec, int]]]
    """Provider id -> class -> (inventory, used)."""
    by_uuid: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_uuid = {p.uuid: p.id for p in self.providers.values()}


def load_snapshot(session: Session, query: CandidateQuery) -> Snapshot:
    """Read what the search needs, and refuse (400) unknown resource classes and traits."""
    classes = sorted({rc for g in query.groups for rc in g.resources})
    require_resource_classes(session, classes)
    traits = set(query.root_forbidden).union(*query.root_required)
    for g in query.groups:
        traits |= g.forbidden.union(*g.required)
    require_traits(session, traits)

    smallest: dict[str, int] = {}
    for g in query.groups:
        for rc, amount in g.resources.items():
            smallest[rc] = min(amount, smallest.get(rc, amount))
    rows = inventory_usage(session, classes, at_least=smallest)
    holders = select(Inventory.provider_id).where(Inventory.resource_class.in_(classes))
    roots = select(ResourceProvider.root_provider_id).where(ResourceProvider.id.in_(holders))
    trees = select(ResourceProvider.id).where(ResourceProvider.root_provider_id.in_(roots))
    resourceless = any(not g.resources for g in query.groups)
    if resourceless or not classes:
        trees = select(ResourceProvider.id)
    nodes = session.connection().execute(
        select(ResourceProvider.id, ResourceProvider.uuid, ResourceProvider.parent_provider_id,
               ResourceProvider.root_provider_id).where(ResourceProvider.id.in_(trees))
        .order_by(ResourceProvider.root_provider_id, ResourceProvider.id)
    ).all()
    wants_traits = bool(traits)
    trait_query = select(ProviderTrait.provider_id, ProviderTrait.trait).where(ProviderTrait.provider_id.in_(trees))
    if not wants_traits:
        trait_query = trait_query.where(ProviderTrait.trait == SHARES_VIA_AGGREGATE)
    traits_of: dict[int, set[str]] = defaultdict(set)
    for pid, trait in session.connection().execute(trait_query):
        traits_of[pid].add(trait)
    any_sharing = any(SHARES_VIA_AGGREGATE in t for t in traits_of.values())
    wants_aggregates = any_sharing or any(g.member_of or g.forbidden_aggregates for g in query.groups)
    aggregates_of: dict[int, set[str]] = defaultdict(set)
    if wants_aggregates:
        for pid, agg in session.execute(select(ProviderAggregate.provider_id, ProviderAggregate.aggregate_uuid)
                                        .where(ProviderAggregate.provider_id.in_(trees))):
            aggregates_of[pid].add(agg)
    providers = {
        pid: ProviderNode(pid, uuid, parent, root if root is not None else pid,
                          frozenset(traits_of.get(pid, ())), frozenset(aggregates_of.get(pid, ())))
        for pid, uuid, parent, root in nodes
    }
    inventories: dict[int, dict[str, tuple[InventorySpec, int]]] = defaultdict(dict)
    for row in rows:
        if row.provider_id in providers:
            inventories[row.provider_id][row.resource_class] = (row.inventory, row.used)
    return Snapshot(providers, dict(inventories))


# The search (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Option:
    """One way to satisfy one group: amounts per provider id, and the providers it maps to."""

    amounts: tuple[tuple[int, str, int], ...]
    providers: tuple[int, ...]


def _has_traits(traits: frozenset[str], required: Sequence[frozenset[str]], forbidden: frozenset[str]) -> bool:
    return all(traits & any_of for any_of in required) and not (traits & forbidden)


def _in_aggregates(aggregates: frozenset[str], group: RequestGroup) -> bool:
    return all(aggregates & any_of for any_of in group.member_of) and not (aggregates & group.forbidden_aggregates)


class _Search:
    def __init__(self, snapshot: Snapshot, query: CandidateQuery) -> None:
        self.snap = snapshot
        self.query = query
        self.sharing = [p.id for p in snapshot.providers.values() if SHARES_VIA_AGGREGATE in p.traits]
        self.shares = set(self.sharing)
        self.tree_members: dict[int, list[int]] = defaultdict(list)
        for p in snapshot.providers.values():
            self.tree_members[p.root_id].append(p.id)
        self.in_tree_root: dict[str, int | None] = {}
        for g in query.groups:
            if g.in_tree is not None:
                pid = snapshot.by_uuid.get(g.in_tree)
                self.in_tree_root[g.suffix] = snapshot.providers[pid].root_id if pid is not None else None

    # A provider's eligibility for a group, apart from resources.
    def eligible(self, pid: int, group: RequestGroup, check_traits: bool) -> bool:
        node = self.snap.providers[pid]
        if group.suffix in self.in_tree_root and node.root_id != self.in_tree_root[group.suffix]:
            return False
        if group.member_of or group.forbidden_aggregates:
            aggregates = node.aggregates
            if pid not in self.shares:
                aggregates = aggregates | self.snap.providers[node.root_id].aggregates
            if not _in_aggregates(aggregates, group):
                return False
        return not check_traits or _has_traits(node.traits, group.required, group.forbidden)

    def fits(self, pid: int, rc: str, amount: int) -> bool:
        entry = self.snap.inventories.get(pid, {}).get(rc)
        return entry is not None and fits(entry[0], entry[1], amount)

    def pool(self, root: int) -> list[int]:
        members = self.tree_members[root]
        if not self.sharing:
            return members
        aggregates = frozenset().union(*(self.snap.providers[m].aggregates for m in members))
        shared = [s for s in self.sharing if s not in members and self.snap.providers[s].aggregates & aggregates]
        return members + shared

    def group_options(self, group: RequestGroup, root: int, pool: list[int]) -> list[_Option]:
        if not group.resources:
            members = self.tree_members[root]
            return [_Option((), (p,)) for p in members if self.eligible(p, group, True)]
        if group.same_provider:
            return [
                _Option(tuple((p, rc, n) for rc, n in group.resources.items()), (p,))
                for p in pool
                if all(self.fits(p, rc, n) for rc, n in group.resources.items()) and self.eligible(p, group, True)
            ]
        per_class = []
        for rc, amount in group.resources.items():
            able = [p for p in pool if self.fits(p, rc, amount) and self.eligible(p, group, False)]
            if not able:
                return []
            per_class.append([(p, rc, amount) for p in able])
        options = []
        for combo in itertools.product(*per_class):
            providers = tuple(sorted({p for p, _rc, _n in combo}))
            traits = frozenset().union(*(self.snap.providers[p].traits for p in providers))
            if not _has_traits(traits, group.required, frozenset()):
                continue
            if any(self.snap.providers[p].traits & group.forbidden for p in providers):
                continue
            options.append(_Option(combo, providers))
        return options

    def single_provider(self, pid: int) -> dict[str, int] | None:
        """The merged amounts when one provider alone must satisfy every group, or None if it cannot."""
        groups = self.query.groups
        if self.query.group_policy == "isolate" and sum(1 for g in groups if g.same_provider and g.resources) > 1:
            return None
        inventories = self.snap.inventories.get(pid, {})
        merged: dict[str, int] = {}
        for group in groups:
            if not self.eligible(pid, group, True):
                return None
            for rc, amount in group.resources.items():
                entry = inventories.get(rc)
                if entry is None or not fits(entry[0], entry[1], amount):
                    return None
                merged[rc] = merged.get(rc, 0) + amount
        for rc, amount in merged.items():
            spec, used = inventories[rc]
            if used + amount > capacity(spec):
                return None
        return dict(sorted(merged.items()))

    def root_ok(self, root: int) -> bool:
        traits = self.snap.providers[root].traits
        return _has_traits(traits, self.query.root_required, self.query.root_forbidden)

    def is_ancestor(self, ancestor: int, pid: int) -> bool:
        node: int | None = pid
        while node is not None:
            if node == ancestor:
                return True
            node = self.snap.providers[node].parent_id
        return False

    def combine(self, root: int, per_group: list[list[_Option]]) -> Iterator[tuple[dict[int, dict[str, int]],
                                                                                   dict[str, list[int]]]]:
        groups = self.query.groups
        for choice in itertools.product(*per_group):
            if self.query.group_policy == "isolate":
                used = [o.providers[0] for g, o in zip(groups, choice, strict=True) if g.same_provider and g.resources]
                if len(used) != len(set(used)):
                    continue
            merged: dict[int, dict[str, int]] = defaultdict(dict)
            for option in choice:
                for pid, rc, amount in option.amounts:
                    merged[pid][rc] = merged[pid].get(rc, 0) + amount
            if not self.query.nested:
                tree_providers = [p for p in merged if self.snap.providers[p].root_id == root]
                if len(tree_providers) > 1:
                    continue
            if not all(self._room(pid, rc, n) for pid, classes in merged.items() for rc, n in classes.items()):
                continue
            mappings = {g.suffix: list(o.providers) for g, o in zip(groups, choice, strict=True)}
            if not self._same_subtree(mappings):
                continue
            yield dict(merged), mappings

    def _room(self, pid: int, rc: str, amount: int) -> bool:
        spec, used = self.snap.inventories[pid][rc]
        return used + amount <= capacity(spec)

    def _same_subtree(self, mappings: Mapping[str, list[int]]) -> bool:
        for suffixes in self.query.same_subtree:
            chosen = {p for s in suffixes for p in mappings.get(s, [])}
            if not any(all(self.is_ancestor(top, p) for p in chosen) for top in chosen):
                return False
        return True


def search(snapshot: Snapshot, query: CandidateQuery) -> tuple[list[AllocationRequest], list[int]]:
    """The allocation requests satisfying ``query`` (at most ``limit``), and the providers they touch."""
    finder = _Search(snapshot, query)
    seen: set[frozenset[tuple[int, str, int]]] = set()
    found: list[AllocationRequest] = []
    involved: dict[int, None] = {}
    uuid_of = {p.id: p.uuid for p in snapshot.providers.values()}
    for root in finder.tree_members:
        if (query.root_required or query.root_forbidden) and not finder.root_ok(root):
            continue
        pool = finder.pool(root)
        if len(pool) == 1:
            single = finder.single_provider(pool[0])
            if single is not None:
                key = frozenset((pool[0], rc, n) for rc, n in single.items())
                if key not in seen:
                    seen.add(key)
                    found.append(AllocationRequest({uuid_of[pool[0]]: single},
                                                   {g.suffix: [uuid_of[pool[0]]] for g in query.groups}))
                    involved[pool[0]] = None
                    if query.limit is not None and len(found) >= query.limit:
                        return found, list(involved)
            continue
        per_group = []
        for group in query.groups:
            options = finder.group_options(group, root, pool)
            if not options:
                break
            per_group.append(options)
        else:
            for merged, mappings in finder.combine(root, per_group):
                key = frozenset((pid, rc, n) for pid, classes in merged.items() for rc, n in classes.items())
                if key in seen:
                    continue
                seen.add(key)
                found.append(AllocationRequest(
                    {uuid_of[pid]: dict(sorted(classes.items())) for pid, classes in merged.items()},
                    {suffix: [uuid_of[p] for p in pids] for suffix, pids in mappings.items()},
                ))
                for pid in merged:
                    involved[pid] = None
                for pids in mappings.values():
                    involved.update(dict.fromkeys(pids))
                if query.limit is not None and len(found) >= query.limit:
                    return found, list(involved)
    return found, list(involved)


# Putting it together ----------------------------------------------------------------------------


def summarize(session: Session, snapshot: Snapshot, provider_ids: Sequence[int], classes: Sequence[str] | None,
              ) -> list[ProviderSummary]:
    """Capacity, usage and traits of each provider (only of ``classes`` when given)."""
    if not provider_ids:
        return []
    wanted = set(provider_ids)
    few = len(wanted) <= 500  # an IN list then; beyond, one pass over every row is cheaper
    inventories: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    for row in inventory_usage(session, list(classes or ()), wanted if few else None):
        if row.provider_id in wanted:
            inventories[row.provider_id][row.resource_class] = (capacity(row.inventory), row.used)
    traits: dict[int, list[str]] = defaultdict(list)
    trait_query = select(ProviderTrait.provider_id, ProviderTrait.trait).order_by(ProviderTrait.trait)
    if few:
        trait_query = trait_query.where(ProviderTrait.provider_id.in_(sorted(wanted)))
    for pid, trait in session.connection().execute(trait_query):
        if pid in wanted:
            traits[pid].append(trait)
    summaries = []
    for pid in provider_ids:
        node = snapshot.providers[pid]
        parent = snapshot.providers[node.parent_id].uuid if node.parent_id is not None else None
        summaries.append(ProviderSummary(node.uuid, parent, snapshot.providers[node.root_id].uuid,
                                         dict(sorted(inventories[pid].items())), traits[pid]))
    return summaries


def allocation_candidates(session: Session, query: CandidateQuery, all_classes_in_summaries: bool = True,
                          ) -> Candidates:
    """Placement's allocation candidates for ``query``.

    Provider summaries cover every provider of the trees involved (only the providers of the
    requests themselves when ``query.nested`` is False) and, unless ``all_classes_in_summaries``
    is False (before 1.27), every class of their inventory.
    """
    if not query.groups:
        raise BadRequest("At least one request group (resources=...) is required.")
    snapshot = load_snapshot(session, query)
    requests, involved = search(snapshot, query)
    if query.nested:
        roots = {snapshot.providers[pid].root_id for pid in involved}
        shown = [p.id for p in snapshot.providers.values() if p.root_id in roots or p.id in involved]
    else:
        shown = sorted(involved)
    classes = None if all_classes_in_summaries else sorted({rc for g in query.groups for rc in g.resources})
    return Candidates(requests, summarize(session, snapshot, shown, classes))
