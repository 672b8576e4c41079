"""Routers (``/v2.0/routers``): CRUD, ``add_router_interface``/``remove_router_interface``, and the
atomic ``add_extraroutes``/``remove_extraroutes`` of the extraroute-atomic extension."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.bodies import Attr
from twinstack.api.network.common import BodyDep, one, refresh, refresh_ports, settings_of, standard
from twinstack.api.network.listing import respond
from twinstack.api.network.ports import fixed_ips
from twinstack.core.errors import BadRequest, Forbidden
from twinstack.core.network import instance_ports, ipam, router_legs, routers
from twinstack.core.network.common import check_tags
from twinstack.core.network.routers import GatewayInfo, InterfaceInfo
from twinstack.db.models.network import RouterRow

router = APIRouter()


def gateway_info(name: str, value: Any) -> dict[str, Any] | None:
    if value is None or value == {}:
        return None
    info = bodies.dict_value(name, value)
    unknown = set(info) - {"network_id", "enable_snat", "external_fixed_ips"}
    if unknown:
        raise bodies.invalid(name, f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
    if "network_id" not in info:
        raise bodies.invalid(name, "network_id is required")
    return info


ATTRIBUTES: dict[str, Attr] = {
    "name": Attr(bodies.string()),
    "description": Attr(bodies.string()),
    "admin_state_up": Attr(bodies.boolean),
    "external_gateway_info": Attr(gateway_info),
    "routes": Attr(bodies.list_of_dicts, post=False),
    "tags": Attr(bodies.list_of(bodies.string()), put=False),
}


def to_gateway(caller: Caller, info: dict[str, Any] | None) -> GatewayInfo | None:
    if info is None:
        return None
    for admin_only in ("enable_snat", "external_fixed_ips"):
        if admin_only in info and not caller.creds.is_admin:
            raise Forbidden(f"(rule:create_router:external_gateway_info:{admin_only}) is disallowed by policy")
    return GatewayInfo(
        network_id=bodies.string(36)("network_id", info["network_id"]),
        enable_snat=bodies.boolean("enable_snat", info["enable_snat"]) if "enable_snat" in info else None,
        external_fixed_ips=fixed_ips("external_fixed_ips", info["external_fixed_ips"])
        if "external_fixed_ips" in info else None)


def render(session: Session, row: RouterRow) -> dict[str, Any]:
    gateway = None
    gw = routers.gateway_port(session, row)
    if gw is not None:
        held = ipam.allocations_of(session, [gw.id])[gw.id]
        gateway = {"network_id": gw.network_id, "enable_snat": row.enable_snat,
                   "external_fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in held]}
    return {"id": row.id, "name": row.name, "admin_state_up": row.admin_state_up, "status": row.status,
            "external_gateway_info": gateway, "routes": row.routes, "availability_zone_hints": [],
            "availability_zones": ["nova"], **standard(row)}


def render_interface(info: InterfaceInfo) -> dict[str, Any]:
    return {"id": info.router_id, "tenant_id": info.project_id, "project_id": info.project_id,
            "port_id": info.port_id, "subnet_id": info.subnet_id, "subnet_ids": info.subnet_ids,
            "network_id": info.network_id, "tags": []}


@router.get("/v2.0/routers")
def list_routers(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_router")
    with caller.cloud.sessions() as session:
        return respond(request, "routers", [render(session, r) for r in routers.list_routers(session, caller.creds)])


@router.get("/v2.0/routers/{router_id}")
def show_router(router_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_router")
    with caller.cloud.sessions() as session:
        return one(request, "router", render(session, routers.get_router(session, caller.creds, router_id)))


@router.post("/v2.0/routers", status_code=201)
def create_router(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("create_router")
    attrs = bodies.parse(body, "router", ATTRIBUTES, caller.creds)
    spec = routers.RouterSpec(name=attrs.get("name", ""), description=attrs.get("description", ""),
                              project_id=attrs.get("project_id"), admin_state_up=attrs.get("admin_state_up", True),
                              gateway=to_gateway(caller, attrs.get("external_gateway_info")),
                              tags=check_tags(attrs.get("tags", [])))
    cloud = caller.cloud
    with cloud.transaction() as session:
        row = routers.create_router(session, cloud.clock, settings_of(caller), caller.creds, spec)
        return {"router": render(session, row)}


@router.put("/v2.0/routers/{router_id}")
def update_router(router_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("update_router")
    changes = bodies.parse(body, "router", ATTRIBUTES, caller.creds, update=True)
    if "external_gateway_info" in changes:
        changes["external_gateway_info"] = to_gateway(caller, changes["external_gateway_info"])
    cloud = caller.cloud
    with cloud.transaction() as session:
        row = routers.update_router(session, cloud.clock, settings_of(caller), caller.creds, router_id, changes)
        answer = {"router": render(session, row)}
        reached = instance_ports.ports_behind_router(session, router_id)
    if {"external_gateway_info", "admin_state_up"} & set(changes):
        refresh_ports(caller, reached)  # the hosts of the servers behind it rebuild its external leg
    return answer


@router.delete("/v2.0/routers/{router_id}", status_code=204)
def delete_router(router_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_router")
    with caller.cloud.transaction() as session:
        reached = instance_ports.ports_behind_router(session, router_id)
        routers.delete_router(session, caller.creds, router_id)
    refresh_ports(caller, reached)
    return Response(status_code=204)


def _interface_request(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        raise BadRequest("Bad router request: Either subnet_id or port_id must be specified")
    unknown = set(body) - {"subnet_id", "port_id"}
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    for name, value in (("subnet_id", subnet_id), ("port_id", port_id)):
        if value is not None and not isinstance(value, str):
            raise bodies.invalid(name, f"'{value}' is not a valid UUID")
    return subnet_id, port_id


@router.put("/v2.0/routers/{router_id}/add_router_interface")
def add_interface(router_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("add_router_interface")
    subnet_id, port_id = _interface_request(body)
    cloud = caller.cloud
    with cloud.transaction() as session:
        answer = render_interface(routers.add_interface(session, cloud.clock, settings_of(caller), caller.creds,
                                                        router_id, subnet_id, port_id))
        reached = instance_ports.ports_behind_router(session, router_id)
        members = router_legs.tunnelled_behind_router(session, router_id)
    # the hosts behind it build a leg on the new subnet too: its network's members and their peers change
    refresh(cloud, reached, tunnelled=members)
    return answer


@router.put("/v2.0/routers/{router_id}/remove_router_interface")
def remove_interface(router_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("remove_router_interface")
    subnet_id, port_id = _interface_request(body)
    with caller.cloud.transaction() as session:
        before = instance_ports.ports_behind_router(session, router_id)
        members = router_legs.tunnelled_behind_router(session, router_id)
        answer = render_interface(routers.remove_interface(session, caller.cloud.clock, caller.creds, router_id,
                                                           subnet_id, port_id))
    # the hosts behind it drop the leg on that subnet: its network's members and their peers change
    refresh(caller.cloud, before, tunnelled=members)
    return answer


def _routes(body: Any) -> list[dict[str, Any]]:
    inner = bodies.unwrap(body, "router")
    if set(inner) != {"routes"}:
        raise BadRequest("Bad router request: only 'routes' may be given.")
    return bodies.list_of_dicts("routes", inner["routes"])


def _change_routes(router_id: str, body: Any, caller: Caller, add: bool) -> dict[str, Any]:
    caller.enforce("update_router")
    given = _routes(body)
    cloud = caller.cloud
    with cloud.transaction() as session:
        row = routers.change_routes(session, cloud.clock, caller.creds, router_id, given, add)
        return {"router": render(session, row)}


@router.put("/v2.0/routers/{router_id}/add_extraroutes")
def add_extraroutes(router_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    return _change_routes(router_id, body, caller, add=True)


@router.put("/v2.0/routers/{router_id}/remove_extraroutes")
def remove_extraroutes(router_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    return _change_routes(router_id, body, caller, add=False)
