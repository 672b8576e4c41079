"""Finding volumes and snapshots the caller may see, and listing them with Cinder's filters, sort and paging."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, NotFound
from twinstack.db.models.volume import AttachmentRow, SnapshotRow, VolumeRow

VOLUME_SORT_KEYS = {"id": VolumeRow.id, "name": VolumeRow.name, "size": VolumeRow.size,
                    "status": VolumeRow.status, "created_at": VolumeRow.created_at,
                    "updated_at": VolumeRow.updated_at, "availability_zone": VolumeRow.availability_zone,
                    "bootable": VolumeRow.bootable, "project_id": VolumeRow.project_id}
SNAPSHOT_SORT_KEYS = {"id": SnapshotRow.id, "name": SnapshotRow.name, "size": SnapshotRow.size,
                      "status": SnapshotRow.status, "created_at": SnapshotRow.created_at,
                      "updated_at": SnapshotRow.updated_at, "volume_id": SnapshotRow.volume_id}


@dataclass(frozen=True)
class ListQuery:
    """Cinder's list parameters: exact filters on columns, ``metadata`` to contain, sort, marker and limit."""

    project_id: str | None
    """Only this project's (None: every project, for an admin's ``all_tenants``)."""
    filters: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)
    sort: Sequence[tuple[str, str]] = (("created_at", "desc"),)
    marker: str | None = None
    limit: int | None = None


def get_volume(session: Session, volume_id: str, project_id: str | None, for_update: bool = False) -> VolumeRow:
    """The volume, if the caller's project owns it (``project_id`` None: any project, for admins)."""
    query = select(VolumeRow).where(VolumeRow.id == volume_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None or (project_id is not None and row.project_id != project_id):
        raise NotFound(f"Volume {volume_id} could not be found.")
    return row


def get_snapshot(session: Session, snapshot_id: str, project_id: str | None) -> SnapshotRow:
    row = session.get(SnapshotRow, snapshot_id)
    if row is None or (project_id is not None and row.project_id != project_id):
        raise NotFound(f"Snapshot {snapshot_id} could not be found.")
    return row


def attachments_of(session: Session, volume_ids: Sequence[str]) -> dict[str, list[AttachmentRow]]:
    found: dict[str, list[AttachmentRow]] = {v: [] for v in volume_ids}
    if volume_ids:
        for row in session.scalars(select(AttachmentRow).where(AttachmentRow.volume_id.in_(volume_ids))
                                   .order_by(AttachmentRow.created_at)):
            found[row.volume_id].append(row)
    return found


def _page(session: Session, query: Select[Any], model: type[Any], keys: Mapping[str, Any], q: ListQuery) -> list[Any]:
    for key, direction in q.sort:
        column = keys.get(key)
        if column is None:
            raise BadRequest(f"Invalid input received: Invalid sort key {key}")
        query = query.order_by(column.asc() if direction == "asc" else column.desc())
    query = query.order_by(model.id.asc())
    rows = list(session.scalars(query))
    if q.metadata:
        rows = [r for r in rows if all(str(r.meta.get(k)) == v for k, v in q.metadata.items())]
    if q.marker is not None:
        index = next((i for i, r in enumerate(rows) if r.id == q.marker), None)
        if index is None:
            raise BadRequest(f"Invalid input received: marker [{q.marker}] not found")
        rows = rows[index + 1:]
    return rows if q.limit is None else rows[:q.limit]


def list_volumes(session: Session, q: ListQuery) -> list[VolumeRow]:
    query = select(VolumeRow)
    if q.project_id is not None:
        query = query.where(VolumeRow.project_id == q.project_id)
    for key, value in q.filters.items():
        column = VOLUME_SORT_KEYS.get(key) if key != "volume_type_id" else VolumeRow.volume_type_id
        if column is None:
            continue  # Cinder ignores filters it does not allow
        query = query.where(column == value)
    rows: list[VolumeRow] = _page(session, query, VolumeRow, VOLUME_SORT_KEYS, q)
    return rows


def list_snapshots(session: Session, q: ListQuery) -> list[SnapshotRow]:
    query = select(SnapshotRow)
    if q.project_id is not None:
        query = query.where(SnapshotRow.project_id == q.project_id)
    for key, value in q.filters.items():
        column = SNAPSHOT_SORT_KEYS.get(key)
        if column is not None:
            query = query.where(column == value)
    rows: list[SnapshotRow] = _page(session, query, SnapshotRow, SNAPSHOT_SORT_KEYS, q)
    return rows
