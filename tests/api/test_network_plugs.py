"""Issue #5: the conductor tells the host's agent to plug and unplug each port (PlugPorts / UnplugPorts,
carrying the segment, the addresses, the security group rules and the floating IPs), and re-plugs a bound
port when a rule or a floating IP changes. Driven through the compute and network APIs in-process over a
live simulated plane; what the simulated agent received is read from the agent itself."""

# ruff: noqa: F811  (the fixtures imported from network_fixtures are the tests' parameters)
from __future__ import annotations

import time
from collections.abc import Callable

from tests.api.compute_helpers import Nova
from tests.api.network_fixtures import alice, neutron, nova, plane  # noqa: F401  (fixtures)
from tests.api.network_helpers import Neutron
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.rpc.network import PlugPorts, PortSpec, UnplugPorts
from twinstack.sim.agent import SimAgent


def eventually(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the agent never got it"
        time.sleep(0.05)


def agent_of(plane: ComputePlane) -> SimAgent:
    [agent] = plane.agents
    return agent


def plugged(plane: ComputePlane, host: str, port_id: str) -> PortSpec | None:
    return agent_of(plane).plugged.get(host, {}).get(port_id)


def test_a_spawn_plugs_each_port_and_a_rule_or_floating_ip_added_later_replugs_it(
        api: Api, plane: ComputePlane, nova: Nova, neutron: Neutron) -> None:
    net = neutron.network("private")
    subnet = neutron.subnet(net["id"], "10.0.0.0/24")
    group = neutron.create("security-groups", "security_group", name="web")
    created = nova.boot("vm", networks=[{"uuid": net["id"]}], security_groups=[{"name": "web"}])
    server = nova.wait_for(created["id"], "ACTIVE")
    host = Nova(api).server(server["id"])["OS-EXT-SRV-ATTR:host"]  # admin view
    [port] = neutron.get(f"/ports?device_id={created['id']}").json()["ports"]
    assert port["binding:host_id"] == host and port["status"] == "ACTIVE"

    plug = plugged(plane, host, port["id"])
    assert plug is not None, agent_of(plane).plugged
    shown = Neutron(api).get(f"/networks/{net['id']}").json()["network"]  # provider attributes: admin only
    assert (plug.segment.network_type, plug.segment.segmentation_id, plug.segment.mtu) == (
        shown["provider:network_type"], shown["provider:segmentation_id"], shown["mtu"])
    assert plug.segment.segmentation_id is not None
    assert plug.mac_address == port["mac_address"] and plug.network_id == net["id"]
    assert [(f.subnet_id, f.ip_address, f.cidr, f.gateway_ip) for f in plug.fixed_ips] == [
        (subnet["id"], port["fixed_ips"][0]["ip_address"], "10.0.0.0/24", subnet["gateway_ip"])]
    assert plug.security_group_ids == [group["id"]]
    assert sorted(r.id for r in plug.security_group_rules) == sorted(r["id"] for r in group["security_group_rules"])
    assert plug.floating_ips == []
    [first] = [m for m in agent_of(plane).port_log if isinstance(m, PlugPorts)]
    assert first.instance_uuid == created["id"] and first.host == host

    # a rule added to the port's group: the agent holding the port gets it, resolved as Neutron stores it
    rule = neutron.create("security-group-rules", "security_group_rule", security_group_id=group["id"],
                          direction="ingress", ethertype="IPv4", protocol="tcp", port_range_min=22,
                          port_range_max=22, remote_ip_prefix="192.0.2.0/24")
    eventually(lambda: any(r.id == rule["id"] for r in plugged(plane, host, port["id"]).security_group_rules))  # type: ignore[union-attr]
    [ssh] = [r for r in plugged(plane, host, port["id"]).security_group_rules if r.id == rule["id"]]  # type: ignore[union-attr]
    assert (ssh.direction, ssh.protocol, ssh.port_range_min, ssh.port_range_max, ssh.remote_ip_prefix) == (
        "ingress", "tcp", 22, 22, "192.0.2.0/24")

    # a floating IP associated to it, then the rule removed: each re-plugs
    public = neutron.public()
    router = neutron.create("routers", "router", name="r", external_gateway_info={"network_id": public["id"]})
    neutron.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    fip = neutron.create("floatingips", "floatingip", floating_network_id=public["id"], port_id=port["id"])
    eventually(lambda: [f.floating_ip_address for f in plugged(plane, host, port["id"]).floating_ips]  # type: ignore[union-attr]
               == [fip["floating_ip_address"]])
    assert neutron.delete(f"/security-group-rules/{rule['id']}").status_code == 204
    eventually(lambda: all(r.id != rule["id"] for r in plugged(plane, host, port["id"]).security_group_rules))  # type: ignore[union-attr]
    assert neutron.put(f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}}).status_code == 200
    eventually(lambda: plugged(plane, host, port["id"]).floating_ips == [])  # type: ignore[union-attr]

    # deleted: unplugged from its host
    assert nova.delete(f"/servers/{created['id']}").status_code == 204
    eventually(lambda: plugged(plane, host, port["id"]) is None)
    assert any(isinstance(m, UnplugPorts) and m.instance_uuid == created["id"] for m in agent_of(plane).port_log)


