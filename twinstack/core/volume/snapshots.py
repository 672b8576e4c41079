"""Snapshots: a point-in-time copy kept in the volume's back end, counted in the project's quota.

Create needs the volume available (in-use too with ``force``, or from 3.66 on); the snapshot answers in
'creating' and becomes 'available' when the back end has made it. Delete goes through the back end as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from twinstack.core.errors import BadRequest
from twinstack.core.volume import lifecycle, quotas, statuses
from twinstack.core.volume.lookup import get_snapshot, get_volume
from twinstack.core.volume.service import VolumeService, backend_of
from twinstack.db.models.volume import SnapshotRow, VolumeRow
from twinstack.rpc.volume import CreateSnapshot, DeleteSnapshot, storage_topic


def create_snapshot(svc: VolumeService, volume_id: str, scope: str | None, user_id: str, name: str | None,
                    description: str | None, metadata: Mapping[str, str], force: bool) -> SnapshotRow:
    svc.require_bus()
    with svc.transaction() as session:
        volume = get_volume(session, volume_id, scope)
        allowed = {statuses.AVAILABLE} | ({statuses.IN_USE} if force else set())
        if volume.status not in allowed or volume.host is None:
            raise BadRequest(f"Invalid volume: Volume {volume.id} status must be available, but current status "
                             f"is: {volume.status}.")
        quotas.admit(session, svc.settings, volume.project_id, quotas.Demand(snapshots=1, gigabytes=volume.size))
        now = svc.now()
        row = SnapshotRow(id=str(uuid.uuid4()), volume_id=volume.id, project_id=volume.project_id, user_id=user_id,
                          name=name, description=description, size=volume.size, status=statuses.CREATING,
                          progress="0%", meta=dict(metadata), created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        session.expunge(row)
        command = CreateSnapshot(backend=backend_of(volume.host), pool=volume.host, volume_id=volume.id,
                                 snapshot_id=row.id, size_gb=volume.size)
    svc.send(storage_topic(command.backend), command)
    return row


def delete_snapshot(svc: VolumeService, snapshot_id: str, scope: str | None, force: bool = False) -> None:
    with svc.transaction() as session:
        row = get_snapshot(session, snapshot_id, scope)
        allowed = {statuses.AVAILABLE, statuses.ERROR, statuses.ERROR_DELETING} | (
            {statuses.CREATING, statuses.DELETING} if force else set())
        if row.status not in allowed:
            raise BadRequest(f"Invalid snapshot: Volume Snapshot status must be available or error, currently "
                             f"{row.status}.")
        volume = session.get(VolumeRow, row.volume_id)
        if volume is None or volume.host is None:
            session.delete(row)
            return
        svc.require_bus()
        row.status = statuses.DELETING
        row.updated_at = svc.now()
        command = DeleteSnapshot(backend=backend_of(volume.host), pool=volume.host, snapshot_id=row.id)
    svc.send(storage_topic(command.backend), command)


def finish_create(svc: VolumeService, snapshot_id: str, ok: bool) -> None:
    with svc.transaction() as session:
        row = session.get(SnapshotRow, snapshot_id)
        if row is not None and row.status == statuses.CREATING:
            row.status = statuses.AVAILABLE if ok else statuses.ERROR
            row.progress = "100%" if ok else row.progress
            row.updated_at = svc.now()


def finish_delete(svc: VolumeService, snapshot_id: str, ok: bool) -> None:
    """The back end answered a snapshot's delete: the record goes, or error_deleting; a volume deleted with its
    snapshots (cascade) then follows."""
    with svc.transaction() as session:
        row = session.get(SnapshotRow, snapshot_id)
        if row is None:
            return
        volume_id = row.volume_id
        if ok:
            session.delete(row)
        else:
            row.status = statuses.ERROR_DELETING
            row.updated_at = svc.now()
    lifecycle.finish_cascade(svc, volume_id, ok)


def reset_status(svc: VolumeService, snapshot_id: str, status: str) -> None:
    if status not in statuses.SNAPSHOT_STATUSES:
        raise BadRequest(f"Invalid input received: Must specify a valid status, not {status}")
    with svc.transaction() as session:
        row = get_snapshot(session, snapshot_id, None)
        row.status = status
        row.updated_at = svc.now()
