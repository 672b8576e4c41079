"""VXLAN between two agents' host networks on this machine, without guests: each agent's plan for a VXLAN network
makes a bridge of its own (the names carry the agent's tag) with a VXLAN device bound to its endpoint and one
flooding entry per peer; two namespaces standing in for guests, one on each bridge, reach each other through the
tunnel, each takes its address by DHCP from its own host's dnsmasq (the other's stays silent), a change of peers
rewrites the entries, and an empty plan leaves neither device, bridge nor namespace behind. And the plan itself:
a VXLAN network is tunnelled only where the agent has an endpoint, and its DHCP address ranks among the peers'."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.conftest import state_dir, wait_for
from tests.real.test_net_pieces import NET
from twinstack.real import net_names, privileged
from twinstack.real.dhcp_config import DhcpFiles, dnsmasq_argv
from twinstack.real.host_network import HostNetwork
from twinstack.real.net_plan import plan
from twinstack.rpc.network import FixedIpSpec, PortSpec, RouterSpec, SegmentSpec, VtepSpec

VNI = 4242
CIDR = "10.77.0.0/24"


def vxlan_port(port_id: str, ip: str, mac: str) -> PortSpec:
    return PortSpec(port_id=port_id, mac_address=mac, network_id=NET,
                    segment=SegmentSpec(network_type="vxlan", segmentation_id=VNI, mtu=1450),
                    fixed_ips=[FixedIpSpec(subnet_id="sub-1", ip_address=ip, cidr=CIDR, gateway_ip="10.77.0.1")],
                    port_security_enabled=False)


class Host:
    """One agent's network on this machine: its state directory, endpoint, and a namespace as its guest."""

    def __init__(self, name: str, endpoint: VtepSpec, port: PortSpec) -> None:
        self.state = state_dir()
        self.network = HostNetwork(self.state)
        self.endpoint, self.port = endpoint, port
        self.tag = net_names.agent_tag(str(self.state))
        self.guest = f"tsvt-{name}-{self.tag}"
        self.guest_link = f"tsvt{name}{self.tag}"

    def apply(self, *peers: VtepSpec) -> None:
        self.network.apply(plan({"vm": [self.port]}, {NET: list(peers)}, self.endpoint))

    @property
    def bridge(self) -> str:
        return net_names.bridge(NET, self.tag)

    @property
    def vxlan(self) -> str:
        return net_names.vxlan(NET, self.tag)

    def plug_guest(self) -> None:
        """A veth from the bridge into a namespace of its own, with the port's MAC (what libvirt's tap would be)."""
        privileged.add_namespace(self.guest)
        privileged.netlink(None, "link", "add", ifname=self.guest_link, kind="veth", mtu=1450,
                           peer={"ifname": "eth0", "net_ns_fd": self.guest, "address": self.port.mac_address,
                                 "mtu": 1450})
        index = privileged.netlink(None, "link_lookup", ifname=self.guest_link)[0]
        bridge = privileged.netlink(None, "link_lookup", ifname=self.bridge)[0]
        privileged.netlink(None, "link", "set", index=index, master=bridge, state="up")
        inside = privileged.netlink(self.guest, "link_lookup", ifname="eth0")[0]
        privileged.netlink(self.guest, "link", "set", index=inside, state="up")

    def in_guest(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.guest, *argv], capture_output=True, text=True, timeout=30)

    def lease(self) -> tuple[str, str]:
        """(address, server) of a DHCP lease taken in the guest."""
        done = self.in_guest("busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s",
                             "/bin/true")
        found = re.search(r"lease of ([\d.]+) obtained from ([\d.]+)", done.stdout + done.stderr)
        assert found, done.stdout + done.stderr
        return found[1], found[2]

    def close(self) -> None:
        privileged.delete_link(None, self.guest_link)
        privileged.remove_namespace(self.guest)
        HostNetwork(self.state).apply(plan({}))
        shutil.rmtree(self.state, ignore_errors=True)


def flooding_entries(device: str, own_port: int | None = None) -> set[str]:
    """dst:port of the device's flooding entries; ``bridge`` (as the kernel) leaves out a port equal to the
    device's own, read as ``own_port``."""
    shown = subprocess.run(["bridge", "fdb", "show", "dev", device], capture_output=True, text=True).stdout
    return {f"{m[0]}:{m[1] or own_port}"
            for m in re.findall(r"^00:00:00:00:00:00 dst (\S+)(?: port (\d+))?", shown, re.MULTILINE)}


