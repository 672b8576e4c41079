"""Quotas in SQL: limits in compute_quotas, usage counted from compute_instances and compute_server_groups,
and the admission of new instances as one transaction (count, check, insert the instances and their create
actions), locked whenever what it counts could change under it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, Engine, Table, bindparam, delete, func, select
from sqlalchemy.orm import Session

from twinstack.core.compute import quotas
from twinstack.core.compute.model import Instance, InstanceAction
from twinstack.core.compute.stores import InstanceStore, RemembersActions
from twinstack.core.errors import BadRequest
from twinstack.db.cell_databases import CellDatabases
from twinstack.db.models.compute import InstanceRow, QuotaRow, ServerGroupRow
from twinstack.db.session import SessionFactory
from twinstack.db.stores.compute import (
    fill_row,
    insert_actions,
    insert_instances,
    instance_from_row,
)
from twinstack.db.stores.project_lock import lock_projects

QUOTAS: Table = QuotaRow.__table__  # type: ignore[assignment]
OVERRIDES = select(QUOTAS.c.resource, QUOTAS.c.hard_limit).where(QUOTAS.c.project_id == bindparam("project_id"))
GROUPS: Table = ServerGroupRow.__table__  # type: ignore[assignment]
GROUP_PROJECT = select(GROUPS.c.project_id).where(GROUPS.c.uuid == bindparam("uuid"))


def overrides(db: Session | Connection, project_id: str) -> dict[str, int]:
    """The limits set for the project (the others are the defaults)."""
    connection = db.connection() if isinstance(db, Session) else db
    return {resource: limit for resource, limit in connection.execute(OVERRIDES, {"project_id": project_id})}


def project_usage(session: Session, project_id: str, excluding: str | None = None,
                  cells: CellDatabases | None = None) -> dict[str, int]:
    """The project's live instances (but ``excluding``), their cores and RAM (from each one's flavor; during
    a resize, the larger of its flavors: see quotas.counted_flavor), its groups. With ``cells``, the instances
    of the cells with their own database are counted too (those of a cell whose database does not answer are
    not: as in Nova counting from cell databases, a down cell's usage is missed until it is back)."""
    usage = instance_usage(session, project_id, excluding)
    if cells is not None:
        for found in cells.gather(lambda _name, s: _usage_in(s, project_id, excluding)).results.values():
            for key, amount in found.items():
                usage[key] += amount
    groups = session.scalar(select(func.count()).select_from(ServerGroupRow)
                            .where(ServerGroupRow.project_id == project_id)) or 0
    return {**usage, "server_groups": int(groups)}


def _usage_in(sessions: SessionFactory, project_id: str, excluding: str | None) -> dict[str, int]:
    with sessions() as session:
        return instance_usage(session, project_id, excluding)


def instance_usage(session: Session, project_id: str, excluding: str | None = None) -> dict[str, int]:
    """The instances, cores and RAM of the project's live instances in ``session``'s database."""
    live = [InstanceRow.project_id == project_id, InstanceRow.deleted.is_(False)]
    if excluding is not None:
        live.append(InstanceRow.uuid != excluding)
    count, cores, ram = session.execute(
        select(func.count(), func.coalesce(func.sum(InstanceRow.flavor["vcpus"].as_integer()), 0),
               func.coalesce(func.sum(InstanceRow.flavor["ram_mb"].as_integer()), 0)).where(*live)).one()
    for row in session.scalars(select(InstanceRow).where(*live, InstanceRow.new_flavor.is_not(None))):
        counted = quotas.counted_flavor(instance_from_row(row))  # the few resizing: their growth on top
        cores += counted[0] - int(row.flavor["vcpus"])
        ram += counted[1] - int(row.flavor["ram_mb"])
    return {"instances": int(count), "cores": int(cores), "ram": int(ram)}


def live_member_count(session: Session, group_uuid: str, cells: CellDatabases | None = None) -> int:
    """The group's live members, in every cell's database with ``cells``."""
    count = _members_in(session, group_uuid)
    if cells is not None:
        count += sum(cells.gather(lambda _name, s: _count_members(s, group_uuid)).results.values())
    return count


def _members_in(session: Session, group_uuid: str) -> int:
    return session.scalar(select(func.count()).select_from(InstanceRow).where(
        InstanceRow.server_group_id == group_uuid, InstanceRow.deleted.is_(False))) or 0


def _count_members(sessions: SessionFactory, group_uuid: str) -> int:
    with sessions() as session:
        return _members_in(session, group_uuid)


class SqlQuotas:
    """The QuotaStore and Admission protocols over SQL; every call is one short transaction.

    New instances are admitted into the main database (they have no cell yet). With ``cells``, usage counts the
    instances of the cells with their own database too, and a resize of an instance kept there is written through
    ``instances`` (the store that finds it), still under the project's lock."""

    def __init__(self, sessions: SessionFactory, cells: CellDatabases | None = None,
                 instances: InstanceStore | None = None) -> None:
        self.sessions = sessions
        self.cells = cells
        self.instances = instances
        bind = sessions.kw["bind"]
        assert isinstance(bind, Engine), "sessions bound to an engine"
        self.engine: Engine = bind

    def overrides(self, project_id: str) -> dict[str, int]:
        with self.sessions() as session:
            return overrides(session, project_id)

    def set_limits(self, project_id: str, limits: Mapping[str, int]) -> None:
        with self.sessions() as session, session.begin():
            for resource, limit in limits.items():
                row = session.get(QuotaRow, (project_id, resource))
                if row is None:
                    session.add(QuotaRow(project_id=project_id, resource=resource, hard_limit=limit))
                else:
                    row.hard_limit = limit

    def reset_limits(self, project_id: str) -> None:
        with self.sessions() as session, session.begin():
            session.execute(delete(QuotaRow).where(QuotaRow.project_id == project_id))

    def usage(self, project_id: str) -> dict[str, int]:
        with self.sessions() as session:
            return project_usage(session, project_id, cells=self.cells)

    def admit(self, instances: Sequence[Instance], min_count: int,
              actions: Sequence[InstanceAction] = ()) -> list[Instance]:
        """One transaction: the limits read, the usage counted (only if some limit it could reach is set), the
        checks, the admitted instances and their create actions written.

        The project's lock is taken only when the decision depends on what other writers write: when a limit on
        instances, cores or RAM is set (the count), or for a server group (its members). Otherwise nothing this
        admission reads can be changed by another admission (the per-request metadata check reads nothing), so any
        number of creates of such a project may run at once, on either database, as they may in Nova (whose
        limits are not locked against a concurrent change either: neither are ours, set_limits takes no lock).

        On SQLite the lock is the database's write lock, and skipping it is safe only because this engine's driver
        begins SQLite's transaction at its first write (pysqlite's implicit BEGIN before DML), so the reads before
        the INSERT hold no snapshot it would have to upgrade: the INSERT waits for the write lock like any writer.
        An engine that began at the first read would get SQLITE_BUSY here under concurrent creates (WAL refuses to
        upgrade an overtaken snapshot): tests/unit/test_quotas.py's race of an unlimited project's creates shows
        it."""
        if not instances:
            return []
        first = instances[0]
        group = first.server_group_id
        with self.engine.begin() as connection:  # a plain transaction: the ORM's session is made only to count
            group_project = None
            if group is not None:
                group_project = connection.execute(GROUP_PROJECT, {"uuid": group}).scalar()
                if group_project is None:
                    raise BadRequest(f"Instance group {group} could not be found.")
            limits = {**quotas.DEFAULT_LIMITS, **overrides(connection, first.project_id)}
            counting = quotas.usage_matters(limits)
            usage: dict[str, int] = {}
            members = 0
            if counting or group is not None:
                lock_projects(connection, [first.project_id, *([group_project] if group_project else [])])
                with self.sessions(bind=connection) as session:  # in the connection's transaction, under the lock
                    usage = project_usage(session, first.project_id, cells=self.cells) if counting else {}
                    members = live_member_count(session, group, self.cells) if group is not None else 0
            demand = quotas.InstanceDemand(first.flavor.vcpus, first.flavor.ram_mb, min_count, len(instances),
                                           len(first.metadata))
            count = quotas.instances_allowed(limits, usage, demand)
            if group is not None:
                quotas.check_group_members(limits, members, count)
            admitted = list(instances[:count])
            insert_instances(connection, admitted)
            recorded = actions[:count]
            ids = insert_actions(connection, recorded)
        if isinstance(self.instances, RemembersActions):
            self.instances.recorded_actions(recorded, ids)  # as its add_action would: the build's events look none up
        return admitted

    def admit_resize(self, instance: Instance) -> None:
        assert instance.new_flavor is not None
        with self.sessions() as session, session.begin():
            lock_projects(session, [instance.project_id])
            limits = {**quotas.DEFAULT_LIMITS, **overrides(session, instance.project_id)}
            usage = project_usage(session, instance.project_id, excluding=instance.uuid, cells=self.cells)
            usage["cores"] += instance.flavor.vcpus
            usage["ram"] += instance.flavor.ram_mb
            quotas.check_resize(limits, usage, instance.flavor, instance.new_flavor)
            row = session.get(InstanceRow, instance.uuid)
            if row is not None:
                fill_row(row, instance)
            elif self.instances is not None:  # kept in its cell's database: written there, the lock still held
                self.instances.save(instance)
