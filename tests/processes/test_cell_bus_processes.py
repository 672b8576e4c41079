"""A cell with its own database and its own bus, every part its own OS process on PostgreSQL and RabbitMQ (issue 9,
Nova's super-conductor and cell conductor): ``twinstack cell create --transport-url`` names the main broker, so the
cell's queues are ``<prefix>.cell2.*``; ``twinstack conductor --cell cell2`` consumes there, and so does the agent of
cell2's hosts (its bus prefix set to the cell's). The API and the top-level conductor are on the main bus, with
cell1's agent. A build into cell2 is scheduled by the top-level conductor and spawned by cell2's conductor through
cell2's bus; its delete goes from the API to cell2's bus; its record lives in cell2's database. With cell2's
conductor stopped (SIGSTOP), a build into cell1 still goes ACTIVE."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openstack.connection import Connection
from sqlalchemy import select

from benchmarks.cluster import BROKER_URL, Cluster, fresh_postgres, local_cluster
from benchmarks.scale_out import PROFILES, agent_arguments, audit, connect, prepare, wait_for
from tests.rpc.broker import delete_prefix, queue_names, unique_prefix
from twinstack.db.models.compute import InstanceRow
from twinstack.db.session import make_engine, make_session_factory

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def cell2_agent_arguments(workdir: Path, hosts: int, heartbeat: float = 5) -> list[str]:
    """``hosts`` simulated hosts of cell2, in zone az2 (cell1's agent has zone 'nova'), beating every ``heartbeat``
    seconds."""
    datacenter = {"cells": [{"name": "cell2", "zones": [{"name": "az2", "racks": [
        {"name": "r", "hosts": {"profile": "one", "count": 1}}]}]}], "profiles": PROFILES,
        "behaviour": {"boot_seconds": {"kind": "fixed", "value": 1.0},
                      "delete_seconds": {"kind": "fixed", "value": 0.25}, "heartbeat_seconds": heartbeat}}
    path = workdir / "cell2.yaml"
    path.write_text(yaml.safe_dump(datacenter))
    return ["--hosts", str(hosts), "--datacenter", str(path)]


def create_cell(cluster: Cluster, database_url: str, transport_url: str = BROKER_URL) -> None:
    """``twinstack cell create`` of cell2, beside the running cloud."""
    done = subprocess.run(
        [sys.executable, "-m", "twinstack.cli", "cell", "create", "--name", "cell2", "--database-url", database_url,
         "--transport-url", transport_url, "--data-dir", str(cluster.data_dir)],
        capture_output=True, text=True, env=cluster.env(), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def boot(conn: Connection, cluster: Cluster, name: str, zone: str | None, flavor: str, image: str,
         network: str) -> str:
    """Boot ``name`` (in ``zone`` if given) and wait until it is ACTIVE; its id."""
    server = conn.compute.create_server(name=name, flavor_id=flavor, image_id=image, networks=[{"uuid": network}],
                                        **({"availability_zone": zone} if zone else {}))
    wait_for(f"{name} ACTIVE", lambda: conn.compute.get_server(server.id).status == "ACTIVE", 60, cluster, pause=0.2)
    return str(server.id)


def test_a_cell_on_its_own_bus_builds_and_deletes_through_its_own_conductor(tmp_path: Path) -> None:
    prefix = unique_prefix()
    try:
        with (fresh_postgres() as database, fresh_postgres() as cell_database,
              local_cluster(tmp_path, database, prefix) as cluster):
            cluster.serve(1)
            cluster.wait_serving()
            create_cell(cluster, cell_database)
            cluster.conductor("top", log_level="INFO")
            cluster.conductor("cell2-conductor", "--cell", "cell2", log_level="INFO")
            cluster.agent("agent1", *agent_arguments(tmp_path, "agent1", 2, 0, boot_seconds=1.0))
            cluster.agent("agent2", *cell2_agent_arguments(tmp_path, 2),
                          env={"TWINSTACK_BUS__PREFIX": f"{prefix}.cell2"})
            conn = connect(cluster)
            flavor, image, network = prepare(conn, cluster, 4)

            in_cell2 = boot(conn, cluster, "in-cell2", "az2", flavor, image, network)
            assert str(conn.compute.get_server(in_cell2).compute_host).startswith("agent2-")
            queues = set(queue_names(prefix))
            assert {f"{prefix}.cell2.conductor", f"{prefix}.cell2.agent.agent2-r000-0000"} <= queues
            assert f"{prefix}.agent.agent2-r000-0000" not in queues, "cell2's hosts are not on the main bus"
            engine = make_engine(cell_database)
            try:
                with make_session_factory(engine)() as session:
                    kept = set(session.scalars(select(InstanceRow.uuid).where(InstanceRow.deleted.is_(False))))
                assert kept == {in_cell2}, "the record lives in cell2's database"
            finally:
                engine.dispose()

            cell_conductor = cluster.processes["cell2-conductor"]
            os.kill(cell_conductor.pid, signal.SIGSTOP)
            try:
                in_cell1 = boot(conn, cluster, "in-cell1", "nova", flavor, image, network)
            finally:
                os.kill(cell_conductor.pid, signal.SIGCONT)
            assert str(conn.compute.get_server(in_cell1).compute_host).startswith("agent1-")

            conn.compute.delete_server(in_cell2)
            wait_for("the cell2 server gone", lambda: conn.compute.find_server(in_cell2) is None, 60, cluster)
            found = audit(conn)
            assert found.statuses == {"ACTIVE": 1} and found.allocations == 1 and found.problems == []
            assert "Traceback" not in cluster.log("top") + cluster.log("cell2-conductor")
    finally:
        delete_prefix(prefix)
