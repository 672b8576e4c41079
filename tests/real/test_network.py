"""Tenant networking on a real host, through the unmodified ``openstack`` CLI (issue 7's network lines).

One cloud and two guests serve the whole module, in order: both take their fixed IPs by DHCP (their consoles
say so); they sit in a security group without ICMP, so neither the other guest (each pings the other from boot
on: one told so by its user data, one by its metadata, both read from the config drive) nor a namespace on the
tenant network gets an answer, until a rule admits ICMP and the two guests ping each other; a floating IP
through a router reaches a guest from the host; deleting everything leaves nothing the agent made: no bridge,
namespace, tap, nftables table or dnsmasq process.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OpenStackCLI, Served
from tests.real.conftest import IMAGE, running_real_cloud, wait_for
from twinstack.real import net_names
from twinstack.real.test_image import PING_LINE

pytestmark = pytest.mark.slow
PUBLIC_CIDR, PUBLIC_GATEWAY = "172.30.77.0/24", "172.30.77.1"
"""The external network of this module's cloud (the host takes the gateway address on its bridge)."""
TENANT_CIDR = "10.23.5.0/24"
SERVERS = ("net-vm-1", "net-vm-2")
FIXED_IPS = {"net-vm-1": "10.23.5.21", "net-vm-2": "10.23.5.22"}
"""Chosen up front (ports made first) so that each guest can be told to ping the other at boot."""
GROUP = "pingless"
"""A new group: egress rules only, so nothing reaches its members until a rule is added."""
USER_DATA_PING = re.compile(r"user-data: ping (\S+) (ok|failed)\s*$", re.MULTILINE)  # anywhere on a line, as
# test_image.PING_LINE is: the first line printed after the console shell's prompt shares its line


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    env = {"TWINSTACK_NETWORK__PUBLIC_CIDR": PUBLIC_CIDR, "TWINSTACK_NETWORK__PUBLIC_GATEWAY": PUBLIC_GATEWAY}
    with running_real_cloud(tmp_path_factory.mktemp("realnet"), env) as running:
        yield running


@pytest.fixture(scope="module")
def openstack(cloud: tuple[Served, Path]) -> OpenStackCLI:
    return OpenStackCLI(cloud[0])


@pytest.fixture(scope="module")
def network(openstack: OpenStackCLI) -> dict[str, Any]:
    net: dict[str, Any] = openstack.json("network", "create", "realnet")
    openstack.json("subnet", "create", "--network", "realnet", "--subnet-range", TENANT_CIDR, "realnet-subnet")
    openstack.json("router", "create", "realnet-router")
    openstack.run("router", "set", "--external-gateway", "public", "realnet-router")
    openstack.run("router", "add", "subnet", "realnet-router", "realnet-subnet")
    return net


def user_data_pinging(address: str) -> str:
    """A user-data script for the test image: ping ``address`` every second, print each change of answer."""
    return f"""#!/bin/sh
last=""
while true; do
  if ping -c 1 -W 1 {address} >/dev/null 2>&1; then now=ok; else now=failed; fi
  [ "$now" = "$last" ] || echo "user-data: ping {address} $now"
  last=$now; sleep 1
done
"""


@pytest.fixture(scope="module")
def servers(
    openstack: OpenStackCLI, network: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """net-vm-1 pings net-vm-2 as its user data says; net-vm-2 pings net-vm-1 as its metadata says."""
    openstack.json("security", "group", "create", GROUP)
    for name, address in FIXED_IPS.items():
        openstack.json("port", "create", "--network", "realnet", "--security-group", GROUP,
                       "--fixed-ip", f"subnet=realnet-subnet,ip-address={address}", f"{name}-port")
    user_data = tmp_path_factory.mktemp("user-data") / "ping.sh"
    user_data.write_text(user_data_pinging(FIXED_IPS["net-vm-2"]))
    told = {"net-vm-1": ["--user-data", str(user_data)], "net-vm-2": ["--property", f"ping={FIXED_IPS['net-vm-1']}"]}
    return {
        name: openstack.json(
            "server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--port", f"{name}-port", *told[name],
            "--wait", name
        )
        for name in SERVERS
    }


def pings_seen(openstack: OpenStackCLI, name: str) -> list[tuple[str, str]]:
    """What the guest's pings of its peer answered, in order (from its console)."""
    log = openstack.run("console", "log", "show", name).stdout
    return (USER_DATA_PING if name == SERVERS[0] else PING_LINE).findall(log)


def fixed_ip(openstack: OpenStackCLI, name: str) -> str:
    addresses = openstack.json("server", "show", name)["addresses"]
    return str(addresses["realnet"][0])


def ping(address: str, namespace: str | None = None) -> bool:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    done = subprocess.run([*prefix, "busybox", "ping", "-c", "1", "-W", "2", address], capture_output=True, timeout=30)
    return done.returncode == 0


def test_both_guests_report_their_dhcp_address_on_the_console(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]]
) -> None:
    for name in SERVERS:
        address = fixed_ip(openstack, name)
        assert address == FIXED_IPS[name]
        log = wait_for(
            lambda name=name: (
                (out := openstack.run("console", "log", "show", name).stdout)
                and "twinstack-guest: ready" in out
                and out
            ),
            90,
            f"{name} to boot",
            every=1,
        )
        assert re.search(rf"^twinstack-guest: eth0 {re.escape(address)}/24\s*$", log, re.MULTILINE), log[-2000:]
        assert f"twinstack-guest: hostname {name}" in log and "twinstack-guest: config-drive found" in log
    assert "twinstack-guest: user-data started" in openstack.run("console", "log", "show", SERVERS[0]).stdout


