"""Which tunnel endpoints each host must replicate a VXLAN network's traffic to (Neutron's l2population).

A host with a port on a VXLAN network sends its broadcast and unknown frames (ARP, DHCP) to every other host
with a port on that network, and only to them: the agent writes one all-zeros FDB entry per peer endpoint, as
Neutron's linuxbridge agent does when l2population tells it the network's endpoints. The network service knows
where ports are bound; the host store knows the hosts' endpoints (they register them, HostsRegistered 1.1). So
the conductor composes the two, from the database each time, never from what it remembers (several conductors
share the work, and one may restart between a change and its look):

* every PlugPorts it sends names, for each VXLAN network of its ports, the endpoints of the other hosts bound
  there then, with the network's peers *generation* (:meth:`TunnelPeers.for_plug`);
* after any change of where ports are bound (a plug on a new host, a move, an unplug, a release), it looks,
  ``replug_delay`` later, at the networks concerned: it raises each one's generation in the database, then
  re-plugs one port of each host with an endpoint on it, which carries the peers as they are now
  (:meth:`TunnelPeers.changed`). The agent takes a network's peers only from a plug whose generation is no
  older than the one it holds (``PluggedPorts.set_peers``), so plugs that two conductors or a redelivery bring
  out of order never put back an older list: each change's look comes after the change and carries a newer one.

A plug to a host with an endpoint also carries the addresses of the host's DHCP port on each subnet of those
networks, made when the host first gets a port there and deleted by the look after it holds none any more
(:mod:`twinstack.core.network.dhcp_ports`): each host's dnsmasq has an address IPAM reserved, that no guest and no
other host's dnsmasq on the segment holds.

Distributed routers (:mod:`twinstack.core.network.router_legs`): a host holding a copy of a router (it has a port
behind it) builds a leg on each of the router's networks, so it is a member of each: the peers of a network are
the hosts with a port on it *and* the hosts with a port on another network of a router with a leg on it. A plug
names the peers of its ports' networks and of their routers' legs' networks, and the servers' addresses on the
latter (``neighbours``, the router copies' permanent entries); a look at a network also looks at the networks
routers join it to (their members changed too, and their neighbours).

A change whose hosts (those gaining or losing the ports) all lack an endpoint (simulated ones) is not looked at,
so a simulation costs one host lookup per plug and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from twinstack.core.compute.model import ComputeHost
from twinstack.core.runtime import Runtime, Timer
from twinstack.rpc.network import NeighbourSpec, PortSpec, VtepSpec

LOG = logging.getLogger(__name__)

VXLAN = "vxlan"


class PortLayout(Protocol):
    """What the conductor asks of the network service for this (``SqlNetworking``)."""

    def ports_by_host(self, network_ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        """network id -> host -> the servers' ports bound (or readied) there."""
        ...

    def bound(self, port_ids: Sequence[str], member_changes: Sequence[str] = ()) -> dict[tuple[str, str],
                                                                                        list[PortSpec]]:
        ...

    def peer_generations(self, network_ids: Sequence[str], raise_them: bool = False) -> dict[str, int]:
        """Each network's peers generation (raised by one first, and committed, if ``raise_them``)."""
        ...

    def dhcp_servers(self, host: str, network_ids: Sequence[str]) -> dict[str, str]:
        """``host``'s DHCP port on each network (made if missing): subnet id -> its address."""
        ...

    def release_dhcp(self, network_ids: Sequence[str]) -> None:
        """Delete the DHCP ports of hosts no longer holding a server's port on these networks."""
        ...

    def routed_networks(self, network_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each network -> the other networks of the routers with an interface on it (none: left out)."""
        ...

    def neighbours(self, network_ids: Sequence[str]) -> dict[str, list[NeighbourSpec]]:
        """Each network -> the servers' bound ports' IPv4 addresses and MACs there."""
        ...


Replug = Callable[[str, str, list[PortSpec]], None]
"""Send a PlugPorts (host, instance uuid, ports); the conductor's, which adds the peers."""


@dataclass(frozen=True)
class PlugPeers:
    """What a PlugPorts says of tunnels: each VXLAN network's peers and their generation, and the addresses of
    the host's DHCP ports on the networks' subnets (:mod:`twinstack.core.network.dhcp_ports`)."""

    peers: dict[str, list[VtepSpec]] = field(default_factory=dict)
    generations: dict[str, int] = field(default_factory=dict)
    dhcp_servers: dict[str, str] = field(default_factory=dict)
    neighbours: dict[str, list[NeighbourSpec]] = field(default_factory=dict)


class TunnelPeers:
    def __init__(self, runtime: Runtime, lookup: Callable[[Iterable[str]], dict[str, ComputeHost]],
                 delay: float) -> None:
        self.runtime = runtime
        self.lookup = lookup
        """The host store's ``get_many``: endpoints are read there each time (a host re-registering with another
        endpoint may have told another conductor)."""
        self.delay = delay
        self._networks: set[str] = set()
        self._timer: Timer | None = None

    def endpoints(self, hosts: Iterable[str]) -> dict[str, VtepSpec]:
        """The endpoints of those of ``hosts`` that have one, as registered."""
        wanted = sorted({h for h in hosts if h})
        if not wanted:
            return {}
        return {name: e for name, host in self.lookup(wanted).items() if (e := _endpoint(host)) is not None}

    def for_plug(self, layout: PortLayout, host: str, plugs: Sequence[PortSpec]) -> PlugPeers:
        """The ``tunnel_peers``, ``peer_generations``, ``dhcp_servers`` and ``neighbours`` of a PlugPorts to
        ``host`` carrying ``plugs``: for the VXLAN networks of the ports and of their routers' legs."""
        own, routed = _own_networks(plugs), _leg_networks(plugs)
        networks = sorted(set(own) | set(routed))
        if not networks or not self.endpoints([host]):
            return PlugPeers()
        generations = layout.peer_generations(networks)  # read before the hosts: a later look has a newer one
        where = _members(layout, networks)
        known = self.endpoints(h for hosts in where.values() for h in hosts)
        mine = known.get(host)
        peers = {network: sorted({e for h, e in known.items() if h != host and h in where.get(network, {})
                                  and e != mine}, key=_order) for network in networks}
        return PlugPeers(peers, {network: generations.get(network, 0) for network in networks},
                         layout.dhcp_servers(host, own), layout.neighbours(routed) if routed else {})

    def changed(self, layout: PortLayout, replug: Replug, networks: Iterable[str], hosts: Iterable[str]) -> None:
        """Ports on these VXLAN ``networks`` were bound, readied, moved or released; ``hosts`` gained or lost them.
        Look at the networks ``delay`` from now (a burst of changes is looked at once), unless none of the hosts
        has an endpoint: then no network's endpoints changed."""
        networks = set(networks)
        if not networks or not self.endpoints(hosts):
            return
        self._networks.update(networks)
        if self._timer is None:
            self._timer = self.runtime.call_later(self.delay, lambda: self._look(layout, replug))

    def _look(self, layout: PortLayout, replug: Replug) -> None:
        self._timer = None
        changed = sorted(self._networks)
        self._networks.clear()
        if not changed:
            return
        # the networks routers join to these have members that changed too (the hosts holding router copies)
        networks = sorted({*changed, *(n for joined in layout.routed_networks(changed).values() for n in joined)})
        layout.peer_generations(networks, raise_them=True)  # before the hosts are read: see the module's doc
        layout.release_dhcp(networks)
        where = _members(layout, networks)
        known = self.endpoints(h for hosts in where.values() for h in hosts)
        chosen: list[str] = []
        for network in networks:
            hosts = where.get(network, {})
            LOG.info("network %s: tunnel endpoints now %s", network,
                     sorted({known[h] for h in hosts if h in known}, key=_order))
            chosen.extend(ports[0] for h, ports in sorted(hosts.items()) if ports and h in known)
        if chosen:
            for (host, instance_uuid), plugs in layout.bound(sorted(set(chosen))).items():
                replug(host, instance_uuid, plugs)


def _endpoint(host: ComputeHost) -> VtepSpec | None:
    return VtepSpec(ip=host.tunnel_ip, port=host.tunnel_port) if host.tunnel_ip else None


def _members(layout: PortLayout, networks: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """network -> host -> the ports that make the host a member of it: its servers' ports on it, and those on the
    other networks of a router with a leg on it (the host holds a copy of the router, with a leg there)."""
    joined = layout.routed_networks(networks)
    where = layout.ports_by_host(sorted({*networks, *(n for others in joined.values() for n in others)}))
    found: dict[str, dict[str, list[str]]] = {}
    for network in networks:
        hosts: dict[str, list[str]] = {}
        for source in (network, *joined.get(network, ())):
            for host, ports in where.get(source, {}).items():
                hosts.setdefault(host, []).extend(ports)  # a port is on one network: never twice
        if hosts:
            found[network] = hosts
    return found


def _vxlan(network_type: str, segmentation_id: int | None) -> bool:
    return network_type == VXLAN and bool(segmentation_id)


def _own_networks(plugs: Sequence[PortSpec]) -> list[str]:
    return sorted({p.network_id for p in plugs if _vxlan(p.segment.network_type, p.segment.segmentation_id)})


def _leg_networks(plugs: Sequence[PortSpec]) -> list[str]:
    """The VXLAN networks of the legs of the ports' routers (PlugPorts 1.6: the host builds them all)."""
    return sorted({leg.network_id for p in plugs for r in p.routers for leg in r.interfaces
                   if _vxlan(leg.segment.network_type, leg.segment.segmentation_id)})


def vxlan_networks(plugs: Sequence[PortSpec]) -> list[str]:
    """The VXLAN networks these ports put their host on: their own, and those of their routers' legs."""
    return sorted({*_own_networks(plugs), *_leg_networks(plugs)})


def _order(endpoint: VtepSpec) -> tuple[str, int]:
    return endpoint.ip, endpoint.port
