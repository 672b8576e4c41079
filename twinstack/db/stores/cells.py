"""Cells in SQL: the cells hosts report (compute_hosts.cell), with the operator's records (compute_cells)."""

from __future__ import annotations

from sqlalchemy import func, select

from twinstack.core.compute.cells import Cell, UnknownCell, cell_uuid
from twinstack.db.models.compute import CellRow, ComputeHostRow
from twinstack.db.session import SessionFactory


class SqlCellStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def all(self) -> list[Cell]:
        with self.sessions() as session:
            counts = dict(session.execute(
                select(ComputeHostRow.cell, func.count()).group_by(ComputeHostRow.cell)).tuples().all())
            disabled = {row.name: row.disabled for row in session.scalars(select(CellRow))}
        names = sorted(set(counts) | set(disabled))
        return [Cell(n, cell_uuid(n), disabled.get(n, False), counts.get(n, 0)) for n in names]

    def set_disabled(self, name: str, disabled: bool) -> Cell:
        with self.sessions() as session, session.begin():
            row = session.get(CellRow, name)
            if row is None:
                if not session.scalar(select(ComputeHostRow.id).where(ComputeHostRow.cell == name).limit(1)):
                    raise UnknownCell(name)
                row = CellRow(name=name, uuid=cell_uuid(name))
                session.add(row)
            row.disabled = disabled
        return next(c for c in self.all() if c.name == name)
