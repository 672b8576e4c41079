"""What this host's network stack must hold, from the ports plugged here: a pure function, no netlink.

The agent keeps every instance's ports (PlugPorts replaces them, UnplugPorts drops them) and after each
change computes the whole :class:`HostPlan` afresh; :mod:`twinstack.real.host_network` then makes the
host match it and removes what it made that the plan no longer names. Computing the whole state rather
than applying deltas is what makes a repeated, reordered or lost message harmless, and what lets start-up
reconciliation be the same code.

VXLAN: a network whose segment is ``vxlan`` (its segmentation id the VNI) gets, when this agent has a tunnel
endpoint, a VXLAN device on its bridge replicating broadcast and unknown frames to the peers the last PlugPorts
named (:class:`NetworkPlan` ``vni``, ``local``, ``peers``). Without an endpoint the network stays on this host.

DHCP on a network spanning hosts: every host serves its own ports, and only them. Each agent runs dnsmasq for
the networks it has ports on with host entries for its own ports (it knows no others), and dnsmasq ignores any
client it has no entry for (``--dhcp-ignore=tag:!known``, :mod:`twinstack.real.dhcp_config`), so a request
flooded over the tunnel is answered once, by the host whose port sent it, and the answer never crosses the
tunnel. This is OVN's distributed DHCP rather than Neutron's DHCP agent on network nodes, chosen because an
agent here learns only its own ports: a central dnsmasq would need every port of the network sent to one
agent on each boot elsewhere. The servers' addresses must still differ on the one L2 segment: each host takes
the n-th highest free address of the subnet, n its rank among the network's endpoints
(:func:`dhcp_server_ip`), so renewals, which go unicast to the server that leased, reach it.

Distributed routers (PlugPorts 1.6): a router behind a port here is built with a leg on every one of its tenant
subnets (RouterSpec ``interfaces``), as Neutron's DVR builds it on each compute host, so traffic between two of
its subnets is routed on the host it starts from and leaves on the destination subnet's bridge, through the
tunnel, to the host of its destination. A leg's network this host has no port on gets a bridge (and VXLAN
device, peers) but no DHCP. Each leg on a tunnelled network carries the servers' addresses there
(:attr:`RouterInterface.neighbours`): the router copy never asks over the tunnel, where another host's copy of the
same leg would take the answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from twinstack.rpc.network import ExternalGatewaySpec, NeighbourSpec, PortSpec, SegmentSpec, VtepSpec

VXLAN = "vxlan"


@dataclass(frozen=True)
class DhcpHost:
    mac: str
    ip: str


@dataclass(frozen=True)
class DhcpSubnet:
    """An IPv4 subnet dnsmasq serves: its address in it and the gateway it hands out."""

    subnet_id: str
    cidr: str
    server_ip: str
    gateway_ip: str | None

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen


@dataclass(frozen=True)
class NetworkPlan:
    network_id: str
    mtu: int
    dhcp_subnets: tuple[DhcpSubnet, ...] = ()
    dhcp_hosts: tuple[DhcpHost, ...] = ()
    vni: int | None = None
    """A VXLAN network's VNI when this host tunnels it (it has an endpoint), else None: the bridge stays local."""
    local: VtepSpec | None = None
    peers: tuple[VtepSpec, ...] = ()
    """The other hosts' endpoints its broadcast and unknown frames are replicated to."""


@dataclass(frozen=True)
class FloatingIp:
    floating_ip: str
    fixed_ip: str


@dataclass(frozen=True)
class RouterInterface:
    port_id: str
    network_id: str
    ip: str
    cidr: str
    neighbours: tuple[DhcpHost, ...] = ()
    """On a tunnelled network: the servers' addresses on the leg's subnet, the router copy's permanent entries."""

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen


@dataclass(frozen=True)
class RouterPlan:
    router_id: str
    interfaces: tuple[RouterInterface, ...]
    enable_snat: bool
    gateway: ExternalGatewaySpec | None
    floating_ips: tuple[FloatingIp, ...] = ()


@dataclass(frozen=True)
class ExternalNetworkPlan:
    """An external network's bridge; the host takes its subnet's gateway address on it, so it can reach the
    routers' external legs and the floating IPs behind them."""

    network_id: str
    mtu: int
    host_ip: str | None
    cidr: str


