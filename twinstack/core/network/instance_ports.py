"""The seam between compute and networking: a server's ports, from its request to its host's plug.

Compute calls these (in this order, each in its own transaction) and keeps the answer of the first:

1. :func:`allocate_for_instance` when a server is created: one port per requested network (or the
   requested port, bound to the server), as Nova's ``allocate_for_instance`` does; ``"auto"`` finds
   or makes the project's network (get-me-a-network); ``"none"`` gives none. It answers which
   ports were *created* for the server: those are deleted with it, the others only unbound.
2. :func:`bind_to_host` once the scheduler chose a host: ``binding:host_id`` is set, ports go ACTIVE.
3. :func:`plugs_for` to build what the host's agent needs to plug each port (the network segment,
   the addresses, the security group rules, the floating IPs): compute wraps each
   :class:`PortPlug` in its versioned agent message.
4. :func:`addresses_of` for the server views' ``addresses``.
5. :func:`release_for_instance` when the server is deleted: ports made for it (marked
   ``delete_with_device``) go, the user's own are unbound and stay.

Nothing here calls compute: the dependency points one way, and compute may run without networking.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twinstack.config import NetworkSettings
from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Conflict
from twinstack.core.network import ipam, networks, ports, routers, security_groups, segments, subnets
from twinstack.core.network.errors import NetworkNotFound, PortInUse
from twinstack.core.policy import Credentials
from twinstack.db.models.network import FloatingIpRow, NetworkRow, PortRow, PortSecurityGroupRow, SecurityGroupRow

COMPUTE_OWNER = "compute:nova"
AUTO_NETWORK = "auto_allocated_network"
AUTO_SUBNET = "auto_allocated_subnet_v4"
AUTO_ROUTER = "auto_allocated_router"
AUTO_CIDR = "10.0.0.0/24"


@dataclass(frozen=True)
class RequestedNetwork:
    """One entry of a server's ``networks``: a network (maybe with a fixed IP), or an existing port."""

    network_id: str | None = None
    port_id: str | None = None
    fixed_ip: str | None = None

    @classmethod
    def from_nova(cls, entry: dict[str, Any]) -> RequestedNetwork:
        return cls(entry.get("uuid"), entry.get("port"), entry.get("fixed_ip"))


@dataclass(frozen=True)
class Allocation:
    port_ids: list[str]
    created_port_ids: list[str]
    """Ports made for the server: deleted with it (the others are the user's, and only unbound)."""


@dataclass(frozen=True)
class SecurityRule:
    direction: str
    ethertype: str
    protocol: str | None
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None


@dataclass(frozen=True)
class PortPlug:
    """What a host agent needs to plug one port: the content of compute's plug message."""

    port_id: str
    mac_address: str
    network_id: str
    network_type: str
    physical_network: str | None
    segmentation_id: int | None
    mtu: int
    fixed_ips: list[str]
    port_security_enabled: bool
    allowed_address_pairs: list[dict[str, Any]]
    security_group_rules: list[SecurityRule] = field(default_factory=list)
    floating_ips: list[str] = field(default_factory=list)


def _usable_networks(session: Session, creds: Credentials) -> list[NetworkRow]:
    """Networks a server may attach to without naming one: own and shared, never external (Nova's rule)."""
    return [n for n in networks.list_networks(session, creds)
            if not n.external and (n.shared or n.project_id == creds.project_id)]


def _auto_topology(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials) -> NetworkRow:
    """Neutron's auto-allocated topology: a network, a subnet and a router to the default external network."""
    network = networks.create_network(session, clock, settings, creds, networks.NetworkSpec(name=AUTO_NETWORK))
    subnet = subnets.create_subnet(session, clock, creds, subnets.SubnetSpec(
        network_id=network.id, ip_version=4, cidr=AUTO_CIDR, name=AUTO_SUBNET))
    external = session.scalar(select(NetworkRow).where(NetworkRow.external.is_(True), NetworkRow.is_default.is_(True))
                              .order_by(NetworkRow.created_at))
    if external is not None:
        router = routers.create_router(session, clock, settings, creds, routers.RouterSpec(
            name=AUTO_ROUTER, gateway=routers.GatewayInfo(external.id)))
        routers.add_interface(session, clock, settings, creds, router.id, subnet.id, None)
    return network


