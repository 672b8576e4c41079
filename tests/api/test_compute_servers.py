"""The servers API (Nova v2.1 with microversions) in-process, over a live simulated plane with 0.2 s boots.

Each test starts its own plane of three simulated hosts (8 vCPUs, 16 GiB each) and drives the
API as the admin or as project members; waits are bounded polls of the server.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.api.compute_helpers import Member, Nova, huge_flavor, make_member, running_plane
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.core.image.images import TEST_IMAGE_ID

NOVA_21_DETAIL = {
    "id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image", "flavor", "created", "updated",
    "addresses", "accessIPv4", "accessIPv6", "links", "OS-DCF:diskConfig", "progress", "OS-EXT-AZ:availability_zone",
    "config_drive", "key_name", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
    "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached",
}
"""A server without ports: Nova reads ``security_groups`` from the server's ports, and leaves it out when it
finds none (tests/api/test_network_servers.py shows it for servers with ports)."""
ADMIN_21 = {"OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name", "OS-EXT-SRV-ATTR:hypervisor_hostname"}
ADMIN_23 = {"OS-EXT-SRV-ATTR:reservation_id", "OS-EXT-SRV-ATTR:launch_index", "OS-EXT-SRV-ATTR:hostname",
            "OS-EXT-SRV-ATTR:kernel_id", "OS-EXT-SRV-ATTR:ramdisk_id", "OS-EXT-SRV-ATTR:root_device_name",
            "OS-EXT-SRV-ATTR:user_data"}
LATER = {"locked", "host_status", "description", "tags", "trusted_image_certificates", "server_groups",
         "locked_reason"}


@pytest.fixture
def plane(api: Api) -> Iterator[ComputePlane]:
    yield from running_plane(api.cloud)


@pytest.fixture
def nova(api: Api, plane: ComputePlane) -> Nova:
    return Nova(api)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def mallory(api: Api) -> Member:
    return make_member(api, "mallory", "other")


# create and show

def test_create_answers_202_with_nova_21_fields_and_the_server_becomes_active(nova: Nova) -> None:
    response = nova.post("/servers", json={"server": {"name": "vm1", "imageRef": TEST_IMAGE_ID, "flavorRef": "1"}})
    assert response.status_code == 202
    server = response.json()["server"]
    assert set(server) == {"id", "links", "adminPass", "security_groups", "OS-DCF:diskConfig"}
    assert server["security_groups"] == [{"name": "default"}] and server["OS-DCF:diskConfig"] == "MANUAL"
    assert response.headers["Location"].endswith(f"/compute/v2.1/servers/{server['id']}")
    assert [link["rel"] for link in server["links"]] == ["self", "bookmark"]
    building = nova.server(server["id"])
    assert building["status"] == "BUILD" and building["OS-EXT-STS:vm_state"] == "building"
    active = nova.wait_for(server["id"], "ACTIVE")
    assert set(active) == NOVA_21_DETAIL | ADMIN_21
    assert active["OS-EXT-STS:power_state"] == 1 and active["OS-EXT-STS:task_state"] is None
    assert active["image"]["id"] == TEST_IMAGE_ID and active["flavor"]["id"] == "1"
    assert active["hostId"] and active["OS-EXT-SRV-ATTR:host"].startswith("sim")
    assert active["OS-SRV-USG:launched_at"] and active["addresses"] == {}
    assert active["created"].endswith("Z") and "fault" not in active


def test_members_see_no_admin_fields_and_hostid_hides_the_host(nova: Nova, alice: Member) -> None:
    mine = nova.as_user(alice.token)
    created = mine.boot("vm1")
    server = mine.wait_for(created["id"], "ACTIVE")
    assert set(server) == NOVA_21_DETAIL
    assert server["tenant_id"] == alice.project_id and server["user_id"] == alice.user_id
    assert len(server["hostId"]) == 56
    later = mine.at("2.79").server(created["id"])
    assert "host_status" not in later and not any(k.startswith("OS-EXT-SRV-ATTR") for k in later)


def test_fields_follow_the_microversion(nova: Nova) -> None:
    latest = nova.at("2.79")
    created = latest.boot("vm1", description="first", tags=["web"], metadata={"role": "db"},
                          user_data=base64.b64encode(b"#!/bin/sh").decode())
    server = latest.wait_for(created["id"], "ACTIVE")
    assert set(server) == NOVA_21_DETAIL | ADMIN_21 | ADMIN_23 | LATER
    assert server["description"] == "first" and server["tags"] == ["web"] and server["metadata"] == {"role": "db"}
    assert server["locked"] is False and server["locked_reason"] is None and server["host_status"] == "UP"
    assert server["flavor"] == {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
                                "original_name": "m1.tiny", "extra_specs": {}}
    assert server["OS-EXT-SRV-ATTR:hostname"] == "vm1" and server["OS-EXT-SRV-ATTR:user_data"]
    assert server["server_groups"] == []
    at_246 = nova.at("2.46").server(created["id"])
    assert at_246["flavor"]["id"] == "1" and "tags" in at_246 and "trusted_image_certificates" not in at_246
    assert "server_groups" not in nova.at("2.70").server(created["id"])


def test_networks_are_required_from_237_and_must_exist(nova: Nova) -> None:
    body = {"name": "vm", "imageRef": TEST_IMAGE_ID, "flavorRef": "1"}
    assert nova.at("2.37").post("/servers", json={"server": body}).status_code == 400
    for networks in ("auto", "none"):
        response = nova.at("2.37").post("/servers", json={"server": body | {"networks": networks}})
        assert response.status_code == 202, response.text
    missing = nova.at("2.37").post("/servers", json={"server": body | {"networks": [
        {"uuid": "6b3c3e2c-0000-4000-8000-000000000001"}]}})
    assert missing.json() == {"badRequest": {"code": 400, "message": "Network 6b3c3e2c-0000-4000-8000-000000000001 "
                                                                     "could not be found."}}
    assert nova.post("/servers", json={"server": body | {"networks": "auto"}}).status_code == 400
    bad = nova.at("2.37").post("/servers", json={"server": body | {"networks": [{"uuid": "not-a-uuid"}]}})
    assert bad.status_code == 400 and "badRequest" in bad.json()


@pytest.mark.parametrize(("change", "message"), [
    ({"imageRef": "6b3c3e2c-0000-4000-8000-00000000dead"},
     "Image 6b3c3e2c-0000-4000-8000-00000000dead could not be found."),
    ({"flavorRef": "no-such-flavor"}, "Invalid flavorRef provided."),
    ({"key_name": "nokey"}, "Invalid key_name provided."),
    ({"availability_zone": "nowhere"}, "The requested availability zone is not available"),
    ({"user_data": "not base64!"}, "User data needs to be valid base 64."),
    ({"min_count": 3, "max_count": 2}, "min_count must be <= max_count"),
])
def test_bad_references_are_400_with_novas_words(nova: Nova, change: dict[str, object], message: str) -> None:
    body = {"name": "vm", "imageRef": TEST_IMAGE_ID, "flavorRef": "1"} | change
    response = nova.post("/servers", json={"server": body})
    assert response.status_code == 400
    assert response.json() == {"badRequest": {"code": 400, "message": message}}


def test_malformed_bodies_are_400_never_422(nova: Nova) -> None:
    for body in ({"server": {"imageRef": TEST_IMAGE_ID, "flavorRef": "1"}},
                 {"server": {"name": "vm", "imageRef": TEST_IMAGE_ID, "flavorRef": "1", "bogus": 1}},
                 {"server": {"name": " lead", "imageRef": TEST_IMAGE_ID, "flavorRef": "1"}},
                 {"server": {"name": "vm", "imageRef": TEST_IMAGE_ID, "flavorRef": "1", "description": "x"}},
                 {"nothing": {}}):
        response = nova.post("/servers", json=body)
        assert response.status_code == 400, (body, response.text)
    assert nova.post("/servers", content=b"{not json", headers={"Content-Type": "application/json"}
                     ).status_code == 400


def test_a_flavor_too_big_ends_in_error_with_the_no_valid_host_fault(nova: Nova, alice: Member) -> None:
    flavor = huge_flavor(nova)
    created = nova.boot("big", flavor=flavor)
    server = nova.wait_for(created["id"], "ERROR")
    assert server["OS-EXT-STS:vm_state"] == "error" and server["OS-EXT-STS:task_state"] is None
    assert server["fault"]["code"] == 500 and server["fault"]["created"].endswith("Z")
    assert server["fault"]["message"].startswith("No valid host was found.")
    assert server["hostId"] == "" and "progress" not in server


def test_multiple_create_names_each_server_and_can_return_the_reservation(nova: Nova, plane: ComputePlane) -> None:
    response = nova.post("/servers", json={"server": {"name": "web", "imageRef": TEST_IMAGE_ID, "flavorRef": "1",
                                                      "min_count": 1, "max_count": 3,
                                                      "return_reservation_id": True}})
    assert response.status_code == 202
    reservation = response.json()["reservation_id"]
    listed = nova.get("/servers/detail", params={"reservation_id": reservation}).json()["servers"]
    assert sorted(s["name"] for s in listed) == ["web-1", "web-2", "web-3"]
    assert sorted(s["OS-EXT-SRV-ATTR:launch_index"] for s in nova.at("2.3").get(
        "/servers/detail", params={"reservation_id": reservation}).json()["servers"]) == [0, 1, 2]


def test_scheduler_hints_reach_the_instance(nova: Nova, plane: ComputePlane) -> None:
    made = nova.post("/os-server-groups", json={"server_group": {"name": "g", "policies": ["affinity"]}})
    assert made.status_code == 200, made.text
    group = made.json()["server_group"]["id"]
    other = "6b3c3e2c-0000-4000-8000-0000000000bb"
    body = {"server": {"name": "vm", "imageRef": TEST_IMAGE_ID, "flavorRef": "1"},
            "os:scheduler_hints": {"group": group, "different_host": other, "same_host": [other]}}
    response = nova.post("/servers", json=body)
    assert response.status_code == 202
    instance = plane.instances.get(response.json()["server"]["id"])
    assert instance is not None
    assert instance.scheduler_hints == {"group": group, "different_host": [other], "same_host": [other]}
    assert instance.server_group_id == group, "the group hint makes the server a member"
    assert nova.at("2.71").server(instance.uuid)["server_groups"] == [group]
    assert nova.post("/servers", json=body | {"os:scheduler_hints": {"group": "nope"}}).status_code == 400


def test_zone_and_host_forcing_is_for_admins(nova: Nova, alice: Member, plane: ComputePlane) -> None:
    host = plane.hosts.all()[1].host
    body = {"name": "vm", "imageRef": TEST_IMAGE_ID, "flavorRef": "1", "availability_zone": f"nova:{host}"}
    assert nova.as_user(alice.token).post("/servers", json={"server": body}).status_code == 403
    created = nova.post("/servers", json={"server": body})
    assert created.status_code == 202
    instance = plane.instances.get(created.json()["server"]["id"])
    assert instance is not None and instance.scheduler_hints == {"force_hosts": [host]}
    assert instance.requested_availability_zone == "nova"


# listing

def test_list_and_detail_with_filters_sorting_and_pages(nova: Nova) -> None:
    ids = [nova.boot(name)["id"] for name in ("web-1", "web-2", "db-1")]
    for server_id in ids:
        nova.wait_for(server_id, "ACTIVE")
    summary = nova.get("/servers").json()["servers"]
    assert all(set(s) == {"id", "links", "name"} for s in summary)
    assert [s["id"] for s in summary] == list(reversed(ids)), "newest first by default"
    names = [s["name"] for s in nova.get("/servers/detail", params={"name": "^web"}).json()["servers"]]
    assert sorted(names) == ["web-1", "web-2"]
    assert [s["name"] for s in nova.get("/servers", params={"sort_key": "display_name", "sort_dir": "asc"})
            .json()["servers"]] == ["db-1", "web-1", "web-2"]
    assert len(nova.get("/servers/detail", params={"status": "ACTIVE"}).json()["servers"]) == 3
    assert nova.get("/servers/detail", params={"status": "SHUTOFF"}).json()["servers"] == []
    assert nova.at("2.38").get("/servers/detail", params={"status": "bogus"}).status_code == 400
    assert len(nova.get("/servers", params={"image": TEST_IMAGE_ID, "flavor": "1"}).json()["servers"]) == 3
    assert nova.get("/servers", params={"flavor": "2"}).json()["servers"] == []
    page = nova.get("/servers", params={"limit": 2, "sort_key": "display_name", "sort_dir": "asc"}).json()
    assert [s["name"] for s in page["servers"]] == ["db-1", "web-1"]
    next_href = page["servers_links"][0]["href"]
    assert page["servers_links"][0]["rel"] == "next" and "marker=" in next_href
    rest = nova.api.http.get(next_href, headers={"X-Auth-Token": nova.token}).json()
    assert [s["name"] for s in rest["servers"]] == ["web-2"] and "servers_links" not in rest
    assert nova.get("/servers", params={"marker": "nope"}).status_code == 400
    assert nova.get("/servers", params={"sort_key": "bogus"}).status_code == 400
    assert nova.get("/servers", params={"changes-since": "2000-01-01T00:00:00Z"}).json()["servers"]
    assert nova.get("/servers", params={"changes-since": "2999-01-01T00:00:00Z"}).json()["servers"] == []


def test_tag_and_lock_filters(nova: Nova) -> None:
    latest = nova.at("2.79")
    tagged = latest.boot("a", tags=["red", "blue"])["id"]
    plain = latest.boot("b")["id"]
    for server_id in (tagged, plain):
        latest.wait_for(server_id, "ACTIVE")
    assert [s["id"] for s in latest.get("/servers", params={"tags": "red,blue"}).json()["servers"]] == [tagged]
    assert [s["id"] for s in latest.get("/servers", params={"not-tags-any": "red"}).json()["servers"]] == [plain]
    assert latest.action(plain, {"lock": {"locked_reason": "maintenance"}}).status_code == 202
    assert [s["id"] for s in latest.get("/servers", params={"locked": "true"}).json()["servers"]] == [plain]


def test_projects_see_only_their_servers_and_admins_all_of_them(nova: Nova, alice: Member,
                                                                mallory: Member) -> None:
    mine = nova.as_user(alice.token).boot("alice-vm")["id"]
    theirs = nova.as_user(mallory.token).boot("mallory-vm")["id"]
    assert [s["id"] for s in nova.as_user(alice.token).get("/servers").json()["servers"]] == [mine]
    stranger = nova.as_user(mallory.token)
    assert stranger.get(f"/servers/{mine}").status_code == 404
    assert stranger.delete(f"/servers/{mine}").status_code == 404
    assert stranger.action(mine, {"os-stop": None}).status_code == 404
    assert stranger.get("/servers", params={"all_tenants": "1"}).status_code == 403
    assert nova.get("/servers").json()["servers"] == [], "admin's own project has none"
    everyone = {s["id"] for s in nova.get("/servers/detail", params={"all_tenants": "True"}).json()["servers"]}
    assert everyone == {mine, theirs}
    only_alice = nova.get("/servers", params={"all_tenants": "1", "project_id": alice.project_id}).json()
    assert [s["id"] for s in only_alice["servers"]] == [mine]
    assert nova.server(mine)["tenant_id"] == alice.project_id
    ignored = nova.as_user(alice.token).get("/servers", params={"host": "nowhere"}).json()["servers"]
    assert [s["id"] for s in ignored] == [mine], "admin-only filters are dropped for members"


def test_a_reader_may_look_but_not_touch(nova: Nova, api: Api, alice: Member) -> None:
    reader = make_member(api, "rita", "demo", roles=("reader",))
    server_id = nova.as_user(alice.token).boot("vm")["id"]
    looking = nova.as_user(reader.token)
    assert looking.get(f"/servers/{server_id}").status_code == 200
    assert looking.delete(f"/servers/{server_id}").status_code == 403
    assert looking.post("/servers", json={"server": {"name": "x", "imageRef": TEST_IMAGE_ID,
                                                     "flavorRef": "1"}}).status_code == 403


# update, metadata, tags, delete

def test_update_renames_and_describes(nova: Nova) -> None:
    server_id = nova.boot("old")["id"]
    nova.wait_for(server_id, "ACTIVE")
    response = nova.at("2.19").put(f"/servers/{server_id}", json={"server": {"name": "new", "description": "d"}})
    assert response.status_code == 200
    body = response.json()["server"]
    assert body["name"] == "new" and body["description"] == "d" and "OS-EXT-STS:vm_state" not in body
    full = nova.at("2.75").put(f"/servers/{server_id}", json={"server": {"accessIPv4": "10.0.0.9"}}).json()
    assert full["server"]["OS-EXT-STS:vm_state"] == "active" and full["server"]["accessIPv4"] == "10.0.0.9"
    assert nova.put(f"/servers/{server_id}", json={"server": {"description": "x"}}).status_code == 400
    assert nova.server(server_id)["name"] == "new"
    nova.action(server_id, {"os-stop": None})
    assert nova.wait_for(server_id, "SHUTOFF")["name"] == "new", "the conductor keeps the user's name"


def test_metadata_items(nova: Nova) -> None:
    server_id = nova.boot("vm", metadata={"a": "1"})["id"]
    assert nova.post(f"/servers/{server_id}/metadata", json={"metadata": {"b": "2"}}).status_code == 409, \
        "not while building"
    nova.wait_for(server_id, "ACTIVE")
    merged = nova.post(f"/servers/{server_id}/metadata", json={"metadata": {"b": "2"}})
    assert merged.json() == {"metadata": {"a": "1", "b": "2"}}
    assert nova.get(f"/servers/{server_id}/metadata/b").json() == {"meta": {"b": "2"}}
    assert nova.put(f"/servers/{server_id}/metadata/c", json={"meta": {"c": "3"}}).json() == {"meta": {"c": "3"}}
    assert nova.put(f"/servers/{server_id}/metadata/c", json={"meta": {"d": "3"}}).status_code == 400
    assert nova.delete(f"/servers/{server_id}/metadata/a").status_code == 204
    assert nova.get(f"/servers/{server_id}/metadata/a").status_code == 404
    replaced = nova.put(f"/servers/{server_id}/metadata", json={"metadata": {"only": "this"}})
    assert replaced.json() == {"metadata": {"only": "this"}}
    assert nova.server(server_id)["metadata"] == {"only": "this"}


def test_tags_subresource(nova: Nova) -> None:
    tags = nova.at("2.26")
    server_id = tags.boot("vm")["id"]
    tags.wait_for(server_id, "ACTIVE")
    assert tags.put(f"/servers/{server_id}/tags/red").status_code == 201
    assert tags.put(f"/servers/{server_id}/tags/red").status_code == 204
    assert tags.put(f"/servers/{server_id}/tags", json={"tags": ["a", "b"]}).json() == {"tags": ["a", "b"]}
    assert tags.get(f"/servers/{server_id}/tags/a").status_code == 204
    assert tags.delete(f"/servers/{server_id}/tags/a").status_code == 204
    assert tags.get(f"/servers/{server_id}/tags").json() == {"tags": ["b"]}
    assert nova.get(f"/servers/{server_id}/tags").status_code == 404, "no tags before 2.26"


def test_delete_answers_204_and_the_server_is_then_not_found(nova: Nova, plane: ComputePlane) -> None:
    server_id = nova.boot("vm")["id"]
    nova.wait_for(server_id, "ACTIVE")
    assert nova.delete(f"/servers/{server_id}").status_code == 204
    nova.wait_gone(server_id)
    assert nova.get(f"/servers/{server_id}").json() == {
        "itemNotFound": {"code": 404, "message": f"Instance {server_id} could not be found."}}
    assert nova.get("/servers").json()["servers"] == []
    deleted = nova.get("/servers/detail", params={"changes-since": "2000-01-01T00:00:00Z"}).json()["servers"]
    assert [(s["id"], s["status"]) for s in deleted] == [(server_id, "DELETED")]
    assert plane.placement.allocations(server_id) == {}
    history = nova.at("2.21").get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in history] == ["delete", "create"], "a deleted server's history stays readable"
    assert nova.get(f"/servers/{server_id}/os-instance-actions").status_code == 404, "but not before 2.21"


def test_deleting_while_building_wins(nova: Nova) -> None:
    server_id = nova.boot("vm")["id"]
    assert nova.delete(f"/servers/{server_id}").status_code == 204
    nova.wait_gone(server_id)


# actions

def test_power_actions_move_the_server_through_its_states(nova: Nova) -> None:
    server_id = nova.boot("vm")["id"]
    nova.wait_for(server_id, "ACTIVE")
    steps = [({"os-stop": None}, "SHUTOFF", 4), ({"os-start": None}, "ACTIVE", 1), ({"pause": None}, "PAUSED", 3),
             ({"unpause": None}, "ACTIVE", 1), ({"suspend": None}, "SUSPENDED", 7), ({"resume": None}, "ACTIVE", 1),
             ({"reboot": {"type": "SOFT"}}, "ACTIVE", 1), ({"reboot": {"type": "HARD"}}, "ACTIVE", 1)]
    for body, status, power in steps:
        assert nova.action(server_id, body).status_code == 202, body
        server = nova.wait_for(server_id, status)
        assert server["OS-EXT-STS:power_state"] == power


def test_an_action_the_state_forbids_is_409_in_novas_words(nova: Nova) -> None:
    server_id = nova.boot("vm")["id"]
    building = nova.action(server_id, {"os-stop": None})
    assert building.status_code == 409
    nova.wait_for(server_id, "ACTIVE")
    refused = nova.action(server_id, {"os-start": None})
    assert refused.json() == {"conflictingRequest": {
        "code": 409, "message": f"Cannot 'start' instance {server_id} while it is in vm_state active"}}
    assert nova.action(server_id, {"reboot": {"type": "GENTLY"}}).status_code == 400
    assert nova.action(server_id, {"createBackup": {}}).status_code == 400


def test_locks_bind_the_owner_not_the_admin(nova: Nova, alice: Member) -> None:
    mine = nova.as_user(alice.token).at("2.73")
    server_id = mine.boot("vm")["id"]
    mine.wait_for(server_id, "ACTIVE")
    assert mine.action(server_id, {"lock": {"locked_reason": "hands off"}}).status_code == 202
    server = mine.server(server_id)
    assert server["locked"] is True and server["locked_reason"] == "hands off"
    assert mine.action(server_id, {"os-stop": None}).json() == {
        "conflictingRequest": {"code": 409, "message": f"Instance {server_id} is locked"}}
    assert mine.delete(f"/servers/{server_id}").status_code == 409
    assert nova.action(server_id, {"os-stop": None}).status_code == 202, "admins pass locks"
    nova.wait_for(server_id, "SHUTOFF")
    assert nova.action(server_id, {"lock": None}).status_code == 202, "an admin's lock takes over"
    assert mine.action(server_id, {"unlock": None}).status_code == 403
    assert nova.action(server_id, {"unlock": None}).status_code == 202
    assert mine.server(server_id)["locked"] is False
    assert nova.at("2.72").action(server_id, {"lock": {"locked_reason": "x"}}).status_code == 400


def test_instance_actions_list_and_show_with_events(nova: Nova, alice: Member) -> None:
    mine = nova.as_user(alice.token)
    server_id = mine.boot("vm")["id"]
    mine.wait_for(server_id, "ACTIVE")
    mine.action(server_id, {"os-stop": None})
    mine.wait_for(server_id, "SHUTOFF")
    actions = mine.get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions] == ["stop", "create"]
    assert set(actions[0]) == {"action", "instance_uuid", "message", "project_id", "request_id", "start_time",
                               "user_id"}
    create = actions[1]
    detail = mine.get(f"/servers/{server_id}/os-instance-actions/{create['request_id']}").json()["instanceAction"]
    assert "events" not in detail, "before 2.51 events are for admins"
    member_view = mine.at("2.62").get(f"/servers/{server_id}/os-instance-actions/{create['request_id']}").json()
    events = {e["event"]: e for e in member_view["instanceAction"]["events"]}
    assert set(events) == {"conductor_schedule_and_build_instances", "compute__do_build_and_run_instance"}
    build = events["compute__do_build_and_run_instance"]
    assert build["result"] == "Success" and build["hostId"] and "host" not in build and "traceback" not in build
    admin_view = nova.at("2.62").get(f"/servers/{server_id}/os-instance-actions/{create['request_id']}").json()
    admin_build = {e["event"]: e for e in admin_view["instanceAction"]["events"]}["compute__do_build_and_run_instance"]
    assert admin_build["host"].startswith("sim") and "traceback" in admin_build
    paged = mine.at("2.58").get(f"/servers/{server_id}/os-instance-actions", params={"limit": 1}).json()
    assert [a["action"] for a in paged["instanceActions"]] == ["stop"] and paged["links"][0]["rel"] == "next"
    assert "updated_at" in paged["instanceActions"][0]
    assert mine.get(f"/servers/{server_id}/os-instance-actions/req-nope").status_code == 404


def test_a_failed_build_records_the_error_in_its_action(nova: Nova) -> None:
    flavor = huge_flavor(nova)
    server_id = nova.boot("big", flavor=flavor)["id"]
    nova.wait_for(server_id, "ERROR")
    [create] = nova.get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    assert create["message"] == "Error"
    shown = nova.at("2.51").get(f"/servers/{server_id}/os-instance-actions/{create['request_id']}").json()
    [event] = shown["instanceAction"]["events"]
    assert event["event"] == "conductor_schedule_and_build_instances" and event["result"] == "Error"


def test_without_a_compute_plane_servers_are_503(api: Api) -> None:
    response = Nova(api).get("/servers")
    assert response.status_code == 503 and "serviceUnavailable" in response.json()
