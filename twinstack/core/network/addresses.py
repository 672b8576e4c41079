"""Pure address arithmetic for subnets: parsing as Neutron validates, default gateways and pools,
overlaps, and the addresses a pool offers. No storage here: IPAM and subnets build on it."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from twinstack.core.errors import BadRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Range = tuple[int, int]


def parse_cidr(value: Any, attribute: str = "cidr") -> IPNetwork:
    """A subnet CIDR with no host bits set; Neutron suggests the right one when host bits are given."""
    if not isinstance(value, str) or "/" not in value:
        raise BadRequest(f"Invalid input for {attribute}. Reason: '{value}' is not a valid IP subnet.")
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise BadRequest(f"Invalid input for {attribute}. Reason: '{value}' is not a valid IP subnet.") from None
        raise BadRequest(f"Invalid input for {attribute}. Reason: '{value}' isn't a recognized IP subnet cidr, "
                         f"'{loose}' is recommended.") from None


def parse_address(value: Any, attribute: str = "ip_address") -> IPAddress:
    if not isinstance(value, str):
        raise BadRequest(f"Invalid input for {attribute}. Reason: '{value}' is not a valid IP address.")
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise BadRequest(f"Invalid input for {attribute}. Reason: '{value}' is not a valid IP address.") from None


def canonical(value: str) -> str:
    """One spelling per address (``2001:db8::1`` however it was written): the IPAM key."""
    return str(ipaddress.ip_address(value))


def first_host(network: IPNetwork) -> IPAddress:
    return network[1] if network.num_addresses > 1 else network[0]


def usable_range(network: IPNetwork) -> Range:
    """Addresses a port may hold: IPv4 loses the network and broadcast addresses, IPv6 its anycast one."""
    low = int(network.network_address)
    high = int(network.broadcast_address)
    if network.num_addresses <= 2:
        return low, high
    if network.version == 4:
        return low + 1, high - 1
    return low + 1, high


def default_pools(network: IPNetwork, gateway: IPAddress | None) -> list[Range]:
    """The whole usable range, minus the gateway (splitting the range around it)."""
    low, high = usable_range(network)
    if gateway is None or not low <= int(gateway) <= high:
        return [(low, high)]
    g = int(gateway)
    return [r for r in ((low, g - 1), (g + 1, high)) if r[0] <= r[1]]


def as_pool_dicts(version: int, pools: Iterable[Range]) -> list[dict[str, str]]:
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return [{"start": str(make(low)), "end": str(make(high))} for low, high in pools]


def pool_ranges(pools: Iterable[dict[str, Any]]) -> list[Range]:
    return [(int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"]))) for p in pools]


def overlapping(ranges: Iterable[Range]) -> tuple[Range, Range] | None:
    """The first two ranges that share an address, if any."""
    ordered = sorted(ranges)
    for before, after in itertools.pairwise(ordered):
        if after[0] <= before[1]:
            return before, after
    return None


def free_addresses(ranges: Iterable[Range], taken: set[int], version: int) -> Iterator[IPAddress]:
    """The pools' addresses in order, skipping those taken (lazily: a /64 is never enumerated)."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    for low, high in sorted(ranges):
        candidate = low
        while candidate <= high:
            if candidate not in taken:
                yield make(candidate)
            candidate += 1


def eui64(network: IPNetwork, mac: str) -> ipaddress.IPv6Address:
    """The SLAAC address a host with ``mac`` forms on an IPv6 /64 (modified EUI-64)."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    interface = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    return ipaddress.IPv6Address(int(network.network_address) | int.from_bytes(bytes(interface), "big"))
