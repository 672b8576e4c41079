"""The real agent's networking, piece by piece and without a guest: names, the host plan, dnsmasq's files,
the nftables rulesets (checked by the kernel's own parser, ``nft -c``), NICs in the domain XML, the plugged
ports store and the privileged allow-list."""

from __future__ import annotations

import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from twinstack.real import net_names, nft_rules, privileged
from twinstack.real.dhcp_config import DhcpFiles, dnsmasq_argv, hosts_file, options_file
from twinstack.real.domain_xml import DomainSpec, Nic, domain_xml
from twinstack.real.net_plan import DhcpHost, FloatingIp, dhcp_server_ip, plan
from twinstack.real.plugged_ports import PluggedPorts
from twinstack.rpc.network import (
    ExternalGatewaySpec,
    FixedIpSpec,
    FloatingIpSpec,
    PortSpec,
    RouterSpec,
    RuleSpec,
    SegmentSpec,
)

NET = "6f1c2d3e-0000-4000-8000-000000000001"
PUBLIC = "6f1c2d3e-0000-4000-8000-0000000000ff"


def port(port_id: str, ip: str, mac: str, rules: list[RuleSpec] | None = None, **extra: object) -> PortSpec:
    return PortSpec.model_validate(
        {
            "port_id": port_id,
            "mac_address": mac,
            "network_id": NET,
            "segment": SegmentSpec(mtu=1450),
            "fixed_ips": [FixedIpSpec(subnet_id="sub-1", ip_address=ip, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")],
            "security_group_rules": rules or [],
            **extra,
        }
    )


ROUTER = RouterSpec(
    router_id="router-1",
    subnet_id="sub-1",
    interface_port_id="rif-port-1",
    interface_ip="10.0.0.1",
    cidr="10.0.0.0/24",
    external_gateway=ExternalGatewaySpec(
        port_id="gw-port-1", network_id=PUBLIC, ip_address="172.24.4.10", cidr="172.24.4.0/24", gateway_ip="172.24.4.1"
    ),
)


def nft_accepts(ruleset: str) -> None:
    """The kernel's parser takes the ruleset (``nft -c``: checked, not applied)."""
    done = subprocess.run(["nft", "-c", "-f", "-"], input=ruleset, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + ruleset


# names


def test_interface_names_fit_linux_and_say_what_they_are() -> None:
    port_id = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
    names = [
        net_names.tap(port_id),
        net_names.bridge(port_id),
        net_names.dhcp_host_side(port_id),
        net_names.dhcp_inside(port_id),
        net_names.router_interface_host_side(port_id),
        net_names.router_interface_inside(port_id),
        net_names.router_gateway_host_side(port_id),
        net_names.router_gateway_inside(port_id),
    ]
    assert net_names.tap(port_id) == "tap0a1b2c3d-4e"  # Neutron's habit: tap + the port id's first 11 characters
    assert all(len(name) <= 15 for name in names)
    assert len(set(names)) == len(names)
    assert net_names.dhcp_namespace(port_id) == f"ts-dhcp-{port_id}"


def test_each_agent_has_its_own_firewall_table() -> None:
    one, other = net_names.firewall_table("/var/lib/a"), net_names.firewall_table("/var/lib/b")
    assert one != other and one == net_names.firewall_table("/var/lib/a") and one.startswith("twinstack_")


# the plan


def test_dnsmasq_takes_the_highest_address_nobody_holds() -> None:
    assert dhcp_server_ip("10.0.0.0/24", {"10.0.0.1"}) == "10.0.0.254"
    assert dhcp_server_ip("10.0.0.0/24", {"10.0.0.254", "10.0.0.253"}) == "10.0.0.252"
    assert dhcp_server_ip("10.0.0.0/31", set()) is None


def test_the_plan_serves_each_fixed_ip_and_builds_the_router_with_the_floating_ips() -> None:
    a = port(
        "p-a",
        "10.0.0.5",
        "FA:16:3E:00:00:0A",
        routers=[ROUTER],
        floating_ips=[FloatingIpSpec(floating_ip_address="172.24.4.20", fixed_ip_address="10.0.0.5")],
    )
    b = port("p-b", "10.0.0.6", "fa:16:3e:00:00:0b", routers=[ROUTER])
    host = plan({"vm-a": [a], "vm-b": [b]})
    network = host.networks[NET]
    assert network.mtu == 1450
    assert network.dhcp_hosts == (DhcpHost("fa:16:3e:00:00:0a", "10.0.0.5"), DhcpHost("fa:16:3e:00:00:0b", "10.0.0.6"))
    [subnet] = network.dhcp_subnets
    assert (subnet.server_ip, subnet.gateway_ip, subnet.prefixlen) == ("10.0.0.254", "10.0.0.1", 24)
    router = host.routers["router-1"]
    assert [(i.port_id, i.ip) for i in router.interfaces] == [("rif-port-1", "10.0.0.1")]
    assert router.floating_ips == (FloatingIp("172.24.4.20", "10.0.0.5"),)
    assert host.external[PUBLIC].host_ip == "172.24.4.1"
    assert plan({}).empty and not plan({}).networks and not plan({}).routers


def test_a_subnet_with_dhcp_off_gets_no_dnsmasq_and_no_lease() -> None:
    served = port("p-a", "10.0.0.5", "fa:16:3e:00:00:0a")
    quiet = port("p-b", "10.1.0.5", "fa:16:3e:00:00:0b").model_copy(update={"fixed_ips": [FixedIpSpec(
        subnet_id="sub-2", ip_address="10.1.0.5", cidr="10.1.0.0/24", gateway_ip="10.1.0.1", enable_dhcp=False)]})
    network = plan({"vm-a": [served], "vm-b": [quiet]}).networks[NET]
    assert [s.subnet_id for s in network.dhcp_subnets] == ["sub-1"]
    assert network.dhcp_hosts == (DhcpHost("fa:16:3e:00:00:0a", "10.0.0.5"),)
    assert plan({"vm-b": [quiet]}).networks[NET].dhcp_subnets == ()


def test_a_floating_ip_without_a_router_gateway_is_not_built() -> None:
    unrouted = port(
        "p-a",
        "10.0.0.5",
        "fa:16:3e:00:00:0a",
        routers=[ROUTER.model_copy(update={"external_gateway": None})],
        floating_ips=[FloatingIpSpec(floating_ip_address="172.24.4.20")],
    )
    host = plan({"vm": [unrouted]})
    assert host.routers["router-1"].floating_ips == () and host.external == {}


# dnsmasq


def test_dnsmasq_serves_exactly_the_fixed_ips_and_hands_out_no_range(tmp_path: Path) -> None:
    network = plan(
        {"vm-a": [port("p-a", "10.0.0.5", "fa:16:3e:00:00:0a")], "vm-b": [port("p-b", "10.0.0.6", "fa:16:3e:00:00:0b")]}
    ).networks[NET]
    assert hosts_file(network) == "fa:16:3e:00:00:0a,10.0.0.5\nfa:16:3e:00:00:0b,10.0.0.6\n"
    assert options_file(network) == "tag:subnet0,option:router,10.0.0.1\n"
    argv = dnsmasq_argv(network, "tsn6f1c2d3e-00", DhcpFiles(tmp_path))
    [served] = [a for a in argv if a.startswith("--dhcp-range=")]
    assert served == "--dhcp-range=set:subnet0,10.0.0.0,static,255.255.255.0,86400s"
    assert "--port=0" in argv and f"--dhcp-hostsfile={tmp_path / 'hosts'}" in argv


# nftables


def test_a_rule_becomes_one_nftables_statement() -> None:
    def rule(**fields: object) -> str | None:
        return nft_rules.rule_statement(RuleSpec.model_validate({"id": "r", "direction": "ingress", **fields}))

    assert rule(protocol="tcp", port_range_min=80, port_range_max=81, remote_ip_prefix="192.0.2.0/24") == (
        "meta nfproto ipv4 ip saddr 192.0.2.0/24 meta l4proto tcp tcp dport 80-81 accept"
    )
    assert rule(protocol="icmp", port_range_min=8, port_range_max=0) == (
        "meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0 accept"
    )
    assert rule(protocol="17", port_range_min=53) == "meta nfproto ipv4 meta l4proto udp udp dport 53 accept"
    assert rule(remote_group_id="g", remote_addresses=["10.0.0.5", "10.0.0.6"]) == (
        "meta nfproto ipv4 ip saddr { 10.0.0.5, 10.0.0.6 } accept"
    )
    assert rule(remote_group_id="g", remote_addresses=[]) is None  # a group with no member admits nobody
    assert rule(ethertype="IPv6", protocol="icmp") == "meta nfproto ipv6 meta l4proto icmpv6 accept"
    egress = RuleSpec(id="r", direction="egress", remote_ip_prefix="10.1.0.0/16")
    assert nft_rules.rule_statement(egress, "return") == "meta nfproto ipv4 ip daddr 10.1.0.0/16 return"


def test_the_firewall_is_stateful_denies_ingress_by_default_and_stops_spoofing() -> None:
    icmp = RuleSpec(id="icmp", direction="ingress", protocol="icmp")
    secured = port(
        "p-a",
        "10.0.0.5",
        "fa:16:3e:00:00:0a",
        [icmp],
        allowed_address_pairs=[{"ip_address": "10.0.0.100", "mac_address": "fa:16:3e:00:00:99"}],
    )
    ruleset = nft_rules.firewall_ruleset("twinstack_test", [secured])
    nft_accepts(ruleset)
    chain = ruleset.split("chain in_pa {\n")[1].split("\n  }")[0]
    lines = [line.strip() for line in chain.splitlines()]
    assert lines[0] == "ct state established,related accept"
    assert "meta nfproto ipv4 meta l4proto icmp accept" in lines and lines[-1] == "drop"
    assert 'oifname "tsb6f1c2d3e-00" ether daddr fa:16:3e:00:00:0a jump in_pa' in ruleset
    assert 'iifname "tapp-a" jump spoof_pa' in ruleset
    assert "ether saddr != { fa:16:3e:00:00:0a, fa:16:3e:00:00:99 } drop" in ruleset
    assert "ip saddr != { 10.0.0.100, 10.0.0.5 } drop" in ruleset


def test_a_port_in_stateless_groups_gets_only_what_its_rules_allow_both_ways() -> None:
    """No connection state for a port of stateless groups: a reply is allowed only by a rule of its own (here
    DNS answers from port 53 need the egress rule to 53 and an ingress rule from 53); a stateful port beside it
    keeps its established accept."""
    dns_out = RuleSpec(id="out", direction="egress", protocol="udp", port_range_min=53, port_range_max=53,
                       stateful=False)
    dns_in = RuleSpec(id="in", direction="ingress", protocol="udp", remote_ip_prefix="10.0.0.0/24",
                      stateful=False)
    loose = port("p-a", "10.0.0.5", "fa:16:3e:00:00:0a", [dns_out, dns_in])
    tracked = port("p-b", "10.0.0.6", "fa:16:3e:00:00:0b", [RuleSpec(id="icmp", direction="ingress",
                                                                     protocol="icmp")])
    ruleset = nft_rules.firewall_ruleset("twinstack_test", [loose, tracked])
    nft_accepts(ruleset)

    def chain(name: str) -> list[str]:
        return [line.strip() for line in ruleset.split(f"chain {name} {{\n")[1].split("\n  }")[0].splitlines()]

    assert not [line for line in chain("in_pa") + chain("out_pa") if line.startswith("ct ")]
    assert "meta nfproto ipv4 meta l4proto udp udp dport 53 return" in chain("out_pa")
    assert "meta nfproto ipv4 ip saddr 10.0.0.0/24 meta l4proto udp accept" in chain("in_pa")
    assert chain("in_pa")[-1] == chain("out_pa")[-1] == "drop"
    assert chain("in_pb")[:2] == ["ct state established,related accept", "ct state invalid drop"]
    assert chain("out_pb")[0] == "ct state established,related return"


def test_a_guest_to_guest_packet_passes_the_senders_egress_then_the_receivers_ingress() -> None:
    """An accept in the sender's egress chain would end the hook: the receiver's ingress would never be asked
    (two guests on one host reached each other whatever their groups said)."""
    everything_out = RuleSpec(id="out", direction="egress")
    ports = [port("p-a", "10.0.0.5", "fa:16:3e:00:00:0a", [everything_out]),
             port("p-b", "10.0.0.6", "fa:16:3e:00:00:0b", [everything_out])]
    ruleset = nft_rules.firewall_ruleset("twinstack_test", ports)
    nft_accepts(ruleset)
    forward = [line.strip() for line in ruleset.split("chain forward {\n")[1].split("\n  }")[0].splitlines()][1:]
    assert [line.split()[-1] for line in forward] == ["out_pa", "out_pb", "in_pa", "in_pb"]
    egress = [line.strip() for line in ruleset.split("chain out_pa {\n")[1].split("\n  }")[0].splitlines()]
    assert "meta nfproto ipv4 return" in egress and egress[-1] == "drop"
    assert not [line for line in egress if line.endswith("accept")]


def test_a_replug_replaces_the_tables_whole_in_one_transaction() -> None:
    ruleset = nft_rules.firewall_ruleset("twinstack_test", [port("p-a", "10.0.0.5", "fa:16:3e:00:00:0a")])
    assert ruleset.startswith(
        "table bridge twinstack_test\ndelete table bridge twinstack_test\n"
        "table inet twinstack_test\ndelete table inet twinstack_test\n"
    )
    nothing = nft_rules.firewall_ruleset(
        "twinstack_test", [port("p-a", "10.0.0.5", "fa:16:3e:00:00:0a", port_security_enabled=False)]
    )
    assert nothing.count("{") == 0  # no port with port security: the tables are only deleted
    nft_accepts(nothing)


def test_the_router_namespace_translates_floating_ips_and_snats_the_subnet() -> None:
    a = port(
        "p-a",
        "10.0.0.5",
        "fa:16:3e:00:00:0a",
        routers=[ROUTER],
        floating_ips=[FloatingIpSpec(floating_ip_address="172.24.4.20", fixed_ip_address="10.0.0.5")],
    )
    router = plan({"vm": [a]}).routers["router-1"]
    ruleset = nft_rules.router_nat_ruleset(router)
    assert "ip daddr 172.24.4.20 dnat to 10.0.0.5" in ruleset
    assert 'oifname "tsogw-port-1" ip saddr 10.0.0.5 snat to 172.24.4.20' in ruleset
    assert 'oifname "tsogw-port-1" ip saddr 10.0.0.0/24 snat to 172.24.4.10' in ruleset
    no_snat = nft_rules.router_nat_ruleset(router.__class__(**{**router.__dict__, "enable_snat": False}))
    assert "snat to 172.24.4.10" not in no_snat and "snat to 172.24.4.20" in no_snat
    nft_accepts(ruleset.replace("table ip twinstack_nat", "table ip twinstack_nat_check"))


# the domain, the store, the door


def test_each_plugged_port_is_a_virtio_nic_on_its_bridge() -> None:
    spec = DomainSpec(
        "uuid-1",
        "qemu",
        1,
        64,
        Path("/d"),
        Path("/c"),
        nics=(Nic("fa:16:3e:00:00:0a", "tsb6f1c2d3e-00", "tapp-a", 1450),),
    )
    [interface] = ET.fromstring(domain_xml(spec)).iter("interface")
    assert interface.get("type") == "bridge"
    assert {child.tag: dict(child.attrib) for child in interface} == {
        "mac": {"address": "fa:16:3e:00:00:0a"},
        "source": {"bridge": "tsb6f1c2d3e-00"},
        "target": {"dev": "tapp-a"},
        "model": {"type": "virtio"},
        "mtu": {"size": "1450"},
    }


def test_plugged_ports_survive_a_restart_and_a_refresh_keeps_the_nic_order(tmp_path: Path) -> None:
    store = PluggedPorts(tmp_path / "ports.json")
    a, b = port("p-a", "10.0.0.5", "fa:16:3e:00:00:0a"), port("p-b", "10.0.0.6", "fa:16:3e:00:00:0b")
    store.plug("vm", [a, b])
    changed = a.model_copy(update={"security_group_ids": ["web"]})
    store.plug("vm", [changed])  # a refresh names only the port that changed
    reloaded = PluggedPorts(tmp_path / "ports.json")
    assert reloaded.of("vm") == [changed, b]
    assert reloaded.keep_only(["other"]) == ["vm"] and reloaded.snapshot() == {}
    store.unplug("vm", ["p-b"])
    assert [p.port_id for p in store.of("vm")] == ["p-a"]


def test_the_door_runs_only_allowed_programs_in_a_namespace() -> None:
    privileged.check_allowed(["ip", "netns", "exec", "ts-dhcp-x", "dnsmasq", "--port=0"])
    for refused in (
        ["ip", "link", "del", "eth0"],
        ["ip", "netns", "exec", "ts-dhcp-x", "sh", "-c", "id"],
        ["ip", "netns", "exec", "ts-dhcp-x"],
        ["nft", "flush", "ruleset"],
    ):
        with pytest.raises(privileged.CommandRefused):
            privileged.check_allowed(refused)
    with pytest.raises(privileged.CommandRefused):
        privileged.netlink(None, "flush_addr")
