"""The host network against the real kernel, without guests: a plan is built (bridge, DHCP namespace with a
running dnsmasq, router namespace with its addresses and NAT, firewall tables), and an agent starting afresh
on the same state directory with nothing plugged removes all of it, and only what its own ledger names."""

from __future__ import annotations

import queue
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.real.conftest import state_dir, wait_for
from tests.real.test_net_pieces import NET, PUBLIC, ROUTER, port
from twinstack.real import net_names, privileged
from twinstack.real.agent import AgentConfig, RealAgent
from twinstack.real.dhcp_config import DhcpFiles
from twinstack.real.host_network import HostNetwork
from twinstack.real.net_plan import plan
from twinstack.rpc.bus import send
from twinstack.rpc.compute import (
    CONDUCTOR_TOPIC,
    FlavorSpec,
    ImageSpec,
    InstanceActionResult,
    SpawnInstance,
    agent_topic,
)
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Message, open_envelope
from twinstack.rpc.network import FloatingIpSpec, PlugPorts, PortsResult
from twinstack.sim.runtime import LiveRuntime

HOST = "net-host"
FLAVOR = FlavorSpec(id="1", name="m1.tiny", vcpus=1, ram_mb=256, disk_gb=1)


@pytest.fixture
def state() -> Iterator[Path]:
    path = state_dir()
    yield path
    HostNetwork(path).apply(plan({}))  # whatever a failed test left
    shutil.rmtree(path, ignore_errors=True)


def links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout


def in_namespace(namespace: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True, check=True).stdout


def test_a_plan_is_built_and_a_fresh_start_with_nothing_plugged_removes_it(state: Path) -> None:
    routed = port(
        "p-a",
        "10.0.0.5",
        "fa:16:3e:00:00:0a",
        routers=[ROUTER],
        floating_ips=[FloatingIpSpec(floating_ip_address="172.24.4.20", fixed_ip_address="10.0.0.5")],
    )
    network = HostNetwork(state)
    network.apply(plan({"vm": [routed]}))
    HostNetwork(state).apply(plan({"vm": [routed]}))  # applied again from scratch: nothing to change, no failure

    tag = net_names.agent_tag(str(state))  # the names carry the agent's tag: another agent here has its own
    bridge, dhcp = net_names.bridge(NET, tag), net_names.dhcp_namespace(NET, tag)
    router = net_names.router_namespace("router-1", tag)
    assert bridge in links() and net_names.bridge(PUBLIC, tag) in links()
    assert {dhcp, router} <= set(privileged.namespaces())
    assert privileged.running(DhcpFiles(state / "network" / "dhcp" / NET).pid, "dnsmasq") is not None
    assert "10.0.0.254/24" in in_namespace(dhcp, "ip", "-o", "addr")
    router_addresses = in_namespace(router, "ip", "-o", "addr")
    assert "10.0.0.1/24" in router_addresses and "172.24.4.10/24" in router_addresses
    assert "172.24.4.20/32" in router_addresses
    assert "dnat to 10.0.0.5" in in_namespace(router, "nft", "list", "ruleset")
    table = net_names.firewall_table(str(state))
    assert f"table inet {table}" in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout

    outsider = "tsbnotours-000"  # named like ours, but not in this agent's ledger: never touched
    privileged.netlink(None, "link", "add", ifname=outsider, kind="bridge")
    try:
        restarted = HostNetwork(state)  # what the agent does at start-up when no instance is left here
        restarted.apply(plan({}))
        assert outsider in links()
    finally:
        privileged.delete_link(None, outsider)
    assert bridge not in links() and net_names.bridge(PUBLIC, tag) not in links()
    assert not {dhcp, router} & set(privileged.namespaces())
    assert not (state / "network" / "dhcp" / NET).exists()
    assert table not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert restarted.owned() == (set(), set())
    dnsmasq = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(state) not in dnsmasq


# through the agent, over the bus (no guest: the spawn fails for want of an image, which is the point)


def start_agent(state: Path, store: Path) -> tuple[Any, Any, queue.Queue[Message]]:
    runtime = LiveRuntime()
    bus = InProcessBus(runtime)
    heard: queue.Queue[Message] = queue.Queue()
    bus.subscribe(CONDUCTOR_TOPIC, lambda envelope: heard.put(open_envelope(envelope)))
    config = AgentConfig(
        name="net-agent", host=HOST, state_dir=state, image_stores=(store,), virt_type="qemu", heartbeat_seconds=5
    )
    agent = RealAgent(config, runtime, bus)
    runtime.start()
    runtime.call_soon(agent.start)
    assert agent.ready.wait(60) and agent.failure is None, agent.failure
    return agent, runtime, heard


def answer_to(heard: queue.Queue[Message], command_id: str) -> Message:
    deadline = time.monotonic() + 30
    while True:
        message = heard.get(timeout=max(deadline - time.monotonic(), 0.01))
        if getattr(message, "command_id", None) == command_id:
            return message


def test_the_agent_plugs_forgets_a_failed_spawn_and_cleans_up_at_start(state: Path, tmp_path: Path) -> None:
    instance = str(uuid.uuid4())
    plugged = port("p-a", "10.0.0.5", "fa:16:3e:00:00:0a")
    tag = net_names.agent_tag(str(state))
    agent, runtime, heard = start_agent(state, tmp_path)
    try:
        plug = PlugPorts(host=HOST, instance_uuid=instance, ports=[plugged])
        send(agent.bus, agent_topic(HOST), plug)
        result = answer_to(heard, plug.command_id)
        assert isinstance(result, PortsResult) and result.ok and result.port_ids == ["p-a"], result
        assert net_names.bridge(NET, tag) in links()
        assert net_names.dhcp_namespace(NET, tag) in privileged.namespaces()

        spawn = SpawnInstance(
            host=HOST, instance_uuid=instance, instance_name="x", flavor=FLAVOR, image=ImageSpec(id=str(uuid.uuid4()))
        )  # no such image: the spawn fails
        send(agent.bus, agent_topic(HOST), spawn)
        failed = answer_to(heard, spawn.command_id)
        assert isinstance(failed, InstanceActionResult) and not failed.ok
        assert net_names.bridge(NET, tag) not in links()  # its network went with it (a retry plugs again first)

        send(agent.bus, agent_topic(HOST), PlugPorts(host=HOST, instance_uuid=instance, ports=[plugged]))
        wait_for(lambda: net_names.bridge(NET, tag) in links(), 30, "the plug")
    finally:
        agent.stop()
        runtime.stop()
    # the agent is down with a plugged instance that has no domain here: the next start removes its network
    agent, runtime, heard = start_agent(state, tmp_path)
    try:
        assert net_names.bridge(NET, tag) not in links()
        assert net_names.dhcp_namespace(NET, tag) not in privileged.namespaces()
        assert agent.ports.snapshot() == {}
    finally:
        agent.stop()
        runtime.stop()
