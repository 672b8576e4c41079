"""The conductor's flows with the production scheduler and the columnar placement in place of the test
double: the FirstFit of tests/sim/test_conductor_flows.py swapped for the FilterScheduler."""

from __future__ import annotations

import random
from dataclasses import dataclass

from twinstack.core.compute import states
from twinstack.core.compute.conductor import Conductor, ConductorSettings
from twinstack.core.compute.memory import MemoryHostStore, MemoryInstanceStore
from twinstack.core.compute.model import ActionEvent, Instance, InstanceAction, ServerGroup
from twinstack.core.compute.service import BootRequest, ComputeService
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.filter_scheduler import FilterScheduler
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.rpc.compute import FlavorSpec
from twinstack.rpc.inprocess import InProcessBus
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed
from twinstack.sim.runtime import SimRuntime

SMALL = FlavorSpec(id="2", name="m1.small", vcpus=1, ram_mb=2048, disk_gb=20)


@dataclass
class Cloudlet:
    runtime: SimRuntime
    agent: SimAgent
    instances: MemoryInstanceStore
    placement: ColumnarPlacement
    scheduler: FilterScheduler
    compute: ComputeService
    groups: dict[str, ServerGroup]

    def boot(self, name: str = "vm", flavor: FlavorSpec = SMALL, count: int = 1,
             hints: dict[str, str] | None = None) -> list[Instance]:
        return self.compute.create_servers(BootRequest(name=name, project_id="p", user_id="u", flavor=flavor,
                                                       max_count=count, scheduler_hints=hints or {}),
                                           request_id=f"req-{name}")

    def group(self, policy: str, **rules: int) -> str:
        self.groups["g1"] = ServerGroup(uuid="g1", name="g1", policy=policy, project_id="p", user_id="u",
                                        rules=dict(rules))
        return "g1"

    def boot_in_group(self, group: str, name: str) -> Instance:
        [vm] = self.boot(name, hints={"group": group})
        self.groups[group].members.append(vm.uuid)
        return vm

    def run(self, until: float) -> None:
        self.runtime.run(until=until)


def cloudlet(hosts: int = 3, failure: float = 0.0, settings: SchedulerSettings | None = None,
             instances: MemoryInstanceStore | None = None) -> Cloudlet:
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    datacenter = uniform_datacenter(hosts, profile=HostProfile(vcpus=4, ram_mb=8192 + 512, cpu_allocation_ratio=1.0))
    datacenter = datacenter.model_copy(update={"behaviour": Behaviour(
        boot_seconds=Fixed(value=10), delete_seconds=Fixed(value=1), power_seconds=Fixed(value=2),
        heartbeat_seconds=10, spawn_failure_probability=failure)})
    instances = instances or MemoryInstanceStore()
    hosts_store, placement = MemoryHostStore(), ColumnarPlacement()
    scheduler = FilterScheduler(placement, settings or SchedulerSettings(service_down_time=30),
                                rng=random.Random(1), clock=runtime.clock, hosts=hosts_store)
    groups: dict[str, ServerGroup] = {}
    conductor = Conductor(runtime, bus, instances, hosts_store, placement, scheduler,
                          ConductorSettings(build_timeout=120, service_down_time=30, check_interval=5),
                          server_groups=groups.get)
    conductor.start()
    agent = SimAgent("sim", runtime, bus, datacenter, seed=1)
    agent.start()
    runtime.run(until=1)
    return Cloudlet(runtime, agent, instances, placement, scheduler, ComputeService(runtime, bus, instances), groups)


def test_servers_spread_over_the_hosts_and_become_active() -> None:
    c = cloudlet(hosts=3)
    vms = c.boot(count=3)
    c.run(until=12)
    assert all(vm.status == "ACTIVE" for vm in vms)
    assert sorted(vm.host or "" for vm in vms) == ["sim000-0000", "sim000-0001", "sim000-0002"]
    assert c.placement.allocations(vms[0].uuid) == {vms[0].host: {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}}


def test_pack_settings_stack_servers_on_one_host() -> None:
    pack = SchedulerSettings(weighers={"RAMWeigher": -1.0, "CPUWeigher": -1.0, "DiskWeigher": -1.0})
    c = cloudlet(hosts=3, settings=pack)
    vms = c.boot(count=4)
    c.run(until=12)
    assert {vm.host for vm in vms} == {"sim000-0000"}