def test_a_rule_on_a_group_no_bound_port_uses_plugs_nothing(plane: ComputePlane, nova: Nova,
                                                            neutron: Neutron) -> None:
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    created = nova.boot("vm", networks=[{"uuid": net["id"]}])
    nova.wait_for(created["id"], "ACTIVE")
    time.sleep(0.6)  # past the conductor's replug_delay: the re-plug its joining the default group brought is in
    before = len(agent_of(plane).port_log)
    other = neutron.create("security-groups", "security_group", name="unused")
    neutron.create("security-group-rules", "security_group_rule", security_group_id=other["id"],
                   direction="ingress", protocol="icmp")
    time.sleep(0.3)
    assert len(agent_of(plane).port_log) == before


def test_a_server_without_ports_is_never_plugged(plane: ComputePlane, nova: Nova) -> None:
    created = nova.boot("vm")  # 2.37: networks "none"
    nova.wait_for(created["id"], "ACTIVE")
    assert agent_of(plane).port_log == []


def test_a_cold_migration_plugs_the_destination_and_its_confirmation_unplugs_the_source(
        api: Api, plane: ComputePlane, nova: Nova, neutron: Neutron) -> None:
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    created = nova.boot("vm", networks=[{"uuid": net["id"]}])
    nova.wait_for(created["id"], "ACTIVE")
    admin = Nova(api, version="2.37")
    source = admin.server(created["id"])["OS-EXT-SRV-ATTR:host"]
    [port] = neutron.get(f"/ports?device_id={created['id']}").json()["ports"]
    assert plugged(plane, source, port["id"]) is not None
    assert admin.post(f"/servers/{created['id']}/action", json={"migrate": None}).status_code == 202
    moved = admin.wait_for(created["id"], "VERIFY_RESIZE")
    dest = moved["OS-EXT-SRV-ATTR:host"]
    assert dest != source and plugged(plane, dest, port["id"]) is not None
    assert neutron.get(f"/ports/{port['id']}").json()["port"]["binding:host_id"] == dest
    assert admin.post(f"/servers/{created['id']}/action", json={"confirmResize": None}).status_code == 204
    admin.wait_for(created["id"], "ACTIVE")
    eventually(lambda: plugged(plane, source, port["id"]) is None)
    assert plugged(plane, dest, port["id"]) is not None


def test_a_router_added_to_or_removed_from_the_subnet_replugs_its_ports_with_the_router(
        api: Api, plane: ComputePlane, nova: Nova, neutron: Neutron) -> None:
    net = neutron.network("private")
    subnet = neutron.subnet(net["id"], "10.0.0.0/24")
    created = nova.boot("vm", networks=[{"uuid": net["id"]}])
    server = nova.wait_for(created["id"], "ACTIVE")
    host = Nova(api).server(server["id"])["OS-EXT-SRV-ATTR:host"]
    [port] = neutron.get(f"/ports?device_id={created['id']}").json()["ports"]
    assert plugged(plane, host, port["id"]).routers == []  # type: ignore[union-attr]

    public = neutron.public()
    router = neutron.create("routers", "router", name="r", external_gateway_info={"network_id": public["id"]})
    neutron.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    eventually(lambda: bool(plugged(plane, host, port["id"]).routers))  # type: ignore[union-attr]
    [routed] = plugged(plane, host, port["id"]).routers  # type: ignore[union-attr]
    [gateway_ip] = [f["ip_address"] for f in neutron.get(f"/routers/{router['id']}").json()["router"][
        "external_gateway_info"]["external_fixed_ips"]]
    assert (routed.router_id, routed.subnet_id, routed.interface_ip, routed.cidr, routed.enable_snat) == (
        router["id"], subnet["id"], subnet["gateway_ip"], "10.0.0.0/24", True)
    assert routed.external_gateway is not None
    assert (routed.external_gateway.network_id, routed.external_gateway.ip_address) == (public["id"], gateway_ip)

    neutron.put(f"/routers/{router['id']}", json={"router": {"external_gateway_info": {}}})
    eventually(lambda: plugged(plane, host, port["id"]).routers[0].external_gateway is None)  # type: ignore[union-attr]
    neutron.put(f"/routers/{router['id']}/remove_router_interface", json={"subnet_id": subnet["id"]})
    eventually(lambda: plugged(plane, host, port["id"]).routers == [])  # type: ignore[union-attr]


