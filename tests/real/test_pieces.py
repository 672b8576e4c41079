"""The real agent's pure pieces, without libvirt: initramfs, test image, domain XML, allow-list, host sync,
and the console-log seam as the simulated agent answers it (one seam, both agents)."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import libvirt
import pycdlib
import pytest

from tests.api.compute_helpers import Nova, running_plane
from tests.conftest import Api
from twinstack.compute_plane import ComputePlane
from twinstack.core.compute import states
from twinstack.core.compute.host_sync import plan_sync
from twinstack.core.compute.model import Instance
from twinstack.real import config_drive, initramfs, privileged, test_image, virt_probe
from twinstack.real.domain_xml import DirectBoot, DomainSpec, domain_name, domain_xml, instance_of
from twinstack.real.volume_xml import target_for
from twinstack.rpc.compute import FlavorSpec, HostInstances


def members(archive: bytes) -> dict[str, bytes]:
    """Parse a newc cpio (what the kernel does at boot): name -> data."""
    data, found, offset = gzip.decompress(archive), {}, 0
    while True:
        assert data[offset:offset + 6] == b"070701"
        fields = [int(data[offset + 6 + 8 * i: offset + 14 + 8 * i], 16) for i in range(13)]
        size, name_size = fields[6], fields[11]
        name_start = offset + 110
        name = data[name_start:name_start + name_size - 1].decode()
        body = name_start + name_size + (-(110 + name_size) % 4)
        if name == initramfs.TRAILER:
            return found
        found[name] = data[body:body + size]
        offset = body + size + (-size % 4)


def test_initramfs_is_a_newc_archive_the_kernel_can_unpack() -> None:
    archive = initramfs.initramfs([initramfs.directory("bin"), initramfs.file("bin/x", b"abc", executable=True),
                                   initramfs.symlink("bin/y", "x"), initramfs.char_device("dev/console", 5, 1)])
    assert members(archive) == {"bin": b"", "bin/x": b"abc", "bin/y": b"x", "dev/console": b""}
    assert archive == initramfs.initramfs([initramfs.directory("bin"), initramfs.file("bin/x", b"abc", True),
                                           initramfs.symlink("bin/y", "x"),
                                           initramfs.char_device("dev/console", 5, 1)])  # reproducible


def test_the_test_ramdisk_holds_busybox_and_loads_virtio_in_order() -> None:
    kernel = test_image.find_kernel()
    files = members(test_image.ramdisk(kernel))
    init = files["init"].decode()
    assert files["bin/busybox"] == Path("/bin/busybox").read_bytes()
    for module in test_image.VIRTIO_MODULES:
        assert files[f"lib/modules/{module}.ko"][:4] == b"\x7fELF"  # decompressed if it was .ko.xz
    assert "for m in " + " ".join(test_image.VIRTIO_MODULES) + "; do" in init
    assert "twinstack-guest: hostname $name" in init and "udhcpc -i eth0" in init
    for module in test_image.CONFIG_DRIVE_MODULES:  # this kernel keeps the CD-ROM and ISO 9660 as modules
        assert files[f"lib/modules/{module}.ko"][:4] == b"\x7fELF"
    assert "mount -t iso9660 -o ro /dev/sr0 /mnt/config" in init and "mnt/config" in files


def test_a_missing_module_is_a_loud_failure(tmp_path: Path) -> None:
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "vmlinuz-1.0").write_bytes(b"kernel")
    (tmp_path / "modules" / "1.0" / "kernel").mkdir(parents=True)
    (tmp_path / "modules" / "1.0" / "kernel" / "virtio.ko.xz").write_bytes(b"")
    with pytest.raises(test_image.TestImageError, match="lacks modules"):
        test_image.find_kernel(tmp_path / "boot", tmp_path / "modules")


def test_domain_xml_boots_kernel_and_ramdisk_with_a_logged_serial_console() -> None:
    spec = DomainSpec("0b6f0e1c-9d0c-4b8e-8f3e-2d7c7d3c9a11", "qemu", 2, 512, Path("/s/instances/u/disk"),
                      Path("/s/instances/u/console.log"),
                      DirectBoot(Path("/k"), Path("/r"), "console=ttyS0 hostname=a"))
    domain = ET.fromstring(domain_xml(spec))
    assert domain.get("type") == "qemu"
    assert domain.findtext("name") == domain_name(spec.instance_uuid)
    assert instance_of(domain_name(spec.instance_uuid)) == spec.instance_uuid and instance_of("other") is None
    assert domain.findtext("uuid") == spec.instance_uuid  # the guest's SMBIOS uuid is the server's id
    assert (domain.findtext("vcpu"), domain.findtext("memory")) == ("2", "512")
    assert (domain.findtext("os/kernel"), domain.findtext("os/initrd")) == ("/k", "/r")
    assert domain.findtext("os/cmdline") == "console=ttyS0 hostname=a"
    assert domain.find("devices/disk/source").get("file") == "/s/instances/u/disk"  # type: ignore[union-attr]
    assert domain.find("devices/serial/log").get("file") == "/s/instances/u/console.log"  # type: ignore[union-attr]
    assert domain.find("devices/interface") is None  # no NIC until networking plugs VIFs
    assert domain.find("devices/disk[@device='cdrom']") is None  # no config drive unless given


def test_a_second_agent_on_the_same_libvirt_names_its_domains_and_uuids_apart() -> None:
    """During a move between two agents sharing one libvirt both copies are defined at once: one libvirt holds
    each name and each UUID once."""
    spec = DomainSpec("0b6f0e1c-9d0c-4b8e-8f3e-2d7c7d3c9a11", "qemu", 1, 256, Path("/s/b/disk"),
                      Path("/s/b/console.log"), name_prefix="twinstack-b-")
    domain = ET.fromstring(domain_xml(spec))
    assert domain.findtext("name") == "twinstack-b-0b6f0e1c-9d0c-4b8e-8f3e-2d7c7d3c9a11"
    assert domain.findtext("uuid") not in (None, spec.instance_uuid)
    assert domain.findtext("uuid") == ET.fromstring(domain_xml(spec)).findtext("uuid"), "derived, not random"
    assert instance_of(domain.findtext("name") or "", "twinstack-b-") == spec.instance_uuid


def test_the_config_drive_is_a_read_only_ide_cdrom_so_volumes_keep_their_virtio_names() -> None:
    spec = DomainSpec("0b6f0e1c-9d0c-4b8e-8f3e-2d7c7d3c9a11", "qemu", 1, 256, Path("/s/i/u/disk"),
                      Path("/s/i/u/console.log"), config_drive=Path("/s/i/u/disk.config"))
    cdrom = ET.fromstring(domain_xml(spec)).find("devices/disk[@device='cdrom']")
    assert cdrom is not None and cdrom.find("readonly") is not None
    assert cdrom.find("source").get("file") == "/s/i/u/disk.config"  # type: ignore[union-attr]
    assert cdrom.find("target").attrib == {"dev": "hdd", "bus": "ide"}  # type: ignore[union-attr]
    assert target_for("/dev/vdb", domain_xml(spec)) == "vdb"


def read_iso(path: Path) -> tuple[str, dict[str, bytes]]:
    """The volume label and every file by its Rock Ridge path, as a guest's kernel reads them."""
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        label = iso.pvd.volume_identifier.decode().strip()
        files = {}
        for directory, _subdirs, names in iso.walk(rr_path="/"):
            for name in names:
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, rr_path=f"{directory.rstrip('/')}/{name}")
                files[f"{directory.rstrip('/')}/{name}"] = out.getvalue()
        return label, files
    finally:
        iso.close()


