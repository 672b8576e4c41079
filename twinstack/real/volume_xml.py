"""Libvirt ``<disk>`` XML for a volume attached to a guest, and reading a domain's disks: pure, no libvirt.

A volume is a qcow2 file of this host's back ends, or an NBD export of another host's back end (a network disk,
raw: the exporting qemu-nbd reads the qcow2 file), attached as a virtio-blk disk at the device the control plane
chose (``/dev/vdb``, Nova's mountpoint), with the volume's id as its serial (what Nova sets: the guest finds the
volume under ``/dev/disk/by-id/virtio-<id>``). A device name already taken in the domain moves to the next free
``vdX``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

VIRTIO_NAME = re.compile(r"^vd[a-z]+$")


class NoFreeDevice(Exception):
    """Every ``vdX`` name is taken in the domain."""


@dataclass(frozen=True)
class NbdSource:
    """A volume exported over NBD by another host's back end: where, and the export's name (``volume-<id>``)."""

    host: str
    port: int
    name: str
    read_only: bool = False
    """an 'ro' attachment (its export refuses writes): the guest's disk is read-only too"""


VolumeSource = Path | NbdSource


def volume_disk_xml(source: VolumeSource, target_dev: str, serial: str) -> str:
    if isinstance(source, NbdSource):
        disk = ET.Element("disk", type="network", device="disk")
        ET.SubElement(disk, "driver", name="qemu", type="raw", cache="none")
        server = ET.SubElement(disk, "source", protocol="nbd", name=source.name)
        ET.SubElement(server, "host", name=source.host, port=str(source.port))
    else:
        disk = ET.Element("disk", type="file", device="disk")
        ET.SubElement(disk, "driver", name="qemu", type="qcow2", cache="none")
        ET.SubElement(disk, "source", file=str(source))
    ET.SubElement(disk, "target", dev=target_dev, bus="virtio")
    if isinstance(source, NbdSource) and source.read_only:
        ET.SubElement(disk, "readonly")
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


def _is(source_element: ET.Element, source: VolumeSource) -> bool:
    if isinstance(source, NbdSource):  # by export name: the same volume wherever it is served from
        return source_element.get("protocol") == "nbd" and source_element.get("name") == source.name
    return source_element.get("file") == str(source)


def repointed(domain_xml: str, source: NbdSource) -> str | None:
    """The definition with the network disk of ``source``'s export reaching it where ``source`` says (its host and
    port), None when it does already or has no such disk. Why: an export stopped while its guest was elsewhere (a
    move reverted) is served again on whatever port was free, and the guest kept on its old host must follow."""
    domain = ET.fromstring(domain_xml)
    for disk in domain.findall("./devices/disk"):
        found = disk.find("source")
        if found is None or not _is(found, source):
            continue
        server = found.find("host")
        if server is not None and (server.get("name"), server.get("port")) == (source.host, str(source.port)):
            return None
        for old in found.findall("host"):
            found.remove(old)
        ET.SubElement(found, "host", name=source.host, port=str(source.port))
        return ET.tostring(domain, encoding="unicode")
    return None


def disk_of(domain_xml: str, source: VolumeSource) -> str | None:
    """The ``<disk>`` element whose source is ``source`` (what detaching it needs), None when none is."""
    for disk in _disks(domain_xml):
        found = disk.find("source")
        if found is not None and _is(found, source):
            return ET.tostring(disk, encoding="unicode").strip()
    return None
