"""Subnets (``/v2.0/subnets``): list, show, create (one or bulk), update, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twinstack.api.deps import CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.bodies import Attr
from twinstack.api.network.common import BodyDep, one, refresh_ports, standard
from twinstack.api.network.listing import respond, sql_filters
from twinstack.core.network import instance_ports, subnets
from twinstack.core.network.common import check_tags
from twinstack.db.models.network import SubnetRow

router = APIRouter()

ATTRIBUTES: dict[str, Attr] = {
    "name": Attr(bodies.string()),
    "description": Attr(bodies.string()),
    "network_id": Attr(bodies.string(36), put=False, required=True),
    "ip_version": Attr(bodies.integer(), put=False, required=True),
    "cidr": Attr(bodies.nullable(bodies.string(64)), put=False),
    "prefixlen": Attr(bodies.integer(0, 128), put=False),
    "subnetpool_id": Attr(bodies.nullable(bodies.string(36)), put=False),
    "use_default_subnetpool": Attr(bodies.boolean, put=False),
    "gateway_ip": Attr(bodies.nullable(bodies.string(64))),
    "allocation_pools": Attr(bodies.list_of_dicts),
    "dns_nameservers": Attr(bodies.list_of(bodies.string(64))),
    "host_routes": Attr(bodies.list_of_dicts),
    "enable_dhcp": Attr(bodies.boolean),
    "ipv6_ra_mode": Attr(bodies.nullable(bodies.string(16)), put=False),
    "ipv6_address_mode": Attr(bodies.nullable(bodies.string(16)), put=False),
    "service_types": Attr(bodies.list_of(bodies.string())),
    "segment_id": Attr(bodies.nullable(bodies.string(36)), put=False),
    "tags": Attr(bodies.list_of(bodies.string()), put=False),
}


SQL_FILTERS = {"id": SubnetRow.id, "name": SubnetRow.name, "network_id": SubnetRow.network_id,
               "project_id": SubnetRow.project_id, "tenant_id": SubnetRow.project_id}


def render(row: SubnetRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "network_id": row.network_id, "ip_version": row.ip_version,
            "cidr": row.cidr, "gateway_ip": row.gateway_ip, "enable_dhcp": row.enable_dhcp,
            "allocation_pools": row.allocation_pools, "dns_nameservers": row.dns_nameservers,
            "host_routes": row.host_routes, "ipv6_ra_mode": row.ipv6_ra_mode,
            "ipv6_address_mode": row.ipv6_address_mode, "subnetpool_id": row.subnetpool_id,
            "service_types": row.service_types, "segment_id": None, **standard(row)}


def spec_from(attrs: dict[str, Any]) -> subnets.SubnetSpec:
    if attrs.get("segment_id") is not None:
        raise bodies.invalid("segment_id", "routed networks (segments) are not supported")
    return subnets.SubnetSpec(
        network_id=attrs["network_id"], ip_version=attrs["ip_version"], cidr=attrs.get("cidr"),
        name=attrs.get("name", ""), description=attrs.get("description", ""), project_id=attrs.get("project_id"),
        gateway_ip=attrs.get("gateway_ip", subnets.UNSET), allocation_pools=attrs.get("allocation_pools"),
        dns_nameservers=attrs.get("dns_nameservers", []), host_routes=attrs.get("host_routes", []),
        enable_dhcp=attrs.get("enable_dhcp", True), ipv6_ra_mode=attrs.get("ipv6_ra_mode"),
        ipv6_address_mode=attrs.get("ipv6_address_mode"), subnetpool_id=attrs.get("subnetpool_id"),
        prefixlen=attrs.get("prefixlen"), use_default_subnetpool=attrs.get("use_default_subnetpool", False),
        service_types=attrs.get("service_types", []), tags=check_tags(attrs.get("tags", [])))


@router.get("/v2.0/subnets")
def list_subnets(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_subnet")
    with caller.cloud.sessions() as session:
        rows = subnets.list_subnets(session, caller.creds, *sql_filters(request, SQL_FILTERS))
        return respond(request, "subnets", [render(r) for r in rows])


@router.get("/v2.0/subnets/{subnet_id}")
def show_subnet(subnet_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_subnet")
    with caller.cloud.sessions() as session:
        return one(request, "subnet", render(subnets.get_subnet(session, caller.creds, subnet_id)))


@router.post("/v2.0/subnets", status_code=201)
def create_subnet(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("create_subnet")
    items, bulk = bodies.entries(body, "subnet", "subnets")
    specs = [spec_from(bodies.parse(item, "subnet", ATTRIBUTES, caller.creds)) for item in items]
    with caller.cloud.transaction() as session:
        rendered = [render(subnets.create_subnet(session, caller.cloud.clock, caller.creds, spec)) for spec in specs]
    return {"subnets": rendered} if bulk else {"subnet": rendered[0]}


@router.put("/v2.0/subnets/{subnet_id}")
def update_subnet(subnet_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("update_subnet")
    changes = bodies.parse(body, "subnet", ATTRIBUTES, caller.creds, update=True)
    with caller.cloud.transaction() as session:
        answer = {"subnet": render(subnets.update_subnet(session, caller.cloud.clock, caller.creds, subnet_id,
                                                         changes))}
        reached = instance_ports.ports_on_subnet(session, subnet_id) if "enable_dhcp" in changes else []
    refresh_ports(caller, reached)  # the hosts of the servers on it start or stop serving their leases
    return answer


@router.delete("/v2.0/subnets/{subnet_id}", status_code=204)
def delete_subnet(subnet_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_subnet")
    with caller.cloud.transaction() as session:
        subnets.delete_subnet(session, caller.creds, subnet_id)
    return Response(status_code=204)
