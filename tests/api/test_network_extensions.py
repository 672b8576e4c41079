"""Three extensions the service lists, each driven end to end through the in-process API:

* extraroute-atomic: ``add_extraroutes``/``remove_extraroutes`` change a router's routes as a set, on the server;
* default-subnetpools: one default pool per IP family, and subnets asked with ``use_default_subnetpool``;
* stateful-security-group: ``stateful`` on groups, fixed once a port uses the group, and carried to the host's
  agent in every rule it plugs.
"""

# ruff: noqa: F811  (the fixtures imported from network_fixtures are the tests' parameters)
from __future__ import annotations

import time
from typing import Any

from tests.api.compute_helpers import TEST_IMAGE_ID, Member, Nova
from tests.api.network_fixtures import alice, neutron, nova, plane  # noqa: F401  (fixtures)
from tests.api.network_helpers import Neutron, fault
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.rpc.network import PortSpec


def plugged(plane: ComputePlane, host: str, port_id: str, timeout: float = 10) -> PortSpec:
    """What the host's simulated agent holds for the port, once it has it."""
    deadline = time.monotonic() + timeout
    while (plug := next(iter(a.plugged.get(host, {}).get(port_id) for a in plane.agents), None)) is None:
        assert time.monotonic() < deadline, "the agent never got the port"
        time.sleep(0.05)
    return plug


def extension_listed(neutron: Neutron, alias: str) -> None:
    assert neutron.get(f"/extensions/{alias}").status_code == 200


# extraroute-atomic


def routed_router(neutron: Neutron) -> dict[str, Any]:
    net = neutron.network("private")
    subnet = neutron.subnet(net["id"], "10.0.0.0/24")
    router = neutron.create("routers", "router", name="r")
    neutron.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    return router


