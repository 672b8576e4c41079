"""The real host's storage pieces: qemu-img argument lists, the allow-list, volume disk XML, the qcow2 files a
back end keeps (real qemu-img, no libvirt) and the back end answering the block storage protocol over a bus."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from tests.real.conftest import state_dir, wait_for
from twinstack.config import VolumeBackendSettings
from twinstack.real import disks, privileged
from twinstack.real.domain_xml import DomainSpec, VolumeDisk, domain_xml
from twinstack.real.image_cache import FileStores, ImageCache
from twinstack.real.libvirt_host import LibvirtHost
from twinstack.real.nbd_exports import NbdExports
from twinstack.real.storage_agent import RealStorageAgent, file_backends, find_volume, pool_report
from twinstack.real.volume_files import (
    GIB,
    VolumeFileError,
    VolumeFiles,
    convert_args,
    create_args,
    qcow2_virtual_size,
    resize_args,
)
from twinstack.real.volume_xml import (
    NbdSource,
    disk_of,
    free_target,
    repointed,
    taken_devices,
    target_for,
    volume_disk_xml,
)
from twinstack.rpc.bus import send
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Message, open_envelope
from twinstack.rpc.volume import (
    VOLUME_TOPIC,
    ConnectVolume,
    CreateSnapshot,
    CreateVolume,
    DeleteSnapshot,
    DeleteVolume,
    ExtendVolume,
    HostVolumeResult,
    MigrateVolume,
    PoolsReported,
    StorageResult,
    UnexportVolume,
    VolumeExported,
    connect_topic,
    host_volumes_topic,
    storage_topic,
)
from twinstack.sim.runtime import LiveRuntime

DOMAIN = """<domain type='qemu'><name>twinstack-x</name><devices>
  <disk type='file' device='disk'><source file='/s/instances/x/disk'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='disk'><source file='/s/volumes/ssd/volume-a.qcow2'/><target dev='vdb' bus='virtio'/>
  </disk>
