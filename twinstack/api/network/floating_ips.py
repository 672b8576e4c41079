"""Floating IPs (``/v2.0/floatingips``): allocate from an external network, associate by updating
``port_id`` (null disassociates), release by deleting."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twinstack.api.deps import CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.bodies import Attr
from twinstack.api.network.common import BodyDep, one, refresh_ports, settings_of, standard
from twinstack.api.network.listing import respond, sql_filters
from twinstack.core.network import floating_ips
from twinstack.core.network.common import check_tags
from twinstack.db.models.network import FloatingIpRow

router = APIRouter()

ATTRIBUTES: dict[str, Attr] = {
    "floating_network_id": Attr(bodies.string(36), put=False, required=True),
    "floating_ip_address": Attr(bodies.nullable(bodies.string(64)), put=False),
    "subnet_id": Attr(bodies.nullable(bodies.string(36)), put=False),
    "port_id": Attr(bodies.nullable(bodies.string(36))),
    "fixed_ip_address": Attr(bodies.nullable(bodies.string(64))),
    "description": Attr(bodies.string()),
    "tags": Attr(bodies.list_of(bodies.string()), put=False),
}


SQL_FILTERS = {"id": FloatingIpRow.id, "port_id": FloatingIpRow.port_id,
               "floating_ip_address": FloatingIpRow.floating_ip_address,
               "floating_network_id": FloatingIpRow.floating_network_id, "router_id": FloatingIpRow.router_id,
               "project_id": FloatingIpRow.project_id, "tenant_id": FloatingIpRow.project_id}


def render(row: FloatingIpRow) -> dict[str, Any]:
    return {"id": row.id, "floating_ip_address": row.floating_ip_address,
            "floating_network_id": row.floating_network_id, "router_id": row.router_id, "port_id": row.port_id,
            "fixed_ip_address": row.fixed_ip_address, "status": row.status, "port_forwardings": [],
            **standard(row)}


@router.get("/v2.0/floatingips")
def list_floating_ips(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_floatingip")
    with caller.cloud.sessions() as session:
        rows = floating_ips.list_floating_ips(session, caller.creds, *sql_filters(request, SQL_FILTERS))
        return respond(request, "floatingips", [render(r) for r in rows])


@router.get("/v2.0/floatingips/{floatingip_id}")
def show_floating_ip(floatingip_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_floatingip")
    with caller.cloud.sessions() as session:
        return one(request, "floatingip", render(floating_ips.get_floating_ip(session, caller.creds, floatingip_id)))


@router.post("/v2.0/floatingips", status_code=201)
def create_floating_ip(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("create_floatingip")
    attrs = bodies.parse(body, "floatingip", ATTRIBUTES, caller.creds)
    spec = floating_ips.FloatingIpSpec(
        floating_network_id=attrs["floating_network_id"], floating_ip_address=attrs.get("floating_ip_address"),
        subnet_id=attrs.get("subnet_id"), port_id=attrs.get("port_id"),
        fixed_ip_address=attrs.get("fixed_ip_address"), description=attrs.get("description", ""),
        project_id=attrs.get("project_id"), tags=check_tags(attrs.get("tags", [])))
    cloud = caller.cloud
    with cloud.transaction() as session:
        row = floating_ips.create_floating_ip(session, cloud.clock, settings_of(caller), caller.creds, spec)
        answer = {"floatingip": render(row)}
    refresh_ports(caller, [row.port_id] if row.port_id else [])
    return answer


@router.put("/v2.0/floatingips/{floatingip_id}")
def update_floating_ip(floatingip_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("update_floatingip")
    changes = bodies.parse(body, "floatingip", ATTRIBUTES, caller.creds, update=True)
    with caller.cloud.transaction() as session:
        before = floating_ips.get_floating_ip(session, caller.creds, floatingip_id).port_id
        row = floating_ips.update_floating_ip(session, caller.cloud.clock, caller.creds, floatingip_id, changes)
        answer = {"floatingip": render(row)}
    refresh_ports(caller, [p for p in (before, row.port_id) if p])
    return answer


@router.delete("/v2.0/floatingips/{floatingip_id}", status_code=204)
def delete_floating_ip(floatingip_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_floatingip")
    with caller.cloud.transaction() as session:
        before = floating_ips.get_floating_ip(session, caller.creds, floatingip_id).port_id
        floating_ips.delete_floating_ip(session, caller.creds, floatingip_id)
    refresh_ports(caller, [before] if before else [])
    return Response(status_code=204)
