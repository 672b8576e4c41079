"""What happens to a volume after it exists: delete, extend, bootable flag, status resets (retype: retype.py).

Each checks the status Cinder requires, records the transition ('deleting', 'extending'...) and, when a back end
must act, sends it the command; the volume manager finishes the transition when the back end answers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from twinstack.core.errors import BadRequest
from twinstack.core.volume import quotas, statuses
from twinstack.core.volume.lookup import get_volume
from twinstack.core.volume.pool_records import claim, release, snapshot_of
from twinstack.core.volume.scheduler.filters import CapacityFilter, passes
from twinstack.core.volume.scheduler.request import VolumeRequest
from twinstack.core.volume.service import VolumeService, backend_of
from twinstack.db.models.volume import AttachmentRow, PoolRow, SnapshotRow, VolumeRow
from twinstack.rpc.volume import DeleteSnapshot, DeleteVolume, ExtendVolume, storage_topic

IN_USE_REFUSAL = ("Invalid volume: Volume status must be available or error or error_restoring or error_extending "
                  "or error_managing and must not be migrating, attached, belong to a group, have snapshots, "
                  "awaiting a transfer, or be disassociated from snapshots after volume transfer.")
"""Cinder's 400 for deleting a volume that is attached, busy or has snapshots."""
CASCADE_DELETABLE_SNAPSHOTS = frozenset({statuses.AVAILABLE, statuses.ERROR})
"""Cinder's cascade delete takes only snapshots in these statuses."""
CASCADE = "cascade"
"""The key of a volume's ``pending`` while its snapshots are deleted before it."""


def delete_volume(svc: VolumeService, volume_id: str, scope: str | None, force: bool = False,
                  cascade: bool = False) -> None:
    """Refused (400) while attached, busy or with snapshots; with ``cascade`` (Cinder's, ``volume delete --purge``)
    snapshots are allowed when each is available or error: they go first, each through the back end, and the volume
    follows once the last is gone (:func:`finish_cascade`). A volume never placed on a pool goes at once, the others
    when their back end confirms."""
    commands: list[DeleteVolume | DeleteSnapshot] = []
    with svc.transaction() as session:
        row = get_volume(session, volume_id, scope, for_update=True)
        attached = session.scalar(select(func.count()).select_from(AttachmentRow)
                                  .where(AttachmentRow.volume_id == row.id)) or 0
        snapshots = list(session.scalars(select(SnapshotRow).where(SnapshotRow.volume_id == row.id)
                                         .with_for_update()))
        allowed = statuses.DELETABLE | ({statuses.CREATING, statuses.DELETING} if force else set())
        blocking = [s for s in snapshots if not cascade or s.status not in CASCADE_DELETABLE_SNAPSHOTS]
        if row.status not in allowed or attached or blocking or row.migration_status not in statuses.MIGRATION_SETTLED:
            raise BadRequest(IN_USE_REFUSAL)
        if row.host is None:
            session.delete(row)
            return
        svc.require_bus()
        now = svc.now()
        row.status = statuses.DELETING
        row.updated_at = now
        backend = backend_of(row.host)
        if snapshots:
            row.pending = {**(row.pending or {}), CASCADE: True}  # beside a given-up migration's, if any
            for snapshot in snapshots:
                snapshot.status, snapshot.updated_at = statuses.DELETING, now
                commands.append(DeleteSnapshot(backend=backend, pool=row.host, snapshot_id=snapshot.id))
        else:
            row.pending = _without_cascade(row.pending)  # an earlier cascade's, given up
            commands.append(DeleteVolume(backend=backend, pool=row.host, volume_id=row.id))
    for command in commands:
        svc.send(storage_topic(command.backend), command)


def _without_cascade(pending: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in (pending or {}).items() if k != CASCADE} or None


def finish_cascade(svc: VolumeService, volume_id: str, snapshot_deleted: bool) -> None:
    """One snapshot of a cascade delete is answered: when it was the last, the volume's own delete goes to its back
    end; when it failed, the volume ends error_deleting (as Cinder's manager leaves it), the snapshot too."""
    command = None
    with svc.transaction() as session:
        row = session.get(VolumeRow, volume_id, with_for_update=True)
        if row is None or row.status != statuses.DELETING or not (row.pending or {}).get(CASCADE):
            return
        if not snapshot_deleted:
            row.status, row.pending, row.updated_at = statuses.ERROR_DELETING, _without_cascade(row.pending), svc.now()
            return
        left = session.scalar(select(func.count()).select_from(SnapshotRow).where(SnapshotRow.volume_id == row.id))
        if left or row.host is None:
            return
        row.pending = _without_cascade(row.pending)
        row.updated_at = svc.now()
        command = DeleteVolume(backend=backend_of(row.host), pool=row.host, volume_id=row.id)
    svc.send(storage_topic(command.backend), command)


