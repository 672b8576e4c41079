"""Migration records in SQL: the MigrationStore protocol, one short transaction per call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select

from twinstack.core.compute.model import Migration
from twinstack.core.compute.stores import MarkerNotFound, MigrationQuery
from twinstack.db.models.compute import MigrationRow
from twinstack.db.session import SessionFactory
from twinstack.db.stores.compute import to_dt
from twinstack.rpc.compute import FlavorSpec


def migration_from_row(row: MigrationRow) -> Migration:
    return Migration(
        uuid=row.uuid, instance_uuid=row.instance_uuid, migration_type=row.migration_type, status=row.status,
        project_id=row.project_id, user_id=row.user_id, old_flavor=FlavorSpec.model_validate(row.old_flavor),
        new_flavor=FlavorSpec.model_validate(row.new_flavor), created_at=row.created_at.timestamp(),
        updated_at=row.updated_at.timestamp(), source_compute=row.source_compute, source_node=row.source_node,
        dest_compute=row.dest_compute, dest_node=row.dest_node, dest_host=row.dest_host,
        old_vm_state=row.old_vm_state, id=row.id,
    )


def _fill(row: MigrationRow, migration: Migration) -> None:
    row.status, row.old_vm_state = migration.status, migration.old_vm_state
    row.source_compute, row.source_node = migration.source_compute, migration.source_node
    row.dest_compute, row.dest_node, row.dest_host = migration.dest_compute, migration.dest_node, migration.dest_host
    row.updated_at = to_dt(migration.updated_at)  # type: ignore[assignment]


def _conditions(query: MigrationQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    equal: list[tuple[Any, Any]] = [
        (MigrationRow.instance_uuid, query.instance_uuid), (MigrationRow.source_compute, query.source_compute),
        (MigrationRow.migration_type, query.migration_type)]
    conditions.extend(column == wanted for column, wanted in equal if wanted is not None)
    if query.host is not None:
        conditions.append(or_(MigrationRow.source_compute == query.host, MigrationRow.dest_compute == query.host))
    if query.statuses is not None:
        conditions.append(MigrationRow.status.in_(sorted(query.statuses)))
    if query.changes_since is not None:
        conditions.append(MigrationRow.updated_at >= to_dt(query.changes_since))
    if query.changes_before is not None:
        conditions.append(MigrationRow.updated_at <= to_dt(query.changes_before))
    return conditions


class SqlMigrationStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def add(self, migration: Migration) -> None:
        with self.sessions() as session, session.begin():
            row = MigrationRow(uuid=migration.uuid, instance_uuid=migration.instance_uuid,
                               migration_type=migration.migration_type, project_id=migration.project_id,
                               user_id=migration.user_id, old_flavor=migration.old_flavor.model_dump(),
                               new_flavor=migration.new_flavor.model_dump(), created_at=to_dt(migration.created_at))
            _fill(row, migration)
            session.add(row)
            session.flush()
            migration.id = row.id

    def save(self, migration: Migration) -> None:
        with self.sessions() as session, session.begin():
            row = session.scalar(select(MigrationRow).where(MigrationRow.uuid == migration.uuid))
            if row is not None:
                _fill(row, migration)

    def get(self, uuid: str) -> Migration | None:
        with self.sessions() as session:
            row = session.scalar(select(MigrationRow).where(MigrationRow.uuid == uuid))
            return migration_from_row(row) if row else None

    def find(self, query: MigrationQuery) -> list[Migration]:
        statement = (select(MigrationRow).where(*_conditions(query))
                     .order_by(MigrationRow.created_at.desc(), MigrationRow.id.desc()))
        with self.sessions() as session:
            found = [migration_from_row(r) for r in session.scalars(statement)]
        if query.marker is not None:
            index = next((n for n, m in enumerate(found) if m.uuid == query.marker), None)
            if index is None:
                raise MarkerNotFound(query.marker)
            found = found[index + 1:]
        return found if query.limit is None else found[:query.limit]
