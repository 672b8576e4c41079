"""A conductor killed (-9) while its builds are spawning and its deletes are under way: the work outlives it.
Another conductor, started after, adopts it once the dead one has been silent for service_down_time, starts the
builds over and sends the deletes again, bringing every new server to ACTIVE and every deleted one to its end,
with placement, ports and servers agreeing (issue 9; twinstack.core.compute.takeover)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from openstack.connection import Connection
from openstack.exceptions import NotFoundException

from benchmarks.cluster import fresh_postgres, local_cluster
from benchmarks.scale_out import agent_arguments, audit, boot_all, connect, delete_all, prepare, wait_for
from tests.rpc.broker import delete_prefix, unique_prefix

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def gone(conn: Connection, server_id: str) -> bool:
    try:
        conn.compute.get_server(server_id)
    except NotFoundException:
        return True
    return False


def test_builds_and_deletes_of_a_killed_conductor_are_taken_over_by_another(tmp_path: Path) -> None:
    prefix = unique_prefix()
    try:
        down_time = 15.0
        with (fresh_postgres() as database,
              local_cluster(tmp_path, database, prefix, {"TWINSTACK_COMPUTE__SERVICE_DOWN_TIME": str(down_time)})
              as cluster):
            cluster.serve(1)
            cluster.conductor("first", log_level="INFO")
            cluster.agent("agent1", *agent_arguments(tmp_path, "agent1", 6, 0, boot_seconds=8.0, delete_seconds=8.0))
            cluster.wait_serving()
            conn = connect(cluster)
            flavor, image, network = prepare(conn, cluster, 6)
            doomed = boot_all([conn], 3, flavor, image, network)
            wait_for("the first servers booting", lambda: all(
                conn.compute.get_server(i).status == "ACTIVE" for i in doomed), 60, cluster)

            delete_all([conn], doomed)  # sent before the builds below: handled first by the one conductor there is
            ids = boot_all([conn], 3, flavor, image, network)

            def all_spawning() -> bool:
                return all(conn.compute.get_server(i).task_state == "spawning" for i in ids)

            wait_for("the builds reaching their hosts", all_spawning, 60, cluster, pause=0.2)
            assert not any(gone(conn, i) for i in doomed), "the deletes are still under way on their host"
            cluster.processes["first"].kill()  # SIGKILL: no goodbye, its answers now go to a queue nobody reads
            killed_at = time.monotonic()
            cluster.conductor("second", log_level="INFO")

            def all_done() -> bool:
                return (all(conn.compute.get_server(i).status == "ACTIVE" for i in ids)
                        and all(gone(conn, i) for i in doomed))

            wait_for("the adopted builds and deletes finishing", all_done, 120, cluster.without("first"))
            assert time.monotonic() - killed_at >= down_time, "adopted only once the dead conductor's time was up"
            assert cluster.log("second").count("takes over the work on") == 6
            found = audit(conn)
            assert found.statuses == {"ACTIVE": 3} and found.allocations == 3 and found.problems == []
    finally:
        delete_prefix(prefix)
