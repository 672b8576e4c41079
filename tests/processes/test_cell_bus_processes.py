"""A cell with its own database and its own bus, every part its own OS process on PostgreSQL and RabbitMQ (issue 9,
Nova's super-conductor and cell conductor). cell2's bus is a RabbitMQ node of the module's own
(tests.rpc.private_broker), so that it can be stopped: ``twinstack cell create --transport-url`` names it,
``twinstack conductor --cell cell2`` consumes there, and so does the agent of cell2's hosts (its bus URL and prefix set
to the cell's). cell2 has two conductors. The API, the top-level conductor and cell1's agent are on the shared
broker. One cluster serves every test (starting it is the expensive part):

* a build into cell2 is scheduled by the top-level conductor and spawned by one of cell2's conductors through cell2's
  bus; its record lives in cell2's database; its console log is read and a volume attached and detached through
  cell2's bus; its delete goes from the API to cell2's bus; with cell2's conductors stopped (SIGSTOP), a build into
  cell1 still goes ACTIVE;
* with cell2's broker stopped, a build into cell1 goes ACTIVE as before; cell2's server is still shown as its database
  holds it (ACTIVE), as Nova shows a cell's servers while only its message queue is away; deleting it is refused with
  503 and leaves it as it was; cell2's hosts are reported down once silent for service_down_time, and a boot naming
  no zone lands in cell1. Once the broker is back, cell2's conductor and agent reconnect, its hosts are up again and
  the delete goes through;

The cell2 conductor spawning a build killed (SIGKILL) is tests/processes/test_cell_conductor_takeover.py's, on a
cluster of its own made here (:func:`running_cells`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from openstack.connection import Connection
from openstack.exceptions import HttpException
from sqlalchemy import select

from benchmarks.cluster import Cluster, fresh_postgres, local_cluster
from benchmarks.scale_out import PROFILES, audit, connect, prepare, wait_for
from tests.rpc.broker import delete_prefix, unique_prefix
from tests.rpc.private_broker import PrivateBroker, private_broker
from twinstack.core.compute.cell_buses import RETRY_AFTER_SECONDS
from twinstack.db.models.compute import InstanceRow
from twinstack.db.session import make_engine, make_session_factory

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DOWN_TIME = 10
CELL2_CONDUCTORS = ("cell2-conductor", "cell2-conductor-b")
CELL2_BOOT_SECONDS = 3.0
"""Long enough that a cell2 conductor can be killed while a spawn it sent is under way."""


def agent_arguments(workdir: Path, name: str, cell: str, zone: str, hosts: int,
                    boot_seconds: float = 1.0) -> list[str]:
    """``hosts`` simulated hosts of ``cell`` in ``zone``, each with room for one server of the benchmark's flavor,
    beating every second (so that service_down_time can be short)."""
    datacenter = {"cells": [{"name": cell, "zones": [{"name": zone, "racks": [
        {"name": "r", "hosts": {"profile": "one", "count": 1}}]}]}], "profiles": PROFILES,
        "behaviour": {"boot_seconds": {"kind": "fixed", "value": boot_seconds},
                      "delete_seconds": {"kind": "fixed", "value": 0.25}, "heartbeat_seconds": 1}}
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(datacenter))
    return ["--hosts", str(hosts), "--datacenter", str(path)]


@dataclass
class Cells:
    cluster: Cluster
    conn: Connection
    cell_broker: PrivateBroker
    cell_database: str
    flavor: str
    image: str
    network: str

    def boot(self, name: str, zone: str | None) -> str:
        """Boot ``name`` (in ``zone`` if given) and wait until it is ACTIVE; its id."""
        server = self.conn.compute.create_server(
            name=name, flavor_id=self.flavor, image_id=self.image, networks=[{"uuid": self.network}],
            **({"availability_zone": zone} if zone else {}))
        wait_for(f"{name} ACTIVE", lambda: self.conn.compute.get_server(server.id).status == "ACTIVE", 60,
                 self.cluster, pause=0.2)
        return str(server.id)

    def host_of(self, server: str) -> str:
        return str(self.conn.compute.get_server(server).compute_host)

    def delete(self, *servers: str) -> None:
        for server in servers:
            self.conn.compute.delete_server(server)
        for server in servers:
            wait_for("the server gone", lambda s=server: self.conn.compute.find_server(s) is None, 60, self.cluster)

    def states(self) -> dict[str, str]:
        """Each agent's hosts' state (up or down), as the hypervisor listing shows them."""
        return {h.name[:6]: h.state for h in self.conn.compute.hypervisors(details=True)}


DEBUG_LOG = {"TWINSTACK_LOGGING__LEVEL": "DEBUG",
             "TWINSTACK_LOGGING__HANDLERS": json.dumps([{"class": "logging.StreamHandler", "level": "DEBUG"}])}


@contextmanager
def running_cells(workdir: Path) -> Iterator[Cells]:
    """The cluster of the module's docstring, stopped and deleted on the way out. cell2's agent logs every command
    its hosts hear (DEBUG), so that a test can tell how often a server was spawned where."""
    prefix = unique_prefix()
    settings = {"TWINSTACK_COMPUTE__SERVICE_DOWN_TIME": str(DOWN_TIME),
                "TWINSTACK_SCHEDULER__SERVICE_DOWN_TIME": str(DOWN_TIME),
                "TWINSTACK_SCHEDULER__HOST_REFRESH_SECONDS": "1", "TWINSTACK_BUS__CELL_PUBLISH_TIMEOUT": "2"}
    try:
        with (fresh_postgres() as database, fresh_postgres() as cell_database,
              local_cluster(workdir, database, prefix, settings) as cluster):
            cluster.serve(1)
            with private_broker() as cell_broker:  # started while serve makes the database
                cluster.wait_serving()
                done = subprocess.run(
                    [sys.executable, "-m", "twinstack.cli", "cell", "create", "--name", "cell2", "--database-url",
                     cell_database, "--transport-url", cell_broker.url, "--data-dir", str(cluster.data_dir)],
                    capture_output=True, text=True, env=cluster.env(), timeout=120)
                assert done.returncode == 0, done.stdout + done.stderr
                cluster.conductor("top", log_level="INFO")
                for name in CELL2_CONDUCTORS:
                    cluster.conductor(name, "--cell", "cell2", log_level="INFO")
                cluster.agent("agent1", *agent_arguments(workdir, "agent1", "cell1", "nova", 2))
                cluster.agent("agent2", *agent_arguments(workdir, "agent2", "cell2", "az2", 2, CELL2_BOOT_SECONDS),
                              env={"TWINSTACK_BUS__URL": cell_broker.url, "TWINSTACK_BUS__PREFIX": f"{prefix}.cell2",
                                   "TWINSTACK_BUS__PUBLISH_TIMEOUT": "3", **DEBUG_LOG})
                conn = connect(cluster)
                flavor, image, network = prepare(conn, cluster, 4)  # each host has room for one server
                yield Cells(cluster, conn, cell_broker, cell_database, flavor, image, network)
                cluster.stop()  # before the broker: its processes must not outlive it
    finally:
        delete_prefix(prefix)


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cells]:
    with running_cells(tmp_path_factory.mktemp("cells")) as running:
        yield running


def test_a_cell_on_its_own_bus_builds_and_deletes_through_its_own_conductor(cells: Cells) -> None:
    in_cell2 = cells.boot("in-cell2", "az2")
    assert cells.host_of(in_cell2).startswith("agent2-")
    listed = cells.cell_broker.ctl("list_queues", "name", "-q")
    assert listed.returncode == 0, listed.stderr
    queues = set(listed.stdout.split())
    prefix = cells.cluster.prefix
    assert {f"{prefix}.cell2.conductor", f"{prefix}.cell2.agent.agent2-r000-0000"} <= queues, "on cell2's broker"
    engine = make_engine(cells.cell_database)
    try:
        with make_session_factory(engine)() as session:
            kept = set(session.scalars(select(InstanceRow.uuid).where(InstanceRow.deleted.is_(False))))
        assert kept == {in_cell2}, "the record lives in cell2's database"
    finally:
        engine.dispose()

    output = cells.conn.compute.get_server_console_output(in_cell2, length=2)["output"]
    assert output.splitlines()[-1] == "twinstack-guest: ready", "read by cell2's host, relayed by a cell2 conductor"
    attach_and_detach(cells, in_cell2)

    cell_conductors = [cells.cluster.processes[name] for name in CELL2_CONDUCTORS]
    for process in cell_conductors:
        os.kill(process.pid, signal.SIGSTOP)
    try:
        in_cell1 = cells.boot("in-cell1", "nova")
    finally:
        for process in cell_conductors:
            os.kill(process.pid, signal.SIGCONT)
    assert cells.host_of(in_cell1).startswith("agent1-")

    cells.delete(in_cell2, in_cell1)
    found = audit(cells.conn)
    assert found.statuses == {} and found.allocations == 0 and found.problems == []
    assert "Traceback" not in "".join(cells.cluster.log(name) for name in ("top", *CELL2_CONDUCTORS))


def attach_and_detach(cells: Cells, server: str) -> None:
    """A volume attached to ``server`` and detached again: block storage answers from the top-level conductor's
    process, on the main broker; the host connects it on cell2's."""
    conn, cluster = cells.conn, cells.cluster
    volume = conn.block_storage.create_volume(size=1, name="data")
    wait_for("the volume", lambda: conn.block_storage.get_volume(volume.id).status == "available", 60, cluster)
    conn.compute.create_volume_attachment(server, volume_id=volume.id)
    wait_for("the attach", lambda: conn.block_storage.get_volume(volume.id).status == "in-use", 60, cluster)
    [attachment] = conn.block_storage.get_volume(volume.id).attachments
    assert attachment["server_id"] == server and attachment["host_name"] == cells.host_of(server)
    conn.compute.delete_volume_attachment(server, volume.id)
    wait_for("the detach", lambda: conn.block_storage.get_volume(volume.id).status == "available", 60, cluster)
    conn.block_storage.delete_volume(volume.id)
    wait_for("the volume gone", lambda: conn.block_storage.find_volume(volume.id) is None, 60, cluster)


