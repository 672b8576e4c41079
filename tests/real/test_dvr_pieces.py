"""Distributed routing between two agents' host networks on this machine, without guests (namespaces stand in).

A router joins two VXLAN networks; host ``a`` has a port on the first only, host ``b`` on the second only. Each
builds its copy of the router with a leg on *both* networks (Neutron's DVR): so a packet from ``a``'s guest to
``b``'s is routed on ``a``, leaves on ``a``'s bridge of the second network, crosses that network's tunnel with
``a``'s own MAC (never the leg's, which both copies hold), and reaches ``b``'s guest; the reply is routed on ``b``
the same way. Neither copy asks over a tunnel for an address (they hold the servers' as permanent neighbours), and
an empty plan leaves nothing behind. And the plan itself: every leg, its network's tunnel and neighbours.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.real.conftest import state_dir
from twinstack.real import net_names, nft_rules, privileged
from twinstack.real.host_network import HostNetwork
from twinstack.real.net_plan import DhcpHost, HostPlan, plan
from twinstack.rpc.network import (
    FixedIpSpec,
    NeighbourSpec,
    PortSpec,
    RouterLegSpec,
    RouterSpec,
    SegmentSpec,
    VtepSpec,
)

NET1, NET2 = "dvr-net-1", "dvr-net-2"
SEGMENTS = {NET1: SegmentSpec(network_type="vxlan", segmentation_id=4301, mtu=1450),
            NET2: SegmentSpec(network_type="vxlan", segmentation_id=4302, mtu=1450)}
CIDRS = {NET1: "10.81.1.0/24", NET2: "10.81.2.0/24"}
LEGS = [RouterLegSpec(port_id=f"dvr-leg-{n[-1]}", network_id=n, subnet_id=f"sub-{n}", ip_address=CIDRS[n][:-4] + "1",
                      cidr=CIDRS[n], segment=SEGMENTS[n]) for n in (NET1, NET2)]


def routed_port(port_id: str, network: str, ip: str, mac: str) -> PortSpec:
    leg = next(leg for leg in LEGS if leg.network_id == network)
    router = RouterSpec(router_id="dvr-router", subnet_id=leg.subnet_id, interface_port_id=leg.port_id,
                        interface_ip=leg.ip_address, cidr=leg.cidr, interfaces=LEGS)
    return PortSpec(port_id=port_id, mac_address=mac, network_id=network, segment=SEGMENTS[network],
                    fixed_ips=[FixedIpSpec(subnet_id=leg.subnet_id, ip_address=ip, cidr=leg.cidr,
                                           gateway_ip=leg.ip_address)],
                    port_security_enabled=False, routers=[router])


PORTS = {"a": routed_port("dvr-p-a", NET1, "10.81.1.5", "fa:16:3e:81:01:05"),
         "b": routed_port("dvr-p-b", NET2, "10.81.2.6", "fa:16:3e:81:02:06")}
NEIGHBOURS = {p.network_id: [NeighbourSpec(ip_address=p.fixed_ips[0].ip_address, mac_address=p.mac_address)]
              for p in PORTS.values()}


class Host:
    def __init__(self, name: str, endpoint: VtepSpec) -> None:
        self.name, self.endpoint, self.port = name, endpoint, PORTS[name]
        self.state = state_dir()
        self.network = HostNetwork(self.state)
        self.tag = net_names.agent_tag(str(self.state))
        self.guest = f"tsdvr-{name}-{self.tag}"
        self.guest_link = f"tsdv{name}{self.tag}"

    def plan(self, peer: VtepSpec | None) -> HostPlan:
        peers = {n: [peer] for n in (NET1, NET2)} if peer else {}
        return plan({"vm": [self.port]}, peers, self.endpoint, {}, NEIGHBOURS)

    def bridge(self, network: str) -> str:
        return net_names.bridge(network, self.tag)

    def plug_guest(self) -> None:
        """A namespace on the port's bridge with its MAC and address, its default route by the router."""
        fixed = self.port.fixed_ips[0]
        privileged.add_namespace(self.guest)
        privileged.netlink(None, "link", "add", ifname=self.guest_link, kind="veth", mtu=1450,
                           peer={"ifname": "eth0", "net_ns_fd": self.guest, "address": self.port.mac_address,
                                 "mtu": 1450})
        index = privileged.netlink(None, "link_lookup", ifname=self.guest_link)[0]
        bridge = privileged.netlink(None, "link_lookup", ifname=self.bridge(self.port.network_id))[0]
        privileged.netlink(None, "link", "set", index=index, master=bridge, state="up")
        inside = privileged.netlink(self.guest, "link_lookup", ifname="eth0")[0]
        privileged.netlink(self.guest, "link", "set", index=inside, state="up")
        privileged.netlink(self.guest, "addr", "add", index=inside, address=fixed.ip_address, prefixlen=24)
        privileged.netlink(self.guest, "route", "add", dst="0.0.0.0/0", gateway=fixed.gateway_ip)

    def ping(self, address: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.guest, "busybox", "ping", "-c", "2", "-W", "2", address],
                              capture_output=True, text=True, timeout=30)

    def close(self) -> None:
        privileged.delete_link(None, self.guest_link)
        if self.guest in privileged.namespaces():
            privileged.remove_namespace(self.guest)
        HostNetwork(self.state).apply(plan({}))
        shutil.rmtree(self.state, ignore_errors=True)


