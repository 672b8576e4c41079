"""Networking v2.0 (Neutron) layer 2 through the in-process API: discovery and extensions, networks with
their segments, subnets with Neutron's validation, ports with IPAM, MACs, security and bindings.
Every refusal answers Neutron's fault body and changes nothing."""

from __future__ import annotations

import pytest

from tests.api.compute_helpers import Member, make_member
from tests.api.network_helpers import Neutron, fault
from tests.conftest import Api


@pytest.fixture
def neutron(api: Api) -> Neutron:
    return Neutron(api)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def bob(api: Api) -> Member:
    return make_member(api, "bob", "other")


# discovery


def test_the_catalog_lists_the_network_service_and_the_root_lists_v2(api: Api, neutron: Neutron) -> None:
    token = api.http.post("/identity/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"name": "Default"}, "password": "admin-secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}).json()["token"]
    entry = next(s for s in token["catalog"] if s["type"] == "network")
    assert entry["name"] == "neutron"
    assert {e["url"] for e in entry["endpoints"]} == {"http://127.0.0.1:8000/network"}
    root = api.http.get("/network/").json()
    assert root["versions"][0]["id"] == "v2.0" and root["versions"][0]["status"] == "CURRENT"
    resources = {r["collection"] for r in neutron.get("/").json()["resources"]}
    assert {"networks", "subnets", "ports", "routers", "floatingips", "security_groups"} <= resources


def test_extensions_list_only_what_is_implemented_and_unknown_ones_are_neutron_404s(neutron: Neutron) -> None:
    aliases = {e["alias"] for e in neutron.get("/extensions").json()["extensions"]}
    assert {"router", "external-net", "security-group", "provider", "port-security", "allowed-address-pairs",
            "binding", "quotas", "standard-attr-tag", "extraroute", "subnet_allocation"} <= aliases
    assert not aliases & {"qos", "dvr", "l3-ha", "trunk", "tag-ports-during-bulk-creation", "dns-integration"}
    assert neutron.get("/extensions/router").json()["extension"]["name"] == "Neutron L3 Router"
    fault(neutron.get("/extensions/qos"), 404, "HTTPNotFound")


def test_bad_bodies_are_neutron_400s_never_422(neutron: Neutron) -> None:
    fault(neutron.post("/networks", content=b"{not json", headers={"Content-Type": "application/json"}), 400,
          "HTTPBadRequest")
    assert "Unrecognized attribute(s) 'colour'" in fault(neutron.post("/networks", json={"network": {
        "name": "x", "colour": "red"}}), 400)
    fault(neutron.post("/networks", json={"net": {}}), 400)
    fault(neutron.post("/networks", json={"network": {"admin_state_up": "maybe"}}), 400)
    fault(neutron.get("/networks/nope"), 404, "NetworkNotFound")
    assert neutron.get("/networks").json()["networks"][0]["name"] == "public"


# networks and segments


def test_a_tenant_network_gets_a_vxlan_segment_shown_to_admins_only(neutron: Neutron, alice: Member) -> None:
    net = neutron.as_user(alice.token).network("mine")
    assert net["mtu"] == 1450 and net["status"] == "ACTIVE" and net["project_id"] == alice.project_id
    assert "provider:network_type" not in net
    seen = neutron.get(f"/networks/{net['id']}").json()["network"]
    assert seen["provider:network_type"] == "vxlan" and seen["provider:physical_network"] is None
    other = neutron.network("other")
    assert other["provider:segmentation_id"] != seen["provider:segmentation_id"]


