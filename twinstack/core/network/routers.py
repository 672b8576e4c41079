"""Routers: an external gateway (with SNAT), interfaces on tenant subnets, and static routes.

The router's ports are ordinary ports the service owns: the gateway port (device_owner
``network:router_gateway``) on an external network takes an address from it; an interface port
(``network:router_interface``) takes the subnet's gateway address, or is a port the user made.
Those ports cannot be deleted through the port API; a router cannot be deleted while it has
interfaces, and neither an interface nor the gateway can be removed while a floating IP needs it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.config import NetworkSettings
from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Conflict, Forbidden
from twinstack.core.network import addresses, ipam, networks, ports, quotas, subnets
from twinstack.core.network.common import acting_for, new_uuid, now, owner_for, owns, touch
from twinstack.core.network.errors import (
    BadRequestWithType,
    PortInUse,
    RouterInterfaceNotFound,
    RouterInterfaceNotFoundForSubnet,
    RouterInUse,
    RouterNotFound,
    SubnetMismatchForPort,
)
from twinstack.core.policy import Credentials
from twinstack.db.models.network import FloatingIpRow, IpAllocationRow, PortRow, RouterRow, SubnetRow
from twinstack.db.stores.network_locks import lock_keys

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"


@dataclass(frozen=True)
class GatewayInfo:
    network_id: str
    enable_snat: bool | None = None
    external_fixed_ips: list[ipam.FixedIp] | None = None


@dataclass
class RouterSpec:
    name: str = ""
    description: str = ""
    project_id: str | None = None
    admin_state_up: bool = True
    gateway: GatewayInfo | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InterfaceInfo:
    """What add/remove_router_interface answer."""

    router_id: str
    project_id: str
    port_id: str
    subnet_id: str
    subnet_ids: list[str]
    network_id: str


def _lock(session: Session, row: RouterRow, network_ids: Sequence[str | None] = ()) -> None:
    """All the keys a router change may need, in one call (so two transactions never wait on each other in a
    cycle): the router, its project's quota (ports it makes) and each network it touches."""
    gw = gateway_port(session, row)
    touched = {n for n in (*network_ids, gw.network_id if gw else None) if n}
    lock_keys(session, [f"router:{row.id}", quotas.quota_key(row.project_id), *(ipam.network_lock(n) for n in touched)])


def get_router(session: Session, creds: Credentials, router_id: str) -> RouterRow:
    row = session.get(RouterRow, router_id)
    if row is None or not owns(creds, row):
        raise RouterNotFound(router_id)
    return row


def list_routers(session: Session, creds: Credentials) -> list[RouterRow]:
    statement = select(RouterRow).order_by(RouterRow.created_at, RouterRow.id)
    if not creds.is_admin:
        statement = statement.where(RouterRow.project_id == (creds.project_id or ""))
    return list(session.scalars(statement))


def interface_ports(session: Session, router_id: str) -> list[PortRow]:
    return list(session.scalars(select(PortRow).where(PortRow.device_id == router_id, PortRow.device_owner == INTERFACE)
                                .order_by(PortRow.created_at, PortRow.id)))


def gateway_port(session: Session, row: RouterRow) -> PortRow | None:
    return session.get(PortRow, row.gw_port_id) if row.gw_port_id else None


def _interface_subnets(session: Session, router_id: str) -> list[SubnetRow]:
    ids = [p.id for p in interface_ports(session, router_id)]
    if not ids:
        return []
    return list(session.scalars(select(SubnetRow).join(IpAllocationRow, IpAllocationRow.subnet_id == SubnetRow.id)
                                .where(IpAllocationRow.port_id.in_(ids))))


