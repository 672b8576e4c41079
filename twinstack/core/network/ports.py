"""Ports: a network attachment with a MAC, fixed IPs, security groups and a binding to a host.

Creating a port takes the project's quota key and the network's key, so the quota count, the MAC
choice and IPAM see every concurrent writer (see :mod:`twinstack.core.network.ipam`). A port gets
its project's default security group unless it names groups or has port security off. Ports a
router or floating IP owns are changed through those resources, never deleted directly.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.orm import Session

from twinstack.config import NetworkSettings
from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Conflict, Forbidden
from twinstack.core.network import addresses, ipam, networks, quotas, security_groups
from twinstack.core.network.common import new_uuid, now, owner_for, owns, touch
from twinstack.core.network.errors import MacAddressInUse, PortNotFound
from twinstack.core.policy import Credentials
from twinstack.db.models.network import (
    FloatingIpRow,
    InactiveBindingRow,
    NetworkRow,
    PortRow,
    PortSecurityGroupRow,
)
from twinstack.db.stores.network_locks import lock_keys

MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
SERVICE_OWNED = ("network:router_interface", "network:router_gateway", "network:floatingip",
                 "network:router_interface_distributed", "network:ha_router_replicated_interface")
"""Ports deleted only by removing the interface, gateway or floating IP that made them."""
UNSET: Any = object()


@dataclass
class PortSpec:
    network_id: str
    name: str = ""
    description: str = ""
    project_id: str | None = None
    admin_state_up: bool = True
    mac_address: str | None = None
    fixed_ips: list[ipam.FixedIp] | None = None
    device_id: str = ""
    device_owner: str = ""
    security_groups: list[str] | None = None
    port_security_enabled: bool | None = None
    allowed_address_pairs: list[dict[str, Any]] = field(default_factory=list)
    binding_host_id: str = ""
    binding_vnic_type: str = "normal"
    binding_profile: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


def visible(creds: Credentials) -> ColumnElement[bool] | None:
    """Own ports, and every port on a network the caller owns (Neutron's network_owner rule)."""
    if creds.is_admin:
        return None
    project = creds.project_id or ""
    return or_(PortRow.project_id == project,
               PortRow.network_id.in_(select(NetworkRow.id).where(NetworkRow.project_id == project)))


def get_port(session: Session, creds: Credentials, port_id: str) -> PortRow:
    statement = select(PortRow).where(PortRow.id == port_id)
    clause = visible(creds)
    if clause is not None:
        statement = statement.where(clause)
    row = session.scalar(statement)
    if row is None:
        raise PortNotFound(port_id)
    return row


def list_ports(session: Session, creds: Credentials, *where: ColumnElement[bool]) -> list[PortRow]:
    """Visible ports, narrowed by ``where`` (the list filters the database can apply)."""
    statement = select(PortRow).where(*where).order_by(PortRow.created_at, PortRow.id)
    clause = visible(creds)
    if clause is not None:
        statement = statement.where(clause)
    return list(session.scalars(statement))


def random_mac(base_mac: str, rng: random.Random) -> str:
    """The base MAC's first three octets, then three random ones (Neutron's base_mac scheme)."""
    prefix = base_mac.lower().split(":")[:3]
    return ":".join([*prefix, *(f"{rng.randrange(256):02x}" for _ in range(3))])


def _mac(session: Session, settings: NetworkSettings, network_id: str, asked: str | None, rng: random.Random) -> str:
    used = set(session.scalars(select(PortRow.mac_address).where(PortRow.network_id == network_id)))
    if asked is not None:
        mac = asked.lower()
        if not MAC.match(mac) or mac == "00:00:00:00:00:00" or int(mac.split(":")[0], 16) & 1:
            raise BadRequest(f"Invalid input for mac_address. Reason: '{asked}' is not a valid MAC address.")
        if mac in used:
            raise MacAddressInUse(mac, network_id)
        return mac
    for _ in range(16):
        mac = random_mac(settings.base_mac, rng)
        if mac not in used:
            return mac
    raise Conflict(f"Unable to generate a unique mac on network {network_id}.")


def check_address_pairs(pairs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    checked: list[dict[str, Any]] = []
    for pair in pairs:
        if not isinstance(pair, dict) or "ip_address" not in pair or set(pair) - {"ip_address", "mac_address"}:
            raise BadRequest(f"Invalid input for allowed_address_pairs. Reason: Unrecognized attribute(s) in {pair}.")
        ip = pair["ip_address"]
        try:
            text = str(addresses.parse_address(ip)) if "/" not in str(ip) else str(addresses.parse_cidr(ip))
        except BadRequest:
            raise BadRequest(f"Invalid input for allowed_address_pairs. Reason: '{ip}' is not a valid IP "
                             "address.") from None
        entry: dict[str, Any] = {"ip_address": text}
        if pair.get("mac_address") is not None:
            mac = str(pair["mac_address"]).lower()
            if not MAC.match(mac):
                raise BadRequest(f"Invalid input for allowed_address_pairs. Reason: '{mac}' is not a valid MAC "
                                 "address.")
            entry["mac_address"] = mac
        if entry in checked:
            raise BadRequest("Invalid input for allowed_address_pairs. Reason: duplicate address pair.")
        checked.append(entry)
    return checked


def _status(row: PortRow) -> str:
    if row.device_owner == "network:floatingip":
        return "N/A"
    if not row.admin_state_up:
        return "DOWN"
    if row.device_owner.startswith("network:") or row.binding_host_id:
        return "ACTIVE"
    return "DOWN"


def _bind_groups(session: Session, creds: Credentials, clock: Clock, sessions_default: str | None, row: PortRow,
                 groups: list[str] | None) -> None:
    chosen: list[str] = []
    if groups is None:
        if row.port_security_enabled and not row.device_owner.startswith("network:") and sessions_default:
            chosen = [sessions_default]
    else:
        if groups and not row.port_security_enabled:
            raise Conflict("Port security must be enabled and port must have an IP address in order to use "
                           "security groups.")
        chosen = security_groups.check_bindable(session, row.project_id, creds, groups)
    session.execute(delete(PortSecurityGroupRow).where(PortSecurityGroupRow.port_id == row.id))
    session.add_all([PortSecurityGroupRow(port_id=row.id, security_group_id=g) for g in chosen])


def lock_for_bulk(session: Session, creds: Credentials, specs: Sequence[PortSpec]) -> None:
    """Take every key a bulk create will need in one sorted call, so two bulk creates over the same networks in
    opposite orders cannot wait on each other (each later per-port call then re-takes keys it holds)."""
    if len(specs) > 1:
        lock_keys(session, [key for spec in specs for key in (
            quotas.quota_key(spec.project_id or creds.project_id or ""), ipam.network_lock(spec.network_id))])


def create_port(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials, spec: PortSpec,
                default_group: str | None = None, rng: random.Random | None = None,
                service: bool = False) -> PortRow:
    """One port with its MAC, addresses and groups, or nothing at all.

    ``default_group`` is the project's default security group (made beforehand by
    :func:`security_groups.ensure_default`, in its own transaction). ``service`` ports (a router's,
    a floating IP's) may sit on networks the caller cannot otherwise use, such as an external one.
    """
    network = networks.get_network(session, creds, spec.network_id)
    if not service and not owns(creds, network) and not network.shared:
        raise Forbidden(f"Ports may only be created on the project's own or shared networks ({network.id}).")
    project_id = owner_for(creds, spec.project_id)
    lock_keys(session, [quotas.quota_key(project_id), ipam.network_lock(network.id)])
    if not service:
        quotas.check(session, project_id, "port")
    mac = _mac(session, settings, network.id, spec.mac_address, rng or random.Random())
    security = network.port_security_enabled if spec.port_security_enabled is None else spec.port_security_enabled
    pairs = check_address_pairs(spec.allowed_address_pairs)
    if pairs and not security:
        raise Conflict("Port Security must be enabled in order to have allowed address pairs on a port.")
    moment = now(clock)
    row = PortRow(id=new_uuid(), project_id=project_id, network_id=network.id, name=spec.name,
                  description=spec.description, admin_state_up=spec.admin_state_up, status="DOWN",
                  mac_address=mac, device_id=spec.device_id, device_owner=spec.device_owner,
                  port_security_enabled=security, allowed_address_pairs=pairs,
                  binding_host_id=spec.binding_host_id, binding_vnic_type=spec.binding_vnic_type,
                  binding_profile=dict(spec.binding_profile), tags=list(spec.tags), revision_number=0,
                  created_at=moment, updated_at=moment)
    row.status = _status(row)
    session.add(row)
    session.flush()
    ipam.allocate(session, network.id, row.id, spec.fixed_ips, mac, spec.device_owner)
    _bind_groups(session, creds, clock, default_group, row, spec.security_groups)
    session.flush()
    return row


UPDATABLE = ("name", "description", "admin_state_up", "mac_address", "fixed_ips", "device_id", "device_owner",
             "security_groups", "port_security_enabled", "allowed_address_pairs", "binding_host_id",
             "binding_vnic_type", "binding_profile")


def update_port(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials, port_id: str,
                changes: Mapping[str, Any]) -> PortRow:
    """Change what was asked; new fixed IPs are re-allocated under the network's lock key."""
    row = get_port(session, creds, port_id)
    if not owns(creds, row):
        raise Forbidden(f"Port {port_id} belongs to another project.")
    unknown = [name for name in changes if name not in UPDATABLE]
    if unknown:
        raise BadRequest(f"Cannot update read-only attribute {unknown[0]}")
    lock_keys(session, [ipam.network_lock(row.network_id)])
    if "mac_address" in changes and changes["mac_address"] != row.mac_address:
        if row.binding_host_id:
            raise Conflict(f"Port {port_id} is bound to a host: its mac address cannot change.")
        row.mac_address = _mac(session, settings, row.network_id, changes["mac_address"], random.Random())
    if "port_security_enabled" in changes:
        row.port_security_enabled = bool(changes["port_security_enabled"])
    if "allowed_address_pairs" in changes:
        row.allowed_address_pairs = check_address_pairs(changes["allowed_address_pairs"] or [])
    if row.allowed_address_pairs and not row.port_security_enabled:
        raise Conflict("Port Security must be enabled in order to have allowed address pairs on a port.")
    for name in ("name", "description", "admin_state_up", "device_id", "device_owner", "binding_host_id",
                 "binding_vnic_type", "binding_profile"):
        if name in changes:
            setattr(row, name, changes[name])
    if changes.get("binding_host_id"):  # bound there now: an inactive binding on that host is that binding
        session.execute(delete(InactiveBindingRow).where(InactiveBindingRow.port_id == row.id,
                                                         InactiveBindingRow.host == row.binding_host_id))
    if "fixed_ips" in changes:
        ipam.reallocate(session, row.network_id, row.id, changes["fixed_ips"], row.mac_address, row.device_owner)
    if "security_groups" in changes:
        _bind_groups(session, creds, clock, None, row, changes["security_groups"] or [])
    elif ("port_security_enabled" in changes and not row.port_security_enabled
          and security_groups.groups_of_ports(session, [row.id])[row.id]):
            raise Conflict("Port has security group associated. Cannot disable port security or IP address until "
                           "security group is removed.")
    row.status = _status(row)
    touch(row, clock)
    session.flush()
    return row


def delete_port(session: Session, creds: Credentials, port_id: str, service: bool = False) -> None:
    """Delete the port, releasing its addresses and disassociating any floating IP translated to it."""
    row = get_port(session, creds, port_id)
    if not owns(creds, row):
        raise Forbidden(f"Port {port_id} belongs to another project.")
    if not service and row.device_owner in SERVICE_OWNED:
        raise Conflict(f"Port {port_id} cannot be deleted directly via the port API: has device owner "
                       f"{row.device_owner}.")
    lock_keys(session, [ipam.network_lock(row.network_id)])
    session.execute(update(FloatingIpRow).where(FloatingIpRow.port_id == port_id)
                    .values(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN"))
    session.delete(row)
    session.flush()


def ports_of_device(session: Session, device_id: str) -> list[PortRow]:
    return list(session.scalars(select(PortRow).where(PortRow.device_id == device_id)
                                .order_by(PortRow.created_at, PortRow.id)))