@pytest.fixture
def hosts() -> Iterator[tuple[Host, Host]]:
    base = random.randrange(20000, 60000, 2)  # a port pair of our own: other runs on this machine keep theirs
    a = Host("a", VtepSpec(ip="127.0.0.2", port=base), vxlan_port("p-a", "10.77.0.5", "fa:16:3e:77:00:0a"))
    b = Host("b", VtepSpec(ip="127.0.0.3", port=base + 1), vxlan_port("p-b", "10.77.0.6", "fa:16:3e:77:00:0b"))
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_two_agents_bridges_joined_by_vxlan_carry_traffic_and_dhcp_and_leave_nothing(hosts: tuple[Host, Host]) -> None:
    a, b = hosts
    a.apply(b.endpoint)
    b.apply(a.endpoint)
    assert a.bridge != b.bridge and a.vxlan != b.vxlan, "each agent has a bridge and a tunnel device of its own"
    assert all(len(name) <= 15 for name in (a.bridge, a.vxlan))
    assert flooding_entries(a.vxlan) == {f"127.0.0.3:{b.endpoint.port}"}
    assert flooding_entries(b.vxlan) == {f"127.0.0.2:{a.endpoint.port}"}
    shown = subprocess.run(["ip", "-d", "link", "show", a.vxlan], capture_output=True, text=True).stdout
    assert f"vxlan id {VNI} local 127.0.0.2" in shown and f"dstport {a.endpoint.port}" in shown
    assert "nolearning" in shown

    for host in (a, b):
        host.plug_guest()
    leases = {}
    for host in (a, b):  # the request floods to both hosts; only the host holding the port answers
        leases[host.port.port_id] = host.lease()
    # each host's dnsmasq has an address of its own on the one segment (its rank among the endpoints)
    assert leases == {"p-a": ("10.77.0.5", "10.77.0.254"), "p-b": ("10.77.0.6", "10.77.0.253")}

    for host in (a, b):
        index = privileged.netlink(host.guest, "link_lookup", ifname="eth0")[0]
        privileged.netlink(host.guest, "addr", "add", index=index, address=host.port.fixed_ips[0].ip_address,
                           prefixlen=24)
    pinged = a.in_guest("busybox", "ping", "-c", "2", "-W", "2", "10.77.0.6")
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    assert b.in_guest("busybox", "ping", "-c", "1", "-W", "2", "10.77.0.5").returncode == 0

    a.apply()  # b left the network (the conductor re-plugs with no peers): nothing floods there any more
    assert flooding_entries(a.vxlan) == set()
    subprocess.run(["ip", "netns", "exec", a.guest, "ip", "neigh", "flush", "all"], check=False)
    assert a.in_guest("busybox", "ping", "-c", "1", "-W", "2", "10.77.0.6").returncode != 0
    b.apply()  # alone too, b's dnsmasq moves to the top address, and still answers there
    assert b.lease() == ("10.77.0.6", "10.77.0.254")
    a.apply(b.endpoint)
    assert flooding_entries(a.vxlan) == {f"127.0.0.3:{b.endpoint.port}"}
    b.apply(a.endpoint)
    wait_for(lambda: a.in_guest("busybox", "ping", "-c", "1", "-W", "1", "10.77.0.6").returncode == 0, 10,
             "the peer to answer again")

    for host in (a, b):
        privileged.delete_link(None, host.guest_link)
        HostNetwork(host.state).apply(plan({}))
        assert HostNetwork(host.state).owned() == (set(), set())
    for name in (a.bridge, a.vxlan, b.bridge, b.vxlan):
        assert subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode != 0, name
    assert not {net_names.dhcp_namespace(NET, a.tag), net_names.dhcp_namespace(NET, b.tag)} & set(
        privileged.namespaces())


