"""Booting servers from volumes (Nova's ``block_device_mapping_v2``) in-process, over a live plane with fast
simulated hosts and back ends: the volumes are made and connected on the host before the server spawns, the
server shows no image and lists its volumes, its claim holds no root disk, delete_on_termination decides each
volume's fate, and what Nova refuses is refused with its 400 and changes nothing."""

# ruff: noqa: F811  (the fixtures imported from volume_fixtures are the tests' parameters)

from __future__ import annotations

from typing import Any

from tests.api.compute_helpers import Nova
from tests.api.image_helpers import Glance
from tests.api.volume_fixtures import cinder, conductor_settings, nova, planes  # noqa: F401  (fixtures)
from tests.api.volume_helpers import Cinder, Planes, wait_until
from tests.conftest import Api
from twinstack.core.image.images import TEST_IMAGE_ID
from twinstack.db.models.image import ImageRow

MISSING = "00000000-0000-4000-8000-000000000000"
TINY = "1"  # m1.tiny: 1 vCPU, 512 MiB, 1 GiB root disk
ALL_BACKENDS = ("twinstack@ssd", "twinstack@hdd")


def boot_body(name: str, *mappings: dict[str, Any], flavor: str = TINY, **server: Any) -> dict[str, Any]:
    return {
        "server": {
            "name": name,
            "flavorRef": flavor,
            "networks": "none",
            "block_device_mapping_v2": list(mappings),
            **server,
        }
    }


def from_volume(volume_id: str, boot_index: int | None = 0, **more: Any) -> dict[str, Any]:
    return {"source_type": "volume", "destination_type": "volume", "uuid": volume_id, "boot_index": boot_index, **more}


def bootable_volume(cinder: Cinder, name: str = "root") -> dict[str, Any]:
    return cinder.wait_for(cinder.create(size=1, name=name, imageRef=TEST_IMAGE_ID)["id"], "available")


def create(nova: Nova, body: dict[str, Any]) -> str:
    response = nova.post("/servers", json=body)
    assert response.status_code == 202, response.text
    server_id: str = response.json()["server"]["id"]
    return server_id


def refused(nova: Nova, body: dict[str, Any]) -> str:
    """The 400's message; the request left no server behind."""
    before = nova.get("/servers").json()["servers"]
    response = nova.post("/servers", json=body)
    assert response.status_code == 400, response.text
    assert nova.get("/servers").json()["servers"] == before
    message: str = response.json()["badRequest"]["message"]
    return message


def volume_ids(cinder: Cinder) -> set[str]:
    return {v["id"] for v in cinder.get("/volumes").json()["volumes"]}


def test_a_server_boots_from_an_existing_volume_which_turns_in_use_as_its_root(
    nova: Nova, cinder: Cinder, planes: Planes
) -> None:
    root = bootable_volume(cinder)
    server_id = create(nova, boot_body("bfv", from_volume(root["id"])))
    assert cinder.volume(root["id"])["status"] in ("reserved", "attaching", "in-use"), "reserved by the API"
    server = nova.wait_for(server_id, "ACTIVE")
    assert server["image"] == "" and server["flavor"]["original_name"] == "m1.tiny"
    assert server["os-extended-volumes:volumes_attached"] == [{"id": root["id"], "delete_on_termination": False}]
    [attachment] = nova.get(f"/servers/{server_id}/os-volume_attachments").json()["volumeAttachments"]
    assert attachment == {
        "id": root["id"],
        "serverId": server_id,
        "volumeId": root["id"],
        "device": "/dev/vda",
        "tag": None,
        "delete_on_termination": False,
    }
    in_use = cinder.volume(root["id"])
    assert in_use["status"] == "in-use"
    assert [(a["server_id"], a["device"], a["host_name"]) for a in in_use["attachments"]] == [
        (server_id, "/dev/vda", server["OS-EXT-SRV-ATTR:host"])
    ]
    assert planes.compute.placement.allocations(server_id) == {
        server["OS-EXT-SRV-ATTR:host"]: {"VCPU": 1, "MEMORY_MB": 512}
    }, "no DISK_GB for a volume root"
    assert nova.delete(f"/servers/{server_id}").status_code == 204
    nova.wait_gone(server_id)
    left = cinder.wait_for(root["id"], "available")
    assert left["attachments"] == [] and planes.compute.placement.allocations(server_id) == {}


