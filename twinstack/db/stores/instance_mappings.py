"""Instance mappings in the main database: which cell database holds an instance that left the main one."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from twinstack.core.compute.cell_mappings import InstanceMapping
from twinstack.core.compute.model import Instance
from twinstack.db.models.compute import InstanceMappingRow
from twinstack.db.session import SessionFactory
from twinstack.db.stores.compute import from_dt, to_dt


def _mapping(row: InstanceMappingRow) -> InstanceMapping:
    return InstanceMapping(
        instance_uuid=row.instance_uuid, cell=row.cell, project_id=row.project_id, user_id=row.user_id,
        created_at=from_dt(row.created_at) or 0.0, flavor=dict(row.flavor), image_id=row.image_id,
        availability_zone=row.availability_zone, server_group_id=row.server_group_id, moving=row.moving,
        moved_from=row.moved_from, deleted=row.deleted)


class SqlInstanceMappings:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def get(self, instance_uuid: str) -> InstanceMapping | None:
        with self.sessions() as session:
            row = session.get(InstanceMappingRow, instance_uuid)
            return _mapping(row) if row is not None else None

    def get_many(self, instance_uuids: Iterable[str]) -> dict[str, InstanceMapping]:
        uuids = sorted(set(instance_uuids))
        found: dict[str, InstanceMapping] = {}
        with self.sessions() as session:
            for start in range(0, len(uuids), 500):
                for row in session.scalars(select(InstanceMappingRow).where(
                        InstanceMappingRow.instance_uuid.in_(uuids[start:start + 500]))):
                    found[row.instance_uuid] = _mapping(row)
        return found

    def begin_move(self, instance: Instance, cell: str | None, moved_from: str | None) -> None:
        """Record that ``instance`` now belongs in ``cell``'s database (None: the main one) and is on its way from
        ``moved_from``'s: from this commit on, readers look in ``cell`` first, then in ``moved_from``."""
        with self.sessions() as session, session.begin():
            row = session.get(InstanceMappingRow, instance.uuid, with_for_update=True)
            if row is None:
                row = InstanceMappingRow(instance_uuid=instance.uuid)
                session.add(row)
            row.cell, row.moved_from, row.moving = cell, moved_from, True
            row.project_id, row.user_id = instance.project_id, instance.user_id
            row.created_at = to_dt(instance.created_at)  # type: ignore[assignment]
            row.flavor = instance.flavor.model_dump()
            row.image_id = instance.image.id if instance.image is not None else None
            row.availability_zone = instance.requested_availability_zone
            row.server_group_id = instance.server_group_id
            row.deleted = instance.vm_state == "deleted"

    def end_move(self, instance_uuid: str) -> None:
        """The record is in its cell's database alone: the move is over."""
        with self.sessions() as session, session.begin():
            session.execute(update(InstanceMappingRow).where(InstanceMappingRow.instance_uuid == instance_uuid)
                            .values(moving=False, moved_from=None))

    def mark_deleted(self, instance_uuid: str) -> None:
        with self.sessions() as session, session.begin():
            session.execute(update(InstanceMappingRow).where(InstanceMappingRow.instance_uuid == instance_uuid)
                            .values(deleted=True))

    def moving(self) -> list[InstanceMapping]:
        """The moves under way or cut short (by a crash, or a database that stopped answering)."""
        with self.sessions() as session:
            return [_mapping(r) for r in session.scalars(select(InstanceMappingRow)
                                                         .where(InstanceMappingRow.moving.is_(True)))]

    def count_moving(self) -> int:
        with self.sessions() as session:
            return len(session.scalars(select(InstanceMappingRow.instance_uuid)
                                       .where(InstanceMappingRow.moving.is_(True))).all())

    def in_cells(self, cells: frozenset[str], project_id: str | None) -> list[InstanceMapping]:
        if not cells:
            return []
        statement = select(InstanceMappingRow).where(InstanceMappingRow.cell.in_(sorted(cells)),
                                                     InstanceMappingRow.deleted.is_(False))
        if project_id is not None:
            statement = statement.where(InstanceMappingRow.project_id == project_id)
        statement = statement.order_by(InstanceMappingRow.created_at.desc(), InstanceMappingRow.instance_uuid.desc())
        with self.sessions() as session:
            return [_mapping(r) for r in session.scalars(statement)]
