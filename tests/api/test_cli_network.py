"""The networking service through the unmodified ``openstack`` CLI against ``twinstack serve``:
networks, v4 and v6 subnets, ports with chosen addresses, a router with a gateway and an interface,
a floating IP on a port, security group rules, quotas, and Neutron's refusals as the CLI shows them."""

from __future__ import annotations

import pytest

from tests.conftest import OpenStackCLI

pytestmark = pytest.mark.slow


def test_networks_subnets_and_ports(openstack: OpenStackCLI) -> None:
    net = openstack.json("network", "create", "cli-net")
    assert net["name"] == "cli-net" and net["mtu"] == 1450 and net["provider:network_type"] == "vxlan"
    v4 = openstack.json("subnet", "create", "--network", "cli-net", "--subnet-range", "10.10.0.0/24",
                        "--dns-nameserver", "8.8.8.8", "cli-v4")
    assert v4["gateway_ip"] == "10.10.0.1" and v4["dns_nameservers"] == ["8.8.8.8"]
    v6 = openstack.json("subnet", "create", "--network", "cli-net", "--ip-version", "6", "--subnet-range",
                        "2001:db8:10::/64", "--ipv6-ra-mode", "slaac", "--ipv6-address-mode", "slaac", "cli-v6")
    assert v6["ip_version"] == 6 and v6["ipv6_address_mode"] == "slaac"
    port = openstack.json("port", "create", "--network", "cli-net", "--fixed-ip",
                          "subnet=cli-v4,ip-address=10.10.0.50", "cli-port")
    assert port["fixed_ips"] == [{"subnet_id": v4["id"], "ip_address": "10.10.0.50"}]
    assert port["mac_address"].startswith("fa:16:3e:")
    listed = {p["Name"]: p for p in openstack.json("port", "list", "--network", "cli-net")}
    assert set(listed) == {"cli-port"}
    shown = openstack.json("network", "show", "cli-net")
    assert sorted(shown["subnets"]) == sorted([v4["id"], v6["id"]])
    taken = openstack.run("port", "create", "--network", "cli-net", "--fixed-ip", "ip-address=10.10.0.50", "again",
                          check=False)
    assert taken.returncode != 0 and "IP address 10.10.0.50 already allocated in subnet" in taken.stderr
    overlap = openstack.run("subnet", "create", "--network", "cli-net", "--subnet-range", "10.10.0.0/25", "x",
                            check=False)
    assert overlap.returncode != 0 and "overlaps with another subnet" in overlap.stderr
    gateway = openstack.run("subnet", "create", "--network", "cli-net", "--subnet-range", "10.11.0.0/24",
                            "--gateway", "10.12.0.1", "y", check=False)
    assert gateway.returncode != 0 and "Gateway is not valid on subnet" in gateway.stderr
    in_use = openstack.run("network", "delete", "cli-net", check=False)
    assert in_use.returncode != 0 and "There are one or more ports still in use on the network" in in_use.stderr
    openstack.run("port", "delete", "cli-port")
    openstack.run("network", "delete", "cli-net")
    assert "cli-net" not in {n["Name"] for n in openstack.json("network", "list")}


