"""IPAM: which addresses a port holds, chosen or allocated, never one address for two ports.

Callers hold the network's lock key (``network:<id>``) for the whole transaction, so reading the
addresses in use and inserting the new ones is one step; the primary key (network, address) of
``net_ip_allocations`` is the backstop. Requests follow Neutron:

* nothing asked: one address from the first IPv4 subnet with room, and one from each IPv6 subnet
  (an EUI-64 address from the MAC on SLAAC and DHCPv6-stateless subnets);
* ``[{"subnet_id"}]``: the next free address of that subnet's pools;
* ``[{"ip_address"}]`` or both: that address, which must be inside the subnet's CIDR (pools only
  limit automatic allocation), not its network or broadcast address, not its gateway unless the
  port is a router's, and not held already (IpAddressAlreadyAllocated).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest
from twinstack.core.network import addresses
from twinstack.core.network.errors import (
    InvalidInput,
    InvalidIpForNetwork,
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
)
from twinstack.db.models.network import IpAllocationRow, SubnetRow

ROUTER_OWNERS = ("network:router_interface", "network:router_gateway", "network:router_interface_distributed",
                 "network:ha_router_replicated_interface")
AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")


@dataclass(frozen=True)
class FixedIp:
    """One entry of a port's ``fixed_ips`` as asked: a subnet, an address, or both."""

    subnet_id: str | None = None
    ip_address: str | None = None


def network_lock(network_id: str) -> str:
    return f"network:{network_id}"


def allocations_of(session: Session, port_ids: Sequence[str]) -> dict[str, list[IpAllocationRow]]:
    found: dict[str, list[IpAllocationRow]] = {p: [] for p in port_ids}
    if port_ids:
        rows = session.scalars(select(IpAllocationRow).where(IpAllocationRow.port_id.in_(port_ids)))
        for row in sorted(rows, key=lambda r: (r.subnet_id, int(ipaddress.ip_address(r.ip_address)))):
            found[row.port_id].append(row)
    return found


def _taken(session: Session, network_id: str) -> set[str]:
    return set(session.scalars(select(IpAllocationRow.ip_address).where(IpAllocationRow.network_id == network_id)))


def auto_address_modes(ra_mode: str | None, address_mode: str | None) -> bool:
    """Whether hosts form their own (EUI-64) addresses on an IPv6 subnet of these modes: either mode SLAAC or
    DHCPv6-stateless, as Neutron's is_auto_address_subnet says."""
    return ra_mode in AUTO_ADDRESS_MODES or address_mode in AUTO_ADDRESS_MODES


def _auto_address(subnet: SubnetRow) -> bool:
    return subnet.ip_version == 6 and auto_address_modes(subnet.ipv6_ra_mode, subnet.ipv6_address_mode)


def _next_free(subnet: SubnetRow, taken: set[str]) -> str | None:
    version = subnet.ip_version
    used = {int(ipaddress.ip_address(a)) for a in taken if ipaddress.ip_address(a).version == version}
    if subnet.gateway_ip:
        used.add(int(ipaddress.ip_address(subnet.gateway_ip)))
    found = next(addresses.free_addresses(addresses.pool_ranges(subnet.allocation_pools), used, version), None)
    return str(found) if found is not None else None


def _check_chosen(subnet: SubnetRow, address: str, device_owner: str, taken: set[str]) -> str:
    chosen = addresses.parse_address(address)
    network = ipaddress.ip_network(subnet.cidr)
    low, high = addresses.usable_range(network)
    if chosen.version != network.version or not low <= int(chosen) <= high:
        raise InvalidIpForSubnet(address)
    text = str(chosen)
    if text == subnet.gateway_ip and device_owner not in ROUTER_OWNERS:
        raise IpAddressAlreadyAllocated(text, subnet.id)
    if text in taken:
        raise IpAddressAlreadyAllocated(text, subnet.id)
    return text


def _subnet_for(subnets: Sequence[SubnetRow], network_id: str, address: str) -> SubnetRow:
    chosen = addresses.parse_address(address)
    for subnet in subnets:
        if chosen in ipaddress.ip_network(subnet.cidr):
            return subnet
    raise InvalidIpForNetwork(address)


