"""The real host's storage back ends: qcow2 files answering the block storage protocol (twinstack.rpc.volume).

Each configured back end (``volume.backends``) is one directory, ``<volumes_dir>/<backend name>/``, holding
one pool, ``<host>@<backend>#<volume_backend_name>`` (one pool per back end, as Cinder's LVM and NFS drivers
report it). The agent speaks exactly what the simulated storage agent speaks: it reports each pool at start and
every ``report_seconds`` (the file system's total and free space, thin: qcow2 files hold only what was
written, with what the files promise as ``provisioned_capacity_gb``), and answers create (blank, from an
image through the host's base image cache, from a snapshot, from a volume), extend, snapshot and delete with
StorageResult. On failure nothing of the new file is left behind (see :mod:`twinstack.real.volume_files`). A
volume attached to a running guest (extended in-use, from volume API 3.42) is grown through the guest's QEMU
(twinstack.real.block_resize), which also tells the guest its disk grew.

A volume attached to a server of another host is exported over NBD (:mod:`twinstack.real.nbd_exports`, one
qemu-nbd per attachment): the conductor sends that ConnectVolume here first (``export_from``); the back end
exports the file, tells the volume manager where (VolumeExported, recorded on the attachment) and sends the
command on to the server's host with the export's address, which answers it as any connect. UnexportVolume
(the attachment gone) stops the export; exports outlive an agent restart and are served again at start-up if
their server went.

Handlers run on the runtime's thread and hand the qemu-img work to worker threads, which post their answers
back through the runtime, as the real host agent does. A repeated command (same id) gets the same answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from twinstack.config import VolumeBackendSettings
from twinstack.core.runtime import Runtime
from twinstack.real import disks
from twinstack.real.image_cache import ImageCache
from twinstack.real.nbd_exports import NbdExports
from twinstack.real.volume_files import GrowAttached, VolumeFiles
from twinstack.rpc.answers import AnswerMemory
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.messages import Envelope, Message
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
    PoolReport,
    PoolsReported,
    StorageOperation,
    StorageResult,
    UnexportVolume,
    VolumeExported,
    host_volumes_topic,
    storage_topic,
)

LOG = logging.getLogger(__name__)

StorageCommand = CreateVolume | DeleteVolume | ExtendVolume | CreateSnapshot | DeleteSnapshot | MigrateVolume


@dataclass(frozen=True)
class FileBackend:
    """One back end on this host: its settings, its name on the bus (``host@backend``), its pool and files."""

    settings: VolumeBackendSettings
    name: str
    pool: str
    files: VolumeFiles


def file_backends(host: str, backends: Sequence[VolumeBackendSettings], volumes_dir: Path) -> list[FileBackend]:
    return [
        FileBackend(
            b, f"{host}@{b.name}", f"{host}@{b.name}#{b.volume_backend_name}", VolumeFiles(volumes_dir / b.name)
        )
        for b in backends
    ]


def pool_report(backend: FileBackend) -> PoolReport:
    """What the back end tells the volume scheduler (Cinder's get_volume_stats for its one pool)."""
    settings, capacity = backend.settings, backend.files.capacity()
    return PoolReport(
        name=backend.pool,
        volume_backend_name=settings.volume_backend_name,
        availability_zone=settings.availability_zone,
        total_capacity_gb=capacity.total_gb,
        free_capacity_gb=capacity.free_gb,
        provisioned_capacity_gb=capacity.provisioned_gb,
        thin_provisioning_support=True,
        thick_provisioning_support=False,
        max_over_subscription_ratio=settings.max_over_subscription_ratio,
        reserved_percentage=settings.reserved_percentage,
        capabilities={"storage_protocol": "local", "driver": "qcow2", **settings.capabilities},
    )


def find_volume(backends: Sequence[FileBackend], volume_id: str) -> Path | None:
    """The file of a volume held by one of this host's back ends (what the host attaches), None if none holds it."""
    for backend in backends:
        path = backend.files.volume(volume_id)
        if path.is_file():
            return path
    return None


class RealStorageAgent:
    def __init__(
        self,
        runtime: Runtime,
        bus: Bus,
        backends: Sequence[FileBackend],
        images: ImageCache,
        report_seconds: float = 10.0,
        workers: int = 2,
        grow_attached: GrowAttached | None = None,
        exports: NbdExports | None = None,
    ) -> None:
        self.runtime = runtime
        self.bus = bus
        self.backends = {backend.name: backend for backend in backends}
        self.images = images
        self.report_seconds = report_seconds
        self.grow_attached = grow_attached
        """grows a volume a running guest has open (an in-use extend), through the guest's QEMU"""
        self.exports = exports
        """serves volumes to guests of other hosts over NBD (None: this host exports nothing)"""
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="real-storage")
        self._answered: AnswerMemory[StorageResult] = AnswerMemory(runtime.clock)
        self._running: set[str] = set()
        self._stopped = False

    def start(self) -> None:
        """Subscribe each back end's topic and report the pools (on the runtime's thread)."""
        handler = typed(self._on_command)
        for name in self.backends:
            self.bus.subscribe(storage_topic(name), handler)
        if self.exports is not None:
            self._workers.submit(self.exports.reconcile)
        self._report()

    def stop(self) -> None:
        self._stopped = True
        self._workers.shutdown(wait=False, cancel_futures=True)

    def _report(self) -> None:
        if self._stopped:
            return
        self._workers.submit(self._measure)
        self.runtime.call_later(self.report_seconds, self._report)

    def _measure(self) -> None:
        for backend in self.backends.values():
            try:
                report = PoolsReported(backend=backend.name, pools=[pool_report(backend)])
            except OSError:
                LOG.exception("measuring back end %s failed", backend.name)
                continue
            self.runtime.call_soon(partial(send, self.bus, VOLUME_TOPIC, report))

    # commands (runtime thread)

    def _on_command(self, message: Message, envelope: Envelope) -> None:
        if isinstance(message, ConnectVolume | UnexportVolume):
            self._on_export(message, envelope.reply_to)
            return
        if not isinstance(message, StorageCommand):
            return
        repeated = self._answered.get(message.command_id)
        if repeated is not None:
            send(self.bus, VOLUME_TOPIC, repeated)
            return
        backend = self.backends.get(message.backend)
        if backend is None or message.pool != backend.pool or message.command_id in self._running:
            return
        self._running.add(message.command_id)
        self._workers.submit(self._carry_out, backend, message)

    def _answer(self, result: StorageResult) -> None:
        self._running.discard(result.command_id)
        self._answered.remember(result.command_id, result)
        send(self.bus, VOLUME_TOPIC, result)

    def _on_export(self, message: ConnectVolume | UnexportVolume, reply_to: str | None) -> None:
        if isinstance(message, ConnectVolume):
            backend = self.backends.get(message.export_from or "")
            if backend is not None:
                self._workers.submit(self._export, backend, message, reply_to)
        elif message.backend in self.backends:
            self._workers.submit(self._unexport, message)

    # work (worker threads)

    def _export(self, backend: FileBackend, command: ConnectVolume, reply_to: str | None) -> None:
        """Export the volume for the attachment, record where, and send the connect on to the server's host
        (the same command, its answer to the same place); a failed export answers the connect failed here."""
        try:
            if self.exports is None:
                raise RuntimeError(f"{backend.name} exports no volume to other hosts (no NBD address)")
            read_only = command.connection_info.get("data", {}).get("access_mode") == "ro"
            export = self.exports.export(command.attachment_id, command.volume_id,
                                         backend.files.volume(command.volume_id), read_only)
        except Exception as exc:
            LOG.exception("export of volume %s for %s failed", command.volume_id, command.attachment_id)
            failed = HostVolumeResult(command_id=command.command_id, action="connect", host=command.host,
                                      attachment_id=command.attachment_id, ok=False,
                                      fault=f"export of volume {command.volume_id} from {backend.name} failed: {exc}")
            self.runtime.call_soon(partial(send, self.bus, reply_to or VOLUME_TOPIC, failed))
            return
        info = export.connection_info()
        exported = VolumeExported(backend=backend.name, volume_id=command.volume_id,
                                  attachment_id=command.attachment_id, connection_info=info)
        onward = command.model_copy(update={"connection_info": info, "export_from": None})

        def tell() -> None:
            send(self.bus, VOLUME_TOPIC, exported)
            send(self.bus, host_volumes_topic(command.host), onward, reply_to=reply_to)

        self.runtime.call_soon(tell)

    def _unexport(self, command: UnexportVolume) -> None:
        if self.exports is not None:
            try:
                self.exports.unexport(command.attachment_id)
            except Exception:
                LOG.exception("stopping the export of %s failed", command.attachment_id)

    def _carry_out(self, backend: FileBackend, command: StorageCommand) -> None:
        operation, resource_id = _describe(command)
        ok, fault = True, None
        try:
            self._do(backend, command)
        except Exception as exc:
            LOG.exception("%s of %s on %s failed", operation, resource_id, backend.name)
            ok, fault = False, f"{operation} of {resource_id} on {backend.name} failed: {exc}"
        result = StorageResult(
            command_id=command.command_id,
            operation=operation,
            backend=backend.name,
            resource_id=resource_id,
            ok=ok,
            fault=fault,
        )
        self.runtime.call_soon(lambda: self._answer(result))

    def _do(self, backend: FileBackend, command: StorageCommand) -> None:
        files = backend.files
        if isinstance(command, CreateVolume):
            if command.source == "blank":
                files.create_blank(command.volume_id, command.size_gb)
            elif command.source == "image":
                base = self.images.path(command.source_id or "")
                files.create_copy(command.volume_id, base, disks.image_format(base), command.size_gb)
            elif command.source == "snapshot":
                files.create_copy(command.volume_id, files.snapshot(command.source_id or ""), "qcow2", command.size_gb)
            else:
                files.create_copy(command.volume_id, files.volume(command.source_id or ""), "qcow2", command.size_gb)
        elif isinstance(command, DeleteVolume):
            files.delete_volume(command.volume_id)
        elif isinstance(command, ExtendVolume):
            files.extend(command.volume_id, command.new_size_gb, self.grow_attached)
        elif isinstance(command, CreateSnapshot):
            files.create_snapshot(command.snapshot_id, command.volume_id)
        elif isinstance(command, MigrateVolume):
            self._migrate(backend, command)
        else:
            files.delete_snapshot(command.snapshot_id)


    def _migrate(self, backend: FileBackend, command: MigrateVolume) -> None:
        """Cinder's generic migration between two back ends of this host: the file copied into the destination's
        directory (a failed copy leaves nothing there), then the source removed."""
        dest = self.backends.get(command.dest_backend)
        if dest is None or dest.pool != command.dest_pool or dest is backend:
            raise ValueError(f"back end {command.dest_backend} is not on this host")
        dest.files.create_copy(command.volume_id, backend.files.volume(command.volume_id), "qcow2", command.size_gb)
        backend.files.delete_volume(command.volume_id)


def _describe(command: StorageCommand) -> tuple[StorageOperation, str]:
    if isinstance(command, CreateVolume):
        return "create_volume", command.volume_id
    if isinstance(command, DeleteVolume):
        return "delete_volume", command.volume_id
    if isinstance(command, ExtendVolume):
        return "extend_volume", command.volume_id
    if isinstance(command, CreateSnapshot):
        return "create_snapshot", command.snapshot_id
    if isinstance(command, MigrateVolume):
        return "migrate_volume", command.volume_id
    return "delete_snapshot", command.snapshot_id
