"""``server image create`` of a volume-backed server, as Nova's snapshot_volume_backed: each of its volumes is
snapshotted in block storage and the image holds only their mappings (``block_device_mapping``, ``bdm_v2``,
``root_device_name``), active at once with size 0; booting from that image makes its volumes from the snapshots."""

# ruff: noqa: F811  (the fixtures imported from volume_fixtures are the tests' parameters)

from __future__ import annotations

import json
from typing import Any

from tests.api.compute_helpers import Nova
from tests.api.image_helpers import Glance
from tests.api.volume_fixtures import cinder, conductor_settings, nova, planes  # noqa: F401  (fixtures)
from tests.api.volume_helpers import Cinder, wait_until
from tests.conftest import Api
from twinstack.core.image.images import TEST_IMAGE_ID

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def create(nova: Nova, server: dict[str, Any]) -> str:
    response = nova.post("/servers", json={"server": {"flavorRef": "1", "networks": "none", **server}})
    assert response.status_code == 202, response.text
    server_id: str = response.json()["server"]["id"]
    return server_id


def devices(nova: Nova, server_id: str) -> dict[str, str]:
    """device -> volume id of the server's attachments."""
    listed = nova.get(f"/servers/{server_id}/os-volume_attachments").json()["volumeAttachments"]
    return {a["device"]: a["volumeId"] for a in listed}


def volume_backed_server(nova: Nova, cinder: Cinder) -> tuple[str, dict[str, str]]:
    """A server booted from a 2 GiB volume made from the test image, with a 1 GiB data volume added."""
    server_id = create(nova, {"name": "bfv", "block_device_mapping_v2": [{
        "source_type": "image", "destination_type": "volume", "uuid": TEST_IMAGE_ID, "boot_index": 0,
        "volume_size": 2, "delete_on_termination": True}]})
    nova.wait_for(server_id, "ACTIVE")
    data = cinder.wait_for(cinder.create(size=1, name="data")["id"], "available")
    added = nova.post(f"/servers/{server_id}/os-volume_attachments", json={"volumeAttachment": {
        "volumeId": data["id"]}})
    assert added.status_code == 200, added.text
    cinder.wait_for(data["id"], "in-use")
    return server_id, devices(nova, server_id)


def test_a_volume_backed_servers_image_maps_snapshots_of_its_volumes(api: Api, nova: Nova, cinder: Cinder) -> None:
    server_id, before = volume_backed_server(nova, cinder)
    response = nova.action(server_id, {"createImage": {"name": "bfv-snap", "metadata": {"team": "blue"}}})
    assert response.status_code == 202, response.text
    image_id = response.json()["image_id"]
    image = Glance(api).show(image_id)
    assert (image["status"], image["size"], image["checksum"]) == ("active", 0, EMPTY_MD5)  # no data of its own
    assert (image["disk_format"], image["container_format"]) == ("qcow2", "bare")
    assert image["bdm_v2"] == "True" and image["root_device_name"] == "/dev/vda" and image["team"] == "blue"
    assert image["image_type"] == "snapshot" and image["instance_uuid"] == server_id
    mappings = json.loads(image["block_device_mapping"])
    snapshots = {s["id"]: s for s in cinder.get("/snapshots/detail").json()["snapshots"]}
    assert [s["name"] for s in snapshots.values()] == ["snapshot for bfv-snap"] * 2
    root, data = mappings
    assert {k: root[k] for k in ("source_type", "destination_type", "boot_index", "device_name", "volume_size",
                                 "delete_on_termination")} == {
        "source_type": "snapshot", "destination_type": "volume", "boot_index": 0, "device_name": "/dev/vda",
        "volume_size": 2, "delete_on_termination": True}
    assert snapshots[root["snapshot_id"]]["volume_id"] == before["/dev/vda"]
    assert (data["boot_index"], data["device_name"], data["volume_size"]) == (None, "/dev/vdb", 1)
    assert snapshots[data["snapshot_id"]]["volume_id"] == before["/dev/vdb"]
    server = nova.server(server_id)
    assert server["status"] == "ACTIVE" and server["OS-EXT-STS:task_state"] is None
    assert devices(nova, server_id) == before, "the snapshot changes nothing of the server's volumes"