@dataclass(frozen=True)
class HostPlan:
    ports: tuple[PortSpec, ...] = ()
    networks: Mapping[str, NetworkPlan] = field(default_factory=dict)
    routers: Mapping[str, RouterPlan] = field(default_factory=dict)
    external: Mapping[str, ExternalNetworkPlan] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.ports


def _v4(address: str) -> bool:
    return ipaddress.ip_address(address).version == 4


def dhcp_server_ip(cidr: str, taken: set[str], rank: int = 0) -> str | None:
    """dnsmasq's own address on a subnet: the highest host address nobody here holds (IPAM hands addresses
    out from the bottom of the pool, so the top one is the last it would reach); on a network spanning hosts,
    the host of ``rank`` n skips the n free ones above (each host's dnsmasq has an address of its own)."""
    network = ipaddress.ip_network(cidr)
    if network.num_addresses < 4:
        return None
    for offset in range(network.num_addresses - 2, 0, -1):
        candidate = str(network.network_address + offset)
        if candidate not in taken:
            if rank == 0:
                return candidate
            rank -= 1
    return None


def plan(plugged: Mapping[str, Sequence[PortSpec]], peers: Mapping[str, Sequence[VtepSpec]] | None = None,
         local: VtepSpec | None = None, dhcp_servers: Mapping[str, str] | None = None,
         neighbours: Mapping[str, Sequence[NeighbourSpec]] | None = None) -> HostPlan:
    """The host state serving every port in ``plugged`` (instance uuid -> its ports); ``peers``: each VXLAN
    network's other endpoints, ``local`` this host's (None: it tunnels nothing); ``dhcp_servers``: subnet id ->
    the address of this host's DHCP port there, reserved by the network service (PlugPorts 1.5), which dnsmasq
    takes; a subnet without one gets :func:`dhcp_server_ip`'s pick; ``neighbours``: each routed VXLAN network's
    servers' addresses (PlugPorts 1.6)."""
    ports = tuple(sorted((p for specs in plugged.values() for p in specs), key=lambda p: p.port_id))
    by_network: dict[str, list[PortSpec]] = {}
    for port in ports:
        by_network.setdefault(port.network_id, []).append(port)
    routers, leg_segments = _routers(ports)
    networks: dict[str, NetworkPlan] = {}
    for network_id, members in sorted(by_network.items()):
        subnets: dict[str, tuple[str, str | None]] = {}
        taken: set[str] = set()
        hosts: list[DhcpHost] = []
        for port in members:
            for fixed in port.fixed_ips:
                taken.add(fixed.ip_address)
                if fixed.gateway_ip:
                    taken.add(fixed.gateway_ip)
                if _v4(fixed.ip_address) and fixed.cidr and fixed.enable_dhcp:
                    subnets.setdefault(fixed.subnet_id, (fixed.cidr, fixed.gateway_ip))
                    hosts.append(DhcpHost(port.mac_address.lower(), fixed.ip_address))
        taken |= {i.ip for r in routers.values() for i in r.interfaces}
        segment = members[0].segment
        vni, others = _tunnel(network_id, segment, peers, local)
        rank = sorted([local, *others], key=_endpoint_order).index(local) if vni and local is not None else 0
        dhcp = []
        for subnet_id, (cidr, gateway) in sorted(subnets.items()):
            server = (dhcp_servers or {}).get(subnet_id) or dhcp_server_ip(cidr, taken, rank)
            if server is not None:
                dhcp.append(DhcpSubnet(subnet_id, cidr, server, gateway))
        networks[network_id] = NetworkPlan(
            network_id, segment.mtu, tuple(dhcp), tuple(sorted(set(hosts), key=lambda h: (h.ip, h.mac))),
            vni, local if vni else None, others if vni else ()
        )
    for network_id, segment in sorted(leg_segments.items()):
        if network_id not in networks:  # a leg of a router behind a port here: a bridge, no DHCP
            vni, others = _tunnel(network_id, segment, peers, local)
            networks[network_id] = NetworkPlan(network_id, segment.mtu, vni=vni, local=local if vni else None,
                                               peers=others if vni else ())
    routers = {router_id: _with_neighbours(router, networks, neighbours or {}) for router_id, router in routers.items()}
    external: dict[str, ExternalNetworkPlan] = {}
    for router in routers.values():
        leg = router.gateway
        if leg is not None:
            external.setdefault(leg.network_id, ExternalNetworkPlan(leg.network_id, leg.mtu, leg.gateway_ip, leg.cidr))
    return HostPlan(ports, networks, routers, external)


