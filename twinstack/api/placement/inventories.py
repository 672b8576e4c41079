"""Placement API: /resource_providers/{uuid}/inventories, all at once or one class at a time."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from twinstack.api.deps import Caller, CloudDep
from twinstack.api.placement.common import (
    RESOURCE_CLASS_PATTERN,
    Body,
    JsonBody,
    VersionDep,
    allowed,
    base_url,
    parse,
    since,
)
from twinstack.core.errors import NotFound
from twinstack.core.scheduler import placement as pl

router = APIRouter()

MAX_INT = pl.MAX_INT
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Positive = Annotated[int, Field(ge=1, le=MAX_INT)]
ClassName = Annotated[str, Field(pattern=RESOURCE_CLASS_PATTERN, max_length=255)]


class InventoryFields(Body):
    total: Positive
    reserved: Count = 0
    min_unit: Positive = 1
    max_unit: Positive = MAX_INT
    step_size: Positive = 1
    allocation_ratio: Annotated[float, Field(gt=0, le=3.40282e38)] = 1.0

    def spec(self) -> pl.InventorySpec:
        return pl.InventorySpec(self.total, self.reserved, self.min_unit, self.max_unit, self.step_size,
                                self.allocation_ratio)


class OneInventoryBody(InventoryFields):
    resource_provider_generation: int


class NewInventoryBody(InventoryFields):
    resource_class: ClassName
    resource_provider_generation: int | None = None


class InventoriesBody(Body):
    resource_provider_generation: int
    inventories: dict[ClassName, InventoryFields]


def show_inventory(spec: pl.InventorySpec) -> dict[str, Any]:
    return {"total": spec.total, "reserved": spec.reserved, "min_unit": spec.min_unit, "max_unit": spec.max_unit,
            "step_size": spec.step_size, "allocation_ratio": spec.allocation_ratio}


def show_inventories(generation: int, inventories: dict[str, pl.InventorySpec]) -> dict[str, Any]:
    return {"resource_provider_generation": generation,
            "inventories": {rc: show_inventory(spec) for rc, spec in inventories.items()}}


@router.get("/resource_providers/{uuid}/inventories")
def list_inventories(
    uuid: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:inventories:list"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        provider, inventories = pl.get_inventories(session, uuid)
    return show_inventories(provider.generation, inventories)


@router.put("/resource_providers/{uuid}/inventories")
def set_inventories(
    uuid: str, cloud: CloudDep, version: VersionDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:inventories:update"))],
) -> dict[str, Any]:
    body = parse(InventoriesBody, data)
    specs = {rc: inv.spec() for rc, inv in body.inventories.items()}
    with cloud.transaction() as session:
        provider = pl.set_inventories(session, uuid, body.resource_provider_generation, specs,
                                      reserved_may_equal_total=version.at_least(26))
    return show_inventories(provider.generation, specs)


@router.delete("/resource_providers/{uuid}/inventories", status_code=204, dependencies=[Depends(since(5, 405))])
def delete_inventories(
    uuid: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:inventories:delete"))],
) -> Response:
    with cloud.transaction() as session:
        pl.set_inventories(session, uuid, None, {})
    return Response(status_code=204)


@router.post("/resource_providers/{uuid}/inventories")
def create_inventory(
    uuid: str, request: Request, cloud: CloudDep, version: VersionDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:inventories:create"))],
) -> JSONResponse:
    body = parse(NewInventoryBody, data)
    spec = body.spec()
    with cloud.transaction() as session:
        provider = pl.set_inventory(session, uuid, body.resource_provider_generation, body.resource_class, spec,
                                    must_exist=False, reserved_may_equal_total=version.at_least(26))
    return JSONResponse(
        {**show_inventory(spec), "resource_provider_generation": provider.generation}, status_code=201,
        headers={"Location": f"{base_url(request)}/resource_providers/{uuid}/inventories/{body.resource_class}"},
    )


@router.get("/resource_providers/{uuid}/inventories/{resource_class}")
def show_one_inventory(
    uuid: str, resource_class: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:inventories:show"))],
) -> dict[str, Any]:
    with cloud.transaction() as session:
        provider, inventories = pl.get_inventories(session, uuid)
    if resource_class not in inventories:
        raise NotFound(f"No inventory of class {resource_class} for {uuid}")
    return {**show_inventory(inventories[resource_class]), "resource_provider_generation": provider.generation}


@router.put("/resource_providers/{uuid}/inventories/{resource_class}")
def update_one_inventory(
    uuid: str, resource_class: str, cloud: CloudDep, version: VersionDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:inventories:update"))],
) -> dict[str, Any]:
    body = parse(OneInventoryBody, data)
    spec = body.spec()
    with cloud.transaction() as session:
        provider = pl.set_inventory(session, uuid, body.resource_provider_generation, resource_class, spec,
                                    must_exist=True, reserved_may_equal_total=version.at_least(26))
    return {**show_inventory(spec), "resource_provider_generation": provider.generation}


@router.delete("/resource_providers/{uuid}/inventories/{resource_class}", status_code=204)
def delete_one_inventory(
    uuid: str, resource_class: str, cloud: CloudDep,
    _caller: Annotated[Caller, Depends(allowed("placement:resource_providers:inventories:delete"))],
) -> Response:
    with cloud.transaction() as session:
        pl.delete_inventory(session, uuid, resource_class)
    return Response(status_code=204)
