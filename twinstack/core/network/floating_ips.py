"""Floating IPs: an address on an external network, translated to a port's fixed IP through a router.

Association follows Neutron: the port must hold an IPv4 address (the one named, or its only one),
and a router must join that address's subnet to the floating IP's external network (an interface
on the subnet and the gateway on the network), else ExternalGatewayForFloatingIPNotFound and
nothing changes. One fixed address takes at most one floating IP per external network. Deleting
the internal port disassociates; deleting the floating IP releases its address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from twinstack.config import NetworkSettings
from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Forbidden
from twinstack.core.network import ipam, networks, ports, quotas, routers
from twinstack.core.network.common import acting_for, new_uuid, now, owner_for, owns, touch
from twinstack.core.network.errors import (
    ExternalGatewayForFloatingIPNotFound,
    FloatingIPNotFound,
    FloatingIPPortAlreadyAssociated,
)
from twinstack.core.policy import Credentials
from twinstack.db.models.network import FloatingIpRow
from twinstack.db.stores.network_locks import lock_keys

OWNER = "network:floatingip"


@dataclass
class FloatingIpSpec:
    floating_network_id: str
    floating_ip_address: str | None = None
    subnet_id: str | None = None
    port_id: str | None = None
    fixed_ip_address: str | None = None
    description: str = ""
    project_id: str | None = None
    tags: list[str] = field(default_factory=list)


def get_floating_ip(session: Session, creds: Credentials, floatingip_id: str) -> FloatingIpRow:
    row = session.get(FloatingIpRow, floatingip_id)
    if row is None or not owns(creds, row):
        raise FloatingIPNotFound(floatingip_id)
    return row


def list_floating_ips(session: Session, creds: Credentials, *where: ColumnElement[bool]) -> list[FloatingIpRow]:
    statement = select(FloatingIpRow).where(*where).order_by(FloatingIpRow.created_at, FloatingIpRow.id)
    if not creds.is_admin:
        statement = statement.where(FloatingIpRow.project_id == (creds.project_id or ""))
    return list(session.scalars(statement))


def _associate(session: Session, creds: Credentials, row: FloatingIpRow, port_id: str | None,
               fixed_ip_address: str | None) -> None:
    if port_id is None:
        row.port_id = row.fixed_ip_address = row.router_id = None
        row.status = "DOWN"
        return
    port = ports.get_port(session, creds, port_id)
    if port.project_id != row.project_id and not creds.is_admin:
        raise Forbidden(f"Port {port_id} belongs to another project than floating IP {row.id}.")
    if port.network_id == row.floating_network_id:
        raise BadRequest(f"Bad floatingip request: Port {port.id} is on the floating IP's external network.")
    held = [a for a in ipam.allocations_of(session, [port.id])[port.id]
            if ipaddress.ip_address(a.ip_address).version == 4]
    if fixed_ip_address is not None:
        wanted = str(ipaddress.ip_address(fixed_ip_address)) if _is_ip(fixed_ip_address) else fixed_ip_address
        chosen = next((a for a in held if a.ip_address == wanted), None)
        if chosen is None:
            raise BadRequest(f"Bad floatingip request: Port {port.id} does not have fixed ip {fixed_ip_address}.")
    elif not held:
        raise BadRequest(f"Bad floatingip request: Port {port.id} does not have any IPv4 address, so it cannot be "
                         "associated with a floating IP.")
    elif len(held) > 1:
        raise BadRequest(f"Port {port.id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address "
                         "when assigning a floating IP.")
    else:
        chosen = held[0]
    found = routers.routers_for(session, row.floating_network_id, chosen.subnet_id)
    if not found:
        raise ExternalGatewayForFloatingIPNotFound(row.floating_network_id, chosen.subnet_id, port.id)
    other = session.scalar(select(FloatingIpRow.id).where(
        FloatingIpRow.port_id == port.id, FloatingIpRow.fixed_ip_address == chosen.ip_address,
        FloatingIpRow.floating_network_id == row.floating_network_id, FloatingIpRow.id != row.id))
    if other is not None:
        raise FloatingIPPortAlreadyAssociated(row.id, port.id, chosen.ip_address)
    row.port_id, row.fixed_ip_address, row.router_id = port.id, chosen.ip_address, found[0].id
    row.status = "ACTIVE"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def create_floating_ip(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials,
                       spec: FloatingIpSpec) -> FloatingIpRow:
    """Take an address on the external network (the one asked for, or the next free) and associate it if asked."""
    project_id = owner_for(creds, spec.project_id)
    network = networks.get_network(session, creds, spec.floating_network_id)
    if not network.external:
        raise BadRequest(f"Bad floatingip request: Network {network.id} is not a valid external network.")
    if spec.floating_ip_address is not None and not creds.is_admin:
        raise Forbidden("(rule:create_floatingip:floating_ip_address) is disallowed by policy")
    lock_keys(session, [quotas.quota_key(project_id), ipam.network_lock(network.id)])
    quotas.check(session, project_id, "floatingip")
    fixed: list[ipam.FixedIp] | None = None
    if spec.floating_ip_address is not None or spec.subnet_id is not None:
        fixed = [ipam.FixedIp(spec.subnet_id, spec.floating_ip_address)]
    floatingip_id = new_uuid()
    port = ports.create_port(session, clock, settings, acting_for(project_id),
                             ports.PortSpec(network_id=network.id, device_id=floatingip_id, device_owner=OWNER,
                                            fixed_ips=fixed, port_security_enabled=False), service=True)
    held = [a for a in ipam.allocations_of(session, [port.id])[port.id]
            if ipaddress.ip_address(a.ip_address).version == 4]
    if not held:
        raise BadRequest(f"Bad floatingip request: no IPv4 address is free on external network {network.id}.")
    moment = now(clock)
    row = FloatingIpRow(id=floatingip_id, project_id=project_id, floating_network_id=network.id,
                        floating_port_id=port.id, floating_ip_address=held[0].ip_address, port_id=None,
                        fixed_ip_address=None, router_id=None, status="DOWN", description=spec.description,
                        tags=list(spec.tags), revision_number=0, created_at=moment, updated_at=moment)
    session.add(row)
    session.flush()
    if spec.port_id is not None:
        _associate(session, creds, row, spec.port_id, spec.fixed_ip_address)
        session.flush()
    return row


def update_floating_ip(session: Session, clock: Clock, creds: Credentials, floatingip_id: str,
                       changes: Mapping[str, Any]) -> FloatingIpRow:
    """``port_id`` associates (or, as None, disassociates); ``fixed_ip_address`` picks the port's address."""
    row = get_floating_ip(session, creds, floatingip_id)
    if "description" in changes:
        row.description = changes["description"]
    if "port_id" in changes or "fixed_ip_address" in changes:
        _associate(session, creds, row, changes.get("port_id", row.port_id), changes.get("fixed_ip_address"))
    touch(row, clock)
    session.flush()
    return row


def delete_floating_ip(session: Session, creds: Credentials, floatingip_id: str) -> None:
    row = get_floating_ip(session, creds, floatingip_id)
    port_id = row.floating_port_id
    session.delete(row)
    session.flush()
    ports.delete_port(session, acting_for(row.project_id), port_id, service=True)
