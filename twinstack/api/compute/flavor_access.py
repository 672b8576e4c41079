"""Compute API (Nova v2.1): which projects may use a private flavor (os-flavor-access and its actions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from twinstack.api.compute.common import Body, json_body, parse
from twinstack.api.deps import CallerDep
from twinstack.core.compute import flavors
from twinstack.core.errors import BadRequest

router = APIRouter(prefix="/v2.1")

JsonDep = Annotated[Any, Depends(json_body)]


class TenantIn(Body):
    tenant: str = Field(min_length=1, max_length=255)


class AddAccess(Body):
    addTenantAccess: TenantIn  # noqa: N815 - Nova's action name


class RemoveAccess(Body):
    removeTenantAccess: TenantIn  # noqa: N815 - Nova's action name


def render(flavor_id: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]}


@router.get("/flavors/{flavor_id}/os-flavor-access")
def list_access(flavor_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("os_compute_api:os-flavor-access")
    with caller.cloud.sessions() as session:
        return render(flavor_id, flavors.access_list(session, caller.creds, flavor_id))


@router.post("/flavors/{flavor_id}/action")
def flavor_action(flavor_id: str, caller: CallerDep, data: JsonDep) -> dict[str, Any]:
    """addTenantAccess / removeTenantAccess; each answers the flavor's access list afterwards."""
    if isinstance(data, dict) and "addTenantAccess" in data:
        caller.enforce("os_compute_api:os-flavor-access:add_tenant_access")
        project = parse(AddAccess, data).addTenantAccess.tenant
        with caller.cloud.transaction() as session:
            return render(flavor_id, flavors.add_access(session, caller.creds, flavor_id, project))
    if isinstance(data, dict) and "removeTenantAccess" in data:
        caller.enforce("os_compute_api:os-flavor-access:remove_tenant_access")
        project = parse(RemoveAccess, data).removeTenantAccess.tenant
        with caller.cloud.transaction() as session:
            return render(flavor_id, flavors.remove_access(session, caller.creds, flavor_id, project))
    name = next(iter(data), "") if isinstance(data, dict) and data else ""
    raise BadRequest(f"There is no such action: {name}")
