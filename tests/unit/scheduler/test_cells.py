"""Disabled cells take no new builds: whatever the filters say, and even for a host asked for by name."""

from __future__ import annotations

import pytest

from twinstack.core.compute.cells import Cell, cell_uuid
from twinstack.core.compute.model import ComputeHost
from twinstack.core.compute.stores import NoValidHost

from .hosts import cloud, host, spec


def two_cells() -> list[ComputeHost]:
    return [host(f"a{i}", ram_mb=32768, cell="cell1") for i in range(3)] + \
        [host(f"b{i}", ram_mb=65536, cell="cell2") for i in range(3)]


def test_a_closed_cell_gets_no_build_though_its_hosts_weigh_best() -> None:
    _, scheduler = cloud(*two_cells())
    assert scheduler.select_destinations(spec())[0].startswith("b"), "cell2's hosts have more free RAM"
    scheduler.state.set_closed_cells({"cell2"})
    chosen = {scheduler.select_destinations(spec(alternates=2))[0] for _ in range(6)}
    assert chosen <= {"a0", "a1", "a2"}
    scheduler.state.set_closed_cells(set())
    assert scheduler.select_destinations(spec())[0].startswith("b"), "reopened, it is chosen again"


def test_every_cell_closed_is_no_valid_host_and_nothing_is_claimed() -> None:
    placement, scheduler = cloud(*two_cells())
    scheduler.state.set_closed_cells({"cell1", "cell2"})
    request = spec()
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(request)
    assert placement.allocations(request.instance_uuid) == {}


def test_a_host_asked_for_by_name_in_a_closed_cell_is_refused() -> None:
    _, scheduler = cloud(*two_cells())
    scheduler.state.set_closed_cells({"cell2"})
    with pytest.raises(NoValidHost):
        scheduler.select_destinations(spec(availability_zone="nova:b1"))
    assert scheduler.select_destinations(spec(availability_zone="nova:a1")) == ["a1"]


def test_the_scheduler_reads_closed_cells_from_its_source_when_it_refreshes() -> None:
    _, scheduler = cloud(*two_cells())
    listed = [Cell("cell1", cell_uuid("cell1")), Cell("cell2", cell_uuid("cell2"), disabled=True)]
    scheduler.cells = lambda: listed
    scheduler.refresh()
    assert scheduler.state.closed_cells == {"cell2"}
    assert scheduler.select_destinations(spec())[0].startswith("a")
