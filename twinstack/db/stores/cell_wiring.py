"""The compute stores that span cells, built together over one main database (what a compute plane, an API
worker and a conductor process all need)."""

from __future__ import annotations

from dataclasses import dataclass

from twinstack.db.cell_databases import DEFAULT_TIMEOUT, CellDatabases
from twinstack.db.session import SessionFactory
from twinstack.db.stores.cell_instances import CellInstanceStore
from twinstack.db.stores.cells import SqlCellStore
from twinstack.db.stores.compute import SqlInstanceStore
from twinstack.db.stores.instance_mappings import SqlInstanceMappings
from twinstack.db.stores.quotas import SqlQuotas
from twinstack.db.stores.server_groups import SqlServerGroupStore


@dataclass
class CellAwareStores:
    databases: CellDatabases
    instances: CellInstanceStore
    quotas: SqlQuotas
    server_groups: SqlServerGroupStore
    cells: SqlCellStore

    def close(self) -> None:
        self.databases.close()


def cell_aware_stores(sessions: SessionFactory, timeout: float = DEFAULT_TIMEOUT) -> CellAwareStores:
    """Instances, quotas, server groups and cells over the main database ``sessions`` and the cells' own."""
    databases = CellDatabases(sessions, timeout=timeout)
    instances = CellInstanceStore(SqlInstanceStore(sessions), databases, SqlInstanceMappings(sessions))
    return CellAwareStores(databases, instances, SqlQuotas(sessions, databases, instances),
                           SqlServerGroupStore(sessions, databases), SqlCellStore(sessions, databases))
