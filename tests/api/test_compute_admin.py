"""Nova's admin and operations APIs in-process, over a live simulated plane of three hosts with 0.2 s boots:
hypervisors, services, availability zones, aggregates, server groups, quota sets, limits and usage.

Shapes are pinned per microversion (2.1 ids and fields against 2.53+ uuids, 2.64 server groups, fields
dropped at 2.36/2.39/2.57); waits are bounded polls.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.compute_helpers import HOSTS, Member, Nova, make_member, running_plane
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.core.compute.scheduling import LocalDestinations
from twinstack.core.compute.stores import RequestSpec, Scheduler
from twinstack.core.image.images import TEST_IMAGE_ID

HOST_NAMES = [f"sim000-{n:04d}" for n in range(HOSTS)]


@pytest.fixture
def plane(api: Api) -> Iterator[ComputePlane]:
    yield from running_plane(api.cloud)


@pytest.fixture
def nova(api: Api, plane: ComputePlane) -> Nova:
    return Nova(api)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def fault(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    [(_, body)] = response.json().items()
    assert body["code"] == status
    message: str = body["message"]
    return message


def nova_boot_body(name: str) -> dict[str, Any]:
    return {"name": name, "flavorRef": "1", "imageRef": TEST_IMAGE_ID}


def hypervisors(nova: Nova, detail: bool = True) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(nova.get("/os-hypervisors" + ("/detail" if detail else "")))["hypervisors"]
    return found


def services(nova: Nova, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(nova.get("/os-services", params=query))["services"]
    return found


def compute_service(nova: Nova, host: str) -> dict[str, Any]:
    [found] = services(nova, host=host, binary="nova-compute")
    return found


# hypervisors ------------------------------------------------------------------------------------


def test_every_host_is_a_hypervisor_with_its_usage(nova: Nova) -> None:
    listed = hypervisors(nova, detail=False)
    assert [h["hypervisor_hostname"] for h in listed] == HOST_NAMES
    assert listed[0] == {"id": 1, "hypervisor_hostname": HOST_NAMES[0], "state": "up", "status": "enabled"}
    server = nova.boot()
    nova.wait_for(server["id"], "ACTIVE")
    first = hypervisors(nova)[0]
    assert {k: first[k] for k in ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "free_ram_mb", "local_gb",
                                  "local_gb_used", "free_disk_gb", "running_vms", "current_workload")} == {
        "vcpus": 8, "vcpus_used": 1, "memory_mb": 16896, "memory_mb_used": 512 + 512, "free_ram_mb": 15872,
        "local_gb": 200, "local_gb_used": 1, "free_disk_gb": 199, "running_vms": 1, "current_workload": 0}
    assert first["hypervisor_type"] == "QEMU" and first["host_ip"] and isinstance(first["hypervisor_version"], int)
    assert isinstance(first["cpu_info"], str), "cpu_info is a JSON string before 2.28"
    assert first["service"] == {"id": 3, "host": HOST_NAMES[0], "disabled_reason": None}
    assert ok(nova.get("/os-hypervisors/1"))["hypervisor"] == first
    stats = ok(nova.get("/os-hypervisors/statistics"))["hypervisor_statistics"]
    assert (stats["count"], stats["vcpus"], stats["vcpus_used"], stats["running_vms"]) == (3, 24, 1, 1)


def test_hypervisors_from_2_53_have_uuids_patterns_and_servers(nova: Nova) -> None:
    server = nova.boot()
    nova.wait_for(server["id"], "ACTIVE")
    new = nova.at("2.79")
    listed = hypervisors(new)
    assert isinstance(listed[0]["cpu_info"], dict)
    hypervisor_id = listed[0]["id"]
    assert len(hypervisor_id) == 36 and len(listed[0]["service"]["id"]) == 36
    shown = ok(new.get(f"/os-hypervisors/{hypervisor_id}", params={"with_servers": "true"}))["hypervisor"]
    assert shown["servers"] == [{"name": "vm", "uuid": server["id"]}]
    matching = ok(new.get("/os-hypervisors", params={"hypervisor_hostname_pattern": "0002",
                                                    "with_servers": "1"}))["hypervisors"]
    assert [(h["hypervisor_hostname"], h["servers"]) for h in matching] == [(HOST_NAMES[2], [])], \
        "from 2.75 servers is always there when asked for"
    assert "No hypervisor matching 'nope'" in fault(new.get("/os-hypervisors?hypervisor_hostname_pattern=nope"), 404)
    assert fault(new.get("/os-hypervisors/1"), 400) == "Invalid uuid 1"
    assert fault(nova.get("/os-hypervisors/sim000-0000"), 404) == \
        "Hypervisor with ID 'sim000-0000' could not be found."
    assert new.get("/os-hypervisors/0000/search").status_code == 404, "gone at 2.53"
    searched = ok(nova.get("/os-hypervisors/0000/servers"))["hypervisors"]
    assert searched[0]["servers"] == [{"name": "vm", "uuid": server["id"]}]


def test_hypervisors_page_from_2_33(nova: Nova) -> None:
    paged = nova.at("2.33")
    ids = [h["id"] for h in ok(paged.get("/os-hypervisors"))["hypervisors"]]
    assert len(ids) == 3 and ids == sorted(ids)  # row ids: a database's sequence may not start at 1
    first = ok(paged.get("/os-hypervisors", params={"limit": 2}))
    assert [h["id"] for h in first["hypervisors"]] == ids[:2]
    assert f"marker={ids[1]}" in first["hypervisors_links"][0]["href"]
    rest = ok(paged.get("/os-hypervisors", params={"limit": 2, "marker": ids[1]}))
    assert [h["id"] for h in rest["hypervisors"]] == ids[2:] and "hypervisors_links" not in rest
    unknown = max(ids) + 99
    assert fault(paged.get("/os-hypervisors", params={"marker": unknown}), 400) == f"marker [{unknown}] not found"


def test_hypervisors_and_services_are_for_admins(nova: Nova, alice: Member) -> None:
    member = nova.as_user(alice.token)
    for path in ("/os-hypervisors", "/os-hypervisors/detail", "/os-hypervisors/statistics", "/os-services",
                 "/os-aggregates", "/os-availability-zone/detail", "/os-simple-tenant-usage"):
        assert member.get(path).status_code == 403, path
    assert member.get("/os-availability-zone").status_code == 200


def test_uptime_is_not_reported(nova: Nova) -> None:
    assert nova.get("/os-hypervisors/1/uptime").status_code == 501


# services ---------------------------------------------------------------------------------------


def test_services_list_the_control_plane_and_one_compute_per_host(nova: Nova) -> None:
    listed = services(nova)
    assert [(s["binary"], s["zone"]) for s in listed[:2]] == [("nova-conductor", "internal"),
                                                              ("nova-scheduler", "internal")]
    computes = listed[2:]
    assert [(s["id"], s["binary"], s["host"], s["zone"], s["status"], s["state"]) for s in computes] == [
        (n + 3, "nova-compute", host, "nova", "enabled", "up") for n, host in enumerate(HOST_NAMES)]
    assert "forced_down" not in computes[0], "forced_down shows from 2.11"
    assert [s["host"] for s in services(nova, binary="nova-compute", host=HOST_NAMES[1])] == [HOST_NAMES[1]]
    assert services(nova.at("2.11"))[2]["forced_down"] is False


def test_a_disabled_host_gets_no_new_builds_and_shows_it(nova: Nova) -> None:
    new = nova.at("2.79")
    service = compute_service(new, HOST_NAMES[0])
    changed = ok(new.put(f"/os-services/{service['id']}", json={"status": "disabled",
                                                                 "disabled_reason": "maintenance"}))["service"]
    assert (changed["status"], changed["disabled_reason"], changed["state"]) == ("disabled", "maintenance", "up")
    assert hypervisors(nova)[0]["status"] == "disabled"
    assert hypervisors(nova)[0]["service"]["disabled_reason"] == "maintenance"
    server = nova.boot()
    placed = nova.at("2.79").wait_for(server["id"], "ACTIVE")
    assert placed["OS-EXT-SRV-ATTR:host"] != HOST_NAMES[0]
    enabled = ok(new.put(f"/os-services/{service['id']}", json={"status": "enabled"}))["service"]
    assert (enabled["status"], enabled["disabled_reason"]) == ("enabled", None)


def test_forcing_a_service_down_marks_it_down_and_out_of_the_next_build_at_once(nova: Nova) -> None:
    new = nova.at("2.79")
    service = compute_service(new, HOST_NAMES[0])
    down = ok(new.put(f"/os-services/{service['id']}", json={"forced_down": True}))["service"]
    assert (down["forced_down"], down["state"], down["status"]) == (True, "down", "enabled")
    assert hypervisors(nova)[0]["state"] == "down"
    placed = new.wait_for(nova.boot()["id"], "ACTIVE")  # the scheduler heard of it: no refresh tick waited for
    assert placed["OS-EXT-SRV-ATTR:host"] != HOST_NAMES[0]
    up = ok(new.put(f"/os-services/{service['id']}", json={"forced_down": False}))["service"]
    assert up["state"] == "up"


def test_service_updates_are_checked_as_nova_checks_them(nova: Nova) -> None:
    new = nova.at("2.79")
    service = compute_service(new, HOST_NAMES[0])
    conductor = services(new, binary="nova-conductor")[0]
    assert fault(new.put(f"/os-services/{service['id']}", json={"status": "enabled", "disabled_reason": "x"}),
                 400) == "Specifying 'disabled_reason' with status 'enabled' is invalid."
    assert "No updates were requested" in fault(new.put(f"/os-services/{service['id']}", json={}), 400)
    assert "Only nova-compute services can be updated" in fault(
        new.put(f"/os-services/{conductor['id']}", json={"status": "disabled"}), 400)
    assert fault(new.put("/os-services/disable", json={"host": HOST_NAMES[0], "binary": "nova-compute"}),
                 400) == "Invalid uuid disable"
    assert new.put("/os-services/6b3c3e2c-0000-4000-8000-000000000001", json={"status": "disabled"}
                   ).status_code == 404
    assert new.put(f"/os-services/{service['id']}", json={"status": "off"}).status_code == 400


def test_the_older_service_actions_before_2_53(nova: Nova) -> None:
    old = nova.at("2.11")
    target = {"host": HOST_NAMES[2], "binary": "nova-compute"}
    assert ok(old.put("/os-services/disable-log-reason", json={**target, "disabled_reason": "broken fan"})) == {
        "service": {**target, "status": "disabled", "disabled_reason": "broken fan"}}
    assert compute_service(old, HOST_NAMES[2])["disabled_reason"] == "broken fan"
    assert ok(old.put("/os-services/enable", json=target)) == {"service": {**target, "status": "enabled"}}
    assert ok(old.put("/os-services/force-down", json={**target, "forced_down": True})) == {
        "service": {**target, "forced_down": True}}
    assert compute_service(old, HOST_NAMES[2])["state"] == "down"
    assert nova.put("/os-services/force-down", json={**target, "forced_down": False}).status_code == 404, \
        "force-down is 2.11's"
    assert fault(old.put("/os-services/disable", json={"host": "nope", "binary": "nova-compute"}), 404) == \
        "Could not find binary nova-compute on host nope."


# availability zones and aggregates --------------------------------------------------------------


def zones(nova: Nova, detail: bool = False) -> dict[str, Any]:
    found = ok(nova.get("/os-availability-zone" + ("/detail" if detail else "")))["availabilityZoneInfo"]
    return {z["zoneName"]: z for z in found}


def create_aggregate(nova: Nova, name: str, zone: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name} | ({"availability_zone": zone} if zone else {})
    created: dict[str, Any] = ok(nova.post("/os-aggregates", json={"aggregate": body}))["aggregate"]
    return created


def action(nova: Nova, aggregate_id: int, **body: Any) -> Any:
    return nova.post(f"/os-aggregates/{aggregate_id}/action", json=body)


def test_zones_list_for_users_and_show_hosts_and_services_to_admins(nova: Nova, alice: Member) -> None:
    assert nova.as_user(alice.token).get("/os-availability-zone").json() == {
        "availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]}
    detailed = zones(nova, detail=True)
    assert set(detailed) == {"internal", "nova"}
    assert set(detailed["internal"]["hosts"].popitem()[1]) == {"nova-conductor", "nova-scheduler"}
    assert set(detailed["nova"]["hosts"]) == set(HOST_NAMES)
    assert detailed["nova"]["hosts"][HOST_NAMES[0]]["nova-compute"]["available"] is True


def test_an_aggregate_with_a_zone_moves_its_hosts_into_it(nova: Nova) -> None:
    created = create_aggregate(nova, "agg1", "az1")
    assert set(created) == {"id", "name", "availability_zone", "created_at", "updated_at", "deleted", "deleted_at"}
    assert created["availability_zone"] == "az1"
    added = ok(action(nova, created["id"], add_host={"host": HOST_NAMES[0]}))["aggregate"]
    assert added["hosts"] == [HOST_NAMES[0]] and added["metadata"] == {"availability_zone": "az1"}
    assert {name: z["zoneState"]["available"] for name, z in zones(nova).items()} == {"az1": True, "nova": True}
    assert compute_service(nova, HOST_NAMES[0])["zone"] == "az1"
    server = nova.boot(availability_zone="az1")  # the zone an aggregate made is one a server may ask for
    nova.wait_for(server["id"], "ACTIVE")
    removed = ok(action(nova, created["id"], remove_host={"host": HOST_NAMES[0]}))["aggregate"]
    assert removed["hosts"] == [] and set(zones(nova)) == {"nova"}


def test_a_host_cannot_be_in_two_zones(nova: Nova) -> None:
    east, west = create_aggregate(nova, "east", "az-east"), create_aggregate(nova, "west", "az-west")
    plain = create_aggregate(nova, "plain")
    ok(action(nova, east["id"], add_host={"host": HOST_NAMES[0]}))
    assert fault(action(nova, west["id"], add_host={"host": HOST_NAMES[0]}), 409) == (
        f"Cannot add host to aggregate {west['id']}. Reason: One or more hosts already in availability zone(s) "
        f"['az-east'].")
    ok(action(nova, plain["id"], add_host={"host": HOST_NAMES[0]}))
    assert "already in availability zone(s) ['az-east']" in fault(
        nova.put(f"/os-aggregates/{plain['id']}", json={"aggregate": {"availability_zone": "az-other"}}), 400)
    assert "already in availability zone(s)" in fault(
        action(nova, plain["id"], set_metadata={"metadata": {"availability_zone": "az-other"}}), 400)
    assert fault(action(nova, east["id"], add_host={"host": HOST_NAMES[0]}), 409) == \
        f"Aggregate {east['id']} already has host {HOST_NAMES[0]}."


def test_aggregates_are_managed_as_nova_manages_them(nova: Nova) -> None:
    created = create_aggregate(nova, "rack-a")
    number = created["id"]
    assert fault(nova.post("/os-aggregates", json={"aggregate": {"name": "rack-a"}}), 409) == \
        "Aggregate rack-a already exists."
    meta = ok(action(nova, number, set_metadata={"metadata": {"ssd": "true", "gpu": "no"}}))["aggregate"]
    assert meta["metadata"] == {"ssd": "true", "gpu": "no"}
    meta = ok(action(nova, number, set_metadata={"metadata": {"gpu": None}}))["aggregate"]
    assert meta["metadata"] == {"ssd": "true"} and meta["updated_at"] is not None
    renamed = ok(nova.put(f"/os-aggregates/{number}", json={"aggregate": {"name": "rack-b"}}))["aggregate"]
    assert renamed["name"] == "rack-b" and "uuid" not in renamed
    shown = ok(nova.at("2.41").get(f"/os-aggregates/{number}"))["aggregate"]
    assert len(shown["uuid"]) == 36
    assert [a["name"] for a in ok(nova.get("/os-aggregates"))["aggregates"]] == ["rack-b"]
    ok(action(nova, number, add_host={"host": HOST_NAMES[1]}))
    assert "Host aggregate is not empty" in fault(nova.delete(f"/os-aggregates/{number}"), 400)
    assert fault(action(nova, number, add_host={"host": "nope"}), 404) == "Compute host nope could not be found."
    assert fault(action(nova, number, remove_host={"host": HOST_NAMES[2]}), 404) == \
        f"Cannot remove host {HOST_NAMES[2]} in aggregate {number}"
    ok(action(nova, number, remove_host={"host": HOST_NAMES[1]}))
    assert nova.delete(f"/os-aggregates/{number}").status_code == 200
    assert fault(nova.get(f"/os-aggregates/{number}"), 404) == f"Aggregate {number} could not be found."
    assert fault(nova.get("/os-aggregates/rack-b"), 400) == "Invalid input received: id must be an integer"
    assert nova.post("/os-aggregates", json={"aggregate": {"name": "x", "colour": "red"}}).status_code == 400
    assert nova.post("/os-aggregates", json={"aggregate": {"name": "x", "availability_zone": "internal"}}
                     ).status_code == 400


# server groups ----------------------------------------------------------------------------------


def test_server_groups_before_and_from_2_64(nova: Nova, alice: Member) -> None:
    member = nova.as_user(alice.token)
    old = ok(member.post("/os-server-groups", json={"server_group": {"name": "g1", "policies": ["affinity"]}}))
    assert old["server_group"] == {"id": old["server_group"]["id"], "name": "g1", "policies": ["affinity"],
                                   "members": [], "metadata": {}}
    assert member.post("/os-server-groups", json={"server_group": {"name": "g", "policies": ["soft-affinity"]}}
                       ).status_code == 400, "the soft policies are 2.15's"
    new = member.at("2.64")
    group = ok(new.post("/os-server-groups", json={"server_group": {
        "name": "spread", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}}))["server_group"]
    assert group == {"id": group["id"], "name": "spread", "policy": "anti-affinity",
                     "rules": {"max_server_per_host": 2}, "members": [], "project_id": alice.project_id,
                     "user_id": alice.user_id}
    assert fault(new.post("/os-server-groups", json={"server_group": {
        "name": "x", "policy": "affinity", "rules": {"max_server_per_host": 2}}}), 400) == \
        "Only anti-affinity policy supports rules."
    assert new.post("/os-server-groups", json={"server_group": {"name": "x", "policies": ["affinity"]}}
                    ).status_code == 400
    listed = ok(new.get("/os-server-groups"))["server_groups"]
    assert [g["name"] for g in listed] == ["g1", "spread"]
    assert ok(nova.get("/os-server-groups"))["server_groups"] == [], "the admin's own project has none"
    assert len(ok(nova.get("/os-server-groups?all_projects=True"))["server_groups"]) == 2
    assert member.get(f"/os-server-groups/{group['id']}").status_code == 200
    assert member.delete(f"/os-server-groups/{group['id']}").status_code == 204
    assert fault(member.get(f"/os-server-groups/{group['id']}"), 404) == \
        f"Instance group {group['id']} could not be found."


def test_servers_booted_with_a_group_hint_are_its_members(nova: Nova) -> None:
    group = ok(nova.post("/os-server-groups", json={"server_group": {"name": "web", "policies": ["anti-affinity"]}}
                         ))["server_group"]
    servers = [nova.post("/servers", json={"server": nova_boot_body(f"web{n}"),
                                           "os:scheduler_hints": {"group": group["id"]}}) for n in range(2)]
    ids = [ok(s, 202)["server"]["id"] for s in servers]
    shown = ok(nova.get(f"/os-server-groups/{group['id']}"))["server_group"]
    assert shown["members"] == ids
    for server_id in ids:
        nova.wait_for(server_id, "ACTIVE")
    assert nova.delete(f"/servers/{ids[0]}").status_code == 204
    nova.wait_gone(ids[0])
    assert ok(nova.get(f"/os-server-groups/{group['id']}"))["server_group"]["members"] == ids[1:]
    unknown = "6b3c3e2c-0000-4000-8000-0000000000aa"
    assert fault(nova.post("/servers", json={"server": nova_boot_body("x"), "os:scheduler_hints": {"group": unknown}}),
                 400) == f"Instance group {unknown} could not be found."


class Recording:
    """Wraps the plane's scheduler to keep every RequestSpec it is asked to place."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.specs: list[RequestSpec] = []

    def select_destinations(self, spec: RequestSpec) -> list[str]:
        self.specs.append(spec)
        return self.scheduler.select_destinations(spec)


