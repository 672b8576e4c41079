"""A VXLAN tenant network between two real agents on this machine, through the unmodified ``openstack`` CLI.

The control plane and agent ``real-a`` run in ``twinstack serve --backend real``, agent ``real-b`` in a process of
its own over RabbitMQ, as in test_moves; each has a tunnel endpoint of its own (127.0.0.2 and 127.0.0.3, each on its
own UDP port: the kernel holds one VXLAN device per VNI and port) and its own bridge for the network. In order: one
server on each host, told to ping the other; both take their fixed IPs by DHCP (each from its own host's dnsmasq)
and their pings go through the tunnel; a cold migration moves the one on ``real-a`` to ``real-b``, where it boots
with the same address and the other reaches it again, and ``real-a``, left with no port on the network, keeps
nothing of it while ``real-b`` floods to no peer any more; a live migration takes it back to ``real-a`` running,
its NIC in ``real-a``'s bridge, and the two reach each other through the tunnel again; deleting everything leaves
neither VXLAN device, bridge nor namespace of either agent.
"""

from __future__ import annotations

import random
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OpenStackCLI
from tests.real.conftest import (
    IMAGE,
    wait_for,
)
from tests.real.test_moves import TwoHosts, two_hosts
from twinstack.real import net_names
from twinstack.real.test_image import PING_LINE, READY_LINE

pytestmark = pytest.mark.slow
CIDR = "10.78.9.0/24"
SERVERS = {"vx-1": ("real-a", "10.78.9.21"), "vx-2": ("real-b", "10.78.9.22")}
"""Each server's first host and fixed IP (ports made first, so each guest can be told to ping the other)."""
ENDPOINTS = {"real-a": "127.0.0.2", "real-b": "127.0.0.3"}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    port = random.randrange(20000, 60000, 2)  # a pair of our own: another run on this machine keeps its own
    tunnels = {host: {"TWINSTACK_REAL__TUNNEL_IP": ip, "TWINSTACK_REAL__TUNNEL_PORT": str(port + i)}
               for i, (host, ip) in enumerate(ENDPOINTS.items())}
    with two_hosts(tmp_path_factory.mktemp("vxlan"), tunnels["real-a"], tunnels["real-b"]) as running:
        yield running


@pytest.fixture(scope="module")
def openstack(hosts: TwoHosts) -> OpenStackCLI:
    return OpenStackCLI(hosts.served)


@pytest.fixture(scope="module")
def network(openstack: OpenStackCLI) -> dict[str, Any]:
    net: dict[str, Any] = openstack.json("network", "create", "vxnet")
    assert net["provider:network_type"] == "vxlan"
    openstack.json("subnet", "create", "--network", "vxnet", "--subnet-range", CIDR, "vxnet-subnet")
    return net


@pytest.fixture(scope="module")
def servers(openstack: OpenStackCLI, network: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for name, (_host, address) in SERVERS.items():
        openstack.json("port", "create", "--network", "vxnet", "--fixed-ip",
                       f"subnet=vxnet-subnet,ip-address={address}", f"{name}-port")
    created = {}
    for name, (host, _address) in SERVERS.items():
        other = next(a for n, (_h, a) in SERVERS.items() if n != name)
        created[name] = openstack.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--port",
                                       f"{name}-port", "--property", f"ping={other}", "--availability-zone",
                                       f"nova:{host}", "--wait", name)
    return created


def console(openstack: OpenStackCLI, name: str) -> str:
    return openstack.run("console", "log", "show", name).stdout


def host_of(openstack: OpenStackCLI, name: str) -> str:
    return str(openstack.json("server", "show", name)["OS-EXT-SRV-ATTR:host"])


def tag(hosts: TwoHosts, host: str) -> str:
    return net_names.agent_tag(str(hosts.states[host]))


def flooding_entries(device: str) -> set[str]:
    shown = subprocess.run(["bridge", "fdb", "show", "dev", device], capture_output=True, text=True).stdout
    return set(re.findall(r"^00:00:00:00:00:00 dst (\S+) port \d+", shown, re.MULTILINE))