def test_extra_routes_are_added_and_removed_as_a_set(neutron: Neutron) -> None:
    extension_listed(neutron, "extraroute-atomic")
    router = routed_router(neutron)
    add, remove = f"/routers/{router['id']}/add_extraroutes", f"/routers/{router['id']}/remove_extraroutes"
    first = {"destination": "192.168.1.0/24", "nexthop": "10.0.0.10"}
    second = {"destination": "192.168.2.0/24", "nexthop": "10.0.0.11"}
    answer = neutron.put(add, json={"router": {"routes": [first]}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["router"]["id"] == router["id"] and answer.json()["router"]["routes"] == [first]
    again = neutron.put(add, json={"router": {"routes": [first, second, second]}}).json()["router"]
    assert again["routes"] == [first, second]
    unreachable = {"destination": "192.168.3.0/24", "nexthop": "10.9.0.1"}
    message = fault(neutron.put(add, json={"router": {"routes": [unreachable]}}), 400, "InvalidRoutes")
    assert "the nexthop is not connected with router" in message
    fault(neutron.put(add, json={"router": {"routes": [{"destination": "nowhere", "nexthop": "10.0.0.1"}]}}), 400)
    fault(neutron.put(add, json={"router": {"routes": [first], "name": "x"}}), 400)
    assert neutron.get(f"/routers/{router['id']}").json()["router"]["routes"] == [first, second]
    left = neutron.put(remove, json={"router": {"routes": [first, unreachable]}}).json()["router"]
    assert left["routes"] == [second]
    shown = neutron.get(f"/routers/{router['id']}").json()["router"]
    assert shown["routes"] == [second] and shown["revision_number"] > router["revision_number"]
    neutron.put(remove, json={"router": {"routes": [second]}})
    assert neutron.get(f"/routers/{router['id']}").json()["router"]["routes"] == []


def test_v6_extra_routes_compare_by_address_not_by_spelling(neutron: Neutron) -> None:
    net = neutron.network("v6")
    subnet = neutron.subnet(net["id"], "2001:db8::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    router = neutron.create("routers", "router", name="r6")
    neutron.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    long_form = {"destination": "2001:0db8:0001:0000::/64", "nexthop": "2001:0db8:0000:0000::10"}
    added = neutron.put(f"/routers/{router['id']}/add_extraroutes", json={"router": {"routes": [long_form]}})
    assert added.json()["router"]["routes"] == [{"destination": "2001:db8:1::/64", "nexthop": "2001:db8::10"}]
    removed = neutron.put(f"/routers/{router['id']}/remove_extraroutes", json={"router": {"routes": [long_form]}})
    assert removed.json()["router"]["routes"] == []


# default-subnetpools


def test_one_default_pool_per_family_serves_use_default_subnetpool(api: Api, neutron: Neutron) -> None:
    extension_listed(neutron, "default-subnetpools")
    admin = Neutron(api)
    [devstacks] = admin.get("/subnetpools?is_default=true").json()["subnetpools"]
    assert (devstacks["name"], devstacks["prefixes"], devstacks["default_prefixlen"], devstacks["shared"]) == (
        "shared-default-subnetpool-v4", ["10.0.0.0/16"], 26, True)
    assert admin.put(f"/subnetpools/{devstacks['id']}", json={"subnetpool": {"is_default": False}}).status_code == 200
    net = neutron.network("carved")
    message = fault(neutron.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                              "use_default_subnetpool": True}}), 400, "BadRequest")
    assert message == "Bad subnets request: No default subnetpool found for IPv4."
    fault(neutron.post("/subnetpools", json={"subnetpool": {"name": "mine", "prefixes": ["10.50.0.0/16"],
                                                            "is_default": True}}), 403)
    first = admin.create("subnetpools", "subnetpool", name="default-v4", prefixes=["10.200.0.0/16"],
                         default_prefixlen=24, shared=True, is_default=True)
    assert first["is_default"] is True
    message = fault(admin.post("/subnetpools", json={"subnetpool": {"name": "another", "prefixes": ["10.201.0.0/16"],
                                                                    "is_default": True, "shared": True}}),
                    400, "InvalidInput")
    assert "A default subnetpool for this IP family has already been set" in message
    v6 = admin.create("subnetpools", "subnetpool", name="default-v6", prefixes=["2001:db8:100::/48"],
                      default_prefixlen=64, shared=True, is_default=True)
    carved = neutron.create("subnets", "subnet", network_id=net["id"], ip_version=4, use_default_subnetpool=True)
    assert (carved["cidr"], carved["subnetpool_id"], carved["gateway_ip"]) == ("10.200.0.0/24", first["id"],
                                                                               "10.200.0.1")
    carved6 = neutron.create("subnets", "subnet", network_id=net["id"], ip_version=6, use_default_subnetpool=True,
                             ipv6_address_mode="slaac", ipv6_ra_mode="slaac")
    assert (carved6["cidr"], carved6["subnetpool_id"]) == ("2001:db8:100::/64", v6["id"])
    second = admin.create("subnetpools", "subnetpool", name="next-v4", prefixes=["10.210.0.0/16"],
                          default_prefixlen=26, shared=True)
    fault(admin.put(f"/subnetpools/{second['id']}", json={"subnetpool": {"is_default": True}}), 400, "InvalidInput")
    admin.put(f"/subnetpools/{first['id']}", json={"subnetpool": {"is_default": False}})
    moved = admin.put(f"/subnetpools/{second['id']}", json={"subnetpool": {"is_default": True}})
    assert moved.status_code == 200 and moved.json()["subnetpool"]["is_default"] is True
    other = neutron.network("other")
    next_carved = neutron.create("subnets", "subnet", network_id=other["id"], ip_version=4,
                                 use_default_subnetpool=True)
    assert (next_carved["cidr"], next_carved["subnetpool_id"]) == ("10.210.0.0/26", second["id"])
    defaults = admin.get("/subnetpools?is_default=true").json()["subnetpools"]
    assert sorted(p["name"] for p in defaults) == ["default-v6", "next-v4"]


def test_a_default_pool_another_project_cannot_see_is_no_default_for_it(api: Api, neutron: Neutron) -> None:
    admin = Neutron(api)
    [devstacks] = admin.get("/subnetpools?is_default=true").json()["subnetpools"]
    assert admin.put(f"/subnetpools/{devstacks['id']}", json={"subnetpool": {"is_default": False}}).status_code == 200
    admin.create("subnetpools", "subnetpool", name="private-default", prefixes=["10.220.0.0/16"],
                 default_prefixlen=24, is_default=True)
    net = neutron.network("n")
    fault(neutron.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                    "use_default_subnetpool": True}}), 400, "BadRequest")
    assert neutron.get(f"/subnets?network_id={net['id']}").json()["subnets"] == []


# stateful-security-group


