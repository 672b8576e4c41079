"""The host network against the real kernel, without guests: a plan is built (bridge, DHCP namespace with a
running dnsmasq, router namespace with its addresses and NAT, firewall tables), and an agent starting afresh
on the same state directory with nothing plugged removes all of it, and only what its own ledger names."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.conftest import state_dir
from tests.real.test_net_pieces import NET, PUBLIC, ROUTER, port
from twinstack.real import net_names, privileged
from twinstack.real.dhcp_config import DhcpFiles
from twinstack.real.host_network import HostNetwork
from twinstack.real.net_plan import plan
from twinstack.rpc.network import FloatingIpSpec


@pytest.fixture
def state() -> Iterator[Path]:
    path = state_dir()
    yield path
    HostNetwork(path).apply(plan({}))  # whatever a failed test left
    shutil.rmtree(path, ignore_errors=True)


def links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


def in_namespace(namespace: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True, check=True).stdout


def test_a_plan_is_built_and_a_fresh_start_with_nothing_plugged_removes_it(state: Path) -> None:
    routed = port(
        "p-a",
        "10.0.0.5",
        "fa:16:3e:00:00:0a",
        routers=[ROUTER],
        floating_ips=[FloatingIpSpec(floating_ip_address="172.24.4.20", fixed_ip_address="10.0.0.5")],
    )
    network = HostNetwork(state)
    network.apply(plan({"vm": [routed]}))
    HostNetwork(state).apply(plan({"vm": [routed]}))  # applied again from scratch: nothing to change, no failure

    bridge, dhcp = net_names.bridge(NET), net_names.dhcp_namespace(NET)
    router = net_names.router_namespace("router-1")
    assert bridge in links() and net_names.bridge(PUBLIC) in links()
    assert {dhcp, router} <= set(privileged.namespaces())
    assert privileged.running(DhcpFiles(state / "network" / "dhcp" / NET).pid, "dnsmasq") is not None
    assert "10.0.0.254/24" in in_namespace(dhcp, "ip", "-o", "addr")
    router_addresses = in_namespace(router, "ip", "-o", "addr")
    assert "10.0.0.1/24" in router_addresses and "172.24.4.10/24" in router_addresses
    assert "172.24.4.20/32" in router_addresses
    assert "dnat to 10.0.0.5" in in_namespace(router, "nft", "list", "ruleset")
    table = net_names.firewall_table(str(state))
    assert f"table inet {table}" in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout

    outsider = "tsbnotours-000"  # named like ours, but not in this agent's ledger: never touched
    privileged.netlink(None, "link", "add", ifname=outsider, kind="bridge")
    try:
        restarted = HostNetwork(state)  # what the agent does at start-up when no instance is left here
        restarted.apply(plan({}))
        assert outsider in links()
    finally:
        privileged.delete_link(None, outsider)
    assert bridge not in links() and net_names.bridge(PUBLIC) not in links()
    assert not {dhcp, router} & set(privileged.namespaces())
    assert not (state / "network" / "dhcp" / NET).exists()
    assert table not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert restarted.owned() == (set(), set())
    dnsmasq = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(state) not in dnsmasq