def test_a_router_a_floating_ip_and_security_rules(openstack: OpenStackCLI) -> None:
    openstack.run("network", "create", "l3-net")
    subnet = openstack.json("subnet", "create", "--network", "l3-net", "--subnet-range", "10.20.0.0/24", "l3-sub")
    port = openstack.json("port", "create", "--network", "l3-net", "l3-port")
    fip = openstack.json("floating", "ip", "create", "public")
    address = fip["floating_ip_address"]
    assert address.startswith("172.24.4.") and fip["port_id"] is None
    unrouted = openstack.run("floating", "ip", "set", "--port", "l3-port", address, check=False)
    assert unrouted.returncode != 0 and f"is not reachable from subnet {subnet['id']}" in unrouted.stderr
    router = openstack.json("router", "create", "l3-router")
    openstack.run("router", "set", "--external-gateway", "public", "l3-router")
    openstack.run("router", "add", "subnet", "l3-router", "l3-sub")
    shown = openstack.json("router", "show", "l3-router")
    assert shown["external_gateway_info"]["network_id"] == openstack.json("network", "show", "public")["id"]
    assert [i["subnet_id"] for i in shown["interfaces_info"]] == [subnet["id"]]
    openstack.run("floating", "ip", "set", "--port", "l3-port", address)
    associated = openstack.json("floating", "ip", "show", address)
    assert associated["port_id"] == port["id"] and associated["router_id"] == router["id"]
    assert associated["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    busy = openstack.run("router", "remove", "subnet", "l3-router", "l3-sub", check=False)
    assert busy.returncode != 0 and "required by one or more floating IPs" in busy.stderr
    openstack.run("floating", "ip", "unset", "--port", address)
    assert openstack.json("floating", "ip", "show", address)["port_id"] is None
    group = openstack.json("security", "group", "create", "cli-web")
    rule = openstack.json("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "cli-web")
    assert (rule["protocol"], rule["port_range_min"], rule["port_range_max"]) == ("tcp", 22, 22)
    duplicate = openstack.run("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
                              "cli-web", check=False)
    assert duplicate.returncode != 0 and "Security group rule already exists" in duplicate.stderr
    rules = openstack.json("security", "group", "rule", "list", "cli-web")
    assert sorted((r["IP Protocol"] or "any", r["Direction"]) for r in rules) == [
        ("any", "egress"), ("any", "egress"), ("tcp", "ingress")]
    openstack.run("port", "set", "--security-group", "cli-web", "l3-port")
    assert group["id"] in openstack.json("port", "show", "l3-port")["security_group_ids"]
    openstack.run("floating", "ip", "delete", address)
    openstack.run("router", "remove", "subnet", "l3-router", "l3-sub")
    openstack.run("router", "delete", "l3-router")


def test_quotas_stop_creation(openstack: OpenStackCLI) -> None:
    project = openstack.json("project", "create", "net-quota")["id"]
    openstack.run("quota", "set", "--networks", "1", project)
    openstack.run("network", "create", "--project", project, "quota-net-1")
    refused = openstack.run("network", "create", "--project", project, "quota-net-2", check=False)
    assert refused.returncode != 0 and "Quota exceeded for resources: ['network']" in refused.stderr
    assert [n["Name"] for n in openstack.json("network", "list", "--project", project)] == ["quota-net-1"]


def test_router_add_and_remove_port(openstack: OpenStackCLI) -> None:
    openstack.run("network", "create", "rp-net")
    subnet = openstack.json("subnet", "create", "--network", "rp-net", "--subnet-range", "10.30.0.0/24", "rp-sub")
    port = openstack.json("port", "create", "--network", "rp-net", "--fixed-ip", "subnet=rp-sub,ip-address=10.30.0.9",
                          "rp-leg")
    bare = openstack.json("port", "create", "--network", "rp-net", "--no-fixed-ip", "rp-bare")
    router = openstack.json("router", "create", "rp-router")
    no_ip = openstack.run("router", "add", "port", "rp-router", "rp-bare", check=False)
    assert no_ip.returncode != 0 and "Router port must have at least one fixed IP" in no_ip.stderr
    openstack.run("router", "add", "port", "rp-router", "rp-leg")
    leg = openstack.json("port", "show", "rp-leg")
    assert (leg["device_owner"], leg["device_id"]) == ("network:router_interface", router["id"])
    assert leg["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.30.0.9"}]
    shown = openstack.json("router", "show", "rp-router")
    assert [(i["port_id"], i["ip_address"]) for i in shown["interfaces_info"]] == [(port["id"], "10.30.0.9")]
    again = openstack.json("port", "create", "--network", "rp-net", "rp-again")
    same_subnet = openstack.run("router", "add", "port", "rp-router", "rp-again", check=False)
    assert same_subnet.returncode != 0 and f"Router already has a port on subnet {subnet['id']}" in same_subnet.stderr
    busy = openstack.run("router", "add", "port", "rp-router", "rp-leg", check=False)
    assert busy.returncode != 0 and f"Port already has an attached device {router['id']}" in busy.stderr
    in_use = openstack.run("router", "delete", "rp-router", check=False)
    assert in_use.returncode != 0 and "still has ports" in in_use.stderr
    openstack.run("router", "remove", "port", "rp-router", "rp-leg")
    assert openstack.json("router", "show", "rp-router")["interfaces_info"] == []
    assert {p["ID"] for p in openstack.json("port", "list", "--network", "rp-net")} == {bare["id"], again["id"]}
    openstack.run("router", "delete", "rp-router")
    openstack.run("port", "delete", "rp-bare", "rp-again")
    openstack.run("network", "delete", "rp-net")


def test_extra_routes_default_pools_and_stateless_groups(openstack: OpenStackCLI) -> None:
    openstack.run("network", "create", "ext-net")
    subnet = openstack.json("subnet", "create", "--network", "ext-net", "--subnet-range", "10.40.0.0/24", "ext-sub")
    openstack.run("router", "create", "ext-router")
    openstack.run("router", "add", "subnet", "ext-router", "ext-sub")
    openstack.run("router", "add", "route", "--route", "destination=192.168.40.0/24,gateway=10.40.0.5",
                  "--route", "destination=192.168.41.0/24,gateway=10.40.0.6", "ext-router")
    assert openstack.json("router", "show", "ext-router")["routes"] == [
        {"destination": "192.168.40.0/24", "nexthop": "10.40.0.5"},
        {"destination": "192.168.41.0/24", "nexthop": "10.40.0.6"}]
    openstack.run("router", "remove", "route", "--route", "destination=192.168.40.0/24,gateway=10.40.0.5",
                  "ext-router")
    assert openstack.json("router", "show", "ext-router")["routes"] == [
        {"destination": "192.168.41.0/24", "nexthop": "10.40.0.6"}]
    unreachable = openstack.run("router", "add", "route", "--route", "destination=192.168.42.0/24,gateway=10.99.0.1",
                                "ext-router", check=False)
    assert unreachable.returncode != 0 and "the nexthop is not connected with router" in unreachable.stderr

    devstacks = openstack.json("subnet", "pool", "show", "shared-default-subnetpool-v4")
    assert (devstacks["is_default"], devstacks["shared"], devstacks["prefixes"]) == (True, True, ["10.0.0.0/16"])
    openstack.run("subnet", "pool", "set", "--no-default", "shared-default-subnetpool-v4")
    pool = openstack.json("subnet", "pool", "create", "--pool-prefix", "10.230.0.0/16", "--default-prefix-length",
                          "24", "--default", "--share", "cli-default")
    assert pool["is_default"] is True
    carved = openstack.json("subnet", "create", "--network", "ext-net", "--use-default-subnet-pool", "carved")
    assert (carved["cidr"], carved["subnetpool_id"]) == ("10.230.0.0/24", pool["id"])

    group = openstack.json("security", "group", "create", "--stateless", "cli-stateless")
    assert group["stateful"] is False
    openstack.run("port", "create", "--network", "ext-net", "--fixed-ip", f"subnet={subnet['id']}",
                  "--security-group", "cli-stateless", "ext-port")
    in_use = openstack.run("security", "group", "set", "--stateful", "cli-stateless", check=False)
    assert in_use.returncode != 0 and "in use" in in_use.stderr
    openstack.run("port", "delete", "ext-port")
    openstack.run("security", "group", "set", "--stateful", "cli-stateless")
    assert openstack.json("security", "group", "show", "cli-stateless")["stateful"] is True
