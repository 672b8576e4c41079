"""Issue #5's compute integration of security groups and port bindings, in-process over a live simulated plane:

* ``addSecurityGroup`` / ``removeSecurityGroup`` change every port of the server (Nova's refusals change
  nothing), the server's ``security_groups`` and ``/os-security-groups`` are its ports' groups;
* a bound port is re-plugged whenever what it carries changes, including when the *members* of a group its
  rules name as remote group change (a port joins or leaves it, a member's address changes, a member goes):
  the plug the simulated agent got carries the new ``remote_addresses``;
* ports follow a moving server: bound to the destination, plugged there before the guest arrives, unplugged
  from the source after it left (live and cold migration, resize revert, evacuation).
"""

# ruff: noqa: F811  (the fixtures imported from network_fixtures are the tests' parameters)
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.compute_helpers import Member, Nova, make_member
from tests.api.network_fixtures import alice, neutron, nova, plane  # noqa: F401  (fixtures)
from tests.api.network_helpers import Neutron
from tests.api.test_network_plugs import agent_of, eventually, plugged
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.rpc.network import RuleSpec


@pytest.fixture
def admin(api: Api, plane: ComputePlane) -> Nova:
    return Nova(api, version="2.37")


def nova_fault(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    [(_name, body)] = response.json().items()
    assert body["code"] == status
    message: str = body["message"]
    return message


def private(neutron: Neutron) -> str:
    net = neutron.network("private")
    neutron.subnet(net["id"], "10.0.0.0/24")
    net_id: str = net["id"]
    return net_id


def port_of(neutron: Neutron, server_id: str) -> dict[str, Any]:
    [port] = neutron.get(f"/ports?device_id={server_id}").json()["ports"]
    return port  # type: ignore[no-any-return]


def booted(nova: Nova, admin: Nova, net_id: str, name: str, *groups: str) -> tuple[str, str]:
    """A server on ``net_id`` in ``groups`` (the default group if none), ACTIVE: its id and host."""
    extra = {"security_groups": [{"name": g} for g in groups]} if groups else {}
    created = nova.boot(name, networks=[{"uuid": net_id}], **extra)
    nova.wait_for(created["id"], "ACTIVE")
    host: str = admin.server(created["id"])["OS-EXT-SRV-ATTR:host"]
    return created["id"], host


def rules_of(plane: ComputePlane, host: str, port_id: str) -> list[RuleSpec]:
    plug = plugged(plane, host, port_id)
    return plug.security_group_rules if plug is not None else []


def admitted(plane: ComputePlane, host: str, port_id: str, rule_id: str) -> Callable[[], list[str] | None]:
    """What the rule ``rule_id`` as last plugged on ``host`` admits (None while it is not plugged there)."""

    def read() -> list[str] | None:
        found = [r.remote_addresses for r in rules_of(plane, host, port_id) if r.id == rule_id]
        return found[0] if found else None

    return read


# addSecurityGroup / removeSecurityGroup


def test_adding_and_removing_a_group_changes_every_port_and_replugs_them(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    created = nova.boot("vm", networks=[{"uuid": net_id}, {"uuid": net_id}])
    server = nova.wait_for(created["id"], "ACTIVE")
    host = admin.server(server["id"])["OS-EXT-SRV-ATTR:host"]
    assert server["security_groups"] == [{"name": "default"}, {"name": "default"}]  # one per port, as Nova
    web = neutron.create("security-groups", "security_group", name="web")
    ssh = neutron.create(
        "security-group-rules",
        "security_group_rule",
        security_group_id=web["id"],
        direction="ingress",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="192.0.2.0/24",
    )

    response = nova.action(server["id"], {"addSecurityGroup": {"name": "web"}})
    assert response.status_code == 202 and response.content == b""
    server_ports = neutron.get(f"/ports?device_id={server['id']}").json()["ports"]
    assert len(server_ports) == 2 and all(web["id"] in p["security_groups"] for p in server_ports)
    for port in server_ports:  # each port's plug on its host now carries web's rules
        eventually(lambda port=port: any(r.id == ssh["id"] for r in rules_of(plane, host, port["id"])))
    assert nova.server(server["id"])["security_groups"] == [{"name": "default"}, {"name": "web"}] * 2
    listed = nova.get(f"/servers/{server['id']}/os-security-groups").json()["security_groups"]
    [shown_web] = {g["id"]: g for g in listed if g["name"] == "web"}.values()
    assert set(shown_web) == {"id", "name", "description", "tenant_id", "rules"}
    assert [r for r in shown_web["rules"] if r["id"] == ssh["id"]] == [
        {
            "id": ssh["id"],
            "parent_group_id": web["id"],
            "ip_protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
            "group": {},
            "ip_range": {"cidr": "192.0.2.0/24"},
        }
    ]
    assert [g["name"] for g in listed] == ["default", "default", "web", "web"]  # by project, then name

    # removed by id: gone from every port and from every plug
    assert nova.action(server["id"], {"removeSecurityGroup": {"name": web["id"]}}).status_code == 202
    assert all(
        p["security_groups"] != [] and web["id"] not in p["security_groups"]
        for p in neutron.get(f"/ports?device_id={server['id']}").json()["ports"]
    )
    for port in server_ports:
        eventually(lambda port=port: all(r.id != ssh["id"] for r in rules_of(plane, host, port["id"])))
    assert nova.server(server["id"])["security_groups"] == [{"name": "default"}] * 2

    # the default group removed too: no group left, and Nova then shows no security_groups at all
    assert nova.action(server["id"], {"removeSecurityGroup": {"name": "default"}}).status_code == 202
    assert "security_groups" not in nova.server(server["id"])
    assert nova.get(f"/servers/{server['id']}/os-security-groups").json() == {"security_groups": []}
    for port in server_ports:
        eventually(lambda port=port: rules_of(plane, host, port["id"]) == [])


def test_novas_refusals_change_no_port(api: Api, alice: Member, nova: Nova, neutron: Neutron) -> None:
    net_id = private(neutron)
    server = nova.wait_for(nova.boot("vm", networks=[{"uuid": net_id}])["id"], "ACTIVE")
    sid = server["id"]
    before = port_of(neutron, sid)["security_groups"]
    neutron.create("security-groups", "security_group", name="twin")
    neutron.create("security-groups", "security_group", name="twin")
    neutron.create("security-groups", "security_group", name="web")
    assert (
        nova_fault(nova.action(sid, {"addSecurityGroup": {"name": "nope"}}), 404)
        == f"Security group nope is not found for project {alice.project_id}"
    )
    assert (
        nova_fault(nova.action(sid, {"addSecurityGroup": {"name": "twin"}}), 409)
        == "Multiple security_group matches found for name 'twin', use an ID to be more specific."
    )
    assert nova_fault(nova.action(sid, {"addSecurityGroup": {"name": "default"}}), 400).startswith(
        "Duplicate items in the list"
    )
    assert (
        nova_fault(nova.action(sid, {"removeSecurityGroup": {"name": "web"}}), 404)
        == f"Security group web not associated with the instance {sid}"
    )
    assert nova_fault(nova.action(sid, {"addSecurityGroup": {}}), 400) == "Security group not specified"
    assert (
        nova_fault(nova.action(sid, {"addSecurityGroup": {"name": " "}}), 400) == "Security group name cannot be empty"
    )
    assert nova_fault(nova.action(sid, {"addSecurityGroup": "web"}), 400) == "Missing parameter dict"
    assert nova_fault(nova.action("no-such-server", {"addSecurityGroup": {"name": "web"}}), 404)
    # another project's member sees neither the server nor may change it
    mallory = Nova(api, make_member(api, "mallory", "other").token, "2.37")
    assert nova_fault(mallory.action(sid, {"addSecurityGroup": {"name": "web"}}), 404)
    # port security off: Nova's SecurityGroupCannotBeApplied
    [port_id] = [port_of(neutron, sid)["id"]]
    assert (
        neutron.put(
            f"/ports/{port_id}", json={"port": {"security_groups": [], "port_security_enabled": False}}
        ).status_code
        == 200
    )
    assert nova_fault(nova.action(sid, {"addSecurityGroup": {"name": "web"}}), 400) == (
        "Network requires port_security_enabled and subnet associated in order to apply security groups."
    )
    assert port_of(neutron, sid)["security_groups"] == []
    assert (
        neutron.put(
            f"/ports/{port_id}", json={"port": {"security_groups": before, "port_security_enabled": True}}
        ).status_code
        == 200
    )
    assert port_of(neutron, sid)["security_groups"] == before

    # a server without any port: Nova's 404
    bare = nova.wait_for(nova.boot("bare", networks="none")["id"], "ACTIVE")
    assert "security_groups" not in bare
    assert (
        nova_fault(nova.action(bare["id"], {"addSecurityGroup": {"name": "web"}}), 404)
        == f"instance_id {bare['id']} could not be found as device id on any ports"
    )


# re-plugs when a remote group's members change


def test_a_port_joining_or_leaving_a_remote_group_replugs_the_ports_whose_rules_name_it(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    web = neutron.create("security-groups", "security_group", name="web")
    neutron.create("security-groups", "security_group", name="db")
    db_rule = neutron.create(
        "security-group-rules",
        "security_group_rule",
        security_group_id=neutron.get("/security-groups?name=db").json()["security_groups"][0]["id"],
        direction="ingress",
        protocol="tcp",
        port_range_min=5432,
        port_range_max=5432,
        remote_group_id=web["id"],
    )
    db_id, db_host = booted(nova, admin, net_id, "db", "db")
    db_port = port_of(neutron, db_id)["id"]
    admits = admitted(plane, db_host, db_port, db_rule["id"])
    assert admits() == []  # web has no member yet

    # a server booting into web: its address joins the db rule on db's host
    app_id, _app_host = booted(nova, admin, net_id, "app", "web")
    app_port = port_of(neutron, app_id)
    app_ip = app_port["fixed_ips"][0]["ip_address"]
    eventually(lambda: admits() == [app_ip])

    # its address changed: the rule follows
    moved = neutron.put(f"/ports/{app_port['id']}", json={"port": {"fixed_ips": [{"ip_address": "10.0.0.77"}]}})
    assert moved.status_code == 200, moved.text
    eventually(lambda: admits() == ["10.0.0.77"])

    # a server leaving web (the Nova action), then joining it again, then a bare port joining it (Neutron)
    assert nova.action(app_id, {"removeSecurityGroup": {"name": "web"}}).status_code == 202
    eventually(lambda: admits() == [])
    assert nova.action(app_id, {"addSecurityGroup": {"name": web["id"]}}).status_code == 202
    eventually(lambda: admits() == ["10.0.0.77"])
    spare = neutron.port(net_id, security_groups=[web["id"]], fixed_ips=[{"ip_address": "10.0.0.5"}])
    eventually(lambda: admits() == ["10.0.0.5", "10.0.0.77"])
    # a port updated out of web, then deleted; then the server in web deleted
    assert neutron.put(f"/ports/{spare['id']}", json={"port": {"security_groups": []}}).status_code == 200
    eventually(lambda: admits() == ["10.0.0.77"])
    assert neutron.put(f"/ports/{spare['id']}", json={"port": {"security_groups": [web["id"]]}}).status_code == 200
    eventually(lambda: admits() == ["10.0.0.5", "10.0.0.77"])
    assert neutron.delete(f"/ports/{spare['id']}").status_code == 204
    eventually(lambda: admits() == ["10.0.0.77"])
    assert nova.delete(f"/servers/{app_id}").status_code == 204
    eventually(lambda: admits() == [])


def test_the_default_groups_members_admit_each_other_as_they_come_and_go(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    first, host = booted(nova, admin, net_id, "first")
    port = port_of(neutron, first)
    [own] = [r for r in rules_of(plane, host, port["id"]) if r.remote_group_id and r.ethertype == "IPv4"]
    admits = admitted(plane, host, port["id"], own.id)
    assert admits() == [port["fixed_ips"][0]["ip_address"]]  # the default group's rules name the group itself
    second, _ = booted(nova, admin, net_id, "second")
    other = port_of(neutron, second)["fixed_ips"][0]["ip_address"]
    eventually(lambda: sorted(admits() or []) == sorted([port["fixed_ips"][0]["ip_address"], other]))
    assert nova.delete(f"/servers/{second}").status_code == 204
    eventually(lambda: admits() == [port["fixed_ips"][0]["ip_address"]])


def test_a_port_changing_groups_by_the_port_api_is_replugged_with_its_new_rules(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    web = neutron.create("security-groups", "security_group", name="web")
    http = neutron.create(
        "security-group-rules",
        "security_group_rule",
        security_group_id=web["id"],
        direction="ingress",
        protocol="tcp",
        port_range_min=80,
        port_range_max=80,
    )
    vm_id, host = booted(nova, admin, net_id, "vm")
    port = port_of(neutron, vm_id)
    assert all(r.id != http["id"] for r in rules_of(plane, host, port["id"]))
    updated = neutron.put(f"/ports/{port['id']}", json={"port": {"security_groups": [web["id"]]}})
    assert updated.status_code == 200, updated.text
    eventually(
        lambda: (
            sorted(r.id for r in rules_of(plane, host, port["id"]))
            == sorted([r["id"] for r in web["security_group_rules"]] + [http["id"]])
        )
    )
    assert nova.server(vm_id)["security_groups"] == [{"name": "web"}]


def test_a_group_membership_change_nobody_refers_to_replugs_nothing_else(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    lonely = neutron.create("security-groups", "security_group", name="lonely")
    booted(nova, admin, net_id, "vm", "lonely")
    before = len(agent_of(plane).port_log)
    neutron.port(net_id, security_groups=[lonely["id"]])  # lonely's own rules name no group: nobody to re-plug
    other = neutron.port(net_id)
    assert neutron.delete(f"/ports/{other['id']}").status_code == 204
    time.sleep(0.6)  # past the conductor's replug_delay, so any re-plug gathered would have gone out
    assert len(agent_of(plane).port_log) == before


# ports follow a moving server


def timeline_of(plane: ComputePlane, host: str, server_id: str) -> list[str]:
    return [name for h, name, uuid in agent_of(plane).timeline if h == host and uuid == server_id]


def test_a_live_migration_plugs_the_destination_before_the_guest_arrives_and_unplugs_the_source(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    vm_id, source = booted(nova, admin, net_id, "vm")
    port = port_of(neutron, vm_id)
    assert port["binding:host_id"] == source
    response = admin.at("2.25").action(vm_id, {"os-migrateLive": {"host": None, "block_migration": "auto"}})
    assert response.status_code == 202, response.text
    moved = admin.wait_for(vm_id, "ACTIVE")
    dest = moved["OS-EXT-SRV-ATTR:host"]
    assert dest != source
    assert port_of(neutron, vm_id)["binding:host_id"] == dest
    eventually(lambda: plugged(plane, source, port["id"]) is None)
    plug = plugged(plane, dest, port["id"])
    assert plug is not None and plug.fixed_ips[0].ip_address == port["fixed_ips"][0]["ip_address"]
    # the destination's agent: ports plugged, then the guest prepared (it arrives with the live migration),
    # then the binding activated there (a re-plug); the source's: the guest sent away, then its ports unplugged
    assert timeline_of(plane, dest, vm_id) == ["network.plug_ports", "compute.pre_live_migration", "network.plug_ports"]
    assert timeline_of(plane, source, vm_id)[-2:] == ["compute.live_migrate_instance", "network.unplug_ports"]


def test_a_rule_changed_during_and_after_a_live_migration_reaches_the_host_holding_the_port(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    group = neutron.get("/security-groups?name=default").json()["security_groups"]
    vm_id, source = booted(nova, admin, net_id, "vm")
    port = port_of(neutron, vm_id)
    assert (
        admin.at("2.25").action(vm_id, {"os-migrateLive": {"host": None, "block_migration": "auto"}}).status_code == 202
    )
    dest = admin.wait_for(vm_id, "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    rule = neutron.create(
        "security-group-rules",
        "security_group_rule",
        security_group_id=group[0]["id"],
        direction="ingress",
        protocol="udp",
        port_range_min=53,
        port_range_max=53,
    )
    eventually(lambda: any(r.id == rule["id"] for r in rules_of(plane, dest, port["id"])))
    assert plugged(plane, source, port["id"]) is None


def test_a_cold_migration_moves_the_binding_and_confirm_unplugs_the_source(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    vm_id, source = booted(nova, admin, net_id, "vm")
    port = port_of(neutron, vm_id)
    assert admin.action(vm_id, {"migrate": None}).status_code == 202
    resized = admin.wait_for(vm_id, "VERIFY_RESIZE")
    dest = resized["OS-EXT-SRV-ATTR:host"]
    assert port_of(neutron, vm_id)["binding:host_id"] == dest
    assert plugged(plane, dest, port["id"]) is not None
    assert timeline_of(plane, dest, vm_id)[:2] == ["network.plug_ports", "compute.finish_resize"]
    assert admin.action(vm_id, {"confirmResize": None}).status_code == 204
    admin.wait_for(vm_id, "ACTIVE")
    eventually(lambda: plugged(plane, source, port["id"]) is None)
    assert timeline_of(plane, source, vm_id)[-2:] == ["network.unplug_ports", "compute.destroy_instance"]


def test_a_reverted_resize_brings_the_binding_and_the_plug_back_to_the_source(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    vm_id, source = booted(nova, admin, net_id, "vm")
    port = port_of(neutron, vm_id)
    assert nova.action(vm_id, {"resize": {"flavorRef": "2"}}).status_code == 202
    dest = admin.wait_for(vm_id, "VERIFY_RESIZE")["OS-EXT-SRV-ATTR:host"]
    assert dest != source and port_of(neutron, vm_id)["binding:host_id"] == dest
    assert nova.action(vm_id, {"revertResize": None}).status_code == 202
    admin.wait_for(vm_id, "ACTIVE")
    assert port_of(neutron, vm_id)["binding:host_id"] == source
    eventually(lambda: plugged(plane, dest, port["id"]) is None)
    assert plugged(plane, source, port["id"]) is not None
    assert timeline_of(plane, source, vm_id)[-2:] == ["network.plug_ports", "compute.finish_revert_resize"]


def test_an_evacuation_binds_and_plugs_the_ports_on_the_new_host(
    plane: ComputePlane, nova: Nova, admin: Nova, neutron: Neutron
) -> None:
    net_id = private(neutron)
    vm_id, source = booted(nova, admin, net_id, "vm")
    port = port_of(neutron, vm_id)
    services = admin.at("2.53").get("/os-services", params={"host": source, "binary": "nova-compute"})
    [service] = services.json()["services"]
    assert admin.at("2.53").put(f"/os-services/{service['id']}", json={"forced_down": True}).status_code == 200
    assert admin.at("2.1").action(vm_id, {"evacuate": {"onSharedStorage": False}}).status_code == 200
    dest = admin.wait_for(vm_id, "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    assert dest != source and port_of(neutron, vm_id)["binding:host_id"] == dest
    assert plugged(plane, dest, port["id"]) is not None
    assert timeline_of(plane, dest, vm_id)[:2] == ["network.plug_ports", "compute.rebuild_instance"]
