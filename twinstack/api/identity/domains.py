"""Identity API: domains (``/v3/domains``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from twinstack.api.deps import CallerDep
from twinstack.api.identity.links import envelope, with_links
from twinstack.api.identity.resources import as_bool, patch_changes
from twinstack.core.errors import NotFound
from twinstack.core.identity import domains
from twinstack.db.models.identity import Domain

router = APIRouter()

class DomainIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    enabled: StrictBool = True
    tags: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


class DomainBody(BaseModel):
    domain: DomainIn


class DomainPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    name: str | None = Field(None, min_length=1, max_length=64)
    description: str | None = None
    enabled: StrictBool | None = None
    tags: list[str] | None = None
    options: dict[str, Any] | None = None


class DomainPatchBody(BaseModel):
    domain: DomainPatch


def render_domain(request: Request, domain: Domain) -> dict[str, Any]:
    return with_links(request, "domains", {
        "id": domain.id,
        "name": domain.name,
        "description": domain.description,
        "enabled": domain.enabled,
        "tags": list(domain.tags),
        "options": dict(domain.options),
    })


def _target(domain_id: str) -> dict[str, Any]:
    return {"domain.id": domain_id}


@router.post("/v3/domains", status_code=201)
def create_domain(body: DomainBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    asked = body.domain
    caller.enforce("identity:create_domain", {"domain.name": asked.name})
    new = domains.NewDomain(name=asked.name, description=asked.description or "", enabled=asked.enabled,
                            tags=tuple(asked.tags), options=asked.options)
    with caller.cloud.transaction() as session:
        return {"domain": render_domain(request, domains.create_domain(session, new))}


@router.get("/v3/domains")
@router.head("/v3/domains", include_in_schema=False)
def list_domains(request: Request, caller: CallerDep, name: str | None = None,
                 enabled: str | None = None) -> dict[str, Any]:
    caller.enforce("identity:list_domains", {})
    with caller.cloud.sessions() as session:
        found = domains.find_domains(session, name=name, enabled=as_bool(enabled))
        items = [render_domain(request, d) for d in found]
    return envelope(request, "domains", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/domains/{domain_id}")
@router.head("/v3/domains/{domain_id}", include_in_schema=False)
def get_domain(domain_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:get_domain", _target(domain_id))
    with caller.cloud.sessions() as session:
        domain = session.get(Domain, domain_id)
        if domain is None:
            raise NotFound(f"Could not find domain: {domain_id}.")
        return {"domain": render_domain(request, domain)}


@router.patch("/v3/domains/{domain_id}")
def update_domain(domain_id: str, body: DomainPatchBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:update_domain", _target(domain_id))
    changes = patch_changes(body.domain, domain_id)
    cloud = caller.cloud
    with cloud.transaction() as session:
        domain = domains.update_domain(session, domain_id, changes, cloud.revocations, cloud.clock.now())
        return {"domain": render_domain(request, domain)}


@router.delete("/v3/domains/{domain_id}", status_code=204)
def delete_domain(domain_id: str, caller: CallerDep) -> Response:
    caller.enforce("identity:delete_domain", _target(domain_id))
    cloud = caller.cloud
    with cloud.transaction() as session:
        domains.delete_domain(session, domain_id, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)
