"""Block storage (Cinder v3 with microversions) in-process, over a live plane with small, fast simulated back ends:
two thick 100 GiB ssd pools and one thin 500 GiB hdd pool (ratio 2), answering in 50 ms."""

# ruff: noqa: F811  (the fixtures imported from volume_fixtures are the tests' parameters)

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.compute_helpers import Member, Nova, huge_flavor, make_member
from tests.api.image_helpers import Glance, image_cloud
from tests.api.volume_fixtures import cinder, conductor_settings, planes  # noqa: F401  (fixtures)
from tests.api.volume_helpers import FAST, Cinder, Planes, running_planes, wait_until
from tests.conftest import Api
from twinstack.config import ImageSettings, PropertyProtection
from twinstack.core.clock import ManualClock
from twinstack.core.image.images import TEST_IMAGE_ID
from twinstack.core.volume import server_volumes


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


def admin_project(api: Api) -> str:
    project = api.cloud.validator.validate(api.admin_token).project_id
    assert project is not None
    return project


# discovery and microversions

def test_version_discovery_at_the_root_and_at_v3(api: Api) -> None:
    root = api.http.get("/volume/")
    assert root.status_code == 300
    [version] = root.json()["versions"]
    assert version["id"] == "v3.0" and version["status"] == "CURRENT"
    assert version["min_version"] == "3.0" and version["version"] == "3.71"
    assert version["links"][0]["href"].endswith("/volume/v3/")
    assert api.http.get("/volume/v3/").json()["versions"] == [version]


def test_microversions_are_echoed_and_refused_outside_the_range(api: Api) -> None:
    cinder = Cinder(api)
    assert cinder.at("3.27").get("/types").headers["OpenStack-API-Version"] == "volume 3.27"
    assert Cinder(api).request("GET", "/types", headers={"OpenStack-API-Version": "volume latest"}).headers[
        "OpenStack-API-Version"] == "volume 3.71"
    refused = cinder.at("3.99").get("/types")
    assert refused.status_code == 406 and "notAcceptable" in refused.json()


def test_the_project_id_may_be_in_the_path(api: Api) -> None:
    project = admin_project(api)
    response = api.http.get(f"/volume/v3/{project}/types", headers={"X-Auth-Token": api.admin_token})
    assert response.status_code == 200 and response.json()["volume_types"]


# types

def test_bootstrap_gives_the_default_type_and_one_per_back_end(api: Api) -> None:
    types = {t["name"]: t for t in Cinder(api).get("/types").json()["volume_types"]}
    assert set(types) == {"__DEFAULT__", "ssd", "hdd"}
    assert types["__DEFAULT__"]["extra_specs"] == {}
    assert types["ssd"]["extra_specs"] == {"volume_backend_name": "ssd"}
    assert Cinder(api).get("/types/default").json()["volume_type"]["name"] == "__DEFAULT__"


def test_admins_manage_types_and_extra_specs_members_may_not(api: Api, alice: Member) -> None:
    cinder = Cinder(api)
    created = cinder.post("/types", json={"volume_type": {"name": "gold", "extra_specs": {"tier": "gold"}}})
    assert created.status_code == 200, created.text
    type_id = created.json()["volume_type"]["id"]
    assert cinder.post(f"/types/{type_id}/extra_specs", json={"extra_specs": {"volume_backend_name": "ssd"}}
                       ).status_code == 200
    assert cinder.get(f"/types/{type_id}/extra_specs").json()["extra_specs"] == {
        "tier": "gold", "volume_backend_name": "ssd"}
    refused = cinder.as_user(alice.token).post("/types", json={"volume_type": {"name": "mine"}})
    assert refused.status_code == 403 and "forbidden" in refused.json()
    assert cinder.post("/types", json={"volume_type": {"name": "gold"}}).status_code == 409
    assert cinder.delete(f"/types/{type_id}").status_code == 202
    missing = cinder.get(f"/types/{type_id}")
    assert missing.status_code == 404 and missing.json()["itemNotFound"]["code"] == 404