def test_the_config_drive_carries_nova_s_metadata_and_the_decoded_user_data(tmp_path: Path) -> None:
    script = b"#!/bin/sh\necho hello\n"
    instance = config_drive.InstanceMetadata("u-1", "Web 1", "web-1", {"ping": "10.0.0.6"},
                                             base64.b64encode(script).decode(), "ssh-ed25519 AAAA k")
    config_drive.write(instance, tmp_path / "disk.config")
    label, files = read_iso(tmp_path / "disk.config")
    assert label == "config-2"
    assert set(files) == {"/openstack/latest/meta_data.json", "/openstack/latest/user_data"}
    assert files["/openstack/latest/user_data"] == script
    meta = json.loads(files["/openstack/latest/meta_data.json"])
    assert (meta["uuid"], meta["name"], meta["hostname"], meta["meta"]) == ("u-1", "Web 1", "web-1",
                                                                            {"ping": "10.0.0.6"})
    assert meta["public_keys"] == {"default": "ssh-ed25519 AAAA k"}
    config_drive.write(config_drive.InstanceMetadata("u-2", "b", "b"), tmp_path / "disk.config")  # replaced
    assert set(read_iso(tmp_path / "disk.config")[1]) == {"/openstack/latest/meta_data.json"}
    assert (tmp_path / "disk.config").stat().st_mode & 0o444 == 0o444  # QEMU's user reads it