def test_provider_attributes_and_sharing_are_for_admins(neutron: Neutron, alice: Member) -> None:
    message = fault(neutron.as_user(alice.token).post("/networks", json={"network": {"shared": True}}), 403,
                    "HTTPForbidden")
    assert "create_network:shared" in message
    fault(neutron.as_user(alice.token).post("/networks", json={"network": {"provider:network_type": "vlan"}}), 403)
    vlan = neutron.network("v", **{"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                                   "provider:segmentation_id": 1234})
    assert (vlan["provider:network_type"], vlan["provider:segmentation_id"], vlan["mtu"]) == ("vlan", 1234, 1500)
    fault(neutron.post("/networks", json={"network": {"provider:network_type": "vlan",
                                                      "provider:physical_network": "physnet1",
                                                      "provider:segmentation_id": 1234}}), 409, "VlanIdInUse")
    fault(neutron.post("/networks", json={"network": {"provider:network_type": "vlan",
                                                      "provider:physical_network": "nowhere"}}), 400, "InvalidInput")
    assert neutron.delete(f"/networks/{vlan['id']}").status_code == 204
    again = neutron.network("v2", **{"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                                     "provider:segmentation_id": 1234})
    assert again["provider:segmentation_id"] == 1234


def test_others_see_shared_and_external_networks_but_cannot_change_them(neutron: Neutron, alice: Member,
                                                                         bob: Member) -> None:
    shared = neutron.network("shared-net", shared=True)
    private = neutron.as_user(bob.token).network("bobs")
    as_alice = neutron.as_user(alice.token)
    names = {n["name"] for n in as_alice.get("/networks").json()["networks"]}
    assert names == {"public", "shared-net"}
    fault(as_alice.get(f"/networks/{private['id']}"), 404, "NetworkNotFound")
    fault(as_alice.put(f"/networks/{shared['id']}", json={"network": {"name": "mine"}}), 403)
    fault(as_alice.delete(f"/networks/{private['id']}"), 404)
    fault(as_alice.post("/ports", json={"port": {"network_id": private["id"]}}), 404, "NetworkNotFound")
    assert as_alice.port(shared["id"])["project_id"] == alice.project_id


def test_mtu_cannot_exceed_what_the_segment_carries(neutron: Neutron) -> None:
    net = neutron.network("m", mtu=1400)
    assert net["mtu"] == 1400
    fault(neutron.put(f"/networks/{net['id']}", json={"network": {"mtu": 1500}}), 400, "InvalidInput")
    updated = neutron.put(f"/networks/{net['id']}", json={"network": {"mtu": 1450, "name": "m2"}}).json()["network"]
    assert (updated["mtu"], updated["name"], updated["revision_number"]) == (1450, "m2", 1)
    fault(neutron.put(f"/networks/{net['id']}", json={"network": {"provider:network_type": "flat"}}), 400)


# subnets


def test_subnet_defaults_gateway_and_pools_as_neutron_does(neutron: Neutron) -> None:
    net = neutron.network()
    subnet = neutron.subnet(net["id"], "10.0.0.0/24", dns_nameservers=["8.8.8.8"],
                            host_routes=[{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}])
    assert subnet["gateway_ip"] == "10.0.0.1" and subnet["enable_dhcp"] is True
    assert subnet["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert neutron.get(f"/networks/{net['id']}").json()["network"]["subnets"] == [subnet["id"]]
    middle = neutron.subnet(net["id"], "10.1.0.0/24", gateway_ip="10.1.0.100")
    assert middle["allocation_pools"] == [{"start": "10.1.0.1", "end": "10.1.0.99"},
                                          {"start": "10.1.0.101", "end": "10.1.0.254"}]
    none = neutron.subnet(net["id"], "10.2.0.0/24", gateway_ip=None)
    assert none["gateway_ip"] is None and none["allocation_pools"][0]["start"] == "10.2.0.1"
    v6 = neutron.subnet(net["id"], "2001:db8::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    assert v6["gateway_ip"] == "2001:db8::1" and v6["allocation_pools"][0]["end"] == "2001:db8::ffff:ffff:ffff:ffff"


@pytest.mark.parametrize(("body", "status", "fault_type", "words"), [
    ({"cidr": "10.0.0.0/25"}, 400, "InvalidInput", "overlaps with another subnet"),
    ({"cidr": "10.9.0.0/24", "gateway_ip": "10.8.0.1"}, 400, "InvalidInput", "Gateway is not valid on subnet"),
    ({"cidr": "10.9.0.0/24", "gateway_ip": "10.9.0.0"}, 400, "InvalidInput", "Gateway is not valid on subnet"),
    ({"cidr": "10.9.0.1/24"}, 400, "HTTPBadRequest", "'10.9.0.0/24' is recommended"),
    ({"cidr": "banana"}, 400, "HTTPBadRequest", "is not a valid IP subnet"),
    ({"cidr": "2001:db8::/64"}, 400, "InvalidInput", "does not match ip_version 4"),
    ({"cidr": "0.0.0.0/0"}, 400, "InvalidInput", "0 is not allowed as CIDR prefix length"),
    ({"ip_version": 6, "cidr": "2001:db8::/80", "ipv6_address_mode": "slaac"}, 400, "InvalidInput",
     "Invalid CIDR 2001:db8::/80 for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires "
     "the prefix to be /64"),
    ({"ip_version": 6, "cidr": "2001:db8::/120", "ipv6_ra_mode": "dhcpv6-stateless"}, 400, "InvalidInput",
     "requires the prefix to be /64"),
    ({"cidr": "10.9.0.0/24", "allocation_pools": [{"start": "10.9.0.10", "end": "10.9.1.20"}]}, 400,
     "OutOfBoundsAllocationPool", "spans beyond the subnet cidr"),
    ({"cidr": "10.9.0.0/24", "allocation_pools": [{"start": "10.9.0.10", "end": "10.9.0.20"},
                                                  {"start": "10.9.0.15", "end": "10.9.0.30"}]}, 409,
     "OverlappingAllocationPools", "Found overlapping allocation pools"),
    ({"cidr": "10.9.0.0/24", "gateway_ip": "10.9.0.15",
      "allocation_pools": [{"start": "10.9.0.10", "end": "10.9.0.20"}]}, 409, "GatewayConflictWithAllocationPools",
     "conflicts with allocation pool"),
    ({"cidr": "10.9.0.0/24", "dns_nameservers": ["1.1.1.1", "1.1.1.1"]}, 400, "HTTPBadRequest", "Duplicate"),
    ({"cidr": "10.9.0.0/24", "host_routes": [{"destination": "x", "nexthop": "10.9.0.1"}]}, 400, "HTTPBadRequest",
     "not a valid IP subnet"),
])
def test_bad_subnets_are_refused_and_change_nothing(neutron: Neutron, body: dict[str, object], status: int,
                                                    fault_type: str, words: str) -> None:
    net = neutron.network()
    neutron.subnet(net["id"], "10.0.0.0/24")
    response = neutron.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4, **body}})
    assert words in fault(response, status, fault_type)
    assert len(neutron.get(f"/subnets?network_id={net['id']}").json()["subnets"]) == 1


def test_subnet_updates_recheck_gateway_and_pools(neutron: Neutron) -> None:
    net = neutron.network()
    subnet = neutron.subnet(net["id"], "10.0.0.0/24")
    path = f"/subnets/{subnet['id']}"
    fault(neutron.put(path, json={"subnet": {"gateway_ip": "10.0.0.5"}}), 409, "GatewayConflictWithAllocationPools")
    fault(neutron.put(path, json={"subnet": {"cidr": "10.0.1.0/24"}}), 400, "HTTPBadRequest")
    updated = neutron.put(path, json={"subnet": {"allocation_pools": [{"start": "10.0.0.100", "end": "10.0.0.200"}],
                                                 "name": "s"}}).json()["subnet"]
    assert updated["allocation_pools"] == [{"start": "10.0.0.100", "end": "10.0.0.200"}] and updated["name"] == "s"
    assert neutron.port(net["id"])["fixed_ips"][0]["ip_address"] == "10.0.0.100"


# ports and IPAM


def test_ports_get_addresses_from_the_pools_or_the_ones_they_ask_for(neutron: Neutron) -> None:
    net = neutron.network()
    subnet = neutron.subnet(net["id"], "10.0.0.0/24")
    v6 = neutron.subnet(net["id"], "2001:db8::/64", ipv6_address_mode="slaac", ipv6_ra_mode="slaac")
    first = neutron.port(net["id"], name="first")
    addresses = {ip["subnet_id"]: ip["ip_address"] for ip in first["fixed_ips"]}
    assert addresses[subnet["id"]] == "10.0.0.2"
    mac = first["mac_address"]
    assert mac.startswith("fa:16:3e:")
    octets = mac.split(":")
    eui = f"2001:db8::{int(octets[0], 16) ^ 2:x}{octets[1]}:{octets[2]}ff:fe{octets[3]}:{octets[4]}{octets[5]}"
    assert addresses[v6["id"]] == str(__import__("ipaddress").ip_address(eui))
    chosen = neutron.port(net["id"], fixed_ips=[{"ip_address": "10.0.0.77"}])
    assert chosen["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.77"}]
    by_subnet = neutron.port(net["id"], fixed_ips=[{"subnet_id": subnet["id"]}])
    assert by_subnet["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.3"}]
    # router advertisements alone saying SLAAC make hosts form their own addresses: the port gets that one
    advertised = neutron.subnet(net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac")
    second = neutron.port(net["id"], name="second")
    formed = {ip["subnet_id"]: ip["ip_address"] for ip in second["fixed_ips"]}[advertised["id"]]
    octets = second["mac_address"].split(":")
    assert formed == str(__import__("ipaddress").ip_address(
        f"2001:db8:1::{int(octets[0], 16) ^ 2:x}{octets[1]}:{octets[2]}ff:fe{octets[3]}:{octets[4]}{octets[5]}"))


def test_one_address_one_port_and_one_mac_one_port(neutron: Neutron) -> None:
    net = neutron.network()
    subnet = neutron.subnet(net["id"], "10.0.0.0/24")
    taken = neutron.port(net["id"], fixed_ips=[{"ip_address": "10.0.0.9"}])
    message = fault(neutron.post("/ports", json={"port": {"network_id": net["id"],
                                                          "fixed_ips": [{"ip_address": "10.0.0.9"}]}}),
                    409, "IpAddressAlreadyAllocated")
    assert message == f"IP address 10.0.0.9 already allocated in subnet {subnet['id']}"
    fault(neutron.post("/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.1"}]}}),
          409, "IpAddressAlreadyAllocated")
    fault(neutron.post("/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.5.0.1"}]}}),
          400, "InvalidIpForNetwork")
    fault(neutron.post("/ports", json={"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": subnet["id"], "ip_address": "10.0.0.255"}]}}), 400, "InvalidIpForSubnet")
    fault(neutron.post("/ports", json={"port": {"network_id": net["id"], "mac_address": taken["mac_address"]}}),
          409, "MacAddressInUse")
    other = neutron.network("other")
    neutron.subnet(other["id"], "10.0.0.0/24")
    assert neutron.port(other["id"], mac_address=taken["mac_address"],
                        fixed_ips=[{"ip_address": "10.0.0.9"}])["mac_address"] == taken["mac_address"]
    assert len(neutron.get(f"/ports?network_id={net['id']}").json()["ports"]) == 1