def test_a_volume_made_from_an_image_with_extra_volumes_attached_at_boot(nova: Nova, cinder: Cinder) -> None:
    """--boot-from-volume's mapping (image to volume) plus a blank volume and an existing one; on delete the
    delete_on_termination volumes go and the others are left available."""
    data = cinder.wait_for(cinder.create(size=1, name="data")["id"], "available")
    before = volume_ids(cinder)
    server_id = create(
        nova,
        boot_body(
            "from-image",
            {
                "source_type": "image",
                "destination_type": "volume",
                "uuid": TEST_IMAGE_ID,
                "boot_index": 0,
                "volume_size": 2,
                "delete_on_termination": True,
            },
            {"source_type": "blank", "destination_type": "volume", "volume_size": 1, "boot_index": -1},
            from_volume(data["id"], boot_index=None, device_name="vdd"),
        ),
    )
    server = nova.wait_for(server_id, "ACTIVE")
    assert server["image"] == ""
    attached = server["os-extended-volumes:volumes_attached"]
    made = [a["id"] for a in attached if a["id"] not in before]
    assert len(attached) == 3 and len(made) == 2
    devices = {
        a["volumeId"]: a["device"]
        for a in nova.get(f"/servers/{server_id}/os-volume_attachments").json()["volumeAttachments"]
    }
    root_id = next(v for v, device in devices.items() if device == "/dev/vda")
    blank_id = next(v for v in made if v != root_id)
    assert devices[data["id"]] == "/dev/vdd" and devices[blank_id] == "/dev/vdb"
    root = cinder.volume(root_id)
    assert root["size"] == 2 and root["bootable"] == "true" and root["status"] == "in-use"
    assert root["volume_image_metadata"]["image_id"] == TEST_IMAGE_ID
    assert cinder.volume(blank_id)["name"] == f"{server_id}-blank-vol"
    assert {a["id"]: a["delete_on_termination"] for a in attached} == {
        root_id: True,
        blank_id: False,
        data["id"]: False,
    }
    assert nova.delete(f"/servers/{server_id}").status_code == 204
    nova.wait_gone(server_id)
    cinder.wait_gone(root_id)
    assert cinder.wait_for(blank_id, "available")["attachments"] == []
    assert cinder.wait_for(data["id"], "available")["attachments"] == []