def test_a_private_type_serves_only_the_projects_given_access_and_a_used_type_is_not_deleted(
        cinder: Cinder, alice: Member) -> None:
    created = cinder.post("/types", json={"volume_type": {"name": "vip", "os-volume-type-access:is_public": False,
                                                           "extra_specs": {"volume_backend_name": "ssd"}}})
    assert created.status_code == 200, created.text
    vip = created.json()["volume_type"]
    assert vip["os-volume-type-access:is_public"] is False
    member = cinder.as_user(alice.token)
    assert "vip" not in {t["name"] for t in member.get("/types").json()["volume_types"]}
    assert member.post("/volumes", json={"volume": {"size": 1, "volume_type": "vip"}}).status_code == 404
    action = f"/types/{vip['id']}/action"
    assert cinder.post(action, json={"addProjectAccess": {"project": alice.project_id}}).status_code == 202
    assert cinder.post(action, json={"addProjectAccess": {"project": alice.project_id}}).status_code == 409
    assert cinder.get(f"/types/{vip['id']}/os-volume-type-access").json()["volume_type_access"] == [
        {"volume_type_id": vip["id"], "project_id": alice.project_id}]
    assert "vip" in {t["name"] for t in member.get("/types").json()["volume_types"]}
    volume = member.wait_for(member.create(size=1, volume_type="vip")["id"], "available")
    assert volume["volume_type"] == "vip"
    in_use = cinder.delete(f"/types/{vip['id']}")
    assert in_use.status_code == 400 and "still in use" in in_use.json()["badRequest"]["message"]
    assert cinder.post(action, json={"removeProjectAccess": {"project": alice.project_id}}).status_code == 202
    assert "vip" not in {t["name"] for t in member.get("/types").json()["volume_types"]}
    public = cinder.post("/types/ssd/action", json={"addProjectAccess": {"project": alice.project_id}})
    assert public.status_code == 400


# volumes

def test_a_blank_volume_is_created_scheduled_and_deleted(cinder: Cinder) -> None:
    created = cinder.create(size=2, name="data", metadata={"team": "blue"})
    assert created["status"] == "creating" and created["volume_type"] == "__DEFAULT__"
    assert created["metadata"] == {"team": "blue"} and created["bootable"] == "false"
    volume = cinder.wait_for(created["id"], "available")
    assert volume["os-vol-host-attr:host"].startswith("twinstack@") and volume["attachments"] == []
    assert cinder.pools()[volume["os-vol-host-attr:host"]]["allocated_capacity_gb"] == 2
    assert cinder.delete(f"/volumes/{created['id']}").status_code == 202
    cinder.wait_gone(created["id"])
    assert cinder.pools()[volume["os-vol-host-attr:host"]]["allocated_capacity_gb"] == 0


def test_a_type_sends_the_volume_to_its_back_end(cinder: Cinder) -> None:
    ssd = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    hdd = cinder.wait_for(cinder.create(size=1, volume_type="hdd")["id"], "available")
    assert ssd["os-vol-host-attr:host"].startswith("twinstack@ssd#pool")
    assert hdd["os-vol-host-attr:host"] == "twinstack@hdd#hdd" and hdd["volume_type"] == "hdd"


def test_clones_and_snapshot_restores_stay_on_their_sources_back_end(cinder: Cinder) -> None:
    source = cinder.wait_for(cinder.create(size=3, volume_type="ssd", name="src")["id"], "available")
    clone = cinder.wait_for(cinder.create(source_volid=source["id"], name="clone")["id"], "available")
    assert clone["size"] == 3 and clone["source_volid"] == source["id"] and clone["volume_type"] == "ssd"
    assert clone["os-vol-host-attr:host"].split("#")[0] == "twinstack@ssd"
    snapshot = cinder.snapshot(source["id"])
    assert snapshot["size"] == 3 and snapshot["volume_id"] == source["id"]
    restored = cinder.wait_for(cinder.create(snapshot_id=snapshot["id"], size=5)["id"], "available")
    assert restored["snapshot_id"] == snapshot["id"] and restored["size"] == 5
    assert restored["os-vol-host-attr:host"].split("#")[0] == "twinstack@ssd"
    smaller = cinder.post("/volumes", json={"volume": {"snapshot_id": snapshot["id"], "size": 1}})
    assert smaller.status_code == 400 and "cannot be smaller than the snapshot size" in smaller.text


