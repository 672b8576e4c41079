"""Trusts (OS-TRUST): a trustor delegates some of its roles on a project to a trustee.

A trust is immutable once made. It is usable while it is neither deleted (soft: ``deleted_at``),
expired nor used up (``remaining_uses`` reached 0); an unusable trust is "not found", as Keystone
answers. Deleting a trust revokes every token issued through it.

Redelegation (a trustee making a trust from a trust-scoped token) is refused: a trust-scoped
token may not create trusts at all. ``allow_redelegation`` and ``redelegation_count`` are kept and
shown as Keystone computes them, so clients see the fields they expect.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twinstack.core.clock import from_timestamp
from twinstack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from twinstack.core.identity.grants import user_roles_on
from twinstack.core.identity.lookup import get_or_404
from twinstack.core.identity.revocation import Revocation, RevocationList
from twinstack.core.identity.tokens import TokenPayload
from twinstack.db.models.identity import Project, Role, Trust, User

MAX_REDELEGATION_COUNT = 3
"""Keystone's default ``[trust] max_redelegation_count``: the depth a redelegatable trust starts with."""


@dataclass(frozen=True)
class RoleRef:
    """A role named by id or by name (a global role, as Keystone resolves names)."""

    id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class NewTrust:
    trustor_user_id: str
    trustee_user_id: str
    impersonation: bool
    project_id: str | None = None
    roles: tuple[RoleRef, ...] = ()
    expires_at: dt.datetime | None = None
    remaining_uses: int | None = None
    allow_redelegation: bool = False
    redelegation_count: int | None = None


def resolve_roles(session: Session, refs: tuple[RoleRef, ...]) -> list[Role]:
    """The roles named by ``refs``, in order and without repeats; NotFound for an unknown one."""
    found: dict[str, Role] = {}
    for ref in refs:
        role: Role | None
        if ref.id:
            role = session.get(Role, ref.id)
            missing = ref.id
        else:
            role = session.scalar(select(Role).where(Role.name == ref.name, Role.scope_key == ""))
            missing = ref.name or ""
        if role is None:
            raise NotFound(f"Could not find role: {missing}.")
        found.setdefault(role.id, role)
    return list(found.values())


def expiry_after(moment: dt.datetime | None, now: float) -> dt.datetime | None:
    """An expiry a client asked for, which must lie in the future (Keystone answers 400 otherwise)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if moment.timestamp() <= now:
        raise BadRequest("The 'expires_at' must not be before now.")
    return moment


def _usable(trust: Trust | None, now: float) -> bool:
    if trust is None or trust.deleted_at is not None:
        return False
    if trust.expires_at is not None and trust.expires_at.timestamp() <= now:
        return False
    return trust.remaining_uses is None or trust.remaining_uses > 0


def refuse_restricted(token: TokenPayload) -> None:
    """A restricted application credential's token may not manage trusts."""
    if token.app_cred_id and token.app_cred_restricted:
        raise Forbidden("Using method 'application_credential' is not allowed for managing trusts.")


def get_trust(session: Session, trust_id: str, now: float) -> Trust:
    """The trust if it can still be used; NotFound if it is deleted, expired or used up."""
    trust = session.get(Trust, trust_id)
    if trust is None or not _usable(trust, now):
        raise NotFound(f"Could not find trust: {trust_id}.")
    return trust


