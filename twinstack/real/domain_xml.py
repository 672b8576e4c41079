"""Libvirt domain XML for one instance, from what the flavor and image say: a pure function, no libvirt.

A whole-disk image boots from its disk; a kernel + ramdisk image (AKI/ARI style: ``kernel_id`` and
``ramdisk_id`` properties) boots the kernel directly with ``console=ttyS0`` so its boot is on the serial
console. A config drive, when given, is a read-only CD-ROM (``hdd`` on IDE, Nova's choice), so volumes keep
the virtio names the API hands out (``/dev/vdb`` is the first volume). The serial console goes to a pty whose
output virtlogd writes to ``console_log``, the file the console-log API reads. Each port plugged for the
instance is a virtio NIC with the port's MAC on a tap named after the port, in its network's bridge
(``<interface type='bridge'>``), in port order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from twinstack.real.volume_xml import VolumeSource, volume_disk_xml

NAME_PREFIX = "twinstack-"
"""Every domain the agent makes is named ``twinstack-<instance uuid>``: what reconciliation looks for. An agent
sharing its libvirt with another (two hosts on one machine) is given a prefix of its own (``real.domain_prefix``)."""


def domain_name(instance_uuid: str, prefix: str = NAME_PREFIX) -> str:
    return prefix + instance_uuid


def domain_uuid(instance_uuid: str, prefix: str = NAME_PREFIX) -> str:
    """The domain's libvirt UUID: the instance's (as Nova sets it, the guest reads it from SMBIOS), or one derived
    from it under another prefix, since one libvirt holds each UUID once (a move between two agents sharing it
    has the source's and the destination's domain defined at once)."""
    return instance_uuid if prefix == NAME_PREFIX else str(uuid.uuid5(uuid.NAMESPACE_OID, prefix + instance_uuid))


def instance_of(domain: str, prefix: str = NAME_PREFIX) -> str | None:
    """The instance uuid behind one of our domain names, or None for a domain we do not own."""
    return domain.removeprefix(prefix) if domain.startswith(prefix) else None


@dataclass(frozen=True)
class DirectBoot:
    kernel: Path
    ramdisk: Path | None
    cmdline: str


@dataclass(frozen=True)
class Nic:
    mac: str
    bridge: str
    tap: str
    mtu: int = 1500


@dataclass(frozen=True)
class VolumeDisk:
    """A volume connected to the instance (a file of this host's back ends, or another host's NBD export): its
    device (``vdb``) and serial (the volume's id)."""

    path: VolumeSource
    target: str
    serial: str


@dataclass(frozen=True)
class DomainSpec:
    instance_uuid: str
    virt_type: str
    """'kvm' or 'qemu' (TCG)"""
    vcpus: int
    memory_mb: int
    disk: VolumeSource
    """the root disk: the instance's overlay, or (with ``root_serial``) its root volume, here or exported"""
    console_log: Path
    direct_boot: DirectBoot | None = None
    nics: tuple[Nic, ...] = ()
    config_drive: Path | None = None
    name_prefix: str = NAME_PREFIX
    root_serial: str | None = None
    """the root volume's id when ``disk`` is a volume (a volume-backed server), as Nova sets the disk's serial"""
    volumes: tuple[VolumeDisk, ...] = ()
    """volumes connected before the domain was defined (a volume-backed server's other mappings)"""
    """the ISO (twinstack.real.config_drive), attached read-only as Nova does: a CD-ROM on the IDE bus"""
    emulator: str = "/usr/bin/qemu-system-x86_64"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def domain_xml(spec: DomainSpec) -> str:
    domain = ET.Element("domain", type=spec.virt_type)
    _sub(domain, "name", domain_name(spec.instance_uuid, spec.name_prefix))
    _sub(domain, "uuid", domain_uuid(spec.instance_uuid, spec.name_prefix))
    _sub(domain, "memory", str(spec.memory_mb), unit="MiB")
    _sub(domain, "vcpu", str(spec.vcpus))
    os_ = _sub(domain, "os")
    _sub(os_, "type", "hvm", arch="x86_64", machine="pc")
    if spec.direct_boot is not None:
        _sub(os_, "kernel", str(spec.direct_boot.kernel))
        if spec.direct_boot.ramdisk is not None:
            _sub(os_, "initrd", str(spec.direct_boot.ramdisk))
        _sub(os_, "cmdline", spec.direct_boot.cmdline)
    else:
        _sub(os_, "boot", dev="hd")
    features = _sub(domain, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if spec.virt_type == "kvm":
        _sub(domain, "cpu", mode="host-passthrough")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")
    devices = _sub(domain, "devices")
    _sub(devices, "emulator", spec.emulator)
    if spec.root_serial is not None:  # a root volume: attached as any volume is, at vda
        devices.append(ET.fromstring(volume_disk_xml(spec.disk, "vda", spec.root_serial)))
    else:
        disk = _sub(devices, "disk", type="file", device="disk")
        _sub(disk, "driver", name="qemu", type="qcow2", cache="none")
        _sub(disk, "source", file=str(spec.disk))
        _sub(disk, "target", dev="vda", bus="virtio")
    for volume in spec.volumes:
        devices.append(ET.fromstring(volume_disk_xml(volume.path, volume.target, volume.serial)))
    if spec.config_drive is not None:
        cdrom = _sub(devices, "disk", type="file", device="cdrom")
        _sub(cdrom, "driver", name="qemu", type="raw")
        _sub(cdrom, "source", file=str(spec.config_drive))
        _sub(cdrom, "target", dev="hdd", bus="ide")
        _sub(cdrom, "readonly")
    for nic in spec.nics:
        interface = _sub(devices, "interface", type="bridge")
        _sub(interface, "mac", address=nic.mac)
        _sub(interface, "source", bridge=nic.bridge)
        _sub(interface, "target", dev=nic.tap)
        _sub(interface, "model", type="virtio")
        _sub(interface, "mtu", size=str(nic.mtu))
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "log", file=str(spec.console_log), append="off")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    _sub(devices, "memballoon", model="none")
    return ET.tostring(domain, encoding="unicode")
