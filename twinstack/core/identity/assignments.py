"""Role-assignment resolution: which roles a user really holds on a project, a domain or the system.

Pure functions over a snapshot (grants, group memberships, the project tree, implied roles), so the
rules can be tested exhaustively and the same code serves token issue and ``/v3/role_assignments``.

The rules, as Keystone has them:
* a grant to a group is held by each of its members;
* an *inherited* grant on a domain applies to every project of that domain, and on a project to
  every project below it, never to the target itself;
* holding a role means holding every role it implies, transitively (admin → member → reader).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

USER_PROJECT = "UserProject"
GROUP_PROJECT = "GroupProject"
USER_DOMAIN = "UserDomain"
GROUP_DOMAIN = "GroupDomain"
USER_SYSTEM = "UserSystem"
GROUP_SYSTEM = "GroupSystem"
SYSTEM_TARGET = "all"

ACTOR_TYPES = {"user": "User", "group": "Group"}
TARGET_TYPES = {"project": "Project", "domain": "Domain", "system": "System"}


def grant_kind(actor_type: str, target_type: str) -> str:
    """The stored kind of a grant named as the API names it: ``user``/``group`` on ``project``/``domain``/``system``."""
    return ACTOR_TYPES[actor_type] + TARGET_TYPES[target_type]


@dataclass(frozen=True)
class Grant:
    kind: str
    actor_id: str
    target_id: str
    role_id: str
    inherited: bool = False

    @property
    def to_group(self) -> bool:
        return self.kind.startswith("Group")

    @property
    def target_type(self) -> str:
        return {"Project": "project", "Domain": "domain", "System": "system"}[
            self.kind.removeprefix("User").removeprefix("Group")
        ]


@dataclass(frozen=True)
class EffectiveGrant:
    """A role a user holds on one target, and where it came from (for the API's links)."""

    user_id: str
    target_type: str
    target_id: str
    role_id: str
    source: Grant
    implied_by: str | None = None


@dataclass
class Snapshot:
    grants: list[Grant] = field(default_factory=list)
    group_members: Mapping[str, Iterable[str]] = field(default_factory=dict)
    project_parent: Mapping[str, str | None] = field(default_factory=dict)
    project_domain: Mapping[str, str] = field(default_factory=dict)
    implied: Mapping[str, Iterable[str]] = field(default_factory=dict)


def implied_closure(role_ids: Iterable[str], implied: Mapping[str, Iterable[str]]) -> set[str]:
    """Every role held through ``role_ids``, following implications transitively (cycles are safe)."""
    held: set[str] = set()
    pending = list(role_ids)
    while pending:
        role = pending.pop()
        if role in held:
            continue
        held.add(role)
        pending.extend(implied.get(role, ()))
    return held


def priors_of(role_id: str, implied: Mapping[str, Iterable[str]]) -> set[str]:
    """Every role whose holders hold ``role_id`` (itself included): the reverse of :func:`implied_closure`."""
    implying: dict[str, set[str]] = {}
    for prior, roles in implied.items():
        for role in roles:
            implying.setdefault(role, set()).add(prior)
    found: set[str] = set()
    pending = [role_id]
    while pending:
        role = pending.pop()
        if role in found:
            continue
        found.add(role)
        pending.extend(implying.get(role, ()))
    return found


def ancestors(project_id: str, parent: Mapping[str, str | None]) -> list[str]:
    """The project's parents, nearest first (cycles are cut)."""
    chain: list[str] = []
    current = parent.get(project_id)
    while current is not None and current not in chain and current != project_id:
        chain.append(current)
        current = parent.get(current)
    return chain


def descendants(project_id: str, parent: Mapping[str, str | None]) -> list[str]:
    """Every project below ``project_id`` (never the project itself), in no particular order."""
    children: dict[str, list[str]] = {}
    for child, up in parent.items():
        if up is not None:
            children.setdefault(up, []).append(child)
    below: list[str] = []
    seen = {project_id}
    pending = list(children.get(project_id, ()))
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        below.append(current)
        pending.extend(children.get(current, ()))
    return below


def _actor_users(grant: Grant, snapshot: Snapshot) -> Iterable[str]:
    if grant.to_group:
        return snapshot.group_members.get(grant.actor_id, ())
    return (grant.actor_id,)


def _targets(grant: Grant, snapshot: Snapshot) -> Iterable[tuple[str, str]]:
    """The (type, id) pairs a grant reaches: itself, or for an inherited grant the projects below."""
    if not grant.inherited:
        return ((grant.target_type, grant.target_id),)
    if grant.target_type == "domain":
        return (("project", p) for p, d in snapshot.project_domain.items() if d == grant.target_id)
    if grant.target_type == "project":
        return (("project", p) for p in descendants(grant.target_id, snapshot.project_parent))
    return ()


def effective_grants(snapshot: Snapshot, expand_implied: bool = True) -> list[EffectiveGrant]:
    """Every (user, target, role) the snapshot gives, groups and inheritance expanded."""
    found: dict[tuple[str, str, str, str], EffectiveGrant] = {}
    for grant in snapshot.grants:
        for user in _actor_users(grant, snapshot):
            for target_type, target_id in _targets(grant, snapshot):
                key = (user, target_type, target_id, grant.role_id)
                found.setdefault(key, EffectiveGrant(user, target_type, target_id, grant.role_id, grant))
    if expand_implied:
        for held in list(found.values()):
            for role in implied_closure([held.role_id], snapshot.implied) - {held.role_id}:
                key = (held.user_id, held.target_type, held.target_id, role)
                found.setdefault(
                    key,
                    EffectiveGrant(
                        held.user_id, held.target_type, held.target_id, role, held.source, held.role_id
                    ),
                )
    return list(found.values())


def roles_on(
    snapshot: Snapshot, user_id: str, target_type: str, target_id: str, user_groups: Iterable[str] = ()
) -> set[str]:
    """The role ids ``user_id`` holds on one target, implied roles included.

    Only the grants that can reach the target are examined, so a snapshot loaded for one
    (user, target) pair answers as well as a snapshot of the whole cloud.
    """
    groups = set(user_groups) | {
        g for g, members in snapshot.group_members.items() if user_id in set(members)
    }
    direct: set[str] = set()
    lineage = ancestors(target_id, snapshot.project_parent) if target_type == "project" else []
    domain = snapshot.project_domain.get(target_id) if target_type == "project" else None
    for grant in snapshot.grants:
        mine = grant.actor_id in groups if grant.to_group else grant.actor_id == user_id
        if not mine:
            continue
        on_target = grant.target_type == target_type and grant.target_id == target_id
        if on_target and not grant.inherited:
            direct.add(grant.role_id)
        elif target_type == "project" and grant.inherited:
            from_parent = grant.target_type == "project" and grant.target_id in lineage
            from_domain = grant.target_type == "domain" and grant.target_id == domain
            if from_parent or from_domain:
                direct.add(grant.role_id)
    return implied_closure(direct, snapshot.implied)


def implication_edges(role_id: str, implied: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """Every (prior, implied) rule reachable from ``role_id``, nearest first; cycles are safe."""
    edges: list[tuple[str, str]] = []
    visited = {role_id}
    frontier = [role_id]
    while frontier:
        following: list[str] = []
        for prior in frontier:
            for role in sorted(set(implied.get(prior, ()))):
                edges.append((prior, role))
                if role not in visited:
                    visited.add(role)
                    following.append(role)
        frontier = following
    return edges


def expand_assignments(snapshot: Snapshot) -> list[EffectiveGrant]:
    """Keystone's *effective* listing: every way a user holds a role on a target.

    Unlike :func:`effective_grants`, which keeps one entry per (user, target, role), this keeps one
    per path: each grant gives, for each member and each target it reaches, its own role (with
    ``implied_by`` None) and one entry per implication rule reachable from it (``implied_by`` the
    rule's prior role). Identical paths appear once, in the order the grants are given.
    """
    found: dict[EffectiveGrant, None] = {}
    edges: dict[str, list[tuple[str, str]]] = {}
    for grant in snapshot.grants:
        rules = edges.get(grant.role_id)
        if rules is None:
            rules = edges[grant.role_id] = implication_edges(grant.role_id, snapshot.implied)
        for user in _actor_users(grant, snapshot):
            for target_type, target_id in _targets(grant, snapshot):
                found.setdefault(EffectiveGrant(user, target_type, target_id, grant.role_id, grant))
                for prior, role in rules:
                    found.setdefault(EffectiveGrant(user, target_type, target_id, role, grant, prior))
    return list(found)