def test_the_groups_policy_and_members_hosts_reach_the_scheduler(nova: Nova, plane: ComputePlane) -> None:
    recording = Recording(plane.conductor.scheduler)
    plane.conductor.destinations = LocalDestinations(recording)  # where builds ask for their hosts
    group = ok(nova.at("2.64").post("/os-server-groups", json={"server_group": {
        "name": "spread", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}}))["server_group"]
    hint = {"os:scheduler_hints": {"group": group["id"]}}
    first = ok(nova.post("/servers", json={"server": nova_boot_body("a"), **hint}), 202)["server"]
    host = nova.at("2.79").wait_for(first["id"], "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    ok(nova.post("/servers", json={"server": nova_boot_body("b"), **hint}), 202)
    deadline = time.monotonic() + 10
    while len(recording.specs) < 2:
        assert time.monotonic() < deadline, "the second build was never scheduled"
        time.sleep(0.05)
    before, after = recording.specs
    assert (before.server_group_policy, before.server_group_hosts) == ("anti-affinity", frozenset())
    assert (after.server_group_policy, after.server_group_hosts) == ("anti-affinity", frozenset({host}))
    assert after.server_group_host_counts == {host: 1}
    assert after.server_group_rules == {"max_server_per_host": 2}


def test_a_group_holds_at_most_its_members_quota(nova: Nova, api: Api) -> None:
    project = api.cloud.validator.validate(nova.token).project_id
    ok(nova.put(f"/os-quota-sets/{project}", json={"quota_set": {"server_group_members": 1}}))
    group = ok(nova.post("/os-server-groups", json={"server_group": {"name": "one", "policies": ["affinity"]}}
                         ))["server_group"]
    hint = {"os:scheduler_hints": {"group": group["id"]}}
    ok(nova.post("/servers", json={"server": nova_boot_body("a"), **hint}), 202)
    assert fault(nova.post("/servers", json={"server": nova_boot_body("b"), **hint}), 403) == \
        "Quota exceeded, too many servers in group"
    assert len(ok(nova.get("/servers"))["servers"]) == 1


def test_a_user_holds_at_most_the_key_pairs_quota_of_their_project(nova: Nova, api: Api, alice: Member) -> None:
    ok(nova.put(f"/os-quota-sets/{alice.project_id}", json={"quota_set": {"key_pairs": 2}}))
    member = nova.as_user(alice.token).at("2.2")
    for name in ("k1", "k2"):
        ok(member.post("/os-keypairs", json={"keypair": {"name": name}}), 201)
    assert fault(member.post("/os-keypairs", json={"keypair": {"name": "k3"}}), 403) == \
        "Quota exceeded, too many key pairs."
    assert [k["keypair"]["name"] for k in ok(member.get("/os-keypairs"))["keypairs"]] == ["k1", "k2"]
    assert member.delete("/os-keypairs/k1").status_code == 204
    ok(member.post("/os-keypairs", json={"keypair": {"name": "k3"}}), 201)
    ok(nova.post("/os-keypairs", json={"keypair": {"name": "k1"}})), "the admin's project has its own quota"


# quotas and limits ------------------------------------------------------------------------------


def project_of(api: Api, token: str) -> str:
    project_id = api.cloud.validator.validate(token).project_id
    assert project_id is not None
    return project_id


def test_quota_sets_show_defaults_and_fields_per_microversion(nova: Nova, api: Api) -> None:
    project = project_of(api, nova.token)
    shown = ok(nova.get(f"/os-quota-sets/{project}"))["quota_set"]
    assert shown == {"id": project, "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128,
                     "key_pairs": 100, "server_groups": 10, "server_group_members": 10, "injected_files": 5,
                     "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255, "fixed_ips": -1,
                     "floating_ips": -1, "security_groups": -1, "security_group_rules": -1}
    at_236 = ok(nova.at("2.36").get(f"/os-quota-sets/{project}"))["quota_set"]
    assert "floating_ips" not in at_236 and "injected_files" in at_236
    at_257 = ok(nova.at("2.57").get(f"/os-quota-sets/{project}/defaults"))["quota_set"]
    assert set(at_257) == {"id", "instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
                           "server_group_members"}
    assert fault(nova.at("2.57").put(f"/os-quota-sets/{project}", json={"quota_set": {"injected_files": 3}}),
                 400).startswith("Invalid input for field/attribute quota_set. Additional properties")
    assert fault(nova.get("/os-quota-sets/no-such-project"), 400) == \
        "Project ID no-such-project is not a valid project."


def test_quota_set_and_detail_and_revert(nova: Nova, api: Api, alice: Member) -> None:
    server = nova.as_user(alice.token).boot()
    updated = ok(nova.put(f"/os-quota-sets/{alice.project_id}", json={"quota_set": {"instances": 2, "cores": "4"}}))
    assert "id" not in updated["quota_set"] and updated["quota_set"]["instances"] == 2
    assert updated["quota_set"]["cores"] == 4
    detail = ok(nova.as_user(alice.token).get(f"/os-quota-sets/{alice.project_id}/detail"))["quota_set"]
    assert detail["instances"] == {"limit": 2, "in_use": 1, "reserved": 0}
    assert detail["ram"] == {"limit": 51200, "in_use": 512, "reserved": 0}
    assert fault(nova.put(f"/os-quota-sets/{alice.project_id}", json={"quota_set": {"instances": 0}}), 400) == \
        "Quota limit 0 for instances must be greater than or equal to already used and reserved 1."
    ok(nova.put(f"/os-quota-sets/{alice.project_id}", json={"quota_set": {"instances": 0, "force": True}}))
    assert nova.as_user(alice.token).put(f"/os-quota-sets/{alice.project_id}",
                                         json={"quota_set": {"instances": 50}}).status_code == 403
    other = project_of(api, nova.token)
    assert nova.as_user(alice.token).get(f"/os-quota-sets/{other}").status_code == 403
    assert nova.delete(f"/os-quota-sets/{alice.project_id}").status_code == 202
    assert ok(nova.get(f"/os-quota-sets/{alice.project_id}"))["quota_set"]["instances"] == 10
    nova.wait_for(server["id"], "ACTIVE")


def test_a_create_over_quota_is_refused_with_403_and_leaves_nothing(nova: Nova, alice: Member) -> None:
    ok(nova.put(f"/os-quota-sets/{alice.project_id}", json={"quota_set": {"instances": 2}}))
    member = nova.as_user(alice.token)
    first = member.boot("one")
    refused = member.post("/servers", json={"server": {**nova_boot_body("many"), "min_count": 2, "max_count": 3}})
    assert fault(refused, 403) == "Quota exceeded for instances: Requested 2-3, but already used 1 of 2 instances"
    shrunk = ok(member.post("/servers", json={"server": {**nova_boot_body("some"), "min_count": 1,
                                                         "max_count": 3}}), 202)
    assert [s["id"] for s in ok(member.get("/servers"))["servers"]][-1] == first["id"]
    assert len(ok(member.get("/servers"))["servers"]) == 2
    assert fault(member.post("/servers", json={"server": nova_boot_body("last")}), 403) == \
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
    assert len(ok(member.get("/servers"))["servers"]) == 2
    assert shrunk["server"]["id"]
    nova.delete(f"/servers/{first['id']}")
    member.wait_gone(first["id"])
    ok(member.post("/servers", json={"server": nova_boot_body("again")}), 202)


def test_limits_show_the_quota_and_what_is_used(nova: Nova, alice: Member) -> None:
    member = nova.as_user(alice.token)
    server = member.boot()
    ok(member.post("/os-server-groups", json={"server_group": {"name": "g", "policies": ["affinity"]}}))
    absolute = ok(member.get("/limits"))["limits"]["absolute"]
    assert absolute == {
        "maxTotalRAMSize": 51200, "maxTotalInstances": 10, "maxTotalCores": 20, "maxTotalKeypairs": 100,
        "maxTotalFloatingIps": -1, "maxServerMeta": 128, "maxImageMeta": 128, "maxPersonality": 5,
        "maxPersonalitySize": 10240, "maxSecurityGroups": -1, "maxSecurityGroupRules": -1, "maxServerGroups": 10,
        "maxServerGroupMembers": 10, "totalRAMUsed": 512, "totalCoresUsed": 1, "totalInstancesUsed": 1,
        "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0, "totalServerGroupsUsed": 1}
    latest = ok(member.at("2.79").get("/limits"))["limits"]
    assert latest["rate"] == [] and set(latest["absolute"]) == {
        "maxTotalRAMSize", "maxTotalInstances", "maxTotalCores", "maxTotalKeypairs", "maxServerMeta",
        "maxServerGroups", "maxServerGroupMembers", "totalRAMUsed", "totalCoresUsed", "totalInstancesUsed",
        "totalServerGroupsUsed"}
    assert member.get("/limits", params={"tenant_id": "someone-else"}).status_code == 403
    assert ok(nova.get("/limits", params={"tenant_id": alice.project_id}))["limits"]["absolute"][
        "totalInstancesUsed"] == 1
    nova.wait_for(server["id"], "ACTIVE")


# usage ------------------------------------------------------------------------------------------


def stamp(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def test_usage_sums_each_projects_server_hours(nova: Nova, alice: Member, plane: ComputePlane) -> None:
    start = plane.runtime.clock.now() - 3600
    member = nova.as_user(alice.token)
    kept, gone = member.boot("kept"), member.boot("gone")
    for server in (kept, gone):
        member.wait_for(server["id"], "ACTIVE")
    member.delete(f"/servers/{gone['id']}")
    member.wait_gone(gone["id"])
    time.sleep(0.2)
    window = {"start": stamp(start), "end": stamp(plane.runtime.clock.now()), "detailed": "1"}
    [usage] = ok(nova.get("/os-simple-tenant-usage", params=window))["tenant_usages"]
    assert usage["tenant_id"] == alice.project_id
    by_name = {s["name"]: s for s in usage["server_usages"]}
    assert by_name["gone"]["state"] == "terminated" and by_name["gone"]["ended_at"] is not None
    assert by_name["kept"]["state"] == "active" and by_name["kept"]["ended_at"] is None
    assert by_name["kept"]["flavor"] == "m1.tiny" and by_name["kept"]["memory_mb"] == 512
    assert 0 < usage["total_hours"] < 0.01
    assert usage["total_memory_mb_usage"] == pytest.approx(512 * usage["total_hours"])
    shown = ok(member.get(f"/os-simple-tenant-usage/{alice.project_id}", params=window))["tenant_usage"]
    assert shown["total_hours"] == pytest.approx(usage["total_hours"]) and len(shown["server_usages"]) == 2
    assert "server_usages" not in ok(nova.get("/os-simple-tenant-usage", params={
        **window, "detailed": "0"}))["tenant_usages"][0]
    paged = ok(nova.at("2.40").get("/os-simple-tenant-usage", params={**window, "limit": 1}))
    assert "marker=" in paged["tenant_usages_links"][0]["href"]
    assert fault(nova.get("/os-simple-tenant-usage", params={"start": "yesterday"}), 400) == \
        "Invalid datetime string: Datetime is in invalid format"
    assert "start time cannot occur after the end time" in fault(nova.get(
        "/os-simple-tenant-usage", params={"start": window["end"], "end": window["start"]}), 400)
    assert ok(member.get(f"/os-simple-tenant-usage/{alice.project_id}", params={
        "start": "2001-01-01T00:00:00", "end": "2001-01-02T00:00:00"})) == {"tenant_usage": {}}


def test_host_status_follows_the_hosts_service_in_show_and_in_the_list(nova: Nova) -> None:
    """Nova's host_status (2.16): UP, MAINTENANCE once disabled, DOWN once forced down (which wins), the same
    whether the server is shown alone or on a page of the detailed list."""
    new = nova.at("2.79")
    placed = new.wait_for(nova.boot()["id"], "ACTIVE")
    service = compute_service(new, placed["OS-EXT-SRV-ATTR:host"])

    def statuses() -> tuple[str, str]:
        [listed] = [s for s in ok(new.get("/servers/detail", params={"limit": 10}))["servers"]
                    if s["id"] == placed["id"]]
        return new.server(placed["id"])["host_status"], listed["host_status"]

    assert statuses() == ("UP", "UP")
    ok(new.put(f"/os-services/{service['id']}", json={"status": "disabled", "disabled_reason": "maintenance"}))
    assert statuses() == ("MAINTENANCE", "MAINTENANCE")
    ok(new.put(f"/os-services/{service['id']}", json={"forced_down": True}))
    assert statuses() == ("DOWN", "DOWN")
    ok(new.put(f"/os-services/{service['id']}", json={"status": "enabled", "forced_down": False}))
    assert statuses() == ("UP", "UP")
