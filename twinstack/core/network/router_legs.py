"""Distributed routers: what every host holding a copy of a router must know of the router's other subnets.

A host builds a copy of each router behind its servers' ports (one gateway address and MAC on every host, its
guests reaching their own host's copy). For traffic between two of the router's subnets to be routed where it
starts, as Neutron's DVR routes east-west traffic, each copy has a leg on *every* tenant subnet of the router, not
only on those of the host's ports (:func:`legs_of`). So a host holding a copy is a member of each of the router's
networks: its bridges there must flood to the other hosts on them, and theirs to it (:func:`routed_networks`, which
the conductor's tunnel peers join in). And a copy never asks over a tunnel who holds an address (another host's
copy of the same leg would take the answer): it holds a permanent neighbour entry for each server's port on the
routed networks (:func:`neighbours`), as the DVR L3 agent fills its routers' ARP tables.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.network import routers, segments
from twinstack.db.models.network import IpAllocationRow, NetworkRow, PortRow, SegmentRow, SubnetRow
from twinstack.rpc.network import NeighbourSpec, RouterLegSpec, SegmentSpec

COMPUTE_OWNER = "compute:nova"


def segment_spec(segment: SegmentRow | None, mtu: int) -> SegmentSpec:
    """The segment as a plug carries it (a flat network has no segmentation id)."""
    return SegmentSpec(network_type=segment.network_type if segment else "local",
                       physical_network=(segment.physical_network or None) if segment else None,
                       segmentation_id=segment.segmentation_id if segment and segment.network_type != "flat" else None,
                       mtu=mtu)


def legs_of(session: Session, router_ids: Sequence[str]) -> dict[str, list[RouterLegSpec]]:
    """Each router's interfaces on tenant subnets (its gateway port is not one), oldest first."""
    found: dict[str, list[RouterLegSpec]] = {r: [] for r in router_ids}
    if not router_ids:
        return found
    rows = list(session.execute(
        select(PortRow.id, PortRow.device_id, PortRow.network_id, IpAllocationRow.subnet_id,
               IpAllocationRow.ip_address)
        .join(IpAllocationRow, IpAllocationRow.port_id == PortRow.id)
        .where(PortRow.device_owner == routers.INTERFACE, PortRow.device_id.in_(list(router_ids)))
        .order_by(PortRow.created_at, PortRow.id, IpAllocationRow.ip_address)))
    network_ids = sorted({row.network_id for row in rows})
    cidrs = {subnet_id: cidr for subnet_id, cidr in session.execute(select(SubnetRow.id, SubnetRow.cidr).where(
        SubnetRow.id.in_(sorted({row.subnet_id for row in rows}))))}
    mtus = {network_id: mtu for network_id, mtu in session.execute(
        select(NetworkRow.id, NetworkRow.mtu).where(NetworkRow.id.in_(network_ids)))}
    segment_rows = segments.segments_of(session, network_ids)
    for port_id, router_id, network_id, subnet_id, ip in rows:
        segment = segment_spec(segment_rows.get(network_id), mtus.get(network_id, 1500))
        found[router_id].append(RouterLegSpec(port_id=port_id, network_id=network_id, subnet_id=subnet_id,
                                              ip_address=ip, cidr=cidrs.get(subnet_id, ""), segment=segment))
    return found


def routed_networks(session: Session, network_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each of these networks -> the *other* networks of the routers with an interface on it: the hosts of the
    servers' ports there hold a copy of such a router, so they are members of this network too (and the
    reverse). Networks no router joins to another are left out."""
    wanted = sorted(set(network_ids))
    if not wanted:
        return {}
    legs = list(session.execute(select(PortRow.device_id, PortRow.network_id).distinct().where(
        PortRow.device_owner == routers.INTERFACE,
        PortRow.device_id.in_(select(PortRow.device_id).where(PortRow.device_owner == routers.INTERFACE,
                                                              PortRow.network_id.in_(wanted))))))
    by_router: dict[str, set[str]] = {}
    for router_id, network_id in legs:
        by_router.setdefault(router_id, set()).add(network_id)
    found: dict[str, set[str]] = {}
    for joined in by_router.values():
        for network in joined & set(wanted):
            if others := joined - {network}:
                found.setdefault(network, set()).update(others)
    return {network: sorted(others) for network, others in sorted(found.items())}


def neighbours(session: Session, network_ids: Sequence[str]) -> dict[str, list[NeighbourSpec]]:
    """Each network -> the IPv4 addresses and MACs of the servers' ports bound on it: the permanent neighbour
    entries of the router copies with a leg there."""
    found: dict[str, list[NeighbourSpec]] = {n: [] for n in sorted(set(network_ids))}
    if not found:
        return found
    rows = session.execute(
        select(PortRow.network_id, IpAllocationRow.ip_address, PortRow.mac_address)
        .join(IpAllocationRow, IpAllocationRow.port_id == PortRow.id)
        .where(PortRow.network_id.in_(list(found)), PortRow.device_owner == COMPUTE_OWNER,
               PortRow.binding_host_id != ""))
    for network_id, ip, mac in rows:
        if ipaddress.ip_address(ip).version == 4:
            found[network_id].append(NeighbourSpec(ip_address=ip, mac_address=mac.lower()))
    for listed in found.values():
        listed.sort(key=lambda n: int(ipaddress.ip_address(n.ip_address)))
    return found


def tunnelled_behind_router(session: Session, router_id: str) -> dict[str, list[str]]:
    """Each network the router has an interface on -> the hosts of the servers' ports behind it (on any of its
    subnets): what an interface added or removed changes the members of. Empty when no server is behind it."""
    subnet_ids = select(IpAllocationRow.subnet_id).join(PortRow, PortRow.id == IpAllocationRow.port_id).where(
        PortRow.device_id == router_id, PortRow.device_owner == routers.INTERFACE)
    hosts = sorted(set(session.scalars(select(PortRow.binding_host_id).join(
        IpAllocationRow, IpAllocationRow.port_id == PortRow.id).where(
        IpAllocationRow.subnet_id.in_(subnet_ids), PortRow.device_owner == COMPUTE_OWNER,
        PortRow.binding_host_id != ""))))
    if not hosts:
        return {}
    networks = sorted(set(session.scalars(select(PortRow.network_id).where(
        PortRow.device_id == router_id, PortRow.device_owner == routers.INTERFACE))))
    return {network: hosts for network in networks}