</devices></domain>"""


# argument lists and the allow-list


def test_qemu_img_argument_lists() -> None:
    assert create_args(Path("/v/volume-1.qcow2"), 2) == ["qemu-img", "create", "-f", "qcow2", "/v/volume-1.qcow2", "2G"]
    assert convert_args(Path("/i/disk"), "qcow2", Path("/v/snap.qcow2")) == [
        "qemu-img",
        "convert",
        "-U",
        "-f",
        "qcow2",
        "-O",
        "qcow2",
        "/i/disk",
        "/v/snap.qcow2",
    ]
    assert convert_args(Path("/b/img"), "raw", Path("/o"), "raw")[4:7] == ["raw", "-O", "raw"]
    assert resize_args(Path("/v/volume-1.qcow2"), 3) == ["qemu-img", "resize", "-f", "qcow2", "/v/volume-1.qcow2", "3G"]


def test_the_allow_list_lets_every_storage_command_through_and_nothing_else() -> None:
    for argv in (create_args(Path("/v"), 1), convert_args(Path("/a"), "qcow2", Path("/b")), resize_args(Path("/v"), 2),
                 ["qemu-nbd", "--fork", "--persistent", "--port=10809", "/v"]):
        privileged.check_allowed(argv)
    for refused in (
        ["qemu-img", "commit", "/v"],
        ["qemu-img", "rebase", "-b", "/x", "/v"],
        ["rm", "-rf", "/v"],
        ["qemu-nbd", "/v"],
        ["qemu-nbd", "-c", "/dev/nbd0", "/v"],
    ):
        with pytest.raises(privileged.CommandRefused):
            privileged.check_allowed(refused)


# disk XML


def test_a_volume_disk_is_a_virtio_qcow2_file_with_the_volume_id_as_serial() -> None:
    disk = ET.fromstring(volume_disk_xml(Path("/s/volumes/ssd/volume-v1.qcow2"), "vdc", "v1"))
    assert (disk.tag, disk.get("type"), disk.get("device")) == ("disk", "file", "disk")
    assert disk.find("driver").attrib == {"name": "qemu", "type": "qcow2", "cache": "none"}  # type: ignore[union-attr]
    assert disk.find("source").get("file") == "/s/volumes/ssd/volume-v1.qcow2"  # type: ignore[union-attr]
    assert disk.find("target").attrib == {"dev": "vdc", "bus": "virtio"}  # type: ignore[union-attr]
    assert disk.findtext("serial") == "v1"


def test_the_target_is_the_mountpoint_unless_taken_then_the_next_free_vd_name() -> None:
    assert taken_devices(DOMAIN) == {"vda", "vdb"}
    assert target_for("/dev/vdc", DOMAIN) == "vdc"
    assert target_for("/dev/vdb", DOMAIN) == "vdc", "vdb is taken: the next free name"
    assert target_for("/dev/sdb", DOMAIN) == "vdc", "only virtio names are honoured"


def test_the_disk_to_detach_is_found_by_its_file() -> None:
    found = disk_of(DOMAIN, Path("/s/volumes/ssd/volume-a.qcow2"))
    assert found is not None and ET.fromstring(found).find("target").get("dev") == "vdb"  # type: ignore[union-attr]
    assert disk_of(DOMAIN, Path("/s/volumes/ssd/volume-b.qcow2")) is None


# files


def test_a_volume_of_another_host_is_a_raw_network_disk_on_its_nbd_export() -> None:
    disk = ET.fromstring(volume_disk_xml(NbdSource("127.0.0.2", 10809, "volume-v1"), "vdc", "v1"))
    assert (disk.get("type"), disk.get("device")) == ("network", "disk")
    assert disk.find("driver").attrib == {"name": "qemu", "type": "raw", "cache": "none"}  # type: ignore[union-attr]
    source = disk.find("source")
    assert source is not None and source.attrib == {"protocol": "nbd", "name": "volume-v1"}
    assert source.find("host").attrib == {"name": "127.0.0.2", "port": "10809"}  # type: ignore[union-attr]
    assert (disk.find("target").get("dev"), disk.findtext("serial")) == ("vdc", "v1")  # type: ignore[union-attr]
    assert disk.find("readonly") is None
    read_only = ET.fromstring(volume_disk_xml(NbdSource("127.0.0.2", 10809, "volume-v1", True), "vdc", "v1"))
    assert read_only.find("readonly") is not None, "an 'ro' attachment's disk is read-only in the guest"


def test_a_network_disk_to_detach_is_found_by_its_export_name_wherever_it_is_served_from() -> None:
    network = volume_disk_xml(NbdSource("127.0.0.2", 10809, "volume-n"), "vdc", "n")
    domain = DOMAIN.replace("</devices>", f"{network}</devices>")
    found = disk_of(domain, NbdSource("", 0, "volume-n"))
    assert found is not None and "protocol=\"nbd\"" in found
    assert disk_of(domain, NbdSource("", 0, "volume-a")) is None, "a file's name is no export's"
    assert disk_of(domain, Path("/s/volumes/ssd/volume-a.qcow2")) is not None


def test_a_network_disk_is_repointed_at_where_its_export_is_served_now_and_nothing_else_changes() -> None:
    """A guest kept on its host while it ran elsewhere (a move reverted) follows its volume's export, served again
    on another port; a definition already right, or without that export, is left as it is."""
    network = volume_disk_xml(NbdSource("127.0.0.2", 10809, "volume-n"), "vdc", "n")
    domain = DOMAIN.replace("</devices>", f"{network}</devices>")
    changed = repointed(domain, NbdSource("127.0.0.2", 10812, "volume-n"))
    assert changed is not None
    hosts = [h.attrib for h in ET.fromstring(changed).iter("host")]
    assert hosts == [{"name": "127.0.0.2", "port": "10812"}]
    assert disk_of(changed, Path("/s/instances/x/disk")) is not None, "the other disks stay"
    assert repointed(changed, NbdSource("127.0.0.2", 10812, "volume-n")) is None, "already there"
    assert repointed(domain, NbdSource("127.0.0.2", 10812, "volume-other")) is None


def test_a_root_volume_of_another_host_connected_before_the_domain_is_its_network_boot_disk(
    tmp_path: Path, virt: Any
) -> None:
    """Booting from (or moving to a host without) the back end of the root volume: its export, noted before the
    domain exists, becomes the domain's vda; connected again (served anew on another port) it keeps its device."""
    host = LibvirtHost(virt, tmp_path, ImageCache(tmp_path / "_base", FileStores([])), "qemu")  # no domain i-2
    root = NbdSource("127.0.0.2", 10809, "volume-r")
    assert host.attach_volume("i-2", root, "/dev/vda", "r") == "/dev/vda"
    again = NbdSource("127.0.0.2", 10811, "volume-r")
    assert host.attach_volume("i-2", again, "/dev/vda", "r") == "/dev/vda"
    assert host.connected_volumes("i-2") == [VolumeDisk(again, "vda", "r")]
    spec = DomainSpec("i-2", "qemu", 1, 128, again, tmp_path / "console.log", root_serial="r")
    [disk] = [d for d in ET.fromstring(domain_xml(spec)).findall("devices/disk")
              if d.find("target").get("dev") == "vda"]  # type: ignore[union-attr]
    assert (disk.get("type"), disk.findtext("serial")) == ("network", "r")
    assert disk.find("source/host").attrib == {"name": "127.0.0.2", "port": "10811"}  # type: ignore[union-attr]
    host.detach_volume("i-2", NbdSource("", 0, "volume-r"))  # let go before any domain: by its export's name
    assert host.connected_volumes("i-2") == []