def test_what_nova_refuses_is_refused_and_changes_nothing(nova: Nova, cinder: Cinder) -> None:
    blank = cinder.wait_for(cinder.create(size=1, name="blank")["id"], "available")
    root = bootable_volume(cinder)
    busy = bootable_volume(cinder, "busy")
    holder = create(nova, boot_body("holder", from_volume(busy["id"])))
    nova.wait_for(holder, "ACTIVE")
    before = {v["id"]: (v["status"], len(v["attachments"])) for v in cinder.get("/volumes/detail").json()["volumes"]}

    assert refused(nova, boot_body("x", from_volume(blank["id"]))) == f"Block Device {blank['id']} is not bootable."
    assert refused(nova, boot_body("x", from_volume(MISSING))) == (
        f"Block Device Mapping is Invalid: failed to get volume {MISSING}."
    )
    in_use = refused(nova, boot_body("x", from_volume(busy["id"])))
    assert in_use.startswith("Invalid volume: ") and "the current status is in-use" in in_use
    assert refused(
        nova,
        boot_body("x", {"source_type": "image", "destination_type": "volume", "uuid": TEST_IMAGE_ID, "boot_index": 0}),
    ) == ("Images with destination_type 'volume' need to have a non-zero size specified")
    assert refused(nova, boot_body("x", from_volume(root["id"], boot_index=1))) == (
        "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping "
        "combination is not valid."
    )
    assert refused(nova, boot_body("x", from_volume(root["id"]), min_count=2, max_count=2)) == (
        "Cannot attach one or more volumes to multiple instances"
    )
    assert refused(
        nova,
        boot_body("x", {"source_type": "snapshot", "destination_type": "volume", "uuid": MISSING, "boot_index": 0}),
    ) == (f"Block Device Mapping is Invalid: failed to get snapshot {MISSING}.")
    assert refused(
        nova,
        boot_body("x", {"source_type": "blank", "destination_type": "volume", "boot_index": 0, "uuid": root["id"]}),
    ) == ("Block Device Mapping is Invalid: Invalid device UUID.")
    assert refused(nova, {"server": {"name": "x", "flavorRef": TINY, "networks": "none"}}) == (
        "Missing imageRef attribute"
    )
    assert "volume_type" in refused(nova.at("2.66"), boot_body("x", from_volume(root["id"], volume_type="ssd")))
    assert refused(
        nova,
        boot_body(
            "x",
            {
                "source_type": "image",
                "destination_type": "volume",
                "uuid": TEST_IMAGE_ID,
                "boot_index": 0,
                "volume_size": 1,
                "volume_type": "nope",
            },
        ),
    ) == ("Volume type nope could not be found.")
    after = {v["id"]: (v["status"], len(v["attachments"])) for v in cinder.get("/volumes/detail").json()["volumes"]}
    assert after == before, "no volume made, reserved or attached"


def test_a_failed_build_leaves_nothing_behind(api: Api, nova: Nova, cinder: Cinder, planes: Planes) -> None:
    """Back ends that fail every create: the server is aborted in ERROR with Nova's fault, the existing volume it
    reserved is available again, the volume it asked for is deleted, and its claim is released."""
    data = cinder.wait_for(cinder.create(size=1, name="data")["id"], "available")
    before = volume_ids(cinder)
    assert planes.volume.storage is not None
    planes.volume.storage.failing.update(ALL_BACKENDS)
    server_id = create(
        nova,
        boot_body(
            "doomed",
            {
                "source_type": "image",
                "destination_type": "volume",
                "uuid": TEST_IMAGE_ID,
                "boot_index": 0,
                "volume_size": 1,
            },
            from_volume(data["id"], boot_index=None),
        ),
    )
    server = nova.wait_for(server_id, "ERROR")
    assert server["fault"]["message"] == f"Build of instance {server_id} aborted: Failure prepping block device."
    assert server["os-extended-volumes:volumes_attached"] == []
    left = cinder.wait_for(data["id"], "available")
    assert left["attachments"] == []
    wait_until(lambda: volume_ids(cinder) == before, "the volume made for the build was not deleted")
    assert planes.compute.placement.allocations(server_id) == {}
    planes.volume.storage.failing.clear()
    assert nova.delete(f"/servers/{server_id}").status_code == 204
    nova.wait_gone(server_id)
    assert cinder.volume(data["id"])["status"] == "available"


def test_no_valid_host_frees_the_volumes_the_api_reserved(nova: Nova, cinder: Cinder, planes: Planes) -> None:
    root = bootable_volume(cinder)
    before = volume_ids(cinder)
    huge = nova.post("/flavors", json={"flavor": {"name": "huge", "ram": 20000, "vcpus": 1, "disk": 0}})
    assert huge.status_code == 200, huge.text
    server_id = create(nova, boot_body("too-big", from_volume(root["id"]), flavor=huge.json()["flavor"]["id"]))
    server = nova.wait_for(server_id, "ERROR")
    assert server["fault"]["message"].startswith("No valid host was found.")
    assert cinder.wait_for(root["id"], "available")["attachments"] == []
    assert volume_ids(cinder) == before


