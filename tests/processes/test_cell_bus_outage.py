"""A cell whose broker stops, every part its own OS process (issue 9: "a cell that is down does not stop the others"):
cell2's bus is a RabbitMQ node of the test's own (tests.rpc.private_broker), its conductor and its hosts' agent on it;
the API, the top-level conductor and cell1's agent are on the shared broker. With cell2's broker stopped:

* a build into cell1 goes ACTIVE as before;
* cell2's server is still shown as its database holds it (ACTIVE), as Nova shows a cell's servers while only its
  message queue is away; deleting it is refused at once with 503 and leaves it as it was;
* cell2's hosts are reported down once silent for service_down_time, and a boot naming no zone lands in cell1.

Once the broker is back, cell2's conductor and agent reconnect, its hosts are up again and the delete goes through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from openstack.exceptions import HttpException

from benchmarks.cluster import fresh_postgres, local_cluster
from benchmarks.scale_out import agent_arguments, audit, connect, prepare, wait_for
from tests.processes.test_cell_bus_processes import boot, cell2_agent_arguments, create_cell
from tests.rpc.broker import delete_prefix, unique_prefix
from tests.rpc.private_broker import private_broker
from twinstack.core.compute.cell_buses import RETRY_AFTER_SECONDS as RETRY_AFTER

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DOWN_TIME = 10


def accepted(request: Callable[[], object]) -> bool:
    try:
        request()
    except HttpException as exc:
        if exc.status_code == 503:
            return False
        raise
    return True


def test_a_cell_whose_broker_stops_stops_no_other_cell(tmp_path: Path) -> None:
    prefix = unique_prefix()
    settings = {"TWINSTACK_COMPUTE__SERVICE_DOWN_TIME": str(DOWN_TIME),
                "TWINSTACK_SCHEDULER__SERVICE_DOWN_TIME": str(DOWN_TIME),
                "TWINSTACK_SCHEDULER__HOST_REFRESH_SECONDS": "1", "TWINSTACK_BUS__CELL_PUBLISH_TIMEOUT": "2"}
    try:
        with (private_broker() as cell_broker, fresh_postgres() as database, fresh_postgres() as cell_database,
              local_cluster(tmp_path, database, prefix, settings) as cluster):
            cluster.serve(1)
            cluster.wait_serving()
            create_cell(cluster, cell_database, cell_broker.url)
            cluster.conductor("top", log_level="INFO")
            cluster.conductor("cell2-conductor", "--cell", "cell2", log_level="INFO")
            cluster.agent("agent1", *agent_arguments(tmp_path, "agent1", 2, 0, boot_seconds=1.0))
            cluster.agent("agent2", *cell2_agent_arguments(tmp_path, 2, heartbeat=1),
                          env={"TWINSTACK_BUS__URL": cell_broker.url, "TWINSTACK_BUS__PREFIX": f"{prefix}.cell2"})
            conn = connect(cluster)
            flavor, image, network = prepare(conn, cluster, 4)  # each host has room for one server
            in_cell2 = boot(conn, cluster, "in-cell2", "az2", flavor, image, network)

            cell_broker.stop()
            stopped = time.monotonic()
            in_cell1 = boot(conn, cluster, "in-cell1", "nova", flavor, image, network)
            assert time.monotonic() - stopped < DOWN_TIME, "built before cell2 is even seen down"
            assert conn.compute.get_server(in_cell2).status == "ACTIVE", "as cell2's database holds it"
            asked = time.monotonic()
            with pytest.raises(HttpException) as refused:
                conn.compute.delete_server(in_cell2)
            assert refused.value.status_code == 503 and time.monotonic() - asked < 10
            assert conn.compute.get_server(in_cell2).task_state is None, "nothing left pending"

            def cell2_down() -> bool:
                return {h.name[:6]: h.state for h in conn.compute.hypervisors(details=True)} == {
                    "agent1": "up", "agent2": "down"}

            wait_for("cell2's hosts reported down", cell2_down, DOWN_TIME + 20, cluster, pause=0.5)
            time.sleep(2)  # the top conductor's scheduler re-reads its hosts
            anywhere = boot(conn, cluster, "anywhere", None, flavor, image, network)
            assert str(conn.compute.get_server(anywhere).compute_host).startswith("agent1-"), "the cell that is up"

            cell_broker.start()
            wait_for("cell2's hosts up again", lambda: {h.state for h in conn.compute.hypervisors(details=True)}
                     == {"up"}, 60, cluster, pause=0.5)
            wait_for("the delete accepted", lambda: accepted(lambda: conn.compute.delete_server(in_cell2)),
                     RETRY_AFTER + 5, cluster, pause=0.5)  # the API tries cell2's bus again after RETRY_AFTER
            wait_for("the cell2 server gone", lambda: conn.compute.find_server(in_cell2) is None, 60, cluster)
            found = audit(conn)
            assert found.statuses == {"ACTIVE": 2} and found.allocations == 2 and found.problems == []
            assert {in_cell1, anywhere} == {s.id for s in conn.compute.servers()}
    finally:
        delete_prefix(prefix)
