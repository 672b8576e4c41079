"""``twinstack agent`` (this machine's libvirt) joining a control plane that runs in other processes, over
RabbitMQ only: ``serve --no-plane`` and ``twinstack conductor`` on PostgreSQL, the agent with bus transport
'amqp'. It registers as a hypervisor, and a real guest boots on it and is deleted (issue 9)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.cluster import fresh_postgres, local_cluster
from tests.conftest import OpenStackCLI, Served
from tests.real.conftest import IMAGE, build_test_image, real_env, remove_domains_of, state_dir, wait_for
from tests.rpc.broker import delete_prefix, unique_prefix

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_real_agent_joins_over_rabbitmq_and_boots_a_guest(tmp_path: Path) -> None:
    state, prefix = state_dir(), unique_prefix()
    host = f"amqp-{prefix[-8:]}"
    try:
        with (fresh_postgres() as database,
              local_cluster(tmp_path, database, prefix, {**real_env(state), "TWINSTACK_REAL__HOST": host}) as cluster):
            serving = cluster.start("serve", "serve", "--no-plane", "--port", "0")
            cluster.conductor("conductor-1")
            cluster.start("agent", "agent")  # --backend real is the default
            cluster.wait_serving()
            served = Served(cluster.server.url, cluster.data_dir, cluster.data_dir / "clouds.yaml", serving,
                            tmp_path / "serve.log")
            openstack = OpenStackCLI(served)
            build_test_image(served)
            listed = wait_for(lambda: openstack.json("hypervisor", "list"), 120, "the agent to register", every=1)
            assert [h["Hypervisor Hostname"] for h in listed] == [host] and listed[0]["State"] == "up"
            assert "joined over RabbitMQ" in cluster.log("agent")
            created = openstack.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--nic", "none",
                                     "--wait", "real-amqp")
            assert created["status"] == "ACTIVE" and created["OS-EXT-SRV-ATTR:host"] == host
            openstack.run("server", "delete", "--wait", "real-amqp")
            assert openstack.json("server", "list") == []
    finally:
        delete_prefix(prefix)
        remove_domains_of(state)
        shutil.rmtree(state, ignore_errors=True)
