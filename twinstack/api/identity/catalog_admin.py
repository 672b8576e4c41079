"""``/v3/services``, ``/v3/endpoints`` and ``/v3/regions``: administering the service catalog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool

from twinstack.api.deps import CallerDep
from twinstack.api.identity.links import envelope, v3_url
from twinstack.core.errors import BadRequest
from twinstack.core.identity import catalog_admin as catalog
from twinstack.core.identity.catalog_admin import NewEndpoint
from twinstack.db.models.identity import Endpoint, Region, Service

router = APIRouter()


def _changes(model: BaseModel, path_id: str, kind: str) -> dict[str, Any]:
    """The fields a PATCH body sets; an ``id`` in it must be the one in the path (Keystone's rule)."""
    changes = model.model_dump(include=model.model_fields_set)
    body_id = changes.pop("id", None)
    if body_id is not None and body_id != path_id:
        raise BadRequest(f"The {kind} id in the body ({body_id}) does not match the one in the URL ({path_id}).")
    return changes


def _not_null(changes: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if key in changes and changes[key] is None:
            raise BadRequest(f"Invalid input for field '{key}': None is not allowed.")


# services


class ServiceIn(BaseModel):
    type: str = Field(min_length=1, max_length=255)
    name: str = Field("", max_length=255)
    description: str | None = None
    enabled: StrictBool = True


class ServiceBody(BaseModel):
    service: ServiceIn


class ServicePatch(BaseModel):
    id: str | None = None
    type: str | None = Field(None, min_length=1, max_length=255)
    name: str | None = Field(None, max_length=255)
    description: str | None = None
    enabled: StrictBool | None = None


class ServicePatchBody(BaseModel):
    service: ServicePatch


def render_service(request: Request, service: Service) -> dict[str, Any]:
    return {"id": service.id, "type": service.type, "name": service.name, "description": service.description,
            "enabled": service.enabled, "links": {"self": v3_url(request, f"services/{service.id}")}}


@router.post("/v3/services", status_code=201)
def create_service(body: ServiceBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:create_service")
    asked = body.service
    with caller.cloud.transaction() as session:
        service = catalog.create_service(session, asked.type, asked.name, asked.description or "", asked.enabled)
        return {"service": render_service(request, service)}


@router.get("/v3/services")
def list_services(request: Request, caller: CallerDep, type_: str | None = Query(None, alias="type"),
                  name: str | None = None) -> dict[str, Any]:
    caller.enforce("identity:list_services")
    with caller.cloud.sessions() as session:
        items = [render_service(request, s) for s in catalog.list_services(session, type_, name)]
    return envelope(request, "services", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/services/{service_id}")
def get_service(service_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:get_service")
    with caller.cloud.sessions() as session:
        return {"service": render_service(request, catalog.get_service(session, service_id))}


@router.patch("/v3/services/{service_id}")
def update_service(service_id: str, body: ServicePatchBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:update_service")
    changes = _changes(body.service, service_id, "service")
    _not_null(changes, "type", "enabled")
    if changes.get("description", "") is None:
        changes["description"] = ""
    if changes.get("name", "") is None:
        changes["name"] = ""
    with caller.cloud.transaction() as session:
        service = catalog.update_service(session, catalog.get_service(session, service_id), changes)
        return {"service": render_service(request, service)}


@router.delete("/v3/services/{service_id}", status_code=204)
def delete_service(service_id: str, caller: CallerDep) -> Response:
    caller.enforce("identity:delete_service")
    with caller.cloud.transaction() as session:
        catalog.delete_service(session, catalog.get_service(session, service_id))
    return Response(status_code=204)


# endpoints


class EndpointIn(BaseModel):
    service_id: str = Field(min_length=1, max_length=64)
    interface: str
    url: str = Field(min_length=1, max_length=225)
    region_id: str | None = Field(None, max_length=255)
    region: str | None = Field(None, max_length=255)
    enabled: StrictBool = True


class EndpointBody(BaseModel):
    endpoint: EndpointIn


class EndpointPatch(BaseModel):
    id: str | None = None
    service_id: str | None = Field(None, min_length=1, max_length=64)
    interface: str | None = None
    url: str | None = Field(None, min_length=1, max_length=225)
    region_id: str | None = Field(None, max_length=255)
    region: str | None = Field(None, max_length=255)
    enabled: StrictBool | None = None


class EndpointPatchBody(BaseModel):
    endpoint: EndpointPatch


def render_endpoint(request: Request, endpoint: Endpoint) -> dict[str, Any]:
    return {"id": endpoint.id, "service_id": endpoint.service_id, "interface": endpoint.interface,
            "region": endpoint.region_id, "region_id": endpoint.region_id, "url": endpoint.url,
            "enabled": endpoint.enabled, "links": {"self": v3_url(request, f"endpoints/{endpoint.id}")}}


@router.post("/v3/endpoints", status_code=201)
def create_endpoint(body: EndpointBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:create_endpoint")
    asked = body.endpoint
    new = NewEndpoint(service_id=asked.service_id, interface=asked.interface, url=asked.url,
                      region_id=asked.region_id, legacy_region=asked.region, enabled=asked.enabled)
    with caller.cloud.transaction() as session:
        return {"endpoint": render_endpoint(request, catalog.create_endpoint(session, new))}


@router.get("/v3/endpoints")
def list_endpoints(request: Request, caller: CallerDep, service_id: str | None = None,
                   interface: str | None = None, region_id: str | None = None) -> dict[str, Any]:
    caller.enforce("identity:list_endpoints")
    with caller.cloud.sessions() as session:
        items = [render_endpoint(request, e) for e in catalog.list_endpoints(session, service_id, interface,
                                                                             region_id)]
    return envelope(request, "endpoints", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/endpoints/{endpoint_id}")
def get_endpoint(endpoint_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:get_endpoint")
    with caller.cloud.sessions() as session:
        return {"endpoint": render_endpoint(request, catalog.get_endpoint(session, endpoint_id))}


@router.patch("/v3/endpoints/{endpoint_id}")
def update_endpoint(endpoint_id: str, body: EndpointPatchBody, request: Request,
                    caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:update_endpoint")
    changes = _changes(body.endpoint, endpoint_id, "endpoint")
    _not_null(changes, "service_id", "interface", "url", "enabled")
    with caller.cloud.transaction() as session:
        endpoint = catalog.update_endpoint(session, catalog.get_endpoint(session, endpoint_id), changes)
        return {"endpoint": render_endpoint(request, endpoint)}


@router.delete("/v3/endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, caller: CallerDep) -> Response:
    caller.enforce("identity:delete_endpoint")
    with caller.cloud.transaction() as session:
        catalog.delete_endpoint(session, catalog.get_endpoint(session, endpoint_id))
    return Response(status_code=204)


# regions


class RegionIn(BaseModel):
    id: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = None
    parent_region_id: str | None = Field(None, max_length=255)


class RegionBody(BaseModel):
    region: RegionIn


class RegionPatch(BaseModel):
    id: str | None = None
    description: str | None = None
    parent_region_id: str | None = Field(None, max_length=255)


class RegionPatchBody(BaseModel):
    region: RegionPatch


def render_region(request: Request, region: Region) -> dict[str, Any]:
    return {"id": region.id, "description": region.description, "parent_region_id": region.parent_region_id,
            "links": {"self": v3_url(request, f"regions/{region.id}")}}


@router.post("/v3/regions", status_code=201)
def create_region(body: RegionBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:create_region")
    asked = body.region
    with caller.cloud.transaction() as session:
        region = catalog.create_region(session, asked.id, asked.description, asked.parent_region_id)
        return {"region": render_region(request, region)}


@router.put("/v3/regions/{region_id}", status_code=201)
def create_region_with_id(region_id: str, body: RegionBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:create_region")
    asked = body.region
    if asked.id is not None and asked.id != region_id:
        raise BadRequest(f'Conflicting region IDs specified: "{region_id}" != "{asked.id}"')
    with caller.cloud.transaction() as session:
        region = catalog.create_region(session, region_id, asked.description, asked.parent_region_id)
        return {"region": render_region(request, region)}


@router.get("/v3/regions")
def list_regions(request: Request, caller: CallerDep, parent_region_id: str | None = None) -> dict[str, Any]:
    caller.enforce("identity:list_regions")
    with caller.cloud.sessions() as session:
        items = [render_region(request, r) for r in catalog.list_regions(session, parent_region_id)]
    return envelope(request, "regions", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/regions/{region_id}")
def get_region(region_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:get_region")
    with caller.cloud.sessions() as session:
        return {"region": render_region(request, catalog.get_region(session, region_id))}


@router.patch("/v3/regions/{region_id}")
def update_region(region_id: str, body: RegionPatchBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("identity:update_region")
    changes = _changes(body.region, region_id, "region")
    with caller.cloud.transaction() as session:
        region = catalog.update_region(session, catalog.get_region(session, region_id), changes)
        return {"region": render_region(request, region)}


@router.delete("/v3/regions/{region_id}", status_code=204)
def delete_region(region_id: str, caller: CallerDep) -> Response:
    caller.enforce("identity:delete_region")
    with caller.cloud.transaction() as session:
        catalog.delete_region(session, catalog.get_region(session, region_id))
    return Response(status_code=204)