def _resolve(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials,
             requested: str | Sequence[RequestedNetwork] | None) -> list[RequestedNetwork]:
    if requested == "none":
        return []
    if requested is None or requested == "auto":
        usable = _usable_networks(session, creds)
        if len(usable) > 1:
            raise Conflict("Multiple possible networks found, use a Network ID to be more specific.")
        if usable:
            return [RequestedNetwork(usable[0].id)]
        if requested == "auto":
            return [RequestedNetwork(_auto_topology(session, clock, settings, creds).id)]
        return []
    assert not isinstance(requested, str)
    return list(requested)


def needs_ports(session: Session, creds: Credentials, requested: str | Sequence[RequestedNetwork] | None) -> bool:
    """Whether the request will make or bind any port (so compute can skip the network service entirely)."""
    if requested == "none":
        return False
    if requested is None:
        return bool(_usable_networks(session, creds))
    return requested == "auto" or bool(requested)


def allocate_for_instance(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials,
                          instance_id: str, requested: str | Sequence[RequestedNetwork] | None,
                          default_group: str | None, security_group_names: Sequence[str] = ()) -> Allocation:
    """The server's ports, all or none (one transaction). ``default_group`` is the project's default
    security group (see :func:`security_groups.ensure_default`), used when no group names are given."""
    groups = _groups_by_name(session, creds, security_group_names) if security_group_names else None
    port_ids: list[str] = []
    created: list[str] = []
    for entry in _resolve(session, clock, settings, creds, requested):
        if entry.port_id is not None:
            port = ports.get_port(session, creds, entry.port_id)
            if port.device_id or port.device_owner:
                raise PortInUse(port.id, port.network_id, port.device_id or port.device_owner)
            port.device_id, port.device_owner = instance_id, COMPUTE_OWNER
            port_ids.append(port.id)
            continue
        if entry.network_id is None:
            raise BadRequest("Bad networks format: network uuid is not in proper format")
        network = networks.get_network(session, creds, entry.network_id)
        if network.external and not network.shared and not creds.is_admin:
            raise NetworkNotFound(network.id)
        fixed = [ipam.FixedIp(ip_address=entry.fixed_ip)] if entry.fixed_ip else None
        port = ports.create_port(session, clock, settings, creds, ports.PortSpec(
            network_id=network.id, device_id=instance_id, device_owner=COMPUTE_OWNER, fixed_ips=fixed,
            security_groups=groups), default_group=default_group)
        port.delete_with_device = True
        port_ids.append(port.id)
        created.append(port.id)
    session.flush()
    return Allocation(port_ids, created)


def _groups_by_name(session: Session, creds: Credentials, names: Sequence[str]) -> list[str]:
    """Group ids for names (looked up in the caller's project, as Nova does) or ids (any group it may see)."""
    visible = security_groups.list_groups(session, creds)
    found: list[str] = []
    for name in names:
        matches = [g.id for g in visible if g.id == name or (g.name == name and g.project_id == creds.project_id)]
        if len(matches) != 1:
            raise BadRequest(f"Security group {name} not found." if not matches else
                             f"Multiple security groups named {name}: use its id.")
        found.append(matches[0])
    return found


def bind_to_host(session: Session, instance_id: str, host: str) -> None:
    session.execute(update(PortRow).where(PortRow.device_id == instance_id, PortRow.device_owner == COMPUTE_OWNER)
                    .values(binding_host_id=host, status="ACTIVE"))