@pytest.fixture
def hosts() -> Iterator[tuple[Host, Host]]:
    base = random.randrange(20000, 60000, 2)
    a, b = Host("a", VtepSpec(ip="127.0.0.2", port=base)), Host("b", VtepSpec(ip="127.0.0.3", port=base + 1))
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def fdb(bridge: str) -> str:
    return subprocess.run(["bridge", "fdb", "show", "br", bridge], capture_output=True, text=True).stdout


def test_each_copy_of_a_router_has_a_leg_on_every_subnet_with_its_tunnel_and_its_servers() -> None:
    here, peer = VtepSpec(ip="10.0.0.1"), VtepSpec(ip="10.0.0.2")
    built = plan({"vm": [PORTS["a"]]}, {NET1: [peer], NET2: [peer]}, here, {}, NEIGHBOURS)
    assert sorted(built.networks) == [NET1, NET2]
    other = built.networks[NET2]
    assert (other.vni, other.local, other.peers, other.dhcp_subnets) == (4302, here, (peer,), ()), (
        "a bridge tunnelled to the peers, and no DHCP: no port of this host is there")
    legs = {leg.network_id: leg for leg in built.routers["dvr-router"].interfaces}
    assert {n: (leg.ip, leg.neighbours) for n, leg in legs.items()} == {
        NET1: ("10.81.1.1", (DhcpHost("fa:16:3e:81:01:05", "10.81.1.5"),)),
        NET2: ("10.81.2.1", (DhcpHost("fa:16:3e:81:02:06", "10.81.2.6"),))}
    alone = plan({"vm": [PORTS["a"]]}).routers["dvr-router"].interfaces
    assert [leg.neighbours for leg in alone] == [(), ()], "a network this host does not tunnel needs no entries"
    older = PORTS["a"].model_copy(update={"routers": [PORTS["a"].routers[0].model_copy(update={"interfaces": []})]})
    assert sorted(plan({"vm": [older]}, {}, here).networks) == [NET1], "an older sender's plug: its own leg only"


def test_the_tunnel_takes_a_routed_frame_with_the_hosts_own_mac_and_nothing_else_of_the_leg() -> None:
    leg = nft_rules.LocalRouterLeg("tsvx", "fa:16:3f:00:00:01", "10.81.2.1", "fa:16:3d:00:00:02")
    ruleset = nft_rules.firewall_ruleset("twinstack_t", [], router_legs=[leg])
    lines = [line.strip() for line in ruleset.splitlines() if '"tsvx"' in line]
    rewrite = 'oifname "tsvx" ether saddr fa:16:3f:00:00:01 ether type ip ether saddr set fa:16:3d:00:00:02 accept'
    assert rewrite in lines
    assert lines.index('oifname "tsvx" arp saddr ip 10.81.2.1 drop') < lines.index(rewrite), "its ARP never leaves"
    assert lines.index(rewrite) < lines.index('oifname "tsvx" ether saddr fa:16:3f:00:00:01 drop')
    done = subprocess.run(["nft", "-c", "-f", "-"], input=ruleset, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + ruleset


def test_a_guest_reaches_one_on_another_subnet_and_host_through_each_hosts_own_copy_of_the_router(
    hosts: tuple[Host, Host],
) -> None:
    a, b = hosts
    a.network.apply(a.plan(b.endpoint))
    b.network.apply(b.plan(a.endpoint))
    for host in (a, b):
        for network in (NET1, NET2):  # a leg and a tunnel on both networks, DHCP only where its port is
            assert subprocess.run(["ip", "link", "show", "dev", net_names.vxlan(network, host.tag)],
                                  capture_output=True).returncode == 0
        space = net_names.router_namespace("dvr-router", host.tag)
        shown = subprocess.run(["ip", "netns", "exec", space, "ip", "neigh", "show", "nud", "permanent"],
                               capture_output=True, text=True).stdout
        assert "10.81.1.5 " in shown and "10.81.2.6 " in shown, shown
        for leg in LEGS:  # what a leg routes onto a tunnel fits the network's MTU
            inside = subprocess.run(["ip", "netns", "exec", space, "ip", "link", "show",
                                     net_names.router_interface_inside(leg.port_id)], capture_output=True, text=True)
            assert " mtu 1450 " in inside.stdout, inside.stdout + inside.stderr
    assert net_names.dhcp_namespace(NET2, a.tag) not in privileged.namespaces()
    for host in (a, b):
        host.plug_guest()
    pinged = a.ping("10.81.2.6")
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    pinged = b.ping("10.81.1.5")
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    # each bridge learnt the other host's own MAC on the tunnel, never the legs' MAC all copies share
    mac_a = net_names.tunnel_router_mac(a.endpoint.ip, a.endpoint.port)
    assert f"{mac_a} dev {net_names.vxlan(NET2, b.tag)}" in fdb(b.bridge(NET2)), fdb(b.bridge(NET2))
    for host in (a, b):
        for network in (NET1, NET2):
            shown = fdb(host.bridge(network))
            for leg in LEGS:
                assert f"{net_names.router_mac(leg.port_id)} dev {net_names.vxlan(network, host.tag)}" not in shown

    for host in (a, b):
        privileged.delete_link(None, host.guest_link)
        host.network.apply(plan({}))
        assert host.network.owned() == (set(), set())
        assert net_names.router_namespace("dvr-router", host.tag) not in privileged.namespaces()