def test_only_allowed_commands_run() -> None:
    with pytest.raises(privileged.CommandRefused):
        privileged.run(["rm", "-rf", "/"])
    with pytest.raises(privileged.CommandRefused):
        privileged.run(["qemu-img", "commit", "disk"])
    with pytest.raises(privileged.CommandFailed):
        privileged.run(["qemu-img", "info", "/nonexistent"])


def _instance(uuid: str, vm_state: str, power: int = states.RUNNING, task: str | None = None) -> Instance:
    flavor = FlavorSpec(id="1", name="m1.tiny", vcpus=1, ram_mb=512, disk_gb=1)
    return Instance(uuid=uuid, name=uuid, project_id="p", user_id="u", flavor=flavor, vm_state=vm_state,
                    task_state=task, power_state=power, host="h1", image=None, created_at=0.0, updated_at=0.0)


def test_host_sync_settles_every_record_against_what_the_host_holds() -> None:
    report = HostInstances(agent="a", host="h1", instances={"built": 1, "half": 0, "stray": 1, "off": 4,
                                                             "busy": 1})
    records = [_instance("built", states.BUILDING, 0, states.SPAWNING), _instance("half", states.BUILDING, 0),
               _instance("gone", states.ACTIVE), _instance("off", states.ACTIVE),
               _instance("busy", states.BUILDING, 0), _instance("deleting", states.ACTIVE, task=states.DELETING)]
    plan = plan_sync(report, records, in_flight={"busy"}, now=5.0)
    saved = {i.uuid: (i.vm_state, i.task_state, i.power_state) for i in plan.save}
    assert plan.destroy == ["stray"]
    assert plan.redo_delete == ["deleting"]
    assert saved == {"built": (states.ACTIVE, None, 1), "half": (states.ERROR, None, 0),
                     "gone": (states.ERROR, None, 0), "off": (states.STOPPED, None, 4)}
    assert "restarted" in records[1].fault.message  # type: ignore[union-attr]


@pytest.fixture
def plane(api: Api) -> Iterator[ComputePlane]:
    yield from running_plane(api.cloud)


def test_console_output_through_the_api_from_a_simulated_host(api: Api, plane: ComputePlane) -> None:
    nova = Nova(api)
    server = nova.boot("console-me")
    nova.wait_for(server["id"], "ACTIVE")
    whole = nova.action(server["id"], {"os-getConsoleOutput": {}})
    assert whole.status_code == 200
    assert "twinstack-guest: ready" in whole.json()["output"]
    tail = nova.action(server["id"], {"os-getConsoleOutput": {"length": 1}}).json()["output"]
    assert tail == "twinstack-guest: ready\n"
    assert nova.action(server["id"], {"os-getConsoleOutput": {"length": "x"}}).status_code == 400


class _VanishedProbe:
    """Another agent's probe domain, ended between the listing and the look at it."""

    def name(self) -> str:
        return virt_probe.PROBE_PREFIX + "84e429f8-e7d9-4a85-840b-1ddb537b767b"

    def XMLDesc(self, _flags: int) -> str:  # noqa: N802  (libvirt's name)
        gone = libvirt.libvirtError("Domain not found: no domain with matching uuid")
        gone.err = (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_QEMU, "Domain not found", 2, "", None, None, -1, -1)
        raise gone

    def destroy(self) -> None:
        raise AssertionError("not ours to destroy")


class _Listing:
    def listAllDomains(self, _flags: int) -> list[_VanishedProbe]:  # noqa: N802  (libvirt's name)
        return [_VanishedProbe()]


def test_another_agents_probe_ending_meanwhile_does_not_stop_the_start(tmp_path: Path) -> None:
    """Two agents of one libvirtd starting together: one's transient probe may end while the other looks for old
    probes of its own (this stopped an agent from starting in a full test run)."""
    virt_probe._remove_old_probes(_Listing(), tmp_path)
