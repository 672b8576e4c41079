"""Networking v2.0 security groups, routers and floating IPs through the in-process API.

The floating IP rules are Neutron's: an address is associated only with a port whose subnet a
router joins to the floating IP's external network; refusals change nothing.
"""

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
    """Alice (a member of project demo) speaking Neutron."""
    return Neutron(api, alice.token)


@pytest.fixture
def admin(api: Api) -> Neutron:
    return Neutron(api)


def tenant_network(neutron: Neutron, cidr: str = "10.0.0.0/24") -> tuple[dict[str, Any], dict[str, Any]]:
    net = neutron.network("private")
    return net, neutron.subnet(net["id"], cidr)


# security groups


def test_the_default_group_appears_on_first_use_with_neutrons_rules(demo: Neutron, alice: Member) -> None:
    groups = demo.get("/security-groups").json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    default = groups[0]
    assert default["project_id"] == alice.project_id
    rules = {(r["direction"], r["ethertype"], r["remote_group_id"]) for r in default["security_group_rules"]}
    assert rules == {("egress", "IPv4", None), ("egress", "IPv6", None), ("ingress", "IPv4", default["id"]),
                     ("ingress", "IPv6", default["id"])}
    assert [g["id"] for g in demo.get("/security-groups").json()["security_groups"]] == [default["id"]]
    net, _ = tenant_network(demo)
    assert demo.port(net["id"])["security_groups"] == [default["id"]]
    fault(demo.delete(f"/security-groups/{default['id']}"), 409, "SecurityGroupCannotRemoveDefault")
    fault(demo.post("/security-groups", json={"security_group": {"name": "default"}}), 409)