def release_for_instance(session: Session, instance_id: str) -> None:
    """Delete the ports made for the server, unbind the user's own (they stay, with their addresses)."""
    for port in ports.ports_of_device(session, instance_id):
        if port.device_owner != COMPUTE_OWNER:
            continue
        if port.delete_with_device:
            session.execute(update(FloatingIpRow).where(FloatingIpRow.port_id == port.id)
                            .values(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN"))
            session.delete(port)
        else:
            port.device_id = port.device_owner = port.binding_host_id = ""
            port.status = "DOWN"
    session.flush()


def addresses_of(session: Session, instance_ids: Sequence[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Nova's ``addresses``: per network name, each fixed IP then the floating IPs translated to it."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {i: {} for i in instance_ids}
    if not instance_ids:
        return found
    rows = list(session.scalars(select(PortRow).where(PortRow.device_id.in_(instance_ids),
                                                      PortRow.device_owner == COMPUTE_OWNER)
                                .order_by(PortRow.created_at, PortRow.id)))
    names = {n.id: n.name for n in session.scalars(select(NetworkRow).where(
        NetworkRow.id.in_({r.network_id for r in rows})))}
    held = ipam.allocations_of(session, [r.id for r in rows])
    floating: dict[tuple[str, str], list[str]] = {}
    for fip in session.scalars(select(FloatingIpRow).where(FloatingIpRow.port_id.in_([r.id for r in rows]))):
        floating.setdefault((fip.port_id or "", fip.fixed_ip_address or ""), []).append(fip.floating_ip_address)
    for row in rows:
        entries = found[row.device_id].setdefault(names.get(row.network_id, row.network_id), [])
        for allocation in held[row.id]:
            version = ipaddress.ip_address(allocation.ip_address).version
            entries.append({"addr": allocation.ip_address, "version": version, "OS-EXT-IPS:type": "fixed",
                            "OS-EXT-IPS-MAC:mac_addr": row.mac_address})
            for address in floating.get((row.id, allocation.ip_address), []):
                entries.append({"addr": address, "version": 4, "OS-EXT-IPS:type": "floating",
                                "OS-EXT-IPS-MAC:mac_addr": row.mac_address})
    return found


def plugs_for(session: Session, instance_id: str) -> list[PortPlug]:
    rows = [p for p in ports.ports_of_device(session, instance_id) if p.device_owner == COMPUTE_OWNER]
    ids = [r.id for r in rows]
    held = ipam.allocations_of(session, ids)
    groups = security_groups.groups_of_ports(session, ids)
    rules = security_groups.rules_of(session, sorted({g for gs in groups.values() for g in gs}))
    segment_map = segments.segments_of(session, [r.network_id for r in rows])
    mtus = {n.id: n.mtu for n in session.scalars(select(NetworkRow).where(
        NetworkRow.id.in_([r.network_id for r in rows])))}
    floating: dict[str, list[str]] = {}
    for fip in session.scalars(select(FloatingIpRow).where(FloatingIpRow.port_id.in_(ids))):
        floating.setdefault(fip.port_id or "", []).append(fip.floating_ip_address)
    plugs = []
    for row in rows:
        segment = segment_map.get(row.network_id)
        port_rules = [SecurityRule(r.direction, r.ethertype, r.protocol, r.port_range_min, r.port_range_max,
                                   r.remote_ip_prefix, r.remote_group_id)
                      for g in groups[row.id] for r in rules[g]] if row.port_security_enabled else []
        plugs.append(PortPlug(
            port_id=row.id, mac_address=row.mac_address, network_id=row.network_id,
            network_type=segment.network_type if segment else "local",
            physical_network=(segment.physical_network or None) if segment else None,
            segmentation_id=segment.segmentation_id if segment and segment.network_type != "flat" else None,
            mtu=mtus.get(row.network_id, 1500), fixed_ips=[a.ip_address for a in held[row.id]],
            port_security_enabled=row.port_security_enabled, allowed_address_pairs=row.allowed_address_pairs,
            security_group_rules=port_rules, floating_ips=sorted(floating.get(row.id, []))))
    return plugs


def add_security_group(session: Session, creds: Credentials, instance_id: str, group: str) -> None:
    """Nova's addSecurityGroup: the group joins every port of the server (409 if a port has security off)."""
    [group_id] = _groups_by_name(session, creds, [group])
    server_ports = [p for p in ports.ports_of_device(session, instance_id) if p.device_owner == COMPUTE_OWNER]
    if not server_ports:
        raise BadRequest(f"Server {instance_id} has no port to add security group {group} to.")
    for port in server_ports:
        if not port.port_security_enabled:
            raise Conflict(f"Port {port.id} has port security disabled: it cannot take security group {group}.")
        if session.get(PortSecurityGroupRow, (port.id, group_id)) is None:
            session.add(PortSecurityGroupRow(port_id=port.id, security_group_id=group_id))
    session.flush()


def remove_security_group(session: Session, creds: Credentials, instance_id: str, group: str) -> None:
    [group_id] = _groups_by_name(session, creds, [group])
    server_ports = [p.id for p in ports.ports_of_device(session, instance_id) if p.device_owner == COMPUTE_OWNER]
    bound = [r for r in session.scalars(select(PortSecurityGroupRow).where(
        PortSecurityGroupRow.port_id.in_(server_ports), PortSecurityGroupRow.security_group_id == group_id))]
    if not bound:
        name = session.get(SecurityGroupRow, group_id)
        raise BadRequest(f"Security group {name.name if name else group} not associated with the instance "
                         f"{instance_id}")
    for row in bound:
        session.delete(row)
    session.flush()