def test_a_deleted_servers_host_leaves_the_other_hosts_tunnel_peers_with_a_newer_generation(
        api: Api, plane: ComputePlane, nova: Nova, neutron: Neutron) -> None:
    """Two hosts with tunnel endpoints, one server on each of a VXLAN network: each plug names the other host's
    endpoint; deleting one server re-plugs the other host with no peer and a newer generation, read from the
    database (the API released the ports: the conductor hears which hosts they left, not what it remembers)."""
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    first, second, *_ = sorted(plane.hosts.all(), key=lambda h: h.host)
    for index, known in enumerate((first, second)):
        known.tunnel_ip, known.tunnel_port = f"192.0.2.{index + 1}", 4789
    plane.hosts.upsert_all([first, second])
    admin = Nova(api, version="2.74")
    servers = [admin.boot(f"vm{i}", networks=[{"uuid": net["id"]}], host=h.host)
               for i, h in enumerate((first, second))]
    for created in servers:
        admin.wait_for(created["id"], "ACTIVE")

    def peers_told(host: str) -> list[tuple[list[str], int]]:
        return [([p.ip for p in m.tunnel_peers.get(net["id"], [])], m.peer_generations.get(net["id"], 0))
                for m in list(agent_of(plane).port_log) if isinstance(m, PlugPorts) and m.host == host]

    eventually(lambda: bool(peers_told(first.host)) and peers_told(first.host)[-1][0] == ["192.0.2.2"])
    told = peers_told(first.host)[-1][1]
    assert peers_told(second.host)[-1][0] == ["192.0.2.1"]
    plane.runtime.call_soon(plane.conductor.replug_tunnels)  # what a starting conductor does (a lost look)
    eventually(lambda: peers_told(first.host)[-1][1] > told and peers_told(second.host)[-1][1] > told)
    assert (peers_told(first.host)[-1][0], peers_told(second.host)[-1][0]) == (["192.0.2.2"], ["192.0.2.1"])
    told = peers_told(first.host)[-1][1]
    assert admin.delete(f"/servers/{servers[1]['id']}").status_code == 204
    eventually(lambda: peers_told(first.host)[-1][0] == [])
    assert peers_told(first.host)[-1][1] > told


def test_each_tunnelling_host_gets_a_dhcp_port_reserved_in_ipam_and_no_guest_shares_its_address(
        api: Api, plane: ComputePlane, nova: Nova, neutron: Neutron) -> None:
    """A user port at the subnet's top address (where an agent would have put its dnsmasq) on one host, a server
    on a second: each host's plug names the address of its own ``network:dhcp`` port, reserved in IPAM, unlike
    every other's and every guest's; the second host's goes once it holds no port of the network."""
    net = neutron.network("private")
    subnet = neutron.subnet(net["id"], "10.0.0.0/24")
    first, second, *_ = sorted(plane.hosts.all(), key=lambda h: h.host)
    for index, known in enumerate((first, second)):
        known.tunnel_ip, known.tunnel_port = f"192.0.2.{index + 1}", 4789
    plane.hosts.upsert_all([first, second])
    top = neutron.post("/ports", json={"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": subnet["id"], "ip_address": "10.0.0.254"}]}})
    assert top.status_code == 201, top.text
    admin = Nova(api, version="2.74")
    servers = [admin.boot("vm0", networks=[{"port": top.json()["port"]["id"]}], host=first.host),
               admin.boot("vm1", networks=[{"uuid": net["id"]}], host=second.host)]
    for created in servers:
        admin.wait_for(created["id"], "ACTIVE")

    def dhcp_told(host: str) -> str | None:
        told = [m.dhcp_servers.get(subnet["id"]) for m in list(agent_of(plane).port_log)
                if isinstance(m, PlugPorts) and m.host == host]
        return told[-1] if told else None

    def dhcp_ports() -> dict[str, str]:
        listed = neutron.get("/ports?device_owner=network:dhcp").json()["ports"]
        return {p["binding:host_id"]: p["fixed_ips"][0]["ip_address"] for p in listed}

    reserved = dhcp_ports()
    assert sorted(reserved) == sorted([first.host, second.host])
    assert {dhcp_told(first.host), dhcp_told(second.host)} == set(reserved.values())
    guests = {f["ip_address"] for p in neutron.get("/ports?device_owner=compute:nova").json()["ports"]
              for f in p["fixed_ips"]}
    assert "10.0.0.254" in guests and len(set(reserved.values()) | guests) == len(reserved) + len(guests)
    assert admin.delete(f"/servers/{servers[1]['id']}").status_code == 204
    eventually(lambda: sorted(dhcp_ports()) == [first.host])


