"""Grants: a role given to a user or a group on a project, a domain or the system, and taken back.

Writing a grant is idempotent. Removing one revokes every token that may have carried a role it
gave: a token depends on a grant only if it carries a role in the granted role's implied closure,
so the revocation events name the user, each such role and the target: the project; the domain,
for domain grants and for inherited grants (which reach projects anywhere below); nothing more for
system grants. Trust and application-credential tokens carry only part of their owner's roles, and
are caught the same way. A group grant is revoked for each member. Over-revoking is harmless (the
client logs in again); under-revoking is not.

Listing who holds what (``/v3/role_assignments``) is :mod:`twinstack.core.identity.role_assignments`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Forbidden, NotFound
from twinstack.core.identity.assignments import Grant, grant_kind, implied_closure
from twinstack.core.identity.grants import group_members, implied_map, to_grant
from twinstack.core.identity.revocation import Revocation, RevocationList
from twinstack.db.models.identity import Domain, Group, Project, Role, RoleAssignment, User


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
        return grant_kind(self.actor_type, self.target_type)

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
    kind = grant_kind(actor_type, target_type)
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