def test_capacity_is_never_exceeded_and_the_overflow_is_refused() -> None:
    c = cloudlet(hosts=2)  # each host: 4 vCPU, 8 GiB usable: room for 4 m1.small by RAM
    vms = c.boot(count=10)
    c.run(until=30)
    assert sum(vm.status == "ACTIVE" for vm in vms) == 8
    refused = [vm for vm in vms if vm.status == "ERROR"]
    assert len(refused) == 2 and all(vm.fault and "No valid host" in vm.fault.message for vm in refused)
    state = c.placement.state
    assert (state.used <= state.capacity).all()


def test_a_spawn_failure_moves_to_the_alternate_the_scheduler_offered() -> None:
    c = cloudlet(hosts=3)
    c.agent.behaviour = c.agent.behaviour.model_copy(update={"spawn_failure_probability": 1.0})
    [vm] = c.boot()
    c.run(until=5)
    first, offered = vm.host, list(vm.alternates)
    c.agent.behaviour = c.agent.behaviour.model_copy(update={"spawn_failure_probability": 0.0})
    c.run(until=25)
    assert vm.status == "ACTIVE" and vm.attempts == 2 and vm.host == offered[0] != first
    assert c.placement.consumers() == {vm.uuid: vm.host}


def test_delete_releases_the_allocation() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=12)
    c.compute.delete_server(vm.uuid, "u", "req-del")
    c.run(until=14)
    assert vm.vm_state == states.DELETED and c.placement.consumers() == {}
    assert c.placement.state.used.sum() == 0


def test_anti_affinity_through_the_conductor_places_n_on_n_hosts_and_refuses_one_more() -> None:
    c = cloudlet(hosts=3)
    group = c.group("anti-affinity")
    members = []
    for n in range(4):
        members.append(c.boot_in_group(group, f"member{n}"))
        c.run(until=2 + n)
    c.run(until=20)
    assert sorted(vm.host or "" for vm in members[:3]) == ["sim000-0000", "sim000-0001", "sim000-0002"]
    assert members[3].status == "ERROR" and members[3].fault is not None
    assert members[3].fault.message.startswith("No valid host was found")


def test_max_server_per_host_lets_anti_affinity_double_up() -> None:
    c = cloudlet(hosts=2)
    group = c.group("anti-affinity", max_server_per_host=2)
    members = [c.boot_in_group(group, f"m{n}") for n in range(5)]
    c.run(until=20)
    assert sorted(vm.status for vm in members) == ["ACTIVE"] * 4 + ["ERROR"]


def test_affinity_through_the_conductor_keeps_members_together() -> None:
    c = cloudlet(hosts=3)
    group = c.group("affinity")
    members = [c.boot_in_group(group, f"m{n}") for n in range(3)]
    c.run(until=20)
    assert len({vm.host for vm in members}) == 1


def test_a_crashed_host_is_left_out_once_it_is_seen_down() -> None:
    c = cloudlet(hosts=2)
    c.agent.crash("sim000-0000")
    c.run(until=60)
    vms = c.boot(count=3)
    c.run(until=80)
    assert {vm.host for vm in vms} == {"sim000-0001"}


class _DroppingStore(MemoryInstanceStore):
    """A store that says it keeps no history (as the offline simulator's does) and counts what it is handed."""

    keep_history = False

    def __init__(self) -> None:
        super().__init__()
        self.handed = 0

    def add_action(self, action: InstanceAction) -> None:
        self.handed += 1

    def start_event(self, instance_uuid: str, request_id: str, event: ActionEvent) -> None:
        self.handed += 1

    def finish_event(self, instance_uuid: str, request_id: str, event: str, finish_time: float, result: str,
                     traceback: str | None = None) -> None:
        self.handed += 1


def test_history_is_recorded_where_kept_and_not_built_for_a_store_that_drops_it() -> None:
    """A cloud's store records the create action and its events; a store keeping no history is handed none (the
    offline simulator builds none of them: a percent or two of a run), and the servers build all the same."""
    kept = cloudlet(hosts=2)
    [vm] = kept.boot("kept")
    kept.run(until=12)
    [action] = kept.instances.actions(vm.uuid)
    assert action.action == "create"
    assert [(e.event, e.result) for e in action.events] == [
        ("conductor_schedule_and_build_instances", "Success"), ("compute__do_build_and_run_instance", "Success")]

    store = _DroppingStore()
    dropped = cloudlet(hosts=2, instances=store)
    [other] = dropped.boot("dropped")
    dropped.run(until=12)
    assert other.status == "ACTIVE"
    assert store.handed == 0
