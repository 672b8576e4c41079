"""The cell stores (memory and SQL) agree: cells come from what hosts report; only an operator closes one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from twinstack.core.compute.cells import CellStore, MemoryCellStore, UnknownCell, cell_uuid
from twinstack.core.compute.memory import MemoryHostStore
from twinstack.core.compute.model import ComputeHost
from twinstack.core.compute.stores import HostStore
from twinstack.db import migrate
from twinstack.db.session import make_engine, make_session_factory
from twinstack.db.stores.cells import SqlCellStore
from twinstack.db.stores.compute import SqlHostStore


@pytest.fixture(params=["memory", "sql"])
def stores(request: pytest.FixtureRequest, database_url: str) -> Iterator[tuple[HostStore, CellStore]]:
    if request.param == "memory":
        hosts = MemoryHostStore()
        yield hosts, MemoryCellStore(lambda: [h.cell for h in hosts.all()])
        return
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    yield SqlHostStore(sessions), SqlCellStore(sessions)
    engine.dispose()


def register(hosts: HostStore, name: str, cell: str) -> None:
    hosts.upsert(ComputeHost(host=name, agent="a", cell=cell, availability_zone="nova", rack=None,
                             hypervisor_type="QEMU", hypervisor_hostname=name, host_ip="127.0.0.1",
                             inventory={"VCPU": {"total": 8}}, traits=[], last_heartbeat=0.0))


def test_cells_are_the_ones_hosts_report_counted_and_open(stores: tuple[HostStore, CellStore]) -> None:
    hosts, cells = stores
    assert cells.all() == []
    for name, cell in [("h1", "cell1"), ("h2", "cell2"), ("h3", "cell2")]:
        register(hosts, name, cell)
    assert [(c.name, c.uuid, c.disabled, c.hosts) for c in cells.all()] == [
        ("cell1", cell_uuid("cell1"), False, 1), ("cell2", cell_uuid("cell2"), False, 2)]


def test_an_operator_closes_and_reopens_a_cell(stores: tuple[HostStore, CellStore]) -> None:
    hosts, cells = stores
    register(hosts, "h1", "cell1")
    register(hosts, "h2", "cell2")
    closed = cells.set_disabled("cell2", True)
    assert (closed.name, closed.disabled, closed.hosts, closed.uuid) == ("cell2", True, 1, cell_uuid("cell2"))
    assert {c.name: c.disabled for c in cells.all()} == {"cell1": False, "cell2": True}
    register(hosts, "h2", "cell2")  # the host re-registering does not reopen it
    assert {c.name: c.disabled for c in cells.all()} == {"cell1": False, "cell2": True}
    assert not cells.set_disabled("cell2", False).disabled
    assert all(not c.disabled for c in cells.all())


def test_a_cell_no_host_reports_cannot_be_closed(stores: tuple[HostStore, CellStore]) -> None:
    hosts, cells = stores
    register(hosts, "h1", "cell1")
    with pytest.raises(UnknownCell, match="Cell cell9 could not be found"):
        cells.set_disabled("cell9", True)
    assert [c.name for c in cells.all()] == ["cell1"]