def test_a_security_group_without_icmp_blocks_ping_and_the_rule_lets_the_guests_ping_each_other(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]], network: dict[str, Any], cloud: tuple[Served, Path]
) -> None:
    namespace = net_names.dhcp_namespace(network["id"], net_names.agent_tag(str(cloud[1])))
    addresses = [fixed_ip(openstack, name) for name in SERVERS]
    peers = {SERVERS[0]: addresses[1], SERVERS[1]: addresses[0]}
    for name in SERVERS:
        wait_for(lambda name=name: pings_seen(openstack, name), 30, f"{name} to ping its peer")
    assert not any(ping(address, namespace) for address in addresses)  # the group has no ICMP rule
    for name in SERVERS:  # both guests up for seconds now: their pings of each other were never answered
        assert pings_seen(openstack, name) == [(peers[name], "failed")]
    for address in addresses:  # yet the guests are there: they answered ARP (not IP, so no security group)
        neighbour = subprocess.run(
            ["ip", "netns", "exec", namespace, "ip", "neigh", "show", address], capture_output=True, text=True
        ).stdout
        assert "lladdr fa:16:3e" in neighbour, neighbour
    (port,) = openstack.json("port", "list", "--server", SERVERS[0])
    (group,) = openstack.json("port", "show", port["ID"])["security_group_ids"]
    openstack.json("security", "group", "rule", "create", "--protocol", "icmp", "--ingress", group)
    for address in addresses:
        wait_for(lambda address=address: ping(address, namespace), 30, f"{address} to answer ping")
    for name in SERVERS:
        wait_for(lambda name=name: pings_seen(openstack, name)[-1] == (peers[name], "ok"), 30,
                 f"{name} to reach {peers[name]}")


def test_the_host_reaches_a_guest_through_its_floating_ip(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]]
) -> None:
    floating = openstack.json("floating", "ip", "create", "public")["floating_ip_address"]
    openstack.run("server", "add", "floating", "ip", SERVERS[0], floating)
    assert floating in str(openstack.json("server", "show", SERVERS[0])["addresses"])
    wait_for(lambda: ping(floating), 30, f"the floating IP {floating} to answer ping from the host")


def test_deleting_everything_leaves_nothing_behind(
    openstack: OpenStackCLI, servers: dict[str, dict[str, Any]], network: dict[str, Any], cloud: tuple[Served, Path]
) -> None:
    ports = [p["ID"] for name in SERVERS for p in openstack.json("port", "list", "--server", name)]
    router = openstack.json("router", "show", "realnet-router")
    public = openstack.json("network", "show", "public")
    for name in SERVERS:
        openstack.run("server", "delete", "--wait", name)
    for floating in openstack.json("floating", "ip", "list"):
        openstack.run("floating", "ip", "delete", floating["ID"])
    for name in SERVERS:
        openstack.run("port", "delete", f"{name}-port")  # made by the test, so kept when its server went
    openstack.run("security", "group", "delete", GROUP)
    openstack.run("router", "remove", "subnet", "realnet-router", "realnet-subnet")
    openstack.run("router", "delete", "realnet-router")
    openstack.run("network", "delete", "realnet")
    state = cloud[1]
    tag = net_names.agent_tag(str(state))
    names = {
        net_names.bridge(network["id"], tag),
        net_names.bridge(public["id"], tag),
        *(net_names.tap(p) for p in ports),
        net_names.dhcp_host_side(network["id"], tag),
        net_names.router_namespace(router["id"], tag),
    }

    def leftovers() -> list[str]:
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        found = [n for n in names if re.search(rf"\b{re.escape(n)}\b", links + spaces)]
        found += [
            f"namespace {n}"
            for n in (net_names.dhcp_namespace(network["id"], tag), net_names.router_namespace(router["id"], tag))
            if n in spaces
        ]
        found += [f"table {line}" for line in tables.splitlines() if net_names.firewall_table(str(state)) in line]
        found += [f"process {line}" for line in processes.splitlines() if "dnsmasq" in line and str(state) in line]
        return found

    wait_for(lambda: not leftovers(), 15, "the host's network to be cleaned")
    assert leftovers() == []
    assert uuid.UUID(network["id"])  # the names above were derived from real ids
    assert (state / "network" / "owned.json").read_text() == '{"links": [], "namespaces": []}'