def _set_gateway(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials, row: RouterRow,
                 info: GatewayInfo | None) -> None:
    old = gateway_port(session, row)
    if old is not None and (info is None or info.network_id != old.network_id):
        if session.scalar(select(FloatingIpRow.id).where(FloatingIpRow.router_id == row.id).limit(1)):
            raise Conflict(f"Gateway cannot be updated for router {row.id}, since a gateway to external network "
                           f"{old.network_id} is required by one or more floating IPs.")
        row.gw_port_id = None
        session.flush()
        ports.delete_port(session, acting_for(row.project_id), old.id, service=True)
        old = None
    if info is None:
        row.enable_snat = True
        return
    network = networks.get_network(session, creds, info.network_id)
    if not network.external:
        raise BadRequestWithType(f"Bad router request: Network {network.id} is not an external network.")
    if info.enable_snat is not None:
        row.enable_snat = info.enable_snat
    if old is None:
        port = ports.create_port(session, clock, settings, acting_for(row.project_id),
                                 ports.PortSpec(network_id=network.id, device_id=row.id, device_owner=GATEWAY,
                                                fixed_ips=info.external_fixed_ips, port_security_enabled=False),
                                 service=True)
        if not ipam.allocations_of(session, [port.id])[port.id]:
            raise BadRequestWithType(f"Bad router request: no address is free on external network {network.id}.")
        row.gw_port_id = port.id
    elif info.external_fixed_ips is not None:
        ipam.reallocate(session, old.network_id, old.id, info.external_fixed_ips, old.mac_address, GATEWAY)


def create_router(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials,
                  spec: RouterSpec) -> RouterRow:
    project_id = owner_for(creds, spec.project_id)
    gateway_network = [ipam.network_lock(spec.gateway.network_id)] if spec.gateway else []
    lock_keys(session, [quotas.quota_key(project_id), *gateway_network])
    quotas.check(session, project_id, "router")
    moment = now(clock)
    row = RouterRow(id=new_uuid(), project_id=project_id, name=spec.name, description=spec.description,
                    admin_state_up=spec.admin_state_up, status="ACTIVE", gw_port_id=None, enable_snat=True,
                    routes=[], tags=list(spec.tags), revision_number=0, created_at=moment, updated_at=moment)
    session.add(row)
    session.flush()
    if spec.gateway is not None:
        _set_gateway(session, clock, settings, creds, row, spec.gateway)
    session.flush()
    return row


def normalized(routes: Sequence[Any]) -> list[dict[str, str]]:
    """Routes as they are stored (canonical addresses, no repeats), or a 400 for a malformed one: what
    add_extraroutes/remove_extraroutes compare with the router's routes."""
    result: list[dict[str, str]] = []
    for route in routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise BadRequest(f"Invalid input for routes. Reason: Invalid data format for hostroute: '{route}'.")
        entry = {"destination": str(addresses.parse_cidr(route["destination"], "routes")),
                 "nexthop": str(addresses.parse_address(route["nexthop"], "routes"))}
        if entry not in result:
            result.append(entry)
    return result


def _check_routes(session: Session, row: RouterRow, routes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each nexthop must lie on a subnet the router is connected to (an interface or its gateway)."""
    connected = [ipaddress.ip_network(s.cidr) for s in _interface_subnets(session, row.id)]
    gw = gateway_port(session, row)
    if gw is not None:
        gw_subnets = {a.subnet_id for a in ipam.allocations_of(session, [gw.id])[gw.id]}
        connected += [ipaddress.ip_network(s.cidr) for s in session.scalars(
            select(SubnetRow).where(SubnetRow.id.in_(gw_subnets)))]
    checked: list[dict[str, Any]] = []
    for route in routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise BadRequest(f"Invalid input for routes. Reason: Invalid data format for hostroute: '{route}'.")
        destination = addresses.parse_cidr(route["destination"], "routes")
        nexthop = addresses.parse_address(route["nexthop"], "routes")
        if not any(nexthop in net for net in connected):
            raise BadRequestWithType(f"Invalid format for routes: {route}, the nexthop is not connected with router",
                                     "InvalidRoutes")
        entry = {"destination": str(destination), "nexthop": str(nexthop)}
        if entry not in checked:
            checked.append(entry)
    return checked


def update_router(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials, router_id: str,
                  changes: Mapping[str, Any]) -> RouterRow:
    """``external_gateway_info`` given as None (or ``{}``) clears the gateway; a GatewayInfo sets it."""
    row = get_router(session, creds, router_id)
    info = changes.get("external_gateway_info")
    _lock(session, row, [info.network_id if isinstance(info, GatewayInfo) else None])
    for name in ("name", "description", "admin_state_up"):
        if name in changes:
            setattr(row, name, changes[name])
    if "external_gateway_info" in changes:
        _set_gateway(session, clock, settings, creds, row, changes["external_gateway_info"])
    if "routes" in changes:
        row.routes = _check_routes(session, row, changes["routes"] or [])
    touch(row, clock)
    session.flush()
    return row


def change_routes(session: Session, clock: Clock, creds: Credentials, router_id: str, given: Sequence[Any],
                  add: bool) -> RouterRow:
    """extraroute-atomic: add ``given`` to the router's routes (those present stay once) or remove them (those
    absent are ignored), read and written under the router's lock so concurrent changes never lose one."""
    row = get_router(session, creds, router_id)
    _lock(session, row)
    session.refresh(row)
    wanted = normalized(given)
    current = normalized(row.routes)
    merged = current + [r for r in wanted if r not in current] if add else [r for r in current if r not in wanted]
    row.routes = _check_routes(session, row, merged) if add else merged
    touch(row, clock)
    session.flush()
    return row


