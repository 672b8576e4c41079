"""The compute-network seam: a server's ports from its ``networks`` request to its host's plug, its
addresses as Nova shows them, security groups added and removed, and release on delete."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.cloud import Cloud
from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.core.network import (
    floating_ips,
    instance_ports,
    networks,
    port_bindings,
    ports,
    routers,
    security_groups,
    server_security_groups,
    subnets,
)
from twinstack.core.network.errors import PortInUse, PortNotFound
from twinstack.core.network.instance_ports import RequestedNetwork
from twinstack.core.policy import Credentials
from twinstack.db.models.network import NetworkRow

PROJECT = "d" * 32
SERVER = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def creds() -> Credentials:
    """A project member (not an admin), as the compute API would pass the caller's credentials."""
    return Credentials(user_id="u", user_domain_id="default", roles=frozenset({"member"}), project_id=PROJECT)


def tenant_net(cloud: Cloud, session: Session, creds: Credentials, name: str = "private",
               cidr: str = "10.0.0.0/24") -> tuple[str, str]:
    net = networks.create_network(session, cloud.clock, cloud.settings.network, creds, networks.NetworkSpec(name=name))
    subnet = subnets.create_subnet(session, cloud.clock, creds, subnets.SubnetSpec(network_id=net.id, ip_version=4,
                                                                                   cidr=cidr))
    return net.id, subnet.id


def allocate(cloud: Cloud, creds: Credentials, requested: object) -> instance_ports.Allocation:
    default = security_groups.ensure_default(cloud.sessions, cloud.clock, PROJECT)
    with cloud.transaction() as session:
        return instance_ports.allocate_for_instance(session, cloud.clock, cloud.settings.network, creds, SERVER,
                                                    requested, default)  # type: ignore[arg-type]


def test_a_server_on_a_network_gets_a_port_shown_in_its_addresses_and_plugged_with_its_rules(
        cloud: Cloud, creds: Credentials) -> None:
    with cloud.transaction() as session:
        net_id, subnet_id = tenant_net(cloud, session, creds)
    allocation = allocate(cloud, creds, [RequestedNetwork(net_id, fixed_ip="10.0.0.42")])
    assert allocation.port_ids == allocation.created_port_ids and len(allocation.port_ids) == 1
    with cloud.transaction() as session:
        instance_ports.bind_to_host(session, SERVER, "host-1")
        port = ports.get_port(session, creds, allocation.port_ids[0])
        assert (port.device_owner, port.binding_host_id, port.status) == ("compute:nova", "host-1", "ACTIVE")
        public = session.scalar(select(NetworkRow.id).where(NetworkRow.name == "public"))
        router = routers.create_router(session, cloud.clock, cloud.settings.network, creds,
                                       routers.RouterSpec(name="r", gateway=routers.GatewayInfo(public)))
        routers.add_interface(session, cloud.clock, cloud.settings.network, creds, router.id, subnet_id, None)
        fip = floating_ips.create_floating_ip(session, cloud.clock, cloud.settings.network, creds,
                                              floating_ips.FloatingIpSpec(public, port_id=port.id))
        addresses = instance_ports.addresses_of(session, [SERVER])[SERVER]
        assert addresses == {"private": [
            {"addr": "10.0.0.42", "version": 4, "OS-EXT-IPS:type": "fixed",
             "OS-EXT-IPS-MAC:mac_addr": port.mac_address},
            {"addr": fip.floating_ip_address, "version": 4, "OS-EXT-IPS:type": "floating",
             "OS-EXT-IPS-MAC:mac_addr": port.mac_address}]}
        [plug] = instance_ports.plugs_for(session, SERVER)
    segment = plug.segment
    assert segment.network_type == "vxlan" and segment.segmentation_id is not None and segment.mtu == 1450
    assert [(f.subnet_id, f.ip_address, f.cidr, f.gateway_ip) for f in plug.fixed_ips] == [
        (subnet_id, "10.0.0.42", "10.0.0.0/24", "10.0.0.1")]
    assert [(f.floating_ip_address, f.fixed_ip_address) for f in plug.floating_ips] == [
        (fip.floating_ip_address, "10.0.0.42")]
    assert plug.mac_address == port.mac_address and plug.port_security_enabled
    # the default group's ingress rules admit its members: resolved to their addresses (this port's own)
    remote = [r for r in plug.security_group_rules if r.direction == "ingress" and r.ethertype == "IPv4"]
    assert remote and remote[0].remote_group_id is not None and remote[0].remote_addresses == ["10.0.0.42"]
    assert sorted((r.direction, r.ethertype) for r in plug.security_group_rules) == [
        ("egress", "IPv4"), ("egress", "IPv6"), ("ingress", "IPv4"), ("ingress", "IPv6")]
    with cloud.transaction() as session:
        instance_ports.release_for_instance(session, SERVER)
        with pytest.raises(PortNotFound):
            ports.get_port(session, creds, allocation.port_ids[0])
        assert floating_ips.get_floating_ip(session, creds, fip.id).port_id is None
        assert instance_ports.addresses_of(session, [SERVER])[SERVER] == {}