def test_booting_from_that_image_makes_its_volumes_from_the_snapshots(nova: Nova, cinder: Cinder) -> None:
    server_id, _before = volume_backed_server(nova, cinder)
    image_id = nova.action(server_id, {"createImage": {"name": "again"}}).json()["image_id"]
    snapshot_ids = [s["id"] for s in cinder.get("/snapshots").json()["snapshots"]]
    wait_until(lambda: all(cinder.get(f"/snapshots/{s}").json()["snapshot"]["status"] == "available"
                           for s in snapshot_ids), "the volume snapshots were not made")
    clone_id = create(nova, {"name": "from-snap", "imageRef": image_id})
    clone = nova.wait_for(clone_id, "ACTIVE")
    made = devices(nova, clone_id)
    assert set(made) == {"/dev/vda", "/dev/vdb"}
    root, data = cinder.volume(made["/dev/vda"]), cinder.volume(made["/dev/vdb"])
    assert root["snapshot_id"] in snapshot_ids and data["snapshot_id"] in snapshot_ids
    assert (root["size"], data["size"], root["status"], data["status"]) == (2, 1, "in-use", "in-use")
    assert {a["id"]: a["delete_on_termination"] for a in clone["os-extended-volumes:volumes_attached"]} == {
        root["id"]: True, data["id"]: False}
    assert nova.delete(f"/servers/{clone_id}").status_code == 204
    nova.wait_gone(clone_id)
    cinder.wait_gone(root["id"])  # delete_on_termination, as the image's mapping said
    assert cinder.wait_for(data["id"], "available")["attachments"] == []


def test_the_images_root_replaces_a_root_the_client_maps_from_the_image_and_refuses_another(
        nova: Nova, cinder: Cinder) -> None:
    """As Nova joins image-defined mappings: the image-to-local root a client inserts for ``--image`` goes; a
    root volume of the request's own beside the image's root is a broken boot sequence (400, nothing made)."""
    server_id, _before = volume_backed_server(nova, cinder)
    image_id = nova.action(server_id, {"createImage": {"name": "mixed"}}).json()["image_id"]
    snapshot_ids = [s["id"] for s in cinder.get("/snapshots").json()["snapshots"]]
    wait_until(lambda: all(cinder.get(f"/snapshots/{s}").json()["snapshot"]["status"] == "available"
                           for s in snapshot_ids), "the volume snapshots were not made")
    inserted = {"source_type": "image", "destination_type": "local", "uuid": image_id, "boot_index": 0,
                "delete_on_termination": True}
    clone_id = create(nova, {"name": "inserted", "imageRef": image_id, "block_device_mapping_v2": [inserted]})
    nova.wait_for(clone_id, "ACTIVE")
    assert cinder.volume(devices(nova, clone_id)["/dev/vda"])["snapshot_id"] in snapshot_ids
    own_root = cinder.wait_for(cinder.create(size=1, name="own", imageRef=TEST_IMAGE_ID)["id"], "available")
    refused = nova.post("/servers", json={"server": {
        "name": "own-root", "flavorRef": "1", "networks": "none", "imageRef": image_id, "block_device_mapping_v2": [
            {"source_type": "volume", "destination_type": "volume", "uuid": own_root["id"], "boot_index": 0}]}})
    assert refused.status_code == 400
    assert "Boot sequence for the instance and image/block device mapping" in refused.json()["badRequest"]["message"]
    assert cinder.volume(own_root["id"])["status"] == "available"


def test_the_root_is_the_servers_root_mapping_whatever_its_device(api: Api, nova: Nova, cinder: Cinder) -> None:
    server_id = create(nova, {"name": "on-vdc", "block_device_mapping_v2": [{
        "source_type": "image", "destination_type": "volume", "uuid": TEST_IMAGE_ID, "boot_index": 0,
        "volume_size": 1, "device_name": "vdc"}]})
    nova.wait_for(server_id, "ACTIVE")
    root_volume = devices(nova, server_id)["/dev/vdc"]
    response = nova.action(server_id, {"createImage": {"name": "vdc-snap"}})
    assert response.status_code == 202, response.text
    image = Glance(api).show(response.json()["image_id"])
    assert image["root_device_name"] == "/dev/vdc"
    [root] = json.loads(image["block_device_mapping"])
    assert (root["boot_index"], root["device_name"]) == (0, "/dev/vdc")
    assert cinder.get(f"/snapshots/{root['snapshot_id']}").json()["snapshot"]["volume_id"] == root_volume


def test_a_refused_snapshot_of_one_volume_leaves_no_snapshot_and_no_image(
        api: Api, nova: Nova, cinder: Cinder) -> None:
    server_id, before = volume_backed_server(nova, cinder)
    project = cinder.volume(before["/dev/vda"])["os-vol-tenant-attr:tenant_id"]
    assert cinder.put(f"/os-quota-sets/{project}", json={"quota_set": {"snapshots": 1}}).status_code == 200
    images_before = Glance(api).names()
    response = nova.action(server_id, {"createImage": {"name": "one-too-many"}})
    assert response.status_code == 413, response.text  # the second volume's snapshot is over the quota
    wait_until(lambda: cinder.get("/snapshots").json()["snapshots"] == [], "the first snapshot was left behind")
    assert Glance(api).names() == images_before
    assert devices(nova, server_id) == before
