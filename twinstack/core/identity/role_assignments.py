"""Role assignments as ``GET /v3/role_assignments`` lists them: who holds which role where.

Either the stored grants as they are, or (``effective``) every way a user really holds a role:
group grants expanded to their members, inherited grants to the projects below their target,
implied roles added and domain-specific roles left out, through the pure resolver of
:mod:`twinstack.core.identity.assignments`. Read-only; granting and revoking is
:mod:`twinstack.core.identity.role_grants`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from twinstack.core.errors import NotFound
from twinstack.core.identity.assignments import (
    ACTOR_TYPES,
    TARGET_TYPES,
    Grant,
    Snapshot,
    ancestors,
    descendants,
    expand_assignments,
    grant_kind,
)
from twinstack.core.identity.grants import (
    domain_role_ids,
    group_members,
    implied_map,
    project_tree,
    to_grant,
    user_group_ids,
)
from twinstack.db.models.identity import Domain, Group, Project, Role, RoleAssignment, User


@dataclass(frozen=True)
class AssignmentQuery:
    """The filters of ``GET /v3/role_assignments``; ``visible_domain`` confines a domain reader."""

    user_id: str | None = None
    group_id: str | None = None
    role_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    inherited: bool | None = None
    effective: bool = False
    include_subtree: bool = False
    visible_domain: str | None = None


@dataclass(frozen=True)
class Listed:
    """One listed assignment: a stored grant, or (effective) one way a user holds a role through it.

    ``user_id`` is the holder: the actor of a user grant, a member of a group grant when effective,
    None for a group grant listed as such. The target is where it applies: for an inherited grant
    listed effectively, a project below the grant's own target.
    """

    grant: Grant
    user_id: str | None
    target_type: str
    target_id: str
    role_id: str
    implied_by: str | None = None


def _kinds(actors: Iterable[str], targets: Iterable[str]) -> list[str]:
    return [grant_kind(a, t) for a in actors for t in targets]


def list_assignments(session: Session, query: AssignmentQuery) -> list[Listed]:
    """The assignments matching ``query``, as Keystone lists them (see the module docstring).

    NotFound when ``effective`` or ``include_subtree`` names a project that does not exist.
    """
    parent: dict[str, str | None] = {}
    domain_of: dict[str, str] = {}
    needs_tree = query.effective or query.include_subtree or query.visible_domain is not None
    if needs_tree:
        parent, domain_of = project_tree(session)
    projects: set[str] | None = None
    if query.project_id is not None:
        projects = {query.project_id}
        if query.include_subtree or query.effective:
            if query.project_id not in parent:
                raise NotFound(f"Could not find project: {query.project_id}.")
            if query.include_subtree:
                projects |= set(descendants(query.project_id, parent))
    found = (_effective(session, query, projects, parent, domain_of) if query.effective
             else _direct(session, query, projects))
    if query.visible_domain is not None:
        found = [a for a in found if _in_domain(a, query.visible_domain, domain_of)]
    return found


def _in_domain(listed: Listed, domain_id: str, domain_of: dict[str, str]) -> bool:
    if listed.target_type == "domain":
        return listed.target_id == domain_id
    if listed.target_type == "project":
        return domain_of.get(listed.target_id) == domain_id
    return False


def _targets_wanted(query: AssignmentQuery) -> list[str]:
    if query.project_id is not None:
        return ["project"]
    if query.domain_id is not None:
        return ["domain"]
    if query.system:
        return ["system"]
    return list(TARGET_TYPES)


def _direct(session: Session, query: AssignmentQuery, projects: set[str] | None) -> list[Listed]:
    actors = ["user"] if query.user_id else ["group"] if query.group_id else list(ACTOR_TYPES)
    where: list[ColumnElement[bool]] = [RoleAssignment.kind.in_(_kinds(actors, _targets_wanted(query)))]
    if query.user_id or query.group_id:
        where.append(RoleAssignment.actor_id == (query.user_id or query.group_id))
    if query.role_id is not None:
        where.append(RoleAssignment.role_id == query.role_id)
    if projects is not None:
        where.append(RoleAssignment.target_id.in_(projects))
    elif query.domain_id is not None:
        where.append(RoleAssignment.target_id == query.domain_id)
    if query.inherited is not None:
        where.append(RoleAssignment.inherited.is_(query.inherited))
    rows = session.scalars(select(RoleAssignment).where(*where).order_by(
        RoleAssignment.kind, RoleAssignment.actor_id, RoleAssignment.target_id, RoleAssignment.role_id,
        RoleAssignment.inherited))
    listed = []
    for row in rows:
        grant = to_grant(row)
        listed.append(Listed(grant, None if grant.to_group else grant.actor_id, grant.target_type,
                             grant.target_id, grant.role_id))
    return listed


def _effective(session: Session, query: AssignmentQuery, projects: set[str] | None,
               parent: dict[str, str | None], domain_of: dict[str, str]) -> list[Listed]:
    """Group grants expanded to members, inherited ones to projects, implied roles added; domain roles dropped."""
    if query.group_id is not None:
        return []
    where: list[ColumnElement[bool]] = []
    groups: list[str] = []
    if query.user_id is not None:
        groups = user_group_ids(session, query.user_id)
        where.append(RoleAssignment.actor_id.in_([query.user_id, *groups]))
    if projects is not None:
        sources = set(projects)
        for project_id in projects:
            sources |= set(ancestors(project_id, parent))
        sources |= {domain_of[p] for p in projects if p in domain_of}
        where.append(RoleAssignment.target_id.in_(sources))
    elif query.domain_id is not None:
        where += [RoleAssignment.kind.in_(_kinds(ACTOR_TYPES, ["domain"])), RoleAssignment.target_id == query.domain_id,
                  RoleAssignment.inherited.is_(False)]
    elif query.system:
        where.append(RoleAssignment.kind.in_(_kinds(ACTOR_TYPES, ["system"])))
    if query.inherited is not None:
        where.append(RoleAssignment.inherited.is_(query.inherited))
    grants = [to_grant(r) for r in session.scalars(select(RoleAssignment).where(*where).order_by(
        RoleAssignment.kind, RoleAssignment.actor_id, RoleAssignment.target_id, RoleAssignment.role_id,
        RoleAssignment.inherited))]
    if query.user_id is not None:
        members: dict[str, list[str]] = {g: [query.user_id] for g in groups}
    else:
        members = group_members(session, [g.actor_id for g in grants if g.to_group])
    snapshot = Snapshot(grants=grants, group_members=members, project_parent=parent, project_domain=domain_of,
                        implied=implied_map(session))
    domain_roles = domain_role_ids(session)
    wanted = set(_targets_wanted(query))
    listed = []
    for held in expand_assignments(snapshot):
        if held.target_type not in wanted or held.role_id in domain_roles:
            continue
        if query.user_id is not None and held.user_id != query.user_id:
            continue
        if query.role_id is not None and held.role_id != query.role_id:
            continue
        if projects is not None and held.target_id not in projects:
            continue
        if query.domain_id is not None and held.target_id != query.domain_id:
            continue
        listed.append(Listed(held.source, held.user_id, held.target_type, held.target_id, held.role_id,
                             held.implied_by))
    return listed


@dataclass
class Names:
    """The entities a listing names, by id, for ``include_names``."""

    roles: dict[str, Role] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)


def names_of(session: Session, listed: list[Listed]) -> Names:
    """Load every role, user, group, project and domain (with their domains) that ``listed`` names."""
    names = Names(
        roles={r.id: r for r in _by_ids(session, Role, {a.role_id for a in listed})},
        users={u.id: u for u in _by_ids(session, User, {a.user_id for a in listed if a.user_id})},
        groups={g.id: g for g in _by_ids(session, Group, {a.grant.actor_id for a in listed if a.user_id is None})},
        projects={p.id: p for p in _by_ids(session, Project,
                                           {a.target_id for a in listed if a.target_type == "project"})},
    )
    domain_ids = {a.target_id for a in listed if a.target_type == "domain"}
    domain_ids |= {u.domain_id for u in names.users.values()} | {g.domain_id for g in names.groups.values()}
    domain_ids |= {p.domain_id for p in names.projects.values()}
    domain_ids |= {r.domain_id for r in names.roles.values() if r.domain_id}
    names.domains = {d.id: d for d in _by_ids(session, Domain, domain_ids)}
    return names


T = TypeVar("T", Role, User, Group, Project, Domain)


def _by_ids(session: Session, model: type[T], ids: set[str]) -> list[T]:
    if not ids:
        return []
    return list(session.scalars(select(model).where(model.id.in_(ids))))