def test_deleting_a_server_while_its_volumes_are_made_deletes_them(nova: Nova, cinder: Cinder, planes: Planes) -> None:
    assert planes.volume.storage is not None
    planes.volume.storage.behaviour.create_seconds = 2.0  # the build waits for its volume long enough to be deleted
    before = volume_ids(cinder)
    server_id = create(
        nova,
        boot_body(
            "gone",
            {
                "source_type": "image",
                "destination_type": "volume",
                "uuid": TEST_IMAGE_ID,
                "boot_index": 0,
                "volume_size": 1,
            },
        ),
    )
    wait_until(
        lambda: nova.server(server_id)["OS-EXT-STS:task_state"] == "block_device_mapping",
        "the build did not wait for its volume",
    )
    [made] = volume_ids(cinder) - before
    assert cinder.volume(made)["status"] == "creating"
    assert nova.delete(f"/servers/{server_id}").status_code == 204
    nova.wait_gone(server_id)
    wait_until(lambda: volume_ids(cinder) == before, "the volume made for the deleted build was left", timeout=15)


# flavor minimums from the image (Nova's _validate_flavor_image)


def active_image(api: Api, **body: Any) -> str:
    glance = Glance(api)
    image = glance.create(name="needy", **body)
    assert glance.upload(image["id"], b"x" * 4096).status_code == 204
    return str(image["id"])


def test_a_flavor_smaller_than_the_images_minimums_is_refused(api: Api, nova: Nova, cinder: Cinder) -> None:
    needs_ram = active_image(api, min_ram=4096)
    needs_disk = active_image(api, min_disk=5)
    assert refused(nova, {"server": {"name": "x", "flavorRef": TINY, "imageRef": needs_ram, "networks": "none"}}) == (
        "Flavor's memory is too small for requested image."
    )
    assert refused(nova, {"server": {"name": "x", "flavorRef": TINY, "imageRef": needs_disk, "networks": "none"}}) == (
        f"Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is {1024**3} "
        f"bytes, minimum size is {5 * 1024**3} bytes."
    )
    big = active_image(api)
    with api.cloud.transaction() as session:  # an image of 1 GiB and a byte, without uploading one
        row = session.get(ImageRow, big)
        assert row is not None
        row.size = 1024**3 + 1
    assert refused(nova, {"server": {"name": "x", "flavorRef": TINY, "imageRef": big, "networks": "none"}}) == (
        f"Flavor's disk is too small for requested image. Flavor disk is {1024**3} bytes, image is {1024**3 + 1} bytes."
    )
    # booted from a volume, the root disk is the volume: its minimum disk is checked against the volume's size
    assert refused(
        nova,
        boot_body(
            "x",
            {
                "source_type": "image",
                "destination_type": "volume",
                "uuid": needs_disk,
                "boot_index": 0,
                "volume_size": 2,
            },
        ),
    ) == (
        f"Volume is smaller than the minimum size specified in image metadata. Volume size is {2 * 1024**3} bytes, "
        f"minimum size is {5 * 1024**3} bytes."
    )
    assert refused(
        nova,
        boot_body(
            "x",
            {
                "source_type": "image",
                "destination_type": "volume",
                "uuid": needs_ram,
                "boot_index": 0,
                "volume_size": 1,
            },
        ),
    ) == ("Flavor's memory is too small for requested image.")
    from_needy = cinder.wait_for(cinder.create(size=1, imageRef=needs_ram)["id"], "available")
    assert refused(nova, boot_body("x", from_volume(from_needy["id"]))) == (
        "Flavor's memory is too small for requested image."
    ), "the volume keeps its image's min_ram"
    assert cinder.volume(from_needy["id"])["status"] == "available"
    server_id = create(
        nova,
        boot_body(
            "fits",
            {
                "source_type": "image",
                "destination_type": "volume",
                "uuid": needs_disk,
                "boot_index": 0,
                "volume_size": 5,
            },
        ),
    )
    nova.wait_for(server_id, "ACTIVE")


