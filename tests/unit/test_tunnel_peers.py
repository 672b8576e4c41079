"""The conductor's VXLAN peers (Neutron's l2population): a plug names the other hosts' endpoints on each VXLAN
network of its ports, with the network's peers generation; a change of a network's hosts raises the generation
and re-plugs one port on each of its hosts, once per burst; a host without an endpoint, or a network of another
type, sends nothing more. A host holding a copy of a router (a port behind it) counts as a member of every network
of the router (Neutron's DVR: it builds a leg on each), and is told those networks' peers and servers' addresses.
Nothing is remembered in the conductor: two of them over one database (or one restarted)
see the same, and the agent keeps the newest generation whatever order plugs arrive in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from twinstack.core.compute.model import ComputeHost
from twinstack.core.compute.tunnel_peers import TunnelPeers
from twinstack.real.plugged_ports import PluggedPorts
from twinstack.rpc.network import NeighbourSpec, PortSpec, RouterLegSpec, RouterSpec, SegmentSpec, VtepSpec
from twinstack.sim.runtime import SimRuntime

NET, FLAT, NET2 = "net-vx", "net-flat", "net-vx2"
A, B = VtepSpec(ip="10.0.0.1", port=4789), VtepSpec(ip="10.0.0.2", port=4790)


def host(name: str, ip: str | None, port: int = 4789) -> ComputeHost:
    return ComputeHost(host=name, agent="a", cell="cell1", availability_zone="nova", rack=None, hypervisor_type="QEMU",
                       hypervisor_hostname=name, host_ip="127.0.0.1", inventory={}, traits=[], last_heartbeat=0.0,
                       tunnel_ip=ip, tunnel_port=port)


VNIS = {NET: 42, NET2: 43}
LEGS = [RouterLegSpec(port_id=f"leg-{n}", network_id=n, subnet_id=f"sub-{n}", ip_address=f"10.{VNIS[n]}.0.1",
                      cidr=f"10.{VNIS[n]}.0.0/24", segment=SegmentSpec(network_type="vxlan", segmentation_id=VNIS[n]))
        for n in (NET, NET2)]


def plug(port_id: str, network: str = NET, routed: bool = False) -> PortSpec:
    """A port; ``routed``: behind the router joining NET and NET2 (PlugPorts 1.6: it names both legs)."""
    kind = "vxlan" if network in VNIS else "flat"
    leg = next((leg for leg in LEGS if leg.network_id == network), None)
    routers = [RouterSpec(router_id="r1", subnet_id=leg.subnet_id, interface_port_id=leg.port_id,
                          interface_ip=leg.ip_address, cidr=leg.cidr, interfaces=LEGS)] if routed and leg else []
    return PortSpec(port_id=port_id, mac_address="fa:16:3e:00:00:01", network_id=network,
                    segment=SegmentSpec(network_type=kind, segmentation_id=VNIS.get(network)), routers=routers)


def address(port_id: str) -> NeighbourSpec:
    return NeighbourSpec(ip_address=f"10.0.0.{sum(map(ord, port_id)) % 250}", mac_address="fa:16:3e:00:00:01")


class Store:
    """The database both conductors read: where ports are bound, the networks' generations, the hosts."""

    def __init__(self) -> None:
        self.where: dict[str, tuple[str, str, str]] = {}
        """port -> (network, host, instance)"""
        self.generations: dict[str, int] = {}
        self.hosts = {h.host: h for h in (host("a", "10.0.0.1"), host("b", "10.0.0.2", 4790), host("sim", None))}
        self.asked: list[list[str]] = []
        self.routed: set[str] = set()
        """The networks the router r1 joins (set by a test; empty: no router)"""

    def ports_by_host(self, network_ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        found: dict[str, dict[str, list[str]]] = {}
        for port, (network, where, _instance) in sorted(self.where.items()):
            if network in network_ids:
                found.setdefault(network, {}).setdefault(where, []).append(port)
        return found

    def bound(self, port_ids: Sequence[str], member_changes: Sequence[str] = ()) -> dict[tuple[str, str],
                                                                                      list[PortSpec]]:
        self.asked.append(list(port_ids))
        return {(self.where[p][1], self.where[p][2]): [plug(p, self.where[p][0], self.where[p][0] in self.routed)]
                for p in port_ids}

    def peer_generations(self, network_ids: Sequence[str], raise_them: bool = False) -> dict[str, int]:
        for network in network_ids:
            self.generations[network] = self.generations.get(network, 0) + (1 if raise_them else 0)
        return {network: self.generations[network] for network in network_ids}

    def dhcp_servers(self, host: str, network_ids: Sequence[str]) -> dict[str, str]:
        return {}

    def release_dhcp(self, network_ids: Sequence[str]) -> None:
        pass

    def routed_networks(self, network_ids: Sequence[str]) -> dict[str, list[str]]:
        return {n: sorted(self.routed - {n}) for n in network_ids if n in self.routed}

    def neighbours(self, network_ids: Sequence[str]) -> dict[str, list[NeighbourSpec]]:
        return {n: [address(p) for p, (network, _h, _i) in sorted(self.where.items()) if network == n]
                for n in network_ids}

    def get_many(self, names: Iterable[str]) -> dict[str, ComputeHost]:
        return {name: self.hosts[name] for name in names if name in self.hosts}


class Conductor:
    """One conductor's TunnelPeers, sending its re-plugs (with the peers a plug carries) into ``sent``."""

    def __init__(self, runtime: SimRuntime, store: Store) -> None:
        self.store = store
        self.peers = TunnelPeers(runtime, store.get_many, 0.25)
        self.sent: list[tuple[str, str, dict[str, list[VtepSpec]], dict[str, int]]] = []

    def replug(self, host: str, instance: str, plugs: list[PortSpec]) -> None:
        told = self.peers.for_plug(self.store, host, plugs)
        self.sent.append((host, instance, told.peers, told.generations))

    def bind(self, port: str, where: str, instance: str, left: str | None = None, network: str = NET) -> None:
        self.store.where[port] = (network, where, instance)
        self.peers.changed(self.store, self.replug, [network], [where, left or ""])

    def release(self, port: str) -> None:
        network, where, _ = self.store.where.pop(port)
        self.peers.changed(self.store, self.replug, {network: [where]}, [where])

    def hosts_told(self) -> list[str]:
        return sorted(h for h, *_ in self.sent)


def setup() -> tuple[SimRuntime, Store, Conductor]:
    runtime = SimRuntime()
    store = Store()
    return runtime, store, Conductor(runtime, store)


def test_a_plug_names_the_other_hosts_endpoints_on_its_vxlan_networks_only() -> None:
    _runtime, store, conductor = setup()
    store.where = {"p1": (NET, "a", "vm1"), "p2": (NET, "b", "vm2"), "p3": (NET, "sim", "vm3"),
                   "f1": (FLAT, "a", "vm1")}
    peers = conductor.peers
    assert peers.for_plug(store, "a", [plug("p1"), plug("f1", FLAT)]).peers == {NET: [B]}
    assert peers.for_plug(store, "b", [plug("p2")]).peers == {NET: [A]}
    assert peers.for_plug(store, "sim", [plug("p3")]).peers == {}, "a host without an endpoint is told of none"


def test_a_network_gaining_or_losing_a_host_replugs_one_port_per_host_once_with_a_newer_generation() -> None:
    runtime, _store, conductor = setup()
    conductor.bind("p1", "a", "vm1")
    runtime.run(1)
    assert conductor.sent == [("a", "vm1", {NET: []}, {NET: 1})]
    conductor.sent.clear()
    for port, instance in (("p2", "vm2"), ("p4", "vm4")):  # two boots on b in one burst
        conductor.bind(port, "b", instance)
    runtime.run(2)
    assert sorted(conductor.sent) == [("a", "vm1", {NET: [B]}, {NET: 2}), ("b", "vm2", {NET: [A]}, {NET: 2})]
    conductor.sent.clear()
    for port in ("p2", "p4"):  # b's servers deleted
        conductor.release(port)
    runtime.run(3)
    assert conductor.sent == [("a", "vm1", {NET: []}, {NET: 3})]


def test_two_conductors_over_one_database_never_miss_a_replug() -> None:
    """Conductor one saw b join and leave's conductor two; b's return, through conductor one again, still tells a
    of b: nothing is compared with what one conductor last announced."""
    runtime, store, one = setup()
    two = Conductor(runtime, store)
    one.bind("p1", "a", "vm1")
    one.bind("p2", "b", "vm2")
    runtime.run(1)
    two.release("p2")  # b leaves, seen by the other conductor
    runtime.run(2)
    assert two.sent == [("a", "vm1", {NET: []}, {NET: 2})]
    one.sent.clear()
    one.bind("p5", "b", "vm5")  # b returns: the set is the one conductor one announced last
    runtime.run(3)
    assert sorted(one.sent) == [("a", "vm1", {NET: [B]}, {NET: 3}), ("b", "vm5", {NET: [A]}, {NET: 3})]


def test_a_restarted_conductor_replugs_after_a_delete() -> None:
    runtime, store, before = setup()
    before.bind("p1", "a", "vm1")
    before.bind("p2", "b", "vm2")
    runtime.run(1)
    restarted = Conductor(runtime, store)
    restarted.release("p2")
    runtime.run(2)
    assert restarted.sent == [("a", "vm1", {NET: []}, {NET: 2})], "b's entry on a goes"


def test_a_host_registering_a_new_endpoint_is_seen_by_every_conductor() -> None:
    runtime, store, _one = setup()
    two = Conductor(runtime, store)
    store.where = {"p1": (NET, "a", "vm1"), "p2": (NET, "b", "vm2")}
    assert two.peers.for_plug(store, "a", [plug("p1")]).peers == {NET: [B]}
    store.hosts["b"] = host("b", "10.0.0.9", 4790)  # b re-registered, through conductor one
    assert two.peers.for_plug(store, "a", [plug("p1")]).peers == {NET: [VtepSpec(ip="10.0.0.9", port=4790)]}


def test_a_guest_moving_to_a_host_without_an_endpoint_leaves_the_others_flooding_to_no_one() -> None:
    runtime, _store, conductor = setup()
    conductor.bind("p1", "a", "vm1")
    conductor.bind("p2", "b", "vm2")
    runtime.run(1)
    conductor.sent.clear()
    conductor.bind("p2", "sim", "vm2", left="b")  # vm2 moves from b (VXLAN) to sim (none)
    runtime.run(2)
    assert conductor.sent == [("a", "vm1", {NET: []}, {NET: 2})]


def test_a_flat_network_or_hosts_without_endpoints_cost_nothing() -> None:
    runtime, store, conductor = setup()
    store.where = {"f1": (FLAT, "a", "vm1"), "p3": (NET, "sim", "vm3")}
    conductor.peers.changed(store, conductor.replug, [], ["a"])  # a flat network's ports: no VXLAN network
    assert conductor.peers.for_plug(store, "sim", [plug("p3")]).peers == {}
    conductor.peers.changed(store, conductor.replug, [NET], ["sim"])
    runtime.run(1)
    assert conductor.sent == [] and store.asked == [] and store.generations == {}


def test_the_agent_keeps_the_newest_generation_whatever_order_plugs_arrive_in(tmp_path: Path) -> None:
    ports = PluggedPorts(tmp_path / "ports.json")
    ports.plug("vm1", [plug("p1")])
    ports.set_peers({NET: [A, B]}, {NET: 3})
    ports.set_peers({NET: [A]}, {NET: 2})  # an older plug, from another conductor or redelivered
    assert ports.peers() == {NET: [A, B]}
    ports.set_peers({NET: [B]}, {NET: 3})  # the same generation: the later plug read the database later
    assert PluggedPorts(tmp_path / "ports.json").peers() == {NET: [B]}
    ports.set_peers({NET: [A]})  # an older sender's (no generation): older than any
    assert PluggedPorts(tmp_path / "ports.json").peers() == {NET: [B]}
    ports.set_peers({NET: []}, {NET: 4})
    assert ports.peers() == {NET: []} and ports.generations() == {NET: 4}


def test_a_host_behind_a_router_is_a_member_of_each_of_its_networks_and_told_their_peers_and_servers() -> None:
    """a has a port on NET only, b on NET2 only, a router joins the two: each builds the router with a leg on both
    networks, so each floods both networks to the other, and its copy holds both networks' servers."""
    _runtime, store, conductor = setup()
    store.where = {"p1": (NET, "a", "vm1"), "p2": (NET2, "b", "vm2")}
    unrouted = conductor.peers.for_plug(store, "a", [plug("p1")])
    assert (unrouted.peers, unrouted.neighbours) == ({NET: []}, {}), "no router: b is not on a's network"
    store.routed = {NET, NET2}
    told = conductor.peers.for_plug(store, "a", [plug("p1", routed=True)])
    assert told.peers == {NET: [B], NET2: [B]}
    assert told.neighbours == {NET: [address("p1")], NET2: [address("p2")]}
    assert conductor.peers.for_plug(store, "b", [plug("p2", NET2, routed=True)]).peers == {NET: [A], NET2: [A]}


def test_a_server_behind_a_router_replugs_the_hosts_of_every_network_the_router_joins() -> None:
    runtime, store, conductor = setup()
    store.routed = {NET, NET2}
    conductor.bind("p1", "a", "vm1")
    runtime.run(1)
    conductor.sent.clear()
    conductor.bind("p2", "b", "vm2", network=NET2)  # b joins NET2: a, with a leg there, must flood to b, and back
    runtime.run(2)
    assert sorted(conductor.sent) == [("a", "vm1", {NET: [B], NET2: [B]}, {NET: 2, NET2: 2}),
                                      ("b", "vm2", {NET: [A], NET2: [A]}, {NET: 2, NET2: 2})]
    conductor.sent.clear()
    conductor.release("p2")
    runtime.run(3)
    assert conductor.sent == [("a", "vm1", {NET: [], NET2: []}, {NET: 3, NET2: 3})], "b left both networks"


def test_the_agent_keeps_a_routed_networks_peers_and_servers_with_the_router_that_needs_them(tmp_path: Path) -> None:
    ports = PluggedPorts(tmp_path / "ports.json")
    ports.plug("vm1", [plug("p1", routed=True)])
    ports.set_peers({NET: [], NET2: [B]}, {NET: 1, NET2: 1}, {NET: [address("p1")], NET2: [address("p2")]})
    again = PluggedPorts(tmp_path / "ports.json")
    assert again.peers() == {NET: [], NET2: [B]}, "no port here on NET2, but the router's leg is"
    assert again.neighbours() == {NET: [address("p1")], NET2: [address("p2")]}
    ports.set_peers({NET2: [B]}, {NET2: 0}, {})  # an older plug: ignored
    assert ports.neighbours()[NET2] == [address("p2")]
    ports.plug("vm1", [plug("p1")])  # the router went: its other network is forgotten
    assert ports.peers() == {NET: []} and NET2 not in ports.neighbours()
