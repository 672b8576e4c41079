"""Placement API (1.30+): POST /reshaper, moving inventories and their allocations atomically."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import Field

from twinstack.api.deps import Caller, CloudDep
from twinstack.api.placement.allocations import ConsumerBody, to_claim
from twinstack.api.placement.common import UUID_PATTERN, Body, JsonBody, VersionDep, allowed, parse, since
from twinstack.api.placement.inventories import ClassName, InventoryFields
from twinstack.core.scheduler import placement as pl
from twinstack.core.scheduler import placement_names as names

router = APIRouter(dependencies=[Depends(since(30))])
UUID = Annotated[str, Field(pattern=UUID_PATTERN)]


class ProviderInventories(Body):
    resource_provider_generation: int
    inventories: dict[ClassName, InventoryFields]


class ReshapeBody(Body):
    inventories: dict[UUID, ProviderInventories]
    allocations: dict[UUID, ConsumerBody]


@router.post("/reshaper", status_code=204)
def reshape(
    cloud: CloudDep, version: VersionDep, data: JsonBody,
    _caller: Annotated[Caller, Depends(allowed("placement:reshaper:reshape"))],
) -> Response:
    body = parse(ReshapeBody, data)
    inventories = {
        pl.normalize_uuid(uuid): (part.resource_provider_generation,
                                  {rc: inv.spec() for rc, inv in part.inventories.items()})
        for uuid, part in body.inventories.items()
    }
    claims = [to_claim(pl.normalize_uuid(c), part, version, empty_allowed=True) for c, part in body.allocations.items()]
    classes = {rc for c in claims for resources in c.allocations.values() for rc in resources}
    with cloud.transaction() as session:
        names.require_resource_classes(session, classes)
        pl.reshape(session, inventories, claims)
    return Response(status_code=204)
