"""Volumes and snapshots on a real host, through the unmodified ``openstack`` CLI (issue 7's storage lines and
issue 6's ``server image create`` on the real back end).

One cloud and one guest serve the whole module, in order: the back ends report their file system's capacity;
a new volume is a qcow2 file; attached, it is ``in-use`` and the guest's console reports the new disk; extended
while attached, the guest sees it grow; detached, it is ``available`` and the guest saw it go; clones, volumes
from a snapshot and from an image are files of their own, and an extend grows its file; a server snapshot is an
active image a second server boots from; deleting a server frees its volume; servers boot from a volume made from
the image and from an existing volume (the volume is their root disk); deleting everything leaves no volume,
snapshot or instance file.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OpenStackCLI, Served
from tests.real.conftest import IMAGE, wait_for
from twinstack.real.test_image import DISK_GONE_LINE, DISK_LINE, READY_LINE
from twinstack.real.volume_files import GIB, qcow2_virtual_size

pytestmark = pytest.mark.slow
SERVER = "vol-vm"
COPY = "vol-vm-copy"
SNAPSHOT_IMAGE = "vol-vm-snap"


@pytest.fixture(scope="module")
def state(real_cloud: tuple[Served, Path]) -> Path:
    return real_cloud[1]


@pytest.fixture(scope="module")
def server(openstack: OpenStackCLI) -> dict[str, Any]:
    created: dict[str, Any] = openstack.json(
        "server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--nic", "none", "--wait", SERVER
    )
    console(openstack, SERVER, lambda log: READY_LINE.search(log), "the guest to finish booting")
    return created


@pytest.fixture(scope="module")
def volume(openstack: OpenStackCLI) -> Iterator[dict[str, Any]]:
    openstack.json("volume", "create", "--size", "1", "vol-a")
    yield wait_status(openstack, "vol-a", "available")


def console(openstack: OpenStackCLI, name: str, seen: Any, what: str, timeout: float = 90) -> str:
    """The server's console log once ``seen(log)`` holds."""
    return str(
        wait_for(
            lambda: (log := openstack.run("console", "log", "show", name).stdout) and seen(log) and log,
            timeout,
            what,
            every=1,
        )
    )


def wait_status(openstack: OpenStackCLI, name: str, status: str, kind: str = "volume") -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        found: dict[str, Any] = (
            openstack.json(kind, "show", name)
            if kind == "volume"
            else openstack.json("volume", "snapshot", "show", name)
        )
        assert found["status"] not in ("error", "error_deleting"), found
        return found if found["status"] == status else None

    return dict(wait_for(shown, 60, f"{kind} {name} to be {status}", every=1))


def volume_files(state: Path) -> list[str]:
    return sorted(p.name for p in (state / "volumes").rglob("*") if p.is_file())


def disks_seen(log: str) -> dict[str, int]:
    return {device: int(size) for device, size in DISK_LINE.findall(log)}


def test_back_ends_report_the_host_file_system_as_thin_pools(openstack: OpenStackCLI, state: Path) -> None:
    pools = wait_for(lambda: openstack.json("volume", "backend", "pool", "list", "--long"), 30, "pools", every=1)
    assert {pool["Name"].split("@", 1)[1] for pool in pools} == {"ssd#ssd", "hdd#hdd"}
    total_gb = shutil.disk_usage(state).total // GIB
    for pool in pools:
        stats = pool["Capabilities"]
        assert stats["total_capacity_gb"] == total_gb and 0 < stats["free_capacity_gb"] <= total_gb
        assert stats["thin_provisioning_support"] is True and stats["storage_protocol"] == "local"


def test_a_new_volume_is_a_qcow2_file_of_its_size(volume: dict[str, Any], state: Path) -> None:
    [path] = list((state / "volumes").glob(f"*/volume-{volume['id']}.qcow2"))
    assert qcow2_virtual_size(path) == GIB


