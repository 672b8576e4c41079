"""Scale out (issue 9): the API in 2 worker processes without a plane, 2 conductors and 2 agents of 20 simulated
hosts, every one a separate OS process on PostgreSQL and RabbitMQ. 60 servers booted at once onto room for
exactly 45 (openstacksdk, 8 clients) end as 45 ACTIVE and 15 ERROR with NoValidHost, with placement, ports and
servers agreeing; deleting them all leaves nothing. The full-size run is ``python -m benchmarks.scale_out``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openstack.connection import Connection

from benchmarks.cluster import Cluster
from benchmarks.scale_out import run
from tests.rpc.broker import delete_prefix, queue_names, unique_prefix

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_burst_past_capacity_books_exactly_the_room_across_processes(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def look(cluster: Cluster, _conn: Connection) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(OS_CLIENT_CONFIG_FILE=str(cluster.data_dir / "clouds.yaml"), OS_CLOUD="twinstack")
        listed = subprocess.run(["openstack", "hypervisor", "list", "-f", "json"], capture_output=True, text=True,
                                env=env, check=True, timeout=120)
        seen["hypervisors"] = json.loads(listed.stdout)
        seen["queues"] = queue_names(cluster.prefix)
        seen["prefix"] = cluster.prefix

    prefix = unique_prefix()
    try:
        figures = run(tmp_path, boots=60, room=45, agents=2, hosts_per_agent=20, api_workers=2, conductors=2,
                      clients=8, boot_seconds=1.0, prefix=prefix, on_ready=look)
    finally:
        delete_prefix(prefix)

    names = [h["Hypervisor Hostname"] for h in seen["hypervisors"]]
    assert len(names) == 40 and {h["State"] for h in seen["hypervisors"]} == {"up"}
    assert sum(n.startswith("agent1-") for n in names) == 20 and sum(n.startswith("agent2-") for n in names) == 20
    # one shared work queue, and a reply queue per conductor: answers reach the conductor that waits for them
    assert f"{prefix}.conductor" in seen["queues"]
    assert {f"{prefix}.reply.conductor.conductor-1", f"{prefix}.reply.conductor.conductor-2"} <= set(seen["queues"])

    booted = figures.after_boots
    assert booted.statuses == {"ACTIVE": 45, "ERROR": 15}
    assert booted.no_valid_host == 15
    assert booted.allocations == 45, "one allocation per ACTIVE server, none for the refused"
    assert booted.problems == []  # no provider over capacity, no stray allocation, no port with two owners
    gone = figures.after_deletes
    assert gone.statuses == {} and gone.allocations == 0 and gone.compute_ports == 0 and gone.problems == []
