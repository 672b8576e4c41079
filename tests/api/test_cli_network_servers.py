"""Servers on networks through the unmodified ``openstack`` CLI: ``server create --network``, ``--nic port-id=``
and ``--nic auto`` (get-me-a-network, with ``network auto allocated topology create/delete``), the address in
``server show`` and ``server list``, ``server add/remove floating ip`` (which the CLI does through the network API,
finding the server's port by its device id), ports released on delete and the user's own port unbound."""

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


def test_get_me_a_network_and_a_server_on_its_users_port(openstack: OpenStackCLI) -> None:
    """First in the module: ``--nic auto`` takes the auto-allocated network only while the project has none other."""
    checked = openstack.run("network", "auto", "allocated", "topology", "create", "--check-resources")
    assert checked.returncode == 0 and "auto_allocated_network" not in {
        n["Name"] for n in openstack.json("network", "list")}  # the requirements are met; nothing is built
    topology = openstack.json("network", "auto", "allocated", "topology", "create")
    network = openstack.json("network", "show", topology["id"])
    assert network["name"] == "auto_allocated_network"
    router = openstack.json("router", "show", "auto_allocated_router")
    assert router["external_gateway_info"]["network_id"] == openstack.json("network", "show", "public")["id"]
    again = openstack.json("network", "auto", "allocated", "topology", "create", "--or-show")
    assert again["id"] == topology["id"]

    auto = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--nic", "auto",
                          "--wait", "auto-vm")
    assert auto["status"] == "ACTIVE" and auto["addresses"] == {"auto_allocated_network": ["10.0.0.2"]}

    mine = openstack.json("port", "create", "--network", "auto_allocated_network", "--fixed-ip",
                          "ip-address=10.0.0.40", "my-port")
    created = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--nic",
                             f"port-id={mine['id']}", "--wait", "port-vm")
    assert created["addresses"] == {"auto_allocated_network": ["10.0.0.40"]}
    bound = openstack.json("port", "show", "my-port")
    assert (bound["device_id"], bound["device_owner"], bound["status"]) == (created["id"], "compute:nova", "ACTIVE")
    assert bound["binding_host_id"] == openstack.json("server", "show", "port-vm")["OS-EXT-SRV-ATTR:host"]
    openstack.run("server", "delete", "--wait", "auto-vm", "port-vm")
    kept = openstack.json("port", "show", "my-port")  # the user's port outlives the server, unbound
    assert (kept["device_id"], kept["device_owner"], kept["fixed_ips"][0]["ip_address"]) == ("", "", "10.0.0.40")
    in_use = openstack.run("network", "auto", "allocated", "topology", "delete", check=False)
    assert in_use.returncode != 0 and "There are one or more ports still in use on the network" in in_use.stderr
    openstack.run("port", "delete", "my-port")
    openstack.run("network", "auto", "allocated", "topology", "delete")
    assert "auto_allocated_network" not in {n["Name"] for n in openstack.json("network", "list")}
    assert "auto_allocated_router" not in {r["Name"] for r in openstack.json("router", "list")}


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