def accepted(request: Callable[[], object]) -> bool:
    try:
        request()
    except HttpException as exc:
        if exc.status_code == 503:
            return False
        raise
    return True


def test_a_cell_whose_broker_stops_stops_no_other_cell(cells: Cells) -> None:
    conn = cells.conn
    in_cell2 = cells.boot("in-cell2", "az2")

    cells.cell_broker.stop()
    stopped = time.monotonic()
    in_cell1 = cells.boot("in-cell1", "nova")
    assert time.monotonic() - stopped < DOWN_TIME, "built before cell2 is even seen down"
    assert conn.compute.get_server(in_cell2).status == "ACTIVE", "as cell2's database holds it"
    asked = time.monotonic()
    with pytest.raises(HttpException) as refused:
        conn.compute.delete_server(in_cell2)
    assert refused.value.status_code == 503 and time.monotonic() - asked < 10
    assert conn.compute.get_server(in_cell2).task_state is None, "nothing left pending"

    wait_for("cell2's hosts reported down", lambda: cells.states() == {"agent1": "up", "agent2": "down"},
             DOWN_TIME + 20, cells.cluster, pause=0.5)
    time.sleep(2)  # the top conductor's scheduler re-reads its hosts
    anywhere = cells.boot("anywhere", None)
    assert cells.host_of(anywhere).startswith("agent1-"), "a boot naming no zone lands in the cell that is up"

    cells.cell_broker.start()
    wait_for("cell2's hosts up again", lambda: set(cells.states().values()) == {"up"}, 60, cells.cluster, pause=0.5)
    wait_for("the delete accepted", lambda: accepted(lambda: conn.compute.delete_server(in_cell2)),
             RETRY_AFTER_SECONDS + 5, cells.cluster, pause=0.5)  # the API tries cell2's bus again after a while
    wait_for("the cell2 server gone", lambda: conn.compute.find_server(in_cell2) is None, 60, cells.cluster)
    found = audit(conn)
    assert found.statuses == {"ACTIVE": 2} and found.allocations == 2 and found.problems == []
    assert {in_cell1, anywhere} == {s.id for s in conn.compute.servers()}
