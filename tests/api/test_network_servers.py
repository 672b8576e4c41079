"""Servers on networks, through the compute and network APIs in-process over a live simulated plane:
``networks`` honoured (a network, a fixed IP, a user's port, ``auto``, ``none``), addresses shown as
Nova shows them (fixed, then floating), bad requests refused before any server exists, and ports
released with the server (a user's own port only unbound)."""

# ruff: noqa: F811  (the fixtures imported from network_fixtures are the tests' parameters)
from __future__ import annotations

from tests.api.compute_helpers import Nova
from tests.api.network_fixtures import alice, neutron, nova, plane  # noqa: F401  (fixtures)
from tests.api.network_helpers import Neutron
from twinstack.core.image.images import TEST_IMAGE_ID


def test_a_server_on_a_network_shows_its_fixed_and_floating_addresses(nova: Nova, neutron: Neutron) -> None:
    net = neutron.network("private")
    subnet = neutron.subnet(net["id"], "10.0.0.0/24")
    created = nova.boot("vm", networks=[{"uuid": net["id"], "fixed_ip": "10.0.0.20"}])
    server = nova.wait_for(created["id"], "ACTIVE")
    [port] = neutron.get(f"/ports?device_id={created['id']}").json()["ports"]
    assert port["device_owner"] == "compute:nova" and port["fixed_ips"][0]["ip_address"] == "10.0.0.20"
    assert server["addresses"] == {"private": [{"addr": "10.0.0.20", "version": 4, "OS-EXT-IPS:type": "fixed",
                                                "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}]}
    public = neutron.public()
    router = neutron.create("routers", "router", name="r", external_gateway_info={"network_id": public["id"]})
    neutron.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    fip = neutron.create("floatingips", "floatingip", floating_network_id=public["id"], port_id=port["id"])
    listed = nova.get("/servers/detail").json()["servers"]
    assert [a["addr"] for a in listed[0]["addresses"]["private"]] == ["10.0.0.20", fip["floating_ip_address"]]
    assert listed[0]["addresses"]["private"][1]["OS-EXT-IPS:type"] == "floating"
    assert nova.delete(f"/servers/{created['id']}").status_code == 204
    assert neutron.get(f"/ports?device_id={created['id']}").json()["ports"] == []
    assert neutron.get(f"/floatingips/{fip['id']}").json()["floatingip"]["port_id"] is None


def test_a_users_port_is_bound_and_survives_the_server(nova: Nova, neutron: Neutron) -> None:
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    port = neutron.port(net["id"], name="mine")
    created = nova.boot("vm", networks=[{"port": port["id"]}])
    assert neutron.get(f"/ports/{port['id']}").json()["port"]["device_id"] == created["id"]
    taken = nova.post("/servers", json={"server": {"name": "vm2", "imageRef": TEST_IMAGE_ID, "flavorRef": "1",
                                                   "networks": [{"port": port["id"]}]}})
    assert taken.status_code == 409, taken.text
    nova.delete(f"/servers/{created['id']}")
    kept = neutron.get(f"/ports/{port['id']}").json()["port"]
    assert (kept["device_id"], kept["device_owner"]) == ("", "")


def test_bad_networks_are_refused_before_any_server_exists(nova: Nova, neutron: Neutron) -> None:
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    neutron.port(net["id"], fixed_ips=[{"ip_address": "10.0.0.9"}])
    body = {"name": "vm", "imageRef": TEST_IMAGE_ID, "flavorRef": "1"}
    for networks, words in (([{"uuid": "6b3c3e2c-0000-4000-8000-000000000001"}], "could not be found"),
                            ([{"uuid": net["id"], "fixed_ip": "10.0.0.9"}], "already allocated"),
                            ([{"port": "6b3c3e2c-0000-4000-8000-000000000002"}], "could not be found")):
        response = nova.post("/servers", json={"server": body | {"networks": networks}})
        assert response.status_code == 400 and words in response.json()["badRequest"]["message"], response.text
    assert nova.get("/servers").json()["servers"] == []
    assert [p["fixed_ips"][0]["ip_address"] for p in neutron.get("/ports").json()["ports"]] == ["10.0.0.9"]


def test_auto_gets_a_network_and_none_gets_none(nova: Nova, neutron: Neutron) -> None:
    auto = nova.boot("auto-vm", networks="auto")
    names = {n["name"] for n in neutron.get("/networks").json()["networks"]}
    assert "auto_allocated_network" in names
    assert list(nova.server(auto["id"])["addresses"]) == ["auto_allocated_network"]
    bare = nova.boot("bare-vm", networks="none")
    assert nova.server(bare["id"])["addresses"] == {}


def test_a_servers_security_groups_are_its_ports_groups(nova: Nova, neutron: Neutron) -> None:
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    web = neutron.create("security-groups", "security_group", name="web")
    created = nova.boot("vm", networks=[{"uuid": net["id"]}], security_groups=[{"name": "web"}])
    [port] = neutron.get(f"/ports?device_id={created['id']}").json()["ports"]
    assert port["security_groups"] == [web["id"]]
    plain = nova.boot("vm2", networks=[{"uuid": net["id"]}])
    [port] = neutron.get(f"/ports?device_id={plain['id']}").json()["ports"]
    default = neutron.get("/security-groups?name=default").json()["security_groups"][0]
    assert port["security_groups"] == [default["id"]]
    missing = nova.post("/servers", json={"server": {"name": "vm3", "imageRef": TEST_IMAGE_ID, "flavorRef": "1",
                                                     "networks": [{"uuid": net["id"]}],
                                                     "security_groups": [{"name": "nope"}]}})
    assert missing.status_code == 400 and "nope" in missing.json()["badRequest"]["message"]
