"""The compute driver over libvirt: spawn, destroy, power actions, listing and console logs of instances.

Every method blocks (libvirt and qemu-img calls): the agent calls them from worker threads, never on its
runtime's thread. Each instance keeps ``<state_dir>/instances/<uuid>/`` (its ``disk`` overlay, its config
drive ``disk.config`` and ``console.log``) and one persistent domain named ``twinstack-<uuid>``; removing both
is all a destroy must do, which is what makes destroy idempotent and reconciliation simple.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import libvirt

from twinstack.real import config_drive, disks, privileged
from twinstack.real.domain_xml import (
    NAME_PREFIX,
    DirectBoot,
    DomainSpec,
    Nic,
    VolumeDisk,
    domain_name,
    domain_xml,
    instance_of,
)
from twinstack.real.image_cache import ImageCache
from twinstack.real.volume_files import convert_args
from twinstack.real.volume_xml import (
    NbdSource,
    VolumeSource,
    disk_of,
    free_target,
    repointed,
    target_for,
    volume_disk_xml,
)
from twinstack.rpc.compute import ImageSpec, SpawnInstance

LOG = logging.getLogger(__name__)

NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7
"""Nova's power states."""
POWER_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: NOSTATE, libvirt.VIR_DOMAIN_RUNNING: RUNNING, libvirt.VIR_DOMAIN_BLOCKED: RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PAUSED, libvirt.VIR_DOMAIN_SHUTDOWN: SHUTDOWN, libvirt.VIR_DOMAIN_SHUTOFF: SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: CRASHED, libvirt.VIR_DOMAIN_PMSUSPENDED: SUSPENDED,
}


class SpawnFailed(Exception):
    """The instance could not be built here; whatever was made for it has been removed."""


class NotOnHost(Exception):
    """A command named an instance this host does not hold."""


def hostname_for(name: str, fallback: str) -> str:
    """A DNS label from a server's name, as Nova sanitises it (the guest names itself with it)."""
    label = re.sub(r"[^a-z0-9-]+", "", re.sub(r"[ _.]", "-", name.lower())).strip("-")[:63]
    return label or fallback