def test_a_users_own_port_is_bound_then_only_unbound(cloud: Cloud, creds: Credentials) -> None:
    with cloud.transaction() as session:
        net_id, _ = tenant_net(cloud, session, creds)
        mine = ports.create_port(session, cloud.clock, cloud.settings.network, creds, ports.PortSpec(net_id)).id
    allocation = allocate(cloud, creds, [RequestedNetwork(port_id=mine)])
    assert allocation.port_ids == [mine] and allocation.created_port_ids == []
    with pytest.raises(PortInUse):
        allocate(cloud, creds, [RequestedNetwork(port_id=mine)])
    with cloud.transaction() as session:
        instance_ports.release_for_instance(session, SERVER)
        kept = ports.get_port(session, creds, mine)
        assert (kept.device_id, kept.device_owner) == ("", "")


def test_auto_uses_the_one_network_or_makes_the_projects_topology(cloud: Cloud, creds: Credentials) -> None:
    allocate(cloud, creds, "auto")
    with cloud.transaction() as session:
        made = networks.list_networks(session, creds)
        assert {n.name for n in made} == {"public", "auto_allocated_network"}
        assert [r.name for r in routers.list_routers(session, creds)] == ["auto_allocated_router"]
        [entries] = instance_ports.addresses_of(session, [SERVER])[SERVER].values()
        assert entries[0]["addr"] == "10.0.0.2"
        instance_ports.release_for_instance(session, SERVER)
        tenant_net(cloud, session, creds, "second", "10.1.0.0/24")
    assert allocate(cloud, creds, "none").port_ids == []
    with pytest.raises(Conflict):
        allocate(cloud, creds, "auto")


def test_security_groups_join_and_leave_every_port_of_a_server(cloud: Cloud, creds: Credentials) -> None:
    with cloud.transaction() as session:
        net_id, _ = tenant_net(cloud, session, creds)
    allocate(cloud, creds, [RequestedNetwork(net_id), RequestedNetwork(net_id)])
    with cloud.transaction() as session:
        web = security_groups.create_group(session, cloud.clock, creds, "web")
        changed = server_security_groups.add_to_server(session, creds, SERVER, "web")
        bound = security_groups.groups_of_ports(session, [p.id for p in ports.ports_of_device(session, SERVER)])
        assert sorted(bound) == sorted(changed)
        assert all(web.id in groups and len(groups) == 2 for groups in bound.values()) and len(bound) == 2
        assert [g["name"] for g in server_security_groups.names_by_server(session, [SERVER])[SERVER]] == [
            "default", "web", "default", "web"]  # per port, as Nova lists them
        server_security_groups.remove_from_server(session, creds, SERVER, web.id)  # by id too
        server_security_groups.remove_from_server(session, creds, SERVER, "default")
        bound = security_groups.groups_of_ports(session, [p.id for p in ports.ports_of_device(session, SERVER)])
        assert all(groups == [] for groups in bound.values())
        assert server_security_groups.names_by_server(session, [SERVER]) == {}
        [plug, _] = instance_ports.plugs_for(session, SERVER)
        assert plug.security_group_rules == []


