"""Domains: the top containers of projects, users, groups and domain-specific roles.

A domain is deleted only once disabled (so nobody deletes one by mistake, nor the one they are
logged in through), and its deletion takes everything it holds with it: projects (leaves first,
each as a project deletion), users, groups, its own roles and every grant on it. Disabling or
deleting a domain revokes every token of its users, or scoped to it or to one of its projects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from twinstack.core.errors import Conflict, Forbidden
from twinstack.core.identity.assignments import GROUP_DOMAIN, USER_DOMAIN
from twinstack.core.identity.groups import purge_group
from twinstack.core.identity.lookup import get_or_404
from twinstack.core.identity.options import RESOURCE_OPTIONS, check_deletable, check_mutable, merge_options
from twinstack.core.identity.projects import purge_project, valid_tags
from twinstack.core.identity.revocation import Revocation, RevocationList
from twinstack.core.identity.users import purge_user
from twinstack.db.models.identity import Domain, Group, ImpliedRole, Project, Role, RoleAssignment, User


@dataclass(frozen=True)
class NewDomain:
    name: str
    description: str = ""
    enabled: bool = True
    tags: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


def get_domain(session: Session, domain_id: str) -> Domain:
    return get_or_404(session, Domain, domain_id, "domain")


def find_domains(session: Session, name: str | None = None, enabled: bool | None = None) -> list[Domain]:
    query = select(Domain).order_by(Domain.name, Domain.id)
    if name is not None:
        query = query.where(Domain.name == name)
    if enabled is not None:
        query = query.where(Domain.enabled.is_(enabled))
    return list(session.scalars(query))


def _assert_unique_name(session: Session, name: str, domain_id: str | None = None) -> None:
    clash = session.scalar(select(Domain.id).where(Domain.name == name))
    if clash is not None and clash != domain_id:
        raise Conflict(f"Conflict occurred attempting to store domain - Duplicate entry found with name {name}.")


def create_domain(session: Session, new: NewDomain) -> Domain:
    _assert_unique_name(session, new.name)
    domain = Domain(name=new.name, description=new.description, enabled=new.enabled, tags=valid_tags(new.tags),
                    options=merge_options({}, new.options, RESOURCE_OPTIONS))
    session.add(domain)
    session.flush()
    return domain


def update_domain(session: Session, domain_id: str, changes: Mapping[str, Any], revocations: RevocationList,
                  now: float) -> Domain:
    """Apply ``changes`` (name, description, enabled, tags, options); disabling revokes tokens."""
    domain = get_domain(session, domain_id)
    check_mutable("domain", domain.id, domain.options, changes)
    if "name" in changes and changes["name"] != domain.name:
        _assert_unique_name(session, changes["name"], domain.id)
        domain.name = changes["name"]
    if "description" in changes:
        domain.description = changes["description"] or ""
    if "tags" in changes:
        domain.tags = valid_tags(changes["tags"])
    if "options" in changes:
        domain.options = merge_options(domain.options, changes["options"], RESOURCE_OPTIONS)
    if "enabled" in changes and changes["enabled"] != domain.enabled:
        domain.enabled = changes["enabled"]
        if not domain.enabled:
            revocations.revoke(session, Revocation(issued_before=now, domain_id=domain.id), now)
    session.flush()
    return domain


def _leaves_first(projects: list[Project]) -> list[Project]:
    children: dict[str | None, list[Project]] = {}
    for project in projects:
        children.setdefault(project.parent_id, []).append(project)
    ordered: list[Project] = []

    def visit(project: Project) -> None:
        for child in children.get(project.id, []):
            visit(child)
        ordered.append(project)

    ids = {p.id for p in projects}
    for root in (p for p in projects if p.parent_id not in ids):
        visit(root)
    return ordered


def delete_domain(session: Session, domain_id: str, revocations: RevocationList, now: float) -> None:
    """Delete a disabled domain and all it holds (Forbidden while it is enabled or immutable)."""
    domain = get_domain(session, domain_id)
    check_deletable("domain", domain.id, domain.options)
    if domain.enabled:
        raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
    for project in _leaves_first(list(session.scalars(select(Project).where(Project.domain_id == domain.id)))):
        purge_project(session, project, now)
    for user in session.scalars(select(User).where(User.domain_id == domain.id)).all():
        purge_user(session, user, now)
    for group in session.scalars(select(Group).where(Group.domain_id == domain.id)).all():
        purge_group(session, group)
    session.execute(delete(RoleAssignment).where(RoleAssignment.target_id == domain.id,
                                                 RoleAssignment.kind.in_([USER_DOMAIN, GROUP_DOMAIN])))
    own_roles = list(session.scalars(select(Role.id).where(Role.domain_id == domain.id)))
    if own_roles:
        session.execute(delete(RoleAssignment).where(RoleAssignment.role_id.in_(own_roles)))
        session.execute(delete(ImpliedRole).where(or_(ImpliedRole.prior_role_id.in_(own_roles),
                                                      ImpliedRole.implied_role_id.in_(own_roles))))
        session.execute(delete(Role).where(Role.id.in_(own_roles)))
    session.delete(domain)
    session.flush()
    revocations.revoke(session, Revocation(issued_before=now, domain_id=domain_id), now)
