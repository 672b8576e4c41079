"""Booting from volumes through the unmodified ``openstack`` CLI (and the openstacksdk under it) against
``twinstack serve``: ``server create --volume``, ``--image --boot-from-volume`` and ``--block-device``.

The served cloud has four simulated hosts (one-second boots) and small simulated back ends that answer in a
fifth of a second; the build makes and connects the volumes on the host before the server spawns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_cli_compute import DATACENTER
from tests.api.test_cli_volumes import VOLUME_ENV, wait_status
from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow

BOOTED_FROM_VOLUME = "N/A (booted from volume)"
"""What the CLI shows for a server whose ``image`` is "" (Nova's answer for a volume-backed server)."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-bfv", DATACENTER, env=VOLUME_ENV)


def volumes(cli: OpenStackCLI) -> dict[str, dict[str, Any]]:
    return {v["ID"]: v for v in cli.json("volume", "list", "--long")}


def wait_gone(cli: OpenStackCLI, kind: str, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while cli.run(kind, "show", name, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"{kind} {name} was not deleted"
        time.sleep(0.3)


def test_server_create_volume_boots_from_an_existing_volume(openstack: OpenStackCLI) -> None:
    openstack.json("volume", "create", "--image", "twinstack-test", "--size", "1", "root-vol")
    root = wait_status(openstack, "root-vol", "available")
    server = openstack.json("server", "create", "--volume", "root-vol", "--flavor", "m1.tiny", "--wait", "bfv-vol")
    assert server["status"] == "ACTIVE"
    shown = openstack.json("server", "show", "bfv-vol")
    assert shown["image"] == BOOTED_FROM_VOLUME
    assert [v["id"] for v in shown["volumes_attached"]] == [root["id"]]
    [attachment] = openstack.json("server", "volume", "list", "bfv-vol")
    assert attachment["Volume ID"] == root["id"] and attachment["Device"] == "/dev/vda"
    in_use = wait_status(openstack, "root-vol", "in-use")
    assert [(a["server_id"], a["device"]) for a in in_use["attachments"]] == [(shown["id"], "/dev/vda")]
    refused = openstack.run("volume", "delete", "root-vol", check=False)
    assert refused.returncode != 0 and "attached" in refused.stderr
    openstack.run("server", "delete", "--wait", "bfv-vol")
    assert wait_status(openstack, "root-vol", "available")["attachments"] == []


def test_boot_from_volume_makes_the_root_volume_from_the_image(openstack: OpenStackCLI) -> None:
    before = set(volumes(openstack))
    openstack.json("server", "create", "--image", "twinstack-test", "--boot-from-volume", "2", "--flavor",
                   "m1.tiny", "--wait", "bfv-img")
    shown = openstack.json("server", "show", "bfv-img")
    assert shown["status"] == "ACTIVE" and shown["image"] == BOOTED_FROM_VOLUME
    [made] = set(volumes(openstack)) - before
    assert [v["id"] for v in shown["volumes_attached"]] == [made]
    volume = wait_status(openstack, made, "in-use")
    assert volume["size"] == 2 and volume["bootable"] is True
    assert volume["volume_image_metadata"]["image_name"] == "twinstack-test"
    openstack.run("server", "delete", "--wait", "bfv-img")
    assert wait_status(openstack, made, "available")["attachments"] == [], "kept: not delete_on_termination"
    openstack.run("volume", "delete", made)

    openstack.json("server", "create", "--image", "twinstack-test", "--boot-from-volume", "1",
                   "--delete-on-termination", "--flavor", "m1.tiny", "--wait", "bfv-doomed")
    [doomed] = set(volumes(openstack)) - before - {made}
    assert wait_status(openstack, doomed, "in-use")["size"] == 1
    openstack.run("server", "delete", "--wait", "bfv-doomed")
    wait_gone(openstack, "volume", doomed)


def test_block_device_attaches_extra_volumes_at_boot(openstack: OpenStackCLI) -> None:
    openstack.json("volume", "create", "--size", "1", "extra-data")
    data = wait_status(openstack, "extra-data", "available")
    before = set(volumes(openstack))
    openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--block-device",
                   f"uuid={data['id']},source_type=volume,destination_type=volume,device_name=vdc",
                   "--block-device", "source_type=blank,destination_type=volume,volume_size=1,"
                   "delete_on_termination=true", "--wait", "with-extras")
    shown = openstack.json("server", "show", "with-extras")
    assert shown["image"].startswith("twinstack-test"), "an image-backed server, with volumes besides"
    [blank] = set(volumes(openstack)) - before
    devices = {a["Volume ID"]: a["Device"] for a in openstack.json("server", "volume", "list", "with-extras")}
    assert devices == {data["id"]: "/dev/vdc", blank: "/dev/vdb"}
    assert wait_status(openstack, "extra-data", "in-use")["attachments"][0]["server_id"] == shown["id"]
    openstack.run("server", "delete", "--wait", "with-extras")
    wait_status(openstack, "extra-data", "available")
    wait_gone(openstack, "volume", blank)


def test_refused_boots_create_nothing(openstack: OpenStackCLI) -> None:
    openstack.json("volume", "create", "--size", "1", "not-bootable")
    blank = wait_status(openstack, "not-bootable", "available")
    servers_before = {s["ID"] for s in openstack.json("server", "list")}
    volumes_before = {v: (d["Status"], d["Attached to"]) for v, d in volumes(openstack).items()}
    refused = openstack.run("server", "create", "--volume", "not-bootable", "--flavor", "m1.tiny", "nope",
                            check=False)
    assert refused.returncode != 0 and f"Block Device {blank['id']} is not bootable." in refused.stderr
    missing = openstack.run("server", "create", "--flavor", "m1.tiny", "--block-device",
                            "uuid=00000000-0000-4000-8000-000000000000,source_type=volume,destination_type=volume,"
                            "boot_index=0", "nope", check=False)
    assert missing.returncode != 0
    assert ("Block Device Mapping is Invalid: failed to get volume 00000000-0000-4000-8000-000000000000."
            in missing.stderr)
    assert {s["ID"] for s in openstack.json("server", "list")} == servers_before
    assert {v: (d["Status"], d["Attached to"]) for v, d in volumes(openstack).items()} == volumes_before


def test_server_image_create_of_a_volume_backed_server_and_a_boot_from_that_image(openstack: OpenStackCLI) -> None:
    """Nova's snapshot_volume_backed: the image has no data, only the mapping of a snapshot of the root volume;
    a server booted from it gets a volume made from that snapshot."""
    openstack.json("server", "create", "--image", "twinstack-test", "--boot-from-volume", "1", "--flavor", "m1.tiny",
                   "--wait", "bfv-snapped")
    openstack.json("server", "image", "create", "--name", "bfv-snapped-image", "--wait", "bfv-snapped")
    image = openstack.json("image", "show", "bfv-snapped-image")
    assert image["status"] == "active" and image["size"] == 0
    properties = image["properties"]
    assert properties["bdm_v2"] == "True" and properties["root_device_name"] == "/dev/vda"
    [snapshot] = [s for s in openstack.json("volume", "snapshot", "list", "--long")
                  if s["Name"] == "snapshot for bfv-snapped-image"]
    assert f'"snapshot_id": "{snapshot["ID"]}"' in properties["block_device_mapping"]
    deadline = time.monotonic() + 30
    while openstack.json("volume", "snapshot", "show", snapshot["ID"])["status"] != "available":
        assert time.monotonic() < deadline, "the volume snapshot was not made"
        time.sleep(0.3)
    server = openstack.json("server", "create", "--image", "bfv-snapped-image", "--flavor", "m1.tiny", "--wait",
                            "from-bfv-image")
    assert server["status"] == "ACTIVE"
    [attached] = openstack.json("server", "show", "from-bfv-image")["volumes_attached"]
    made = openstack.json("volume", "show", attached["id"])
    assert made["snapshot_id"] == snapshot["ID"] and made["size"] == 1 and made["status"] == "in-use"
    openstack.run("server", "delete", "--wait", "from-bfv-image", "bfv-snapped")
