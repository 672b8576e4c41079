"""Load balancing through unmodified openstacksdk against ``twinstack serve``: discovery through the
catalog's ``load-balancer`` entry, a load balancer waited ACTIVE after each change (the simulated amphorae
apply it; meanwhile it is immutable: seen with the amphorae paused by their switch file), a listener, a pool,
a member, a health monitor (the member goes ONLINE), updates of each, and a cascade delete waited gone."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import openstack.connection
import openstack.exceptions
import pytest
from openstack.config.loader import OpenStackConfig

from tests.conftest import OpenStackCLI, Served, serve

pytestmark = pytest.mark.slow

POLL = 0.2
"""Seconds between the SDK's polls of a settling load balancer (its default, 2 s, was most of this test)."""


@pytest.fixture(scope="module")
def pause_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """While this file exists, the served cloud's simulated amphorae hold their applies: a change stays
    PENDING_* for as long as the test looks at it, however busy the machine."""
    return tmp_path_factory.mktemp("lb-switch") / "pause"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, pause_file: Path) -> Iterator[Served]:
    """This module's own server, with quick simulated amphorae and their pause switch."""
    running = serve(tmp_path_factory.mktemp("served-lb"), env={"TWINSTACK_LOADBALANCER__APPLY_SECONDS": "0.2",
                                                                "TWINSTACK_LOADBALANCER__PAUSE_FILE": str(pause_file)})
    yield running
    running.process.terminate()
    running.process.wait(10)


@pytest.fixture(scope="module")
def conn(served: Served) -> Iterator[openstack.connection.Connection]:
    region = OpenStackConfig(config_files=[str(served.clouds_yaml)]).get_one(cloud="twinstack")
    connection = openstack.connection.Connection(config=region)
    yield connection
    connection.close()


def test_a_load_balancer_with_a_listener_pool_member_and_monitor(conn: openstack.connection.Connection,
                                                                 pause_file: Path) -> None:
    net = conn.network.create_network(name="sdk-lb-net")
    subnet = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.60.0.0/24")
    lb = conn.load_balancer.create_load_balancer(name="sdk-lb", vip_subnet_id=subnet.id)
    lb = conn.load_balancer.wait_for_load_balancer(lb.id, interval=POLL, wait=30)
    assert (lb.provisioning_status, lb.vip_address) == ("ACTIVE", "10.60.0.2")
    pause_file.touch()
    listener = conn.load_balancer.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80)
    assert conn.load_balancer.get_load_balancer(lb.id).provisioning_status == "PENDING_UPDATE"
    with pytest.raises(openstack.exceptions.ConflictException, match="is immutable and cannot be updated"):
        conn.load_balancer.update_load_balancer(lb.id, name="too-soon")
    pause_file.unlink()
    settle = functools.partial(conn.load_balancer.wait_for_load_balancer, interval=POLL)
    settle(lb.id, wait=30)
    pool = conn.load_balancer.create_pool(listener_id=listener.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    settle(lb.id, wait=30)
    member = conn.load_balancer.create_member(pool, address="10.60.0.10", protocol_port=8080, subnet_id=subnet.id)
    settle(lb.id, wait=30)
    assert conn.load_balancer.get_member(member, pool).operating_status == "NO_MONITOR"
    monitor = conn.load_balancer.create_health_monitor(pool_id=pool.id, type="HTTP", delay=5, timeout=3,
                                                       max_retries=3)
    settle(lb.id, wait=30)
    assert [m.operating_status for m in conn.load_balancer.members(pool)] == ["ONLINE"]
    assert conn.load_balancer.get_listener(listener.id).default_pool_id == pool.id
    conn.load_balancer.update_load_balancer(lb.id, name="sdk-lb-2")
    settle(lb.id, wait=30)
    conn.load_balancer.update_listener(listener.id, connection_limit=50)
    settle(lb.id, wait=30)
    conn.load_balancer.update_pool(pool.id, lb_algorithm="LEAST_CONNECTIONS")
    settle(lb.id, wait=30)
    conn.load_balancer.update_member(member, pool, weight=7)
    settle(lb.id, wait=30)
    conn.load_balancer.update_health_monitor(monitor.id, delay=7)
    settle(lb.id, wait=30)
    assert conn.load_balancer.get_load_balancer(lb.id).name == "sdk-lb-2"
    assert conn.load_balancer.get_listener(listener.id).connection_limit == 50
    assert conn.load_balancer.get_pool(pool.id).lb_algorithm == "LEAST_CONNECTIONS"
    assert conn.load_balancer.get_member(member, pool).weight == 7
    assert conn.load_balancer.get_health_monitor(monitor.id).delay == 7
    conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
    conn.load_balancer.wait_for_delete(conn.load_balancer.get_load_balancer(lb.id), interval=POLL, wait=30)
    assert [b.name for b in conn.load_balancer.load_balancers()] == []
    assert conn.network.get_subnet(subnet.id).id == subnet.id
    assert list(conn.network.ports(network_id=net.id)) == []


def test_the_openstack_cli_makes_a_load_balancer_with_a_listener_pool_and_members(openstack: OpenStackCLI) -> None:
    """``openstack loadbalancer ...`` (python-octaviaclient, the CLI's load-balancer plug-in), each step waited."""
    openstack.run("network", "create", "cli-lb-net")
    subnet = openstack.json("subnet", "create", "--network", "cli-lb-net", "--subnet-range", "10.61.0.0/24",
                            "cli-lb-sub")
    lb = openstack.json("loadbalancer", "create", "--name", "cli-lb", "--vip-subnet-id", subnet["id"], "--wait")
    assert (lb["provisioning_status"], lb["vip_address"]) == ("ACTIVE", "10.61.0.2")
    listener = openstack.json("loadbalancer", "listener", "create", "--name", "cli-http", "--protocol", "HTTP",
                              "--protocol-port", "80", "--wait", "cli-lb")
    pool = openstack.json("loadbalancer", "pool", "create", "--name", "cli-pool", "--listener", "cli-http",
                          "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--wait")
    for n, address in enumerate(("10.61.0.10", "10.61.0.11")):
        openstack.json("loadbalancer", "member", "create", "--name", f"m{n}", "--address", address,
                       "--protocol-port", "8080", "--subnet-id", subnet["id"], "--wait", "cli-pool")
    openstack.json("loadbalancer", "healthmonitor", "create", "--delay", "5", "--timeout", "3", "--max-retries",
                   "3", "--type", "HTTP", "--wait", "cli-pool")
    members = openstack.json("loadbalancer", "member", "list", "cli-pool")
    assert sorted((m["address"], m["protocol_port"], m["operating_status"]) for m in members) == [
        ("10.61.0.10", 8080, "ONLINE"), ("10.61.0.11", 8080, "ONLINE")]
    assert openstack.json("loadbalancer", "listener", "show", "cli-http")["default_pool_id"] == pool["id"]
    shown = openstack.json("loadbalancer", "show", "cli-lb")
    assert (shown["provisioning_status"], shown["operating_status"]) == ("ACTIVE", "ONLINE")
    assert (shown["listeners"], shown["pools"]) == ([{"id": listener["id"]}], [{"id": pool["id"]}])
    openstack.run("loadbalancer", "delete", "--cascade", "--wait", "cli-lb")
    assert openstack.json("loadbalancer", "list") == []
    assert openstack.json("port", "list", "--network", "cli-lb-net") == []
