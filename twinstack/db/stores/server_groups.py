"""Server groups in SQL: the group in compute_server_groups, its members read from compute_instances
(the live instances whose server_group_id names it)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from twinstack.core.compute import quotas
from twinstack.core.compute.model import ServerGroup
from twinstack.db.cell_databases import CellDatabases
from twinstack.db.models.compute import InstanceRow, ServerGroupRow
from twinstack.db.session import SessionFactory
from twinstack.db.stores.compute import from_dt, to_dt
from twinstack.db.stores.project_lock import lock_projects

MemberRow = tuple[str, str, Any, int]
"""(group, member uuid, created_at, launch_index): what orders a group's members."""


def _member_rows(session: Session, uuids: list[str]) -> list[MemberRow]:
    if not uuids:
        return []
    rows = session.execute(
        select(InstanceRow.server_group_id, InstanceRow.uuid, InstanceRow.created_at, InstanceRow.launch_index)
        .where(InstanceRow.server_group_id.in_(uuids), InstanceRow.deleted.is_(False)))
    return [(str(group), member, created, index) for group, member, created, index in rows]


def _members(session: Session, uuids: list[str], cells: CellDatabases | None = None) -> dict[str, list[str]]:
    """Each group's live members, oldest first, from the main database and (with ``cells``) every cell's own."""
    rows = _member_rows(session, uuids)
    if cells is not None and uuids:
        for found in cells.gather(lambda _name, s: _member_rows_in(s, uuids)).results.values():
            rows.extend(found)
    members: dict[str, list[str]] = defaultdict(list)
    for group, member, _created, _index in sorted(rows, key=lambda r: (r[2], r[3], r[1])):
        members[group].append(member)
    return members


def _member_rows_in(sessions: SessionFactory, uuids: list[str]) -> list[MemberRow]:
    with sessions() as session:
        return _member_rows(session, uuids)


def _member_hosts(sessions: SessionFactory, uuid: str) -> list[str]:
    with sessions() as session:
        return [str(h) for h in session.scalars(select(InstanceRow.host).where(
            InstanceRow.server_group_id == uuid, InstanceRow.deleted.is_(False), InstanceRow.host.is_not(None)))]


def _group(row: ServerGroupRow, members: list[str]) -> ServerGroup:
    return ServerGroup(uuid=row.uuid, name=row.name, policy=row.policy, project_id=row.project_id,
                       user_id=row.user_id, members=list(members), rules=dict(row.rules),
                       created_at=from_dt(row.created_at) or 0.0)


class SqlServerGroupStore:
    """Groups in the main database; with ``cells``, their members are looked for in every cell's own database
    too (a cell whose database does not answer contributes none meanwhile)."""

    def __init__(self, sessions: SessionFactory, cells: CellDatabases | None = None) -> None:
        self.sessions = sessions
        self.cells = cells

    def create(self, group: ServerGroup, limit: int) -> None:
        with self.sessions() as session, session.begin():
            lock_projects(session, [group.project_id])
            held = session.scalar(select(func.count()).select_from(ServerGroupRow)
                                  .where(ServerGroupRow.project_id == group.project_id)) or 0
            quotas.check_server_groups({"server_groups": limit}, held)
            session.add(ServerGroupRow(uuid=group.uuid, name=group.name, policy=group.policy,
                                       project_id=group.project_id, user_id=group.user_id, rules=dict(group.rules),
                                       created_at=to_dt(group.created_at)))

    def get(self, uuid: str) -> ServerGroup | None:
        with self.sessions() as session:
            row = session.get(ServerGroupRow, uuid)
            return _group(row, _members(session, [uuid], self.cells)[uuid]) if row else None

    def find(self, project_id: str | None = None) -> list[ServerGroup]:
        statement = select(ServerGroupRow).order_by(ServerGroupRow.created_at, ServerGroupRow.uuid)
        if project_id is not None:
            statement = statement.where(ServerGroupRow.project_id == project_id)
        with self.sessions() as session:
            rows = session.scalars(statement).all()
            members = _members(session, [r.uuid for r in rows], self.cells)
            return [_group(r, members[r.uuid]) for r in rows]

    def delete(self, uuid: str) -> bool:
        with self.sessions() as session, session.begin():
            row = session.get(ServerGroupRow, uuid)
            if row is None:
                return False
            session.delete(row)
            return True

    def member_hosts(self, uuid: str) -> list[str]:
        hosts = _member_hosts(self.sessions, uuid)
        if self.cells is not None:
            for found in self.cells.gather(lambda _name, s: _member_hosts(s, uuid)).results.values():
                hosts.extend(found)
        return hosts
