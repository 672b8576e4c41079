"""Subnets: an address range on a network, with its gateway, allocation pools, DNS servers and routes.

Every rule Neutron checks on create and update is checked here before anything is written, so a
refused request changes nothing: the CIDR is a network address of the stated IP version and does
not overlap another subnet of the network; the gateway lies inside the CIDR, is not its network or
broadcast address and not inside a pool; pools lie inside the CIDR and do not overlap; DNS servers
and host routes are well formed. A subnet cannot be deleted while a port holds one of its addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Conflict, Forbidden
from twinstack.core.network import addresses, ipam, networks, quotas, subnet_pools
from twinstack.core.network.addresses import IPAddress, IPNetwork
from twinstack.core.network.common import new_uuid, now, owner_for, owns, touch
from twinstack.core.network.errors import InvalidInput, SubnetInUse, SubnetNotFound
from twinstack.core.policy import Credentials
from twinstack.db.models.network import IpAllocationRow, NetworkRow, PortRow, SubnetRow
from twinstack.db.stores.network_locks import lock_keys

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
MAX_DNS_NAMESERVERS = 5
MAX_HOST_ROUTES = 20
UNSET: Any = object()
"""gateway_ip not given (a default is chosen), as opposed to None (no gateway)."""


@dataclass
class SubnetSpec:
    network_id: str
    ip_version: int
    cidr: str | None = None
    name: str = ""
    description: str = ""
    project_id: str | None = None
    gateway_ip: Any = UNSET
    allocation_pools: list[dict[str, Any]] | None = None
    dns_nameservers: list[str] = field(default_factory=list)
    host_routes: list[dict[str, Any]] = field(default_factory=list)
    enable_dhcp: bool = True
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None
    subnetpool_id: str | None = None
    prefixlen: int | None = None
    use_default_subnetpool: bool = False
    service_types: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


class GatewayConflictWithAllocationPools(Conflict):
    title = "GatewayConflictWithAllocationPools"


class OverlappingAllocationPools(Conflict):
    title = "OverlappingAllocationPools"


class OutOfBoundsAllocationPool(BadRequest):
    title = "OutOfBoundsAllocationPool"


def visible(creds: Credentials) -> ColumnElement[bool] | None:
    """Own subnets, subnets of shared networks and of networks the caller owns (None: all)."""
    if creds.is_admin:
        return None
    conditions: list[ColumnElement[bool]] = [
        SubnetRow.network_id.in_(select(NetworkRow.id).where(NetworkRow.shared.is_(True)))]
    if creds.project_id:
        conditions += [SubnetRow.project_id == creds.project_id,
                       SubnetRow.network_id.in_(select(NetworkRow.id).where(NetworkRow.project_id == creds.project_id))]
    return or_(*conditions)


def get_subnet(session: Session, creds: Credentials, subnet_id: str) -> SubnetRow:
    statement = select(SubnetRow).where(SubnetRow.id == subnet_id)
    clause = visible(creds)
    if clause is not None:
        statement = statement.where(clause)
    row = session.scalar(statement)
    if row is None:
        raise SubnetNotFound(subnet_id)
    return row


def list_subnets(session: Session, creds: Credentials, *where: ColumnElement[bool]) -> list[SubnetRow]:
    statement = select(SubnetRow).where(*where).order_by(SubnetRow.created_at, SubnetRow.id)
    clause = visible(creds)
    if clause is not None:
        statement = statement.where(clause)
    return list(session.scalars(statement))


def subnets_of(session: Session, network_ids: list[str]) -> dict[str, list[SubnetRow]]:
    found: dict[str, list[SubnetRow]] = {n: [] for n in network_ids}
    if network_ids:
        for row in session.scalars(select(SubnetRow).where(SubnetRow.network_id.in_(network_ids))
                                   .order_by(SubnetRow.created_at, SubnetRow.id)):
            found[row.network_id].append(row)
    return found


def _gateway(network: IPNetwork, value: Any) -> IPAddress | None:
    if value is UNSET:
        return addresses.first_host(network)
    if value is None:
        return None
    gateway = addresses.parse_address(value, "gateway_ip")
    if gateway.version != network.version:
        raise InvalidInput("Gateway IP version inconsistent with allocation pool version")
    low, high = int(network.network_address), int(network.broadcast_address)
    if not low <= int(gateway) <= high or (network.num_addresses > 2 and (
            int(gateway) == low or (network.version == 4 and int(gateway) == high))):
        raise InvalidInput("Gateway is not valid on subnet")
    return gateway


def _pools(network: IPNetwork, gateway: IPAddress | None, pools: list[dict[str, Any]] | None) -> list[addresses.Range]:
    if pools is None:
        return addresses.default_pools(network, gateway)
    ranges: list[addresses.Range] = []
    low, high = addresses.usable_range(network)
    for pool in pools:
        if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
            raise BadRequest(f"Invalid input for allocation_pools. Reason: Invalid data format for IP pool: "
                             f"'{pool}'.")
        start = addresses.parse_address(pool["start"], "allocation_pools")
        end = addresses.parse_address(pool["end"], "allocation_pools")
        if start.version != network.version or end.version != network.version:
            raise InvalidInput("Allocation pool IP version does not match the subnet's")
        if int(start) > int(end):
            raise InvalidInput(f"The allocation pool {start}-{end} is not valid: its start is after its end")
        if int(start) < low or int(end) > high:
            raise OutOfBoundsAllocationPool(f"The allocation pool {start}-{end} spans beyond the subnet cidr "
                                            f"{network}.")
        ranges.append((int(start), int(end)))
    clash = addresses.overlapping(ranges)
    if clash:
        shown = [addresses.as_pool_dicts(network.version, [r])[0] for r in clash]
        raise OverlappingAllocationPools(
            f"Found overlapping allocation pools: {shown[0]['start']}-{shown[0]['end']} and "
            f"{shown[1]['start']}-{shown[1]['end']} for subnet {network}.")
    if gateway is not None:
        for low_end, high_end in ranges:
            if low_end <= int(gateway) <= high_end:
                pool = addresses.as_pool_dicts(network.version, [(low_end, high_end)])[0]
                raise GatewayConflictWithAllocationPools(
                    f"Gateway ip {gateway} conflicts with allocation pool {pool['start']}-{pool['end']}.")
    return ranges


def check_dns(values: list[str], version: int | None = None) -> list[str]:
    if len(values) > MAX_DNS_NAMESERVERS:
        raise BadRequest("Quota exceeded for resources: ['dns_nameservers'].")
    seen: set[str] = set()
    for value in values:
        address = str(addresses.parse_address(value, "dns_nameservers"))
        if address in seen:
            raise BadRequest(f"Invalid input for dns_nameservers. Reason: Duplicate nameserver '{value}'.")
        seen.add(address)
    return list(values)


def check_routes(routes: list[dict[str, Any]], version: int) -> list[dict[str, Any]]:
    if len(routes) > MAX_HOST_ROUTES:
        raise BadRequest("Quota exceeded for resources: ['host_routes'].")
    checked: list[dict[str, Any]] = []
    for route in routes:
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise BadRequest(f"Invalid input for host_routes. Reason: Invalid data format for hostroute: "
                             f"'{route}'.")
        destination = addresses.parse_cidr(route["destination"], "host_routes")
        nexthop = addresses.parse_address(route["nexthop"], "host_routes")
        if destination.version != version or nexthop.version != version:
            raise InvalidInput(f"Host route {route} IP version differs from the subnet's")
        checked.append({"destination": str(destination), "nexthop": str(nexthop)})
    return checked


def _check_ipv6_modes(version: int, ra_mode: str | None, address_mode: str | None) -> None:
    for name, mode in (("ipv6_ra_mode", ra_mode), ("ipv6_address_mode", address_mode)):
        if mode is None:
            continue
        if version != 6:
            raise InvalidInput(f"{name} is not valid when ip_version is 4")
        if mode not in IPV6_MODES:
            raise BadRequest(f"Invalid input for {name}. Reason: '{mode}' is not in {list(IPV6_MODES)}.")
    if ra_mode and address_mode and ra_mode != address_mode:
        raise InvalidInput(f"ipv6_ra_mode set to '{ra_mode}' with ipv6_address_mode set to '{address_mode}' is "
                           "not valid. If both attributes are set, they must be the same value")


def _check_no_overlap(session: Session, network_id: str, cidr: IPNetwork, except_id: str | None = None) -> None:
    for other in session.scalars(select(SubnetRow).where(SubnetRow.network_id == network_id)):
        if other.id != except_id and cidr.overlaps(ipaddress.ip_network(other.cidr)):
            raise InvalidInput(f"Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another "
                               "subnet")


def create_subnet(session: Session, clock: Clock, creds: Credentials, spec: SubnetSpec) -> SubnetRow:
    """One subnet on a network the caller owns (or an admin's), counted against the ``subnet`` quota."""
    network = networks.get_network(session, creds, spec.network_id)
    if not owns(creds, network):
        raise Forbidden(f"Subnets may only be added to the project's own networks ({spec.network_id}).")
    project_id = owner_for(creds, spec.project_id)
    lock_keys(session, [quotas.quota_key(project_id), f"network:{network.id}"])
    if spec.ip_version not in (4, 6):
        raise BadRequest(f"Invalid input for ip_version. Reason: {spec.ip_version} is not in [4, 6].")
    if spec.cidr is None:
        if spec.subnetpool_id is None and not spec.use_default_subnetpool:
            raise BadRequest("Bad subnets request: a subnetpool must be specified in the absence of a cidr.")
        spec.cidr, spec.subnetpool_id = subnet_pools.carve(session, creds, spec)
    cidr = addresses.parse_cidr(spec.cidr)
    if cidr.version != spec.ip_version:
        raise InvalidInput(f"Cidr {cidr} does not match ip_version {spec.ip_version}")
    _check_ipv6_modes(spec.ip_version, spec.ipv6_ra_mode, spec.ipv6_address_mode)
    if cidr.prefixlen == 0:  # Neutron's: dnsmasq cannot serve it
        raise InvalidInput("0 is not allowed as CIDR prefix length")
    if ipam.auto_address_modes(spec.ipv6_ra_mode, spec.ipv6_address_mode) and cidr.prefixlen != 64:
        raise InvalidInput(f"Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, "
                           "which requires the prefix to be /64")
    _check_no_overlap(session, network.id, cidr)
    gateway = _gateway(cidr, spec.gateway_ip)
    pools = _pools(cidr, gateway, spec.allocation_pools)
    quotas.check(session, project_id, "subnet")
    moment = now(clock)
    row = SubnetRow(id=new_uuid(), project_id=project_id, network_id=network.id, name=spec.name,
                    description=spec.description, ip_version=spec.ip_version, cidr=str(cidr),
                    gateway_ip=str(gateway) if gateway else None, enable_dhcp=spec.enable_dhcp,
                    dns_nameservers=check_dns(spec.dns_nameservers),
                    host_routes=check_routes(spec.host_routes, spec.ip_version),
                    allocation_pools=addresses.as_pool_dicts(spec.ip_version, pools),
                    ipv6_ra_mode=spec.ipv6_ra_mode, ipv6_address_mode=spec.ipv6_address_mode,
                    subnetpool_id=spec.subnetpool_id, service_types=list(spec.service_types), tags=list(spec.tags),
                    revision_number=0, created_at=moment, updated_at=moment)
    session.add(row)
    session.flush()
    return row


UPDATABLE = ("name", "description", "gateway_ip", "allocation_pools", "dns_nameservers", "host_routes",
             "enable_dhcp", "service_types")


def update_subnet(session: Session, clock: Clock, creds: Credentials, subnet_id: str,
                  changes: Mapping[str, Any]) -> SubnetRow:
    """Re-checks gateway and pools together, so a change that would leave them inconsistent is refused."""
    row = get_subnet(session, creds, subnet_id)
    if not owns(creds, row):
        raise Forbidden(f"Subnet {subnet_id} belongs to another project.")
    for name in changes:
        if name not in UPDATABLE:
            raise BadRequest(f"Cannot update read-only attribute {name}")
    cidr = ipaddress.ip_network(row.cidr)
    if "gateway_ip" in changes or "allocation_pools" in changes:
        gateway = _gateway(cidr, changes.get("gateway_ip", row.gateway_ip))
        pools = changes.get("allocation_pools", row.allocation_pools)
        ranges = _pools(cidr, gateway, pools)
        row.gateway_ip = str(gateway) if gateway else None
        row.allocation_pools = addresses.as_pool_dicts(row.ip_version, ranges)
    if "dns_nameservers" in changes:
        row.dns_nameservers = check_dns(changes["dns_nameservers"])
    if "host_routes" in changes:
        row.host_routes = check_routes(changes["host_routes"], row.ip_version)
    for name in ("name", "description", "enable_dhcp", "service_types"):
        if name in changes:
            setattr(row, name, changes[name])
    touch(row, clock)
    session.flush()
    return row


def delete_subnet(session: Session, creds: Credentials, subnet_id: str) -> None:
    """Refused (SubnetInUse) while a port other than the service's own holds one of its addresses."""
    row = get_subnet(session, creds, subnet_id)
    if not owns(creds, row):
        raise Forbidden(f"Subnet {subnet_id} belongs to another project.")
    lock_keys(session, [f"network:{row.network_id}"])
    holder = session.scalar(select(IpAllocationRow.port_id).join(PortRow, PortRow.id == IpAllocationRow.port_id)
                            .where(IpAllocationRow.subnet_id == subnet_id,
                                   PortRow.device_owner.not_in(networks.AUTO_DELETED_OWNERS)).limit(1))
    if holder is not None:
        raise SubnetInUse(subnet_id)
    session.delete(row)
    session.flush()