def nbd_size(address: str, port: int, name: str) -> int:
    """The size a client sees of the export (qemu-img over NBD, as a guest's QEMU connects)."""
    shown = json.loads(privileged.run(["qemu-img", "info", "--output=json", f"nbd://{address}:{port}/{name}"]))
    return int(shown["virtual-size"])


def test_an_export_serves_the_volume_until_stopped_and_again_on_its_port_after_its_server_died() -> None:
    state = state_dir()
    files = VolumeFiles(state / "volumes")
    try:
        files.create_blank("v1", 1)
        (state / "one").write_bytes(b"x" * 512)
        exports = NbdExports(state / "nbd", "127.0.0.2", range(40900, 40999))
        export = exports.export("att-1", "v1", files.volume("v1"))
        assert nbd_size("127.0.0.2", export.port, "volume-v1") == GIB
        assert exports.export("att-1", "v1", files.volume("v1")) == export, "asked again: the same export"
        with pytest.raises(privileged.CommandFailed, match="lock"):
            exports.export("att-2", "v1", files.volume("v1"))  # a second writer of the same file: refused
        assert [e.attachment_id for e in exports.exports()] == ["att-1"]
        pidfile = state / "nbd" / "att-1.pid"
        assert privileged.signal_pidfile(pidfile, signal.SIGKILL, "qemu-nbd")  # the server dies
        wait_for(lambda: not exports.running("att-1"), 10, "the server to die")
        restarted = NbdExports(state / "nbd", "127.0.0.2", range(40900, 40999))  # the agent starts again
        assert restarted.reconcile() == ["att-1"]
        assert nbd_size("127.0.0.2", export.port, "volume-v1") == GIB, "the address the attachment has holds"
        assert restarted.unexport("att-1") and restarted.exports() == []
        assert not restarted.unexport("att-1"), "stopped again: nothing to do"
        read_only = restarted.export("att-ro", "v1", files.volume("v1"), read_only=True)
        assert read_only.connection_info()["data"]["access_mode"] == "ro"  # type: ignore[index]
        with pytest.raises(privileged.CommandFailed):  # the export refuses a write
            privileged.run(["qemu-img", "convert", "-n", "-O", "raw", "-f", "raw", str(state / "one"),
                            f"nbd://127.0.0.2:{read_only.port}/volume-v1"])
        assert restarted.unexport("att-ro")
    finally:
        for pidfile in (state / "nbd").glob("*.pid"):
            privileged.signal_pidfile(pidfile, signal.SIGTERM, "qemu-nbd")
        shutil.rmtree(state, ignore_errors=True)


def test_the_virtual_size_comes_from_the_qcow2_header(tmp_path: Path) -> None:
    fake = tmp_path / "f.qcow2"
    fake.write_bytes(b"QFI\xfb" + bytes(20) + struct.pack(">Q", 5 * GIB) + bytes(100))
    assert qcow2_virtual_size(fake) == 5 * GIB
    (tmp_path / "raw").write_bytes(bytes(64))
    with pytest.raises(VolumeFileError):
        qcow2_virtual_size(tmp_path / "raw")


@pytest.fixture
def files() -> Iterator[VolumeFiles]:
    state = state_dir()
    yield VolumeFiles(state / "volumes" / "ssd")
    shutil.rmtree(state, ignore_errors=True)


