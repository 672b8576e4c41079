"""Application credentials: a secret a user makes to let an application act for them on one project.

The credential carries a subset of the roles of the token that made it, on that token's project.
Its secret is shown once, at creation, and stored only as a scrypt hash. Deleting it revokes every
token issued with it. A token from a *restricted* credential (the default) may not make or delete
application credentials, nor manage trusts, so a leaked secret cannot mint longer-lived ones.

A credential may also carry access rules (Keystone's per-request allow-list): its tokens then carry
the rules and every service of this cloud refuses them any request no rule allows (see
:mod:`access_rules`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.clock import from_timestamp
from twinstack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from twinstack.core.identity.access_rules import AskedRule, as_wire, resolve_rules
from twinstack.core.identity.grants import user_roles_on
from twinstack.core.identity.passwords import hash_password
from twinstack.core.identity.revocation import Revocation, RevocationList
from twinstack.core.identity.tokens import TokenPayload
from twinstack.core.identity.trusts import RoleRef, expiry_after, resolve_roles
from twinstack.db.models.identity import ApplicationCredential, Role

SECRET_BYTES = 64


@dataclass(frozen=True)
class NewApplicationCredential:
    name: str
    secret: str | None = None
    description: str | None = None
    expires_at: dt.datetime | None = None
    roles: tuple[RoleRef, ...] | None = None
    """None: every role of the creating token."""
    unrestricted: bool = False
    access_rules: tuple[AskedRule, ...] = ()
    """Empty: the credential's tokens may make any request their roles allow."""


def refuse_restricted(token: TokenPayload) -> None:
    """A restricted application credential's token may not manage application credentials."""
    if token.app_cred_id and token.app_cred_restricted:
        raise Forbidden("Using method 'application_credential' is not allowed for managing additional "
                        "application credentials.")


def create_application_credential(
    session: Session, token: TokenPayload, user_id: str, new: NewApplicationCredential, now: float, kdf_n: int
) -> tuple[ApplicationCredential, str]:
    """Store a credential for the caller on the caller's project; returns it and its (only) clear secret.

    400 for a role the token does not carry or the user does not hold, an expiry in the past, a
    token with no project, or a malformed access rule; 403 for another user, a restricted
    credential's token or a trust-scoped token; 404 for an unknown role or another user's access
    rule; 409 for a name the user already uses. Access rules are the user's own (made when new).
    """
    refuse_restricted(token)
    if token.trust_id:
        raise Forbidden("Cannot create an application credential with a trust-scoped token: it would "
                        "outlive the trust.")
    if token.user_id != user_id:
        raise Forbidden("Cannot create an application credential for another user.")
    if token.project_id is None:
        raise BadRequest("Invalid application credential: an application credential is made with a "
                         "project-scoped token, for that project.")
    token_roles = set(token.role_ids)
    if new.roles:
        roles = resolve_roles(session, new.roles)
        if any(role.id not in token_roles for role in roles):
            raise BadRequest("Invalid application credential: Cannot create an application credential "
                             "with unassigned role")
    else:
        roles = sorted(session.scalars(select(Role).where(Role.id.in_(token_roles))), key=lambda r: r.name)
    held = {r.id for r in user_roles_on(session, user_id, "project", token.project_id)}
    for role in roles:
        if role.id not in held:
            raise BadRequest(f"Invalid application credential: Could not find role assignment with role: "
                             f"{role.id}, user or group: {user_id}, project, domain, or system: "
                             f"{token.project_id}.")
    expires_at = expiry_after(new.expires_at, now)
    taken = session.scalar(select(ApplicationCredential.id).where(
        ApplicationCredential.user_id == user_id, ApplicationCredential.name == new.name))
    if taken is not None:
        raise Conflict(f"Conflict occurred attempting to store application_credential - Duplicate entry "
                       f"found with name {new.name}.")
    rules = resolve_rules(session, user_id, new.access_rules)
    secret = new.secret or secrets.token_urlsafe(SECRET_BYTES)
    cred = ApplicationCredential(
        name=new.name,
        user_id=user_id,
        project_id=token.project_id,
        secret_hash=hash_password(secret, kdf_n),
        description=new.description,
        expires_at=expires_at,
        unrestricted=new.unrestricted,
        role_ids=[r.id for r in roles],
        access_rules=[as_wire(rule) for rule in rules],
        created_at=from_timestamp(now),
    )
    session.add(cred)
    session.flush()
    return cred, secret


def list_application_credentials(
    session: Session, user_id: str, name: str | None = None
) -> list[ApplicationCredential]:
    query = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
    if name is not None:
        query = query.where(ApplicationCredential.name == name)
    return list(session.scalars(query.order_by(ApplicationCredential.name, ApplicationCredential.id)))


def get_application_credential(session: Session, user_id: str, cred_id: str) -> ApplicationCredential:
    """The user's credential; another user's is as missing as an unknown one."""
    cred = session.get(ApplicationCredential, cred_id)
    if cred is None or cred.user_id != user_id:
        raise NotFound(f"Could not find Application Credential: {cred_id}.")
    return cred


def delete_application_credential(
    session: Session, token: TokenPayload, cred: ApplicationCredential, revocations: RevocationList, now: float
) -> None:
    """Remove the credential and revoke every token issued with it."""
    refuse_restricted(token)
    revocations.revoke(session, Revocation(issued_before=now, app_cred_id=cred.id), now)
    session.delete(cred)


def credential_roles(session: Session, cred: ApplicationCredential) -> list[Role]:
    if not cred.role_ids:
        return []
    by_id = {r.id: r for r in session.scalars(select(Role).where(Role.id.in_(cred.role_ids)))}
    return [by_id[rid] for rid in cred.role_ids if rid in by_id]