def test_each_host_s_copy_of_a_router_answers_only_its_own_guests(hosts: tuple[Host, Host]) -> None:
    """Both hosts build the router behind their ports (one gateway address, one MAC derived from the router port):
    a guest's ARP for the gateway is answered once, by its own host's copy, whose MAC its bridge learns on the
    local leg, never on the tunnel; the guests still reach each other through it."""
    a, b = hosts
    router = RouterSpec(router_id="r-vx", subnet_id="sub-1", interface_port_id="rp-vx", interface_ip="10.77.0.1",
                        cidr=CIDR)
    for host in (a, b):
        host.port = host.port.model_copy(update={"routers": [router]})
    a.apply(b.endpoint)
    b.apply(a.endpoint)
    for host in (a, b):
        host.plug_guest()
        index = privileged.netlink(host.guest, "link_lookup", ifname="eth0")[0]
        privileged.netlink(host.guest, "addr", "add", index=index, address=host.port.fixed_ips[0].ip_address,
                           prefixlen=24)
    assert a.in_guest("busybox", "ping", "-c", "1", "-W", "2", "10.77.0.6").returncode == 0
    mac = net_names.router_mac("rp-vx")
    for host in (a, b):
        answered = host.in_guest("busybox", "arping", "-c", "2", "-w", "3", "-I", "eth0", "10.77.0.1")
        assert "Received 2 response" in answered.stdout, answered.stdout + answered.stderr
        assert mac in answered.stdout.lower()
        shown = subprocess.run(["bridge", "fdb", "show", "br", host.bridge], capture_output=True, text=True).stdout
        assert f"{mac} dev {host.vxlan}" not in shown, shown
        leg = net_names.router_interface_host_side("rp-vx", host.tag)
        assert f"{mac} dev {leg} master {host.bridge}" in shown, shown


def test_a_peer_on_the_agents_own_port_is_removed_when_it_leaves() -> None:
    """Both agents on one non-default port: the kernel dumps such a peer's entry without a port; it is still the
    peer's, and goes when the peer does (else the agent floods to a departed host for good)."""
    port = random.randrange(20000, 60000)
    a = Host("a", VtepSpec(ip="127.0.0.2", port=port), vxlan_port("p-a", "10.77.0.5", "fa:16:3e:77:00:0a"))
    peer, other = VtepSpec(ip="127.0.0.3", port=port), VtepSpec(ip="127.0.0.4", port=port)
    try:
        a.apply(peer, other)
        assert flooding_entries(a.vxlan, port) == {f"127.0.0.3:{port}", f"127.0.0.4:{port}"}
        a.apply(other)  # the peer left
        assert flooding_entries(a.vxlan, port) == {f"127.0.0.4:{port}"}
        a.apply(other)  # nothing to change: nothing added or removed
        assert flooding_entries(a.vxlan, port) == {f"127.0.0.4:{port}"}
        a.apply()
        assert flooding_entries(a.vxlan, port) == set()
    finally:
        a.close()


def test_a_plan_tunnels_a_vxlan_network_only_with_an_endpoint_and_ranks_its_dhcp_address_among_the_peers() -> None:
    here, peer, other = VtepSpec(ip="10.0.0.3"), VtepSpec(ip="10.0.0.2"), VtepSpec(ip="10.0.0.9")
    port_here = vxlan_port("p-a", "10.77.0.5", "fa:16:3e:77:00:0a")
    alone = plan({"vm": [port_here]}).networks[NET]
    assert (alone.vni, alone.peers, alone.dhcp_subnets[0].server_ip) == (None, (), "10.77.0.254")
    tunnelled = plan({"vm": [port_here]}, {NET: [other, here, peer]}, here).networks[NET]
    assert (tunnelled.vni, tunnelled.local) == (VNI, here)
    assert tunnelled.peers == (peer, other), "itself is no peer; in address order"
    assert tunnelled.dhcp_subnets[0].server_ip == "10.77.0.253", "second of three endpoints: second from the top"
    reserved = plan({"vm": [port_here]}, {NET: [other, here, peer]}, here, {"sub-1": "10.77.0.2"}).networks[NET]
    assert reserved.dhcp_subnets[0].server_ip == "10.77.0.2", "the DHCP port the network service reserved"
    flat = port_here.model_copy(update={"segment": SegmentSpec(network_type="flat", mtu=1500)})
    assert plan({"vm": [flat]}, {NET: [peer]}, here).networks[NET].vni is None
    assert "--dhcp-ignore=tag:!known" in dnsmasq_argv(tunnelled, "eth0", DhcpFiles(Path("/x")))