def test_a_volume_from_an_image_is_bootable_with_the_images_metadata(cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(imageRef=TEST_IMAGE_ID, size=1)["id"], "available")
    assert volume["bootable"] == "true"
    assert volume["volume_image_metadata"]["image_id"] == TEST_IMAGE_ID
    assert volume["volume_image_metadata"]["image_name"] == "twinstack-test"


def test_image_ref_is_an_id_a_url_or_a_unique_name_and_anything_else_is_cinders_400(api: Api, cinder: Cinder,
                                                                                       alice: Member) -> None:
    """Cinder's ``imageRef``: an image id, a URL ending in one, or an image name (a name two images share is 409);
    an image missing or not visible to the caller is 400 'Invalid image identifier...', never a 404."""
    by_name = cinder.wait_for(cinder.create(imageRef="twinstack-test", size=1)["id"], "available")
    assert by_name["volume_image_metadata"]["image_id"] == TEST_IMAGE_ID
    by_url = cinder.create(imageRef=f"http://127.0.0.1:8000/image/v2/images/{TEST_IMAGE_ID}", size=1)
    assert cinder.wait_for(by_url["id"], "available")["volume_image_metadata"]["image_id"] == TEST_IMAGE_ID
    glance = Glance(api)
    twins = [glance.create(name="twin")["id"] for _ in range(2)]
    for twin in twins:
        glance.upload(twin, b"twin data")
    ambiguous = cinder.post("/volumes", json={"volume": {"size": 1, "imageRef": "twin"}})
    assert ambiguous.status_code == 409 and "Multiple matches found for 'twin'" in ambiguous.text
    private = Glance(api).create(name="admins-only", visibility="private")["id"]
    for ref in ("no-such-image", "00000000-0000-4000-8000-000000000000", private):
        caller = cinder.as_user(alice.token) if ref == private else cinder
        refused = caller.post("/volumes", json={"volume": {"size": 1, "imageRef": ref}})
        assert refused.status_code == 400, (ref, refused.text)
        assert refused.json()["badRequest"]["message"] == ("Invalid image identifier or unable to access requested "
                                                           "image.")


def test_a_volume_no_back_end_can_hold_ends_in_error_with_the_schedulers_message(api: Api, cinder: Cinder,
                                                                               planes: Planes) -> None:
    """Cinder's behaviour: the volume is recorded, the scheduler finds no valid backend, the volume ends in
    'error' and a user message says why; nothing is claimed on any pool nor made on any back end."""
    cinder.lift_quota(admin_project(api))
    before = {name: pool["allocated_capacity_gb"] for name, pool in cinder.pools().items()}
    created = cinder.create(size=5000, name="too-big")
    failed = cinder.wait_for(created["id"], "error")
    assert failed["os-vol-host-attr:host"] is None
    assert {name: pool["allocated_capacity_gb"] for name, pool in cinder.pools().items()} == before
    [message] = cinder.get("/messages").json()["messages"]
    assert message["resource_uuid"] == created["id"] and message["event_id"] == "VOLUME_VOLUME_001_003"
    assert message["user_message"] == "schedule allocate volume:Could not find any available weighted backend."
    assert planes.volume.storage is not None
    assert not any(created["id"] in pool.volumes for backend in planes.volume.storage.backends.values()
                   for pool in backend.pools.values())  # nothing was made on any back end
    assert cinder.delete(f"/volumes/{created['id']}").status_code == 202
    assert cinder.get(f"/volumes/{created['id']}").status_code == 404  # never placed: gone at once


