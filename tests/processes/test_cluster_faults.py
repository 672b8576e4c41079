"""Faults in a scaled-out cloud, every part its own process (issue #9): ``serve --no-plane --workers 2``, two
conductors and two simulated agent processes on a fresh PostgreSQL database, over a RabbitMQ node of this
module's own (tests.rpc.private_broker), so that the broker itself can be restarted.

One cluster serves the module; each test bursts ~28 boots and deletes through the compute API with one fault
injected halfway, in this order:

1. an agent process killed (-9) and started again: the builds it had taken are given up after the build timeout
   and rescheduled (or redelivered to it once back), and the guests it held died with it: its report of what
   it holds after the restart (HostInstances) puts their servers in ERROR with a fault instead of leaving them
   ACTIVE over nothing;
2. one API worker killed (-9): uvicorn's supervisor starts another, the other worker serves meanwhile;
3. the broker stopped and started again: every process reconnects, the durable queues kept the messages.

After each: every accepted request settled (ACTIVE, deleted, or ERROR with a fault) within the settle timeout,
every ACTIVE server is held by its host (its console answers), ``twinstack audit`` finds nothing, and every
server is deleted before the next fault, so each starts from an empty cloud.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from typer.testing import CliRunner

from benchmarks.cluster import Cluster, fresh_postgres, local_cluster
from tests.api.fault_burst import Burst, Nova, check_settled, run_burst, settle
from tests.rpc.private_broker import PrivateBroker, private_broker
from twinstack.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BUILD_TIMEOUT = 8
AGENTS = ("agent1", "agent2")
HOSTS_PER_AGENT = 3


@dataclass
class FaultCluster:
    cluster: Cluster
    broker: PrivateBroker
    nova: Nova
    agent_args: dict[str, list[str]]

    def audit(self) -> list[Any]:
        """``twinstack audit --json`` on the cluster's database (run in this process: the same command, without
        an interpreter's start-up)."""
        done = CliRunner().invoke(app, ["audit", "--json", "--database-url", self.cluster.database_url])
        assert done.exit_code == 0, done.output
        findings: list[Any] = json.loads(done.stdout)["findings"]
        return findings

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.cluster.log(name)[-3000:]}" for name in self.cluster.processes)


def agent_datacenter(workdir: Path, name: str) -> list[str]:
    """Roomy hosts (the burst is about faults, not capacity) that take 2 s to boot a guest."""
    datacenter = {"cells": [{"name": "cell1", "zones": [{"name": "nova", "racks": [
        {"name": name, "hosts": {"profile": "roomy", "count": HOSTS_PER_AGENT}}]}]}],
        "profiles": {"roomy": {"vcpus": 16, "ram_mb": 32768, "disk_gb": 200}},
        "behaviour": {"boot_seconds": {"kind": "fixed", "value": 2.0},
                      "delete_seconds": {"kind": "fixed", "value": 0.3},
                      "power_seconds": {"kind": "fixed", "value": 0.3}, "heartbeat_seconds": 2}}
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(datacenter))
    return ["--hosts", str(HOSTS_PER_AGENT), "--datacenter", str(path)]


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultCluster]:
    workdir = tmp_path_factory.mktemp("cluster-faults")
    with (private_broker() as broker, fresh_postgres() as database,
          local_cluster(workdir, database, extra_env={"TWINSTACK_BUS__URL": broker.url,
                                                      "TWINSTACK_COMPUTE__BUILD_TIMEOUT": str(BUILD_TIMEOUT),
                                                      "TWINSTACK_COMPUTE__SERVICE_DOWN_TIME": "15"})
          as cluster):
        cluster.serve(2)
        cluster.conductor("conductor1")
        cluster.conductor("conductor2")
        agent_args = {name: agent_datacenter(workdir, name) for name in AGENTS}
        for name in AGENTS:
            cluster.agent(name, *agent_args[name])
        cluster.wait_serving()
        nova = Nova(cluster.server)
        deadline = time.monotonic() + 60
        while len(nova.http.get(f"{nova.url}/compute/v2.1/os-hypervisors").json()["hypervisors"]) < 6:
            cluster.check_alive()
            assert time.monotonic() < deadline, "the agents' hosts did not register"
            time.sleep(0.3)
        yield FaultCluster(cluster, broker, nova, agent_args)


def settled(faults: FaultCluster, burst: Burst) -> dict[str, dict[str, Any] | None]:
    try:
        final = settle(faults.nova, burst)
    except AssertionError as exc:
        stuck = re.findall(r"'([0-9a-f-]{36}) ", str(exc))
        raise AssertionError(f"{exc}\n{history(faults.nova, stuck)}\n{faults.logs()}") from None
    check_settled(final, burst)
    return final


def history(nova: Nova, servers: list[str]) -> str:
    """What happened to ``servers``: their actions with every event (who did what, where, with what result)."""
    lines = []
    for server in servers:
        base = f"{nova.url}/compute/v2.1/servers/{server}/os-instance-actions"
        for action in nova.http.get(base).json().get("instanceActions", []):
            detail = nova.http.get(f"{base}/{action['request_id']}", headers={"OpenStack-API-Version": "compute 2.51"})
            events = detail.json().get("instanceAction", {}).get("events", [])
            lines.append(f"{server} {action['action']} {action['request_id']}: " + "; ".join(
                f"{e['event']} {e.get('host')} {e['start_time']}..{e.get('finish_time')} {e.get('result')}"
                for e in events))
    return "\n".join(lines)


