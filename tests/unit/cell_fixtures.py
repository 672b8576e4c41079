"""A cell with its own database, made as ``twinstack cell create`` makes one, for store tests."""

from __future__ import annotations

from twinstack.db import migrate
from twinstack.db.cell_databases import CellDatabases
from twinstack.db.session import SessionFactory, make_engine
from twinstack.db.stores.cells import SqlCellStore


def create_cell(sessions: SessionFactory, name: str, url: str, timeout: float = 2.0) -> CellDatabases:
    """Migrate ``url``, record it as cell ``name`` in the main database of ``sessions``; the cells' databases."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    databases = CellDatabases(sessions, timeout=timeout)
    SqlCellStore(sessions, databases).create(name, url, None, 1_800_000_000.0)
    return databases