def diagnose(hosts: TwoHosts, network_id: str) -> str:
    out = []
    for host in ENDPOINTS:
        t = tag(hosts, host)
        space = net_names.dhcp_namespace(network_id, t)
        for argv in (["bridge", "fdb", "show", "dev", net_names.vxlan(network_id, t)],
                     ["ip", "netns", "exec", space, "ip", "-o", "addr"],
                     ["cat", str(hosts.states[host] / "network" / "dhcp" / network_id / "hosts")],
                     ["cat", str(hosts.states[host] / "network" / "peers.json")]):
            done = subprocess.run(argv, capture_output=True, text=True)
            out.append(f"{host} $ {' '.join(argv)}\n{done.stdout}{done.stderr}")
    return "\n".join(out)


def answered_again(log: str) -> bool:
    """The guest's pings were answered, then not (its peer moving), then again."""
    answers = [a for _t, a in PING_LINE.findall(log)]
    return "ok" in answers and "failed" in answers[answers.index("ok"):] and answers[-1] == "ok"


def has_link(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode == 0


def master_of(name: str) -> str | None:
    shown = subprocess.run(["ip", "-o", "link", "show", "dev", name], capture_output=True, text=True).stdout
    found = re.search(r" master (\S+) ", shown)
    return found[1] if found else None


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def test_servers_on_two_hosts_take_their_addresses_by_dhcp_and_ping_each_other_through_the_tunnel(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]], network: dict[str, Any], hosts: TwoHosts
) -> None:
    assert {name: host_of(openstack, name) for name in SERVERS} == {n: h for n, (h, _a) in SERVERS.items()}
    for name, (_host, address) in SERVERS.items():
        log = wait_for(lambda name=name: (out := console(openstack, name)) and READY_LINE.search(out) and out, 90,
                       f"{name} to boot", every=1)
        assert re.search(rf"^twinstack-guest: eth0 {re.escape(address)}/24\s*$", log, re.MULTILINE), log[-2000:]
    for name in SERVERS:
        wait_for(lambda name=name: ("ok" in [a for _t, a in PING_LINE.findall(console(openstack, name))]), 60,
                 f"{name}'s pings of the other host's server to be answered", every=1)
    vxlan = {host: net_names.vxlan(network["id"], tag(hosts, host)) for host in ENDPOINTS}
    assert flooding_entries(vxlan["real-a"]) == {ENDPOINTS["real-b"]}
    assert flooding_entries(vxlan["real-b"]) == {ENDPOINTS["real-a"]}
    # each host's dnsmasq serves from the address of its own network:dhcp port, reserved in IPAM
    listed = openstack.json("port", "list", "--device-owner", "network:dhcp", "--network", network["id"])
    reserved = set(re.findall(r"\d+\.\d+\.\d+\.\d+", str([p["Fixed IP Addresses"] for p in listed])))
    assert len(listed) == 2 and len(reserved) == 2, listed
    served = set()
    for host in ENDPOINTS:
        space = net_names.dhcp_namespace(network["id"], tag(hosts, host))
        shown = subprocess.run(["ip", "netns", "exec", space, "ip", "-o", "addr"], capture_output=True, text=True)
        served |= reserved & set(re.findall(r"inet ([\d.]+)/", shown.stdout))
    assert served == reserved, diagnose(hosts, network["id"])


