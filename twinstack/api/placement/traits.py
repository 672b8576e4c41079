"""Placement API (1.6+): /traits, and the traits of a provider at /resource_providers/{uuid}/traits."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from twinstack.api.deps import Caller, CloudDep
from twinstack.api.placement import params
from twinstack.api.placement.common import Body, JsonBody, allowed, base_url, parse, since
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.scheduler import placement as pl
from twinstack.core.scheduler import placement_names as names

router = APIRouter(dependencies=[Depends(since(6))])

TraitName = Annotated[str, Field(min_length=1, max_length=255)]


class ProviderTraitsBody(Body):
    traits: list[TraitName]
    resource_provider_generation: int


@router.get("/traits")
def list_traits(
    request: Request, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:traits:list"))],
) -> dict[str, Any]:
    given = params.multi(request.query_params)
    params.refuse_unknown(list(given), {"name", "associated"})
    wanted: list[str] | None = None
    prefix: str | None = None
    if "name" in given:
        value = given["name"][-1]
        if value.startswith("in:"):
            wanted = [n.strip() for n in value[3:].split(",")]
        elif value.startswith("startswith:"):
            prefix = value[len("startswith:"):]
        else:
            raise BadRequest(f"Badly formatted name parameter. Expected name query string parameter in form: "
                             f"?name=[in|startswith]:[name1,name2|prefix]. Got: \"{value}\"")
    associated: bool | None = None
    if "associated" in given:
        flag = given["associated"][-1].lower()
        if flag not in ("true", "false"):
            raise BadRequest(f"The query parameter \"associated\" only accepts \"true\" or \"false\". Got: {flag}")
        associated = flag == "true"
    with cloud.transaction() as session:
        return {"traits": names.list_traits(session, wanted, prefix, associated)}


@router.get("/traits/{name}", status_code=204)
def show_trait(
    name: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:traits:show"))],
) -> Response:
    with cloud.transaction() as session:
        if not names.trait_exists(session, name):
            raise NotFound(f"No such trait(s): {name}.")
    return Response(status_code=204)


@router.put("/traits/{name}")
def create_trait(
    name: str, request: Request, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:traits:update"))],
) -> Response:
    with cloud.transaction() as session:
        created = names.create_trait(session, name)
    return Response(status_code=201 if created else 204, headers={"Location": f"{base_url(request)}/traits/{name}"})


@router.delete("/traits/{name}", status_code=204)
def delete_trait(
    name: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:traits:delete"))],
) -> Response:
    with cloud.transaction() as session:
        names.delete_trait(session, name)
    return Response(status_code=204)


@router.get("/resource_providers/{uuid}/traits")
def list_provider_traits(
    uuid: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:traits:list"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        provider, traits = pl.get_traits(session, uuid)
    return {"traits": traits, "resource_provider_generation": provider.generation}


@router.put("/resource_providers/{uuid}/traits")
def set_provider_traits(
    uuid: str, cloud: CloudDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:traits:update"))],
) -> dict[str, Any]:
    body = parse(ProviderTraitsBody, data)
    with cloud.transaction() as session:
        provider = pl.set_traits(session, uuid, body.resource_provider_generation, body.traits)
        traits = pl.get_traits(session, uuid)[1]
    return {"traits": traits, "resource_provider_generation": provider.generation}


@router.delete("/resource_providers/{uuid}/traits", status_code=204)
def delete_provider_traits(
    uuid: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:traits:delete"))],
) -> Response:
    with cloud.transaction() as session:
        pl.set_traits(session, uuid, None, [])
    return Response(status_code=204)
