"""``twinstack serve`` with the AMQP bus: a server boots to ACTIVE through the real ``openstack`` CLI while every
conductor and agent message crosses the local RabbitMQ (issue #9)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.test_cli_compute import DATACENTER
from tests.conftest import OpenStackCLI, Served, serving_datacenter
from tests.rpc.broker import delete_prefix, queue_names, unique_prefix

pytestmark = pytest.mark.slow

PREFIX = unique_prefix()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    try:
        yield from serving_datacenter(
            tmp_path_factory,
            "served-amqp",
            DATACENTER,
            env={"TWINSTACK_BUS__TRANSPORT": "amqp", "TWINSTACK_BUS__PREFIX": PREFIX},
        )
    finally:
        delete_prefix(PREFIX)


def test_a_server_boots_and_is_deleted_with_every_message_through_rabbitmq(openstack: OpenStackCLI) -> None:
    created = openstack.json("server", "create", "--image", "twinstack-test", "--flavor", "m1.tiny", "--wait", "vm1")
    assert created["status"] == "ACTIVE"
    host = openstack.json("server", "show", "vm1")["OS-EXT-SRV-ATTR:host"]
    queues = queue_names(PREFIX)
    # the conductor's topic and the chosen host's agent topic are queues on the broker: no in-process path exists
    assert f"{PREFIX}.conductor" in queues and f"{PREFIX}.agent.{host}" in queues
    hosts_held = [q for q in queues if q.startswith(f"{PREFIX}.agent.") and not q.endswith(".volumes")]
    assert len(hosts_held) == 4  # every simulated host holds its topic
    console = openstack.run("console", "log", "show", "vm1").stdout  # a request/reply over a reply queue
    assert "twinstack-guest: ready" in console
    openstack.run("server", "stop", "vm1")
    openstack.run("server", "delete", "--wait", "vm1")
    assert "vm1" not in {s["Name"] for s in openstack.json("server", "list")}
