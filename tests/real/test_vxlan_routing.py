"""Routing between two subnets across two real agents, through the unmodified ``openstack`` CLI (Neutron's DVR,
east-west).

The two agents of test_vxlan (``real-a`` in ``twinstack serve --backend real``, ``real-b`` in a process of its own
over RabbitMQ, each with a tunnel endpoint of its own). Two VXLAN networks with a subnet each, one router with an
interface on both; a server on ``real-a`` in the first, one on ``real-b`` in the second, each told to ping the
other. Each host holds a copy of the router with a leg on *both* subnets, though it has a port on one only: a
packet is routed on the host it starts from, leaves on the destination subnet's bridge there and crosses that
network's tunnel to the destination's host. So each host tunnels both networks (the one it has no port on with no
DHCP), and both pings are answered. Deleting everything leaves no VXLAN device, bridge or namespace on either.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OpenStackCLI
from tests.real.conftest import IMAGE, wait_for
from tests.real.test_moves import TwoHosts
from tests.real.test_vxlan import ENDPOINTS, console, flooding_entries, has_link, host_of, namespaces, tag
from tests.real.test_vxlan import hosts as hosts
from tests.real.test_vxlan import openstack as openstack
from twinstack.real import net_names
from twinstack.real.test_image import PING_LINE, READY_LINE

pytestmark = pytest.mark.slow
SUBNETS = {"rnet-1": "10.79.1.0/24", "rnet-2": "10.79.2.0/24"}
SERVERS = {"rt-1": ("real-a", "rnet-1", "10.79.1.21"), "rt-2": ("real-b", "rnet-2", "10.79.2.22")}
"""Each server's host, network and fixed IP (ports made first, so each guest can be told to ping the other)."""


@pytest.fixture(scope="module")
def networks(openstack: OpenStackCLI) -> dict[str, dict[str, Any]]:
    made = {}
    for name, cidr in SUBNETS.items():
        made[name] = openstack.json("network", "create", name)
        assert made[name]["provider:network_type"] == "vxlan"
        openstack.json("subnet", "create", "--network", name, "--subnet-range", cidr, f"{name}-subnet")
    openstack.json("router", "create", "rt")
    for name in SUBNETS:
        openstack.run("router", "add", "subnet", "rt", f"{name}-subnet")
    return made


@pytest.fixture(scope="module")
def servers(openstack: OpenStackCLI, networks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for name, (_host, network, address) in SERVERS.items():
        openstack.json("port", "create", "--network", network, "--fixed-ip",
                       f"subnet={network}-subnet,ip-address={address}", f"{name}-port")
    created = {}
    for name, (host, _network, _address) in SERVERS.items():
        other = next(a for n, (_h, _n, a) in SERVERS.items() if n != name)
        created[name] = openstack.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--port",
                                       f"{name}-port", "--property", f"ping={other}", "--availability-zone",
                                       f"nova:{host}", "--wait", name)
    return created


def diagnose(hosts: TwoHosts, networks: dict[str, dict[str, Any]]) -> str:
    out = []
    for host in ENDPOINTS:
        t = tag(hosts, host)
        argvs = [["bridge", "fdb", "show", "br", net_names.bridge(n["id"], t)] for n in networks.values()]
        argvs += [["ip", "netns", "exec", space, "ip", "neigh"] for space in namespaces().split()
                  if space.startswith(f"ts-router-{t}-")]
        argvs += [["cat", str(hosts.states[host] / "network" / "peers.json")]]
        for argv in argvs:
            done = subprocess.run(argv, capture_output=True, text=True)
            out.append(f"{host} $ {' '.join(argv)}\n{done.stdout}{done.stderr}")
    return "\n".join(out)


def test_servers_on_two_subnets_and_two_hosts_reach_each_other_through_each_hosts_copy_of_the_router(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]], networks: dict[str, dict[str, Any]],
    hosts: TwoHosts,
) -> None:
    assert {name: host_of(openstack, name) for name in SERVERS} == {n: h for n, (h, _n, _a) in SERVERS.items()}
    for name, (_host, _network, address) in SERVERS.items():
        log = wait_for(lambda name=name: (out := console(openstack, name)) and READY_LINE.search(out) and out, 90,
                       f"{name} to boot", every=1)
        assert re.search(rf"^twinstack-guest: eth0 {re.escape(address)}/24\s*$", log, re.MULTILINE), log[-2000:]
    try:
        for name in SERVERS:
            wait_for(lambda name=name: ("ok" in [a for _t, a in PING_LINE.findall(console(openstack, name))]), 60,
                     f"{name}'s pings of the server on the other subnet and host to be answered", every=1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnose(hosts, networks)}") from None
    # each host tunnels both networks to the other, though it has a port on one only; DHCP only where its port is
    for host in ENDPOINTS:
        other = next(h for h in ENDPOINTS if h != host)
        for network in networks.values():
            assert flooding_entries(net_names.vxlan(network["id"], tag(hosts, host))) == {ENDPOINTS[other]}
    assert net_names.dhcp_namespace(networks["rnet-2"]["id"], tag(hosts, "real-a")) not in namespaces().split()
    assert net_names.dhcp_namespace(networks["rnet-1"]["id"], tag(hosts, "real-b")) not in namespaces().split()


def test_deleting_everything_leaves_no_tunnel_bridge_or_namespace_on_either_host(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]], networks: dict[str, dict[str, Any]],
    hosts: TwoHosts,
) -> None:
    router_id = openstack.json("router", "show", "rt")["id"]
    openstack.run("server", "delete", "--wait", *SERVERS)
    openstack.run("port", "delete", *(f"{name}-port" for name in SERVERS))
    for name in SUBNETS:
        openstack.run("router", "remove", "subnet", "rt", f"{name}-subnet")
    openstack.run("router", "delete", "rt")
    openstack.run("network", "delete", *SUBNETS)
    links = [make(network["id"], tag(hosts, host)) for host in ENDPOINTS for network in networks.values()
             for make in (net_names.bridge, net_names.vxlan, net_names.dhcp_host_side)]
    spaces = [net_names.dhcp_namespace(network["id"], tag(hosts, host)) for host in ENDPOINTS
              for network in networks.values()]
    spaces += [net_names.router_namespace(router_id, tag(hosts, host)) for host in ENDPOINTS]

    def leftovers() -> list[str]:
        return [n for n in links if has_link(n)] + [n for n in spaces if n in namespaces().split()]

    wait_for(lambda: not leftovers(), 30, "both hosts' networks to be cleaned")
    for state in hosts.states.values():
        assert Path(state / "network" / "owned.json").read_text() == '{"links": [], "namespaces": []}'