def test_a_legacy_mapping_of_the_root_device_boots_from_its_volume_and_others_attach_beside(
        nova: Nova, cinder: Cinder) -> None:
    """Nova's pre-v2 ``block_device_mapping``: the volume named vda is the root, a volume elsewhere is an extra."""
    root, extra = bootable_volume(cinder), cinder.wait_for(cinder.create(size=1, name="extra")["id"], "available")
    body = {"server": {"name": "legacy", "flavorRef": TINY, "networks": "none", "block_device_mapping": [
        {"device_name": "/dev/vda", "volume_id": root["id"], "delete_on_termination": False},
        {"device_name": "vdb", "volume_id": extra["id"]}]}}
    server = nova.wait_for(create(nova, body), "ACTIVE")
    assert server["image"] == ""
    assert {v["id"] for v in server["os-extended-volumes:volumes_attached"]} == {root["id"], extra["id"]}
    assert cinder.wait_for(root["id"], "in-use")["attachments"][0]["device"] == "/dev/vda"


def test_a_legacy_mapping_beside_an_image_is_attached_and_the_image_boots(nova: Nova, cinder: Cinder) -> None:
    extra = cinder.wait_for(cinder.create(size=1, name="extra")["id"], "available")
    body = {"server": {"name": "legacy-image", "flavorRef": TINY, "imageRef": TEST_IMAGE_ID, "networks": "none",
                       "block_device_mapping": [{"device_name": "vdb", "volume_id": extra["id"]}]}}
    server = nova.wait_for(create(nova, body), "ACTIVE")
    assert server["image"]["id"] == TEST_IMAGE_ID
    assert [v["id"] for v in server["os-extended-volumes:volumes_attached"]] == [extra["id"]]


def test_legacy_mappings_that_cannot_be_honoured_are_refused_and_change_nothing(nova: Nova, cinder: Cinder) -> None:
    volumes = volume_ids(cinder)
    swap = {"server": {"name": "swap", "flavorRef": TINY, "imageRef": TEST_IMAGE_ID, "networks": "none",
                       "block_device_mapping": [{"device_name": "vdb", "virtual_name": "swap"}]}}
    assert "needs a volume_id or a snapshot_id" in refused(nova, swap)
    no_root = {"server": {"name": "no-root", "flavorRef": TINY, "networks": "none",
                          "block_device_mapping": [{"device_name": "vdb", "volume_id": MISSING}]}}
    assert refused(nova, no_root).startswith("Block Device Mapping is Invalid: Boot sequence")
    unknown = {"server": {"name": "odd", "flavorRef": TINY, "imageRef": TEST_IMAGE_ID, "networks": "none",
                          "block_device_mapping": [{"device_name": "vdb", "volume_id": MISSING, "colour": "red"}]}}
    assert "block_device_mapping" in refused(nova, unknown)
    assert volume_ids(cinder) == volumes


def test_a_volume_backed_servers_root_volume_cannot_be_detached(nova: Nova, cinder: Cinder) -> None:
    """Nova's 400 "Cannot detach a root device volume", whether the root was an existing volume or one the build
    made (known by its mapping's device, here not vda); a data volume beside it still detaches."""
    root = bootable_volume(cinder)
    data = cinder.wait_for(cinder.create(size=1, name="data")["id"], "available")
    given = create(nova, boot_body("given", from_volume(root["id"]), from_volume(data["id"], None)))
    made = create(nova, boot_body("made", {"source_type": "image", "destination_type": "volume",
                                           "uuid": TEST_IMAGE_ID, "boot_index": 0, "volume_size": 1,
                                           "device_name": "vdc"}))
    for server_id in (given, made):
        nova.wait_for(server_id, "ACTIVE")
    made_root = {a["device"]: a["volumeId"] for a in nova.get(
        f"/servers/{made}/os-volume_attachments").json()["volumeAttachments"]}["/dev/vdc"]
    for server_id, volume_id in ((given, root["id"]), (made, made_root)):
        response = nova.delete(f"/servers/{server_id}/os-volume_attachments/{volume_id}")
        assert response.status_code == 400, response.text
        assert response.json()["badRequest"]["message"] == "Cannot detach a root device volume"
        assert cinder.volume(volume_id)["status"] == "in-use"
    assert nova.delete(f"/servers/{given}/os-volume_attachments/{data['id']}").status_code == 202
    cinder.wait_for(data["id"], "available")
