"""Scale out (issue 9): the API in 2 worker processes without a plane, 2 schedulers, 2 conductors asking them
(compute.scheduler = 'remote') and 2 agents of 20 simulated hosts, every one a separate OS process on PostgreSQL
and RabbitMQ. One cluster serves both checks (starting it is the expensive part):

* 60 servers booted at once onto room for exactly 45 (openstacksdk, 8 clients) end as 45 ACTIVE and 15 ERROR with
  NoValidHost, with placement, ports and servers agreeing; deleting them all leaves nothing;
* one scheduler is killed (-9) holding requests mid-burst: the broker hands them to the other, every accepted
  boot ends ACTIVE, and neither the APIs' view nor ``twinstack audit`` finds anything leaked.

The full-size run is ``python -m benchmarks.scale_out``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from openstack.connection import Connection

from benchmarks.scale_out import Running, across, audit, burst, connect, no_server_building, scaled_out, wait_for
from tests.rpc.broker import delete_prefix, queue_names, unique_prefix

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    prefix = unique_prefix()
    try:
        with scaled_out(tmp_path_factory.mktemp("scale"), room=45, agents=2, hosts_per_agent=20, api_workers=2,
                        conductors=2, schedulers=2, boot_seconds=1.0, prefix=prefix) as started:
            yield started
    finally:
        delete_prefix(prefix)


def test_a_burst_past_capacity_books_exactly_the_room_across_processes(running: Running) -> None:
    cluster = running.cluster
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_CLIENT_CONFIG_FILE=str(cluster.data_dir / "clouds.yaml"), OS_CLOUD="twinstack")
    listed = subprocess.run(["openstack", "hypervisor", "list", "-f", "json"], capture_output=True, text=True,
                            env=env, check=True, timeout=120)
    hypervisors = json.loads(listed.stdout)
    names = [h["Hypervisor Hostname"] for h in hypervisors]
    assert len(names) == 40 and {h["State"] for h in hypervisors} == {"up"}
    assert sum(n.startswith("agent1-") for n in names) == 20 and sum(n.startswith("agent2-") for n in names) == 20
    # shared work queues for conductors and schedulers, and a reply queue per conductor: answers (the agents' and
    # the schedulers') reach the conductor that waits for them
    queues = set(queue_names(cluster.prefix))
    assert {f"{cluster.prefix}.conductor", f"{cluster.prefix}.scheduler"} <= queues
    assert {f"{cluster.prefix}.reply.conductor.conductor-1", f"{cluster.prefix}.reply.conductor.conductor-2"} <= queues

    figures = burst(running, boots=60, clients=8)

    booted = figures.after_boots
    assert booted.statuses == {"ACTIVE": 45, "ERROR": 15}
    assert booted.no_valid_host == 15
    assert booted.faults == {"No valid host was found. There are not enough hosts available.": 15}
    assert booted.allocations == 45, "one allocation per ACTIVE server, none for the refused"
    assert booted.problems == []  # no provider over capacity, no stray allocation, no port with two owners
    gone = figures.after_deletes
    assert gone.statuses == {} and gone.allocations == 0 and gone.compute_ports == 0 and gone.problems == []


def scheduling(conn: Connection) -> int:
    """Servers still waiting for a host."""
    return sum(1 for s in conn.compute.servers(status="BUILD") if s.task_state == "scheduling")


def test_a_scheduler_killed_mid_burst_loses_no_boot(running: Running) -> None:
    """The victim is first stopped (SIGSTOP) so that the broker keeps handing it requests it cannot answer, then
    killed (-9) with them unacknowledged: the other scheduler must answer every one."""
    cluster, conn = running.cluster, running.conn
    victim = cluster.processes["scheduler-1"]
    boots, clients = 30, 6
    accepted: list[str] = []
    lock = threading.Lock()

    def create(c: Connection, index: int) -> str:
        server = c.compute.create_server(name=f"kill-{index:03d}", flavor_id=running.flavor, image_id=running.image,
                                         networks=[{"uuid": running.network}])
        with lock:
            accepted.append(str(server.id))
            if len(accepted) == 5:
                victim.send_signal(signal.SIGSTOP)
        return str(server.id)

    ids = across([connect(cluster) for _ in range(clients)], create, range(boots))
    assert len(ids) == boots
    wait_for("the stopped scheduler holding requests", lambda: scheduling(conn) > 0, 30, cluster)
    time.sleep(2)
    stuck = scheduling(conn)
    assert stuck > 0, "requests wait on the stopped scheduler"
    victim.kill()  # SIGKILL: its unacknowledged requests go back to the queue
    victim.wait(10)
    alive = cluster.without("scheduler-1")
    wait_for("every boot settling after the kill", lambda: no_server_building(conn), 90, alive)
    servers = {s.id: s for s in conn.compute.servers(details=True)}
    assert {servers[i].status for i in ids} == {"ACTIVE"}, "room for all: none lost, none refused"
    found = audit(conn)
    assert found.allocations == boots and found.problems == []
    report = subprocess.run([sys.executable, "-m", "twinstack.cli", "audit", "--json", "--database-url",
                             cluster.database_url], capture_output=True, text=True, timeout=120, env=cluster.env())
    assert json.loads(report.stdout)["findings"] == [], report.stdout + report.stderr
    cluster.scheduler("scheduler-1-again")  # restarted, it joins the queue again
    wait_for("the restarted scheduler", lambda: "is running" in cluster.log("scheduler-1-again"), 60, alive)


def test_a_cold_migration_is_placed_by_a_scheduler_process(running: Running) -> None:
    """Moves ask the scheduler processes as builds do: the server's second placement is one of theirs."""
    cluster, conn = running.cluster, running.conn
    server = conn.compute.create_server(name="mover", flavor_id=running.flavor, image_id=running.image,
                                        networks=[{"uuid": running.network}])
    server = conn.compute.wait_for_server(server, status="ACTIVE", interval=0.5, wait=120)
    source = server.compute_host
    conn.compute.migrate_server(server)
    server = conn.compute.wait_for_server(server, status="VERIFY_RESIZE", interval=0.5, wait=120)
    assert server.compute_host != source
    conn.compute.confirm_server_resize(server)
    server = conn.compute.wait_for_server(server, status="ACTIVE", interval=0.5, wait=120)
    logs = "".join(cluster.log(name) for name in cluster.processes if name.startswith("scheduler"))
    assert logs.count(f"for {server.id}: selected") == 2, "the build's placement and the migration's"
    found = audit(conn)
    assert found.problems == []
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.5, wait=120)