def test_an_attached_volume_is_in_use_and_the_guest_sees_a_new_disk(
    server: dict[str, Any], volume: dict[str, Any], openstack: OpenStackCLI, virt: Any
) -> None:
    before = disks_seen(openstack.run("console", "log", "show", SERVER).stdout)
    assert before == {"vda": 1024}
    openstack.run("server", "add", "volume", SERVER, "vol-a")
    shown = wait_status(openstack, "vol-a", "in-use")
    [attachment] = shown["attachments"]
    assert (attachment["server_id"], attachment["device"]) == (server["id"], "/dev/vdb")
    shown_attachment = openstack.json(
        "--os-volume-api-version", "3.27", "volume", "attachment", "show", attachment["attachment_id"]
    )
    assert shown_attachment["Properties"]["driver_volume_type"] == "local", "a file on this host, not iSCSI"
    console(openstack, SERVER, lambda log: disks_seen(log).get("vdb") == 1024, "the guest to see vdb")
    domain = virt.lookupByName(f"twinstack-{server['id']}")
    assert f"volume-{volume['id']}.qcow2" in domain.XMLDesc(0)
    listed = openstack.json("server", "volume", "list", SERVER)
    assert [v["Volume ID"] for v in listed] == [volume["id"]]


def test_an_attached_volume_extended_grows_in_the_running_guest(
    server: dict[str, Any], volume: dict[str, Any], openstack: OpenStackCLI, state: Path
) -> None:
    openstack.run("--os-volume-api-version", "3.42", "volume", "set", "--size", "2", "vol-a")  # in-use from 3.42
    wait_for(lambda: (v := openstack.json("volume", "show", "vol-a"))["size"] == 2 and v["status"] == "in-use", 60,
             "the extend", every=1)
    console(openstack, SERVER, lambda log: disks_seen(log).get("vdb") == 2048, "the guest to see vdb grow")
    [path] = list((state / "volumes").glob(f"*/volume-{volume['id']}.qcow2"))
    assert qcow2_virtual_size(path) == 2 * GIB


def test_a_detached_volume_is_available_and_gone_from_the_guest(
    server: dict[str, Any], volume: dict[str, Any], openstack: OpenStackCLI, virt: Any
) -> None:
    openstack.run("server", "remove", "volume", SERVER, "vol-a")
    shown = wait_status(openstack, "vol-a", "available")
    assert shown["attachments"] == []
    console(openstack, SERVER, lambda log: "vdb" in DISK_GONE_LINE.findall(log), "the guest to see vdb go")
    domain = virt.lookupByName(f"twinstack-{server['id']}")
    assert f"volume-{volume['id']}" not in domain.XMLDesc(0)
    assert f"volume-{volume['id']}" not in domain.XMLDesc(2), "gone from the persistent definition too"


def test_clones_snapshots_volumes_from_images_and_extends_are_files_of_their_own(
    volume: dict[str, Any], openstack: OpenStackCLI, state: Path
) -> None:
    openstack.json("volume", "create", "--source", "vol-a", "--size", "2", "vol-clone")
    openstack.json("volume", "create", "--image", IMAGE, "--size", "1", "vol-image")
    openstack.json("volume", "snapshot", "create", "--volume", "vol-a", "snap-a")
    clone, from_image = (
        wait_status(openstack, "vol-clone", "available"),
        wait_status(openstack, "vol-image", "available"),
    )
    snapshot = wait_status(openstack, "snap-a", "available", kind="snapshot")
    openstack.json("volume", "create", "--snapshot", "snap-a", "--size", "2", "vol-restored")
    restored = wait_status(openstack, "vol-restored", "available")
    assert from_image["volume_image_metadata"]["image_name"] == IMAGE or from_image.get("bootable") == "true"
    openstack.run("volume", "set", "--size", "3", "vol-restored")
    wait_for(lambda: openstack.json("volume", "show", "vol-restored")["size"] == 3, 60, "the extend", every=1)
    wait_status(openstack, "vol-restored", "available")
    for made, size in ((clone, 2), (from_image, 1), (restored, 3)):
        [path] = list((state / "volumes").glob(f"*/volume-{made['id']}.qcow2"))
        assert qcow2_virtual_size(path) == size * GIB
    assert list((state / "volumes").glob(f"*/snapshot-{snapshot['id']}.qcow2"))


def test_a_server_snapshot_is_an_image_a_new_server_boots_from(server: dict[str, Any], openstack: OpenStackCLI) -> None:
    image: dict[str, Any] = openstack.json("server", "image", "create", "--wait", "--name", SNAPSHOT_IMAGE, SERVER)
    shown = openstack.json("image", "show", image["id"])
    assert shown["status"] == "active" and shown["disk_format"] == "qcow2" and shown["size"] > 0
    assert openstack.json("server", "show", SERVER)["status"] == "ACTIVE"
    booted = openstack.json(
        "server", "create", "--image", SNAPSHOT_IMAGE, "--flavor", "m1.tiny", "--nic", "none", "--wait", COPY
    )
    assert booted["status"] == "ACTIVE"
    log = console(openstack, COPY, lambda log: READY_LINE.search(log), "the snapshot's guest to boot")
    assert f"twinstack-guest: hostname {COPY}" in log