def test_volume_files_blank_copy_extend_snapshot_and_delete(files: VolumeFiles) -> None:
    blank = files.create_blank("v1", 1)
    assert (blank.name, disks.virtual_size(blank), disks.image_format(blank)) == ("volume-v1.qcow2", GIB, "qcow2")
    assert files.create_blank("v1", 1) == blank, "a repeated create is done already"
    files.extend("v1", 2)
    assert qcow2_virtual_size(blank) == 2 * GIB
    snapshot = files.create_snapshot("s1", "v1")
    assert qcow2_virtual_size(snapshot) == 2 * GIB
    clone = files.create_copy("v2", files.volume("v1"), "qcow2", 3)
    from_snapshot = files.create_copy("v3", snapshot, "qcow2", 2)
    assert (qcow2_virtual_size(clone), qcow2_virtual_size(from_snapshot)) == (3 * GIB, 2 * GIB)
    info = json.loads(privileged.run(["qemu-img", "info", "--output=json", str(clone)]))
    assert "backing-filename" not in info, "a copy stands alone"
    assert files.capacity().provisioned_gb == 2 + 2 + 3 + 2
    for volume_id in ("v1", "v2", "v3", "v3"):
        files.delete_volume(volume_id)
    files.delete_snapshot("s1")
    assert files.files() == [] and list(files.directory.iterdir()) == []


def test_a_failed_copy_leaves_nothing_and_ids_cannot_leave_the_directory(files: VolumeFiles) -> None:
    with pytest.raises(VolumeFileError):
        files.create_copy("v9", files.volume("missing"), "qcow2", 1)
    files.directory.mkdir(parents=True, exist_ok=True)
    broken = files.directory / "not-an-image"
    broken.write_bytes(b"garbage")
    with pytest.raises(privileged.CommandFailed):
        files.create_copy("v9", broken, "qcow2", 1)
    assert sorted(p.name for p in files.directory.iterdir()) == ["not-an-image"]
    for bad in ("../escape", "", ".hidden"):
        with pytest.raises(VolumeFileError):
            files.volume(bad)


