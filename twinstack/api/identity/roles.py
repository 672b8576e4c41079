"""Identity API: roles (``/v3/roles``), implied roles (``/v3/roles/{prior}/implies``) and ``/v3/role_inferences``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.identity.links import envelope, v3_url, with_links
from twinstack.api.identity.resources import patch_changes
from twinstack.core.errors import NotFound
from twinstack.core.identity import roles
from twinstack.db.models.identity import Role

router = APIRouter()


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=255, pattern=r"\S")
    domain_id: str | None = Field(None, max_length=64)
    description: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class RoleBody(BaseModel):
    role: RoleIn


class RolePatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    name: str | None = Field(None, min_length=1, max_length=255, pattern=r"\S")
    domain_id: str | None = None
    description: str | None = None
    options: dict[str, Any] | None = None


class RolePatchBody(BaseModel):
    role: RolePatch


def render_role(request: Request, role: Role) -> dict[str, Any]:
    return with_links(request, "roles", {
        "id": role.id,
        "name": role.name,
        "domain_id": role.domain_id,
        "description": role.description,
        "options": dict(role.options),
    })


def _target(role: Role | None, role_id: str) -> dict[str, Any]:
    return {"role.id": role_id, "role.domain_id": role.domain_id if role is not None else None}


def _visible_role(session: Session, caller: Caller, role_id: str, action: str) -> Role:
    """The role, once ``action`` is allowed on it; a missing role is 404 to those who may look."""
    role = session.get(Role, role_id)
    caller.enforce(action, _target(role, role_id))
    if role is None:
        raise NotFound(f"Could not find role: {role_id}.")
    return role


@router.post("/v3/roles", status_code=201)
def create_role(body: RoleBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    asked = body.role
    caller.enforce("identity:create_role", {"role.domain_id": asked.domain_id})
    new = roles.NewRole(name=asked.name, domain_id=asked.domain_id, description=asked.description,
                        options=asked.options)
    with caller.cloud.transaction() as session:
        return {"role": render_role(request, roles.create_role(session, new))}


@router.get("/v3/roles")
@router.head("/v3/roles", include_in_schema=False)
def list_roles(request: Request, caller: CallerDep, name: str | None = None,
               domain_id: str | None = None) -> dict[str, Any]:
    """Global roles, or with ``?domain_id=`` that domain's own roles."""
    caller.enforce("identity:list_roles", {"domain_id": domain_id})
    with caller.cloud.sessions() as session:
        items = [render_role(request, r) for r in roles.find_roles(session, name, domain_id)]
    return envelope(request, "roles", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/roles/{role_id}")
@router.head("/v3/roles/{role_id}", include_in_schema=False)
def get_role(role_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        return {"role": render_role(request, _visible_role(session, caller, role_id, "identity:get_role"))}


@router.patch("/v3/roles/{role_id}")
def update_role(role_id: str, body: RolePatchBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    changes = patch_changes(body.role, role_id)
    with caller.cloud.transaction() as session:
        _visible_role(session, caller, role_id, "identity:update_role")
        return {"role": render_role(request, roles.update_role(session, role_id, changes))}


@router.delete("/v3/roles/{role_id}", status_code=204)
def delete_role(role_id: str, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_role(session, caller, role_id, "identity:delete_role")
        roles.delete_role(session, role_id, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


# Implied roles ------------------------------------------------------------------------------------


def role_ref(request: Request, role: Role) -> dict[str, Any]:
    """A role as an inference rule names it: id, name and self link."""
    return {"id": role.id, "name": role.name, "links": {"self": v3_url(request, f"roles/{role.id}")}}


def _rule_target(session: Session, prior_id: str, implied_id: str | None = None) -> dict[str, Any]:
    prior = session.get(Role, prior_id)
    target = {"prior_role.id": prior_id, "prior_role.domain_id": prior.domain_id if prior else None}
    if implied_id is not None:
        implied = session.get(Role, implied_id)
        target |= {"implied_role.id": implied_id, "implied_role.domain_id": implied.domain_id if implied else None}
    return target


def _inference(request: Request, prior: Role, implied: Role) -> dict[str, Any]:
    return {
        "role_inference": {"prior_role": role_ref(request, prior), "implies": role_ref(request, implied)},
        "links": {"self": v3_url(request, f"roles/{prior.id}/implies/{implied.id}")},
    }


@router.get("/v3/roles/{prior_id}/implies")
@router.head("/v3/roles/{prior_id}/implies", include_in_schema=False)
def list_implied_roles(prior_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        caller.enforce("identity:list_implied_roles", _rule_target(session, prior_id))
        prior, implied = roles.implied_roles(session, prior_id)
        return {
            "role_inference": {"prior_role": role_ref(request, prior),
                               "implies": [role_ref(request, r) for r in implied]},
            "links": {"self": v3_url(request, f"roles/{prior_id}/implies")},
        }


@router.put("/v3/roles/{prior_id}/implies/{implied_id}", status_code=201)
def create_implied_role(prior_id: str, implied_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.transaction() as session:
        caller.enforce("identity:create_implied_role", _rule_target(session, prior_id, implied_id))
        prior, implied = roles.create_implied_role(session, prior_id, implied_id)
        return _inference(request, prior, implied)


@router.get("/v3/roles/{prior_id}/implies/{implied_id}")
def get_implied_role(prior_id: str, implied_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        caller.enforce("identity:get_implied_role", _rule_target(session, prior_id, implied_id))
        prior, implied = roles.get_implied_role(session, prior_id, implied_id)
        return _inference(request, prior, implied)


@router.head("/v3/roles/{prior_id}/implies/{implied_id}", status_code=204, include_in_schema=False)
def check_implied_role(prior_id: str, implied_id: str, caller: CallerDep) -> Response:
    """204, not 200: Keystone's documented (if odd) answer to this HEAD."""
    with caller.cloud.sessions() as session:
        caller.enforce("identity:get_implied_role", _rule_target(session, prior_id, implied_id))
        roles.get_implied_role(session, prior_id, implied_id)
    return Response(status_code=204)


@router.delete("/v3/roles/{prior_id}/implies/{implied_id}", status_code=204)
def delete_implied_role(prior_id: str, implied_id: str, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        caller.enforce("identity:delete_implied_role", _rule_target(session, prior_id, implied_id))
        roles.delete_implied_role(session, prior_id, implied_id, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


@router.get("/v3/role_inferences")
@router.head("/v3/role_inferences", include_in_schema=False)
def list_role_inferences(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:list_role_inference_rules")
    with caller.cloud.sessions() as session:
        rules = [{"prior_role": role_ref(request, prior), "implies": [role_ref(request, r) for r in implied]}
                 for prior, implied in roles.inference_rules(session)]
    return {"role_inferences": rules, "links": {"self": v3_url(request, "role_inferences")}}
