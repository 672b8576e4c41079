"""``/v3/users/{user_id}/application_credentials`` and ``/access_rules``: a user's application credentials."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from twinstack.api.deps import CallerDep
from twinstack.api.identity.links import envelope, v3_url
from twinstack.api.identity.trusts import RoleRefIn, parse_expiry
from twinstack.api.timefmt import iso_micro
from twinstack.core.identity import access_rules
from twinstack.core.identity import application_credentials as app_creds
from twinstack.core.identity.access_rules import AccessRuleFilter, AskedRule
from twinstack.core.identity.application_credentials import NewApplicationCredential
from twinstack.db.models.identity import AccessRule, ApplicationCredential

router = APIRouter()


class AccessRuleIn(BaseModel):
    """An existing rule by ``id``, or a new rule (service, method, path); nothing else is accepted."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, min_length=1, max_length=64)
    service: str | None = None
    method: str | None = None
    path: str | None = None

    def to_asked(self) -> AskedRule:
        return AskedRule(id=self.id, service=self.service, method=self.method, path=self.path)


class AppCredIn(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    secret: str | None = None
    description: str | None = None
    expires_at: str | None = None
    roles: list[RoleRefIn] | None = None
    unrestricted: StrictBool | None = None
    access_rules: list[AccessRuleIn] | None = None


class AppCredBody(BaseModel):
    application_credential: AppCredIn


def render_access_rule(request: Request, user_id: str, rule: AccessRule) -> dict[str, Any]:
    return access_rules.as_wire(rule) | {
        "links": {"self": v3_url(request, f"users/{user_id}/access_rules/{rule.id}")}}


def render(request: Request, session: Session, cred: ApplicationCredential) -> dict[str, Any]:
    return {
        "id": cred.id,
        "name": cred.name,
        "description": cred.description,
        "user_id": cred.user_id,
        "project_id": cred.project_id,
        "roles": [{"id": r.id, "name": r.name, "domain_id": r.domain_id}
                  for r in app_creds.credential_roles(session, cred)],
        "expires_at": iso_micro(cred.expires_at),
        "unrestricted": cred.unrestricted,
        "access_rules": cred.access_rules,
        "links": {"self": v3_url(request, f"users/{cred.user_id}/application_credentials/{cred.id}")},
    }


@router.post("/v3/users/{user_id}/application_credentials", status_code=201)
def create_application_credential(user_id: str, body: AppCredBody, request: Request,
                                  caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:create_application_credential", {"user.id": user_id})
    asked = body.application_credential
    new = NewApplicationCredential(
        name=asked.name,
        secret=asked.secret,
        description=asked.description,
        expires_at=parse_expiry(asked.expires_at),
        roles=tuple(r.to_ref() for r in asked.roles) if asked.roles else None,
        unrestricted=bool(asked.unrestricted),
        access_rules=tuple(rule.to_asked() for rule in asked.access_rules or ()),
    )
    cloud = caller.cloud
    with cloud.transaction() as session:
        cred, secret = app_creds.create_application_credential(
            session, caller.token, user_id, new, cloud.clock.now(), cloud.settings.identity.password_kdf_n
        )
        return {"application_credential": render(request, session, cred) | {"secret": secret}}


@router.get("/v3/users/{user_id}/application_credentials")
@router.head("/v3/users/{user_id}/application_credentials", include_in_schema=False)
def list_application_credentials(user_id: str, request: Request, caller: CallerDep,
                                  name: str | None = None) -> dict[str, Any]:
    caller.enforce("identity:list_application_credentials", {"user.id": user_id})
    with caller.cloud.sessions() as session:
        items = [render(request, session, c) for c in app_creds.list_application_credentials(session, user_id, name)]
    return envelope(request, "application_credentials", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/users/{user_id}/application_credentials/{cred_id}")
@router.head("/v3/users/{user_id}/application_credentials/{cred_id}", include_in_schema=False)
def get_application_credential(user_id: str, cred_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:get_application_credential", {"user.id": user_id})
    with caller.cloud.sessions() as session:
        cred = app_creds.get_application_credential(session, user_id, cred_id)
        return {"application_credential": render(request, session, cred)}


@router.delete("/v3/users/{user_id}/application_credentials/{cred_id}", status_code=204)
def delete_application_credential(user_id: str, cred_id: str, caller: CallerDep) -> Response:
    caller.enforce("identity:delete_application_credential", {"user.id": user_id})
    cloud = caller.cloud
    with cloud.transaction() as session:
        cred = app_creds.get_application_credential(session, user_id, cred_id)
        app_creds.delete_application_credential(session, caller.token, cred, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


@router.get("/v3/users/{user_id}/access_rules")
@router.head("/v3/users/{user_id}/access_rules", include_in_schema=False)
def list_access_rules(user_id: str, request: Request, caller: CallerDep, service: str | None = None,
                      method: str | None = None, path: str | None = None) -> dict[str, Any]:
    caller.enforce("identity:list_access_rules", {"user.id": user_id})
    where = AccessRuleFilter(service=service, method=method, path=path)
    with caller.cloud.sessions() as session:
        items = [render_access_rule(request, user_id, rule)
                 for rule in access_rules.list_access_rules(session, user_id, where)]
    return envelope(request, "access_rules", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/users/{user_id}/access_rules/{rule_id}")
@router.head("/v3/users/{user_id}/access_rules/{rule_id}", include_in_schema=False)
def get_access_rule(user_id: str, rule_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:get_access_rule", {"user.id": user_id})
    with caller.cloud.sessions() as session:
        rule = access_rules.get_access_rule(session, user_id, rule_id)
        return {"access_rule": render_access_rule(request, user_id, rule)}


@router.delete("/v3/users/{user_id}/access_rules/{rule_id}", status_code=204)
def delete_access_rule(user_id: str, rule_id: str, caller: CallerDep) -> Response:
    caller.enforce("identity:delete_access_rule", {"user.id": user_id})
    with caller.cloud.transaction() as session:
        access_rules.delete_access_rule(session, user_id, rule_id)
    return Response(status_code=204)
