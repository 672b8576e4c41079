"""``twinstack serve --workers 2`` with its plane embedded, on PostgreSQL and RabbitMQ: two API worker processes
in front of the serving process's conductor and simulated hosts; a server boots through the ``openstack`` CLI and
its console log comes back over a reply queue to whichever worker asked."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from benchmarks.cluster import fresh_postgres, local_cluster
from tests.api.test_cli_compute import DATACENTER
from tests.conftest import OpenStackCLI, Served
from tests.rpc.broker import delete_prefix, unique_prefix

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PREFIX = unique_prefix()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``serve --workers 2`` with the plane in it (the cluster helper waits longer for workers than conftest's)."""
    workdir = tmp_path_factory.mktemp("served-workers")
    path = workdir / "datacenter.yaml"
    path.write_text(yaml.safe_dump(DATACENTER))
    try:
        with fresh_postgres() as database, local_cluster(workdir, database, PREFIX) as cluster:
            process = cluster.start("serve", "serve", "--workers", "2", "--datacenter", str(path), "--port", "0")
            cluster.wait_serving()
            yield Served(cluster.server.url, cluster.data_dir, cluster.data_dir / "clouds.yaml", process,
                         workdir / "serve.log")
    finally:
        delete_prefix(PREFIX)


def children(pid: int) -> list[str]:
    """The command lines of a process's children (from /proc)."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [Path(f"/proc/{child}/cmdline").read_text().replace("\0", " ") for child in listed]


def test_two_workers_serve_one_cloud_whose_plane_runs_in_the_serving_process(served: Served,
                                                                              openstack: OpenStackCLI) -> None:
    workers = [line for line in children(served.process.pid) if "multiprocessing.spawn" in line]
    assert len(workers) == 2, children(served.process.pid)
    created = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--wait", "w1")
    assert created["status"] == "ACTIVE"
    for _ in range(4):  # consecutive requests land on either worker: every one answers the same
        assert openstack.json("server", "show", "w1")["status"] == "ACTIVE"
    assert "twinstack-guest: ready" in openstack.run("console", "log", "show", "w1").stdout
    openstack.run("server", "delete", "--wait", "w1")
    assert openstack.json("server", "list") == []


def test_more_workers_without_a_broker_are_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "twinstack.cli", "serve", "--workers", "2", "--data-dir",
                           str(tmp_path / "d")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "bus.transport = 'amqp'" in done.stderr
