"""The ports plugged on this host, per instance, kept on disk so a restarted agent still knows them.

PlugPorts replaces an instance's ports whole, UnplugPorts drops some or all; the file is rewritten on each
change (small: a host holds tens of instances). The whole map is what :func:`twinstack.real.net_plan.plan`
turns into the host's network state.

Beside them, each VXLAN network's tunnel peers as the newest PlugPorts naming the network said (PlugPorts 1.3
``tunnel_peers``), with its generation (1.4 ``peer_generations``), in ``peers.json`` next to the ports. Plugs can
arrive out of order (two conductors, a redelivered one): a list older than the one held is ignored, an equal one
taken (the conductor raises the generation after every change of the network's hosts, so the newest list of a
generation is at worst replaced by the next). And this host's DHCP server address on each subnet, as the plugs
name them (1.5 ``dhcp_servers``: its ``network:dhcp`` port's), in ``dhcp.json``. With a network's peers, the
servers' addresses on it when a router here has a leg there (1.6 ``neighbours``: the router copies' permanent
entries), taken and kept under the same generation. A network (a subnet) no port here is on any more, nor any leg
of a router behind them, is forgotten with its last port.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from twinstack.rpc.network import NeighbourSpec, PortSpec, VtepSpec


class PluggedPorts:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._guard = threading.Lock()
        raw = json.loads(path.read_text()) if path.exists() else {}
        self._ports: dict[str, list[PortSpec]] = {
            uuid: [PortSpec.model_validate(p) for p in ports] for uuid, ports in raw.items()
        }
        self.peers_path = path.with_name("peers.json")
        raw_peers = json.loads(self.peers_path.read_text()) if self.peers_path.exists() else {}
        self._peers: dict[str, list[VtepSpec]] = {}
        self._generations: dict[str, int] = {}
        self._neighbours: dict[str, list[NeighbourSpec]] = {}
        for network, held in raw_peers.items():
            if isinstance(held, list):  # written before generations
                held = {"generation": 0, "peers": held}
            self._peers[network] = [VtepSpec.model_validate(p) for p in held["peers"]]
            self._generations[network] = int(held["generation"])
            if held.get("neighbours"):
                self._neighbours[network] = [NeighbourSpec.model_validate(n) for n in held["neighbours"]]
        self.dhcp_path = path.with_name("dhcp.json")
        self._dhcp: dict[str, str] = json.loads(self.dhcp_path.read_text()) if self.dhcp_path.exists() else {}

    def peers(self) -> dict[str, list[VtepSpec]]:
        """Each VXLAN network's tunnel peers, as last heard."""
        with self._guard:
            return {network: list(peers) for network, peers in self._peers.items()}

    def neighbours(self) -> dict[str, list[NeighbourSpec]]:
        """Each routed VXLAN network's servers' addresses, as last heard with its peers."""
        with self._guard:
            return {network: list(listed) for network, listed in self._neighbours.items()}

    def set_peers(self, peers: dict[str, list[VtepSpec]], generations: dict[str, int] | None = None,
                  neighbours: dict[str, list[NeighbourSpec]] | None = None) -> None:
        """The peers of these networks (others keep theirs), each unless older than the generation held (a
        network without one, from an older sender, counts as generation 0), and with them their ``neighbours``
        (a network among the peers but not there has none: no router here has a leg on it any more)."""
        if not peers:
            return
        given = generations or {}
        with self._guard:
            for network, listed in peers.items():
                generation = given.get(network, 0)
                if generation < self._generations.get(network, 0):
                    continue
                self._peers[network] = list(listed)
                self._generations[network] = generation
                if (addresses := (neighbours or {}).get(network)) is not None:
                    self._neighbours[network] = list(addresses)
                else:
                    self._neighbours.pop(network, None)
            self._save()

    def set_dhcp_servers(self, servers: dict[str, str]) -> None:
        """This host's DHCP server address on these subnets (others keep theirs)."""
        if servers:
            with self._guard:
                self._dhcp.update(servers)
                self._save()

    def dhcp_servers(self) -> dict[str, str]:
        """subnet id -> this host's DHCP server address there, as the conductor reserved it."""
        with self._guard:
            return dict(self._dhcp)

    def generations(self) -> dict[str, int]:
        with self._guard:
            return dict(self._generations)

    def snapshot(self) -> dict[str, list[PortSpec]]:
        with self._guard:
            return {uuid: list(ports) for uuid, ports in self._ports.items()}

    def of(self, instance_uuid: str) -> list[PortSpec]:
        with self._guard:
            return list(self._ports.get(instance_uuid, []))

    def plug(self, instance_uuid: str, ports: Sequence[PortSpec]) -> None:
        """Replace the given ports of the instance in place (others it has stay; new ones go last): a refresh
        names only the ports that changed, and the guest's NIC order must not."""
        with self._guard:
            given = {p.port_id: p for p in ports}
            held = self._ports.get(instance_uuid, [])
            known = {p.port_id for p in held}
            self._ports[instance_uuid] = [given.get(p.port_id, p) for p in held] + [
                p for p in ports if p.port_id not in known
            ]
            self._save()

    def unplug(self, instance_uuid: str, port_ids: Sequence[str] = ()) -> None:
        """Drop these ports of the instance; none named: all of them."""
        with self._guard:
            if port_ids:
                left = [p for p in self._ports.get(instance_uuid, []) if p.port_id not in set(port_ids)]
                if left:
                    self._ports[instance_uuid] = left
                else:
                    self._ports.pop(instance_uuid, None)
            else:
                self._ports.pop(instance_uuid, None)
            self._save()

    def keep_only(self, instance_uuids: Iterable[str]) -> list[str]:
        """Forget the instances not named (start-up: their domains are gone); the ones forgotten."""
        keep = set(instance_uuids)
        with self._guard:
            gone = sorted(set(self._ports) - keep)
            for uuid in gone:
                del self._ports[uuid]
            if gone:
                self._save()
            return gone

    def _save(self) -> None:
        on = {p.network_id for ports in self._ports.values() for p in ports}
        on |= {leg.network_id for ports in self._ports.values() for p in ports for r in p.routers
               for leg in r.interfaces}
        self._peers = {network: peers for network, peers in self._peers.items() if network in on}
        self._generations = {network: g for network, g in self._generations.items() if network in on}
        self._neighbours = {network: listed for network, listed in self._neighbours.items() if network in on}
        subnets = {f.subnet_id for ports in self._ports.values() for p in ports for f in p.fixed_ips}
        self._dhcp = {subnet: ip for subnet, ip in self._dhcp.items() if subnet in subnets}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.peers_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({n: {"generation": self._generations.get(n, 0),
                                             "peers": [p.model_dump(mode="json") for p in peers],
                                             "neighbours": [a.model_dump(mode="json")
                                                            for a in self._neighbours.get(n, [])]}
                                         for n, peers in self._peers.items()}))
        temporary.replace(self.peers_path)
        temporary = self.dhcp_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._dhcp))
        temporary.replace(self.dhcp_path)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({uuid: [p.model_dump(mode="json") for p in ports] for uuid, ports in self._ports.items()})
        )
        temporary.replace(self.path)
