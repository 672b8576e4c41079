"""Moving servers through the compute API in-process, over a live simulated plane (0.2 s boots and moves):
resize with confirm and revert, cold and live migration, evacuation, rebuild, the migration records and
the instance action history, with Nova's status codes, states, faults and policies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.compute_helpers import Member, Nova, make_member, running_plane
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.core.image.images import TEST_IMAGE_ID

MIGRATION_21 = {"id", "source_node", "dest_node", "source_compute", "dest_compute", "dest_host", "status",
                "instance_uuid", "old_instance_type_id", "new_instance_type_id", "created_at", "updated_at"}


@pytest.fixture
def plane(api: Api) -> Iterator[ComputePlane]:
    yield from running_plane(api.cloud)


@pytest.fixture
def nova(api: Api, plane: ComputePlane) -> Nova:
    return Nova(api)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


def fault(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    [(_name, body)] = response.json().items()
    assert body["code"] == status
    message: str = body["message"]
    return message


def active(nova: Nova, name: str = "vm", flavor: str = "1") -> dict[str, Any]:
    return nova.wait_for(nova.boot(name, flavor=flavor)["id"], "ACTIVE")


def host_of(server: dict[str, Any]) -> str:
    host: str = server["OS-EXT-SRV-ATTR:host"]
    return host


def events(nova: Nova, server_id: str, action: str) -> list[tuple[str, str]]:
    actions = nova.at("2.51").get(f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    [request] = [a["request_id"] for a in actions if a["action"] == action]
    shown = nova.at("2.51").get(f"/servers/{server_id}/os-instance-actions/{request}").json()["instanceAction"]
    return [(e["event"], e["result"]) for e in reversed(shown["events"])]


def migrations(nova: Nova, **query: str) -> list[dict[str, Any]]:
    response = nova.get("/os-migrations", params=query)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["migrations"]
    return found


# resize


def test_resize_confirm_and_the_migration_record(nova: Nova) -> None:
    server = active(nova)
    source = host_of(server)
    response = nova.action(server["id"], {"resize": {"flavorRef": "2"}})
    assert response.status_code == 202 and response.content == b""
    assert nova.server(server["id"])["status"] == "RESIZE"
    resized = nova.wait_for(server["id"], "VERIFY_RESIZE")
    assert resized["OS-EXT-STS:vm_state"] == "resized" and resized["flavor"]["id"] == "2"
    assert host_of(resized) != source
    confirmed = nova.action(server["id"], {"confirmResize": None})
    assert confirmed.status_code == 204
    done = nova.wait_for(server["id"], "ACTIVE")
    assert done["flavor"]["id"] == "2" and host_of(done) == host_of(resized)
    [record] = migrations(nova)
    assert set(record) == MIGRATION_21
    assert (record["source_compute"], record["dest_compute"]) == (source, host_of(done))
    assert record["instance_uuid"] == server["id"] and record["status"] == "confirmed"
    assert isinstance(record["old_instance_type_id"], int) and record["old_instance_type_id"] != \
        record["new_instance_type_id"]
    newer = migrations(nova.at("2.59"))[0]
    assert newer["migration_type"] == "resize" and newer["uuid"] and "links" not in newer
    assert events(nova, server["id"], "resize") == [
        ("conductor_migrate_server", "Success"), ("compute_prep_resize", "Success"),
        ("compute_resize_instance", "Success"), ("compute_finish_resize", "Success")]
    assert events(nova, server["id"], "confirmResize") == [("compute_confirm_resize", "Success")]


def test_resize_revert_goes_back_to_the_source_and_the_old_flavor(nova: Nova, plane: ComputePlane) -> None:
    server = active(nova)
    source = host_of(server)
    usage_before = {h.host: plane.placement.usage(h.host) for h in plane.hosts.all()}
    assert nova.action(server["id"], {"resize": {"flavorRef": "2"}}).status_code == 202
    nova.wait_for(server["id"], "VERIFY_RESIZE")
    assert nova.action(server["id"], {"revertResize": None}).status_code == 202
    reverted = nova.wait_for(server["id"], "ACTIVE")
    assert host_of(reverted) == source and reverted["flavor"]["id"] == "1"
    assert {h.host: plane.placement.usage(h.host) for h in plane.hosts.all()} == usage_before
    assert migrations(nova)[0]["status"] == "reverted"


def test_resize_refusals(nova: Nova) -> None:
    server = active(nova)
    sid = server["id"]
    assert fault(nova.action(sid, {"resize": {"flavorRef": "1"}}), 400) == \
        "When resizing, instances must change flavor!"
    assert fault(nova.action(sid, {"resize": {"flavorRef": "nope"}}), 400) == "Unable to locate requested flavor."
    assert fault(nova.action(sid, {"resize": {}}), 400).startswith("Invalid input")
    assert fault(nova.action(sid, {"confirmResize": None}), 409) == \
        f"Cannot 'confirmResize' instance {sid} while it is in vm_state active"
    assert fault(nova.action(sid, {"revertResize": None}), 409) == \
        f"Cannot 'revertResize' instance {sid} while it is in vm_state active"


def test_a_resize_over_quota_is_403_and_changes_nothing(nova: Nova) -> None:
    server = active(nova)
    project = nova.api.cloud.validator.validate(nova.token).project_id
    assert nova.put(f"/os-quota-sets/{project}", json={"quota_set": {"cores": 1}}).status_code == 200
    message = fault(nova.action(server["id"], {"resize": {"flavorRef": "3"}}), 403)
    assert message == "Quota exceeded for cores: Requested 1, but already used 1 of 1 cores"
    after = nova.server(server["id"])
    assert after["status"] == "ACTIVE" and after["flavor"]["id"] == "1"
    assert migrations(nova) == []
    actions = nova.get(f"/servers/{server['id']}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions] == ["create"]


def test_a_member_resizes_their_server_but_may_not_migrate_it(nova: Nova, alice: Member) -> None:
    as_alice = nova.as_user(alice.token)
    server = as_alice.wait_for(as_alice.boot("mine")["id"], "ACTIVE")
    assert fault(as_alice.action(server["id"], {"migrate": None}), 403)
    assert fault(as_alice.action(server["id"], {"os-migrateLive": {"host": None, "block_migration": False,
                                                                   "disk_over_commit": False}}), 403)
    assert fault(as_alice.action(server["id"], {"evacuate": {"onSharedStorage": False}}), 403)
    assert fault(as_alice.get("/os-migrations"), 403)
    assert as_alice.action(server["id"], {"resize": {"flavorRef": "2"}}).status_code == 202
    as_alice.wait_for(server["id"], "VERIFY_RESIZE")
    assert as_alice.action(server["id"], {"confirmResize": None}).status_code == 204


# cold and live migration


def test_cold_migration_ends_in_verify_resize_and_confirms(nova: Nova) -> None:
    server = active(nova)
    source = host_of(server)
    assert nova.action(server["id"], {"migrate": None}).status_code == 202
    moved = nova.wait_for(server["id"], "VERIFY_RESIZE")
    assert host_of(moved) != source and moved["flavor"]["id"] == "1"
    assert nova.action(server["id"], {"confirmResize": None}).status_code == 204
    nova.wait_for(server["id"], "ACTIVE")
    record = migrations(nova.at("2.23"))[0]
    assert record["migration_type"] == "migration" and record["status"] == "confirmed"


def test_cold_migration_to_a_host_from_2_56(nova: Nova) -> None:
    server = active(nova)
    hosts = [h["hypervisor_hostname"] for h in nova.get("/os-hypervisors").json()["hypervisors"]]
    target = next(h for h in sorted(hosts) if h != host_of(server))
    assert fault(nova.action(server["id"], {"migrate": {"host": target}}), 400).startswith("Invalid input")
    new = nova.at("2.56")
    assert fault(new.action(server["id"], {"migrate": {"host": host_of(server)}}), 400) == \
        "The target host can't be the same one."
    assert fault(new.action(server["id"], {"migrate": {"host": "nowhere"}}), 400) == \
        "Compute host nowhere could not be found."
    assert new.action(server["id"], {"migrate": {"host": target}}).status_code == 202
    assert host_of(nova.wait_for(server["id"], "VERIFY_RESIZE")) == target


def test_live_migration_moves_the_running_server(nova: Nova, plane: ComputePlane) -> None:
    server = active(nova)
    source = host_of(server)
    body = {"os-migrateLive": {"host": None, "block_migration": "auto"}}
    assert fault(nova.action(server["id"], body), 400).startswith("Invalid input")  # "auto" only from 2.25
    response = nova.at("2.25").action(server["id"], body)
    assert response.status_code == 202
    assert nova.server(server["id"])["status"] == "MIGRATING"
    moved = nova.wait_for(server["id"], "ACTIVE")
    assert host_of(moved) != source
    assert plane.placement.usage(source) in ({}, {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0})
    record = migrations(nova.at("2.59"))[0]
    assert (record["migration_type"], record["status"]) == ("live-migration", "completed")
    assert events(nova, server["id"], "live-migration") == [
        ("conductor_live_migrate_instance", "Success"), ("compute_pre_live_migration", "Success"),
        ("compute_live_migration", "Success"), ("compute_post_live_migration_at_destination", "Success")]


def test_live_migration_bodies_follow_the_microversions(nova: Nova) -> None:
    server = active(nova)
    sid = server["id"]
    assert fault(nova.action(sid, {"os-migrateLive": {"host": None, "block_migration": False}}), 400)
    assert fault(nova.at("2.25").action(sid, {"os-migrateLive": {"host": None, "block_migration": False,
                                                                 "disk_over_commit": False}}), 400)
    assert fault(nova.at("2.68").action(sid, {"os-migrateLive": {"host": None, "block_migration": "auto",
                                                                 "force": True}}), 400)
    assert fault(nova.at("2.30").action(sid, {"os-migrateLive": {"host": None, "block_migration": "auto",
                                                                 "force": True}}), 400) == \
        "Can't force to a non-provided destination"
    assert fault(nova.at("2.30").action(sid, {"os-migrateLive": {"host": host_of(server),
                                                                 "block_migration": "auto"}}), 400) == \
        f"Unable to migrate instance ({sid}) to current host ({host_of(server)})."


def test_a_live_migration_in_progress_is_listed_on_the_server(api: Api) -> None:
    for plane in running_plane(api.cloud, migrate_seconds=3.0):
        nova = Nova(api)
        server = active(nova)
        assert fault(nova.get(f"/servers/{server['id']}/migrations"), 404)  # from 2.23
        new = nova.at("2.59")
        assert new.action(server["id"], {"os-migrateLive": {"host": None, "block_migration": "auto"}}) \
            .status_code == 202
        deadline = time.monotonic() + 5
        while True:
            listed = new.get(f"/servers/{server['id']}/migrations").json()["migrations"]
            if listed and listed[0]["status"] == "running":
                break
            assert time.monotonic() < deadline, listed
            time.sleep(0.05)
        [running] = listed
        assert running["server_uuid"] == server["id"] and running["uuid"]
        assert running["memory_total_bytes"] == 512 * 1024 * 1024
        shown = new.get(f"/servers/{server['id']}/migrations/{running['id']}").json()["migration"]
        assert shown["id"] == running["id"]
        record = migrations(new)[0]
        assert record["links"][0]["href"].endswith(f"/servers/{server['id']}/migrations/{running['id']}")
        nova.wait_for(server["id"], "ACTIVE")
        assert new.get(f"/servers/{server['id']}/migrations").json()["migrations"] == []
        assert fault(new.get(f"/servers/{server['id']}/migrations/{running['id']}"), 404)
        assert plane is not None


# evacuate and rebuild


def force_down(nova: Nova, host: str) -> None:
    new = nova.at("2.53")
    [service] = new.get("/os-services", params={"host": host, "binary": "nova-compute"}).json()["services"]
    assert new.put(f"/os-services/{service['id']}", json={"forced_down": True}).status_code == 200


def test_evacuate_from_a_host_forced_down(nova: Nova, plane: ComputePlane) -> None:
    server = active(nova)
    source = host_of(server)
    assert fault(nova.action(server["id"], {"evacuate": {"onSharedStorage": False}}), 400) == \
        f"Compute service of {source} is still in use."
    assert fault(nova.action(server["id"], {"evacuate": {}}), 400).startswith("Invalid input")  # before 2.14
    force_down(nova, source)
    response = nova.action(server["id"], {"evacuate": {"onSharedStorage": False}})
    assert response.status_code == 200 and response.json()["adminPass"]
    moved = nova.wait_for(server["id"], "ACTIVE")
    assert host_of(moved) != source
    assert plane.placement.usage(source) in ({}, {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0})
    assert migrations(nova.at("2.23"))[0]["migration_type"] == "evacuation"
    assert events(nova, server["id"], "evacuate") == [("rebuild_server", "Success"),
                                                      ("compute_rebuild_instance", "Success")]


def test_evacuate_from_2_14_answers_no_password_and_refuses_on_shared_storage(nova: Nova) -> None:
    server = active(nova)
    force_down(nova, host_of(server))
    new = nova.at("2.14")
    assert fault(new.action(server["id"], {"evacuate": {"onSharedStorage": False}}), 400).startswith(
        "Invalid input")
    assert fault(new.action(server["id"], {"evacuate": {"host": "nowhere"}}), 404) == \
        "Compute host nowhere not found."
    response = new.action(server["id"], {"evacuate": {}})
    assert response.status_code == 200 and response.content == b""
    nova.wait_for(server["id"], "ACTIVE")


def test_rebuild_answers_the_server_and_recreates_it_in_place(nova: Nova) -> None:
    server = active(nova)
    response = nova.action(server["id"], {"rebuild": {"imageRef": TEST_IMAGE_ID, "name": "renamed",
                                                      "metadata": {"k": "v"}}})
    assert response.status_code == 202
    body = response.json()["server"]
    assert body["id"] == server["id"] and body["status"] == "REBUILD" and body["adminPass"]
    assert body["name"] == "renamed" and body["metadata"] == {"k": "v"}
    rebuilt = nova.wait_for(server["id"], "ACTIVE")
    assert host_of(rebuilt) == host_of(server) and rebuilt["image"]["id"] == TEST_IMAGE_ID
    assert events(nova, server["id"], "rebuild") == [("rebuild_server", "Success"),
                                                     ("compute_rebuild_instance", "Success")]
    assert fault(nova.action(server["id"], {"rebuild": {"imageRef": "no-such-image"}}), 400) == \
        "Image no-such-image could not be found."
    assert fault(nova.action(server["id"], {"rebuild": {"imageRef": TEST_IMAGE_ID, "description": "x"}}),
                 400).startswith("Invalid input")  # description from 2.19


def test_moves_are_refused_while_another_task_runs(nova: Nova) -> None:
    server = active(nova)
    assert nova.action(server["id"], {"os-stop": None}).status_code == 202
    assert fault(nova.action(server["id"], {"rebuild": {"imageRef": TEST_IMAGE_ID}}), 409) == \
        f"Cannot 'rebuild' instance {server['id']} while it is in task_state powering-off"
