"""The conductor's VXLAN peers (Neutron's l2population): a plug names the other hosts' endpoints on each VXLAN
network of its ports; a change of a network's hosts re-plugs one port on each of its hosts, once per burst; a boot
on a host already there, a host without an endpoint, or a network of another type sends nothing more."""

from __future__ import annotations

from collections.abc import Sequence

from twinstack.core.compute.model import ComputeHost
from twinstack.core.compute.tunnel_peers import TunnelPeers
from twinstack.rpc.network import PortSpec, SegmentSpec, VtepSpec
from twinstack.sim.runtime import SimRuntime

NET, FLAT = "net-vx", "net-flat"


def host(name: str, ip: str | None, port: int = 4789) -> ComputeHost:
    return ComputeHost(host=name, agent="a", cell="cell1", availability_zone="nova", rack=None, hypervisor_type="QEMU",
                       hypervisor_hostname=name, host_ip="127.0.0.1", inventory={}, traits=[], last_heartbeat=0.0,
                       tunnel_ip=ip, tunnel_port=port)


def plug(port_id: str, network: str = NET) -> PortSpec:
    kind = "vxlan" if network == NET else "flat"
    return PortSpec(port_id=port_id, mac_address="fa:16:3e:00:00:01", network_id=network,
                    segment=SegmentSpec(network_type=kind, segmentation_id=42 if kind == "vxlan" else None))


class Layout:
    """Where ports are bound, as the network service would answer."""

    def __init__(self) -> None:
        self.where: dict[str, tuple[str, str, str]] = {}
        """port -> (network, host, instance)"""
        self.asked: list[list[str]] = []

    def ports_by_host(self, network_ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
        found: dict[str, dict[str, list[str]]] = {}
        for port, (network, where, _instance) in sorted(self.where.items()):
            if network in network_ids:
                found.setdefault(network, {}).setdefault(where, []).append(port)
        return found

    def bound(self, port_ids: Sequence[str], member_changes: Sequence[str] = ()) -> dict[tuple[str, str],
                                                                                      list[PortSpec]]:
        self.asked.append(list(port_ids))
        return {(self.where[p][1], self.where[p][2]): [plug(p, self.where[p][0])] for p in port_ids}


def setup() -> tuple[SimRuntime, TunnelPeers, Layout, list[tuple[str, str]]]:
    runtime = SimRuntime()
    known = {h.host: h for h in (host("a", "10.0.0.1"), host("b", "10.0.0.2", 4790), host("sim", None))}
    peers = TunnelPeers(runtime, known.get, 0.25)
    return runtime, peers, Layout(), []


def test_a_plug_names_the_other_hosts_endpoints_on_its_vxlan_networks_only() -> None:
    _runtime, peers, layout, _sent = setup()
    layout.where = {"p1": (NET, "a", "vm1"), "p2": (NET, "b", "vm2"), "p3": (NET, "sim", "vm3"),
                    "f1": (FLAT, "a", "vm1")}
    assert peers.for_plug(layout, "a", [plug("p1"), plug("f1", FLAT)]) == {NET: [VtepSpec(ip="10.0.0.2", port=4790)]}
    assert peers.for_plug(layout, "b", [plug("p2")]) == {NET: [VtepSpec(ip="10.0.0.1", port=4789)]}
    assert peers.for_plug(layout, "sim", [plug("p3")]) == {}, "a host without an endpoint is told of none"


def test_a_network_gaining_or_losing_a_host_replugs_one_port_per_host_once() -> None:
    runtime, peers, layout, sent = setup()

    def replug(host: str, instance: str, plugs: list[PortSpec]) -> None:
        sent.append((host, instance))

    layout.where = {"p1": (NET, "a", "vm1")}
    peers.changed(layout, replug, [plug("p1")], "a")
    runtime.run(1)
    sent.clear()  # the network's first host: told once, then known
    layout.where.update({"p2": (NET, "b", "vm2"), "p4": (NET, "b", "vm4")})
    for port in ("p2", "p4"):  # two boots on b in one burst
        peers.changed(layout, replug, [plug(port)], "b")
    runtime.run(2)
    assert sorted(sent) == [("a", "vm1"), ("b", "vm2")]
    sent.clear()
    layout.where["p5"] = (NET, "a", "vm5")  # a boot on a host already on the network: the endpoints are the same
    peers.changed(layout, replug, [plug("p5")], "a")
    runtime.run(3)
    assert sent == []
    for port in ("p2", "p4"):  # b's servers deleted: their ports are gone, the conductor no longer knows them
        del layout.where[port]
    peers.changed(layout, replug)
    runtime.run(4)
    assert sent == [("a", "vm1")]


def test_a_flat_network_or_hosts_without_endpoints_cost_nothing() -> None:
    runtime, peers, layout, sent = setup()
    layout.where = {"f1": (FLAT, "a", "vm1"), "p3": (NET, "sim", "vm3")}
    peers.changed(layout, lambda h, i, p: sent.append((h, i)), [plug("f1", FLAT)], "a")
    assert peers.for_plug(layout, "sim", [plug("p3")]) == {}
    peers.changed(layout, lambda h, i, p: sent.append((h, i)), [plug("p3")], "sim")
    peers.changed(layout, lambda h, i, p: sent.append((h, i)))  # nothing announced yet: nothing to look at
    runtime.run(1)
    assert sent == [] and layout.asked == []
