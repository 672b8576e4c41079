"""The conductor's flows against simulated hosts, in virtual time, with in-memory stores.

The scheduler here is a deliberately plain first-fit test double: these tests pin the conductor's
contract (claims, retries, faults, releases), not placement decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from twinstack.core.compute import states
from twinstack.core.compute.conductor import Conductor, ConductorSettings
from twinstack.core.compute.memory import MemoryHostStore, MemoryInstanceStore, MemoryPlacement
from twinstack.core.compute.model import Instance
from twinstack.core.compute.service import BootRequest, ComputeService
from twinstack.core.compute.stores import NoValidHost, RequestSpec
from twinstack.core.errors import Conflict
from twinstack.rpc.compute import FlavorSpec
from twinstack.rpc.conductor import BuildInstances
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import seal
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed
from twinstack.sim.runtime import SimRuntime

SMALL = FlavorSpec(id="2", name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)
HUGE = FlavorSpec(id="9", name="huge", vcpus=4, ram_mb=16384, disk_gb=100)


class FirstFit:
    """Claims the first host (by name) with room; offers the next ones with room as alternates."""

    def __init__(self, placement: MemoryPlacement) -> None:
        self.placement = placement

    def select_destinations(self, spec: RequestSpec) -> list[str]:
        hosts = [h for h in sorted(self.placement.providers)
                 if h not in spec.ignore_hosts and self.placement.fits(h, spec.resources)]
        for index, host in enumerate(hosts):
            if self.placement.claim(spec.instance_uuid, spec.project_id, spec.user_id, host, spec.resources):
                return [host, *hosts[index + 1: index + 1 + spec.alternates]]
        raise NoValidHost()


@dataclass
class Cloudlet:
    runtime: SimRuntime
    agent: SimAgent
    instances: MemoryInstanceStore
    placement: MemoryPlacement
    compute: ComputeService
    conductor: Conductor

    def boot(self, name: str = "vm", flavor: FlavorSpec = SMALL, count: int = 1) -> list[Instance]:
        return self.compute.create_servers(BootRequest(name=name, project_id="p", user_id="u", flavor=flavor,
                                                       max_count=count), request_id=f"req-{name}")

    def run(self, until: float) -> None:
        self.runtime.run(until=until)

    def events(self, instance: Instance) -> list[tuple[str, str | None, str | None]]:
        return [(e.event, e.result, e.host) for a in self.instances.actions(instance.uuid) for e in a.events]


def cloudlet(hosts: int = 3, failure: float = 0.0, profile: HostProfile | None = None) -> Cloudlet:
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    datacenter = uniform_datacenter(hosts, profile=profile or HostProfile(vcpus=4, ram_mb=8192 + 512,
                                                                          cpu_allocation_ratio=1.0))
    datacenter = datacenter.model_copy(update={"behaviour": Behaviour(
        boot_seconds=Fixed(value=10), delete_seconds=Fixed(value=1), power_seconds=Fixed(value=2),
        heartbeat_seconds=10, spawn_failure_probability=failure)})
    instances, hosts_store, placement = MemoryInstanceStore(), MemoryHostStore(), MemoryPlacement()
    conductor = Conductor(runtime, bus, instances, hosts_store, placement, FirstFit(placement),
                          ConductorSettings(build_timeout=120, service_down_time=30, check_interval=5))
    conductor.start()
    agent = SimAgent("sim", runtime, bus, datacenter, seed=1)
    agent.start()
    runtime.run(until=1)
    return Cloudlet(runtime, agent, instances, placement, ComputeService(runtime, bus, instances), conductor)


def test_a_server_goes_from_build_to_active_after_its_boot_time() -> None:
    c = cloudlet()
    [vm] = c.boot()
    assert vm.status == "BUILD" and vm.task_state == states.SCHEDULING
    c.run(until=5)
    assert vm.status == "BUILD" and vm.task_state == states.SPAWNING and vm.host == "sim000-0000"
    c.run(until=12)
    assert vm.status == "ACTIVE" and vm.task_state is None and vm.power_state == states.RUNNING
    assert vm.launched_at == 11
    assert c.placement.allocations(vm.uuid) == {"sim000-0000": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}}
    assert c.events(vm) == [
        ("conductor_schedule_and_build_instances", "Success", None),
        ("compute__do_build_and_run_instance", "Success", "sim000-0000"),
    ]


def test_delete_releases_the_allocation_once_the_agent_confirms() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=12)
    c.compute.delete_server(vm.uuid, "u", "req-del")
    c.run(until=12.5)
    assert vm.task_state == states.DELETING and c.placement.allocations(vm.uuid)
    c.run(until=14)
    assert vm.vm_state == states.DELETED and c.placement.allocations(vm.uuid) == {}
    assert c.placement.providers["sim000-0000"].used == {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
    assert c.agent.hosts["sim000-0000"].instances == {}


def test_a_spawn_failure_moves_to_an_alternate_host() -> None:
    c = cloudlet(hosts=3)
    c.agent.behaviour = c.agent.behaviour.model_copy(update={"spawn_failure_probability": 1.0})
    [vm] = c.boot()
    c.run(until=5)  # the first spawn has started, doomed to fail at t=11
    c.agent.behaviour = c.agent.behaviour.model_copy(update={"spawn_failure_probability": 0.0})
    c.run(until=25)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0001" and vm.attempts == 2
    assert c.placement.allocations(vm.uuid) == {"sim000-0001": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}}
    assert [r for _, r, _ in c.events(vm)] == ["Success", "Error", "Success"]


def test_failing_every_attempt_ends_in_error_with_nova_fault_and_no_allocation() -> None:
    c = cloudlet(hosts=4, failure=1.0)
    [vm] = c.boot()
    c.run(until=60)
    assert vm.status == "ERROR" and vm.attempts == 3
    assert vm.fault is not None and vm.fault.code == 500
    assert vm.fault.message.startswith("No valid host was found. Exceeded max scheduling attempts 3")
    assert c.placement.consumers == {}


def test_no_room_anywhere_is_no_valid_host_at_once() -> None:
    c = cloudlet(hosts=1)
    [vm] = c.boot(flavor=FlavorSpec(id="x", name="x", vcpus=64, ram_mb=1024, disk_gb=1))
    c.run(until=2)
    assert vm.status == "ERROR"
    assert vm.fault and vm.fault.message == "No valid host was found. There are not enough hosts available."
    assert c.placement.consumers == {}


def test_a_host_crash_mid_build_reschedules_once_the_host_is_seen_down() -> None:
    c = cloudlet(hosts=2)
    [vm] = c.boot()
    c.run(until=3)
    c.agent.crash("sim000-0000")
    c.run(until=60)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0001"
    assert "sim000-0000" not in {h for h, _ in c.placement.consumers.values()}


def test_deleting_during_spawn_leaves_nothing_behind() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=5)
    c.compute.delete_server(vm.uuid, "u", "req-del")
    c.run(until=30)
    assert vm.vm_state == states.DELETED
    assert c.placement.consumers == {}
    assert all(not h.instances for h in c.agent.hosts.values())


def test_deleting_on_a_dead_host_is_done_locally() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=12)
    c.agent.crash(vm.host or "")
    c.run(until=60)
    c.compute.delete_server(vm.uuid, "u", "req-del")
    c.run(until=61)
    assert vm.vm_state == states.DELETED and c.placement.consumers == {}


def test_stop_and_start_follow_the_agent_and_bad_transitions_are_409() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=12)
    c.compute.power_action(vm.uuid, "stop", "u", "req-stop")
    with pytest.raises(Conflict, match="while it is in task_state powering-off"):
        c.compute.power_action(vm.uuid, "stop", "u", "req-stop2")
    c.run(until=15)
    assert vm.status == "SHUTOFF" and vm.power_state == states.SHUTDOWN
    with pytest.raises(Conflict, match=r"Cannot .stop. instance .* while it is in vm_state stopped"):
        c.compute.power_action(vm.uuid, "stop", "u", "req-stop3")
    c.compute.power_action(vm.uuid, "start", "u", "req-start")
    c.run(until=18)
    assert vm.status == "ACTIVE" and vm.power_state == states.RUNNING


def test_capacity_is_never_exceeded_and_the_overflow_is_refused() -> None:
    c = cloudlet(hosts=2)  # each host: 4 vCPU, 8 GiB usable: room for 4 m1.small by RAM
    vms = c.boot(count=10)
    c.run(until=30)
    active = [v for v in vms if v.status == "ACTIVE"]
    refused = [v for v in vms if v.status == "ERROR"]
    assert len(active) == 8 and len(refused) == 2
    for provider in c.placement.providers.values():
        assert provider.used["MEMORY_MB"] <= provider.capacity["MEMORY_MB"]


def test_a_redelivered_build_of_a_placed_server_leaves_it_with_the_conductor_driving_it() -> None:
    """The broker hands a BuildInstances to another conductor when the first died before acknowledging it, though
    it had already sent the spawn. The spawn's answer goes to the first conductor's reply topic: only a takeover of
    the first conductor's builds brings the server to ACTIVE, so the redelivery must not record the build as the
    second's (it would then never be adopted, and stay spawning for good)."""
    c = cloudlet()
    recorded: list[list[str]] = []
    c.conductor.on_work = lambda uuids: recorded.append(list(uuids))
    [vm] = c.boot()
    c.run(until=5)
    assert vm.task_state == states.SPAWNING and recorded == [[vm.uuid]]
    redelivered = BuildInstances(instance_uuids=[vm.uuid], request_id="req-vm")
    c.conductor.handle(redelivered, seal(redelivered))
    assert recorded == [[vm.uuid]], "a placed build is not recorded again"
    c.run(until=12)
    assert vm.status == "ACTIVE" and len(c.placement.allocations(vm.uuid)) == 1


def test_a_delete_and_a_stop_left_by_a_dead_conductor_are_carried_out_again_when_taken_over() -> None:
    """Another conductor set the tasks and sent the commands, then died: their answers went to its reply topic.
    The conductor that takes its work over sends them again, and both servers end where they were asked to."""
    c = cloudlet()
    doomed, stopping = c.boot(count=2)
    c.run(until=12)
    assert doomed.status == stopping.status == "ACTIVE"
    doomed.task_state, stopping.task_state = states.DELETING, states.POWERING_OFF  # as the dead conductor left them
    c.instances.save(doomed)
    c.instances.save(stopping)
    c.conductor.resume_work(doomed.uuid)
    c.conductor.resume_work(stopping.uuid)
    c.run(until=20)
    assert doomed.vm_state == states.DELETED and c.placement.allocations(doomed.uuid) == {}
    assert stopping.vm_state == states.STOPPED and stopping.task_state is None
    assert stopping.power_state == states.SHUTDOWN
