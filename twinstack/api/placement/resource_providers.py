"""Placement API: /resource_providers (create, list with filters, show, update, delete)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from twinstack.api.deps import Caller, CloudDep
from twinstack.api.placement import params
from twinstack.api.placement.common import UUID_PATTERN, Body, JsonBody, VersionDep, allowed, base_url, parse, root_path
from twinstack.api.placement.microversion import Version
from twinstack.core.errors import BadRequest
from twinstack.core.scheduler import placement as pl

router = APIRouter()

NAME = Annotated[str, Field(min_length=1, max_length=200)]
UUID = Annotated[str, Field(pattern=UUID_PATTERN)]


class CreateBody(Body):
    name: NAME
    uuid: UUID | None = None


class CreateBody114(CreateBody):
    parent_provider_uuid: UUID | None = None


class UpdateBody(Body):
    name: NAME


class UpdateBody114(UpdateBody):
    parent_provider_uuid: UUID | None = None


def provider_links(request: Request, uuid: str, version: Version) -> list[dict[str, str]]:
    url = f"{root_path(request)}/resource_providers/{uuid}"
    rels = ["inventories", "usages"]
    if version.at_least(1):
        rels.append("aggregates")
    if version.at_least(6):
        rels.append("traits")
    if version.at_least(11):
        rels.append("allocations")
    return [{"rel": "self", "href": url}, *({"rel": rel, "href": f"{url}/{rel}"} for rel in rels)]


def show_provider(request: Request, provider: pl.Provider, version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": provider.uuid,
        "name": provider.name,
        "generation": provider.generation,
        "links": provider_links(request, provider.uuid, version),
    }
    if version.at_least(14):
        body["parent_provider_uuid"] = provider.parent_uuid
        body["root_provider_uuid"] = provider.root_uuid
    return body


def list_filter(request: Request, version: Version) -> pl.ProviderFilter:
    given = params.multi(request.query_params)
    known = {"name", "uuid"}
    for minor, key in ((3, "member_of"), (4, "resources"), (14, "in_tree"), (18, "required")):
        if version.at_least(minor):
            known.add(key)
    params.refuse_unknown(list(given), known)

    def one(key: str) -> str | None:
        values = given.get(key)
        return values[-1] if values else None

    uuid = one("uuid")
    in_tree = one("in_tree")
    member_of, not_member_of = params.member_of(given.get("member_of", []), version)
    required, forbidden = params.traits(given["required"], version) if "required" in given else ((), frozenset())
    if "resources" in given and len(given["resources"]) > 1:
        raise BadRequest("Invalid query string parameters: 'resources' may be given only once")
    return pl.ProviderFilter(
        name=one("name"),
        uuid=pl.normalize_uuid(uuid) if uuid else None,
        in_tree=pl.normalize_uuid(in_tree) if in_tree else None,
        member_of=member_of,
        forbidden_aggregates=not_member_of,
        required=required,
        forbidden=forbidden,
        resources=params.resources(given["resources"][0]) if "resources" in given else {},
    )


@router.get("/resource_providers")
def list_resource_providers(
    request: Request, cloud: CloudDep, version: VersionDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:list"))],
) -> JSONResponse:
    wanted = list_filter(request, version)
    with cloud.transaction() as session:
        providers = pl.list_providers(session, wanted)
    return JSONResponse({"resource_providers": [show_provider(request, p, version) for p in providers]})


@router.post("/resource_providers")
def create_resource_provider(
    request: Request, cloud: CloudDep, version: VersionDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:create"))],
) -> Response:
    body = parse(CreateBody114 if version.at_least(14) else CreateBody, data)
    parent = body.parent_provider_uuid if isinstance(body, CreateBody114) else None
    with cloud.transaction() as session:
        provider = pl.create_provider(session, body.name, body.uuid,
                                      pl.normalize_uuid(parent) if parent else None)
    location = f"{base_url(request)}/resource_providers/{provider.uuid}"
    if version.at_least(20):
        return JSONResponse(show_provider(request, provider, version), headers={"Location": location})
    return Response(status_code=201, headers={"Location": location})


@router.get("/resource_providers/{uuid}")
def show_resource_provider(
    uuid: str, request: Request, cloud: CloudDep, version: VersionDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:show"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        provider = pl.get_provider(session, uuid)
    return show_provider(request, provider, version)


@router.put("/resource_providers/{uuid}")
def update_resource_provider(
    uuid: str, request: Request, cloud: CloudDep, version: VersionDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:update"))],
) -> dict[str, Any]:
    body = parse(UpdateBody114 if version.at_least(14) else UpdateBody, data)
    parent: object = pl.UNCHANGED
    if isinstance(body, UpdateBody114) and "parent_provider_uuid" in body.model_fields_set:
        parent = pl.normalize_uuid(body.parent_provider_uuid) if body.parent_provider_uuid else None
    with cloud.transaction() as session:
        provider = pl.update_provider(session, uuid, body.name, parent, allow_reparenting=version.at_least(37))
    return show_provider(request, provider, version)


@router.delete("/resource_providers/{uuid}", status_code=204)
def delete_resource_provider(
    uuid: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:delete"))],
) -> Response:
    with cloud.transaction() as session:
        pl.delete_provider(session, uuid)
    return Response(status_code=204)
