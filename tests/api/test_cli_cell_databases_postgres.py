"""The same through the real tools with cell2's database on PostgreSQL (the main one on SQLite): ``twinstack cell
create`` migrates it, the ``openstack`` CLI boots into it, and with the database renamed away (its connections
refused) ``server list`` answers with cell1's servers and cell2's as UNKNOWN, builds land in cell1, and once it is
back under its name everything is as before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.api.cell_cli_helpers import DATACENTER, cells_listed, create, twinstack
from tests.conftest import POSTGRES_URL, OpenStackCLI, Served, drop_postgres_database, postgres_database, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cell2_name() -> Iterator[str]:
    name = postgres_database()
    yield name
    drop_postgres_database(name + "_away")
    drop_postgres_database(name)


def rename(old: str, new: str) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": old})
        conn.execute(text(f'ALTER DATABASE "{old}" RENAME TO "{new}"'))
    admin.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, cell2_name: str) -> Iterator[Served]:
    tmp_path: Path = tmp_path_factory.mktemp("served-cell-postgres")
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{cell2_name}"
    created = twinstack(tmp_path / "served", "cell", "create", "--name", "cell2", "--database-url", url)
    assert created.returncode == 0, created.stderr
    path = tmp_path / "datacenter.yaml"
    path.write_text(yaml.safe_dump(DATACENTER))
    running = serve(tmp_path, "--datacenter", str(path),
                    env={"TWINSTACK_SCHEDULER__HOST_REFRESH_SECONDS": "0.3", "TWINSTACK_COMPUTE__CELL_TIMEOUT": "2"})
    yield running
    running.process.terminate()
    running.process.wait(10)


def test_a_postgresql_cell_database_renamed_away_and_back(served: Served, openstack: OpenStackCLI,
                                                          cell2_name: str) -> None:
    one = create(openstack, "one", "--availability-zone", "az1")
    two = create(openstack, "two")
    assert two["OS-EXT-SRV-ATTR:host"].startswith("c2r1") and one["OS-EXT-SRV-ATTR:host"].startswith("c1r1")
    assert cells_listed(served)["cell2"][4:6] == ["1", "up"]

    rename(cell2_name, cell2_name + "_away")
    try:
        before_269 = openstack.json("--os-compute-api-version", "2.1", "server", "list")
        assert [s["Name"] for s in before_269] == ["one"]
        listed = openstack.json("server", "list")
        assert {s["ID"]: s["Status"] for s in listed} == {one["id"]: "ACTIVE", two["id"]: "UNKNOWN"}
        time.sleep(0.5)
        three = create(openstack, "three")
        assert three["OS-EXT-SRV-ATTR:host"].startswith("c1r1"), "builds land in the cell that answers"
    finally:
        rename(cell2_name + "_away", cell2_name)
    time.sleep(0.5)
    assert {s["Name"]: s["Status"] for s in openstack.json("server", "list")} == {
        "one": "ACTIVE", "two": "ACTIVE", "three": "ACTIVE"}
    openstack.run("server", "delete", "--wait", "one", "two", "three")
    assert openstack.json("server", "list") == []