def test_a_full_subnet_fails_cleanly_and_a_freed_address_is_reused(neutron: Neutron) -> None:
    net = neutron.network()
    neutron.subnet(net["id"], "10.0.0.0/29")
    made = [neutron.port(net["id"]) for _ in range(5)]
    assert [p["fixed_ips"][0]["ip_address"] for p in made] == [f"10.0.0.{n}" for n in range(2, 7)]
    message = fault(neutron.post("/ports", json={"port": {"network_id": net["id"]}}), 409,
                    "IpAddressGenerationFailure")
    assert message == f"No more IP addresses available on network {net['id']}."
    assert len(neutron.get(f"/ports?network_id={net['id']}").json()["ports"]) == 5
    assert neutron.delete(f"/ports/{made[2]['id']}").status_code == 204
    assert neutron.port(net["id"])["fixed_ips"][0]["ip_address"] == "10.0.0.4"


def test_port_updates_move_addresses_and_bind_hosts(neutron: Neutron, alice: Member) -> None:
    net = neutron.as_user(alice.token).network()
    subnet = neutron.as_user(alice.token).subnet(net["id"], "10.0.0.0/24")
    port = neutron.as_user(alice.token).port(net["id"], fixed_ips=[{"ip_address": "10.0.0.10"}])
    assert port["status"] == "DOWN" and port["binding:vif_type"] == "unbound"
    moved = neutron.as_user(alice.token).put(f"/ports/{port['id']}", json={"port": {"fixed_ips": [
        {"ip_address": "10.0.0.10"}, {"subnet_id": subnet["id"], "ip_address": "10.0.0.11"}]}}).json()["port"]
    assert [ip["ip_address"] for ip in moved["fixed_ips"]] == ["10.0.0.10", "10.0.0.11"]
    fault(neutron.as_user(alice.token).put(f"/ports/{port['id']}", json={"port": {"binding:host_id": "h1"}}), 403)
    bound = neutron.put(f"/ports/{port['id']}", json={"port": {"binding:host_id": "h1", "device_id": "vm-1",
                                                               "device_owner": "compute:nova"}}).json()["port"]
    assert bound["status"] == "ACTIVE" and bound["binding:host_id"] == "h1" and bound["binding:vif_type"] == "ovs"
    fault(neutron.put(f"/ports/{port['id']}", json={"port": {"network_id": net["id"]}}), 400)
    released = neutron.put(f"/ports/{port['id']}", json={"port": {"fixed_ips": []}}).json()["port"]
    assert released["fixed_ips"] == []
    assert neutron.port(net["id"], fixed_ips=[{"ip_address": "10.0.0.10"}])["fixed_ips"][0]["ip_address"] == "10.0.0.10"


