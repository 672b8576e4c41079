"""A cell with its own database, through the real tools: ``twinstack cell create`` maps cell2 to a second SQLite
file before the cloud is served; the unmodified ``openstack`` CLI boots servers into both cells, shows, lists and
deletes them; with cell2's database file moved away, ``server list`` still answers with cell1's servers (and, at
``--os-compute-api-version 2.69`` and later, the client's default, cell2's as UNKNOWN), new servers land in
cell1, and once the file is back everything is as before.

Each cell is an availability zone (az1, az2) so a boot picks its cell; cell2's hosts have more memory, so a boot
naming no zone goes there while it can. The scheduler re-reads hosts and cells every 0.3 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.api.cell_cli_helpers import DATACENTER, cells_listed, create, twinstack
from tests.conftest import OpenStackCLI, Served, serve

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def cell2_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cell2") / "cell2.db"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, cell2_db: Path) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("served-cell-dbs")
    created = twinstack(tmp_path / "served", "cell", "create", "--name", "cell2",
                        "--database-url", f"sqlite:///{cell2_db}")
    assert created.returncode == 0, created.stderr
    path = tmp_path / "datacenter.yaml"
    path.write_text(yaml.safe_dump(DATACENTER))
    running = serve(tmp_path, "--datacenter", str(path),
                    env={"TWINSTACK_SCHEDULER__HOST_REFRESH_SECONDS": "0.3", "TWINSTACK_COMPUTE__CELL_TIMEOUT": "1"})
    yield running
    running.process.terminate()
    running.process.wait(10)


def test_servers_live_in_their_cells_database_and_a_cell_whose_database_is_gone_stops_nothing_else(
        served: Served, openstack: OpenStackCLI, cell2_db: Path) -> None:
    cells = cells_listed(served)
    assert cells["cell2"][2:6] == ["enabled", "2", "0", "up"] and cells["cell2"][6] == f"sqlite:///{cell2_db}"
    assert cells["cell1"][2:7] == ["enabled", "2", "0", "main", "(main)"]

    one = create(openstack, "one", "--availability-zone", "az1")
    two = create(openstack, "two")
    assert one["OS-EXT-SRV-ATTR:host"].startswith("c1r1") and two["OS-EXT-SRV-ATTR:host"].startswith("c2r1")
    assert {s["Name"]: s["Status"] for s in openstack.json("server", "list")} == {"one": "ACTIVE", "two": "ACTIVE"}
    refused = twinstack(served.data_dir, "cell", "delete", "cell2")
    assert refused.returncode == 1 and "host(s) mapped to it" in refused.stderr

    away = cell2_db.with_suffix(".away")
    cell2_db.rename(away)
    try:
        before_269 = openstack.json("--os-compute-api-version", "2.1", "server", "list")
        assert [s["Name"] for s in before_269] == ["one"], "cell1's servers still listed"
        at_269 = openstack.json("--os-compute-api-version", "2.69", "server", "list")
        assert {s["ID"]: s["Status"] for s in at_269} == {one["id"]: "ACTIVE", two["id"]: "UNKNOWN"}
        shown = openstack.json("--os-compute-api-version", "2.69", "server", "show", two["id"])
        assert (shown["status"], shown["OS-EXT-AZ:availability_zone"]) == ("UNKNOWN", "UNKNOWN")
        cells = cells_listed(served)
        assert (cells["cell2"][4:6], cells["cell1"][4]) == (["1", "down"], "1"), "counted from its mapping while down"
        time.sleep(0.5)  # the scheduler re-reads its cells: cell2 is closed to builds
        four = create(openstack, "four")
        assert four["OS-EXT-SRV-ATTR:host"].startswith("c1r1"), "builds land in the cell that answers"
    finally:
        away.rename(cell2_db)
    time.sleep(0.5)
    assert {s["Name"]: s["Status"] for s in openstack.json("server", "list")} == {
        "one": "ACTIVE", "two": "ACTIVE", "four": "ACTIVE"}
    five = create(openstack, "five")
    assert five["OS-EXT-SRV-ATTR:host"].startswith("c2r1"), "cell2 takes builds again"
    cells = cells_listed(served)
    assert (cells["cell1"][4], cells["cell2"][4:6]) == ("2", ["2", "up"]), "each cell counts its own instances"
    openstack.run("server", "delete", "--wait", "one", "two", "four", "five")
    assert openstack.json("server", "list") == []
