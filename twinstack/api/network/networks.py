"""Networks (``/v2.0/networks``): list, show, create (one or bulk), update, delete.

Provider attributes are shown to admins only, as Neutron's policy does; ``subnets`` lists the
network's subnet ids; ``router:external`` and ``shared`` may be set by admins only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.bodies import Attr
from twinstack.api.network.common import BodyDep, one, settings_of, standard
from twinstack.api.network.listing import respond, sql_filters
from twinstack.core.network import networks, segments, subnets
from twinstack.core.network.common import check_tags
from twinstack.db.models.network import NetworkRow, SegmentRow

router = APIRouter()

ATTRIBUTES: dict[str, Attr] = {
    "name": Attr(bodies.string()),
    "description": Attr(bodies.string()),
    "admin_state_up": Attr(bodies.boolean),
    "shared": Attr(bodies.boolean, admin_only=True),
    "router:external": Attr(bodies.boolean, admin_only=True),
    "is_default": Attr(bodies.boolean, admin_only=True),
    "mtu": Attr(bodies.integer(68)),
    "port_security_enabled": Attr(bodies.boolean),
    "availability_zone_hints": Attr(bodies.list_of(bodies.string()), put=False),
    "provider:network_type": Attr(bodies.string(16), put=False, admin_only=True),
    "provider:physical_network": Attr(bodies.nullable(bodies.string(64)), put=False, admin_only=True),
    "provider:segmentation_id": Attr(bodies.nullable(bodies.integer(0)), put=False, admin_only=True),
    "tags": Attr(bodies.list_of(bodies.string()), put=False),
}


SQL_FILTERS = {"id": NetworkRow.id, "name": NetworkRow.name, "project_id": NetworkRow.project_id,
               "tenant_id": NetworkRow.project_id}


def render(row: NetworkRow, subnet_ids: list[str], segment: SegmentRow | None, admin: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id, "name": row.name, "admin_state_up": row.admin_state_up, "status": row.status,
        "shared": row.shared, "router:external": row.external, "mtu": row.mtu, "subnets": subnet_ids,
        "port_security_enabled": row.port_security_enabled, "availability_zone_hints": row.availability_zone_hints,
        "availability_zones": ["nova"], "ipv4_address_scope": None, "ipv6_address_scope": None,
        "is_default": row.is_default, "l2_adjacency": True, **standard(row),
    }
    if admin and segment is not None:
        body |= {"provider:network_type": segment.network_type,
                 "provider:physical_network": segment.physical_network or None,
                 "provider:segmentation_id": segment.segmentation_id if segment.network_type != "flat" else None}
    return body


def render_all(session: Session, caller: Caller, rows: list[NetworkRow]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    subnet_map = subnets.subnets_of(session, ids)
    segment_map = segments.segments_of(session, ids)
    return [render(row, [s.id for s in subnet_map[row.id]], segment_map.get(row.id), caller.creds.is_admin)
            for row in rows]


def spec_from(attrs: dict[str, Any]) -> networks.NetworkSpec:
    provider = segments.ProviderRequest(attrs.get("provider:network_type"), attrs.get("provider:physical_network"),
                                        attrs.get("provider:segmentation_id"))
    return networks.NetworkSpec(
        name=attrs.get("name", ""), description=attrs.get("description", ""), project_id=attrs.get("project_id"),
        admin_state_up=attrs.get("admin_state_up", True), shared=attrs.get("shared", False),
        external=attrs.get("router:external", False), is_default=attrs.get("is_default", False),
        mtu=attrs.get("mtu"), port_security_enabled=attrs.get("port_security_enabled", True),
        availability_zone_hints=attrs.get("availability_zone_hints", []), tags=check_tags(attrs.get("tags", [])),
        provider=provider)


@router.get("/v2.0/networks")
def list_networks(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_network")
    with caller.cloud.sessions() as session:
        rows = networks.list_networks(session, caller.creds, *sql_filters(request, SQL_FILTERS))
        return respond(request, "networks", render_all(session, caller, rows))


@router.get("/v2.0/networks/{network_id}")
def show_network(network_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_network")
    with caller.cloud.sessions() as session:
        row = networks.get_network(session, caller.creds, network_id)
        return one(request, "network", render_all(session, caller, [row])[0])


@router.post("/v2.0/networks", status_code=201)
def create_network(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("create_network")
    items, bulk = bodies.entries(body, "network", "networks")
    specs = [spec_from(bodies.parse(item, "network", ATTRIBUTES, caller.creds)) for item in items]
    cloud = caller.cloud
    with cloud.transaction() as session:
        rows = [networks.create_network(session, cloud.clock, settings_of(caller), caller.creds, spec)
                for spec in specs]
        rendered = render_all(session, caller, rows)
    return {"networks": rendered} if bulk else {"network": rendered[0]}


@router.put("/v2.0/networks/{network_id}")
def update_network(network_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("update_network")
    attrs = bodies.parse(body, "network", ATTRIBUTES, caller.creds, update=True)
    changes = {("external" if k == "router:external" else k): v for k, v in attrs.items()}
    cloud = caller.cloud
    with cloud.transaction() as session:
        row = networks.update_network(session, cloud.clock, settings_of(caller), caller.creds, network_id, changes)
        return {"network": render_all(session, caller, [row])[0]}


@router.delete("/v2.0/networks/{network_id}", status_code=204)
def delete_network(network_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_network")
    with caller.cloud.transaction() as session:
        networks.delete_network(session, caller.creds, network_id)
    return Response(status_code=204)
