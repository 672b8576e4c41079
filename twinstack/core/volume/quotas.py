"""Block storage quotas (Cinder's os-quota-sets): limits per project, usage counted from the live rows.

Admission is atomic: the caller holds the project's write lock (:func:`lock_projects`) while it counts, checks
and inserts, so two creates racing for the last gigabytes cannot both pass. Counting from the rows (instead of
Cinder's usage table with reservations) keeps usage exact by construction: a deleted volume simply stops being
counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from twinstack.config import VolumeSettings
from twinstack.core.errors import BadRequest, OverQuota
from twinstack.db.models.volume import SnapshotRow, VolumeQuotaRow, VolumeRow
from twinstack.db.stores.project_lock import lock_projects

ENFORCED = ("volumes", "gigabytes", "snapshots", "per_volume_gigabytes")
SHOWN_ONLY = {"backups": 10, "backup_gigabytes": 1000, "groups": 10}
"""Resources Cinder reports that nothing here creates yet (backups, groups): shown and settable, never used."""


def default_limits(settings: VolumeSettings) -> dict[str, int]:
    return {"volumes": settings.quota_volumes, "gigabytes": settings.quota_gigabytes,
            "snapshots": settings.quota_snapshots, "per_volume_gigabytes": -1, **SHOWN_ONLY}


def limits(session: Session, settings: VolumeSettings, project_id: str) -> dict[str, int]:
    rows = session.execute(select(VolumeQuotaRow.resource, VolumeQuotaRow.hard_limit)
                           .where(VolumeQuotaRow.project_id == project_id))
    return {**default_limits(settings), **{resource: limit for resource, limit in rows}}


def usage(session: Session, project_id: str) -> dict[str, int]:
    """Volumes, snapshots and their gigabytes (Cinder counts a snapshot's size in ``gigabytes`` too)."""
    volumes, volume_gb = session.execute(
        select(func.count(), func.coalesce(func.sum(VolumeRow.size), 0)).where(VolumeRow.project_id == project_id)
    ).one()
    snapshots, snapshot_gb = session.execute(
        select(func.count(), func.coalesce(func.sum(SnapshotRow.size), 0))
        .where(SnapshotRow.project_id == project_id)).one()
    return {"volumes": int(volumes), "snapshots": int(snapshots), "gigabytes": int(volume_gb) + int(snapshot_gb),
            "per_volume_gigabytes": 0, **dict.fromkeys(SHOWN_ONLY, 0)}


@dataclass(frozen=True)
class Demand:
    volumes: int = 0
    snapshots: int = 0
    gigabytes: int = 0
    volume_size: int | None = None
    """The size of one new or extended volume, checked against ``per_volume_gigabytes``."""


def admit(session: Session, settings: VolumeSettings, project_id: str, demand: Demand) -> None:
    """Take the project's write lock (held until the caller's transaction ends) and refuse, with Cinder's
    413 messages, a demand that would pass a limit. The caller inserts or grows the rows in the same
    transaction."""
    lock_projects(session, [project_id])
    check(limits(session, settings, project_id), usage(session, project_id), demand)


def check(limit: Mapping[str, int], used: Mapping[str, int], demand: Demand) -> None:
    per_volume = limit.get("per_volume_gigabytes", -1)
    if demand.volume_size is not None and per_volume >= 0 and demand.volume_size > per_volume:
        raise OverQuota(f"Requested volume size {demand.volume_size}G is larger than maximum allowed limit "
                        f"{per_volume}G.")
    if demand.volumes and 0 <= limit["volumes"] < used["volumes"] + demand.volumes:
        raise OverQuota(f"Maximum number of volumes allowed ({limit['volumes']}) exceeded for quota 'volumes'.")
    if demand.snapshots and 0 <= limit["snapshots"] < used["snapshots"] + demand.snapshots:
        raise OverQuota(f"Maximum number of snapshots allowed ({limit['snapshots']}) exceeded")
    if demand.gigabytes and 0 <= limit["gigabytes"] < used["gigabytes"] + demand.gigabytes:
        raise OverQuota(f"Requested volume or snapshot exceeds allowed gigabytes quota. Requested "
                        f"{demand.gigabytes}G, quota is {limit['gigabytes']}G and {used['gigabytes']}G has been "
                        f"consumed.")


def set_limits(session: Session, settings: VolumeSettings, project_id: str, wanted: Mapping[str, int]) -> None:
    """Change limits; refused (400) below -1 or below what the project already uses."""
    known = default_limits(settings)
    used = usage(session, project_id)
    for resource, value in wanted.items():
        if resource not in known:
            raise BadRequest(f"Bad key(s) in quota set: {resource}")
        if value < -1:
            raise BadRequest(f"Quota limit {value} for {resource} must be -1 or greater.")
        if 0 <= value < used.get(resource, 0):
            raise BadRequest(f"Quota limit {value} for {resource} must be equal or greater than existing "
                             f"resources. Current usage is {used[resource]} and the requested limit is {value}.")
        row = session.get(VolumeQuotaRow, (project_id, resource))
        if row is None:
            session.add(VolumeQuotaRow(project_id=project_id, resource=resource, hard_limit=value))
        else:
            row.hard_limit = value


def reset_limits(session: Session, project_id: str) -> None:
    session.execute(delete(VolumeQuotaRow).where(VolumeQuotaRow.project_id == project_id))