def check_held(faults: FaultCluster, final: dict[str, dict[str, Any] | None]) -> None:
    """Every ACTIVE server's guest is on its host: its host's agent answers its console."""
    nova = faults.nova
    for server, shown in final.items():
        if shown is not None and shown["status"] == "ACTIVE":
            answer = nova.http.post(f"{nova.url}/compute/v2.1/servers/{server}/action",
                                    json={"os-getConsoleOutput": {"length": 1}})
            assert answer.status_code == 200, (shown["OS-EXT-SRV-ATTR:host"], answer.text)


def clean_up(faults: FaultCluster) -> None:
    """Audit, then delete every server and wait until they are gone (the next fault starts from nothing; its
    audit would see what these deletes leaked)."""
    assert faults.audit() == []
    nova = faults.nova
    servers = nova.http.get(f"{nova.url}/compute/v2.1/servers", params={"all_tenants": "1"}).json()["servers"]
    with ThreadPoolExecutor(6) as pool:
        assert all(pool.map(nova.delete, [server["id"] for server in servers]))
    deadline = time.monotonic() + 30
    while nova.http.get(f"{nova.url}/compute/v2.1/servers", params={"all_tenants": "1"}).json()["servers"]:
        assert time.monotonic() < deadline, f"servers not deleted:\n{faults.logs()}"
        time.sleep(0.5)


def on_agent(server: dict[str, Any], agent: str) -> bool:
    return str(server.get("OS-EXT-SRV-ATTR:host") or "").startswith(f"{agent}-")


def test_an_agent_killed_and_restarted_mid_burst(faults: FaultCluster) -> None:
    nova, cluster = faults.nova, faults.cluster
    at_kill: list[dict[str, Any]] = []

    def kill_and_restart() -> None:
        deadline = time.monotonic() + 10
        while not any(s.get("OS-EXT-STS:task_state") == "spawning" for s in at_kill):  # killed while it works
            assert time.monotonic() < deadline, "no build reached the agent's hosts"
            listed = nova.http.get(f"{nova.url}/compute/v2.1/servers/detail", params={"all_tenants": "1"})
            at_kill[:] = [s for s in listed.json()["servers"] if on_agent(s, "agent1")]
        cluster.processes["agent1"].kill()
        cluster.processes["agent1"].wait(10)
        cluster.agent("agent1", *faults.agent_args["agent1"])

    burst = run_burst(nova, kill_and_restart)
    assert burst.refused == 0, faults.logs()
    final = settled(faults, burst)
    cluster.check_alive()
    spawning = [s["id"] for s in at_kill if s.get("OS-EXT-STS:task_state") == "spawning"]
    running = [s["id"] for s in at_kill if s["status"] == "ACTIVE" and s["id"] not in burst.deleted]
    assert spawning
    for server in running:  # its guest died with the agent process: the restarted agent's report says so
        shown = final[server]
        assert shown is not None and shown["status"] == "ERROR", shown
        assert "missing from host" in shown["fault"]["message"], shown
    check_held(faults, final)
    clean_up(faults)


def api_workers(cluster: Cluster) -> list[psutil.Process]:
    """The serving process's uvicorn workers (multiprocessing's spawned children, not its resource tracker)."""
    workers = []
    for child in psutil.Process(cluster.processes["serve"].pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any("spawn_main" in part for part in child.cmdline()):
                workers.append(child)
        except psutil.Error:  # gone meanwhile (the killed one, reaped)
            continue
    return workers


def test_an_api_worker_killed_mid_burst(faults: FaultCluster) -> None:
    nova, cluster = faults.nova, faults.cluster
    before = api_workers(cluster)
    assert len(before) == 2, before
    victim = before[0]

    burst = run_burst(nova, victim.kill)
    assert not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE
    deadline = time.monotonic() + 30
    while True:  # the supervisor replaces the dead worker
        workers = api_workers(cluster)
        if len(workers) == 2 and victim.pid not in {w.pid for w in workers}:
            break
        assert time.monotonic() < deadline, f"no second worker again: {workers}\n{faults.logs()}"
        time.sleep(0.5)
    cluster.check_alive()
    # the dead worker's requests in flight and its kept-alive connections fail (not accepted); the other
    # worker, then both, serve the rest
    assert len(burst.booted) >= 20, (burst, faults.logs())
    final = settled(faults, burst)
    check_held(faults, final)
    assert nova.boot("after-the-kill") is not None
    clean_up(faults)


def test_the_broker_restarted_mid_burst(faults: FaultCluster) -> None:
    nova, cluster = faults.nova, faults.cluster

    def restart_broker() -> None:
        faults.broker.stop()
        time.sleep(1)
        faults.broker.start()

    burst = run_burst(nova, restart_broker)
    cluster.check_alive()
    assert len(burst.booted) >= 20, (burst, faults.logs())
    final = settled(faults, burst)
    check_held(faults, final)
    assert nova.boot("after-the-restart") is not None
    clean_up(faults)