def test_deleting_a_server_frees_its_volume_and_keeps_the_file(openstack: OpenStackCLI, state: Path) -> None:
    openstack.run("server", "add", "volume", COPY, "vol-image")
    attached = wait_status(openstack, "vol-image", "in-use")
    console(openstack, COPY, lambda log: "vdb" in disks_seen(log), "the snapshot's guest to see vdb")
    openstack.run("server", "delete", "--wait", COPY)
    assert wait_status(openstack, "vol-image", "available")["attachments"] == []
    assert list((state / "volumes").glob(f"*/volume-{attached['id']}.qcow2")), "the volume outlives the server"


def test_servers_boot_from_a_volume_made_from_the_image_and_from_an_existing_volume(
    openstack: OpenStackCLI, state: Path, virt: Any
) -> None:
    """The root volume is the guest's vda (no instance disk on the host), booted with the kernel and ramdisk the
    image behind the volume names; both servers are built at once."""
    made = ["server", "create", "--image", IMAGE, "--boot-from-volume", "1", "--delete-on-termination", "--flavor",
            "m1.tiny", "--nic", "none", "bfv-new"]
    existing = ["server", "create", "--volume", "vol-image", "--flavor", "m1.tiny", "--nic", "none", "bfv-existing"]
    servers = {"bfv-new": openstack.json(*made), "bfv-existing": openstack.json(*existing)}
    for name, server in servers.items():
        shown = wait_for(lambda name=name: (s := openstack.json("server", "show", name))["status"] != "BUILD" and s,
                         120, f"{name} to be built", every=2)
        assert shown["status"] == "ACTIVE", shown.get("fault")
        [attached] = shown["volumes_attached"]
        log = console(openstack, name, lambda log: READY_LINE.search(log), f"{name} to boot")
        assert f"twinstack-guest: hostname {name}" in log and disks_seen(log) == {"vda": 1024}
        xml = virt.lookupByName(f"twinstack-{server['id']}").XMLDesc(0)
        [path] = list((state / "volumes").glob(f"*/volume-{attached['id']}.qcow2"))
        assert f"<source file='{path}'" in xml.replace('"', "'") and f"<serial>{attached['id']}</serial>" in xml
        assert not (state / "instances" / server["id"] / "disk").exists(), "no instance disk: the volume is the root"
        servers[name] = {**server, "volume": attached["id"]}
    assert servers["bfv-existing"]["volume"] == openstack.json("volume", "show", "vol-image")["id"]
    for name in servers:
        openstack.run("server", "delete", "--wait", name)
    wait_status(openstack, "vol-image", "available")
    new_volume = servers["bfv-new"]["volume"]  # made for the server, deleted with it (--delete-on-termination)
    wait_for(lambda: new_volume not in {v["ID"] for v in openstack.json("volume", "list")}, 60,
             "the server's own volume to go with it", every=1)
    assert not list((state / "volumes").glob(f"*/volume-{new_volume}.qcow2"))


def test_deleting_everything_leaves_no_volume_snapshot_or_instance_file(openstack: OpenStackCLI, state: Path) -> None:
    assert volume_files(state), "the module made files to remove"
    openstack.run("server", "delete", "--wait", SERVER)
    openstack.run("volume", "snapshot", "delete", "snap-a")
    wait_for(lambda: not openstack.json("volume", "snapshot", "list"), 60, "the snapshot to go", every=1)
    for name in ("vol-a", "vol-clone", "vol-image", "vol-restored"):
        openstack.run("volume", "delete", name)
    wait_for(lambda: not openstack.json("volume", "list"), 60, "the volumes to go", every=1)
    openstack.run("image", "delete", SNAPSHOT_IMAGE)
    assert wait_for(lambda: volume_files(state) == [], 30, "no volume file left") is True
    assert list((state / "instances").iterdir()) == []
    assert not (state / "snapshots").exists() or list((state / "snapshots").iterdir()) == []