def _tunnel(network_id: str, segment: SegmentSpec, peers: Mapping[str, Sequence[VtepSpec]] | None,
            local: VtepSpec | None) -> tuple[int | None, tuple[VtepSpec, ...]]:
    """The network's VNI if this host tunnels it (a VXLAN segment, and an endpoint here), and its peers."""
    vni = segment.segmentation_id if segment.network_type == VXLAN and local is not None else None
    others = tuple(sorted({p for p in (peers or {}).get(network_id, ()) if p != local}, key=_endpoint_order))
    return vni, others


def _with_neighbours(router: RouterPlan, networks: Mapping[str, NetworkPlan],
                     neighbours: Mapping[str, Sequence[NeighbourSpec]]) -> RouterPlan:
    """The router with each leg on a tunnelled network holding the servers' addresses on its subnet."""
    legs = []
    for leg in router.interfaces:
        network = networks.get(leg.network_id)
        if network is not None and network.vni is not None and _v4(leg.ip):
            subnet = ipaddress.ip_network(leg.cidr)
            held = {DhcpHost(n.mac_address.lower(), n.ip_address) for n in neighbours.get(leg.network_id, ())
                    if _v4(n.ip_address) and ipaddress.ip_address(n.ip_address) in subnet and n.ip_address != leg.ip}
            leg = replace(leg, neighbours=tuple(sorted(held, key=lambda h: (int(ipaddress.ip_address(h.ip)), h.mac))))
        legs.append(leg)
    return replace(router, interfaces=tuple(legs))


def _endpoint_order(endpoint: VtepSpec) -> tuple[int, int]:
    return int(ipaddress.ip_address(endpoint.ip)), endpoint.port


def _routers(ports: Sequence[PortSpec]) -> tuple[dict[str, RouterPlan], dict[str, SegmentSpec]]:
    """The routers behind the ports, each with all its legs (the port's own, and from 1.6 every other), and the
    segments of the legs' networks."""
    interfaces: dict[str, dict[str, RouterInterface]] = {}
    segments: dict[str, SegmentSpec] = {}
    gateways: dict[str, ExternalGatewaySpec | None] = {}
    snat: dict[str, bool] = {}
    floating: dict[str, set[FloatingIp]] = {}
    for port in ports:
        subnet_of = {f.ip_address: f.subnet_id for f in port.fixed_ips}
        for router in port.routers:
            legs = interfaces.setdefault(router.router_id, {})
            legs[router.interface_port_id] = RouterInterface(
                router.interface_port_id, port.network_id, router.interface_ip, router.cidr
            )
            segments.setdefault(port.network_id, port.segment)
            for other in router.interfaces:
                if other.port_id != router.interface_port_id and other.cidr:
                    legs[other.port_id] = RouterInterface(other.port_id, other.network_id, other.ip_address,
                                                          other.cidr)
                    segments.setdefault(other.network_id, other.segment)
            gateways[router.router_id] = router.external_gateway
            snat[router.router_id] = router.enable_snat
        for fip in port.floating_ips:
            fixed = fip.fixed_ip_address or next((f.ip_address for f in port.fixed_ips if _v4(f.ip_address)), None)
            if fixed is None:
                continue
            owner = next(
                (
                    r.router_id
                    for r in port.routers
                    if r.subnet_id == subnet_of.get(fixed) and r.external_gateway is not None
                ),
                None,
            )
            if owner is not None:
                floating.setdefault(owner, set()).add(FloatingIp(fip.floating_ip_address, fixed))
    return ({
        router_id: RouterPlan(
            router_id,
            tuple(sorted(legs.values(), key=lambda i: i.port_id)),
            snat[router_id],
            gateways[router_id],
            tuple(sorted(floating.get(router_id, set()), key=lambda f: f.floating_ip)),
        )
        for router_id, legs in sorted(interfaces.items())
    }, segments)
