"""Groups: sets of users that roles can be granted to at once.

A member holds every role granted to the group. Taking a user out of a group may take roles
away, so it revokes the user's tokens; deleting a group does the same for every member and
removes the grants made to the group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.core.identity.assignments import GROUP_DOMAIN, GROUP_PROJECT, GROUP_SYSTEM
from twinstack.core.identity.lookup import get_or_404
from twinstack.core.identity.revocation import Revocation, RevocationList
from twinstack.core.identity.users import UserFilter, get_user
from twinstack.db.models.identity import Domain, Group, GroupMembership, RoleAssignment, User


@dataclass(frozen=True)
class NewGroup:
    name: str
    domain_id: str
    description: str = ""


def get_group(session: Session, group_id: str) -> Group:
    return get_or_404(session, Group, group_id, "group")


def find_groups(session: Session, name: str | None = None, domain_id: str | None = None) -> list[Group]:
    query = select(Group).order_by(Group.name, Group.id)
    if name is not None:
        query = query.where(Group.name == name)
    if domain_id is not None:
        query = query.where(Group.domain_id == domain_id)
    return list(session.scalars(query))


def _assert_unique_name(session: Session, domain_id: str, name: str, group_id: str | None = None) -> None:
    clash = session.scalar(select(Group.id).where(Group.domain_id == domain_id, Group.name == name))
    if clash is not None and clash != group_id:
        raise Conflict(f"Conflict occurred attempting to store group - Duplicate entry found with name {name} "
                       f"at domain ID {domain_id}.")


def create_group(session: Session, new: NewGroup) -> Group:
    get_or_404(session, Domain, new.domain_id, "domain")
    _assert_unique_name(session, new.domain_id, new.name)
    group = Group(name=new.name, domain_id=new.domain_id, description=new.description)
    session.add(group)
    session.flush()
    return group


def update_group(session: Session, group_id: str, changes: Mapping[str, Any]) -> Group:
    group = get_group(session, group_id)
    if "domain_id" in changes and changes["domain_id"] != group.domain_id:
        raise BadRequest("Cannot change Domain ID")
    if "name" in changes and changes["name"] != group.name:
        _assert_unique_name(session, group.domain_id, changes["name"], group.id)
        group.name = changes["name"]
    if "description" in changes:
        group.description = changes["description"] or ""
    session.flush()
    return group


def member_ids(session: Session, group_id: str) -> list[str]:
    return list(session.scalars(select(GroupMembership.user_id).where(GroupMembership.group_id == group_id)))


def purge_group(session: Session, group: Group) -> None:
    """Delete the group, its memberships and the grants made to it; the caller revokes tokens."""
    session.execute(delete(RoleAssignment).where(
        RoleAssignment.actor_id == group.id,
        RoleAssignment.kind.in_([GROUP_PROJECT, GROUP_DOMAIN, GROUP_SYSTEM])))
    session.execute(delete(GroupMembership).where(GroupMembership.group_id == group.id))
    session.delete(group)
    session.flush()


def delete_group(session: Session, group_id: str, revocations: RevocationList, now: float) -> None:
    group = get_group(session, group_id)
    members = member_ids(session, group.id)
    purge_group(session, group)
    for user_id in members:
        revocations.revoke(session, Revocation(issued_before=now, user_id=user_id), now)


def members(session: Session, group_id: str, where: UserFilter = UserFilter()) -> list[User]:
    get_group(session, group_id)
    query = (select(User).join(GroupMembership, GroupMembership.user_id == User.id)
             .where(GroupMembership.group_id == group_id, *where.clauses()).order_by(User.name, User.id))
    return list(session.scalars(query))


def add_member(session: Session, group_id: str, user_id: str) -> None:
    """Idempotent: adding a member twice is no error."""
    get_group(session, group_id)
    get_user(session, user_id)
    if session.get(GroupMembership, {"user_id": user_id, "group_id": group_id}) is None:
        session.add(GroupMembership(user_id=user_id, group_id=group_id))
        session.flush()


def check_member(session: Session, group_id: str, user_id: str) -> None:
    """NotFound unless ``user_id`` is a member of ``group_id`` (both existing)."""
    get_group(session, group_id)
    get_user(session, user_id)
    if session.get(GroupMembership, {"user_id": user_id, "group_id": group_id}) is None:
        raise NotFound(f"User '{user_id}' not found in group '{group_id}'")


def remove_member(session: Session, group_id: str, user_id: str, revocations: RevocationList, now: float) -> None:
    check_member(session, group_id, user_id)
    session.execute(delete(GroupMembership).where(GroupMembership.group_id == group_id,
                                                  GroupMembership.user_id == user_id))
    revocations.revoke(session, Revocation(issued_before=now, user_id=user_id), now)
