"""The volume manager: Cinder's scheduler and volume manager in one set of handlers on the ``volume`` topic.

* ScheduleVolume: filter and weigh the pools for the new volume, claim the chosen pool's capacity (a
  compare-and-swap, retried on a fresh read if another decision moved it) and ask its back end to make the
  volume. No pool fits: the volume ends in 'error' with Cinder's user message ("schedule allocate
  volume:Could not find any available weighted backend."), nothing claimed and nothing on any back end.
* StorageResult: a back end finished (or failed) a create, delete, extend or snapshot; the records follow.
* HostVolumeResult: a host connected or disconnected a volume; the attachment follows.
* VolumeExported: a back end exported a volume for an attachment (over NBD); the attachment records where.
* PoolsReported: back ends' capacity, kept in the pools' records for the scheduler and the pools API.
* a periodic sweep: a back end silent past ``operation_timeout`` leaves the volume in its error status.

Handlers run one at a time on the runtime; every record change is its own short transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.runtime import Runtime
from twinstack.core.volume import lifecycle, retype, server_volumes, snapshots, statuses, user_messages
from twinstack.core.volume.pool_records import all_pools, claim, record_reports, release
from twinstack.core.volume.scheduler.request import VolumeRequest
from twinstack.core.volume.scheduler.scheduler import NoValidBackend, VolumeScheduler
from twinstack.core.volume.service import VolumeService, backend_of
from twinstack.db.models.volume import SnapshotRow, VolumeRow, VolumeTypeRow
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.messages import Envelope, Message
from twinstack.rpc.volume import (
    VOLUME_TOPIC,
    CreateVolume,
    HostVolumeResult,
    PoolsReported,
    ScheduleVolume,
    SourceKind,
    StorageResult,
    VolumeExported,
    storage_topic,
)

LOG = logging.getLogger(__name__)
CLAIM_ATTEMPTS = 5


class VolumeManager:
    def __init__(self, runtime: Runtime, bus: Bus, service: VolumeService,
                 scheduler: VolumeScheduler | None = None) -> None:
        self.runtime = runtime
        self.bus = bus
        self.svc = replace(service, clock=runtime.clock, bus=bus)
        self.scheduler = scheduler or VolumeScheduler()

    def start(self) -> None:
        self.bus.subscribe(VOLUME_TOPIC, typed(self.handle))
        self.runtime.call_later(self._sweep_interval(), self.sweep)

    def _sweep_interval(self) -> float:
        return min(10.0, self.svc.settings.operation_timeout / 2)

    def sweep(self) -> None:
        """Volumes whose back end stayed silent past ``operation_timeout`` end in their error status: a create
        in 'error' (its claim released, a user message), a delete in 'error_deleting', an extend in
        'error_extending' (the growth released), a retype's migration back where it was (migration_status
        'error', the destination's claim released). Then again after the sweep interval."""
        cutoff = self.svc.now() - dt.timedelta(seconds=self.svc.settings.operation_timeout)
        with self.svc.transaction() as session:
            stuck = session.scalars(select(VolumeRow).where(
                VolumeRow.status.in_((statuses.CREATING, statuses.DELETING, statuses.EXTENDING, statuses.RETYPING)),
                VolumeRow.updated_at < cutoff))
            for volume in stuck:
                LOG.warning("volume %s stayed %s on %s past the operation timeout", volume.id, volume.status,
                            volume.host)
                if volume.status == statuses.CREATING:
                    release(session, volume.host, volume.size)
                    volume.host = None
                    volume.status = statuses.ERROR
                    user_messages.record(session, self.svc.now(), volume.project_id, volume.id,
                                         user_messages.CREATE_FROM_BACKEND, user_messages.UNKNOWN_ERROR)
                elif volume.status == statuses.DELETING:
                    volume.status = statuses.ERROR_DELETING
                elif volume.status == statuses.RETYPING:
                    retype.settle(session, volume, False, self.svc.now(), gave_up=True)  # back, migstat 'error'
                else:
                    grown = int((volume.pending or {}).get("extend_to", volume.size)) - volume.size
                    release(session, volume.host, grown)
                    volume.pending = None
                    volume.status = statuses.ERROR_EXTENDING
                volume.updated_at = self.svc.now()
        self.runtime.call_later(self._sweep_interval(), self.sweep)

    def handle(self, message: Message, _envelope: Envelope) -> None:
        if isinstance(message, ScheduleVolume):
            self.schedule(message.volume_id, message.request_id)
        elif isinstance(message, StorageResult):
            self._on_storage_result(message)
        elif isinstance(message, HostVolumeResult):
            server_volumes.host_answered(self.svc, message)
        elif isinstance(message, VolumeExported):
            server_volumes.record_export(self.svc, message.attachment_id, message.connection_info)
        elif isinstance(message, PoolsReported):
            with self.svc.transaction() as session:
                record_reports(session, self.svc.now(), message.backend, message.pools)

    # create

    def schedule(self, volume_id: str, request_id: str = "") -> None:
        command: CreateVolume | None = None
        with self.svc.transaction() as session:
            volume = session.get(VolumeRow, volume_id)
            if volume is None or volume.status != statuses.CREATING or volume.host is not None:
                return  # deleted meanwhile, or a repeated request
            try:
                command = self._place(session, volume)
            except NoValidBackend as exc:
                LOG.info("volume %s not scheduled: %s", volume_id, exc.message)
                volume.status = statuses.ERROR
                volume.updated_at = self.svc.now()
                user_messages.record(session, self.svc.now(), volume.project_id, volume.id,
                                     user_messages.SCHEDULE_ALLOCATE_VOLUME, user_messages.NO_BACKEND, request_id)
        if command is not None:
            send(self.bus, storage_topic(command.backend), command)

    def _place(self, session: Session, volume: VolumeRow) -> CreateVolume:
        """Pick and claim a pool for ``volume`` (recording it as the volume's host): the back end's command."""
        volume_type = session.get(VolumeTypeRow, volume.volume_type_id)
        source: SourceKind = "blank"
        source_id: str | None = None
        only_backend: str | None = None
        if volume.snapshot_id or volume.source_volid:
            snapshot = session.get(SnapshotRow, volume.snapshot_id) if volume.snapshot_id else None
            origin_id = snapshot.volume_id if snapshot is not None else volume.source_volid
            origin = session.get(VolumeRow, origin_id) if origin_id else None
            if origin is None or origin.host is None or (volume.snapshot_id and snapshot is None):
                raise NoValidBackend("The source of the volume is gone.")
            only_backend = backend_of(origin.host)
            source, source_id = ("snapshot", volume.snapshot_id) if snapshot is not None else ("volume", origin.id)
        elif volume.image_id:
            source, source_id = "image", volume.image_id
        request = VolumeRequest(volume.size, dict(volume_type.extra_specs) if volume_type else {},
                                volume.availability_zone, only_backend)
        for _attempt in range(CLAIM_ATTEMPTS):
            chosen = self.scheduler.select(all_pools(session), request)
            if claim(session, chosen, volume.size):
                break
            session.expire_all()
        else:
            raise NoValidBackend("Every chosen pool changed under the decision.")
        volume.host = chosen.name
        volume.updated_at = self.svc.now()
        image_bytes = int(volume.image_metadata.get("size") or 0) if source == "image" else 0
        return CreateVolume(backend=backend_of(chosen.name), pool=chosen.name, volume_id=volume.id,
                            size_gb=volume.size, source=source, source_id=source_id, image_bytes=image_bytes)

    def _finish_create(self, volume_id: str, ok: bool) -> None:
        with self.svc.transaction() as session:
            volume = session.get(VolumeRow, volume_id)
            if volume is None or volume.status != statuses.CREATING:
                return
            now = self.svc.now()
            volume.updated_at = now
            if ok:
                volume.status = statuses.AVAILABLE
                volume.launched_at = now
                return
            release(session, volume.host, volume.size)  # nothing is left on the back end, nor promised
            volume.host = None
            volume.status = statuses.ERROR
            user_messages.record(session, now, volume.project_id, volume.id, user_messages.CREATE_FROM_BACKEND,
                                 user_messages.UNKNOWN_ERROR)

    # answers

    def _on_storage_result(self, result: StorageResult) -> None:
        if not result.ok:
            LOG.warning("%s of %s failed on %s: %s", result.operation, result.resource_id, result.backend,
                        result.fault)
        if result.operation == "create_volume":
            self._finish_create(result.resource_id, result.ok)
        elif result.operation == "delete_volume":
            lifecycle.finish_delete(self.svc, result.resource_id, result.ok)
        elif result.operation == "extend_volume":
            lifecycle.finish_extend(self.svc, result.resource_id, result.ok)
        elif result.operation == "create_snapshot":
            snapshots.finish_create(self.svc, result.resource_id, result.ok)
        elif result.operation == "delete_snapshot":
            snapshots.finish_delete(self.svc, result.resource_id, result.ok)
        elif result.operation == "migrate_volume":
            retype.finish_migration(self.svc, result.resource_id, result.ok, result.command_id)
