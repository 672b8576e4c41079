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

from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

NAME_PREFIX = "twinstack-"
"""Every domain the agent makes is named ``twinstack-<instance uuid>``: what reconciliation looks for."""


def domain_name(instance_uuid: str) -> str:
    return NAME_PREFIX + instance_uuid


def instance_of(domain: str) -> str | None:
    """The instance uuid behind one of our domain names, or None for a domain we do not own."""
    return domain.removeprefix(NAME_PREFIX) if domain.startswith(NAME_PREFIX) else None


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
class DomainSpec:
    instance_uuid: str
    virt_type: str
    """'kvm' or 'qemu' (TCG)"""
    vcpus: int
    memory_mb: int
    disk: Path
    console_log: Path
    direct_boot: DirectBoot | None = None
    nics: tuple[Nic, ...] = ()
    config_drive: Path | None = None
    """the ISO (twinstack.real.config_drive), attached read-only as Nova does: a CD-ROM on the IDE bus"""
    emulator: str = "/usr/bin/qemu-system-x86_64"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def domain_xml(spec: DomainSpec) -> str:
    domain = ET.Element("domain", type=spec.virt_type)
    _sub(domain, "name", domain_name(spec.instance_uuid))
    _sub(domain, "uuid", spec.instance_uuid)
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
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type="qcow2", cache="none")
    _sub(disk, "source", file=str(spec.disk))
    _sub(disk, "target", dev="vda", bus="virtio")
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