@dataclass
class SpawnTimings:
    """Seconds each phase of the last spawn took (for benchmarks/real_boot.py, also logged)."""

    phases: dict[str, float] = field(default_factory=dict)

    def measure(self, phase: str, work: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return work()
        finally:
            self.phases[phase] = time.monotonic() - started


class LibvirtHost:
    def __init__(self, connection: Any, state_dir: Path, images: ImageCache, virt_type: str,
                 clean_shutdown_seconds: float = 10.0, domain_prefix: str = NAME_PREFIX) -> None:
        self.connection = connection
        self.domain_prefix = domain_prefix
        self.instances_dir = state_dir.resolve() / "instances"
        self.images = images
        self.virt_type = virt_type
        self.clean_shutdown_seconds = clean_shutdown_seconds
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        for directory in (state_dir, self.instances_dir):
            directory.chmod(0o755)  # QEMU (libvirt-qemu) must traverse to the disks

    def directory(self, instance_uuid: str) -> Path:
        return self.instances_dir / instance_uuid

    def _domain(self, instance_uuid: str) -> Any | None:
        try:
            return self.connection.lookupByName(domain_name(instance_uuid, self.domain_prefix))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def has_domain(self, instance_uuid: str) -> bool:
        return self._domain(instance_uuid) is not None

    def definition(self, instance_uuid: str) -> str:
        """The domain's persistent definition (as it boots next), secure parts included."""
        domain = self._domain(instance_uuid)
        if domain is None:
            raise NotOnHost(f"Instance {instance_uuid} has no domain on this host")
        return str(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))

    def redefine(self, xml: str) -> None:
        """Replace a domain's persistent definition (it applies from its next start)."""
        self.connection.defineXML(xml)

    def power_state(self, instance_uuid: str) -> int:
        domain = self._domain(instance_uuid)
        if domain is None:
            return NOSTATE
        state = domain.state()[0]
        if state == libvirt.VIR_DOMAIN_SHUTOFF and domain.hasManagedSaveImage():
            return SUSPENDED
        return POWER_STATES.get(state, NOSTATE)

    # spawn and destroy

    def spawn(self, command: SpawnInstance, timings: SpawnTimings | None = None, nics: tuple[Nic, ...] = (),
              plug: Callable[[], None] | None = None) -> int:
        """Build and start the instance with ``nics``; a repeat for an instance already here only makes sure it
        runs. ``plug`` (the host network's plumbing for its ports) runs before the domain starts.

        On failure everything made here is removed before :class:`SpawnFailed` is raised.
        """
        timings = timings or SpawnTimings()
        uuid = command.instance_uuid
        domain = self._domain(uuid)
        if domain is not None:
            if not domain.isActive():
                domain.create()
            return self.power_state(uuid)
        try:
            self.start_domain(replace(self._prepare(command, timings), nics=nics), timings, plug)
        except Exception as exc:
            LOG.warning("spawn of %s failed, cleaning up: %s", uuid, exc)
            self.destroy(uuid)
            raise SpawnFailed(str(exc)) from exc
        LOG.info("spawned %s (%s): %s", uuid, self.virt_type,
                 " ".join(f"{k}={v:.3f}s" for k, v in timings.phases.items()))
        return self.power_state(uuid)

    def start_domain(self, spec: DomainSpec, timings: SpawnTimings, plug: Callable[[], None] | None = None,
                     start: bool = True) -> None:
        """Plumb the network (``plug``), define the domain and (if ``start``) start it; the caller cleans up."""
        if plug is not None:
            timings.measure("network_plug", plug)
        domain = timings.measure("define", lambda: self.connection.defineXML(domain_xml(spec)))
        if start:
            timings.measure("start", lambda: self.start_unlocked(domain))

    def start_unlocked(self, domain: Any, lock_wait: float = 10.0) -> None:
        """Start the domain; a disk still held by its last user (QEMU's image lock: the export a guest of another
        host read a volume through, being stopped as the guest moved here) is waited for ``lock_wait`` seconds."""
        deadline = time.monotonic() + lock_wait
        while True:
            try:
                domain.create()
                return
            except libvirt.libvirtError as exc:
                if "lock" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    def direct_boot(self, image: ImageSpec, hostname: str, timings: SpawnTimings) -> DirectBoot | None:
        """The kernel and ramdisk (from the cache) an AKI/ARI-style image boots with; None for a whole disk."""
        kernel_id, ramdisk_id = image.properties.get("kernel_id"), image.properties.get("ramdisk_id")
        if not kernel_id:
            return None
        kernel = timings.measure("image_cache_kernel", lambda: self.images.path(kernel_id))
        ramdisk = (timings.measure("image_cache_ramdisk", lambda: self.images.path(ramdisk_id))
                   if ramdisk_id else None)
        cmdline = image.properties.get("os_command_line", "console=ttyS0")
        if "console=" not in cmdline:
            cmdline += " console=ttyS0"
        return DirectBoot(kernel, ramdisk, f"{cmdline} hostname={hostname}")

    def _prepare(self, command: SpawnInstance, timings: SpawnTimings) -> DomainSpec:
        """Fetch images into the cache and make the instance's directory and disk: an overlay on the image, or,
        for a volume-backed server, its root volume (connected before the spawn) as it is."""
        directory = self.directory(command.instance_uuid)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        volumes = self.connected_volumes(command.instance_uuid)
        root = next((v for v in volumes if v.target == "vda"), None)
        image = (command.volume_image or command.image) if root is not None else command.image
        if image is None:
            raise SpawnFailed(f"Instance {command.instance_uuid} has neither an image nor a root volume here")
        hostname = hostname_for(command.instance_name, f"server-{command.instance_uuid[:8]}")
        disk: VolumeSource
        if root is None:
            base = timings.measure("image_cache", lambda: self.images.path(image.id))
            overlay = disk = directory / "disk"
            timings.measure("disk", lambda: disks.create_overlay(base, overlay, command.flavor.disk_gb))
        else:
            disk = root.path
        boot = self.direct_boot(image, hostname, timings)
        drive = directory / "disk.config"
        timings.measure("config_drive", lambda: config_drive.write(config_drive.InstanceMetadata(
            command.instance_uuid, command.instance_name, hostname, dict(command.metadata), command.user_data,
            command.key_data), drive))
        return DomainSpec(command.instance_uuid, self.virt_type, max(command.flavor.vcpus, 1),
                          max(command.flavor.ram_mb, 64), disk, directory / "console.log", boot,
                          config_drive=drive, name_prefix=self.domain_prefix,
                          root_serial=root.serial if root is not None else None,
                          volumes=tuple(v for v in volumes if v is not root))

    # volumes connected before the domain exists (a volume-backed server's build)

    def _volumes_file(self, instance_uuid: str) -> Path:
        return self.directory(instance_uuid) / "volumes.json"

    def connected_volumes(self, instance_uuid: str) -> list[VolumeDisk]:
        """The volumes connected to an instance whose domain was not defined yet, in device order."""
        file = self._volumes_file(instance_uuid)
        if not file.is_file():
            return []
        found = json.loads(file.read_text())
        return sorted((VolumeDisk(_source_of(v), v["target"], serial) for serial, v in found.items()),
                      key=lambda v: (len(v.target), v.target))

    def _remember_volume(self, instance_uuid: str, source: VolumeSource, mountpoint: str, serial: str) -> str:
        """Note a volume connected before the domain is defined (a build, or a move's destination: written before
        it is answered, the spawn or the move's finish reads it). Connected again (an export served anew), it keeps
        its device and takes the new source."""
        volumes = {v.serial: v for v in self.connected_volumes(instance_uuid)}
        existing = volumes.get(serial)
        taken = {v.target for v in volumes.values() if v.serial != serial}
        target = existing.target if existing is not None else free_target(mountpoint, taken)
        volumes[serial] = VolumeDisk(source, target, serial)
        self._write_volumes(instance_uuid, volumes.values())
        LOG.info("%s connected to %s (no domain yet) at %s", source.name, instance_uuid, target)
        return f"/dev/{target}"

    def _forget_volume(self, instance_uuid: str, source: VolumeSource) -> None:
        volumes = [v for v in self.connected_volumes(instance_uuid) if not _same_volume(v.path, source)]
        if self._volumes_file(instance_uuid).is_file():
            self._write_volumes(instance_uuid, volumes)

    def _write_volumes(self, instance_uuid: str, volumes: Iterable[VolumeDisk]) -> None:
        file = self._volumes_file(instance_uuid)
        file.parent.mkdir(parents=True, exist_ok=True)
        temporary = file.with_suffix(".tmp")
        temporary.write_text(json.dumps({v.serial: {**_record_of(v.path), "target": v.target} for v in volumes}))
        temporary.replace(file)

    def destroy(self, instance_uuid: str) -> None:
        """Stop and undefine the domain and remove the instance's directory; gone already is fine."""
        domain = self._domain(instance_uuid)
        if domain is not None:
            if domain.isActive():
                domain.destroy()
            flags = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            domain.undefineFlags(flags)
        shutil.rmtree(self.directory(instance_uuid), ignore_errors=True)

    # power

    def power(self, instance_uuid: str, action: str) -> int:
        """Carry out a Nova power action and return the power state it leaves."""
        domain = self._domain(instance_uuid)
        if domain is None:
            raise NotOnHost(f"Instance {instance_uuid} has no domain on this host")
        if action == "stop":
            self._shut_down(domain)
        elif action == "start" or action == "resume":
            if not domain.isActive():
                domain.create()  # restores a managed save (suspend) when there is one
        elif action == "reboot_soft":
            self._shut_down(domain)
            domain.create()
        elif action == "reboot_hard":
            if domain.isActive():
                domain.destroy()
            domain.create()
        elif action == "pause":
            domain.suspend()
        elif action == "unpause":
            domain.resume()
        elif action == "suspend":
            domain.managedSave(0)
        else:
            raise ValueError(f"unknown power action {action}")
        return self.power_state(instance_uuid)

    def start(self, instance_uuid: str) -> int:
        """Start the guest unless it runs (waiting out a volume's image lock, as :meth:`start_unlocked` says)."""
        domain = self._domain(instance_uuid)
        if domain is None:
            raise NotOnHost(f"Instance {instance_uuid} has no domain on this host")
        if not domain.isActive():
            self.start_unlocked(domain)
        return self.power_state(instance_uuid)

    def shut_down(self, instance_uuid: str) -> int:
        """Power the guest off (cleanly if it lets itself be) and return the power state."""
        domain = self._domain(instance_uuid)
        if domain is None:
            raise NotOnHost(f"Instance {instance_uuid} has no domain on this host")
        self._shut_down(domain)
        return self.power_state(instance_uuid)

    def _shut_down(self, domain: Any) -> None:
        """Ask the guest to power off (ACPI power button), then pull the plug after the grace period."""
        if not domain.isActive():
            return
        if domain.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
            domain.destroy()
            return
        try:
            domain.shutdown()
        except libvirt.libvirtError as exc:
            LOG.info("guest shutdown request failed (%s); forcing", exc)
        deadline = time.monotonic() + self.clean_shutdown_seconds
        while time.monotonic() < deadline:
            if not domain.isActive():
                return
            time.sleep(0.2)
        if domain.isActive():
            LOG.info("%s did not power off in %.0fs; destroying it", domain.name(), self.clean_shutdown_seconds)
            domain.destroy()

    # volumes

    def attach_volume(self, instance_uuid: str, path: VolumeSource, mountpoint: str, serial: str,
                      lock_wait: float = 10.0) -> str:
        """Attach the volume (a file here, or another host's NBD export) as a virtio-blk disk, live (if the guest
        runs) and in the persistent definition, so a reboot or a stop and start keeps it. Idempotent: a volume
        already attached stays as it is. A file another process still holds (its image lock) is tried again for
        ``lock_wait`` seconds. Returns the device it is at."""
        domain = self._domain(instance_uuid)
        if domain is None:  # a server being built or moved here: the domain is defined with the volume
            return self._remember_volume(instance_uuid, path, mountpoint, serial)
        defined = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        if disk_of(defined, path) is not None:
            if isinstance(path, NbdSource):
                self._repoint(domain, defined, path, instance_uuid)
            return mountpoint
        current = domain.XMLDesc(0)
        target = target_for(mountpoint, current)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG | (libvirt.VIR_DOMAIN_AFFECT_LIVE if domain.isActive() else 0)
        deadline = time.monotonic() + lock_wait
        while True:
            try:
                domain.attachDeviceFlags(volume_disk_xml(path, target, serial), flags)
                break
            except libvirt.libvirtError as exc:
                # the file is still held by its last user (the export a guest of another host read it through,
                # being stopped as the server moved here): QEMU's image lock lets one writer in at a time
                if "lock" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        LOG.info("attached %s to %s at %s", path.name, instance_uuid, target)
        return f"/dev/{target}"

    def _repoint(self, domain: Any, defined: str, source: NbdSource, instance_uuid: str) -> None:
        """A guest kept here while it ran elsewhere (a move reverted) reaches its volume's export where it is served
        now; a running guest keeps the connection it has."""
        changed = repointed(defined, source)
        if changed is None:
            return
        if domain.isActive():
            LOG.warning("%s of running %s is served from %s:%d now; the guest keeps its connection", source.name,
                        instance_uuid, source.host, source.port)
            return
        self.redefine(changed)
        LOG.info("%s of %s now reached at %s:%d", source.name, instance_uuid, source.host, source.port)

    def detach_volume(self, instance_uuid: str, path: VolumeSource, timeout: float = 30.0) -> None:
        """Detach the volume file from the running guest (which must let go of the device: its kernel answers
        the PCI unplug) and from the persistent definition. Idempotent: not attached is detached; an instance
        gone is too (its volumes went with its domain). Raises if the guest keeps the disk past ``timeout``."""
        domain = self._domain(instance_uuid)
        if domain is None:
            self._forget_volume(instance_uuid, path)  # connected for a build (or a move) that never defined it
            return
        if domain.isActive():
            live = disk_of(domain.XMLDesc(0), path)
            if live is not None:
                domain.detachDeviceFlags(live, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                deadline = time.monotonic() + timeout
                while disk_of(domain.XMLDesc(0), path) is not None:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the guest of {instance_uuid} did not release {path.name} "
                                           f"in {timeout:.0f}s")
                    time.sleep(0.2)
        defined = disk_of(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), path)
        if defined is not None:
            domain.detachDeviceFlags(defined, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        LOG.info("detached %s from %s", path.name, instance_uuid)

    # snapshots

    def capture(self, instance_uuid: str, destination: Path, disk_format: str = "qcow2") -> int:
        """Copy the instance's root disk, its base image folded in, to ``destination`` (a flat image in
        ``disk_format``), while the guest keeps running (a crash-consistent copy); returns its size in bytes."""
        disk = self.directory(instance_uuid) / "disk"
        if self._domain(instance_uuid) is None or not disk.is_file():
            raise NotOnHost(f"Instance {instance_uuid} is not on this host")
        destination.parent.mkdir(parents=True, exist_ok=True)
        privileged.run(convert_args(disk, "qcow2", destination, disk_format))
        return destination.stat().st_size

    # what is here

    def domains(self) -> dict[str, int]:
        """Our instances with a domain on this host, and their power states."""
        found: dict[str, int] = {}
        for domain in self.connection.listAllDomains(0):
            uuid = instance_of(domain.name(), self.domain_prefix)
            if uuid is not None and self._owns(domain):
                found[uuid] = self.power_state(uuid)
        return found

    def _owns(self, domain: Any) -> bool:
        """Whether the domain's disk is under this agent's state directory: another agent (another cloud, a
        test) on the same libvirt keeps its own, and reconciliation must never touch them."""
        try:
            return f"'{self.instances_dir}/" in domain.XMLDesc(0).replace('"', "'")
        except libvirt.libvirtError:
            return False

    def leftovers(self) -> list[str]:
        """Instance directories without a domain (a spawn cut short before its domain was defined)."""
        with_domain = self.domains()
        if not self.instances_dir.is_dir():
            return []
        return sorted(p.name for p in self.instances_dir.iterdir() if p.is_dir() and p.name not in with_domain)

    def console_output(self, instance_uuid: str, length: int | None = None) -> str:
        """The serial console log (its last ``length`` lines if given); an instance not here raises."""
        log = self.directory(instance_uuid) / "console.log"
        if not log.exists():
            if self._domain(instance_uuid) is None:
                raise NotOnHost(f"Instance {instance_uuid} is not on this host")
            return ""
        text = log.read_bytes().decode("utf-8", errors="replace").replace("\r\n", "\n")
        if length is None:
            return text
        lines = text.splitlines(keepends=True)
        return "".join(lines[-length:]) if length > 0 else ""


def _record_of(source: VolumeSource) -> dict[str, object]:
    """How a volume connected before its domain is noted in ``volumes.json``."""
    if isinstance(source, NbdSource):
        return {"nbd": {"host": source.host, "port": source.port, "name": source.name, "read_only": source.read_only}}
    return {"path": str(source)}


def _source_of(record: dict[str, Any]) -> VolumeSource:
    nbd = record.get("nbd")
    if nbd is not None:
        return NbdSource(str(nbd["host"]), int(nbd["port"]), str(nbd["name"]), bool(nbd.get("read_only")))
    return Path(record["path"])


def _same_volume(one: VolumeSource, other: VolumeSource) -> bool:
    """The same file, or the same export (by name, wherever it is served from)."""
    if isinstance(one, NbdSource) and isinstance(other, NbdSource):
        return one.name == other.name
    return one == other
