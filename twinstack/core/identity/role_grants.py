"""Grants (a role given to a user or a group on a project, a domain or the system) and their listing.

Writing a grant is idempotent. Removing one revokes every token that may have carried a role it
gave: a token depends on a grant only if it carries a role in the granted role's implied closure,
so the revocation events name the user, each such role and the target: the project; the domain,
for domain grants and for inherited grants (which reach projects anywhere below); nothing more for
system grants. Trust and application-credential tokens carry only part of their owner's roles, and
are caught the same way. A group grant is revoked for each member. Over-revoking is harmless (the
client logs in again); under-revoking is not.

``/v3/role_assignments`` is answered here too: stored grants as they are, or (``effective``) as
users really hold them, through the pure resolver of :mod:`twinstack.core.identity.assignments`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Forbidden, NotFound
from twinstack.core.identity.assignments import (
    Grant,
    Snapshot,
    ancestors,
    descendants,
    expand_assignments,
    implied_closure,
)
from twinstack.core.identity.grants import (
    domain_role_ids,
    group_members,
    implied_map,
    project_tree,
    to_grant,
    user_group_ids,
)
from twinstack.core.identity.revocation import Revocation, RevocationList
from twinstack.db.models.identity import Domain, Group, Project, Role, RoleAssignment, User

ACTORS = {"user": "User", "group": "Group"}
TARGETS = {"project": "Project", "domain": "Domain", "system": "System"}


@dataclass(frozen=True)
class GrantRef:
    """One grant as the API names it: ``actor_type`` user|group, ``target_type`` project|domain|system."""

    actor_type: str
    actor_id: str
    target_type: str
    target_id: str
    role_id: str
    inherited: bool = False

    @property
    def kind(self) -> str:
        return ACTORS[self.actor_type] + TARGETS[self.target_type]

    def key(self) -> dict[str, object]:
        return {"kind": self.kind, "actor_id": self.actor_id, "target_id": self.target_id,
                "role_id": self.role_id, "inherited": self.inherited}


@dataclass(frozen=True)
class Parties:
    """The entities a grant names, each None when missing (policy is checked before 404s are raised)."""

    actor: User | Group | None
    target: Project | Domain | None
    role: Role | None

    @property
    def target_domain_id(self) -> str | None:
        """The domain the target lives in (a domain is its own); None for the system."""
        if isinstance(self.target, Project):
            return self.target.domain_id
        if isinstance(self.target, Domain):
            return self.target.id
        return None


def parties(session: Session, actor_type: str, actor_id: str, target_type: str, target_id: str,
            role_id: str | None = None) -> Parties:
    actor: User | Group | None = (session.get(User, actor_id) if actor_type == "user"
                                  else session.get(Group, actor_id))
    target: Project | Domain | None = None
    if target_type == "project":
        target = session.get(Project, target_id)
    elif target_type == "domain":
        target = session.get(Domain, target_id)
    role = session.get(Role, role_id) if role_id is not None else None
    return Parties(actor, target, role)


def require(session: Session, actor_type: str, actor_id: str, target_type: str, target_id: str,
            role_id: str | None = None) -> Parties:
    """The parties, or NotFound for the first missing one (target, actor, role)."""
    found = parties(session, actor_type, actor_id, target_type, target_id, role_id)
    if target_type != "system" and found.target is None:
        raise NotFound(f"Could not find {target_type}: {target_id}.")
    if found.actor is None:
        raise NotFound(f"Could not find {actor_type}: {actor_id}.")
    if role_id is not None and found.role is None:
        raise NotFound(f"Could not find role: {role_id}.")
    return found


def _not_found(ref: GrantRef) -> NotFound:
    return NotFound(f"Could not find role assignment with role: {ref.role_id}, user or group: {ref.actor_id}, "
                    f"project, domain, or system: {ref.target_id}.")


def create_grant(session: Session, ref: GrantRef) -> None:
    """Give the role; idempotent. A domain-specific role is given only within its own domain."""
    found = require(session, ref.actor_type, ref.actor_id, ref.target_type, ref.target_id, ref.role_id)
    role = found.role
    assert role is not None
    if role.domain_id is not None:
        if ref.target_type == "system":
            raise BadRequest(f"Role {role.id} is a domain-specific role: it cannot be granted on the system.")
        if found.target_domain_id != role.domain_id:
            raise Forbidden(f"{ref.target_type.capitalize()} {ref.target_id} must be in the same domain as "
                            f"the role {role.id} being assigned.")
    if ref.target_type == "system" and ref.inherited:
        raise BadRequest("System role assignments cannot be inherited.")
    if session.get(RoleAssignment, ref.key()) is None:
        session.add(RoleAssignment(**ref.key()))
        session.flush()


def check_grant(session: Session, ref: GrantRef) -> Role:
    """The granted role; NotFound unless the grant exists (and every party with it)."""
    found = require(session, ref.actor_type, ref.actor_id, ref.target_type, ref.target_id, ref.role_id)
    if session.get(RoleAssignment, ref.key()) is None:
        raise _not_found(ref)
    assert found.role is not None
    return found.role


def list_grants(session: Session, actor_type: str, actor_id: str, target_type: str, target_id: str,
                inherited: bool = False) -> list[Role]:
    """The roles granted directly to the actor on the target (inherited ones, or not), sorted by name."""
    require(session, actor_type, actor_id, target_type, target_id)
    kind = ACTORS[actor_type] + TARGETS[target_type]
    ids = select(RoleAssignment.role_id).where(
        RoleAssignment.kind == kind, RoleAssignment.actor_id == actor_id, RoleAssignment.target_id == target_id,
        RoleAssignment.inherited.is_(inherited))
    return list(session.scalars(select(Role).where(Role.id.in_(ids)).order_by(Role.name, Role.id)))


def revoke_grant(session: Session, ref: GrantRef, revocations: RevocationList, now: float) -> None:
    """Remove the grant (NotFound if absent) and revoke the tokens that may have carried its roles."""
    check_grant(session, ref)
    row = session.get(RoleAssignment, ref.key())
    assert row is not None
    grant = to_grant(row)
    session.delete(row)
    session.flush()
    revoke_for(session, [grant], implied_closure([ref.role_id], implied_map(session)), revocations, now)


def revoke_losses(session: Session, role_ids: Iterable[str], lost: set[str], revocations: RevocationList,
                  now: float) -> None:
    """Revoke the tokens that may carry a role in ``lost`` through any grant of a role in ``role_ids``."""
    ids = list(set(role_ids))
    if not ids or not lost:
        return
    rows = session.scalars(select(RoleAssignment).where(RoleAssignment.role_id.in_(ids)))
    revoke_for(session, [to_grant(r) for r in rows], lost, revocations, now)


def revoke_for(session: Session, grants: list[Grant], lost: set[str], revocations: RevocationList,
               now: float) -> None:
    """One event per (user reached by a grant, its target's revocation attributes, role in ``lost``)."""
    members = group_members(session, [g.actor_id for g in grants if g.to_group])
    above = [g.target_id for g in grants if g.inherited and g.target_type == "project"]
    domain_of: dict[str, str] = {}
    if above:
        rows = session.execute(select(Project.id, Project.domain_id).where(Project.id.in_(above)))
        domain_of = {project_id: domain_id for project_id, domain_id in rows}
    events: set[Revocation] = set()
    for grant in grants:
        scope = _revocation_scope(grant, domain_of)
        if scope is None:
            continue
        for user_id in members.get(grant.actor_id, []) if grant.to_group else [grant.actor_id]:
            for role_id in lost:
                events.add(Revocation(issued_before=now, user_id=user_id, role_id=role_id, **scope))
    for event in sorted(events, key=lambda e: (e.user_id or "", e.role_id or "", e.project_id or "",
                                               e.domain_id or "")):
        revocations.revoke(session, event, now)


def _revocation_scope(grant: Grant, domain_of: dict[str, str]) -> dict[str, str] | None:
    """The token attributes a grant's effect is confined to; None when it reaches no token (gone target).

    An inherited grant on a project reaches projects anywhere below it, all in its domain.
    """
    if grant.target_type == "system":
        return {}
    if grant.target_type == "domain":
        return {"domain_id": grant.target_id}
    if not grant.inherited:
        return {"project_id": grant.target_id}
    domain_id = domain_of.get(grant.target_id)
    return {"domain_id": domain_id} if domain_id is not None else None


# Listing (/v3/role_assignments) -----------------------------------------------------------------


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
    return [ACTORS[a] + TARGETS[t] for a in actors for t in targets]


def list_assignments(session: Session, query: AssignmentQuery) -> list[Listed]:
    """The assignments matching ``query``, as Keystone lists them (see the module docstring)."""
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
    return list(TARGETS)


def _direct(session: Session, query: AssignmentQuery, projects: set[str] | None) -> list[Listed]:
    actors = ["user"] if query.user_id else ["group"] if query.group_id else list(ACTORS)
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
        where += [RoleAssignment.kind.in_(_kinds(ACTORS, ["domain"])), RoleAssignment.target_id == query.domain_id,
                  RoleAssignment.inherited.is_(False)]
    elif query.system:
        where.append(RoleAssignment.kind.in_(_kinds(ACTORS, ["system"])))
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
