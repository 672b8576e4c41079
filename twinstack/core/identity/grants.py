"""Loading role assignments from storage into the resolver's snapshots, and the roles a user holds.

Reads only: granting and revoking is :mod:`twinstack.core.identity.role_grants`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from twinstack.core.identity.assignments import Grant, Snapshot, ancestors, roles_on
from twinstack.db.models.identity import (
    GroupMembership,
    ImpliedRole,
    Project,
    Role,
    RoleAssignment,
)


def project_tree(session: Session) -> tuple[dict[str, str | None], dict[str, str]]:
    """Parent and domain of every project (one query over three columns)."""
    parent: dict[str, str | None] = {}
    domain: dict[str, str] = {}
    for project_id, parent_id, domain_id in session.execute(select(Project.id, Project.parent_id, Project.domain_id)):
        parent[project_id] = parent_id
        domain[project_id] = domain_id
    return parent, domain


def group_members(session: Session, group_ids: Iterable[str]) -> dict[str, list[str]]:
    """The members of each of ``group_ids`` (groups without members are left out)."""
    ids = list(set(group_ids))
    members: dict[str, list[str]] = {}
    if not ids:
        return members
    rows = session.execute(select(GroupMembership.group_id, GroupMembership.user_id)
                           .where(GroupMembership.group_id.in_(ids)).order_by(GroupMembership.user_id))
    for group_id, user_id in rows:
        members.setdefault(group_id, []).append(user_id)
    return members


def domain_role_ids(session: Session) -> set[str]:
    """The ids of every domain-specific role."""
    return set(session.scalars(select(Role.id).where(Role.domain_id.is_not(None))))


def implied_map(session: Session) -> dict[str, list[str]]:
    implied: dict[str, list[str]] = {}
    for row in session.scalars(select(ImpliedRole)):
        implied.setdefault(row.prior_role_id, []).append(row.implied_role_id)
    return implied


def project_lineage(session: Session, project_id: str) -> tuple[dict[str, str | None], dict[str, str]]:
    """Parents and domains of a project and of all its ancestors (walked one query a level)."""
    parent: dict[str, str | None] = {}
    domain: dict[str, str] = {}
    current: str | None = project_id
    while current is not None and current not in parent:
        project = session.get(Project, current)
        if project is None:
            break
        parent[project.id] = project.parent_id
        domain[project.id] = project.domain_id
        current = project.parent_id
    return parent, domain


def user_group_ids(session: Session, user_id: str) -> list[str]:
    return list(session.scalars(select(GroupMembership.group_id).where(GroupMembership.user_id == user_id)))


def to_grant(row: RoleAssignment) -> Grant:
    return Grant(row.kind, row.actor_id, row.target_id, row.role_id, row.inherited)


def snapshot_for(session: Session, user_id: str, target_type: str, target_id: str) -> tuple[Snapshot, list[str]]:
    """The part of the assignment graph that can give ``user_id`` a role on one target."""
    groups = user_group_ids(session, user_id)
    parent: dict[str, str | None] = {}
    domain: dict[str, str] = {}
    targets = {target_id}
    if target_type == "project":
        parent, domain = project_lineage(session, target_id)
        targets |= set(ancestors(target_id, parent)) | set(domain.values())
    rows = session.scalars(
        select(RoleAssignment).where(
            RoleAssignment.target_id.in_(targets),
            or_(RoleAssignment.actor_id == user_id, RoleAssignment.actor_id.in_(groups)),
        )
    )
    snapshot = Snapshot(
        grants=[to_grant(r) for r in rows],
        project_parent=parent,
        project_domain=domain,
        implied=implied_map(session),
    )
    return snapshot, groups


def user_roles_on(session: Session, user_id: str, target_type: str, target_id: str) -> list[Role]:
    """The roles (implied ones included) that ``user_id`` holds on the target, sorted by name.

    Domain-specific roles are left out, as Keystone leaves them out of tokens: they only serve to
    imply global roles.
    """
    snapshot, groups = snapshot_for(session, user_id, target_type, target_id)
    role_ids = roles_on(snapshot, user_id, target_type, target_id, groups)
    return [r for r in roles_by_ids(session, role_ids) if r.domain_id is None]


def roles_by_ids(session: Session, role_ids: Iterable[str]) -> list[Role]:
    ids = list(role_ids)
    if not ids:
        return []
    return sorted(session.scalars(select(Role).where(Role.id.in_(ids))), key=lambda r: r.name)
