"""Which records count as alive, as SQL conditions the checks share: a server that still exists, a move under way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, select

from twinstack.core.compute import states
from twinstack.db.models.compute import InstanceMappingRow, InstanceRow, MigrationRow

FINISHED_MIGRATIONS = frozenset({"confirmed", "reverted", "error", "failed", "completed", "done", "cancelled"})
"""Statuses after which a migration holds nothing (its allocation went back to the instance or was dropped)."""


def mapped_to_a_cell(uuid_column: Any) -> ColumnElement[bool]:
    """An instance kept in a cell's own database, not known deleted: counted alive, as the audit reads the main
    database only (its cell's records are not judged from here)."""
    return exists(select(InstanceMappingRow.instance_uuid).where(
        InstanceMappingRow.instance_uuid == uuid_column, InstanceMappingRow.deleted.is_(False)))


def live_instance(uuid_column: Any) -> ColumnElement[bool]:
    """An instance with this uuid exists and is not deleted (deleting still counts: its delete is under way)."""
    return exists(select(InstanceRow.uuid).where(InstanceRow.uuid == uuid_column, InstanceRow.deleted.is_(False))
                  ) | mapped_to_a_cell(uuid_column)


def allocation_owner(uuid_column: Any) -> ColumnElement[bool]:
    """A consumer that may hold allocations: a live instance that is not in ERROR without a host (a build that
    failed everywhere releases its claim), or a migration not yet finished (a resize's source allocation)."""
    instance = exists(select(InstanceRow.uuid).where(
        InstanceRow.uuid == uuid_column, InstanceRow.deleted.is_(False),
        not_(and_(InstanceRow.vm_state == states.ERROR, InstanceRow.host.is_(None)))))
    migration = exists(select(MigrationRow.uuid).where(
        MigrationRow.uuid == uuid_column, MigrationRow.status.not_in(sorted(FINISHED_MIGRATIONS))))
    return instance | migration | mapped_to_a_cell(uuid_column)