def test_rules_are_checked_and_never_duplicated(demo: Neutron) -> None:
    web = demo.create("security-groups", "security_group", name="web")
    assert len(web["security_group_rules"]) == 2
    rule = demo.create("security-group-rules", "security_group_rule", security_group_id=web["id"],
                       direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                       remote_ip_prefix="0.0.0.0/0")
    assert (rule["protocol"], rule["ethertype"], rule["port_range_min"]) == ("tcp", "IPv4", 22)
    message = fault(demo.post("/security-group-rules", json={"security_group_rule": {
        "security_group_id": web["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 22,
        "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}}), 409, "SecurityGroupRuleExists")
    assert rule["id"] in message
    # the same rule spelled otherwise: the protocol by its number, a prefix of every address as none
    for same in ({"protocol": "6", "remote_ip_prefix": "0.0.0.0/0"}, {"protocol": "tcp"}, {"protocol": "6"}):
        body = {"security_group_id": web["id"], "direction": "ingress", "port_range_min": 22, "port_range_max": 22}
        assert rule["id"] in fault(demo.post("/security-group-rules", json={"security_group_rule": body | same}),
                                   409, "SecurityGroupRuleExists")
    # on an IPv6 rule, ICMP by any name or number (icmp, icmpv6, 1, 58) is ICMPv6: one rule
    icmp6 = demo.create("security-group-rules", "security_group_rule", security_group_id=web["id"],
                        direction="ingress", ethertype="IPv6", protocol="ipv6-icmp")
    for spelled in ("icmp", "icmpv6", "58", "1"):
        body = {"security_group_id": web["id"], "direction": "ingress", "ethertype": "IPv6", "protocol": spelled}
        assert icmp6["id"] in fault(demo.post("/security-group-rules", json={"security_group_rule": body}),
                                    409, "SecurityGroupRuleExists"), spelled
    assert demo.delete(f"/security-group-rules/{icmp6['id']}").status_code == 204
    for bad in ({"protocol": "tcp", "port_range_min": 30, "port_range_max": 20},
                {"protocol": "bogus"},
                {"protocol": "icmp", "port_range_min": 300},
                {"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"},
                {"direction": "sideways"},
                {"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": web["id"]}):
        body = {"security_group_id": web["id"], "direction": "ingress", **bad}
        fault(demo.post("/security-group-rules", json={"security_group_rule": body}), 400)
    shown = demo.get(f"/security-groups/{web['id']}").json()["security_group"]
    assert len(shown["security_group_rules"]) == 3
    assert demo.delete(f"/security-group-rules/{rule['id']}").status_code == 204
    fault(demo.get(f"/security-group-rules/{rule['id']}"), 404, "SecurityGroupRuleNotFound")


def test_ports_bind_to_groups_and_a_bound_group_cannot_go(demo: Neutron, admin: Neutron) -> None:
    web = demo.create("security-groups", "security_group", name="web")
    net, _ = tenant_network(demo)
    port = demo.port(net["id"], security_groups=[web["id"]])
    assert port["security_groups"] == [web["id"]]
    fault(demo.delete(f"/security-groups/{web['id']}"), 409, "SecurityGroupInUse")
    theirs = admin.create("security-groups", "security_group", name="admins")
    fault(demo.post("/ports", json={"port": {"network_id": net["id"], "security_groups": [theirs["id"]]}}), 404,
          "SecurityGroupNotFound")
    cleared = demo.put(f"/ports/{port['id']}", json={"port": {"security_groups": []}}).json()["port"]
    assert cleared["security_groups"] == []
    assert demo.delete(f"/security-groups/{web['id']}").status_code == 204


# routers and floating IPs


def test_a_router_joins_a_subnet_to_the_public_network(demo: Neutron) -> None:
    public = demo.public()
    net, subnet = tenant_network(demo)
    router = demo.create("routers", "router", name="r1", external_gateway_info={"network_id": public["id"]})
    gateway = router["external_gateway_info"]
    assert gateway["network_id"] == public["id"] and gateway["enable_snat"] is True
    assert gateway["external_fixed_ips"][0]["ip_address"].startswith("172.24.4.")
    added = demo.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    assert added.status_code == 200, added.text
    interface = added.json()
    assert interface["subnet_id"] == subnet["id"] and interface["network_id"] == net["id"]
    port = demo.get(f"/ports/{interface['port_id']}").json()["port"]
    assert port["device_owner"] == "network:router_interface" and port["device_id"] == router["id"]
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.1"}]
    fault(demo.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]}), 400)
    fault(demo.delete(f"/ports/{port['id']}"), 409)
    fault(demo.delete(f"/routers/{router['id']}"), 409, "RouterInUse")
    routed = demo.put(f"/routers/{router['id']}", json={"router": {"routes": [
        {"destination": "192.168.0.0/24", "nexthop": "10.0.0.50"}]}}).json()["router"]
    assert routed["routes"] == [{"destination": "192.168.0.0/24", "nexthop": "10.0.0.50"}]
    fault(demo.put(f"/routers/{router['id']}", json={"router": {"routes": [
        {"destination": "192.168.0.0/24", "nexthop": "10.99.0.1"}]}}), 400)
    fault(demo.put(f"/routers/{router['id']}/remove_router_interface", json={"subnet_id": subnet["id"]}), 409)
    demo.put(f"/routers/{router['id']}", json={"router": {"routes": []}})
    removed = demo.put(f"/routers/{router['id']}/remove_router_interface", json={"subnet_id": subnet["id"]})
    assert removed.status_code == 200 and removed.json()["port_id"] == port["id"]
    fault(demo.get(f"/ports/{port['id']}"), 404, "PortNotFound")
    assert demo.delete(f"/routers/{router['id']}").status_code == 204
    assert [p for p in demo.get("/ports").json()["ports"] if p["device_owner"].startswith("network:router")] == []


def test_a_gateway_must_be_on_an_external_network(demo: Neutron) -> None:
    net, _ = tenant_network(demo)
    fault(demo.post("/routers", json={"router": {"external_gateway_info": {"network_id": net["id"]}}}), 400)
    fault(demo.post("/routers", json={"router": {"external_gateway_info": {"network_id": demo.public()["id"],
                                                                           "enable_snat": False}}}), 403)
    assert demo.get("/routers").json()["routers"] == []


def test_floating_ips_reach_only_routed_ports(demo: Neutron) -> None:
    public = demo.public()
    net, subnet = tenant_network(demo)
    port = demo.port(net["id"], name="vm-port")
    fip = demo.create("floatingips", "floatingip", floating_network_id=public["id"])
    assert fip["status"] == "DOWN" and fip["port_id"] is None
    assert fip["floating_ip_address"].startswith("172.24.4.")
    unrouted = demo.put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}})
    assert f"is not reachable from subnet {subnet['id']}" in fault(unrouted, 404,
                                                                   "ExternalGatewayForFloatingIPNotFound")
    assert demo.get(f"/floatingips/{fip['id']}").json()["floatingip"]["port_id"] is None
    router = demo.create("routers", "router", name="r", external_gateway_info={"network_id": public["id"]})
    demo.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    associated = demo.put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}}).json()
    fixed = port["fixed_ips"][0]["ip_address"]
    assert associated["floatingip"]["fixed_ip_address"] == fixed
    assert associated["floatingip"]["router_id"] == router["id"]
    assert associated["floatingip"]["status"] == "ACTIVE"
    second = demo.create("floatingips", "floatingip", floating_network_id=public["id"])
    fault(demo.put(f"/floatingips/{second['id']}", json={"floatingip": {"port_id": port["id"]}}), 409,
          "FloatingIPPortAlreadyAssociated")
    fault(demo.put(f"/routers/{router['id']}", json={"router": {"external_gateway_info": {}}}), 409)
    listed = demo.get(f"/floatingips?port_id={port['id']}").json()["floatingips"]
    assert [f["id"] for f in listed] == [fip["id"]]
    assert demo.delete(f"/ports/{port['id']}").status_code == 204
    after = demo.get(f"/floatingips/{fip['id']}").json()["floatingip"]
    assert (after["port_id"], after["fixed_ip_address"], after["router_id"]) == (None, None, None)
    address = fip["floating_ip_address"]
    assert demo.delete(f"/floatingips/{fip['id']}").status_code == 204
    ports_on_public = demo.get(f"/ports?network_id={public['id']}&fixed_ips=ip_address={address}")
    assert ports_on_public.json()["ports"] == []


def test_floating_ips_come_only_from_external_networks(demo: Neutron, admin: Neutron) -> None:
    net, _ = tenant_network(demo)
    fault(demo.post("/floatingips", json={"floatingip": {"floating_network_id": net["id"]}}), 400)
    fault(demo.post("/floatingips", json={"floatingip": {"floating_network_id": demo.public()["id"],
                                                         "floating_ip_address": "172.24.4.100"}}), 403)
    chosen = admin.create("floatingips", "floatingip", floating_network_id=demo.public()["id"],
                          floating_ip_address="172.24.4.100")
    assert chosen["floating_ip_address"] == "172.24.4.100"
    fault(admin.post("/floatingips", json={"floatingip": {"floating_network_id": demo.public()["id"],
                                                          "floating_ip_address": "172.24.4.100"}}), 409,
          "IpAddressAlreadyAllocated")
