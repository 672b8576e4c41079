"""Decide once, at start-up, whether guests run under KVM or QEMU's TCG.

/dev/kvm existing is not enough (on these machines a KVM guest was defined and "running" but never
executed an instruction), so the probe boots the host's own kernel under KVM for a few seconds and
waits for the kernel's first words on the serial console. Silence, or a failure to start, means TCG.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import libvirt

from twinstack.real import privileged
from twinstack.real.domain_xml import NAME_PREFIX, DirectBoot, DomainSpec, domain_name, domain_xml

LOG = logging.getLogger(__name__)
KERNEL_RUNS = b"Linux version"
"""What the kernel itself prints first (earlyprintk): the boot stub's own lines come before the point where a
broken KVM hangs ("Probing EDD... Invalid physical address chosen!" and then nothing)."""


PROBE_PREFIX = NAME_PREFIX + "probe-"
"""Probe domains are transient and named apart from instances, so reconciliation never takes one for a guest."""


def _remove_old_probes(connection: Any, work_dir: Path) -> None:
    """A probe left running by an agent killed mid-probe (its disk under ``work_dir``) is destroyed.

    Another agent of this libvirtd may be probing at the same moment: its transient probe can end between the
    listing and the look at it (libvirt: no such domain). Such a probe was not ours to remove; it is passed by."""
    for domain in connection.listAllDomains(0):
        try:
            if domain.name().startswith(PROBE_PREFIX) and f"'{work_dir.resolve()}/" in domain.XMLDesc(0):
                LOG.info("destroying %s, left by an earlier probe", domain.name())
                domain.destroy()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise


def _kernel(boot: Path = Path("/boot")) -> Path | None:
    kernels = sorted(boot.glob("vmlinuz-*"), reverse=True)
    return kernels[0] if kernels else None


def probe_virt_type(connection: Any, work_dir: Path, wait_seconds: float = 5.0) -> str:
    """'kvm' if a KVM guest prints on its console within ``wait_seconds``, else 'qemu'."""
    _remove_old_probes(connection, work_dir)
    if not Path("/dev/kvm").exists():
        return "qemu"
    kernel = _kernel()
    if kernel is None:
        LOG.warning("no kernel under /boot to probe KVM with: using TCG")
        return "qemu"
    with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
        directory = Path(scratch)
        directory.chmod(0o755)
        disk = directory / "probe.qcow2"
        privileged.run(["qemu-img", "create", "-f", "qcow2", str(disk), "1M"])
        log = directory / "console.log"
        spec = DomainSpec(str(uuid.uuid4()), "kvm", 1, 128, disk, log,
                          DirectBoot(kernel, None, "console=ttyS0 earlyprintk=ttyS0 panic=-1"))
        xml = domain_xml(spec).replace(f"<name>{domain_name(spec.instance_uuid)}</name>",
                                       f"<name>{PROBE_PREFIX}{spec.instance_uuid}</name>")
        try:
            domain = connection.createXML(xml, 0)
        except Exception as exc:  # libvirt refuses: no KVM here
            LOG.info("KVM probe: the guest did not start (%s): using TCG", exc)
            return "qemu"
        try:
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                if log.exists() and KERNEL_RUNS in log.read_bytes():
                    LOG.info("KVM probe: the guest kernel runs: using KVM")
                    return "kvm"
                time.sleep(0.2)
        finally:
            try:
                domain.destroy()
            except Exception:  # it may have ended by itself (panic=-1 reboots, on_reboot restarts)
                LOG.debug("KVM probe domain already gone")
    LOG.warning("KVM probe: a KVM guest stayed silent for %.0fs: using TCG", wait_seconds)
    return "qemu"
