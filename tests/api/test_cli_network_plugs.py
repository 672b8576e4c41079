"""Issue #5 through the unmodified ``openstack`` CLI: ``security group rule create`` on a running server's
group, and the rule visible in the plug message the host's agent got. The served cloud is another process,
so the agent is read through ``openstack console log show``: the simulated agent prints each port as it last
plugged it (segment, rules, floating IPs) into the console log it answers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.api.test_cli_compute import DATACENTER
from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-network-plugs", DATACENTER)


def console_until(openstack: OpenStackCLI, server: str, wanted: str, present: bool = True,
                  timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = openstack.run("console", "log", "show", server).stdout
        if (wanted in log) == present:
            return log
        assert time.monotonic() < deadline, f"{wanted!r} {'never came' if present else 'stayed'}:\n{log}"
        time.sleep(0.5)


def test_a_rule_created_on_a_servers_group_reaches_its_hosts_agent(openstack: OpenStackCLI) -> None:
    openstack.run("network", "create", "plug-net")
    openstack.run("subnet", "create", "--network", "plug-net", "--subnet-range", "10.40.0.0/24", "plug-sub")
    group = openstack.json("security", "group", "create", "plug-sg")
    server = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--network",
                            "plug-net", "--security-group", "plug-sg", "--wait", "plug-vm")
    [port] = openstack.json("port", "list", "--server", "plug-vm")
    network = openstack.json("network", "show", "plug-net")
    log = openstack.run("console", "log", "show", "plug-vm").stdout
    assert f"eth0 {port['MAC Address']} 10.40.0.2/24 gw 10.40.0.1" in log, log
    assert (f"port {port['ID']} network {network['id']} {network['provider:network_type']} "
            f"{network['provider:segmentation_id']} ") in log, log
    assert server["status"] == "ACTIVE"
    egress = [r for r in openstack.json("security", "group", "rule", "list", "plug-sg") if r["Direction"] == "egress"]
    assert egress and all(f"rule {r['ID']} egress {r['Ethertype']}" in log for r in egress), log

    rule = openstack.json("security", "group", "rule", "create", "--ingress", "--protocol", "tcp", "--dst-port",
                          "22", "--remote-ip", "192.0.2.0/24", "plug-sg")
    assert rule["security_group_id"] == group["id"]
    console_until(openstack, "plug-vm", f"rule {rule['id']} ingress IPv4 tcp 22-22 remote 192.0.2.0/24")

    openstack.run("security", "group", "rule", "delete", rule["id"])
    console_until(openstack, "plug-vm", f"rule {rule['id']}", present=False)
    openstack.run("server", "delete", "--wait", "plug-vm")
