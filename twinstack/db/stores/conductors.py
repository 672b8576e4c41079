"""The conductors' registry in SQL: heartbeats, who works on which instance, and taking over the work of dead
conductors."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError

from twinstack.core.compute import states
from twinstack.core.compute.conductor import POWER_ACTIONS
from twinstack.core.compute.takeover import Claim
from twinstack.db.models.compute import InstanceMappingRow, InstanceRow
from twinstack.db.models.conductors import ConductorBuildRow, ConductorServiceRow
from twinstack.db.session import SessionFactory
from twinstack.db.stores.compute import to_dt

ADOPTED_TASKS = sorted({states.DELETING, *POWER_ACTIONS})
"""Tasks whose conductor's death leaves work to take over (beside builds): a delete, a power action."""


class SqlConductorRegistry:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def beat(self, name: str, at: float) -> None:
        with self.sessions() as session, session.begin():
            row = session.get(ConductorServiceRow, name)
            if row is None:
                session.add(ConductorServiceRow(name=name, heartbeat_at=at))
            else:
                row.heartbeat_at = at

    def own(self, name: str, instance_uuids: Sequence[str]) -> None:
        """``name`` drives these builds from now on (a build handed over again, e.g. redelivered, changes hands)."""
        if not instance_uuids:
            return
        with self.sessions() as session, session.begin():
            held = set(session.scalars(select(ConductorBuildRow.instance_uuid)
                                       .where(ConductorBuildRow.instance_uuid.in_(instance_uuids))))
            if held:
                session.execute(update(ConductorBuildRow).where(ConductorBuildRow.instance_uuid.in_(held))
                                .values(conductor=name))
            session.add_all(ConductorBuildRow(instance_uuid=uuid, conductor=name)
                            for uuid in dict.fromkeys(instance_uuids) if uuid not in held)

    def claim(self, name: str, instance_uuid: str, alive_since: float) -> Claim:
        """Take the build of ``instance_uuid`` for ``name`` unless another conductor that beat since
        ``alive_since`` holds it (twinstack.core.compute.takeover.Claim). Safe with several claiming at once: a
        build nobody holds is taken by an insert (one succeeds, the others find it held), one held by a dead
        conductor by a compare-and-swap on its owner (one moves it, the others find a live owner)."""
        for _ in range(3):  # a row swept between the insert and the swap is claimed afresh
            try:
                with self.sessions() as session, session.begin():
                    session.add(ConductorBuildRow(instance_uuid=instance_uuid, conductor=name))
                return Claim.FREE
            except IntegrityError:
                pass
            with self.sessions() as session, session.begin():
                owner = session.scalar(select(ConductorBuildRow.conductor)
                                       .where(ConductorBuildRow.instance_uuid == instance_uuid))
                if owner is None:
                    continue
                if owner == name:
                    return Claim.FREE
                alive = exists().where(ConductorServiceRow.name == ConductorBuildRow.conductor,
                                       ConductorServiceRow.heartbeat_at >= alive_since)
                moved = session.connection().execute(update(ConductorBuildRow).where(
                    ConductorBuildRow.instance_uuid == instance_uuid, ConductorBuildRow.conductor == owner, ~alive)
                    .values(conductor=name))
                return Claim.ORPHANED if moved.rowcount == 1 else Claim.REFUSED
        return Claim.REFUSED

    def adopt_orphans(self, name: str, dead_before: float, own_too: bool = False) -> list[str]:
        """Take over the work (instances still building, deleting or in a power action) of conductors whose last
        heartbeat is older than ``dead_before`` or that never beat, and with ``own_too`` that recorded under
        ``name`` itself (a conductor restarted under its name has nothing in flight). Each is moved by a
        compare-and-swap on its owner, so of two conductors adopting at once, one gets it. Rows of work that ended
        are swept on the way."""
        with self.sessions() as session, session.begin():
            session.execute(delete(ConductorBuildRow).where(~exists().where(
                InstanceRow.uuid == ConductorBuildRow.instance_uuid, InstanceRow.deleted.is_(False),
                or_(InstanceRow.vm_state == states.BUILDING, InstanceRow.task_state.in_(ADOPTED_TASKS))),
                # an instance kept in its cell's own database is not seen here: its row stays while it lives (a
                # takeover of one no longer building is a no-op)
                ~exists().where(InstanceMappingRow.instance_uuid == ConductorBuildRow.instance_uuid,
                                InstanceMappingRow.deleted.is_(False))))
            alive = select(ConductorServiceRow.name).where(ConductorServiceRow.heartbeat_at >= dead_before)
            orphaned: ColumnElement[bool] = ConductorBuildRow.conductor.not_in(alive)
            if own_too:
                orphaned = or_(orphaned, ConductorBuildRow.conductor == name)
            candidates = session.execute(select(ConductorBuildRow.instance_uuid, ConductorBuildRow.conductor)
                                         .where(orphaned)).all()
            adopted = []
            for uuid, owner in candidates:
                moved = session.connection().execute(update(ConductorBuildRow).where(
                    ConductorBuildRow.instance_uuid == uuid, ConductorBuildRow.conductor == owner)
                    .values(conductor=name))
                if moved.rowcount == 1:
                    adopted.append(uuid)
        return adopted

    def adopt_unsent(self, name: str, sent_before: float) -> list[str]:
        """Take the builds no conductor ever received: instances still waiting to be scheduled (building, on no
        host, in ``scheduling``) since before ``sent_before``, that no conductor recorded. Their BuildInstances
        was lost: the API process that recorded them died before it could publish it (or the broker refused it
        past the publish timeout). Each is recorded under ``name`` by an insert, so of two conductors adopting at
        once, one gets it."""
        with self.sessions() as session, session.begin():
            lost = list(session.scalars(select(InstanceRow.uuid).where(
                InstanceRow.vm_state == states.BUILDING, InstanceRow.deleted.is_(False), InstanceRow.host.is_(None),
                InstanceRow.task_state == states.SCHEDULING, InstanceRow.updated_at < to_dt(sent_before),
                ~exists().where(ConductorBuildRow.instance_uuid == InstanceRow.uuid))))
        adopted = []
        for uuid in lost:
            try:
                with self.sessions() as session, session.begin():
                    session.add(ConductorBuildRow(instance_uuid=uuid, conductor=name))
            except IntegrityError:  # another conductor recorded it first (it adopted it, or its message came)
                continue
            adopted.append(uuid)
        return adopted
