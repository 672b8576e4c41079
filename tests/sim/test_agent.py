"""The simulated agent answers the compute protocol in virtual time, as a real agent would."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinstack.rpc.bus import BusUnavailable, send, typed
from twinstack.rpc.compute import (
    CONDUCTOR_TOPIC,
    DestroyInstance,
    FlavorSpec,
    Heartbeat,
    HostsRegistered,
    ImageSpec,
    InstanceActionResult,
    PowerAction,
    SpawnInstance,
    agent_topic,
)
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Envelope, Message
from twinstack.rpc.network import FixedIpSpec, PlugPorts, PortSpec, PortsResult, RuleSpec, SegmentSpec, UnplugPorts
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import (
    Behaviour,
    Crash,
    DatacenterFileError,
    Faults,
    load_datacenter,
    uniform_datacenter,
)
from twinstack.sim.distributions import Fixed
from twinstack.sim.runtime import SimRuntime

FLAVOR = FlavorSpec(id="1", name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)


def rig(hosts: int = 2, **behaviour: object) -> tuple[SimRuntime, InProcessBus, SimAgent, list[tuple[float, Message]]]:
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    datacenter = uniform_datacenter(hosts)
    datacenter = datacenter.model_copy(update={"behaviour": Behaviour(
        boot_seconds=Fixed(value=10), delete_seconds=Fixed(value=1), power_seconds=Fixed(value=2),
        heartbeat_seconds=30, **behaviour)})  # type: ignore[arg-type]
    agent = SimAgent("sim-agent", runtime, bus, datacenter, seed=7)
    seen: list[tuple[float, Message]] = []

    def record(message: Message, _envelope: Envelope) -> None:
        seen.append((runtime.env.now, message))

    bus.subscribe(CONDUCTOR_TOPIC, typed(record))
    agent.start()
    return runtime, bus, agent, seen


def results(seen: list[tuple[float, Message]]) -> list[tuple[float, str, bool]]:
    return [(t, m.action, m.ok) for t, m in seen if isinstance(m, InstanceActionResult)]


def test_hosts_register_once_and_heartbeat_in_one_batch() -> None:
    runtime, _bus, _agent, seen = rig(hosts=3)
    runtime.run(until=61)
    registered = [m for _, m in seen if isinstance(m, HostsRegistered)]
    beats = [(t, m.hosts) for t, m in seen if isinstance(m, Heartbeat)]
    assert len(registered) == 1 and len(registered[0].hosts) == 3
    assert [t for t, _ in beats] == [0, 30, 60]
    assert all(len(hosts) == 3 for _, hosts in beats)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.booleans()), max_size=30))
def test_each_heartbeat_lists_the_live_hosts_in_order_whatever_failed_and_came_back(
        changes: list[tuple[int, bool]]) -> None:
    """The agent keeps its list of live hosts as hosts fail and are repaired (one name out or in, not a walk over
    every host): each beat names exactly the hosts up at that time, in the hosts' order, and a beat never
    changes a list an earlier beat sent."""
    runtime, _bus, agent, seen = rig(hosts=8)
    names = list(agent.hosts)
    as_sent: list[tuple[Heartbeat, list[str]]] = []
    for step, (k, up) in enumerate(changes):
        (agent.repair if up else agent.crash)(names[k])
        runtime.run(until=30 * step + 31)
        beats = [m for _, m in seen if isinstance(m, Heartbeat)]
        as_sent += [(beat, list(beat.hosts)) for beat in beats[len(as_sent):]]
        assert beats[-1].hosts == [name for name in names if agent.hosts[name].up]
        assert all(beat.hosts == copy for beat, copy in as_sent)


def test_spawn_takes_image_download_plus_boot_then_the_image_is_cached() -> None:
    runtime, bus, agent, seen = rig()
    host = next(iter(agent.hosts))
    image = ImageSpec(id="img", size_bytes=int(1.25e9))  # 1 s at 10 Gbit/s
    send(bus, agent_topic(host), SpawnInstance(host=host, instance_uuid="a", instance_name="a", flavor=FLAVOR,
                                               image=image))
    runtime.run(until=20)
    send(bus, agent_topic(host), SpawnInstance(host=host, instance_uuid="b", instance_name="b", flavor=FLAVOR,
                                               image=image))
    runtime.run(until=40)
    assert results(seen) == [(11, "spawn", True), (30, "spawn", True)]
    assert agent.hosts[host].instances == {"a": 1, "b": 1}


def test_power_actions_and_destroy() -> None:
    runtime, bus, agent, seen = rig()
    host = next(iter(agent.hosts))
    send(bus, agent_topic(host), SpawnInstance(host=host, instance_uuid="a", instance_name="a", flavor=FLAVOR))
    runtime.run(until=10.5)
    send(bus, agent_topic(host), PowerAction(host=host, instance_uuid="a", action="stop"))
    runtime.run(until=13)
    assert agent.hosts[host].instances["a"] == 4
    send(bus, agent_topic(host), DestroyInstance(host=host, instance_uuid="a"))
    runtime.run(until=15)
    assert results(seen) == [(10, "spawn", True), (12.5, "stop", True), (14, "destroy", True)]
    assert agent.hosts[host].instances == {}


def test_a_repeated_command_is_answered_again_not_redone() -> None:
    runtime, bus, agent, seen = rig()
    host = next(iter(agent.hosts))
    command = SpawnInstance(host=host, instance_uuid="a", instance_name="a", flavor=FLAVOR)
    send(bus, agent_topic(host), command)
    runtime.run(until=11)
    send(bus, agent_topic(host), command)
    runtime.run(until=12)
    assert results(seen) == [(10, "spawn", True), (11, "spawn", True)]


def test_a_command_repeated_while_its_work_is_under_way_is_done_once_and_answered_once_done() -> None:
    """A broker redelivers at once after a lost connection: the repeat finds the spawn still running."""
    runtime, bus, agent, seen = rig()
    host = next(iter(agent.hosts))
    command = SpawnInstance(host=host, instance_uuid="a", instance_name="a", flavor=FLAVOR)
    send(bus, agent_topic(host), command)
    runtime.run(until=5)
    send(bus, agent_topic(host), command)
    runtime.run(until=30)
    assert results(seen) == [(10, "spawn", True)]
    send(bus, agent_topic(host), command)
    runtime.run(until=31)
    assert results(seen) == [(10, "spawn", True), (30, "spawn", True)]


def test_injected_spawn_failures_are_reported_with_a_fault() -> None:
    runtime, bus, agent, seen = rig(spawn_failure_probability=1.0)
    host = next(iter(agent.hosts))
    send(bus, agent_topic(host), SpawnInstance(host=host, instance_uuid="a", instance_name="a", flavor=FLAVOR))
    runtime.run(until=11)
    [failure] = [m for _, m in seen if isinstance(m, InstanceActionResult)]
    assert not failure.ok and failure.fault and "Simulated spawn failure" in failure.fault
    assert agent.hosts[host].instances == {}


def test_a_crashed_host_goes_silent() -> None:
    runtime, bus, agent, seen = rig(hosts=2)
    down, alive = list(agent.hosts)
    agent.crash(down)
    send(bus, agent_topic(down), SpawnInstance(host=down, instance_uuid="a", instance_name="a", flavor=FLAVOR))
    runtime.run(until=31)
    assert results(seen) == []
    last_beat = [m for _, m in seen if isinstance(m, Heartbeat)][-1]
    assert last_beat.hosts == [alive]


def test_a_datacenter_file_with_a_mistake_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "dc.yaml"
    path.write_text("cells:\n  - name: c1\n    zones:\n      - name: az1\n        racks:\n"
                    "          - name: r1\n            hosts: {profile: standard, count: 0}\n")
    with pytest.raises(DatacenterFileError, match=r"cells\.0\.zones\.0\.racks\.0\.hosts\.count"):
        load_datacenter(path)


def test_the_shipped_datacenter_file_loads() -> None:
    datacenter = load_datacenter(Path(__file__).parents[2] / "scenarios" / "datacenters" / "two-zones.yaml")
    reports = datacenter.host_reports()
    assert len(reports) == 70
    assert {r.availability_zone for r in reports} == {"az1", "az2"}
    bigmem = [r for r in reports if "CUSTOM_BIGMEM" in r.traits]
    assert len(bigmem) == 10 and bigmem[0].inventory["MEMORY_MB"].total == 1048576


def faulty_rig(*crashes: Crash) -> tuple[SimRuntime, InProcessBus, SimAgent, list[tuple[float, Message]]]:
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    datacenter = uniform_datacenter(2).model_copy(update={
        "behaviour": Behaviour(boot_seconds=Fixed(value=10), heartbeat_seconds=30),
        "faults": Faults(crashes=list(crashes))})
    agent = SimAgent("sim-agent", runtime, bus, datacenter)
    seen: list[tuple[float, Message]] = []
    bus.subscribe(CONDUCTOR_TOPIC, typed(lambda message, _e: seen.append((runtime.env.now, message))))
    agent.start()
    return runtime, bus, agent, seen


def test_a_host_set_to_crash_at_a_time_goes_silent_then() -> None:
    runtime, _bus, agent, seen = faulty_rig(Crash(host="sim000-0001", at_seconds=45))
    runtime.run(until=91)
    beats = [(t, m.hosts) for t, m in seen if isinstance(m, Heartbeat)]
    assert beats == [(0, ["sim000-0000", "sim000-0001"]), (30, ["sim000-0000", "sim000-0001"]),
                     (60, ["sim000-0000"]), (90, ["sim000-0000"])]
    assert not agent.hosts["sim000-0001"].up


def test_a_host_set_to_crash_during_a_build_dies_midway_through_that_build_only() -> None:
    runtime, bus, agent, seen = faulty_rig(Crash(host="sim000-0000", during_spawn=2))
    host = "sim000-0000"
    send(bus, agent_topic(host), SpawnInstance(host=host, instance_uuid="a", instance_name="a", flavor=FLAVOR))
    runtime.run(until=11)
    assert results(seen) == [(10, "spawn", True)], "the first build is not the one that kills it"
    send(bus, agent_topic(host), SpawnInstance(host=host, instance_uuid="b", instance_name="b", flavor=FLAVOR))
    runtime.run(until=16)
    assert not agent.hosts[host].up and agent.hosts[host].instances == {}
    runtime.run(until=60)
    assert results(seen) == [(10, "spawn", True)], "the second build is never answered"


@pytest.mark.parametrize(("crash", "error"), [
    ("{host: nowhere-0000, at_seconds: 5}", "faults name hosts the datacenter does not have: nowhere-0000"),
    ("{host: r1-0000}", "exactly one of at_seconds and during_spawn"),
    ("{host: r1-0000, at_seconds: 5, during_spawn: 1}", "exactly one of at_seconds and during_spawn"),
])
def test_a_fault_that_cannot_happen_is_refused_when_the_file_loads(tmp_path: Path, crash: str, error: str) -> None:
    path = tmp_path / "dc.yaml"
    path.write_text("cells:\n  - zones:\n      - racks:\n          - {name: r1, hosts: {count: 2}}\n"
                    f"faults:\n  crashes:\n    - {crash}\n")
    with pytest.raises(DatacenterFileError, match=error):
        load_datacenter(path)


def test_ports_are_plugged_replaced_whole_and_unplugged_per_instance() -> None:
    runtime, bus, agent, seen = rig(hosts=1)
    [host] = agent.hosts

    def port(port_id: str, rules: list[RuleSpec]) -> PortSpec:
        return PortSpec(port_id=port_id, mac_address="fa:16:3e:00:00:01", network_id="net",
                        segment=SegmentSpec(network_type="vxlan", segmentation_id=1001, mtu=1450),
                        fixed_ips=[FixedIpSpec(subnet_id="sub", ip_address="10.0.0.5", cidr="10.0.0.0/24",
                                               gateway_ip="10.0.0.1")],
                        security_group_rules=rules)

    ssh = RuleSpec(id="r1", direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                   remote_ip_prefix="192.0.2.0/24")
    send(bus, agent_topic(host), PlugPorts(host=host, instance_uuid="vm-1", ports=[port("p1", [ssh])]))
    send(bus, agent_topic(host), PlugPorts(host=host, instance_uuid="vm-2", ports=[port("p2", [])]))
    runtime.run(until=1)
    assert agent.plugged[host]["p1"].security_group_rules == [ssh] and set(agent.plugged[host]) == {"p1", "p2"}
    send(bus, agent_topic(host), PlugPorts(host=host, instance_uuid="vm-1", ports=[port("p1", [])]))  # re-plug
    runtime.run(until=2)
    assert agent.plugged[host]["p1"].security_group_rules == []
    send(bus, agent_topic(host), UnplugPorts(host=host, instance_uuid="vm-1"))  # no ids: all of vm-1's
    runtime.run(until=3)
    assert set(agent.plugged[host]) == {"p2"}
    answers = [(m.action, m.instance_uuid, m.port_ids) for _, m in seen if isinstance(m, PortsResult)]
    assert answers == [("plug", "vm-1", ["p1"]), ("plug", "vm-2", ["p2"]), ("plug", "vm-1", ["p1"]),
                       ("unplug", "vm-1", ["p1"])]
    agent.crash(host)
    assert agent.plugged == {}


class Outage(InProcessBus):
    """An in-process bus whose broker refuses every message published while ``away`` (as the AMQP bus does once a
    publish timeout has passed)."""

    away = False

    def publish(self, topic: str, envelope: Envelope) -> None:
        if self.away:
            raise BusUnavailable("no broker")
        super().publish(topic, envelope)


def test_heartbeats_go_on_after_the_bus_refused_one() -> None:
    """A beat refused while the broker is away must not end the beating: the hosts would stay down once it is back."""
    runtime = SimRuntime(epoch=0.0)
    bus = Outage(runtime)
    beats: list[float] = []
    bus.subscribe(CONDUCTOR_TOPIC, typed(
        lambda m, _e: beats.append(runtime.clock.now()) if isinstance(m, Heartbeat) else None))
    agent = SimAgent("sim", runtime, bus, uniform_datacenter(1).model_copy(
        update={"behaviour": Behaviour(heartbeat_seconds=10)}))
    agent.start()
    runtime.run(until=5)
    bus.away = True
    runtime.run(until=25)  # the beats at 10 and 20 are refused
    bus.away = False
    runtime.run(until=45)
    assert beats == [0, 30, 40]
