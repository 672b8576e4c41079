"""Compute's leaks: instances stuck building or in a task nobody carries out, and server-group references to
servers or groups that are gone."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import not_, or_, select
from sqlalchemy.orm import Session

from twinstack.core.audit.findings import AuditContext, Finding
from twinstack.core.compute import states
from twinstack.core.compute.model import Fault
from twinstack.db.models.compute import InstanceRow, ServerGroupRow
from twinstack.db.stores.compute import from_dt, to_dt


class StuckInstances:
    """Live instances building, or in a task state, untouched for longer than ``stuck_after``: the conductor
    gives up on every command after its build timeout and updates the instance when it does, so nothing is
    working on these (the command or its answer was lost). Repair: ERROR with a fault saying what was stuck, the
    task cleared, as Nova's ``instance_build_timeout`` periodic task does; the user may then delete or rebuild it.
    Its host and allocation are kept (an instance in ERROR on a host holds its resources until deleted)."""

    name = "stuck_instance"

    def find(self, session: Session, context: AuditContext) -> list[Finding]:
        cutoff = to_dt(context.now - context.stuck_after)
        rows = session.scalars(select(InstanceRow).where(
            InstanceRow.deleted.is_(False),
            or_(InstanceRow.vm_state == states.BUILDING, InstanceRow.task_state.is_not(None)),
            InstanceRow.updated_at < cutoff).order_by(InstanceRow.updated_at, InstanceRow.uuid))
        return [Finding(self.name, row.uuid, f"instance {row.uuid} has been {_state(row)} for "
                                             f"{context.now - (from_dt(row.updated_at) or 0.0):.0f} s")
                for row in rows]

    def repair(self, session: Session, context: AuditContext, finding: Finding) -> str:
        row = session.get(InstanceRow, finding.subject, with_for_update=True)
        if row is None or row.deleted or (row.vm_state != states.BUILDING and row.task_state is None):
            return "already settled"
        message = f"Instance was stuck {_state(row)}: nothing was carrying it out (found by twinstack audit)."
        row.fault = asdict(Fault(code=500, message=message, created=context.now))
        row.vm_state, row.task_state = states.ERROR, None
        row.updated_at = to_dt(context.now)  # type: ignore[assignment]
        return "set to ERROR with a fault"


def _state(row: InstanceRow) -> str:
    return f"{row.vm_state}/{row.task_state}" if row.task_state else row.vm_state


class StaleGroupMembers:
    """Server-group memberships naming what is gone: a group's recorded members that are no live server, and
    live servers naming a group that was deleted. Repair: the dead member leaves the group; the server leaves
    the group that no longer exists."""

    name = "stale_group_member"

    def find(self, session: Session, context: AuditContext) -> list[Finding]:
        findings: list[Finding] = []
        for group in session.scalars(select(ServerGroupRow).order_by(ServerGroupRow.uuid)):
            if not group.members:
                continue
            live = set(session.scalars(select(InstanceRow.uuid).where(
                InstanceRow.uuid.in_(group.members), InstanceRow.deleted.is_(False))))
            findings.extend(Finding(self.name, member, f"server group {group.uuid} lists member {member}, which is "
                                                       f"deleted or missing", extra={"group": group.uuid})
                            for member in group.members if member not in live)
        orphans = session.execute(select(InstanceRow.uuid, InstanceRow.server_group_id).where(
            InstanceRow.deleted.is_(False), InstanceRow.server_group_id.is_not(None),
            not_(select(ServerGroupRow.uuid).where(ServerGroupRow.uuid == InstanceRow.server_group_id).exists()))
            .order_by(InstanceRow.uuid))
        findings.extend(Finding(self.name, uuid, f"server {uuid} is a member of server group {group}, which does "
                                                 f"not exist", extra={"missing_group": group})
                        for uuid, group in orphans)
        return findings

    def repair(self, session: Session, context: AuditContext, finding: Finding) -> str:
        if "group" in finding.extra:
            group = session.get(ServerGroupRow, finding.extra["group"], with_for_update=True)
            if group is None or finding.subject not in group.members:
                return "already gone"
            group.members = [m for m in group.members if m != finding.subject]
            return f"removed from group {group.uuid}"
        row = session.get(InstanceRow, finding.subject)
        if row is None or row.server_group_id != finding.extra["missing_group"]:
            return "already gone"
        row.server_group_id = None
        return "left the missing group"