def test_extend_grows_the_volume_and_its_pools_allocation(cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    assert cinder.post(f"/volumes/{volume['id']}/action", json={"os-extend": {"new_size": 4}}).status_code == 202
    wait_until(lambda: cinder.volume(volume["id"])["size"] == 4, "volume did not grow")
    assert cinder.volume(volume["id"])["status"] == "available"
    assert cinder.pools()[volume["os-vol-host-attr:host"]]["allocated_capacity_gb"] == 4
    shrink = cinder.post(f"/volumes/{volume['id']}/action", json={"os-extend": {"new_size": 2}})
    assert shrink.status_code == 400 and "must be greater than current size" in shrink.json()["badRequest"]["message"]


def test_retype_in_place_or_refused_when_it_needs_another_back_end(cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
    fast = cinder.post("/types", json={"volume_type": {"name": "fast", "extra_specs": {"volume_backend_name": "ssd"}}})
    assert fast.status_code == 200
    retype = {"os-retype": {"new_type": "fast", "migration_policy": "never"}}
    assert cinder.post(f"/volumes/{volume['id']}/action", json=retype).status_code == 202
    assert cinder.volume(volume["id"])["volume_type"] == "fast"
    moved = cinder.post(f"/volumes/{volume['id']}/action", json={"os-retype": {"new_type": "hdd"}})
    assert moved.status_code == 400 and cinder.volume(volume["id"])["volume_type"] == "fast"


def test_bootable_flag_metadata_and_update(cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    path = f"/volumes/{volume['id']}"
    assert cinder.post(f"{path}/action", json={"os-set_bootable": {"bootable": True}}).status_code == 200
    assert cinder.post(f"{path}/metadata", json={"metadata": {"a": "1"}}).json()["metadata"] == {"a": "1"}
    assert cinder.put(f"{path}/metadata/b", json={"meta": {"b": "2"}}).status_code == 200
    assert cinder.delete(f"{path}/metadata/a").status_code == 200
    renamed = cinder.put(path, json={"volume": {"name": "renamed", "description": "d"}}).json()["volume"]
    assert renamed["name"] == "renamed" and renamed["bootable"] == "true" and renamed["metadata"] == {"b": "2"}


def test_list_with_filters_sort_limit_and_marker(cinder: Cinder) -> None:
    ids = [cinder.create(size=size, name=f"v{size}", metadata={"even": str(size % 2 == 0)})["id"]
           for size in (1, 2, 3)]
    for volume_id in ids:
        cinder.wait_for(volume_id, "available")
    by_size = cinder.get("/volumes/detail?sort=size:asc").json()["volumes"]
    assert [v["size"] for v in by_size] == [1, 2, 3]
    assert [v["name"] for v in cinder.get("/volumes?name=v2").json()["volumes"]] == ["v2"]
    evens = cinder.get('/volumes/detail?metadata={"even": "True"}').json()["volumes"]
    assert [v["name"] for v in evens] == ["v2"]
    page = cinder.get("/volumes?sort=size:asc&limit=2").json()
    assert [v["name"] for v in page["volumes"]] == ["v1", "v2"] and page["volumes_links"][0]["rel"] == "next"
    rest = cinder.get(f"/volumes?sort=size:asc&limit=2&marker={page['volumes'][-1]['id']}").json()
    assert [v["name"] for v in rest["volumes"]] == ["v3"]


def test_members_see_only_their_projects_volumes(api: Api, cinder: Cinder, alice: Member) -> None:
    mine = cinder.as_user(alice.token).create(size=1, name="alices")
    theirs = cinder.create(size=1, name="admins")
    listed = {v["name"] for v in cinder.as_user(alice.token).get("/volumes").json()["volumes"]}
    assert listed == {"alices"}
    assert cinder.as_user(alice.token).get(f"/volumes/{theirs['id']}").status_code == 404
    assert "os-vol-host-attr:host" not in cinder.as_user(alice.token).volume(mine["id"])


# snapshots and deletion rules

def test_a_volume_with_snapshots_cannot_be_deleted(cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    snapshot = cinder.snapshot(volume["id"])
    refused = cinder.delete(f"/volumes/{volume['id']}")
    assert refused.status_code == 400 and "have snapshots" in refused.json()["badRequest"]["message"]
    assert cinder.delete(f"/snapshots/{snapshot['id']}").status_code == 202
    wait_until(lambda: cinder.get(f"/snapshots/{snapshot['id']}").status_code == 404, "snapshot stayed")
    assert cinder.delete(f"/volumes/{volume['id']}").status_code == 202
    cinder.wait_gone(volume["id"])



def test_a_cascade_delete_takes_the_snapshots_then_the_volume(cinder: Cinder, planes: Planes) -> None:
    """Cinder's ``cascade`` (``volume delete --purge``): every snapshot must be available or error; they go first
    through the back end, then the volume, and their pool capacity and quota come back."""
    volume = cinder.wait_for(cinder.create(size=2, volume_type="hdd")["id"], "available")
    first, second = cinder.snapshot(volume["id"], "one"), cinder.snapshot(volume["id"], "two")
    assert cinder.delete(f"/volumes/{volume['id']}?cascade=True").status_code == 202
    cinder.wait_gone(volume["id"])
    assert [cinder.get(f"/snapshots/{s['id']}").status_code for s in (first, second)] == [404, 404]
    assert cinder.pools()["twinstack@hdd#hdd"]["allocated_capacity_gb"] == 0


def test_a_cascade_delete_is_refused_while_a_snapshot_is_busy_and_a_failed_one_leaves_error_deleting(
        cinder: Cinder, planes: Planes) -> None:
    volume = cinder.wait_for(cinder.create(size=1, volume_type="hdd")["id"], "available")
    snapshot = cinder.snapshot(volume["id"])
    assert cinder.post(f"/snapshots/{snapshot['id']}/action",
                       json={"os-reset_status": {"status": "creating"}}).status_code == 202
    refused = cinder.delete(f"/volumes/{volume['id']}?cascade=true")
    assert refused.status_code == 400 and "have snapshots" in refused.json()["badRequest"]["message"]
    assert cinder.volume(volume["id"])["status"] == "available"
    assert cinder.get(f"/snapshots/{snapshot['id']}").json()["snapshot"]["status"] == "creating"
    cinder.post(f"/snapshots/{snapshot['id']}/action", json={"os-reset_status": {"status": "available"}})
    assert planes.volume.storage is not None
    planes.volume.storage.failing.add("twinstack@hdd")
    assert cinder.delete(f"/volumes/{volume['id']}?cascade=true").status_code == 202
    cinder.wait_for(volume["id"], "error_deleting")
    assert cinder.get(f"/snapshots/{snapshot['id']}").json()["snapshot"]["status"] == "error_deleting"
    planes.volume.storage.failing.clear()


# quotas

def test_quotas_refuse_volumes_and_gigabytes_past_the_limit(api: Api, cinder: Cinder, alice: Member) -> None:
    member = cinder.as_user(alice.token)
    assert cinder.put(f"/os-quota-sets/{alice.project_id}",
                      json={"quota_set": {"volumes": 2, "gigabytes": 5}}).status_code == 200
    member.create(size=2)
    too_big = member.post("/volumes", json={"volume": {"size": 4}})
    assert too_big.status_code == 413
    assert too_big.json()["overLimit"]["message"] == (
        "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 4G, quota is 5G and 2G has been "
        "consumed.")
    member.create(size=1)
    third = member.post("/volumes", json={"volume": {"size": 1}})
    assert third.status_code == 413
    assert third.json()["overLimit"]["message"] == "Maximum number of volumes allowed (2) exceeded for quota 'volumes'."
    shown = member.get(f"/os-quota-sets/{alice.project_id}?usage=true").json()["quota_set"]
    assert shown["volumes"] == {"limit": 2, "in_use": 2, "reserved": 0, "allocated": 0}
    assert shown["gigabytes"]["in_use"] == 3
    assert member.put(f"/os-quota-sets/{alice.project_id}", json={"quota_set": {"volumes": 9}}).status_code == 403


def test_quota_admission_is_atomic_under_concurrent_creates(api: Api, cinder: Cinder, alice: Member) -> None:
    assert cinder.put(f"/os-quota-sets/{alice.project_id}", json={"quota_set": {"volumes": 3}}).status_code == 200
    member = cinder.as_user(alice.token)
    codes: list[int] = []

    def create() -> None:
        codes.append(member.post("/volumes", json={"volume": {"size": 1}}).status_code)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [202] * 3 + [413] * 5
    assert len(member.get("/volumes").json()["volumes"]) == 3


# attachments

def test_the_v3_attachments_api_walks_reserved_attaching_in_use_available(cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    assert cinder.at("3.26").post("/attachments", json={"attachment": {"volume_uuid": volume["id"]}}
                                  ).status_code == 404
    server = "3c1e2a2c-0000-4000-8000-000000000001"
    created = cinder.post("/attachments", json={"attachment": {"volume_uuid": volume["id"], "instance_uuid": server}})
    assert created.status_code == 200, created.text
    attachment = created.json()["attachment"]
    assert attachment["status"] == "reserved" and cinder.volume(volume["id"])["status"] == "reserved"
    connector = {"host": "h1", "initiator": "iqn.x", "mountpoint": "/dev/vdb"}
    updated = cinder.put(f"/attachments/{attachment['id']}", json={"attachment": {"connector": connector}})
    assert updated.json()["attachment"]["connection_info"]["driver_volume_type"] == "iscsi"
    assert cinder.volume(volume["id"])["status"] == "attaching"
    assert cinder.post(f"/attachments/{attachment['id']}/action", json={"os-complete": None}).status_code == 204
    in_use = cinder.volume(volume["id"])
    assert in_use["status"] == "in-use" and in_use["attachments"][0]["attachment_id"] == attachment["id"]
    refused = cinder.delete(f"/volumes/{volume['id']}")
    assert refused.status_code == 400 and "attached" in refused.json()["badRequest"]["message"]
    assert cinder.delete(f"/attachments/{attachment['id']}").json() == {"attachments": []}
    assert cinder.volume(volume["id"])["status"] == "available"


def test_the_classic_attach_and_detach_actions(cinder: Cinder) -> None:
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    act = f"/volumes/{volume['id']}/action"
    assert cinder.post(act, json={"os-reserve": None}).status_code == 202
    assert cinder.volume(volume["id"])["status"] == "attaching"
    info = cinder.post(act, json={"os-initialize_connection": {"connector": {"host": "h1"}}})
    assert info.status_code == 200 and info.json()["connection_info"]["data"]["volume_id"] == volume["id"]
    assert cinder.post(act, json={"os-attach": {"instance_uuid": "3c1e2a2c-0000-4000-8000-000000000002",
                                                "mountpoint": "/dev/vdc"}}).status_code == 202
    attached = cinder.volume(volume["id"])
    assert attached["status"] == "in-use" and attached["attachments"][0]["device"] == "/dev/vdc"
    assert cinder.post(act, json={"os-begin_detaching": None}).status_code == 202
    assert cinder.volume(volume["id"])["status"] == "detaching"
    assert cinder.post(act, json={"os-detach": {}}).status_code == 202
    assert cinder.volume(volume["id"])["status"] == "available"
    reset = cinder.post(act, json={"os-reset_status": {"status": "error"}})
    assert reset.status_code == 202 and cinder.volume(volume["id"])["status"] == "error"


def test_nova_attaches_a_volume_through_the_host_and_detaches_it(api: Api, cinder: Cinder) -> None:
    nova = Nova(api, version="2.79")
    server = nova.wait_for(nova.boot("vm")["id"], "ACTIVE")
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    attached = nova.post(f"/servers/{server['id']}/os-volume_attachments",
                         json={"volumeAttachment": {"volumeId": volume["id"], "delete_on_termination": False}})
    assert attached.status_code == 200, attached.text
    assert attached.json()["volumeAttachment"] == {"id": volume["id"], "serverId": server["id"],
                                                    "volumeId": volume["id"], "device": "/dev/vdb", "tag": None,
                                                    "delete_on_termination": False}
    in_use = cinder.wait_for(volume["id"], "in-use")
    [attachment] = in_use["attachments"]
    assert attachment["server_id"] == server["id"] and attachment["device"] == "/dev/vdb"
    assert attachment["host_name"] == server["OS-EXT-SRV-ATTR:host"]
    listed = nova.get(f"/servers/{server['id']}/os-volume_attachments").json()["volumeAttachments"]
    assert [a["volumeId"] for a in listed] == [volume["id"]]
    refused = cinder.delete(f"/volumes/{volume['id']}")
    assert refused.status_code == 400
    again = nova.post(f"/servers/{server['id']}/os-volume_attachments",
                      json={"volumeAttachment": {"volumeId": volume["id"]}})
    assert again.status_code == 400
    assert nova.delete(f"/servers/{server['id']}/os-volume_attachments/{volume['id']}").status_code == 202
    cinder.wait_for(volume["id"], "available")
    assert nova.get(f"/servers/{server['id']}/os-volume_attachments").json()["volumeAttachments"] == []


def test_nova_refuses_a_missing_volume_and_a_server_in_a_state_that_takes_none(api: Api, cinder: Cinder) -> None:
    nova = Nova(api, version="2.79")
    server = nova.wait_for(nova.boot("vm", flavor=huge_flavor(nova))["id"], "ERROR")  # no host could take it
    missing = nova.post(f"/servers/{server['id']}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": "00000000-0000-4000-8000-000000000000"}})
    assert missing.status_code in (404, 409)
    volume = cinder.wait_for(cinder.create(size=1)["id"], "available")
    refused = nova.post(f"/servers/{server['id']}/os-volume_attachments",
                        json={"volumeAttachment": {"volumeId": volume["id"]}})
    assert refused.status_code == 409 and "conflictingRequest" in refused.json()
    assert cinder.volume(volume["id"])["status"] == "available"


def test_the_conductor_seam_releases_a_deleted_servers_volumes(api: Api, cinder: Cinder) -> None:
    """What the conductor is to call when a server is gone: its attachments go, its delete_on_termination
    volumes are deleted, the others are available again; and the server view's volumes_attached."""
    nova = Nova(api, version="2.79")
    server = nova.wait_for(nova.boot("vm")["id"], "ACTIVE")
    kept = cinder.wait_for(cinder.create(size=1, name="kept")["id"], "available")
    doomed = cinder.wait_for(cinder.create(size=1, name="doomed")["id"], "available")
    for volume, delete in ((kept, False), (doomed, True)):
        body = {"volumeAttachment": {"volumeId": volume["id"], "delete_on_termination": delete}}
        assert nova.post(f"/servers/{server['id']}/os-volume_attachments", json=body).status_code == 200
        cinder.wait_for(volume["id"], "in-use")
    svc = api.cloud.volume
    assert svc is not None
    assert server_volumes.volumes_attached(svc, server["id"]) == [
        {"id": kept["id"], "delete_on_termination": False}, {"id": doomed["id"], "delete_on_termination": True}]
    assert server_volumes.release_server(svc, server["id"]) == [doomed["id"]]
    assert cinder.volume(kept["id"])["status"] == "available" and cinder.volume(kept["id"])["attachments"] == []
    cinder.wait_gone(doomed["id"])
    assert server_volumes.release_server(svc, server["id"]) == []


def test_deleting_a_server_releases_its_volumes_and_its_view_lists_them(api: Api, cinder: Cinder) -> None:
    """Through the API end to end: the server views show volumes_attached (delete_on_termination from 2.3), and
    once the server's host has destroyed it the conductor releases its volumes."""
    nova = Nova(api, version="2.79")
    server = nova.wait_for(nova.boot("vm")["id"], "ACTIVE")
    kept = cinder.wait_for(cinder.create(size=1, name="kept")["id"], "available")
    doomed = cinder.wait_for(cinder.create(size=1, name="doomed")["id"], "available")
    for volume, delete in ((kept, False), (doomed, True)):
        body = {"volumeAttachment": {"volumeId": volume["id"], "delete_on_termination": delete}}
        assert nova.post(f"/servers/{server['id']}/os-volume_attachments", json=body).status_code == 200
        cinder.wait_for(volume["id"], "in-use")
    assert nova.server(server["id"])["os-extended-volumes:volumes_attached"] == [
        {"id": kept["id"], "delete_on_termination": False}, {"id": doomed["id"], "delete_on_termination": True}]
    assert nova.at("2.1").server(server["id"])["os-extended-volumes:volumes_attached"] == [
        {"id": kept["id"]}, {"id": doomed["id"]}]
    [listed] = [s for s in nova.get("/servers/detail").json()["servers"] if s["id"] == server["id"]]
    assert [v["id"] for v in listed["os-extended-volumes:volumes_attached"]] == [kept["id"], doomed["id"]]
    assert nova.delete(f"/servers/{server['id']}").status_code == 204
    nova.wait_gone(server["id"])
    cinder.wait_for(kept["id"], "available")
    assert cinder.volume(kept["id"])["attachments"] == []
    cinder.wait_gone(doomed["id"])


def test_a_back_end_failing_a_create_leaves_the_volume_in_error_and_releases_its_pool(cinder: Cinder,
                                                                                      planes: Planes) -> None:
    assert planes.volume.storage is not None
    planes.volume.storage.failing.add("twinstack@hdd")
    created = cinder.create(size=7, volume_type="hdd")
    failed = cinder.wait_for(created["id"], "error")
    assert failed["os-vol-host-attr:host"] is None
    assert cinder.pools()["twinstack@hdd#hdd"]["allocated_capacity_gb"] == 0
    [message] = cinder.get("/messages").json()["messages"]
    assert message["user_message"] == "create volume from backend storage:An unknown error occurred."
    planes.volume.storage.failing.clear()
    assert cinder.delete(f"/volumes/{created['id']}").status_code == 202
    assert cinder.get(f"/volumes/{created['id']}").status_code == 404


def test_a_silent_back_end_leaves_the_volume_in_error_after_the_operation_timeout(api: Api) -> None:
    planes = running_planes(api, FAST.model_copy(update={"operation_timeout": 0.5}))
    running = next(planes)
    try:
        assert running.volume.storage is not None
        running.volume.storage.silent.add("twinstack@hdd")
        cinder = Cinder(api)
        created = cinder.create(size=3, volume_type="hdd")
        failed = cinder.wait_for(created["id"], "error", timeout=15)
        assert failed["os-vol-host-attr:host"] is None
        assert cinder.pools()["twinstack@hdd#hdd"]["allocated_capacity_gb"] == 0
        healthy = cinder.wait_for(cinder.create(size=1, volume_type="ssd")["id"], "available")
        assert healthy["status"] == "available"
    finally:
        planes.close()


@pytest.fixture
def protected(tmp_path: Path, clock: ManualClock) -> Iterator[Api]:
    """A cloud whose property protections keep ``x_billing_*`` to admins, block storage beside its compute."""
    rules = [PropertyProtection(pattern="^x_billing_", create=["admin"], read=["admin"], update=["admin"],
                                delete=["admin"]),
             PropertyProtection(pattern=".*")]
    built = image_cloud(tmp_path, clock, ImageSettings(property_protections=rules))
    try:
        api = Api(built)
        for _ in running_planes(api):
            yield api
    finally:
        built.close()


def test_a_volume_from_an_image_copies_only_the_properties_its_creator_may_read(protected: Api) -> None:
    """Cinder reads the image with its creator's token, so an image property the property protections hide from
    the creator never reaches the volume's image metadata, for anyone; an admin's volume carries it."""
    glance = Glance(protected)
    billed = glance.patch(TEST_IMAGE_ID, {"op": "add", "path": "/x_billing_code", "value": "7"})
    assert billed.status_code == 200, billed.text
    alice = make_member(protected, "alice", "demo")
    admin, as_alice = Cinder(protected), Cinder(protected).as_user(alice.token)
    volume_id = as_alice.create(imageRef=TEST_IMAGE_ID, size=1)["id"]
    metadata = as_alice.wait_for(volume_id, "available")["volume_image_metadata"]
    assert metadata["os_type"] == "linux" and "x_billing_code" not in metadata
    assert "x_billing_code" not in admin.volume(volume_id)["volume_image_metadata"]
    shown = as_alice.post(f"/volumes/{volume_id}/action", json={"os-show_image_metadata": {}}).json()["metadata"]
    assert "x_billing_code" not in shown
    theirs = admin.create(imageRef=TEST_IMAGE_ID, size=1)["id"]
    assert admin.wait_for(theirs, "available")["volume_image_metadata"]["x_billing_code"] == "7"
