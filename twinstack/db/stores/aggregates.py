"""Host aggregates in SQL (compute_aggregates): hosts and metadata as JSON; the zone is the
``availability_zone`` metadata key, read back into Aggregate.availability_zone."""

from __future__ import annotations

import uuid as uuidlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twinstack.core.compute.model import Aggregate
from twinstack.core.errors import Conflict
from twinstack.db.models.compute import AggregateRow
from twinstack.db.session import SessionFactory
from twinstack.db.stores.compute import from_dt, to_dt


def _aggregate(row: AggregateRow) -> Aggregate:
    metadata = {str(k): str(v) for k, v in (row.meta or {}).items()}
    return Aggregate(id=row.id, uuid=row.uuid, name=row.name, availability_zone=metadata.get("availability_zone"),
                     hosts=set(row.hosts or []), metadata=metadata, created_at=from_dt(row.created_at) or 0.0,
                     updated_at=from_dt(row.updated_at))


def _check_name(session: Session, name: str, aggregate_id: int) -> None:
    if session.scalar(select(AggregateRow.id).where(AggregateRow.name == name, AggregateRow.id != aggregate_id)):
        raise Conflict(f"Aggregate {name} already exists.")


class SqlAggregateStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def all(self) -> list[Aggregate]:
        with self.sessions() as session:
            return [_aggregate(r) for r in session.scalars(select(AggregateRow).order_by(AggregateRow.id))]

    def get(self, aggregate_id: int) -> Aggregate | None:
        with self.sessions() as session:
            row = session.get(AggregateRow, aggregate_id)
            return _aggregate(row) if row else None

    def create(self, name: str, metadata: dict[str, str], now: float) -> Aggregate:
        try:
            with self.sessions() as session, session.begin():
                _check_name(session, name, 0)
                row = AggregateRow(uuid=str(uuidlib.uuid4()), name=name, hosts=[], meta=dict(metadata),
                                   created_at=to_dt(now), updated_at=None)
                session.add(row)
                session.flush()
                return _aggregate(row)
        except IntegrityError:
            raise Conflict(f"Aggregate {name} already exists.") from None

    def save(self, aggregate: Aggregate) -> None:
        try:
            with self.sessions() as session, session.begin():
                row = session.get(AggregateRow, aggregate.id)
                if row is None:
                    return
                _check_name(session, aggregate.name, aggregate.id)
                row.name, row.hosts, row.meta = aggregate.name, sorted(aggregate.hosts), dict(aggregate.metadata)
                row.updated_at = to_dt(aggregate.updated_at)
        except IntegrityError:
            raise Conflict(f"Aggregate {aggregate.name} already exists.") from None
        aggregate.availability_zone = aggregate.metadata.get("availability_zone")

    def delete(self, aggregate_id: int) -> None:
        with self.sessions() as session, session.begin():
            row = session.get(AggregateRow, aggregate_id)
            if row is not None:
                session.delete(row)