def delete_router(session: Session, creds: Credentials, router_id: str) -> None:
    row = get_router(session, creds, router_id)
    _lock(session, row)
    if interface_ports(session, row.id):
        raise RouterInUse(row.id)
    if session.scalar(select(FloatingIpRow.id).where(FloatingIpRow.router_id == row.id).limit(1)):
        raise RouterInUse(row.id, "still has floating IPs associated through it")
    gw = gateway_port(session, row)
    row.gw_port_id = None
    session.flush()
    if gw is not None:
        ports.delete_port(session, acting_for(row.project_id), gw.id, service=True)
    session.delete(row)
    session.flush()


def _info(session: Session, row: RouterRow, port: PortRow, subnet_id: str | None = None) -> InterfaceInfo:
    held = [a.subnet_id for a in ipam.allocations_of(session, [port.id])[port.id]]
    return InterfaceInfo(row.id, row.project_id, port.id, subnet_id or (held[0] if held else ""), held,
                         port.network_id)


def add_interface(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials, router_id: str,
                  subnet_id: str | None, port_id: str | None) -> InterfaceInfo:
    """Connect a subnet (a new port on its gateway address) or an existing unused port to the router."""
    if (subnet_id is None) == (port_id is None):
        raise BadRequestWithType("Bad router request: Cannot specify both subnet-id and port-id" if subnet_id else
                         "Bad router request: Either subnet_id or port_id must be specified")
    row = get_router(session, creds, router_id)
    if subnet_id is not None:
        target_network = subnets.get_subnet(session, creds, subnet_id).network_id
    else:
        assert port_id is not None
        target_network = ports.get_port(session, creds, port_id).network_id
    _lock(session, row, [target_network])
    attached = _interface_subnets(session, row.id)
    if subnet_id is not None:
        subnet = subnets.get_subnet(session, creds, subnet_id)
        if not subnet.gateway_ip:
            raise BadRequestWithType(f"Bad router request: Subnet {subnet.id} does not have a gateway IP.")
        candidates = [subnet]
    else:
        assert port_id is not None
        port = ports.get_port(session, creds, port_id)
        if port.device_id or port.device_owner:
            raise PortInUse(port.id, port.network_id, port.device_id or port.device_owner)
        held = ipam.allocations_of(session, [port.id])[port.id]
        if not held:
            raise BadRequestWithType("Bad router request: Router port must have at least one fixed IP.")
        candidates = [s for s in (session.get(SubnetRow, a.subnet_id) for a in held) if s is not None]
    gw = gateway_port(session, row)
    for candidate in candidates:
        cidr = ipaddress.ip_network(candidate.cidr)
        if gw is not None and candidate.network_id == gw.network_id:
            raise BadRequestWithType(f"Bad router request: Router already has a port on subnet {candidate.id}.")
        for other in attached:
            if other.id == candidate.id:
                raise BadRequestWithType(f"Bad router request: Router already has a port on subnet {candidate.id}.")
            if cidr.overlaps(ipaddress.ip_network(other.cidr)):
                raise BadRequestWithType(f"Bad router request: Cidr {candidate.cidr} of subnet {candidate.id} overlaps "
                                 f"with cidr {other.cidr} of subnet {other.id}.")
    if subnet_id is not None:
        subnet = candidates[0]
        port = ports.create_port(
            session, clock, settings, acting_for(row.project_id),
            ports.PortSpec(network_id=subnet.network_id, device_id=row.id, device_owner=INTERFACE,
                           fixed_ips=[ipam.FixedIp(subnet.id, subnet.gateway_ip)], port_security_enabled=False),
            service=True)
    else:
        if port.project_id != row.project_id and not creds.is_admin:
            raise Forbidden(f"Port {port.id} belongs to another project than router {row.id}.")
        port.device_id, port.device_owner = row.id, INTERFACE
        port.status = "ACTIVE"
    touch(row, clock)
    session.flush()
    return _info(session, row, port, subnet_id)


