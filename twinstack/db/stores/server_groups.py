"""Server groups in SQL: the group in compute_server_groups, its members read from compute_instances
(the live instances whose server_group_id names it)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from twinstack.core.compute import quotas
from twinstack.core.compute.model import ServerGroup
from twinstack.db.models.compute import InstanceRow, ServerGroupRow
from twinstack.db.session import SessionFactory
from twinstack.db.stores.compute import from_dt, to_dt
from twinstack.db.stores.project_lock import lock_projects


def _members(session: Session, uuids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    if uuids:
        rows = session.execute(
            select(InstanceRow.server_group_id, InstanceRow.uuid)
            .where(InstanceRow.server_group_id.in_(uuids), InstanceRow.deleted.is_(False))
            .order_by(InstanceRow.created_at, InstanceRow.launch_index, InstanceRow.uuid))
        for group, member in rows:
            found[str(group)].append(member)
    return found


def _group(row: ServerGroupRow, members: list[str]) -> ServerGroup:
    return ServerGroup(uuid=row.uuid, name=row.name, policy=row.policy, project_id=row.project_id,
                       user_id=row.user_id, members=list(members), rules=dict(row.rules),
                       created_at=from_dt(row.created_at) or 0.0)


class SqlServerGroupStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

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
            return _group(row, _members(session, [uuid])[uuid]) if row else None

    def find(self, project_id: str | None = None) -> list[ServerGroup]:
        statement = select(ServerGroupRow).order_by(ServerGroupRow.created_at, ServerGroupRow.uuid)
        if project_id is not None:
            statement = statement.where(ServerGroupRow.project_id == project_id)
        with self.sessions() as session:
            rows = session.scalars(statement).all()
            members = _members(session, [r.uuid for r in rows])
            return [_group(r, members[r.uuid]) for r in rows]

    def delete(self, uuid: str) -> bool:
        with self.sessions() as session, session.begin():
            row = session.get(ServerGroupRow, uuid)
            if row is None:
                return False
            session.delete(row)
            return True

    def member_hosts(self, uuid: str) -> list[str]:
        with self.sessions() as session:
            return list(session.scalars(select(InstanceRow.host).where(
                InstanceRow.server_group_id == uuid, InstanceRow.deleted.is_(False), InstanceRow.host.is_not(None))))