def create_trust(session: Session, token: TokenPayload, new: NewTrust, now: float) -> Trust:
    """Store a trust made by the caller (who must be its trustor), with roles the trustor holds.

    Refusals follow Keystone: a trust-scoped or restricted application-credential token, a trust in
    another user's name or a project trust without roles is 403; an unknown trustee, project or
    role, or a role the trustor does not hold on the project, is 404; a bad expiry or use count 400.
    """
    if token.trust_id:
        raise Forbidden("Redelegation of trusts is not supported: a trust-scoped token cannot create a trust.")
    refuse_restricted(token)
    if new.project_id and not new.roles:
        raise Forbidden("At least one role should be specified.")
    if token.user_id != new.trustor_user_id:
        raise Forbidden("The authenticated user should match the trustor.")
    get_or_404(session, User, new.trustee_user_id, "user")
    roles = resolve_roles(session, new.roles)
    held: set[str] = set()
    if new.project_id:
        get_or_404(session, Project, new.project_id, "project")
        held = {r.id for r in user_roles_on(session, new.trustor_user_id, "project", new.project_id)}
    for role in roles:
        if role.id not in held:
            raise NotFound(f"Could not find role: {role.id}.")
    expires_at = expiry_after(new.expires_at, now)

    redelegatable = new.allow_redelegation and new.redelegation_count != 0
    if redelegatable:
        if new.remaining_uses is not None:
            raise BadRequest("remaining_uses must not be set if redelegation is allowed.")
        count = MAX_REDELEGATION_COUNT if new.redelegation_count is None else new.redelegation_count
        if count > MAX_REDELEGATION_COUNT:
            raise Forbidden(f"Requested redelegation depth of {count} is greater than allowed "
                            f"{MAX_REDELEGATION_COUNT}.")
    else:
        count = 0
        if new.remaining_uses is not None and new.remaining_uses <= 0:
            raise BadRequest("remaining_uses must be a positive integer or null.")

    duplicate = session.scalar(select(Trust.id).where(
        Trust.deleted_at.is_(None),
        Trust.trustor_user_id == new.trustor_user_id,
        Trust.trustee_user_id == new.trustee_user_id,
        Trust.project_id.is_(None) if new.project_id is None else Trust.project_id == new.project_id,
        Trust.impersonation.is_(new.impersonation),
        Trust.expires_at.is_(None) if expires_at is None else Trust.expires_at == expires_at,
    ))
    if duplicate is not None:
        raise Conflict("Conflict occurred attempting to store trust - Duplicate entry.")
    trust = Trust(
        trustor_user_id=new.trustor_user_id,
        trustee_user_id=new.trustee_user_id,
        project_id=new.project_id,
        impersonation=new.impersonation,
        expires_at=expires_at,
        remaining_uses=new.remaining_uses,
        allow_redelegation=redelegatable,
        redelegation_count=count,
        role_ids=[r.id for r in roles],
        created_at=from_timestamp(now),
    )
    session.add(trust)
    session.flush()
    return trust


def list_trusts(session: Session, trustor_user_id: str | None = None, trustee_user_id: str | None = None,
                involving: str | None = None) -> list[Trust]:
    """Trusts not deleted (expired ones included, as Keystone lists them), optionally filtered.

    ``involving`` keeps the trusts where that user is the trustor or the trustee.
    """
    query = select(Trust).where(Trust.deleted_at.is_(None))
    if trustor_user_id is not None:
        query = query.where(Trust.trustor_user_id == trustor_user_id)
    if trustee_user_id is not None:
        query = query.where(Trust.trustee_user_id == trustee_user_id)
    if involving is not None:
        query = query.where((Trust.trustor_user_id == involving) | (Trust.trustee_user_id == involving))
    return list(session.scalars(query.order_by(Trust.created_at, Trust.id)))


def find_live_trust(session: Session, trust_id: str) -> Trust:
    """A trust not deleted, even if expired or used up (so its trustor can still delete it)."""
    trust = session.get(Trust, trust_id)
    if trust is None or trust.deleted_at is not None:
        raise NotFound(f"Could not find trust: {trust_id}.")
    return trust


def delete_trust(session: Session, token: TokenPayload, trust: Trust, revocations: RevocationList,
                 now: float) -> None:
    """Soft-delete the trust and revoke every token issued through it."""
    refuse_restricted(token)
    trust.deleted_at = from_timestamp(now)
    revocations.revoke(session, Revocation(issued_before=now, trust_id=trust.id), now)


def trust_roles(session: Session, trust: Trust) -> list[Role]:
    """The roles a trust delegates (as stored; roles deleted since are left out), in stored order."""
    if not trust.role_ids:
        return []
    by_id = {r.id: r for r in session.scalars(select(Role).where(Role.id.in_(trust.role_ids)))}
    return [by_id[rid] for rid in trust.role_ids if rid in by_id]


def consume_use(session: Session, trust: Trust) -> None:
    """Take one use of a limited trust, atomically (a compare-and-set, safe across processes).

    NotFound when no use is left, as if the trust were gone.
    """
    if trust.remaining_uses is None:
        return
    taken = session.execute(
        update(Trust)
        .where(Trust.id == trust.id, Trust.deleted_at.is_(None), Trust.remaining_uses > 0)
        .values(remaining_uses=Trust.remaining_uses - 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"Could not find trust: {trust.id}.")
    session.refresh(trust)
