"""A subnet with DHCP off, and an external network an admin makes (besides ``public``), through the compute and
network APIs in-process over a live simulated plane: what the host's agent is told is read from the agent."""

# ruff: noqa: F811  (the fixtures imported from network_fixtures are the tests' parameters)
from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from tests.api.compute_helpers import Member, Nova
from tests.api.network_fixtures import alice, neutron, nova, plane  # noqa: F401  (fixtures)
from tests.api.network_helpers import Neutron, fault
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.rpc.network import PortSpec


def eventually(check: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def plug_of(plane: ComputePlane, host: str, port_id: str) -> PortSpec | None:
    [agent] = plane.agents
    return agent.plugged.get(host, {}).get(port_id)


def boot_on(api: Api, nova: Nova, neutron: Neutron, network_id: str) -> tuple[str, dict[str, object]]:
    """A server with one port on the network: its host and its port."""
    created = nova.boot("vm", networks=[{"uuid": network_id}])
    nova.wait_for(created["id"], "ACTIVE")
    host = Nova(api).server(created["id"])["OS-EXT-SRV-ATTR:host"]
    [port] = neutron.get(f"/ports?device_id={created['id']}").json()["ports"]
    return host, port


def test_a_subnet_without_dhcp_still_gives_addresses_and_the_host_serves_no_lease(
        api: Api, plane: ComputePlane, nova: Nova, neutron: Neutron) -> None:
    net = neutron.network("static")
    subnet = neutron.subnet(net["id"], "10.70.0.0/24", enable_dhcp=False)
    assert subnet["enable_dhcp"] is False
    assert neutron.get(f"/subnets?enable_dhcp=false&network_id={net['id']}").json()["subnets"][0]["id"] == subnet["id"]
    host, port = boot_on(api, nova, neutron, net["id"])
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.70.0.2"}]
    eventually(lambda: plug_of(plane, host, str(port["id"])) is not None, "the port was never plugged")
    plug = plug_of(plane, host, str(port["id"]))
    assert plug is not None and [(f.ip_address, f.enable_dhcp) for f in plug.fixed_ips] == [("10.70.0.2", False)]
    turned_on = neutron.put(f"/subnets/{subnet['id']}", json={"subnet": {"enable_dhcp": True}})
    assert turned_on.status_code == 200 and turned_on.json()["subnet"]["enable_dhcp"] is True

    def now_served() -> bool:
        replug = plug_of(plane, host, str(port["id"]))
        return replug is not None and replug.fixed_ips[0].enable_dhcp

    eventually(now_served, "the host was not told the subnet has DHCP now")


def test_an_admins_external_network_gives_floating_ips_to_routed_ports(
        api: Api, plane: ComputePlane, nova: Nova, neutron: Neutron, alice: Member) -> None:
    admin = Neutron(api)
    fault(neutron.post("/networks", json={"network": {"name": "mine", "router:external": True}}), 403,
          "HTTPForbidden")
    ext = admin.network("ext", **{"router:external": True, "provider:network_type": "vlan",
                                  "provider:physical_network": "physnet1"})
    assert ext["router:external"] is True
    ext_subnet = admin.subnet(ext["id"], "203.0.113.0/24", gateway_ip="203.0.113.1", enable_dhcp=False,
                              allocation_pools=[{"start": "203.0.113.10", "end": "203.0.113.50"}])
    assert {n["name"] for n in neutron.get("/networks?router:external=true").json()["networks"]} == {"public", "ext"}
    fault(neutron.post("/subnets", json={"subnet": {"network_id": ext["id"], "ip_version": 4,
                                                    "cidr": "198.51.100.0/24"}}), 403)

    net = neutron.network("private")
    subnet = neutron.subnet(net["id"], "10.80.0.0/24")
    router = neutron.create("routers", "router", name="edge", external_gateway_info={"network_id": ext["id"]})
    [gateway_ip] = router["external_gateway_info"]["external_fixed_ips"]
    assert gateway_ip["subnet_id"] == ext_subnet["id"] and gateway_ip["ip_address"] == "203.0.113.10"
    host, port = boot_on(api, nova, neutron, net["id"])
    fip = neutron.create("floatingips", "floatingip", floating_network_id=ext["id"])
    address = fip["floating_ip_address"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network("203.0.113.0/24") and address != "203.0.113.10"
    assert fip["project_id"] == alice.project_id
    unrouted = neutron.put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}})
    fault(unrouted, 404, "ExternalGatewayForFloatingIPNotFound")
    neutron.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    public_router = neutron.create("routers", "router", name="other-edge",
                                   external_gateway_info={"network_id": neutron.public()["id"]})
    assert public_router["external_gateway_info"]["network_id"] != ext["id"]
    associated = neutron.put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}})
    assert associated.status_code == 200, associated.text
    shown = associated.json()["floatingip"]
    fixed = port["fixed_ips"][0]["ip_address"]  # type: ignore[index]
    assert (shown["router_id"], shown["fixed_ip_address"], shown["status"]) == (router["id"], fixed, "ACTIVE")
    assert nova.server(str(port["device_id"]))["addresses"]["private"][1]["addr"] == address

    def routed_with_the_floating_ip() -> bool:
        plug = plug_of(plane, host, str(port["id"]))
        return plug is not None and [f.floating_ip_address for f in plug.floating_ips] == [address]

    eventually(routed_with_the_floating_ip, "the host never got the floating IP")
    plug = plug_of(plane, host, str(port["id"]))
    assert plug is not None
    [leg] = plug.routers
    assert leg.router_id == router["id"] and leg.external_gateway is not None
    assert (leg.external_gateway.network_id, leg.external_gateway.ip_address, leg.external_gateway.gateway_ip) == (
        ext["id"], "203.0.113.10", "203.0.113.1")
    fault(admin.delete(f"/networks/{ext['id']}"), 409, "NetworkInUse")
    neutron.put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
    eventually(lambda: (plug_of(plane, host, str(port["id"])) or plug).floating_ips == [],
               "the host kept the floating IP")
