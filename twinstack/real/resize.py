"""Resize and cold migration between real hosts: the source sends the instance's disk, the destination boots it.

How the disk travels: through a directory both agents reach, ``real.migration_dir`` (``<dir>/<uuid>/``). The
source, once its guest is off, writes there a flat copy of the disk (the base image folded in, so the
destination needs neither the source's image cache nor its paths) and its config drive; the destination moves
them into its own instance directory and boots. Why a shared path rather than a transfer message: the bus
carries small control messages (an AMQP message of gigabytes would stall every topic behind it), while a
disk copy needs a data channel; on one machine (two agents, as the tests run) the local file system is that
channel, and across machines it is a shared mount, as Nova's cold migration relies on a shared instance path
or a remote copy it makes itself.

Volumes travel through block storage, not here: the conductor has the destination connect the server's volumes
(the file when its back end is there, else the back end's NBD export) before FinishResize, and the source again
before FinishRevertResize. The destination notes them (no domain yet: twinstack.real.libvirt_host) and defines the
domain with them; a volume-backed server's root volume is its disk, so its parcel carries only the config drive.

The source keeps its own copy (instance directory and domain, powered off) until the resize is confirmed
(DestroyInstance) or reverted (FinishRevertResize powers it on again); both also clear what it sent. A
resize that stays on its host is refused: the one instance directory cannot hold both copies.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from twinstack.real import disks, privileged
from twinstack.real.domain_xml import DomainSpec, Nic
from twinstack.real.libvirt_host import LibvirtHost, NotOnHost, SpawnTimings, hostname_for
from twinstack.real.volume_xml import VolumeSource
from twinstack.rpc.compute import FinishResize, FinishRevertResize, ResizeInstance

LOG = logging.getLogger(__name__)
GIB = 2**30


class Mover:
    def __init__(self, host: LibvirtHost, host_name: str, exchange: Path) -> None:
        self.host = host
        self.host_name = host_name
        self.exchange = exchange

    def parcel(self, instance_uuid: str) -> Path:
        return self.exchange / instance_uuid

    def send(self, command: ResizeInstance) -> int:
        """Power the guest off and leave a flat copy of its disk and its config drive for the destination."""
        uuid = command.instance_uuid
        if command.destination == self.host_name:
            raise ValueError("a resize to the same host is not supported on real hosts")
        source = self.host.directory(uuid)
        volume_backed = not (source / "disk").is_file()
        if volume_backed and not self.host.has_domain(uuid):
            raise NotOnHost(f"Instance {uuid} is not on this host")
        power = self.host.shut_down(uuid)
        parcel = self.parcel(uuid)
        shutil.rmtree(parcel, ignore_errors=True)
        parcel.mkdir(parents=True)
        if not volume_backed:  # a volume-backed server's root disk is its volume: connected there, not sent
            partial = parcel / "disk.part"
            self.host.capture(uuid, partial, "qcow2")  # the guest is off: a consistent copy
            partial.rename(parcel / "disk")
        if (source / "disk.config").is_file():
            shutil.copyfile(source / "disk.config", parcel / "disk.config")
        LOG.info("%s: sent the disk of %s towards %s", self.host_name, uuid, command.destination)
        return power

    def receive(self, command: FinishResize, nics: tuple[Nic, ...], plug: Callable[[], None] | None) -> int:
        """Boot the received disk here with the new flavor (grown to its disk size), powered on if asked, with the
        volumes connected here before (a volume-backed server's root volume is its disk, booted with
        ``volume_image``). A repeat for an instance already here only makes sure of its power; on failure nothing
        made here is left."""
        uuid = command.instance_uuid
        if self.host.has_domain(uuid):
            return self.host.power(uuid, "start") if command.power_on else self.host.power_state(uuid)
        parcel = self.parcel(uuid)
        volumes = self.host.connected_volumes(uuid)
        root = next((v for v in volumes if v.target == "vda"), None)
        if not parcel.is_dir() or (root is None and not (parcel / "disk").is_file()):
            raise NotOnHost(f"No disk of instance {uuid} was sent to {self.host_name}")
        directory = self.host.directory(uuid)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o755)
            disk: VolumeSource
            if root is not None:  # volume-backed: its root volume was connected here before this command
                disk = root.path
            else:
                disk = directory / "disk"
                shutil.move(parcel / "disk", disk)
                disk.chmod(0o644)
                wanted = command.flavor.disk_gb * GIB
                if wanted > disks.virtual_size(disk):
                    privileged.run(["qemu-img", "resize", "-f", "qcow2", str(disk), str(wanted)])
            drive = None
            if (parcel / "disk.config").is_file():
                drive = directory / "disk.config"
                shutil.move(parcel / "disk.config", drive)
                drive.chmod(0o644)
            timings = SpawnTimings()
            hostname = hostname_for(command.instance_name, f"server-{uuid[:8]}")
            image = (command.volume_image or command.image) if root is not None else command.image
            boot = self.host.direct_boot(image, hostname, timings) if image is not None else None
            spec = DomainSpec(uuid, self.host.virt_type, max(command.flavor.vcpus, 1),
                              max(command.flavor.ram_mb, 64), disk, directory / "console.log", boot, nics,
                              config_drive=drive, name_prefix=self.host.domain_prefix,
                              root_serial=root.serial if root is not None else None,
                              volumes=tuple(v for v in volumes if v is not root))
            self.host.start_domain(spec, timings, plug, start=command.power_on)
        except Exception:
            LOG.exception("%s: booting the received %s failed, cleaning up", self.host_name, uuid)
            self.host.destroy(uuid)
            raise
        shutil.rmtree(parcel, ignore_errors=True)
        LOG.info("%s: received %s (%d GiB disk, %d vCPU, %d MiB)", self.host_name, uuid, command.flavor.disk_gb,
                 command.flavor.vcpus, command.flavor.ram_mb)
        return self.host.power_state(uuid)

    def take_back(self, command: FinishRevertResize) -> int:
        """The move was reverted (or the destination failed): the copy kept here runs again if it ran before."""
        self.forget(command.instance_uuid)
        if command.power_on:
            self.host.start(command.instance_uuid)
        return self.host.power_state(command.instance_uuid)

    def forget(self, instance_uuid: str) -> None:
        """Remove what was sent for the instance and not taken (a confirmed or reverted move, a destroy)."""
        shutil.rmtree(self.parcel(instance_uuid), ignore_errors=True)