def test_port_security_gates_groups_and_address_pairs(neutron: Neutron) -> None:
    net = neutron.network()
    neutron.subnet(net["id"], "10.0.0.0/24")
    pairs = [{"ip_address": "10.0.0.200"}, {"ip_address": "10.1.0.0/24", "mac_address": "FA:16:3E:00:00:01"}]
    port = neutron.port(net["id"], allowed_address_pairs=pairs)
    assert port["allowed_address_pairs"] == [{"ip_address": "10.0.0.200"},
                                             {"ip_address": "10.1.0.0/24", "mac_address": "fa:16:3e:00:00:01"}]
    assert len(port["security_groups"]) == 1 and port["port_security_enabled"] is True
    fault(neutron.put(f"/ports/{port['id']}", json={"port": {"port_security_enabled": False}}), 409)
    open_port = neutron.port(net["id"], port_security_enabled=False)
    assert open_port["security_groups"] == []
    fault(neutron.post("/ports", json={"port": {"network_id": net["id"], "port_security_enabled": False,
                                                "allowed_address_pairs": [{"ip_address": "10.0.0.3"}]}}), 409)
    fault(neutron.post("/ports", json={"port": {"network_id": net["id"],
                                                "allowed_address_pairs": [{"ip_address": "nope"}]}}), 400)


