"""Roles and the rules by which one role implies another.

A role is global (``domain_id`` None) or belongs to one domain; names are unique among the global
roles and within each domain. A domain-specific role never appears in a token: it only serves to
imply global roles, so a global role may not imply a domain-specific one. No role may imply
``admin`` (Keystone's ``prohibited_implied_role``). Cycles are allowed: resolution is cycle-safe.

Anything that can take a role away from someone revokes the tokens that depended on it: deleting
a role, or an implication rule (see :mod:`twinstack.core.identity.role_grants`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from twinstack.core.identity.assignments import implied_closure, priors_of
from twinstack.core.identity.grants import implied_map
from twinstack.core.identity.lookup import get_or_404
from twinstack.core.identity.options import RESOURCE_OPTIONS, check_deletable, check_mutable, merge_options
from twinstack.core.identity.revocation import Revocation, RevocationList
from twinstack.core.identity.role_grants import revoke_losses
from twinstack.db.models.identity import Domain, ImpliedRole, Role, RoleAssignment

PROHIBITED_IMPLIED = frozenset({"admin"})
"""Roles no other role may imply (Keystone's ``[assignment] prohibited_implied_role``)."""


@dataclass(frozen=True)
class NewRole:
    name: str
    domain_id: str | None = None
    description: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def get_role(session: Session, role_id: str) -> Role:
    return get_or_404(session, Role, role_id, "role")


def find_roles(session: Session, name: str | None = None, domain_id: str | None = None) -> list[Role]:
    """Roles by name; without ``domain_id`` only the global ones, as Keystone lists them."""
    query = select(Role).where(Role.scope_key == (domain_id or "")).order_by(Role.name, Role.id)
    if name is not None:
        query = query.where(Role.name == name)
    return list(session.scalars(query))


def _assert_unique_name(session: Session, name: str, scope_key: str, role_id: str | None = None) -> None:
    clash = session.scalar(select(Role.id).where(Role.name == name, Role.scope_key == scope_key))
    if clash is not None and clash != role_id:
        raise Conflict(f"Conflict occurred attempting to store role - Duplicate entry found with name {name}.")


def create_role(session: Session, new: NewRole) -> Role:
    """A new role; 404 for an unknown domain, 409 for a name already taken in its scope."""
    if new.domain_id is not None:
        get_or_404(session, Domain, new.domain_id, "domain")
    scope_key = new.domain_id or ""
    _assert_unique_name(session, new.name, scope_key)
    role = Role(name=new.name, domain_id=new.domain_id, scope_key=scope_key, description=new.description,
                options=merge_options({}, new.options, RESOURCE_OPTIONS))
    session.add(role)
    session.flush()
    return role


def update_role(session: Session, role_id: str, changes: Mapping[str, Any]) -> Role:
    """Rename, describe or set options; ``domain_id`` may be repeated but not changed."""
    role = get_role(session, role_id)
    check_mutable("role", role.id, role.options, changes)
    if "domain_id" in changes and changes["domain_id"] != role.domain_id:
        raise BadRequest("Update of `domain_id` is not allowed.")
    if "name" in changes and changes["name"] != role.name:
        _assert_unique_name(session, changes["name"], role.scope_key, role.id)
        role.name = changes["name"]
    if "description" in changes:
        role.description = changes["description"]
    if "options" in changes:
        role.options = merge_options(role.options, changes["options"] or {}, RESOURCE_OPTIONS)
    session.flush()
    return role


def delete_role(session: Session, role_id: str, revocations: RevocationList, now: float) -> None:
    """Delete the role, its grants and the rules it takes part in; revoke every token it gave."""
    role = get_role(session, role_id)
    check_deletable("role", role.id, role.options)
    implied = implied_map(session)
    revoke_losses(session, priors_of(role.id, implied), implied_closure([role.id], implied), revocations, now)
    revocations.revoke(session, Revocation(issued_before=now, role_id=role.id), now)
    session.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role.id))
    session.execute(delete(ImpliedRole).where(or_(ImpliedRole.prior_role_id == role.id,
                                                  ImpliedRole.implied_role_id == role.id)))
    session.delete(role)
    session.flush()


def get_implied_role(session: Session, prior_id: str, implied_id: str) -> tuple[Role, Role]:
    """The two roles of an existing rule; 404 if either role, or the rule, is missing."""
    prior = get_role(session, prior_id)
    implied = get_role(session, implied_id)
    if session.get(ImpliedRole, {"prior_role_id": prior_id, "implied_role_id": implied_id}) is None:
        raise NotFound(f"{prior_id} does not imply {implied_id}.")
    return prior, implied


def create_implied_role(session: Session, prior_id: str, implied_id: str) -> tuple[Role, Role]:
    """Make ``prior`` imply ``implied``; 403 for a prohibited or domain-specific implied role, 409 if it exists."""
    prior = get_role(session, prior_id)
    implied = get_role(session, implied_id)
    if implied.name in PROHIBITED_IMPLIED and implied.domain_id is None:
        raise Forbidden(f"{implied_id} cannot be an implied roles.")
    if prior.domain_id is None and implied.domain_id is not None:
        raise Forbidden("Global role cannot imply a domain-specific role")
    key = {"prior_role_id": prior_id, "implied_role_id": implied_id}
    if session.get(ImpliedRole, key) is not None:
        raise Conflict(f"Conflict occurred attempting to store implied_role - {prior_id} already implies "
                       f"{implied_id}.")
    session.add(ImpliedRole(**key))
    session.flush()
    return prior, implied


def delete_implied_role(session: Session, prior_id: str, implied_id: str, revocations: RevocationList,
                        now: float) -> None:
    """Remove the rule; tokens of everyone who held ``prior`` (and so ``implied``) are revoked."""
    get_implied_role(session, prior_id, implied_id)
    implied = implied_map(session)
    revoke_losses(session, priors_of(prior_id, implied), implied_closure([implied_id], implied), revocations, now)
    session.execute(delete(ImpliedRole).where(ImpliedRole.prior_role_id == prior_id,
                                              ImpliedRole.implied_role_id == implied_id))
    session.flush()


def implied_roles(session: Session, prior_id: str) -> tuple[Role, list[Role]]:
    """The prior role and the roles it implies directly, sorted by name."""
    prior = get_role(session, prior_id)
    ids = select(ImpliedRole.implied_role_id).where(ImpliedRole.prior_role_id == prior_id)
    return prior, list(session.scalars(select(Role).where(Role.id.in_(ids)).order_by(Role.name, Role.id)))


def inference_rules(session: Session) -> list[tuple[Role, list[Role]]]:
    """Every prior role with the roles it implies directly, priors sorted by name."""
    roles = {r.id: r for r in session.scalars(select(Role))}
    rules: dict[str, list[Role]] = {}
    for prior_id, implied in implied_map(session).items():
        rules[prior_id] = sorted((roles[i] for i in implied if i in roles), key=lambda r: (r.name, r.id))
    ordered = sorted((roles[p] for p in rules if p in roles), key=lambda r: (r.name, r.id))
    return [(prior, rules[prior.id]) for prior in ordered]
