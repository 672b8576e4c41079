"""Retype (os-retype): change a volume's type, in place or, with ``migration_policy`` 'on-demand', by migrating it
to a back end the new type's extra specs send it to (Cinder's generic migration).

* The volume's pool satisfies the new type (CapabilitiesFilter): the type changes at once, whatever the policy.
* It does not, and the policy is 'never' (the default): refused with Cinder's reason, "Retype requires migration
  but is not allowed."
* It does not, and the policy is 'on-demand': the volume scheduler (the same pipeline, filters and weighers as
  for a new volume, in the volume's availability zone) picks a pool for the new type and its capacity is claimed
  now (as extend claims now); the volume goes 'retyping' with ``migration_status`` 'migrating' and its back end
  is asked to move it (:class:`~twinstack.rpc.volume.MigrateVolume`). When the back end answers,
  :func:`finish_migration` moves the allocation from the old pool to the new one, sets the new type and
  ``migration_status`` 'success', and gives the volume back its status ('available'); a failed move releases the
  claim and leaves the volume where and what it was, ``migration_status`` 'error'.

A back end whose volumes are files local to its host (a real host's) moves them only to another back end of
that host: destinations elsewhere are not candidates.

Only detached volumes migrate: moving an attached one needs the compute host to copy the data under the
running guest (Nova's swap_volume), which the simulated and real hosts do not offer; such a retype is refused.
A volume with snapshots cannot migrate either (Cinder's rule: snapshots stay on their back end).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest
from twinstack.core.volume import statuses
from twinstack.core.volume.lookup import get_volume
from twinstack.core.volume.pool_records import all_pools, claim, hold, release, snapshot_of
from twinstack.core.volume.scheduler.filters import CapabilitiesFilter, passes
from twinstack.core.volume.scheduler.pools import PoolSnapshot
from twinstack.core.volume.scheduler.request import VolumeRequest
from twinstack.core.volume.scheduler.scheduler import NoValidBackend, VolumeScheduler
from twinstack.core.volume.service import VolumeService, backend_of
from twinstack.db.models.volume import PoolRow, SnapshotRow, VolumeRow, VolumeTypeRow
from twinstack.rpc.volume import DeleteVolume, MigrateVolume, storage_topic

POLICIES = ("never", "on-demand")
NOT_ALLOWED = "Invalid volume: Retype requires migration but is not allowed."
"""Cinder's reason for a retype that would need a migration under policy 'never'."""
HAS_SNAPSHOTS = "Invalid volume: Volume must not have snapshots."
ATTACHED = ("Invalid volume: Retype of an in-use volume to another back end is not supported here: detach it "
            "first (moving an attached volume needs the compute host to copy it, as Nova's swap_volume does).")
CLAIM_ATTEMPTS = 5
ABANDONED = "abandoned_migration"
"""``pending`` key of a migration the sweep gave up on, kept for the back end's late answer."""
LOG = logging.getLogger(__name__)


def retype_volume(svc: VolumeService, volume_id: str, scope: str | None, new_type: VolumeTypeRow,
                  migration_policy: str, scheduler: VolumeScheduler | None = None) -> None:
    """See the module docstring. ``scheduler`` picks the destination of a migration (one built from the
    service's settings, i.e. the configured filters and weighers, unless given)."""
    if migration_policy not in POLICIES:
        raise BadRequest(f"Invalid input received: migration_policy must be one of {', '.join(POLICIES)}, "
                         f"not {migration_policy}.")
    command: MigrateVolume | None = None
    with svc.transaction() as session:
        row = get_volume(session, volume_id, scope, for_update=True)
        if row.status not in (statuses.AVAILABLE, statuses.IN_USE) or (
                row.migration_status not in statuses.MIGRATION_SETTLED):
            raise BadRequest(f"Invalid volume: Volume {row.id} status must be available or in-use to retype, "
                             f"currently {row.status}.")
        if new_type.id == row.volume_type_id:
            raise BadRequest("Invalid input received: New volume type must be different from the old one.")
        pool = session.get(PoolRow, row.host) if row.host else None
        if pool is not None and passes(CapabilitiesFilter(), snapshot_of(pool),
                                       VolumeRequest(row.size, new_type.extra_specs)):
            row.volume_type_id = new_type.id
            row.updated_at = svc.now()
            return
        if migration_policy != "on-demand":
            raise BadRequest(NOT_ALLOWED)
        if pool is None:
            raise BadRequest(f"Invalid volume: Volume {row.id} is not on any back end.")
        if row.status != statuses.AVAILABLE:
            raise BadRequest(ATTACHED)
        held = session.scalar(select(func.count()).select_from(SnapshotRow).where(SnapshotRow.volume_id == row.id))
        if held:
            raise BadRequest(HAS_SNAPSHOTS)
        svc.require_bus()
        scheduler = scheduler or VolumeScheduler(svc.settings)
        request = VolumeRequest(row.size, dict(new_type.extra_specs), row.availability_zone)
        for _attempt in range(CLAIM_ATTEMPTS):
            try:
                chosen = scheduler.select(destinations(snapshot_of(pool), all_pools(session)), request)
            except NoValidBackend as exc:
                raise BadRequest(exc.message) from None
            if claim(session, chosen, row.size):
                break
            session.expire_all()
        else:
            raise BadRequest("No valid backend was found. Every chosen pool changed under the decision.")
        command = MigrateVolume(backend=backend_of(pool.name), pool=pool.name, volume_id=row.id, size_gb=row.size,
                                dest_backend=backend_of(chosen.name), dest_pool=chosen.name)
        row.pending = {"retype_to": new_type.id, "migrate_to": chosen.name, "status_before": row.status,
                       "command_id": command.command_id}
        row.status = statuses.RETYPING
        row.migration_status = statuses.MIGRATING
        row.updated_at = svc.now()
    svc.send(storage_topic(command.backend), command)