def test_a_network_with_ports_in_use_cannot_be_deleted(neutron: Neutron) -> None:
    net = neutron.network()
    subnet = neutron.subnet(net["id"], "10.0.0.0/24")
    port = neutron.port(net["id"])
    fault(neutron.delete(f"/networks/{net['id']}"), 409, "NetworkInUse")
    fault(neutron.delete(f"/subnets/{subnet['id']}"), 409, "SubnetInUse")
    assert neutron.get(f"/networks/{net['id']}").json()["network"]["subnets"] == [subnet["id"]]
    assert neutron.delete(f"/ports/{port['id']}").status_code == 204
    assert neutron.delete(f"/networks/{net['id']}").status_code == 204
    fault(neutron.get(f"/subnets/{subnet['id']}"), 404, "SubnetNotFound")


def test_bulk_create_is_all_or_nothing(neutron: Neutron) -> None:
    net = neutron.network()
    neutron.subnet(net["id"], "10.0.0.0/24")
    made = neutron.post("/ports", json={"ports": [{"network_id": net["id"], "name": "a"},
                                                  {"network_id": net["id"], "name": "b"}]})
    assert made.status_code == 201 and [p["name"] for p in made.json()["ports"]] == ["a", "b"]
    clash = {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.2"}]}
    refused = neutron.post("/ports", json={"ports": [{"network_id": net["id"], "name": "c"}, clash]})
    fault(refused, 409, "IpAddressAlreadyAllocated")
    assert sorted(p["name"] for p in neutron.get(f"/ports?network_id={net['id']}").json()["ports"]) == ["a", "b"]
