"""Libvirt ``<disk>`` XML for a volume attached to a guest, and reading a domain's disks: pure, no libvirt.

A volume is a qcow2 file attached as a virtio-blk disk at the device the control plane chose (``/dev/vdb``,
Nova's mountpoint), with the volume's id as its serial (what Nova sets: the guest finds the volume under
``/dev/disk/by-id/virtio-<id>``). A device name already taken in the domain moves to the next free ``vdX``.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from xml.etree import ElementTree as ET

VIRTIO_NAME = re.compile(r"^vd[a-z]+$")


class NoFreeDevice(Exception):
    """Every ``vdX`` name is taken in the domain."""


def volume_disk_xml(path: Path, target_dev: str, serial: str) -> str:
    disk = ET.Element("disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="qcow2", cache="none")
    ET.SubElement(disk, "source", file=str(path))
    ET.SubElement(disk, "target", dev=target_dev, bus="virtio")
    ET.SubElement(disk, "serial").text = serial
    return ET.tostring(disk, encoding="unicode")


def _disks(domain_xml: str) -> list[ET.Element]:
    return ET.fromstring(domain_xml).findall("./devices/disk")


def taken_devices(domain_xml: str) -> set[str]:
    targets = (disk.find("target") for disk in _disks(domain_xml))
    return {target.get("dev", "") for target in targets if target is not None} - {""}


def target_for(mountpoint: str, domain_xml: str) -> str:
    """The device to attach at: the mountpoint's name (``/dev/vdc`` -> ``vdc``) when it is a free virtio name,
    else the first free ``vdX`` after the root disk."""
    return free_target(mountpoint, taken_devices(domain_xml))


def free_target(mountpoint: str, taken: set[str]) -> str:
    """:func:`target_for` over the set of devices already taken."""
    wanted = mountpoint.rsplit("/", 1)[-1]
    if VIRTIO_NAME.match(wanted) and wanted not in taken:
        return wanted
    for letter in string.ascii_lowercase[1:]:
        if f"vd{letter}" not in taken:
            return f"vd{letter}"
    raise NoFreeDevice("no free vdX device is left in the domain")


def disk_of(domain_xml: str, path: Path) -> str | None:
    """The ``<disk>`` element whose source is ``path`` (what detaching it needs), None when none is."""
    for disk in _disks(domain_xml):
        source = disk.find("source")
        if source is not None and source.get("file") == str(path):
            return ET.tostring(disk, encoding="unicode").strip()
    return None
