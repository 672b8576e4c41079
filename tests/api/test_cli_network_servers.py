"""Servers on networks through the unmodified ``openstack`` CLI: ``server create --network``, the
address in ``server show`` and ``server list``, ``server add/remove floating ip`` (which the CLI does
through the network API, finding the server's port by its device id), ports released on delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.test_cli_compute import DATACENTER
from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A small datacenter whose hosts boot in one second."""
    yield from serving_datacenter(tmp_path_factory, "served-network-servers", DATACENTER)


def test_a_server_on_a_network_with_a_floating_ip(openstack: OpenStackCLI) -> None:
    openstack.run("network", "create", "app-net")
    openstack.run("subnet", "create", "--network", "app-net", "--subnet-range", "10.30.0.0/24", "app-sub")
    openstack.run("router", "create", "app-router")
    openstack.run("router", "set", "--external-gateway", "public", "app-router")
    openstack.run("router", "add", "subnet", "app-router", "app-sub")
    created = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--network",
                             "app-net", "--wait", "app-vm")
    assert created["status"] == "ACTIVE" and created["addresses"] == {"app-net": ["10.30.0.2"]}
    [port] = openstack.json("port", "list", "--server", "app-vm")
    assert port["Fixed IP Addresses"][0]["ip_address"] == "10.30.0.2"
    address = openstack.json("floating", "ip", "create", "public")["floating_ip_address"]
    openstack.run("server", "add", "floating", "ip", "app-vm", address)
    assert openstack.json("server", "show", "app-vm")["addresses"] == {"app-net": ["10.30.0.2", address]}
    listed = {s["Name"]: s for s in openstack.json("server", "list")}
    assert listed["app-vm"]["Networks"] == {"app-net": ["10.30.0.2", address]}
    openstack.run("server", "remove", "floating", "ip", "app-vm", address)
    assert openstack.json("floating", "ip", "show", address)["port_id"] is None
    openstack.run("server", "delete", "--wait", "app-vm")
    assert openstack.json("port", "list", "--network", "app-net", "--device-owner", "compute:nova") == []
