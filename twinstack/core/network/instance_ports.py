"""The seam between compute and networking: a server's ports, from its request to its host's plug.

Compute calls these (in this order, each in its own transaction) and keeps the answer of the first:

1. :func:`allocate_for_instance` when a server is created: one port per requested network (or the
   requested port, bound to the server), as Nova's ``allocate_for_instance`` does; ``"auto"`` finds
   or makes the project's network (get-me-a-network); ``"none"`` gives none. It answers which
   ports were *created* for the server: those are deleted with it, the others only unbound.
2. :func:`bind_to_host` once the scheduler chose a host: ``binding:host_id`` is set, ports go ACTIVE. A live
   migration readies an inactive binding on its destination, then moves the ports there
   (:mod:`twinstack.core.network.port_bindings`, Neutron's binding-extended).
3. :func:`plugs_for` to build what the host's agent needs to plug each port (the network segment,
   the addresses, the security group rules, the floating IPs): each a
   :class:`twinstack.rpc.network.PortSpec`, carried by the conductor's PlugPorts to the agent.
   :func:`bound_plugs` rebuilds them for re-plugs (a rule, a floating IP or a remote group's members changed).
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
from twinstack.core.network import (
    auto_allocation,
    dhcp_ports,
    ipam,
    networks,
    port_bindings,
    ports,
    router_legs,
    routers,
    security_groups,
    segments,
)
from twinstack.core.network.errors import AutoAllocationFailure, NetworkNotFound, PortInUse
from twinstack.core.policy import Credentials
from twinstack.db.models.network import (
    FloatingIpRow,
    IpAllocationRow,
    NetworkRow,
    PortRow,
    PortSecurityGroupRow,
    RouterRow,
    SecurityGroupRuleRow,
    SegmentRow,
    SubnetRow,
)
from twinstack.db.session import SessionFactory, transaction
from twinstack.rpc.network import (
    ExternalGatewaySpec,
    FixedIpSpec,
    FloatingIpSpec,
    NeighbourSpec,
    PortSpec,
    RouterSpec,
    RuleSpec,
)

COMPUTE_OWNER = "compute:nova"


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
    joined_groups: list[str] = field(default_factory=list)
    """The groups the ports made for the server joined: their membership changed (see :func:`ports_referring_to`)."""


def _usable_networks(session: Session, creds: Credentials) -> list[NetworkRow]:
    """Networks a server may attach to without naming one: own and shared, never external (Nova's rule)."""
    return [n for n in networks.list_networks(session, creds)
            if not n.external and (n.shared or n.project_id == creds.project_id)]


def _auto_topology(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials) -> NetworkRow:
    """The project's auto-allocated network (Neutron's get-me-a-network, see :mod:`auto_allocation`); Nova's
    400 when the deployment cannot give one (no default external network or no default subnet pool)."""
    project_id = creds.project_id or ""
    try:
        network_id = auto_allocation.get_or_build(session, clock, settings, creds, project_id)
    except AutoAllocationFailure:
        raise BadRequest(f"Unable to automatically allocate a network for project {project_id}") from None
    return networks.get_network(session, creds, network_id)


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
    joined = security_groups.groups_of_ports(session, created)
    return Allocation(port_ids, created, sorted({g for groups in joined.values() for g in groups}))


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


def release_for_instance(session: Session, instance_id: str) -> list[str]:
    """Delete the ports made for the server, unbind the user's own (they stay, with their addresses). Answers
    the groups the deleted ports left (their membership changed: see :func:`ports_referring_to`)."""
    left: set[str] = set()
    for port in ports.ports_of_device(session, instance_id):
        if port.device_owner == COMPUTE_OWNER:
            left.update(release_port(session, port))
    session.flush()
    return sorted(left)


def release_port(session: Session, port: PortRow) -> list[str]:
    """One port of a server that is gone: deleted if it was made for the server (its floating IPs disassociated),
    else unbound (device, owner and host cleared, DOWN). Answers the groups a deleted port left."""
    if port.delete_with_device:
        left = security_groups.groups_of_ports(session, [port.id])[port.id]
        session.execute(update(FloatingIpRow).where(FloatingIpRow.port_id == port.id)
                        .values(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN"))
        session.delete(port)
        return list(left)
    port.device_id = port.device_owner = port.binding_host_id = ""
    port.status = "DOWN"
    port_bindings.abandon(session, [port.id])
    return []


def addresses_of(session: Session, instance_ids: Sequence[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Nova's ``addresses``: per network name, each fixed IP then the floating IPs translated to it."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {i: {} for i in instance_ids}
    if not instance_ids:
        return found
    rows = list(session.scalars(select(PortRow).where(PortRow.device_id.in_(instance_ids),
                                                      PortRow.device_owner == COMPUTE_OWNER)
                                .order_by(PortRow.created_at, PortRow.id)))
    if not rows:
        return found  # servers without ports (a page of them, often): nothing more to look up
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


def _has_compute_ports(session: Session, instance_id: str) -> bool:
    return session.scalar(select(PortRow.id).where(PortRow.device_id == instance_id,
                                                   PortRow.device_owner == COMPUTE_OWNER).limit(1)) is not None


def _compute_ports(session: Session, instance_id: str) -> list[PortRow]:
    return [p for p in ports.ports_of_device(session, instance_id) if p.device_owner == COMPUTE_OWNER]


def plugs_for(session: Session, instance_id: str) -> list[PortSpec]:
    """What the instance's host agent needs to plug each of its ports (compute's PlugPorts carries them)."""
    return _specs(session, _compute_ports(session, instance_id))


def bound_plugs(session: Session, port_ids: Sequence[str],
                member_changes: Sequence[str] = ()) -> dict[tuple[str, str], list[PortSpec]]:
    """The ports among ``port_ids`` bound to a host for a server, as (host, instance) -> their plugs: what to
    re-plug after a change to what they carry. ``member_changes`` are groups whose membership changed: the
    bound ports whose rules name one as remote group are re-plugged too (see :func:`ports_referring_to`).
    Unbound ports (no host yet) are left out."""
    wanted = set(port_ids) | set(ports_referring_to(session, member_changes))
    rows = list(session.scalars(select(PortRow).where(
        PortRow.id.in_(sorted(wanted)), PortRow.device_owner == COMPUTE_OWNER, PortRow.binding_host_id != "")
        .order_by(PortRow.created_at, PortRow.id)))
    readied = port_bindings.hosts_readied(session, [row.id for row in rows])
    found: dict[tuple[str, str], list[PortSpec]] = {}
    for spec, row in zip(_specs(session, rows), rows, strict=True):
        for host in [row.binding_host_id, *readied[row.id]]:  # a live migration's destination hears it too
            found.setdefault((host, row.device_id), []).append(spec)
    return found


def ports_by_host(session: Session, network_ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """network id -> host -> the servers' ports bound there (or readied there: a live migration's destination
    already carries their traffic once the guest runs): which hosts a VXLAN network spans."""
    rows = list(session.execute(select(PortRow.id, PortRow.network_id, PortRow.binding_host_id).where(
        PortRow.network_id.in_(list(network_ids)), PortRow.device_owner == COMPUTE_OWNER,
        PortRow.binding_host_id != "").order_by(PortRow.created_at, PortRow.id)))
    readied = port_bindings.hosts_readied(session, [row.id for row in rows])
    found: dict[str, dict[str, list[str]]] = {}
    for port_id, network_id, host in rows:
        for where in (host, *readied[port_id]):
            found.setdefault(network_id, {}).setdefault(where, []).append(port_id)
    return found


def tunnelled_hosts_of_device(session: Session, instance_id: str) -> dict[str, list[str]]:
    """VXLAN network id -> the hosts the server's ports on it are bound (or readied) on: the networks whose hosts'
    tunnel peers change when these ports go (read before a release: after it, they are no longer known)."""
    rows = list(session.execute(select(PortRow.id, PortRow.network_id, PortRow.binding_host_id)
                                .join(SegmentRow, SegmentRow.network_id == PortRow.network_id).where(
        PortRow.device_id == instance_id, PortRow.device_owner == COMPUTE_OWNER, SegmentRow.network_type == "vxlan")))
    readied = port_bindings.hosts_readied(session, [row.id for row in rows])
    found: dict[str, set[str]] = {}
    for port_id, network_id, host in rows:
        found.setdefault(network_id, set()).update(h for h in (host, *readied[port_id]) if h)
    return {network: sorted(hosts) for network, hosts in found.items()}


def tunnelled_hosts(session: Session) -> dict[str, list[str]]:
    """Every VXLAN network with a server's port bound -> the hosts they are bound on."""
    found: dict[str, set[str]] = {}
    for network_id, host in session.execute(
            select(PortRow.network_id, PortRow.binding_host_id).distinct()
            .join(SegmentRow, SegmentRow.network_id == PortRow.network_id)
            .where(PortRow.device_owner == COMPUTE_OWNER, PortRow.binding_host_id != "",
                   SegmentRow.network_type == "vxlan")):
        found.setdefault(network_id, set()).add(host)
    return {network: sorted(hosts) for network, hosts in found.items()}


def peer_generations(session: Session, network_ids: Sequence[str], raise_them: bool) -> dict[str, int]:
    """Each network's tunnel peers generation, raised first by one if ``raise_them`` (the row is locked until the
    caller commits, so two conductors raising one network get two numbers)."""
    ids = sorted(set(network_ids))
    if not ids:
        return {}
    if raise_them:
        session.execute(update(NetworkRow).where(NetworkRow.id.in_(ids))
                        .values(peers_generation=NetworkRow.peers_generation + 1))
    rows = session.execute(select(NetworkRow.id, NetworkRow.peers_generation).where(NetworkRow.id.in_(ids)))
    return {network_id: generation for network_id, generation in rows}


def members_of_groups(session: Session, group_ids: Sequence[str]) -> list[str]:
    """The ports in these groups: what a change to the groups' rules reaches."""
    if not group_ids:
        return []
    return sorted(set(session.scalars(select(PortSecurityGroupRow.port_id).where(
        PortSecurityGroupRow.security_group_id.in_(list(group_ids))))))


def ports_referring_to(session: Session, group_ids: Sequence[str]) -> list[str]:
    """The ports a change to these groups' *membership* reaches (a port joining or leaving one, or a member's
    addresses changing): the members of every group with a rule naming one of them as remote group, whose
    rules admit the members' addresses (``remote_addresses`` in their plugs)."""
    if not group_ids:
        return []
    referring = set(session.scalars(select(SecurityGroupRuleRow.security_group_id).where(
        SecurityGroupRuleRow.remote_group_id.in_(list(group_ids)))))
    return members_of_groups(session, sorted(referring))


def _specs(session: Session, rows: Sequence[PortRow]) -> list[PortSpec]:
    if not rows:
        return []  # a server without ports (``networks: none``): nothing to look up
    ids = [r.id for r in rows]
    held = ipam.allocations_of(session, ids)
    groups = security_groups.groups_of_ports(session, ids)
    group_ids = sorted({g for gs in groups.values() for g in gs})
    rules = security_groups.rules_of(session, group_ids)
    stateful = security_groups.statefulness(session, group_ids)
    remote_ids = sorted({r.remote_group_id for rs in rules.values() for r in rs if r.remote_group_id})
    members = _addresses_of_groups(session, remote_ids)
    segment_map = segments.segments_of(session, [r.network_id for r in rows])
    mtus = {n.id: n.mtu for n in session.scalars(select(NetworkRow).where(
        NetworkRow.id.in_([r.network_id for r in rows])))}
    subnet_ids = {a.subnet_id for allocations in held.values() for a in allocations}
    subnet_rows = {s.id: s for s in session.scalars(select(SubnetRow).where(SubnetRow.id.in_(subnet_ids)))}
    floating: dict[str, list[FloatingIpSpec]] = {}
    for fip in session.scalars(select(FloatingIpRow).where(FloatingIpRow.port_id.in_(ids))
                               .order_by(FloatingIpRow.floating_ip_address)):
        floating.setdefault(fip.port_id or "", []).append(
            FloatingIpSpec(floating_ip_address=fip.floating_ip_address, fixed_ip_address=fip.fixed_ip_address))
    routed = _routers_on(session, sorted(subnet_ids))
    plugs = []
    for row in rows:
        segment = segment_map.get(row.network_id)
        port_rules = [RuleSpec(id=r.id, direction=r.direction, ethertype=r.ethertype, protocol=r.protocol,
                               port_range_min=r.port_range_min, port_range_max=r.port_range_max,
                               remote_ip_prefix=r.remote_ip_prefix, remote_group_id=r.remote_group_id,
                               remote_addresses=_same_family(members.get(r.remote_group_id or "", []), r.ethertype),
                               stateful=stateful.get(g, True))
                      for g in groups[row.id] for r in rules[g]] if row.port_security_enabled else []
        fixed = []
        for allocation in held[row.id]:
            subnet = subnet_rows.get(allocation.subnet_id)
            fixed.append(FixedIpSpec(subnet_id=allocation.subnet_id, ip_address=allocation.ip_address,
                                     cidr=subnet.cidr if subnet else "",
                                     gateway_ip=subnet.gateway_ip if subnet else None,
                                     enable_dhcp=subnet.enable_dhcp if subnet else True))
        plugs.append(PortSpec(
            port_id=row.id, mac_address=row.mac_address, network_id=row.network_id,
            segment=router_legs.segment_spec(segment, mtus.get(row.network_id, 1500)),
            fixed_ips=fixed, port_security_enabled=row.port_security_enabled,
            security_group_ids=groups[row.id] if row.port_security_enabled else [],
            security_group_rules=port_rules,
            allowed_address_pairs=[{k: str(v) for k, v in pair.items() if v is not None}
                                   for pair in row.allowed_address_pairs],
            floating_ips=floating.get(row.id, []),
            routers=[r for a in held[row.id] for r in routed.get(a.subnet_id, [])]))
    return plugs


def _routers_on(session: Session, subnet_ids: Sequence[str]) -> dict[str, list[RouterSpec]]:
    """The routers with an interface on each of these subnets, with their external gateways: what a host
    builds so the port's subnet reaches the outside and its floating IPs reach it."""
    found: dict[str, list[RouterSpec]] = {}
    if not subnet_ids:
        return found
    interfaces = list(session.execute(
        select(PortRow, IpAllocationRow).join(IpAllocationRow, IpAllocationRow.port_id == PortRow.id)
        .where(PortRow.device_owner == routers.INTERFACE, IpAllocationRow.subnet_id.in_(list(subnet_ids)))
        .order_by(PortRow.created_at, PortRow.id)))
    router_rows = {r.id: r for r in session.scalars(select(RouterRow).where(
        RouterRow.id.in_({port.device_id for port, _a in interfaces})))}
    gateways = {r.id: _external_gateway(session, r) for r in router_rows.values()}
    legs = router_legs.legs_of(session, sorted(router_rows))
    cidrs = {s.id: s.cidr for s in session.scalars(select(SubnetRow).where(SubnetRow.id.in_(list(subnet_ids))))}
    for port, allocation in interfaces:
        router = router_rows.get(port.device_id)
        if router is None:
            continue
        found.setdefault(allocation.subnet_id, []).append(RouterSpec(
            router_id=router.id, subnet_id=allocation.subnet_id, interface_port_id=port.id,
            interface_ip=allocation.ip_address, cidr=cidrs.get(allocation.subnet_id, ""),
            enable_snat=router.enable_snat, external_gateway=gateways[router.id], interfaces=legs[router.id]))
    return found


def _external_gateway(session: Session, router: RouterRow) -> ExternalGatewaySpec | None:
    port = routers.gateway_port(session, router)
    if port is None:
        return None
    allocations = [a for a in ipam.allocations_of(session, [port.id])[port.id]
                   if ipaddress.ip_address(a.ip_address).version == 4]
    if not allocations:
        return None
    subnet = session.get(SubnetRow, allocations[0].subnet_id)
    network = session.get(NetworkRow, port.network_id)
    return ExternalGatewaySpec(port_id=port.id, network_id=port.network_id, ip_address=allocations[0].ip_address,
                               cidr=subnet.cidr if subnet else "", gateway_ip=subnet.gateway_ip if subnet else None,
                               mtu=network.mtu if network else 1500)


def ports_behind_router(session: Session, router_id: str) -> list[str]:
    """The servers' ports on the subnets this router has interfaces on (what a change to the router reaches)."""
    subnet_ids = select(IpAllocationRow.subnet_id).join(PortRow, PortRow.id == IpAllocationRow.port_id).where(
        PortRow.device_id == router_id, PortRow.device_owner == routers.INTERFACE)
    return sorted(set(session.scalars(select(IpAllocationRow.port_id).join(
        PortRow, PortRow.id == IpAllocationRow.port_id).where(
        IpAllocationRow.subnet_id.in_(subnet_ids), PortRow.device_owner == COMPUTE_OWNER))))


def ports_on_subnet(session: Session, subnet_id: str) -> list[str]:
    """The servers' ports with an address on the subnet (what a change to the subnet's DHCP reaches)."""
    return sorted(set(session.scalars(select(IpAllocationRow.port_id).join(
        PortRow, PortRow.id == IpAllocationRow.port_id).where(
        IpAllocationRow.subnet_id == subnet_id, PortRow.device_owner == COMPUTE_OWNER))))


def _addresses_of_groups(session: Session, group_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each group's members' fixed IPs (what a rule naming it as remote group admits)."""
    found: dict[str, list[str]] = {g: [] for g in group_ids}
    if not group_ids:
        return found
    membership = list(session.execute(select(PortSecurityGroupRow.security_group_id, PortSecurityGroupRow.port_id)
                                      .where(PortSecurityGroupRow.security_group_id.in_(list(group_ids)))))
    held = ipam.allocations_of(session, sorted({port for _group, port in membership}))
    for group, port in membership:
        found[group].extend(a.ip_address for a in held[port])
    for addresses in found.values():
        addresses.sort(key=lambda a: (ipaddress.ip_address(a).version, int(ipaddress.ip_address(a))))
    return found


def _same_family(addresses: list[str], ethertype: str) -> list[str]:
    version = 6 if ethertype == "IPv6" else 4
    return [a for a in addresses if ipaddress.ip_address(a).version == version]


class SqlNetworking:
    """The conductor's view of networking (:class:`twinstack.core.compute.conductor.Networking`) over the database."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def bind(self, instance_uuid: str, host: str) -> list[PortSpec]:
        with transaction(self.sessions) as session:
            if not _has_compute_ports(session, instance_uuid):
                return []  # a server without ports (``networks: none``): nothing to bind or plug
            bind_to_host(session, instance_uuid, host)
            return plugs_for(session, instance_uuid)

    def ready(self, instance_uuid: str, host: str) -> list[PortSpec]:
        with transaction(self.sessions) as session:
            port_bindings.ready_on(session, _compute_ports(session, instance_uuid), host)
            return plugs_for(session, instance_uuid)

    def move(self, instance_uuid: str, host: str) -> list[PortSpec]:
        with transaction(self.sessions) as session:
            port_bindings.move_to(session, _compute_ports(session, instance_uuid), host)
            return plugs_for(session, instance_uuid)

    def abandon(self, instance_uuid: str, host: str) -> None:
        with transaction(self.sessions) as session:
            port_bindings.abandon(session, [p.id for p in _compute_ports(session, instance_uuid)], host)

    def release(self, instance_uuid: str) -> list[str]:
        with transaction(self.sessions) as session:
            return release_for_instance(session, instance_uuid)

    def bound(self, port_ids: Sequence[str],
              member_changes: Sequence[str] = ()) -> dict[tuple[str, str], list[PortSpec]]:
        with self.sessions() as session:
            return bound_plugs(session, port_ids, member_changes)

    def ports_by_host(self, network_ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        with self.sessions() as session:
            return ports_by_host(session, network_ids)

    def peer_generations(self, network_ids: Sequence[str], raise_them: bool = False) -> dict[str, int]:
        with transaction(self.sessions) as session:
            return peer_generations(session, network_ids, raise_them)

    def dhcp_servers(self, host: str, network_ids: Sequence[str]) -> dict[str, str]:
        with transaction(self.sessions) as session:
            return dhcp_ports.ensure(session, host, network_ids)

    def release_dhcp(self, network_ids: Sequence[str]) -> None:
        with transaction(self.sessions) as session:
            dhcp_ports.release_unused(session, network_ids, ports_by_host(session, network_ids))

    def routed_networks(self, network_ids: Sequence[str]) -> dict[str, list[str]]:
        with self.sessions() as session:
            return router_legs.routed_networks(session, network_ids)

    def neighbours(self, network_ids: Sequence[str]) -> dict[str, list[NeighbourSpec]]:
        with self.sessions() as session:
            return router_legs.neighbours(session, network_ids)

    def tunnelled_hosts(self, instance_uuid: str | None = None) -> dict[str, list[str]]:
        with self.sessions() as session:
            if instance_uuid is None:
                return tunnelled_hosts(session)
            return tunnelled_hosts_of_device(session, instance_uuid)