def test_a_cold_migrated_server_keeps_its_address_and_the_other_server_reaches_it(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]], network: dict[str, Any], hosts: TwoHosts
) -> None:
    openstack.run("server", "migrate", "--wait", "vx-1")
    assert host_of(openstack, "vx-1") == "real-b"
    log = wait_for(lambda: (out := console(openstack, "vx-1")) and READY_LINE.search(out) and out, 90,
                   "vx-1 to boot on real-b", every=1)
    assert re.search(rf"^twinstack-guest: eth0 {re.escape(SERVERS['vx-1'][1])}/24\s*$", log, re.MULTILINE), (
        [line for line in log.splitlines() if "twinstack-guest" in line], diagnose(hosts, network["id"]))
    openstack.run("server", "migrate", "confirm", "vx-1")
    wait_for(lambda: openstack.json("server", "show", "vx-1")["status"] == "ACTIVE", 60, "the migration confirmed")
    wait_for(lambda: answered_again(console(openstack, "vx-2"))
             and "ok" in [a for _t, a in PING_LINE.findall(console(openstack, "vx-1"))], 60,
             "the two servers to reach each other again", every=1)
    a, b = tag(hosts, "real-a"), tag(hosts, "real-b")
    # real-a has no port on the network any more: nothing of it stays there, and real-b floods to no one
    wait_for(lambda: not has_link(net_names.bridge(network["id"], a)), 30, "real-a's bridge to go")
    assert not has_link(net_names.vxlan(network["id"], a))
    assert net_names.dhcp_namespace(network["id"], a) not in namespaces()
    wait_for(lambda: flooding_entries(net_names.vxlan(network["id"], b)) == set(), 30, "real-b to forget real-a")


def test_a_live_migration_back_keeps_the_guest_running_in_the_new_hosts_bridge_and_reachable_through_the_tunnel(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]], network: dict[str, Any], hosts: TwoHosts
) -> None:
    openstack.run("server", "migrate", "--live-migration", "--wait", "vx-1")
    assert host_of(openstack, "vx-1") == "real-a"
    a, b = tag(hosts, "real-a"), tag(hosts, "real-b")
    tap = net_names.tap(openstack.json("port", "show", "vx-1-port")["id"])
    # the guest arrived with its NIC in real-a's bridge, not in the one real-b had it in
    assert master_of(tap) == net_names.bridge(network["id"], a)
    assert console(openstack, "vx-1").count("twinstack-guest: ready") == 1, "running on, not booted again"
    wait_for(lambda: flooding_entries(net_names.vxlan(network["id"], b)) == {ENDPOINTS["real-a"]}
             and flooding_entries(net_names.vxlan(network["id"], a)) == {ENDPOINTS["real-b"]}, 30,
             "both hosts to flood to each other again")
    wait_for(lambda: PING_LINE.findall(console(openstack, "vx-2"))[-1:] == [(SERVERS["vx-1"][1], "ok")], 30,
             "vx-2 to reach vx-1 through the tunnel", every=1)
    time.sleep(3)  # three more pings each way (a paused guest's missed ones print 'failed' first), all answered
    assert PING_LINE.findall(console(openstack, "vx-2"))[-1:] == [(SERVERS["vx-1"][1], "ok")]
    assert PING_LINE.findall(console(openstack, "vx-1"))[-1:] == [(SERVERS["vx-2"][1], "ok")]


def test_deleting_everything_leaves_no_tunnel_bridge_or_namespace_on_either_host(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]], network: dict[str, Any], hosts: TwoHosts
) -> None:
    openstack.run("server", "delete", "--wait", *SERVERS)
    openstack.run("port", "delete", *(f"{name}-port" for name in SERVERS))  # made by the test: kept until now
    openstack.run("network", "delete", "vxnet")
    links = [make(network["id"], tag(hosts, host)) for host in ENDPOINTS
             for make in (net_names.bridge, net_names.vxlan, net_names.dhcp_host_side)]
    spaces = [net_names.dhcp_namespace(network["id"], tag(hosts, host)) for host in ENDPOINTS]

    def leftovers() -> list[str]:
        return [n for n in links if has_link(n)] + [n for n in spaces if n in namespaces().split()]

    wait_for(lambda: not leftovers(), 30, "both hosts' networks to be cleaned")
    for state in hosts.states.values():
        assert Path(state / "network" / "owned.json").read_text() == '{"links": [], "namespaces": []}'