def test_novas_refusals_change_no_port(cloud: Cloud, creds: Credentials) -> None:
    with cloud.transaction() as session:
        net_id, _ = tenant_net(cloud, session, creds)
        security_groups.create_group(session, cloud.clock, creds, "twin")
        security_groups.create_group(session, cloud.clock, creds, "twin")
    allocate(cloud, creds, [RequestedNetwork(net_id)])
    with cloud.transaction() as session:
        [port] = ports.ports_of_device(session, SERVER)
        before = security_groups.groups_of_ports(session, [port.id])
        with pytest.raises(NotFound, match="Security group nope is not found for project"):
            server_security_groups.add_to_server(session, creds, SERVER, "nope")
        with pytest.raises(Conflict, match="Multiple security_group matches found for name 'twin'"):
            server_security_groups.add_to_server(session, creds, SERVER, "twin")
        with pytest.raises(BadRequest, match="Duplicate items in the list"):
            server_security_groups.add_to_server(session, creds, SERVER, "default")
        with pytest.raises(NotFound, match="could not be found as device id on any ports"):
            server_security_groups.add_to_server(session, creds, "no-such-server", "default")
        with pytest.raises(NotFound, match=f"Security group web not associated with the instance {SERVER}"):
            security_groups.create_group(session, cloud.clock, creds, "web")
            server_security_groups.remove_from_server(session, creds, SERVER, "web")
        assert security_groups.groups_of_ports(session, [port.id]) == before


def test_a_membership_change_reaches_the_ports_whose_rules_name_the_group_as_remote(
        cloud: Cloud, creds: Credentials) -> None:
    with cloud.transaction() as session:
        net_id, _ = tenant_net(cloud, session, creds)
        web = security_groups.create_group(session, cloud.clock, creds, "web")
        db = security_groups.create_group(session, cloud.clock, creds, "db")
        security_groups.create_rule(session, cloud.clock, creds, security_groups.RuleSpec(
            security_group_id=db.id, direction="ingress", protocol="tcp", port_range_min=5432,
            port_range_max=5432, remote_group_id=web.id))
        db_port = ports.create_port(session, cloud.clock, cloud.settings.network, creds,
                                    ports.PortSpec(net_id, security_groups=[db.id])).id
        web_port = ports.create_port(session, cloud.clock, cloud.settings.network, creds,
                                     ports.PortSpec(net_id, security_groups=[web.id])).id
        # web's members changed: db's members admit them; web's own members' rules do not name web
        assert instance_ports.ports_referring_to(session, [web.id]) == [db_port]
        assert instance_ports.ports_referring_to(session, [db.id]) == []
        # a rule of db changed: db's members
        assert instance_ports.members_of_groups(session, [db.id]) == [db_port]
        assert web_port not in instance_ports.members_of_groups(session, [db.id])


def test_a_live_migration_readies_an_inactive_binding_then_moves_or_abandons_it(
        cloud: Cloud, creds: Credentials) -> None:
    with cloud.transaction() as session:
        net_id, _ = tenant_net(cloud, session, creds)
        mine = ports.create_port(session, cloud.clock, cloud.settings.network, creds, ports.PortSpec(net_id)).id
    allocate(cloud, creds, [RequestedNetwork(net_id), RequestedNetwork(port_id=mine)])
    networking = instance_ports.SqlNetworking(cloud.sessions)
    networking.bind(SERVER, "host-1")

    def bindings() -> list[list[tuple[str, str]]]:
        with cloud.sessions() as session:
            return [[(b.host, b.status) for b in port_bindings.list_bindings(session, creds, p.id)]
                    for p in ports.ports_of_device(session, SERVER)]

    assert len(networking.ready(SERVER, "host-2")) == 2
    networking.ready(SERVER, "host-2")  # again: nothing more
    assert bindings() == [[("host-1", "ACTIVE"), ("host-2", "INACTIVE")]] * 2
    with cloud.sessions() as session:  # re-plugs reach both hosts while the guest moves
        assert sorted(host for host, _ in instance_ports.bound_plugs(session, [mine])) == ["host-1", "host-2"]
    networking.abandon(SERVER, "host-2")
    assert bindings() == [[("host-1", "ACTIVE")]] * 2
    networking.ready(SERVER, "host-3")
    networking.move(SERVER, "host-3")
    assert bindings() == [[("host-3", "ACTIVE")]] * 2  # the binding left behind is gone
    networking.ready(SERVER, "host-1")
    with cloud.transaction() as session:  # the server deleted: the user's port unbound, readied bindings too
        instance_ports.release_for_instance(session, SERVER)
        assert port_bindings.list_bindings(session, creds, mine) == []