def extend_volume(svc: VolumeService, volume_id: str, scope: str | None, new_size: int,
                  allow_in_use: bool) -> None:
    """Grow the volume (available; in-use too from 3.42): quota and pool capacity are taken now, the back end
    grows it, the size changes when it answers."""
    svc.require_bus()
    with svc.transaction() as session:
        row = get_volume(session, volume_id, scope, for_update=True)
        if not isinstance(new_size, int) or new_size <= row.size:
            raise BadRequest(f"Invalid input received: New size for extend must be greater than current size. "
                             f"(current: {row.size}, extended: {new_size}).")
        # Cinder's extend_attached_volume (from 3.42, for an in-use volume) expects 'in-use', extend 'available';
        # its message shows the expected condition as Python prints the dict
        expected = statuses.IN_USE if allow_in_use and row.status == statuses.IN_USE else statuses.AVAILABLE
        if row.status != expected:
            raise BadRequest(f"Invalid volume: Volume {row.id} status must be '{{'status': '{expected}'}}' to "
                             f"extend, currently {row.status}.")
        delta = new_size - row.size
        quotas.admit(session, svc.settings, row.project_id, quotas.Demand(gigabytes=delta, volume_size=new_size))
        pool = session.get(PoolRow, row.host) if row.host else None
        if pool is None:
            raise BadRequest(f"Invalid volume: Volume {row.id} is not on any back end.")
        snapshot = snapshot_of(pool)
        if not passes(CapacityFilter(), snapshot, VolumeRequest(delta)) or not claim(session, snapshot, delta):
            raise BadRequest("No valid backend was found. Insufficient free space for volume extension.")
        row.pending = {"extend_to": new_size, "status_before": row.status}
        row.status = statuses.EXTENDING
        row.updated_at = svc.now()
        command = ExtendVolume(backend=backend_of(pool.name), pool=pool.name, volume_id=row.id,
                               new_size_gb=new_size)
    svc.send(storage_topic(command.backend), command)


def set_bootable(svc: VolumeService, volume_id: str, scope: str | None, bootable: bool) -> None:
    with svc.transaction() as session:
        row = get_volume(session, volume_id, scope)
        row.bootable = bootable
        row.updated_at = svc.now()


def reset_status(svc: VolumeService, volume_id: str, status: str | None, attach_status: str | None,
                 migration_status: str | None) -> None:
    """Admin only: force the recorded statuses (no back end is asked), as Cinder's os-reset_status."""
    if status is not None and status not in statuses.VOLUME_STATUSES:
        raise BadRequest(f"Invalid input received: Must specify a valid status, not {status}")
    if attach_status is not None and attach_status not in (statuses.ATTACHED, statuses.DETACHED):
        raise BadRequest(f"Invalid input received: Must specify a valid attach status, not {attach_status}")
    with svc.transaction() as session:
        row = get_volume(session, volume_id, None, for_update=True)
        if status is not None:
            row.status = status
        if attach_status is not None:
            row.attach_status = attach_status
        if migration_status is not None:
            row.migration_status = None if migration_status == "none" else migration_status
        row.updated_at = svc.now()


def finish_delete(svc: VolumeService, volume_id: str, ok: bool) -> None:
    """The back end answered a delete: the record goes (and its capacity back to the pool), or error_deleting."""
    with svc.transaction() as session:
        row = session.get(VolumeRow, volume_id)
        if row is None:
            return
        if not ok:
            row.status = statuses.ERROR_DELETING
            row.updated_at = svc.now()
            return
        release(session, row.host, row.size)
        session.delete(row)


def finish_extend(svc: VolumeService, volume_id: str, ok: bool) -> None:
    with svc.transaction() as session:
        row = session.get(VolumeRow, volume_id)
        if row is None or row.pending is None:
            return
        new_size = int(row.pending["extend_to"])
        if ok:
            row.size = new_size
            row.status = str(row.pending.get("status_before", statuses.AVAILABLE))
        else:
            release(session, row.host, new_size - row.size)
            row.status = statuses.ERROR_EXTENDING
        row.pending = None
        row.updated_at = svc.now()