def test_statefulness_is_fixed_while_a_port_uses_the_group(neutron: Neutron, alice: Member) -> None:
    extension_listed(neutron, "stateful-security-group")
    stateless = neutron.create("security-groups", "security_group", name="stateless", stateful=False)
    assert stateless["stateful"] is False
    assert neutron.create("security-groups", "security_group", name="plain")["stateful"] is True
    path = f"/security-groups/{stateless['id']}"
    flipped = neutron.put(path, json={"security_group": {"stateful": True}}).json()["security_group"]
    assert flipped["stateful"] is True
    neutron.put(path, json={"security_group": {"stateful": False}})
    net = neutron.network("n")
    neutron.subnet(net["id"], "10.0.0.0/24")
    port = neutron.port(net["id"], security_groups=[stateless["id"]])
    message = fault(neutron.put(path, json={"security_group": {"stateful": True}}), 409, "SecurityGroupInUse")
    assert message == f"Security Group {stateless['id']} in use."
    renamed = neutron.put(path, json={"security_group": {"name": "still-stateless", "stateful": False}})
    assert renamed.status_code == 200 and renamed.json()["security_group"]["stateful"] is False
    assert neutron.get("/security-groups?stateful=false").json()["security_groups"][0]["id"] == stateless["id"]
    neutron.put(f"/ports/{port['id']}", json={"port": {"security_groups": []}})
    assert neutron.put(path, json={"security_group": {"stateful": True}}).status_code == 200


def test_the_agent_learns_which_rules_are_stateless(api: Api, plane: ComputePlane, nova: Nova,
                                                    neutron: Neutron) -> None:
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    stateless = neutron.create("security-groups", "security_group", name="udp-only", stateful=False)
    rule = neutron.create("security-group-rules", "security_group_rule", security_group_id=stateless["id"],
                          direction="ingress", protocol="udp", port_range_min=53, port_range_max=53)
    stateless_rules = {r["id"] for r in stateless["security_group_rules"]} | {rule["id"]}
    flags: dict[str, dict[str, bool]] = {}
    for name, group in (("vm", "udp-only"), ("vm2", "default")):
        created = nova.boot(name, networks=[{"uuid": net["id"]}], security_groups=[{"name": group}])
        server = nova.wait_for(created["id"], "ACTIVE")
        host = Nova(api).server(server["id"])["OS-EXT-SRV-ATTR:host"]
        [port] = neutron.get(f"/ports?device_id={created['id']}").json()["ports"]
        flags[group] = {r.id: r.stateful for r in plugged(plane, host, port["id"]).security_group_rules}
    assert flags["udp-only"] == dict.fromkeys(stateless_rules, False)
    assert flags["default"] and all(flags["default"].values())


def test_a_port_is_in_stateful_or_in_stateless_groups_not_both(api: Api, plane: ComputePlane, nova: Nova,
                                                               neutron: Neutron) -> None:
    """Neutron's SecurityGroupConflict (409), on a port's create and update and on a server's groups."""
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    stateless = neutron.create("security-groups", "security_group", name="udp-only", stateful=False)
    default = neutron.get("/security-groups?name=default").json()["security_groups"][0]
    conflict = ("Error Cannot apply both stateful and stateless security groups on the same port at the same time. "
                "while attempting the operation.")
    assert fault(neutron.post("/ports", json={"port": {"network_id": net["id"], "security_groups": [
        stateless["id"], default["id"]]}}), 409, "SecurityGroupConflict") == conflict
    assert neutron.get(f"/ports?network_id={net['id']}&device_owner=").json()["ports"] == []
    port = neutron.port(net["id"], security_groups=[stateless["id"]])
    assert fault(neutron.put(f"/ports/{port['id']}", json={"port": {"security_groups": [
        stateless["id"], default["id"]]}}), 409, "SecurityGroupConflict") == conflict
    assert neutron.get(f"/ports/{port['id']}").json()["port"]["security_groups"] == [stateless["id"]]

    refused = nova.post("/servers", json={"server": {
        "name": "mixed", "flavorRef": "1", "imageRef": TEST_IMAGE_ID, "networks": [{"uuid": net["id"]}],
        "security_groups": [{"name": "udp-only"}, {"name": "default"}]}})
    assert refused.status_code == 409, refused.text
    server = nova.wait_for(nova.boot("vm", networks=[{"uuid": net["id"]}],
                                     security_groups=[{"name": "udp-only"}])["id"], "ACTIVE")
    added = nova.action(server["id"], {"addSecurityGroup": {"name": "default"}})
    assert added.status_code == 409, added.text
    [server_port] = neutron.get(f"/ports?device_id={server['id']}").json()["ports"]
    assert server_port["security_groups"] == [stateless["id"]]