def test_a_host_behind_a_router_is_told_the_peers_and_servers_of_every_network_of_the_router(
        api: Api, plane: ComputePlane, nova: Nova, neutron: Neutron) -> None:
    """Distributed routing (Neutron's DVR): a router joins two VXLAN networks, one server on each, on two hosts.
    Each host's plug names both legs of the router, the other host as peer on *both* networks (it holds a copy of
    the router with a leg on each) and both servers' addresses; once the router leaves the second subnet, the
    first host is its member no more, and is again once the router is back on it."""
    nets = [neutron.network(f"n{i}") for i in (1, 2)]
    subnets = [neutron.subnet(net["id"], f"10.{i}.0.0/24") for i, net in enumerate(nets, start=1)]
    router = neutron.create("routers", "router", name="r")
    for subnet in subnets:
        neutron.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
    first, second, *_ = sorted(plane.hosts.all(), key=lambda h: h.host)
    for index, known in enumerate((first, second)):
        known.tunnel_ip, known.tunnel_port = f"192.0.2.{index + 1}", 4789
    plane.hosts.upsert_all([first, second])
    admin = Nova(api, version="2.74")
    servers = [admin.boot(f"vm{i}", networks=[{"uuid": net["id"]}], host=h.host)
               for i, (net, h) in enumerate(zip(nets, (first, second), strict=True))]
    for created in servers:
        admin.wait_for(created["id"], "ACTIVE")
    addresses = [neutron.get(f"/ports?device_id={s['id']}").json()["ports"][0]["fixed_ips"][0]["ip_address"]
                 for s in servers]

    def last_plug(host: str) -> PlugPorts:
        return [m for m in list(agent_of(plane).port_log) if isinstance(m, PlugPorts) and m.host == host][-1]

    def told(host: str) -> dict[str, list[str]]:
        return {n: [p.ip for p in peers] for n, peers in last_plug(host).tunnel_peers.items()}

    both = {net["id"] for net in nets}
    eventually(lambda: told(first.host) == {n: ["192.0.2.2"] for n in both})
    eventually(lambda: told(second.host) == {n: ["192.0.2.1"] for n in both})
    plug = last_plug(first.host)
    assert set(plug.peer_generations) == both
    assert {n: [a.ip_address for a in listed] for n, listed in plug.neighbours.items()} == {
        nets[0]["id"]: [addresses[0]], nets[1]["id"]: [addresses[1]]}
    [routed] = plug.ports[0].routers
    assert sorted((leg.network_id, leg.ip_address, leg.segment.network_type) for leg in routed.interfaces) == sorted(
        (net["id"], subnet["gateway_ip"], "vxlan") for net, subnet in zip(nets, subnets, strict=True))

    neutron.put(f"/routers/{router['id']}/remove_router_interface", json={"subnet_id": subnets[1]["id"]})
    eventually(lambda: told(first.host) == {nets[0]["id"]: []})
    eventually(lambda: told(second.host) == {nets[1]["id"]: []})
    neutron.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": subnets[1]["id"]})
    eventually(lambda: told(first.host) == {n: ["192.0.2.2"] for n in both})  # running servers: members again
    eventually(lambda: told(second.host) == {n: ["192.0.2.1"] for n in both})
