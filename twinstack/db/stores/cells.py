"""Cells in SQL: the cells hosts report (compute_hosts.cell), with the operator's records (compute_cells), which
also map a cell to its own database and bus (Nova's cell mappings)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select

from twinstack.core.compute.cells import Cell, UnknownCell, cell_uuid
from twinstack.core.errors import Conflict
from twinstack.db.cell_databases import CellDatabases
from twinstack.db.models.compute import CellRow, ComputeHostRow, InstanceMappingRow, InstanceRow
from twinstack.db.session import SessionFactory


class SqlCellStore:
    def __init__(self, sessions: SessionFactory, databases: CellDatabases | None = None) -> None:
        self.sessions = sessions
        self.databases = databases
        """Asked which cells' own databases answer; without it every cell counts as up."""

    def all(self) -> list[Cell]:
        """Every cell, with its host count and whether its own database answers (instances not counted)."""
        with self.sessions() as session:
            counts = dict(session.execute(
                select(ComputeHostRow.cell, func.count()).group_by(ComputeHostRow.cell)).tuples().all())
            records = {row.name: row for row in session.scalars(select(CellRow))}
        down = self.databases.down() if self.databases is not None and any(
            r.database_url for r in records.values()) else frozenset()
        names = sorted(set(counts) | set(records))
        return [self._cell(n, records.get(n), counts.get(n, 0), n in down) for n in names]

    @staticmethod
    def _cell(name: str, row: CellRow | None, hosts: int, down: bool, instances: int = 0) -> Cell:
        if row is None:
            return Cell(name, cell_uuid(name), hosts=hosts, instances=instances)
        return Cell(name, row.uuid, row.disabled, hosts, row.database_url, row.transport_url, instances, down)

    def transports(self) -> dict[str, str]:
        """Cell name -> its own bus's transport URL, for the cells created with one (twinstack.core.compute.
        cell_buses): one small query, read every few seconds by every process that reaches cells' buses."""
        with self.sessions() as session:
            return {name: url for name, url in session.execute(
                select(CellRow.name, CellRow.transport_url).where(CellRow.transport_url.is_not(None))).tuples()
                if url}

    def listing(self) -> list[Cell]:
        """:meth:`all` with each cell's live instances counted: in the main database for the default cells, in
        its own for a cell with one (from the instance mappings where that database does not answer)."""
        cells = self.all()
        with self.sessions() as session:
            in_main = dict(session.execute(
                select(InstanceRow.cell, func.count()).where(InstanceRow.deleted.is_(False))
                .group_by(InstanceRow.cell)).tuples().all())
            mapped = dict(session.execute(
                select(InstanceMappingRow.cell, func.count()).where(InstanceMappingRow.deleted.is_(False))
                .group_by(InstanceMappingRow.cell)).tuples().all())
        own: dict[str, int] = {}
        if self.databases is not None:
            gathered = self.databases.gather(_live_instances, [c.name for c in cells if c.database_url])
            own = gathered.results
        listed = []
        for cell in cells:
            if cell.database_url is None:
                instances = in_main.get(cell.name, 0)
            else:
                instances = own.get(cell.name, mapped.get(cell.name, 0)) + in_main.get(cell.name, 0)
            listed.append(Cell(**{**vars(cell), "instances": instances}))
        return listed

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

    def create(self, name: str, database_url: str, transport_url: str | None, now: float) -> Cell:
        """Map a new cell to its own database (already migrated) and bus. Refused (Conflict) for a name hosts or
        instances already report (their instances are in the main database: a cell's database starts empty) or a
        record already names, and for a database another cell or the main one uses."""
        with self.sessions() as session, session.begin():
            if session.get(CellRow, name) is not None:
                raise Conflict(f"Cell {name} already exists.")
            if session.scalar(select(ComputeHostRow.id).where(ComputeHostRow.cell == name).limit(1)):
                raise Conflict(f"Hosts already report cell {name}: their instances are in the main database.")
            if session.scalar(select(InstanceRow.uuid).where(InstanceRow.cell == name).limit(1)):
                raise Conflict(f"Instances already belong to cell {name} in the main database.")
            taken = session.scalar(select(CellRow.name).where(CellRow.database_url == database_url))
            if taken is not None:
                raise Conflict(f"Cell {taken} already uses that database.")
            main = session.get_bind().engine.url.render_as_string(hide_password=False)
            if database_url == main:
                raise Conflict("A cell's database must not be the main database.")
            session.add(CellRow(name=name, uuid=cell_uuid(name), disabled=False, database_url=database_url,
                                transport_url=transport_url, created_at=dt.datetime.fromtimestamp(now, dt.UTC)))
        if self.databases is not None:
            self.databases.reload()
        return next(c for c in self.all() if c.name == name)

    def delete(self, name: str) -> None:
        """Forget the cell's record (and the mappings of its deleted instances). Refused (Conflict) while hosts
        report it or live instances are mapped to it; UnknownCell if no record names it."""
        with self.sessions() as session, session.begin():
            row = session.get(CellRow, name)
            if row is None:
                raise UnknownCell(name)
            hosts = session.scalar(select(func.count()).select_from(ComputeHostRow)
                                   .where(ComputeHostRow.cell == name)) or 0
            if hosts:
                raise Conflict(f"Cell {name} has {hosts} host(s) mapped to it: remove them first.")
            live = session.scalar(select(func.count()).select_from(InstanceMappingRow).where(
                InstanceMappingRow.cell == name, InstanceMappingRow.deleted.is_(False))) or 0
            live += session.scalar(select(func.count()).select_from(InstanceRow).where(
                InstanceRow.cell == name, InstanceRow.deleted.is_(False))) or 0
            if live:
                raise Conflict(f"Cell {name} has {live} instance(s) mapped to it: delete them first.")
            session.execute(delete(InstanceMappingRow).where(InstanceMappingRow.cell == name))
            session.delete(row)
        if self.databases is not None:
            self.databases.reload()


def _live_instances(_name: str, sessions: SessionFactory) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(InstanceRow)
                              .where(InstanceRow.deleted.is_(False))) or 0
