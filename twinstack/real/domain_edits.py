"""Edits of an existing domain definition (pure functions over XML, no libvirt).

Why edit rather than build anew (twinstack.real.domain_xml): a domain lives on through a rebuild and a live
migration with things the spawn did not put there (volumes attached since, and for a running guest the device
addresses its state was saved with); only what the move changes is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from xml.etree import ElementTree as ET

from twinstack.real.domain_xml import DirectBoot


def _os(domain: ET.Element) -> ET.Element:
    found = domain.find("os")
    if found is None:
        raise ValueError("the domain definition has no <os> element")
    return found


def with_boot(xml: str, boot: DirectBoot | None) -> str:
    """The definition booting ``boot`` (a kernel, ramdisk and command line) or, with None, its first disk: what a
    rebuild from another image changes in the domain. Everything else (disks, NICs, volumes) stays."""
    domain = ET.fromstring(xml)
    os_ = _os(domain)
    for tag in ("kernel", "initrd", "cmdline", "boot"):
        for element in os_.findall(tag):
            os_.remove(element)
    if boot is None:
        ET.SubElement(os_, "boot", dev="hd")
    else:
        ET.SubElement(os_, "kernel").text = str(boot.kernel)
        if boot.ramdisk is not None:
            ET.SubElement(os_, "initrd").text = str(boot.ramdisk)
        ET.SubElement(os_, "cmdline").text = boot.cmdline
    return ET.tostring(domain, encoding="unicode")


def files(xml: str) -> list[Path]:
    """Every file the definition names (disks, config drive, console log), in document order."""
    return [Path(str(e.get("file"))) for e in ET.fromstring(xml).iter() if e.get("file")]


def files_under(xml: str, directory: Path) -> list[Path]:
    """Every file the definition names under ``directory``."""
    return [p for p in files(xml) if directory in p.parents]


def moved(xml: str, name: str, uuid: str, source_dir: Path, destination_dir: Path,
          boot: DirectBoot | None, bridges: Mapping[str, str] | None = None) -> str:
    """The definition of a running guest arriving on another host: named ``name`` with ``uuid``, every file under
    the source's instance directory now under the destination's, the kernel and ramdisk from the destination's
    image cache (the command line the guest booted with kept), each NIC in the destination's bridge for it
    (``bridges``, by MAC: each agent's bridges carry its tag), and the console log continued, not truncated
    (``append='on'``), so it keeps the guest's whole history."""
    domain = ET.fromstring(xml)
    for tag, value in (("name", name), ("uuid", uuid)):
        element = domain.find(tag)
        if element is None:
            raise ValueError(f"the domain definition has no <{tag}> element")
        element.text = value
    prefix = f"{source_dir}/"
    for element in domain.iter():
        path = element.get("file", "")
        if path.startswith(prefix):
            element.set("file", f"{destination_dir}/{path.removeprefix(prefix)}")
    _set_bridges(domain, bridges or {})
    _set_log_append(domain, True)
    if boot is not None:
        os_ = _os(domain)
        for tag, cached in (("kernel", boot.kernel), ("initrd", boot.ramdisk)):
            found = os_.find(tag)
            if found is not None and cached is not None:
                found.text = str(cached)
    return ET.tostring(domain, encoding="unicode")


def _set_bridges(domain: ET.Element, bridges: Mapping[str, str]) -> bool:
    """Put each NIC in the bridge ``bridges`` names for its MAC; whether any changed."""
    changed = False
    for interface in domain.iterfind("devices/interface"):
        mac, source = interface.find("mac"), interface.find("source")
        bridge = bridges.get((mac.get("address") or "").lower()) if mac is not None else None
        if bridge is not None and source is not None and source.get("bridge") != bridge:
            source.set("bridge", bridge)
            changed = True
    return changed


def rebridged(xml: str, bridges: Mapping[str, str]) -> str | None:
    """The definition with each NIC in the bridge ``bridges`` names for its MAC, None if each already is: a guest
    defined by an agent from before the per-agent tag names bridges that agent no longer has, where its next start
    would fail."""
    domain = ET.fromstring(xml)
    return ET.tostring(domain, encoding="unicode") if _set_bridges(domain, bridges) else None


def _set_log_append(domain: ET.Element, append: bool) -> None:
    for log in domain.iterfind("devices/serial/log"):
        log.set("append", "on" if append else "off")


def console_log(xml: str, append: bool) -> str:
    """The definition whose console log is continued (``append``: a guest restored from its saved state goes on
    where its log stopped) or begun afresh when it starts (as a spawn's: what a persistent definition keeps)."""
    domain = ET.fromstring(xml)
    _set_log_append(domain, append)
    return ET.tostring(domain, encoding="unicode")
