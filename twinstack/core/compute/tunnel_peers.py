"""Which tunnel endpoints each host must replicate a VXLAN network's traffic to (Neutron's l2population).

A host with a port on a VXLAN network sends its broadcast and unknown frames (ARP, DHCP) to every other host
with a port on that network, and only to them: the agent writes one all-zeros FDB entry per peer endpoint, as
Neutron's linuxbridge agent does when l2population tells it the network's endpoints. The network service knows
where ports are bound; the conductor knows the hosts' endpoints (they register them, HostsRegistered 1.1). So
the conductor composes the two:

* every PlugPorts it sends names, for each VXLAN network of its ports, the endpoints of the other hosts bound
  there then (:meth:`TunnelPeers.for_plug`);
* after any change of where ports are bound (a plug on a new host, a move, an unplug, a release), it looks,
  ``replug_delay`` later, at the endpoints of the networks concerned, and when a network's set of endpoints is
  not the one it last announced, re-plugs one port of each host on the network, which carries the new peers
  (:meth:`TunnelPeers.changed`). A boot on a host already on the network changes no set and sends nothing more.

Hosts without an endpoint (simulated ones) are neither told nor counted, so a simulation costs one host lookup
per plug and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from twinstack.core.compute.model import ComputeHost
from twinstack.core.runtime import Runtime, Timer
from twinstack.rpc.network import PortSpec, VtepSpec

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


Replug = Callable[[str, str, list[PortSpec]], None]
"""Send a PlugPorts (host, instance uuid, ports); the conductor's, which adds the peers."""


class TunnelPeers:
    def __init__(self, runtime: Runtime, lookup: Callable[[str], ComputeHost | None], delay: float) -> None:
        self.runtime = runtime
        self.lookup = lookup
        self.delay = delay
        self._endpoints: dict[str, VtepSpec | None] = {}
        """host -> its endpoint (None: it has none), as registered; filled from the host store on a miss"""
        self._announced: dict[str, frozenset[VtepSpec]] = {}
        """network -> the endpoints the hosts on it were last told of"""
        self._networks: set[str] = set()
        self._everywhere = False
        self._timer: Timer | None = None

    def registered(self, hosts: Iterable[ComputeHost]) -> None:
        for host in hosts:
            self._endpoints[host.host] = _endpoint(host)

    def endpoint(self, host: str) -> VtepSpec | None:
        if host not in self._endpoints:
            known = self.lookup(host)
            self._endpoints[host] = _endpoint(known) if known is not None else None
        return self._endpoints[host]

    def for_plug(self, layout: PortLayout, host: str, plugs: Sequence[PortSpec]) -> dict[str, list[VtepSpec]]:
        """The ``tunnel_peers`` of a PlugPorts to ``host`` carrying ``plugs``."""
        networks = _vxlan_networks(plugs)
        if not networks or self.endpoint(host) is None:
            return {}
        where = layout.ports_by_host(networks)
        return {network: sorted(self._peers(where.get(network, {}), host), key=_order) for network in networks}

    def changed(self, layout: PortLayout, replug: Replug, plugs: Sequence[PortSpec] | None = None,
                host: str | None = None) -> None:
        """These ports were bound (or readied) on ``host``, or bindings of ports no longer known went (``plugs``
        None: a deleted server's): look at their networks' endpoints ``delay`` from now (a burst of changes is
        looked at once). A host without an endpoint changes no network's endpoints: nothing to look at."""
        if plugs is None:
            if not self._announced:
                return
            self._everywhere = True
        else:
            networks = _vxlan_networks(plugs)
            if not networks or (host is not None and self.endpoint(host) is None):
                return
            self._networks.update(networks)
        if self._timer is None:
            self._timer = self.runtime.call_later(self.delay, lambda: self._look(layout, replug))

    def _look(self, layout: PortLayout, replug: Replug) -> None:
        self._timer = None
        networks = set(self._networks)
        if self._everywhere:
            networks |= set(self._announced)
        self._networks.clear()
        self._everywhere = False
        if not networks:
            return
        where = layout.ports_by_host(sorted(networks))
        chosen: list[str] = []
        for network in sorted(networks):
            hosts = where.get(network, {})
            endpoints = frozenset(e for h in hosts if (e := self.endpoint(h)) is not None)
            if endpoints == self._announced.get(network, frozenset()):
                continue
            if endpoints:
                self._announced[network] = endpoints
            else:
                self._announced.pop(network, None)
            LOG.info("network %s: tunnel endpoints now %s", network, sorted(endpoints, key=_order))
            chosen.extend(ports[0] for h, ports in sorted(hosts.items()) if ports and self.endpoint(h) is not None)
        if chosen:
            for (host, instance_uuid), plugs in layout.bound(sorted(set(chosen))).items():
                replug(host, instance_uuid, plugs)

    def _peers(self, hosts: Mapping[str, list[str]], host: str) -> set[VtepSpec]:
        mine = self.endpoint(host)
        return {e for h in hosts if h != host and (e := self.endpoint(h)) is not None and e != mine}


def _endpoint(host: ComputeHost) -> VtepSpec | None:
    return VtepSpec(ip=host.tunnel_ip, port=host.tunnel_port) if host.tunnel_ip else None


def _vxlan_networks(plugs: Sequence[PortSpec]) -> list[str]:
    return sorted({p.network_id for p in plugs if p.segment.network_type == VXLAN and p.segment.segmentation_id})


def _order(endpoint: VtepSpec) -> tuple[str, int]:
    return endpoint.ip, endpoint.port