def test_a_back_end_reports_its_file_system_thin_with_what_its_files_promise(files: VolumeFiles) -> None:
    files.create_blank("v1", 4)
    settings = VolumeBackendSettings(
        name="ssd",
        volume_backend_name="fast",
        max_over_subscription_ratio=3.0,
        reserved_percentage=5,
        capabilities={"tier": "gold"},
    )
    [backend] = file_backends("host-1", [settings], files.directory.parent)
    usage = shutil.disk_usage(files.directory)
    report = pool_report(backend)
    assert (report.name, report.volume_backend_name) == ("host-1@ssd#fast", "fast")
    assert (report.total_capacity_gb, report.free_capacity_gb) == (usage.total // GIB, usage.free // GIB)
    assert report.provisioned_capacity_gb == 4
    assert report.thin_provisioning_support and not report.thick_provisioning_support
    assert (report.max_over_subscription_ratio, report.reserved_percentage) == (3.0, 5)
    assert report.capabilities == {"storage_protocol": "local", "driver": "qcow2", "tier": "gold"}
    assert find_volume([backend], "v1") == files.volume("v1") and find_volume([backend], "v2") is None


# the back end over the bus


def test_the_back_end_answers_the_storage_protocol_over_a_bus(tmp_path: Path) -> None:
    state = state_dir()
    store = tmp_path / "images"
    store.mkdir()
    disks.create_blank(store / "img-1", 64)
    runtime = LiveRuntime()
    bus = InProcessBus(runtime)
    heard: queue.Queue[Message] = queue.Queue()
    bus.subscribe(VOLUME_TOPIC, lambda envelope: heard.put(open_envelope(envelope)))
    [backend] = file_backends("h", [VolumeBackendSettings(name="ssd", volume_backend_name="ssd")], state / "volumes")
    agent = RealStorageAgent(runtime, bus, [backend], ImageCache(state / "_base", FileStores([store])), 60)
    runtime.start()
    try:
        runtime.call_soon(agent.start)
        first = heard.get(timeout=10)
        assert isinstance(first, PoolsReported) and first.pools[0].name == "h@ssd#ssd"

        def ask(command: Message) -> StorageResult:
            runtime.call_soon(lambda: send(bus, storage_topic("h@ssd"), command))
            while True:
                answer = heard.get(timeout=60)
                if isinstance(answer, StorageResult):
                    return answer

        common = {"backend": "h@ssd", "pool": "h@ssd#ssd"}
        assert ask(CreateVolume(**common, volume_id="from-image", size_gb=1, source="image", source_id="img-1")).ok
        assert qcow2_virtual_size(backend.files.volume("from-image")) == GIB
        assert ask(CreateSnapshot(**common, volume_id="from-image", snapshot_id="s1", size_gb=1)).ok
        assert ask(CreateVolume(**common, volume_id="restored", size_gb=2, source="snapshot", source_id="s1")).ok
        assert ask(CreateVolume(**common, volume_id="clone", size_gb=1, source="volume", source_id="restored")).ok
        assert qcow2_virtual_size(backend.files.volume("clone")) == 2 * GIB, "a clone keeps its source's size"
        assert ask(ExtendVolume(**common, volume_id="clone", new_size_gb=3)).ok
        missing = ask(CreateVolume(**common, volume_id="orphan", size_gb=1, source="volume", source_id="gone"))
        assert not missing.ok and missing.resource_id == "orphan" and "gone" in (missing.fault or "")
        for volume_id in ("from-image", "restored", "clone"):
            assert ask(DeleteVolume(**common, volume_id=volume_id)).ok
        assert ask(DeleteSnapshot(**common, snapshot_id="s1")).ok
        assert backend.files.files() == []
    finally:
        agent.stop()
        runtime.stop()
        shutil.rmtree(state, ignore_errors=True)


def test_a_connect_for_another_host_is_exported_and_sent_on_to_that_host() -> None:
    state = state_dir()
    runtime = LiveRuntime()
    bus = InProcessBus(runtime)
    heard: queue.Queue[tuple[str, Message, str | None]] = queue.Queue()
    for topic in (VOLUME_TOPIC, host_volumes_topic("far"), "conductor"):
        bus.subscribe(topic, lambda envelope, topic=topic: heard.put((topic, open_envelope(envelope),
                                                                     envelope.reply_to)))
    [backend] = file_backends("h", [VolumeBackendSettings(name="ssd", volume_backend_name="ssd")], state / "volumes")
    exports = NbdExports(state / "nbd", "127.0.0.2", range(41000, 41099))
    agent = RealStorageAgent(runtime, bus, [backend], ImageCache(state / "_base", FileStores([])), 60,
                             exports=exports)
    backend.files.create_blank("v1", 1)
    runtime.start()

    def next_heard(kind: type[Message]) -> tuple[str, Any, str | None]:
        while True:
            topic, message, reply_to = heard.get(timeout=30)
            if isinstance(message, kind):
                return topic, message, reply_to

    try:
        runtime.call_soon(agent.start)
        command = ConnectVolume(host="far", instance_uuid="i1", volume_id="v1", attachment_id="att-1",
                                mountpoint="/dev/vdb", export_from="h@ssd",
                                connection_info={"driver_volume_type": "nbd", "data": {"access_mode": "rw"}})
        assert connect_topic(command) == storage_topic("h@ssd")
        runtime.call_soon(lambda: send(bus, connect_topic(command), command, reply_to="conductor"))
        _, exported, _ = next_heard(VolumeExported)
        topic, onward, reply_to = next_heard(ConnectVolume)
        assert (topic, reply_to, onward.command_id, onward.export_from) == (
            host_volumes_topic("far"), "conductor", command.command_id, None)
        data = onward.connection_info["data"]
        assert onward.connection_info == exported.connection_info and exported.attachment_id == "att-1"
        assert (data["host"], data["name"]) == ("127.0.0.2", "volume-v1")
        assert nbd_size(data["host"], data["port"], data["name"]) == GIB
        runtime.call_soon(lambda: send(bus, storage_topic("h@ssd"), UnexportVolume(
            backend="h@ssd", volume_id="v1", attachment_id="att-1")))
        wait_for(lambda: exports.exports() == [] and not exports.running("att-1"), 10, "the export to stop")
        missing = command.model_copy(update={"volume_id": "gone", "attachment_id": "att-2",
                                             "command_id": "c-missing"})
        runtime.call_soon(lambda: send(bus, connect_topic(missing), missing, reply_to="conductor"))
        topic, failed, _ = next_heard(HostVolumeResult)
        assert (topic, failed.command_id, failed.ok, failed.action) == ("conductor", "c-missing", False, "connect")
    finally:
        agent.stop()
        runtime.stop()
        for pidfile in (state / "nbd").glob("*.pid"):
            privileged.signal_pidfile(pidfile, signal.SIGTERM, "qemu-nbd")
        shutil.rmtree(state, ignore_errors=True)


def test_a_migration_moves_the_file_into_the_other_back_ends_directory() -> None:
    state = state_dir()
    runtime = LiveRuntime()
    bus = InProcessBus(runtime)
    heard: queue.Queue[Message] = queue.Queue()
    bus.subscribe(VOLUME_TOPIC, lambda envelope: heard.put(open_envelope(envelope)))
    ssd, hdd = file_backends("h", [VolumeBackendSettings(name="ssd", volume_backend_name="ssd"),
                                   VolumeBackendSettings(name="hdd", volume_backend_name="hdd")], state / "volumes")
    agent = RealStorageAgent(runtime, bus, [ssd, hdd], ImageCache(state / "_base", FileStores([])), 60)
    runtime.start()
    try:
        runtime.call_soon(agent.start)

        def ask(command: Message) -> StorageResult:
            runtime.call_soon(lambda: send(bus, storage_topic("h@ssd"), command))
            while True:
                answer = heard.get(timeout=60)
                if isinstance(answer, StorageResult):
                    return answer

        source = {"backend": "h@ssd", "pool": "h@ssd#ssd"}
        assert ask(CreateVolume(**source, volume_id="v1", size_gb=1)).ok
        moved = ask(MigrateVolume(**source, volume_id="v1", size_gb=1, dest_backend="h@hdd", dest_pool="h@hdd#hdd"))
        assert moved.ok and moved.operation == "migrate_volume"
        assert ssd.files.files() == [] and hdd.files.files() == [hdd.files.volume("v1")]
        assert qcow2_virtual_size(hdd.files.volume("v1")) == GIB
        nowhere = ask(MigrateVolume(**source, volume_id="v2", size_gb=1, dest_backend="h@hdd", dest_pool="h@hdd#hdd"))
        assert not nowhere.ok and hdd.files.files() == [hdd.files.volume("v1")]
    finally:
        agent.stop()
        runtime.stop()
        shutil.rmtree(state, ignore_errors=True)


def test_volumes_connected_before_the_spawn_become_the_domains_root_and_extra_disks(tmp_path: Path, virt: Any) -> None:
    """A volume-backed build: block storage connects the root (/dev/vda) and another volume before the spawn;
    the host notes them (no domain yet) and the domain it defines boots from the root volume."""
    host = LibvirtHost(virt, tmp_path, ImageCache(tmp_path / "_base", FileStores([])), "qemu")  # no domain i-1
    root, data = tmp_path / "volumes" / "volume-r.qcow2", tmp_path / "volumes" / "volume-d.qcow2"
    assert host.attach_volume("i-1", data, "/dev/vdb", "d") == "/dev/vdb"
    assert host.attach_volume("i-1", root, "/dev/vda", "r") == "/dev/vda"
    assert host.attach_volume("i-1", data, "/dev/vdb", "d") == "/dev/vdb", "a repeated connect changes nothing"
    assert host.connected_volumes("i-1") == [VolumeDisk(root, "vda", "r"), VolumeDisk(data, "vdb", "d")]
    spec = DomainSpec("i-1", "qemu", 1, 128, root, tmp_path / "console.log", root_serial="r",
                      volumes=(VolumeDisk(data, "vdb", "d"),))
    found = {d.find("target").get("dev"): d for d in ET.fromstring(domain_xml(spec)).findall("devices/disk")}  # type: ignore[union-attr]
    assert found["vda"].findtext("serial") == "r" and found["vda"].find("source").get("file") == str(root)  # type: ignore[union-attr]
    assert found["vdb"].findtext("serial") == "d" and found["vdb"].find("source").get("file") == str(data)  # type: ignore[union-attr]
    host.detach_volume("i-1", data)  # a build abandoned: its volumes are let go before any domain existed
    assert host.connected_volumes("i-1") == [VolumeDisk(root, "vda", "r")]
    assert free_target("/dev/vdb", {"vda", "vdb"}) == "vdc" and free_target("/dev/vda", set()) == "vda"
