"""The pure pieces of rebuild and live migration on real hosts: domain definition edits and the save image's header.

The save image is built here the way libvirt's QEMU driver lays it out (twinstack.real.save_image), with a
stand-in for QEMU's migration stream: an edit must change the definition and leave every byte of the stream.
"""

from __future__ import annotations

import struct
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from twinstack.real import save_image
from twinstack.real.domain_edits import console_log, files_under, moved, with_boot
from twinstack.real.domain_xml import DirectBoot, DomainSpec, Nic, domain_xml

UUID = "6f1f0b43-5c57-4bd0-9c0b-7b1d2a0e6f11"
SOURCE = Path("/var/lib/a/instances") / UUID
DEST = Path("/var/lib/b/instances") / UUID


def definition(boot: DirectBoot | None = DirectBoot(Path("/var/lib/a/_base/k"), Path("/var/lib/a/_base/r"),
                                                   "console=ttyS0 hostname=x")) -> str:
    return domain_xml(DomainSpec(UUID, "qemu", 1, 128, SOURCE / "disk", SOURCE / "console.log", boot,
                                 (Nic("fa:16:3e:00:00:01", "br-1", "tap-1"),), config_drive=SOURCE / "disk.config"))


def test_a_rebuild_changes_only_what_the_domain_boots() -> None:
    before = ET.fromstring(definition())
    after = ET.fromstring(with_boot(definition(), DirectBoot(Path("/c/k2"), None, "console=ttyS0 new")))
    assert [after.findtext(f"os/{t}") for t in ("kernel", "initrd", "cmdline")] == ["/c/k2", None, "console=ttyS0 new"]
    devices = [d.find("devices") for d in (after, before)]
    assert [ET.tostring(d) for d in devices if d is not None] == [ET.tostring(devices[1])] * 2  # type: ignore[arg-type]
    whole_disk = ET.fromstring(with_boot(definition(), None))
    assert whole_disk.find("os/kernel") is None and whole_disk.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]


def test_a_moved_guest_takes_the_destinations_name_uuid_paths_kernel_and_bridges_and_continues_its_log() -> None:
    xml = moved(definition(), "b-" + UUID, "0d7b0a55-0000-4000-8000-000000000000", SOURCE, DEST,
                DirectBoot(Path("/var/lib/b/_base/k"), Path("/var/lib/b/_base/r"), "ignored"),
                {"fa:16:3e:00:00:01": "br-b-1"})
    domain = ET.fromstring(xml)
    assert domain.find("devices/interface/source").get("bridge") == "br-b-1"  # type: ignore[union-attr]
    assert domain.find("devices/interface/target").get("dev") == "tap-1"  # type: ignore[union-attr]
    assert (domain.findtext("name"), domain.findtext("uuid")) == ("b-" + UUID, "0d7b0a55-0000-4000-8000-000000000000")
    assert files_under(xml, SOURCE) == []
    assert sorted(p.name for p in files_under(xml, DEST)) == ["console.log", "disk", "disk.config"]
    assert domain.findtext("os/kernel") == "/var/lib/b/_base/k"
    assert domain.findtext("os/cmdline") == "console=ttyS0 hostname=x", "the command line it booted with stays"
    assert domain.find("devices/serial/log").get("append") == "on"  # type: ignore[union-attr]
    truncated = ET.fromstring(console_log(xml, append=False))
    assert truncated.find("devices/serial/log").get("append") == "off"  # type: ignore[union-attr]


def image(path: Path, xml: str, cookie: bytes, stream: bytes, room: int = 4096) -> None:
    data = xml.encode() + b"\0"
    offset = len(data)
    data = (data + cookie + b"\0").ljust(room, b"\0")
    fields = [2, room, 1, 0, offset] + [0] * 14
    path.write_bytes(b"LibvirtQemudSave" + struct.pack("<19I", *fields) + data + stream)


def test_a_save_image_takes_another_definition_in_place_and_keeps_its_stream_and_cookie(tmp_path: Path) -> None:
    path, stream = tmp_path / "state", b"QEVM" + bytes(range(256)) * 64
    image(path, definition(), b"<cookie><cpu/></cookie>", stream)
    assert save_image.domain_xml(path) == definition()
    original = save_image.header(path)
    new = moved(definition(), "b-" + UUID, UUID, SOURCE, DEST, None)
    save_image.rewrite(path, new)
    assert save_image.domain_xml(path) == new
    data = path.read_bytes()
    assert data.endswith(stream) and len(data) == save_image.HEADER_SIZE + 4096 + len(stream)
    offset = struct.unpack("<19I", data[16:92])[4]
    assert data[92 + offset:].startswith(b"<cookie><cpu/></cookie>\0")
    save_image.put_back(path, original)
    assert save_image.domain_xml(path) == definition()


def test_a_save_image_refuses_what_it_does_not_know_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "state"
    image(path, definition(), b"<cookie/>", b"QEVM", room=len(definition()) + 16)
    before = path.read_bytes()
    with pytest.raises(save_image.SaveImageError, match="does not fit"):
        save_image.rewrite(path, definition() + "<!--" + "x" * 64 + "-->")
    assert path.read_bytes() == before
    path.write_bytes(b"LibvirtQemudPart" + before[16:])  # libvirt's mark of an image it never finished
    with pytest.raises(save_image.SaveImageError, match="not a complete"):
        save_image.domain_xml(path)
