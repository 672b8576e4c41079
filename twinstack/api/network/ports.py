"""Ports (``/v2.0/ports``): list, show, create (one or bulk), update, delete.

A new port without ``security_groups`` gets its project's default group, which is made first (in
its own transaction) if this is the project's first use of security groups.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.bodies import Attr
from twinstack.api.network.common import BodyDep, one, refresh_ports, settings_of, standard
from twinstack.api.network.listing import respond, sql_filters
from twinstack.core.network import ipam, ports, security_groups
from twinstack.core.network.common import check_tags
from twinstack.db.models.network import PortRow

router = APIRouter()


def fixed_ips(name: str, value: Any) -> list[ipam.FixedIp]:
    entries = bodies.list_of_dicts(name, value)
    parsed = []
    for entry in entries:
        unknown = set(entry) - {"subnet_id", "ip_address"}
        if unknown:
            raise bodies.invalid(name, f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
        parsed.append(ipam.FixedIp(entry.get("subnet_id"), entry.get("ip_address")))
    return parsed


ATTRIBUTES: dict[str, Attr] = {
    "name": Attr(bodies.string()),
    "description": Attr(bodies.string()),
    "network_id": Attr(bodies.string(36), put=False, required=True),
    "admin_state_up": Attr(bodies.boolean),
    "mac_address": Attr(bodies.string(32)),
    "fixed_ips": Attr(fixed_ips),
    "device_id": Attr(bodies.string()),
    "device_owner": Attr(bodies.string()),
    "security_groups": Attr(bodies.nullable(bodies.list_of(bodies.string(36)))),
    "port_security_enabled": Attr(bodies.boolean),
    "allowed_address_pairs": Attr(bodies.list_of_dicts),
    "binding:host_id": Attr(bodies.string(), admin_only=True),
    "binding:vnic_type": Attr(bodies.one_of("normal", "direct", "macvtap", "baremetal", "direct-physical",
                                            "virtio-forwarder", "smart-nic", "remote-managed")),
    "binding:profile": Attr(bodies.dict_value, admin_only=True),
    "tags": Attr(bodies.list_of(bodies.string()), put=False),
}

SQL_FILTERS = {"id": PortRow.id, "network_id": PortRow.network_id, "device_id": PortRow.device_id,
               "device_owner": PortRow.device_owner, "project_id": PortRow.project_id,
               "tenant_id": PortRow.project_id, "mac_address": PortRow.mac_address, "name": PortRow.name}
RENAMED = {"binding:host_id": "binding_host_id", "binding:vnic_type": "binding_vnic_type",
           "binding:profile": "binding_profile"}


def render(row: PortRow, fixed: list[dict[str, str]], groups: list[str]) -> dict[str, Any]:
    bound = bool(row.binding_host_id)
    return {"id": row.id, "name": row.name, "network_id": row.network_id, "mac_address": row.mac_address,
            "admin_state_up": row.admin_state_up, "status": row.status, "device_id": row.device_id,
            "device_owner": row.device_owner, "fixed_ips": fixed, "security_groups": groups,
            "allowed_address_pairs": row.allowed_address_pairs, "extra_dhcp_opts": [],
            "port_security_enabled": row.port_security_enabled, "binding:host_id": row.binding_host_id,
            "binding:vnic_type": row.binding_vnic_type, "binding:profile": row.binding_profile,
            "binding:vif_type": "ovs" if bound else "unbound",
            "binding:vif_details": {"port_filter": True} if bound else {}, **standard(row)}


def render_all(session: Session, rows: list[PortRow]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    allocations = ipam.allocations_of(session, ids)
    groups = security_groups.groups_of_ports(session, ids)
    return [render(row, [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in allocations[row.id]],
                   groups[row.id]) for row in rows]


def spec_from(attrs: dict[str, Any]) -> ports.PortSpec:
    return ports.PortSpec(
        network_id=attrs["network_id"], name=attrs.get("name", ""), description=attrs.get("description", ""),
        project_id=attrs.get("project_id"), admin_state_up=attrs.get("admin_state_up", True),
        mac_address=attrs.get("mac_address"), fixed_ips=attrs.get("fixed_ips"), device_id=attrs.get("device_id", ""),
        device_owner=attrs.get("device_owner", ""), security_groups=attrs.get("security_groups"),
        port_security_enabled=attrs.get("port_security_enabled"),
        allowed_address_pairs=attrs.get("allowed_address_pairs", []),
        binding_host_id=attrs.get("binding:host_id", ""), binding_vnic_type=attrs.get("binding:vnic_type", "normal"),
        binding_profile=attrs.get("binding:profile", {}), tags=check_tags(attrs.get("tags", [])))


def default_group_for(caller: Caller, spec: ports.PortSpec) -> str | None:
    """The default group the port would get, made now if the project has none yet."""
    project_id = spec.project_id or caller.creds.project_id
    if spec.security_groups is not None or spec.port_security_enabled is False or project_id is None \
            or spec.device_owner.startswith("network:"):
        return None
    return security_groups.ensure_default(caller.cloud.sessions, caller.cloud.clock, project_id)


@router.get("/v2.0/ports")
def list_ports(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_port")
    with caller.cloud.sessions() as session:
        rows = ports.list_ports(session, caller.creds, *sql_filters(request, SQL_FILTERS))
        return respond(request, "ports", render_all(session, rows))


@router.get("/v2.0/ports/{port_id}")
def show_port(port_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_port")
    with caller.cloud.sessions() as session:
        return one(request, "port", render_all(session, [ports.get_port(session, caller.creds, port_id)])[0])


@router.post("/v2.0/ports", status_code=201)
def create_port(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("create_port")
    items, bulk = bodies.entries(body, "port", "ports")
    specs = [spec_from(bodies.parse(item, "port", ATTRIBUTES, caller.creds)) for item in items]
    defaults = [default_group_for(caller, spec) for spec in specs]
    cloud = caller.cloud
    with cloud.transaction() as session:
        ports.lock_for_bulk(session, caller.creds, specs)
        rows = [ports.create_port(session, cloud.clock, settings_of(caller), caller.creds, spec, default)
                for spec, default in zip(specs, defaults, strict=True)]
        rendered = render_all(session, rows)
        joined = security_groups.groups_of_ports(session, [row.id for row in rows])
    refresh_ports(caller, [], [g for groups in joined.values() for g in groups])  # remote-group rules admit them
    return {"ports": rendered} if bulk else {"port": rendered[0]}


@router.put("/v2.0/ports/{port_id}")
def update_port(port_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("update_port")
    attrs = bodies.parse(body, "port", ATTRIBUTES, caller.creds, update=True)
    changes = {RENAMED.get(k, k): v for k, v in attrs.items()}
    cloud = caller.cloud
    with cloud.transaction() as session:
        before = security_groups.groups_of_ports(session, [port_id]).get(port_id, [])
        row = ports.update_port(session, cloud.clock, settings_of(caller), caller.creds, port_id, changes)
        answer = {"port": render_all(session, [row])[0]}
        after = security_groups.groups_of_ports(session, [row.id])[row.id]
    # its own plug; and if it joined or left groups, or its addresses changed, the ports whose rules name one of
    # those groups as remote group (the addresses they admit changed)
    moved = "security_groups" in changes or "fixed_ips" in changes
    refresh_ports(caller, [row.id], sorted(set(before) | set(after)) if moved else [])
    return answer


@router.delete("/v2.0/ports/{port_id}", status_code=204)
def delete_port(port_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_port")
    with caller.cloud.transaction() as session:
        left = security_groups.groups_of_ports(session, [port_id]).get(port_id, [])
        ports.delete_port(session, caller.creds, port_id)
    refresh_ports(caller, [], left)  # its addresses leave the remote-group rules naming its groups
    return Response(status_code=204)
