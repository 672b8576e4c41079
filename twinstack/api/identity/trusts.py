"""``/v3/OS-TRUST/trusts``: create, list, show and delete trusts, and the roles each delegates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from sqlalchemy.orm import Session

from twinstack.api.deps import CallerDep
from twinstack.api.identity.links import envelope, v3_url
from twinstack.api.timefmt import iso_micro, parse_iso
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.identity import trusts
from twinstack.core.identity.trusts import NewTrust, RoleRef
from twinstack.db.models.identity import Role, Trust

router = APIRouter()

COLLECTION = "OS-TRUST/trusts"


class RoleRefIn(BaseModel):
    id: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _named(self) -> RoleRefIn:
        if not self.id and not self.name:
            raise ValueError("a role is given by id or by name")
        return self

    def to_ref(self) -> RoleRef:
        return RoleRef(id=self.id, name=self.name)


class TrustIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    trustor_user_id: str = Field(min_length=1, max_length=64)
    trustee_user_id: str = Field(min_length=1, max_length=64)
    impersonation: StrictBool
    project_id: str | None = Field(None, max_length=64)
    roles: list[RoleRefIn] = Field(default_factory=list)
    expires_at: str | None = None
    remaining_uses: int | None = Field(None, ge=1)
    allow_redelegation: StrictBool | None = None
    redelegation_count: int | None = Field(None, ge=0)


class TrustBody(BaseModel):
    trust: TrustIn


def parse_expiry(text: str | None) -> dt.datetime | None:
    """A client's ``expires_at`` (ISO 8601; naive means UTC), or 400."""
    if text is None:
        return None
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise BadRequest(f"Invalid input for field 'expires_at': '{text}' is not an ISO 8601 time.") from exc


def render_role(request: Request, role: Role) -> dict[str, Any]:
    return {"id": role.id, "name": role.name, "domain_id": role.domain_id, "description": role.description,
            "options": role.options, "links": {"self": v3_url(request, f"roles/{role.id}")}}


def _roles_links(request: Request, trust: Trust) -> dict[str, Any]:
    return {"self": v3_url(request, f"{COLLECTION}/{trust.id}/roles"), "previous": None, "next": None}


def render_trust(request: Request, session: Session, trust: Trust, with_roles: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": trust.id,
        "trustor_user_id": trust.trustor_user_id,
        "trustee_user_id": trust.trustee_user_id,
        "project_id": trust.project_id,
        "impersonation": trust.impersonation,
        "expires_at": iso_micro(trust.expires_at),
        "remaining_uses": trust.remaining_uses,
        "allow_redelegation": trust.allow_redelegation,
        "redelegation_count": trust.redelegation_count,
        "redelegated_trust_id": trust.redelegated_trust_id,
        "deleted_at": iso_micro(trust.deleted_at),
        "links": {"self": v3_url(request, f"{COLLECTION}/{trust.id}")},
    }
    if with_roles:
        body["roles"] = [render_role(request, r) for r in trusts.trust_roles(session, trust)]
        body["roles_links"] = _roles_links(request, trust)
    return body


def _target(trust: Trust) -> dict[str, Any]:
    return {"trust.trustor_user_id": trust.trustor_user_id, "trust.trustee_user_id": trust.trustee_user_id}


@router.post("/v3/OS-TRUST/trusts", status_code=201)
def create_trust(body: TrustBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    asked = body.trust
    caller.enforce("identity:create_trust", {"trust.trustor_user_id": asked.trustor_user_id})
    new = NewTrust(
        trustor_user_id=asked.trustor_user_id,
        trustee_user_id=asked.trustee_user_id,
        impersonation=asked.impersonation,
        project_id=asked.project_id or None,
        roles=tuple(r.to_ref() for r in asked.roles),
        expires_at=parse_expiry(asked.expires_at),
        remaining_uses=asked.remaining_uses,
        allow_redelegation=bool(asked.allow_redelegation),
        redelegation_count=asked.redelegation_count,
    )
    cloud = caller.cloud
    with cloud.transaction() as session:
        trust = trusts.create_trust(session, caller.token, new, cloud.clock.now())
        return {"trust": render_trust(request, session, trust)}


@router.get("/v3/OS-TRUST/trusts")
def list_trusts(request: Request, caller: CallerDep, trustor_user_id: str | None = None,
                trustee_user_id: str | None = None) -> dict[str, Any]:
    """Trusts filtered by trustor and/or trustee (the caller's own unless admin).

    Unfiltered, an admin sees every trust and anyone else the trusts they are party to, where
    Keystone would answer 403: so a plain ``openstack trust list`` works for everyone.
    """
    involving: str | None = None
    if trustor_user_id:
        caller.enforce("identity:list_trusts_for_trustor", {"trust.trustor_user_id": trustor_user_id})
    if trustee_user_id:
        caller.enforce("identity:list_trusts_for_trustee", {"trust.trustee_user_id": trustee_user_id})
    if not trustor_user_id and not trustee_user_id and not caller.allows("identity:list_trusts"):
        involving = caller.token.user_id
    with caller.cloud.sessions() as session:
        found = trusts.list_trusts(session, trustor_user_id or None, trustee_user_id or None, involving)
        items = [render_trust(request, session, t, with_roles=False) for t in found]
    return envelope(request, "trusts", items, caller.cloud.settings.identity.list_limit)


def _visible_trust(session: Session, caller: CallerDep, trust_id: str, action: str) -> Trust:
    trust = trusts.get_trust(session, trust_id, caller.cloud.clock.now())
    caller.enforce(action, _target(trust))
    return trust


@router.get("/v3/OS-TRUST/trusts/{trust_id}")
@router.head("/v3/OS-TRUST/trusts/{trust_id}", include_in_schema=False)
def get_trust(trust_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        trust = _visible_trust(session, caller, trust_id, "identity:get_trust")
        return {"trust": render_trust(request, session, trust)}


@router.delete("/v3/OS-TRUST/trusts/{trust_id}", status_code=204)
def delete_trust(trust_id: str, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        trust = trusts.find_live_trust(session, trust_id)
        caller.enforce("identity:delete_trust", _target(trust))
        trusts.delete_trust(session, caller.token, trust, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


@router.get("/v3/OS-TRUST/trusts/{trust_id}/roles")
@router.head("/v3/OS-TRUST/trusts/{trust_id}/roles", include_in_schema=False)
def list_trust_roles(trust_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        trust = _visible_trust(session, caller, trust_id, "identity:list_roles_for_trust")
        roles = [render_role(request, r) for r in trusts.trust_roles(session, trust)]
        return {"roles": roles, "links": _roles_links(request, trust)}


@router.get("/v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}")
@router.head("/v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}", include_in_schema=False)
def get_trust_role(trust_id: str, role_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        trust = _visible_trust(session, caller, trust_id, "identity:get_role_for_trust")
        for role in trusts.trust_roles(session, trust):
            if role.id == role_id:
                return {"role": render_role(request, role)}
    raise NotFound(f"Could not find role: {role_id}.")