def _check_not_needed_by_floating_ips(session: Session, row: RouterRow, subnet_ids: Sequence[str]) -> None:
    held = select(IpAllocationRow.port_id).where(IpAllocationRow.subnet_id.in_(subnet_ids))
    if session.scalar(select(FloatingIpRow.id).where(FloatingIpRow.router_id == row.id,
                                                     FloatingIpRow.port_id.in_(held)).limit(1)):
        raise Conflict(f"Router interface for subnet {subnet_ids[0]} on router {row.id} cannot be deleted, as it is "
                       "required by one or more floating IPs.")


def remove_interface(session: Session, clock: Clock, creds: Credentials, router_id: str, subnet_id: str | None,
                     port_id: str | None) -> InterfaceInfo:
    row = get_router(session, creds, router_id)
    interfaces = interface_ports(session, row.id)
    _lock(session, row, [p.network_id for p in interfaces])
    interfaces = interface_ports(session, row.id)
    held = ipam.allocations_of(session, [p.id for p in interfaces])
    if port_id is not None:
        port = next((p for p in interfaces if p.id == port_id), None)
        if port is None:
            raise RouterInterfaceNotFound(row.id, port_id)
        if subnet_id is not None and subnet_id not in [a.subnet_id for a in held[port.id]]:
            raise SubnetMismatchForPort(port.id, subnet_id)
    elif subnet_id is not None:
        port = next((p for p in interfaces if subnet_id in [a.subnet_id for a in held[p.id]]), None)
        if port is None:
            raise RouterInterfaceNotFoundForSubnet(row.id, subnet_id)
    else:
        raise BadRequestWithType("Bad router request: Either subnet_id or port_id must be specified")
    info = _info(session, row, port, subnet_id)
    _check_not_needed_by_floating_ips(session, row, info.subnet_ids)
    subnet_cidrs = [ipaddress.ip_network(s.cidr) for s in session.scalars(
        select(SubnetRow).where(SubnetRow.id.in_(info.subnet_ids)))]
    if any(ipaddress.ip_address(r["nexthop"]) in cidr for r in row.routes for cidr in subnet_cidrs):
        raise Conflict(f"Router interface for subnet {info.subnet_id} on router {row.id} cannot be deleted, as it "
                       "is required by one or more routes.")
    ports.delete_port(session, acting_for(port.project_id), port.id, service=True)
    touch(row, clock)
    session.flush()
    return info


def routers_for(session: Session, external_network_id: str, subnet_id: str) -> list[RouterRow]:
    """Routers that join ``subnet_id`` to ``external_network_id``: a floating IP on that network can reach
    a port on that subnet only through one of them."""
    interface_owner = select(PortRow.device_id).join(IpAllocationRow, IpAllocationRow.port_id == PortRow.id).where(
        PortRow.device_owner == INTERFACE, IpAllocationRow.subnet_id == subnet_id)
    gateway_ports = select(PortRow.id).where(PortRow.network_id == external_network_id, PortRow.device_owner == GATEWAY)
    return list(session.scalars(select(RouterRow).where(RouterRow.id.in_(interface_owner),
                                                        RouterRow.gw_port_id.in_(gateway_ports))
                                .order_by(RouterRow.created_at, RouterRow.id)))