def plan(subnets: Sequence[SubnetRow], network_id: str, requests: Sequence[FixedIp] | None, mac: str,
         device_owner: str, taken: set[str]) -> list[tuple[SubnetRow, str]]:
    """The (subnet, address) pairs a port gets: a pure decision over the network's subnets and used addresses."""
    by_id = {s.id: s for s in subnets}
    taken = set(taken)
    chosen: list[tuple[SubnetRow, str]] = []

    def take(subnet: SubnetRow, address: str) -> None:
        taken.add(address)
        chosen.append((subnet, address))

    if requests is None:
        v4 = [s for s in subnets if s.ip_version == 4]
        for subnet in v4:
            free = _next_free(subnet, taken)
            if free is not None:
                take(subnet, free)
                break
        else:
            if v4:
                raise IpAddressGenerationFailure(network_id)
        stateful_done = False
        for subnet in (s for s in subnets if s.ip_version == 6):
            if _auto_address(subnet):
                take(subnet, str(addresses.eui64(ipaddress.ip_network(subnet.cidr), mac)))
            elif not stateful_done:
                free = _next_free(subnet, taken)
                if free is None:
                    raise IpAddressGenerationFailure(network_id)
                take(subnet, free)
                stateful_done = True
        return chosen
    for request in requests:
        if request.subnet_id is not None:
            found = by_id.get(request.subnet_id)
            if found is None:
                raise InvalidInput(f"Failed to create port on network {network_id}, because fixed_ips included "
                                   f"invalid subnet {request.subnet_id}")
            subnet = found
        elif request.ip_address is not None:
            subnet = _subnet_for(subnets, network_id, request.ip_address)
        else:
            raise BadRequest("Invalid input for fixed_ips. Reason: an entry needs a subnet_id or an ip_address.")
        if request.ip_address is not None:
            take(subnet, _check_chosen(subnet, request.ip_address, device_owner, taken))
        elif _auto_address(subnet):
            take(subnet, str(addresses.eui64(ipaddress.ip_network(subnet.cidr), mac)))
        else:
            free = _next_free(subnet, taken)
            if free is None:
                raise IpAddressGenerationFailure(network_id)
            take(subnet, free)
    return chosen


def allocate(session: Session, network_id: str, port_id: str, requests: Sequence[FixedIp] | None, mac: str,
             device_owner: str) -> list[IpAllocationRow]:
    """Give the port its addresses (the caller holds the network's lock key). Nothing is written on failure."""
    subnets = list(session.scalars(select(SubnetRow).where(SubnetRow.network_id == network_id)
                                   .order_by(SubnetRow.created_at, SubnetRow.id)))
    pairs = plan(subnets, network_id, requests, mac, device_owner, _taken(session, network_id))
    rows = [IpAllocationRow(network_id=network_id, ip_address=address, subnet_id=subnet.id, port_id=port_id)
            for subnet, address in pairs]
    session.add_all(rows)
    session.flush()
    return rows


def reallocate(session: Session, network_id: str, port_id: str, requests: Sequence[FixedIp], mac: str,
               device_owner: str) -> list[IpAllocationRow]:
    """Replace the port's addresses with those asked (an address it keeps is not counted as taken)."""
    current = {row.ip_address: row for row in session.scalars(
        select(IpAllocationRow).where(IpAllocationRow.port_id == port_id))}
    kept: list[IpAllocationRow] = []
    fresh: list[FixedIp] = []
    for request in requests:
        if request.ip_address is not None:
            text = addresses.canonical(request.ip_address) if _valid(request.ip_address) else request.ip_address
            row = current.get(text)
            if row is not None and request.subnet_id in (None, row.subnet_id):
                kept.append(row)
                continue
        fresh.append(request)
    session.execute(delete(IpAllocationRow).where(
        IpAllocationRow.port_id == port_id, IpAllocationRow.ip_address.not_in([r.ip_address for r in kept])))
    session.flush()
    return kept + allocate(session, network_id, port_id, fresh, mac, device_owner)


def _valid(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
