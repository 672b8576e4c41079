"""Load balancers provisioned as Octavia does, through the in-process API over a live plane: every change walks
PENDING_CREATE, PENDING_UPDATE or PENDING_DELETE until the (simulated) amphorae applied it and the worker
settled it to ACTIVE or removed it; the load balancer is immutable (409) meanwhile; updates of each object
reach the amphora's configuration; a failing amphora leaves ERROR; without a control plane, changes are 503."""

# ruff: noqa: F811  (the fixtures imported from loadbalancer_fixtures are the tests' parameters)

from __future__ import annotations

import time
from typing import Any

from tests.api.compute_helpers import Member
from tests.api.loadbalancer_fixtures import alice, amphorae, octavia, plane, subnet  # noqa: F401  (fixtures)
from tests.api.loadbalancer_helpers import Octavia, fault, running_amphorae
from tests.api.network_helpers import Neutron
from tests.conftest import Api
from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane
from twinstack.rpc.loadbalancer import ApplyLoadBalancer
from twinstack.sim.amphora import SimAmphoraDriver


def held(amphorae: SimAmphoraDriver, lb_id: str) -> ApplyLoadBalancer | None:
    return amphorae.configs.get(lb_id)


def immutable(octavia: Octavia, lb_id: str, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    message = fault(octavia.request(method, path, json=body) if body is not None else
                    octavia.request(method, path), 409)
    assert message == f"Load Balancer {lb_id} is immutable and cannot be updated."


def test_a_load_balancer_is_pending_and_immutable_until_its_amphora_answers(
        octavia: Octavia, amphorae: SimAmphoraDriver, subnet: dict[str, Any]) -> None:
    amphorae.pause()
    lb = octavia.create("/loadbalancers", "loadbalancer", name="lb", vip_subnet_id=subnet["id"])
    path = f"/loadbalancers/{lb['id']}"
    assert (lb["provisioning_status"], lb["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
    time.sleep(0.2)  # its apply time is over, but the paused amphora holds it: nothing applied, nothing answered
    assert octavia.show(path, "loadbalancer")["provisioning_status"] == "PENDING_CREATE"
    immutable(octavia, lb["id"], "PUT", path, {"loadbalancer": {"name": "renamed"}})
    immutable(octavia, lb["id"], "POST", "/listeners", {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP",
                                                                     "protocol_port": 80}})
    immutable(octavia, lb["id"], "DELETE", path)
    assert octavia.request("GET", "/listeners").json()["listeners"] == []
    amphorae.resume()
    active = octavia.wait_active(lb["id"])
    assert (active["name"], active["operating_status"]) == ("lb", "ONLINE")
    config = held(amphorae, lb["id"])
    assert config is not None and config.vip_address == lb["vip_address"] and config.listeners == []

    amphorae.pause()
    listener = octavia.create("/listeners", "listener", loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80)
    assert (listener["provisioning_status"], listener["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
    assert octavia.show(path, "loadbalancer")["provisioning_status"] == "PENDING_UPDATE"
    immutable(octavia, lb["id"], "PUT", f"/listeners/{listener['id']}", {"listener": {"name": "again"}})
    immutable(octavia, lb["id"], "POST", "/pools", {"pool": {"loadbalancer_id": lb["id"], "protocol": "HTTP",
                                                             "lb_algorithm": "ROUND_ROBIN"}})
    amphorae.resume()
    octavia.wait_active(lb["id"])
    shown = octavia.show(f"/listeners/{listener['id']}", "listener")
    assert (shown["provisioning_status"], shown["operating_status"]) == ("ACTIVE", "ONLINE")
    config = held(amphorae, lb["id"])
    assert config is not None and [(li.protocol, li.protocol_port) for li in config.listeners] == [("HTTP", 80)]
    assert [action for _, lb_id, action in amphorae.applied if lb_id == lb["id"]] == ["create", "update"]


def test_updates_of_each_object_reach_the_amphora(octavia: Octavia, amphorae: SimAmphoraDriver,
                                                  subnet: dict[str, Any]) -> None:
    lb = octavia.create("/loadbalancers", "loadbalancer", name="lb", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"])
    renamed = octavia.update(f"/loadbalancers/{lb['id']}", "loadbalancer", name="web", description="front",
                             admin_state_up=False)
    assert (renamed["name"], renamed["provisioning_status"]) == ("web", "PENDING_UPDATE")
    settled = octavia.wait_active(lb["id"])
    assert (settled["name"], settled["description"], settled["operating_status"]) == ("web", "front", "OFFLINE")
    config = held(amphorae, lb["id"])
    assert config is not None and config.admin_state_up is False
    octavia.update(f"/loadbalancers/{lb['id']}", "loadbalancer", admin_state_up=True)
    assert octavia.wait_active(lb["id"])["operating_status"] == "ONLINE"

    listener = octavia.create("/listeners", "listener", loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80)
    octavia.wait_active(lb["id"])
    pool = octavia.create("/pools", "pool", loadbalancer_id=lb["id"], protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    octavia.wait_active(lb["id"])
    changed = octavia.update(f"/listeners/{listener['id']}", "listener", name="http", connection_limit=100,
                             default_pool_id=pool["id"])
    assert (changed["provisioning_status"], changed["connection_limit"]) == ("PENDING_UPDATE", 100)
    octavia.wait_active(lb["id"])
    assert octavia.show(f"/listeners/{listener['id']}", "listener")["provisioning_status"] == "ACTIVE"
    assert octavia.show(f"/pools/{pool['id']}", "pool")["listeners"] == [{"id": listener["id"]}]

    assert "lb_algorithm" in fault(octavia.request("PUT", f"/pools/{pool['id']}", json={"pool": {
        "lb_algorithm": "RANDOM"}}), 400)
    octavia.update(f"/pools/{pool['id']}", "pool", lb_algorithm="LEAST_CONNECTIONS", name="backends")
    octavia.wait_active(lb["id"])
    member = octavia.create(f"/pools/{pool['id']}/members", "member", address="10.40.0.10", protocol_port=8080)
    octavia.wait_active(lb["id"])
    member_path = f"/pools/{pool['id']}/members/{member['id']}"
    assert "weight" in fault(octavia.request("PUT", member_path, json={"member": {"weight": 300}}), 400)
    octavia.update(member_path, "member", weight=5, admin_state_up=False)
    octavia.wait_active(lb["id"])
    shown_member = octavia.show(member_path, "member")
    assert (shown_member["weight"], shown_member["operating_status"], shown_member["provisioning_status"]) == (
        5, "OFFLINE", "ACTIVE")
    monitor = octavia.create("/healthmonitors", "healthmonitor", pool_id=pool["id"], type="HTTP", delay=5, timeout=3,
                             max_retries=3)
    octavia.wait_active(lb["id"])
    monitor_path = f"/healthmonitors/{monitor['id']}"
    assert "timeout" in fault(octavia.request("PUT", monitor_path, json={"healthmonitor": {"timeout": 9}}), 400)
    octavia.update(monitor_path, "healthmonitor", delay=10, timeout=9, url_path="/health", expected_codes="200-204")
    octavia.wait_active(lb["id"])
    shown_monitor = octavia.show(monitor_path, "healthmonitor")
    assert (shown_monitor["delay"], shown_monitor["url_path"], shown_monitor["provisioning_status"]) == (
        10, "/health", "ACTIVE")
    octavia.update(member_path, "member", admin_state_up=True)
    octavia.wait_active(lb["id"])
    assert octavia.show(member_path, "member")["operating_status"] == "ONLINE"

    config = held(amphorae, lb["id"])
    assert config is not None
    assert [(li.connection_limit, li.default_pool_id) for li in config.listeners] == [(100, pool["id"])]
    [pool_config] = config.pools
    assert pool_config.lb_algorithm == "LEAST_CONNECTIONS"
    assert [(m.address, m.weight, m.admin_state_up) for m in pool_config.members] == [("10.40.0.10", 5, True)]
    assert pool_config.monitor is not None
    assert (pool_config.monitor.delay, pool_config.monitor.url_path, pool_config.monitor.expected_codes) == (
        10, "/health", "200-204")


def test_deletes_are_pending_until_the_amphora_lets_go(api: Api, alice: Member, octavia: Octavia,
                                                       amphorae: SimAmphoraDriver, subnet: dict[str, Any]) -> None:
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"])
    listener = octavia.create("/listeners", "listener", loadbalancer_id=lb["id"], protocol="TCP", protocol_port=22)
    octavia.wait_active(lb["id"])
    pool = octavia.create("/pools", "pool", listener_id=listener["id"], protocol="TCP", lb_algorithm="SOURCE_IP")
    octavia.wait_active(lb["id"])
    member = octavia.create(f"/pools/{pool['id']}/members", "member", address="10.40.0.10", protocol_port=22)
    octavia.wait_active(lb["id"])
    monitor = octavia.create("/healthmonitors", "healthmonitor", pool_id=pool["id"], type="TCP", delay=5, timeout=3,
                             max_retries=3)
    octavia.wait_active(lb["id"])
    member_path = f"/pools/{pool['id']}/members/{member['id']}"
    assert octavia.show(member_path, "member")["operating_status"] == "ONLINE"

    amphorae.pause()
    assert octavia.request("DELETE", f"/healthmonitors/{monitor['id']}").status_code == 204
    assert octavia.show(f"/healthmonitors/{monitor['id']}", "healthmonitor")["provisioning_status"] == "PENDING_DELETE"
    immutable(octavia, lb["id"], "DELETE", member_path)
    amphorae.resume()
    octavia.wait_gone(f"/healthmonitors/{monitor['id']}")
    octavia.wait_active(lb["id"])
    assert octavia.show(member_path, "member")["operating_status"] == "NO_MONITOR"
    assert octavia.request("DELETE", member_path).status_code == 204
    octavia.wait_gone(member_path)
    octavia.wait_active(lb["id"])
    assert octavia.request("DELETE", f"/pools/{pool['id']}").status_code == 204
    octavia.wait_gone(f"/pools/{pool['id']}")
    octavia.wait_active(lb["id"])
    assert octavia.show(f"/listeners/{listener['id']}", "listener")["default_pool_id"] is None
    config = held(amphorae, lb["id"])
    assert config is not None and config.pools == [] and [li.id for li in config.listeners] == [listener["id"]]

    amphorae.pause()
    assert octavia.request("DELETE", f"/loadbalancers/{lb['id']}?cascade=true").status_code == 204
    shown = octavia.show(f"/loadbalancers/{lb['id']}", "loadbalancer")
    assert shown["provisioning_status"] == "PENDING_DELETE"
    assert octavia.show(f"/listeners/{listener['id']}", "listener")["provisioning_status"] == "PENDING_DELETE"
    immutable(octavia, lb["id"], "PUT", f"/loadbalancers/{lb['id']}", {"loadbalancer": {"name": "late"}})
    neutron = Neutron(api, alice.token)
    assert neutron.get(f"/ports/{lb['vip_port_id']}").status_code == 200  # held until the amphora lets go
    amphorae.resume()
    octavia.wait_gone(f"/loadbalancers/{lb['id']}")
    assert octavia.request("GET", f"/listeners/{listener['id']}").status_code == 404
    assert neutron.get(f"/ports/{lb['vip_port_id']}").status_code == 404
    assert held(amphorae, lb["id"]) is None


def test_a_failing_amphora_leaves_errors_and_an_errored_load_balancer_can_go(
        octavia: Octavia, amphorae: SimAmphoraDriver, subnet: dict[str, Any]) -> None:
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"])
    amphorae.failing = True
    listener = octavia.create("/listeners", "listener", loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80)
    settled = octavia.wait_active(lb["id"])
    assert settled["operating_status"] == "ONLINE"
    assert octavia.show(f"/listeners/{listener['id']}", "listener")["provisioning_status"] == "ERROR"
    broken = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    deadline = time.monotonic() + 10
    while octavia.show(f"/loadbalancers/{broken['id']}", "loadbalancer")["provisioning_status"] != "ERROR":
        assert time.monotonic() < deadline, "the failed load balancer did not go to ERROR"
        time.sleep(0.02)
    assert held(amphorae, broken["id"]) is None
    amphorae.failing = False
    assert octavia.request("DELETE", f"/loadbalancers/{broken['id']}").status_code == 204
    octavia.wait_gone(f"/loadbalancers/{broken['id']}")
    assert octavia.request("DELETE", f"/listeners/{listener['id']}").status_code == 204
    octavia.wait_gone(f"/listeners/{listener['id']}")


def test_a_failed_update_of_the_load_balancer_itself_leaves_it_in_error(
        octavia: Octavia, amphorae: SimAmphoraDriver, subnet: dict[str, Any]) -> None:
    """Octavia's update flow reverts the load balancer to ERROR; a failed change under it (see above) puts
    the load balancer back to ACTIVE."""
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"])
    amphorae.failing = True
    octavia.update(f"/loadbalancers/{lb['id']}", "loadbalancer", name="renamed")
    deadline = time.monotonic() + 10
    while (shown := octavia.show(f"/loadbalancers/{lb['id']}", "loadbalancer"))["provisioning_status"] != "ERROR":
        assert shown["provisioning_status"] == "PENDING_UPDATE", shown
        assert time.monotonic() < deadline, "the failed update did not leave ERROR"
        time.sleep(0.02)
    assert shown["operating_status"] == "ERROR"
    amphorae.failing = False
    octavia.update(f"/loadbalancers/{lb['id']}", "loadbalancer", name="again")
    assert octavia.wait_active(lb["id"])["operating_status"] == "ONLINE"


def statuses(octavia: Octavia, paths: dict[str, str]) -> dict[str, str]:
    return {key: octavia.show(path, key.rstrip("0123456789"))["provisioning_status"] for key, path in paths.items()}


def test_changes_under_a_pool_mark_it_and_its_listener_pending_update(
        octavia: Octavia, amphorae: SimAmphoraDriver, subnet: dict[str, Any]) -> None:
    """As Octavia: a member's or monitor's change marks its pool and the pool's listeners PENDING_UPDATE, a
    pool's marks its listeners; they go back to ACTIVE after, even when the change fails (only the changed
    object goes to ERROR), and a failed pool delete leaves its members alone."""
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"])
    listener = octavia.create("/listeners", "listener", loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80)
    octavia.wait_active(lb["id"])
    pool = octavia.create("/pools", "pool", listener_id=listener["id"], protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    octavia.wait_active(lb["id"])
    paths = {"loadbalancer": f"/loadbalancers/{lb['id']}", "listener": f"/listeners/{listener['id']}",
             "pool": f"/pools/{pool['id']}"}

    amphorae.pause()
    member = octavia.create(f"/pools/{pool['id']}/members", "member", address="10.40.0.10", protocol_port=80)
    assert statuses(octavia, paths) == {"loadbalancer": "PENDING_UPDATE", "listener": "PENDING_UPDATE",
                                        "pool": "PENDING_UPDATE"}
    amphorae.resume()
    octavia.wait_active(lb["id"])
    assert set(statuses(octavia, paths).values()) == {"ACTIVE"}
    paths["member"] = f"/pools/{pool['id']}/members/{member['id']}"

    amphorae.pause()
    octavia.create("/healthmonitors", "healthmonitor", pool_id=pool["id"], type="TCP", delay=5, timeout=3,
                   max_retries=3)
    assert statuses(octavia, paths) == {"loadbalancer": "PENDING_UPDATE", "listener": "PENDING_UPDATE",
                                        "pool": "PENDING_UPDATE", "member": "ACTIVE"}
    amphorae.resume()
    octavia.wait_active(lb["id"])
    amphorae.pause()
    octavia.update(f"/pools/{pool['id']}", "pool", name="renamed")
    assert statuses(octavia, paths)["listener"] == "PENDING_UPDATE"
    amphorae.resume()
    octavia.wait_active(lb["id"])

    amphorae.failing = True
    failed = octavia.create(f"/pools/{pool['id']}/members", "member", address="10.40.0.11", protocol_port=80)
    octavia.wait_active(lb["id"])
    assert statuses(octavia, {**paths, "member1": f"/pools/{pool['id']}/members/{failed['id']}"}) == {
        "loadbalancer": "ACTIVE", "listener": "ACTIVE", "pool": "ACTIVE", "member": "ACTIVE", "member1": "ERROR"}
    assert octavia.request("DELETE", f"/pools/{pool['id']}").status_code == 204
    octavia.wait_active(lb["id"])
    assert statuses(octavia, paths) == {"loadbalancer": "ACTIVE", "listener": "ACTIVE", "pool": "ERROR",
                                        "member": "ACTIVE"}
    amphorae.failing = False
    assert octavia.request("DELETE", f"/pools/{pool['id']}").status_code == 204
    octavia.wait_gone(paths["pool"])
    octavia.wait_active(lb["id"])
    assert octavia.request("GET", f"/pools/{pool['id']}/members/{member['id']}").status_code == 404
    assert octavia.show(paths["listener"], "listener")["default_pool_id"] is None


def test_a_vip_port_the_user_gave_outlives_the_load_balancer(api: Api, alice: Member, octavia: Octavia,
                                                             amphorae: SimAmphoraDriver,
                                                             subnet: dict[str, Any]) -> None:
    """Octavia deletes only the VIP port it made; a port given as vip_port_id is released and kept."""
    neutron = Neutron(api, alice.token)
    port = neutron.port(subnet["network_id"], name="my-vip")
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_port_id=port["id"])
    assert lb["vip_port_id"] == port["id"]
    octavia.wait_active(lb["id"])
    assert neutron.get(f"/ports/{port['id']}").json()["port"]["device_owner"] == "Octavia"
    assert octavia.request("DELETE", f"/loadbalancers/{lb['id']}").status_code == 204
    octavia.wait_gone(f"/loadbalancers/{lb['id']}")
    kept = neutron.get(f"/ports/{port['id']}")
    assert kept.status_code == 200, kept.text
    assert (kept.json()["port"]["device_owner"], kept.json()["port"]["device_id"]) == ("", "")
    assert kept.json()["port"]["fixed_ips"] == port["fixed_ips"]


def test_without_a_control_plane_changes_are_refused_and_nothing_is_kept(
        api: Api, alice: Member, cloud: Cloud, plane: ComputePlane, subnet: dict[str, Any]) -> None:
    octavia = Octavia(api, alice.token)
    unavailable = "The load-balancing workers are not running."
    message = fault(octavia.request("POST", "/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet["id"]}}),
                    503)
    assert message == unavailable
    assert octavia.request("GET", "/loadbalancers").json()["loadbalancers"] == []
    assert Neutron(api, alice.token).get(f"/ports?network_id={subnet['network_id']}").json()["ports"] == []

    running = running_amphorae(cloud, plane)
    next(running)
    lb = octavia.create("/loadbalancers", "loadbalancer", name="kept", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"])
    next(running, None)  # the control plane goes away
    path = f"/loadbalancers/{lb['id']}"
    assert fault(octavia.request("PUT", path, json={"loadbalancer": {"name": "renamed"}}), 503) == unavailable
    assert fault(octavia.request("DELETE", f"{path}?cascade=true"), 503) == unavailable
    shown = octavia.show(path, "loadbalancer")
    assert (shown["name"], shown["provisioning_status"]) == ("kept", "ACTIVE")
