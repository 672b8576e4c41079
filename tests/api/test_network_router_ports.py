"""Router interfaces by port through the in-process API: a port the user made becomes the router's leg on its
subnet (Neutron keeps its address, sets device_owner and device_id, and deletes the port when the interface is
removed), and Neutron's refusals (no fixed IP, a port already bound to a device, a subnet already attached)
change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.compute_helpers import Member, make_member
from tests.api.network_helpers import Neutron, fault
from tests.conftest import Api


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def demo(api: Api, alice: Member) -> Neutron:
    return Neutron(api, alice.token)


@pytest.fixture
def router(demo: Neutron) -> dict[str, Any]:
    return demo.create("routers", "router", name="r", external_gateway_info={"network_id": demo.public()["id"]})


def interface_ports(neutron: Neutron, router_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = neutron.get(
        f"/ports?device_id={router_id}&device_owner=network:router_interface").json()["ports"]
    return found


def test_a_users_port_becomes_the_routers_interface_and_goes_with_it(demo: Neutron, router: dict[str, Any]) -> None:
    net = demo.network("private")
    subnet = demo.subnet(net["id"], "10.0.0.0/24")
    port = demo.port(net["id"], name="leg", fixed_ips=[{"ip_address": "10.0.0.254"}])
    added = demo.put(f"/routers/{router['id']}/add_router_interface", json={"port_id": port["id"]})
    assert added.status_code == 200, added.text
    assert {k: added.json()[k] for k in ("id", "port_id", "subnet_id", "subnet_ids", "network_id")} == {
        "id": router["id"], "port_id": port["id"], "subnet_id": subnet["id"], "subnet_ids": [subnet["id"]],
        "network_id": net["id"]}
    shown = demo.get(f"/ports/{port['id']}").json()["port"]
    assert (shown["device_owner"], shown["device_id"], shown["fixed_ips"]) == (
        "network:router_interface", router["id"], [{"subnet_id": subnet["id"], "ip_address": "10.0.0.254"}])
    fault(demo.delete(f"/ports/{port['id']}"), 409)
    fault(demo.delete(f"/routers/{router['id']}"), 409, "RouterInUse")
    routed = demo.put(f"/routers/{router['id']}", json={"router": {"routes": [
        {"destination": "192.168.7.0/24", "nexthop": "10.0.0.9"}]}})
    assert routed.status_code == 200, routed.text
    demo.put(f"/routers/{router['id']}", json={"router": {"routes": []}})
    other = demo.network("other")
    other_subnet = demo.subnet(other["id"], "10.1.0.0/24")
    message = fault(demo.put(f"/routers/{router['id']}/remove_router_interface",
                             json={"port_id": port["id"], "subnet_id": other_subnet["id"]}), 400,
                    "SubnetMismatchForPort")
    assert message == f"Subnet on port {port['id']} does not match the requested subnet {other_subnet['id']}"
    stranger = demo.port(other["id"])
    fault(demo.put(f"/routers/{router['id']}/remove_router_interface", json={"port_id": stranger["id"]}), 404,
          "RouterInterfaceNotFound")
    removed = demo.put(f"/routers/{router['id']}/remove_router_interface", json={"port_id": port["id"]})
    assert removed.status_code == 200, removed.text
    assert removed.json()["port_id"] == port["id"] and removed.json()["subnet_ids"] == [subnet["id"]]
    fault(demo.get(f"/ports/{port['id']}"), 404, "PortNotFound")
    assert interface_ports(demo, router["id"]) == []
    assert demo.delete(f"/routers/{router['id']}").status_code == 204


def test_a_port_routed_by_port_can_take_a_floating_ip(demo: Neutron, router: dict[str, Any]) -> None:
    net = demo.network("private")
    subnet = demo.subnet(net["id"], "10.0.0.0/24")
    leg = demo.port(net["id"], fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.0.0.254"}])
    server_port = demo.port(net["id"])
    fip = demo.create("floatingips", "floatingip", floating_network_id=demo.public()["id"])
    fault(demo.put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": server_port["id"]}}), 404,
          "ExternalGatewayForFloatingIPNotFound")
    demo.put(f"/routers/{router['id']}/add_router_interface", json={"port_id": leg["id"]})
    associated = demo.put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": server_port["id"]}})
    assert associated.status_code == 200, associated.text
    assert associated.json()["floatingip"]["router_id"] == router["id"]
    fault(demo.put(f"/routers/{router['id']}/remove_router_interface", json={"port_id": leg["id"]}), 409)


@pytest.mark.parametrize("case", ["no fixed ip", "bound to a device", "subnet already attached", "both given"])
def test_refused_ports_change_nothing(demo: Neutron, router: dict[str, Any], case: str) -> None:
    net = demo.network("private")
    subnet = demo.subnet(net["id"], "10.0.0.0/24")
    attached = demo.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]}).json()
    path = f"/routers/{router['id']}/add_router_interface"
    if case == "no fixed ip":
        port = demo.port(net["id"], fixed_ips=[])
        message = fault(demo.put(path, json={"port_id": port["id"]}), 400, "BadRequest")
        assert message == "Bad router request: Router port must have at least one fixed IP."
    elif case == "bound to a device":
        other = demo.network("other")
        demo.subnet(other["id"], "10.1.0.0/24")
        port = demo.port(other["id"], device_id="some-server", device_owner="compute:nova")
        message = fault(demo.put(path, json={"port_id": port["id"]}), 409, "PortInUse")
        assert message == (f"Unable to complete operation on port {port['id']} for network {other['id']}. Port "
                           "already has an attached device some-server.")
    elif case == "subnet already attached":
        port = demo.port(net["id"])
        message = fault(demo.put(path, json={"port_id": port["id"]}), 400, "BadRequest")
        assert message == f"Bad router request: Router already has a port on subnet {subnet['id']}."
    else:
        port = demo.port(net["id"])
        fault(demo.put(path, json={"port_id": port["id"], "subnet_id": subnet["id"]}), 400)
    shown = demo.get(f"/ports/{port['id']}").json()["port"]
    assert shown["device_owner"] != "network:router_interface" and shown["device_id"] != router["id"]
    assert [p["id"] for p in interface_ports(demo, router["id"])] == [attached["port_id"]]
