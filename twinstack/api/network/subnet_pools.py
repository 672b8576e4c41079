"""Subnet pools (``/v2.0/subnetpools``): CRUD; subnets are carved from them through ``/v2.0/subnets``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twinstack.api.deps import CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.bodies import Attr
from twinstack.api.network.common import BodyDep, one, standard
from twinstack.api.network.listing import respond
from twinstack.core.network import subnet_pools
from twinstack.core.network.common import check_tags
from twinstack.db.models.network import SubnetPoolRow

router = APIRouter()

ATTRIBUTES: dict[str, Attr] = {
    "name": Attr(bodies.string(), required=True),
    "description": Attr(bodies.string()),
    "prefixes": Attr(bodies.list_of(bodies.string(64)), required=True),
    "default_prefixlen": Attr(bodies.integer(0, 128)),
    "min_prefixlen": Attr(bodies.integer(0, 128)),
    "max_prefixlen": Attr(bodies.integer(0, 128)),
    "shared": Attr(bodies.boolean, put=False, admin_only=True),
    "is_default": Attr(bodies.boolean, admin_only=True),
    "default_quota": Attr(bodies.nullable(bodies.integer(0))),
    "address_scope_id": Attr(bodies.nullable(bodies.one_of(None))),
    "tags": Attr(bodies.list_of(bodies.string()), put=False),
}


def render(row: SubnetPoolRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "ip_version": row.ip_version, "prefixes": row.prefixes,
            "default_prefixlen": row.default_prefixlen, "min_prefixlen": row.min_prefixlen,
            "max_prefixlen": row.max_prefixlen, "shared": row.shared, "is_default": row.is_default,
            "default_quota": row.default_quota, "address_scope_id": None, **standard(row)}


@router.get("/v2.0/subnetpools")
def list_pools(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_subnetpool")
    with caller.cloud.sessions() as session:
        return respond(request, "subnetpools", [render(r) for r in subnet_pools.list_pools(session, caller.creds)])


@router.get("/v2.0/subnetpools/{pool_id}")
def show_pool(pool_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_subnetpool")
    with caller.cloud.sessions() as session:
        return one(request, "subnetpool", render(subnet_pools.get_pool(session, caller.creds, pool_id)))


@router.post("/v2.0/subnetpools", status_code=201)
def create_pool(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("create_subnetpool")
    attrs = bodies.parse(body, "subnetpool", ATTRIBUTES, caller.creds)
    spec = subnet_pools.PoolSpec(
        name=attrs["name"], prefixes=attrs["prefixes"], description=attrs.get("description", ""),
        project_id=attrs.get("project_id"), default_prefixlen=attrs.get("default_prefixlen"),
        min_prefixlen=attrs.get("min_prefixlen"), max_prefixlen=attrs.get("max_prefixlen"),
        shared=attrs.get("shared", False), is_default=attrs.get("is_default", False),
        default_quota=attrs.get("default_quota"), tags=check_tags(attrs.get("tags", [])))
    with caller.cloud.transaction() as session:
        return {"subnetpool": render(subnet_pools.create_pool(session, caller.cloud.clock, caller.creds, spec))}


@router.put("/v2.0/subnetpools/{pool_id}")
def update_pool(pool_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("update_subnetpool")
    changes = bodies.parse(body, "subnetpool", ATTRIBUTES, caller.creds, update=True)
    with caller.cloud.transaction() as session:
        return {"subnetpool": render(subnet_pools.update_pool(session, caller.cloud.clock, caller.creds, pool_id,
                                                              changes))}


@router.delete("/v2.0/subnetpools/{pool_id}", status_code=204)
def delete_pool(pool_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_subnetpool")
    with caller.cloud.transaction() as session:
        subnet_pools.delete_pool(session, caller.creds, pool_id)
    return Response(status_code=204)