def host_of(pool_name: str) -> str:
    """``host`` of a pool named ``host@backend#pool``."""
    return pool_name.split("@", 1)[0]


def destinations(source: PoolSnapshot, pools: list[PoolSnapshot]) -> list[PoolSnapshot]:
    """The pools a volume on ``source`` can migrate to: any other, unless the source's volumes are files local
    to its host (``storage_protocol`` 'local', as a real host's qcow2 back ends): such a back end copies only
    into another back end of the same host, so only those are candidates (none: the scheduler's 400)."""
    others = [p for p in pools if p.name != source.name]
    if str(source.capabilities.get("storage_protocol", "")).lower() != "local":
        return others
    return [p for p in others if host_of(p.name) == host_of(source.name)]


def finish_migration(svc: VolumeService, volume_id: str, ok: bool, command_id: str | None = None) -> None:
    """The source back end answered a MigrateVolume (see the module docstring). An answer to a migration the
    manager's sweep gave up on (its command id recorded then) is a late one: see :func:`late_answer`."""
    cleanup: DeleteVolume | None = None
    with svc.transaction() as session:
        row = session.get(VolumeRow, volume_id)
        if row is None:
            LOG.warning("migration of volume %s answered (ok=%s) after the volume was deleted", volume_id, ok)
            return
        migrating = (row.pending or {}).get("command_id")
        if row.status == statuses.RETYPING and (command_id is None or migrating in (None, command_id)):
            settle(session, row, ok, svc.now())
        elif ok and command_id is not None:
            cleanup = late_answer(session, row, command_id, svc.now())
    if cleanup is not None:
        svc.send(storage_topic(cleanup.backend), cleanup)


def settle(session: Session, row: VolumeRow, ok: bool, now: dt.datetime, gave_up: bool = False) -> None:
    """End ``row``'s migration: moved (``ok``) or not. Also what the manager's sweep does (``gave_up``) to a
    migration whose back end stayed silent past the operation timeout: the volume is given back where it was,
    but the back end may still finish the move, so what was asked is kept in ``pending['abandoned']`` for
    :func:`late_answer`. A volume not migrating is left alone."""
    pending = row.pending
    if row.status != statuses.RETYPING or not pending or "migrate_to" not in pending:
        return
    destination = str(pending["migrate_to"])
    row.pending = None
    if ok:
        release(session, row.host, row.size)
        row.host = destination
        row.volume_type_id = str(pending["retype_to"])
        row.migration_status = statuses.MIGRATION_SUCCESS
    else:
        release(session, destination, row.size)
        row.migration_status = statuses.MIGRATION_ERROR
        if gave_up and pending.get("command_id"):
            row.pending = {ABANDONED: {"command_id": pending["command_id"], "migrate_to": destination,
                                       "retype_to": pending["retype_to"], "source": row.host}}
    row.status = str(pending.get("status_before", statuses.AVAILABLE))
    row.updated_at = now


def late_answer(session: Session, row: VolumeRow, command_id: str, now: dt.datetime) -> DeleteVolume | None:
    """The back end moved the volume after the sweep gave its migration up. Its data is now on the destination
    only (the move removes the source), so the move is accepted: the destination holds the volume's capacity
    again, the source's is released, the type is the new one. A volume being deleted meanwhile is not moved:
    the copy on the destination is deleted (the command answered, for after the commit). An answer to no
    abandoned migration of this volume changes nothing."""
    abandoned = (row.pending or {}).get(ABANDONED)
    if not isinstance(abandoned, dict) or abandoned.get("command_id") != command_id:
        LOG.warning("a late migration answer for volume %s matches no migration given up", row.id)
        return None
    destination = str(abandoned["migrate_to"])
    row.pending = {k: v for k, v in (row.pending or {}).items() if k != ABANDONED} or None  # a cascade delete's stays
    row.updated_at = now
    if row.status in (statuses.DELETING, statuses.ERROR_DELETING) or row.host != abandoned.get("source"):
        LOG.warning("volume %s moved to %s after its migration was given up; deleting the copy there", row.id,
                    destination)
        return DeleteVolume(backend=backend_of(destination), pool=destination, volume_id=row.id)
    hold(session, destination, row.size)
    release(session, row.host, row.size)
    row.host = destination
    row.volume_type_id = str(abandoned["retype_to"])
    row.migration_status = statuses.MIGRATION_SUCCESS
    return None
