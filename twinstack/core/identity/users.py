"""Users: who may log in, with what password, and what is bound to them.

Passwords are stored only as scrypt hashes. Anything that may take power away from a user
revokes the tokens already issued to them: disabling the user, changing or resetting their
password, deleting them. Deleting a user also removes their grants, group memberships,
credentials and application credentials, and ends the trusts they are party to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.orm import Session

from twinstack.core.clock import from_timestamp
from twinstack.core.errors import BadRequest, Conflict, Forbidden, Unauthorized
from twinstack.core.identity.assignments import USER_DOMAIN, USER_PROJECT, USER_SYSTEM
from twinstack.core.identity.lookup import get_or_404
from twinstack.core.identity.options import USER_OPTIONS, merge_options
from twinstack.core.identity.passwords import hash_password, verify_password
from twinstack.core.identity.revocation import Revocation, RevocationList
from twinstack.db.models.identity import (
    AccessRule,
    ApplicationCredential,
    Credential,
    Domain,
    Group,
    GroupMembership,
    RoleAssignment,
    Trust,
    User,
)

COMPARISONS = ("lt", "lte", "gt", "gte", "eq", "neq")
REFUSED = "Error when changing user password: the original password is wrong or the user cannot log in."


@dataclass(frozen=True)
class NewUser:
    name: str
    domain_id: str
    password: str | None = None
    enabled: bool = True
    default_project_id: str | None = None
    description: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Attributes Keystone keeps without knowing them (``email``...), shown back as given."""


@dataclass(frozen=True)
class UserFilter:
    name: str | None = None
    domain_id: str | None = None
    enabled: bool | None = None
    password_expires_at: tuple[str, dt.datetime] | None = None
    """(comparison, moment), comparison one of :data:`COMPARISONS`."""

    def clauses(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.name is not None:
            found.append(User.name == self.name)
        if self.domain_id is not None:
            found.append(User.domain_id == self.domain_id)
        if self.enabled is not None:
            found.append(User.enabled.is_(self.enabled))
        if self.password_expires_at is not None:
            comparison, moment = self.password_expires_at
            column = User.password_expires_at
            found.append({"lt": column < moment, "lte": column <= moment, "gt": column > moment,
                          "gte": column >= moment, "eq": column == moment, "neq": column != moment}[comparison])
        return found


def get_user(session: Session, user_id: str) -> User:
    return get_or_404(session, User, user_id, "user")


def find_users(session: Session, where: UserFilter) -> list[User]:
    return list(session.scalars(select(User).where(*where.clauses()).order_by(User.name, User.id)))


def user_groups(session: Session, user_id: str, name: str | None = None) -> list[Group]:
    """The groups ``user_id`` belongs to (NotFound for an unknown user)."""
    get_user(session, user_id)
    query = (select(Group).join(GroupMembership, GroupMembership.group_id == Group.id)
             .where(GroupMembership.user_id == user_id).order_by(Group.name, Group.id))
    if name is not None:
        query = query.where(Group.name == name)
    return list(session.scalars(query))


def _assert_unique_name(session: Session, domain_id: str, name: str, user_id: str | None = None) -> None:
    clash = session.scalar(select(User.id).where(User.domain_id == domain_id, User.name == name))
    if clash is not None and clash != user_id:
        raise Conflict(f"Conflict occurred attempting to store user - Duplicate entry found with name {name} "
                       f"at domain ID {domain_id}.")


def _assert_not_a_domain(session: Session, project_id: str | None) -> None:
    if project_id and session.get(Domain, project_id) is not None:
        raise BadRequest(f"User's default project ID cannot be a domain ID: {project_id}.")


def create_user(session: Session, new: NewUser, kdf_n: int, now: float) -> User:
    get_or_404(session, Domain, new.domain_id, "domain")
    _assert_not_a_domain(session, new.default_project_id)
    _assert_unique_name(session, new.domain_id, new.name)
    user = User(
        name=new.name,
        domain_id=new.domain_id,
        enabled=new.enabled,
        password_hash=hash_password(new.password, kdf_n) if new.password is not None else None,
        default_project_id=new.default_project_id,
        description=new.description,
        options=merge_options({}, new.options, USER_OPTIONS),
        extra=dict(new.extra),
        created_at=from_timestamp(now),
    )
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, user_id: str, changes: Mapping[str, Any], kdf_n: int,
                revocations: RevocationList, now: float) -> User:
    """Apply ``changes``; disabling the user or setting their password revokes their tokens."""
    user = get_user(session, user_id)
    if "domain_id" in changes and changes["domain_id"] != user.domain_id:
        raise BadRequest("Cannot change Domain ID")
    if "name" in changes and changes["name"] != user.name:
        _assert_unique_name(session, user.domain_id, changes["name"], user.id)
        user.name = changes["name"]
    if "default_project_id" in changes:
        _assert_not_a_domain(session, changes["default_project_id"])
        user.default_project_id = changes["default_project_id"]
    if "description" in changes:
        user.description = changes["description"]
    if "options" in changes:
        user.options = merge_options(user.options, changes["options"], USER_OPTIONS)
    if changes.get("extra"):
        user.extra = {**user.extra, **changes["extra"]}
    revoke = False
    if "password" in changes:
        password = changes["password"]
        user.password_hash = hash_password(password, kdf_n) if password is not None else None
        revoke = True
    if "enabled" in changes and changes["enabled"] != user.enabled:
        user.enabled = changes["enabled"]
        revoke = revoke or not user.enabled
    if revoke:
        revocations.revoke(session, Revocation(issued_before=now, user_id=user.id), now)
    session.flush()
    return user


def change_password(session: Session, user_id: str, original: str, password: str, kdf_n: int,
                    revocations: RevocationList, now: float) -> None:
    """The user's own password change: Unauthorized unless ``original`` is right and the user may log in.

    Every token the user holds is revoked, as after any password change.
    """
    user = session.get(User, user_id)
    if user is None or not user.enabled or not verify_password(original, user.password_hash):
        raise Unauthorized(REFUSED)
    if user.options.get("lock_password"):
        raise Forbidden(f"You are not allowed to change the password of user {user_id}: it is locked.")
    user.password_hash = hash_password(password, kdf_n)
    user.password_expires_at = None
    revocations.revoke(session, Revocation(issued_before=now, user_id=user.id), now)
    session.flush()


def purge_user(session: Session, user: User, now: float) -> None:
    """Delete the user and what is bound to them; the caller revokes their tokens."""
    session.execute(delete(RoleAssignment).where(
        RoleAssignment.actor_id == user.id, RoleAssignment.kind.in_([USER_PROJECT, USER_DOMAIN, USER_SYSTEM])))
    session.execute(delete(GroupMembership).where(GroupMembership.user_id == user.id))
    session.execute(delete(ApplicationCredential).where(ApplicationCredential.user_id == user.id))
    session.execute(delete(AccessRule).where(AccessRule.user_id == user.id))
    session.execute(delete(Credential).where(Credential.user_id == user.id))
    session.execute(update(Trust).where(or_(Trust.trustor_user_id == user.id, Trust.trustee_user_id == user.id),
                                        Trust.deleted_at.is_(None)).values(deleted_at=from_timestamp(now)))
    session.delete(user)
    session.flush()


def delete_user(session: Session, user_id: str, revocations: RevocationList, now: float) -> None:
    user = get_user(session, user_id)
    purge_user(session, user, now)
    revocations.revoke(session, Revocation(issued_before=now, user_id=user_id), now)

