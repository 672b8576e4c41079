"""Moves (resize, cold and live migration, evacuation) asking a scheduler service over the bus, as builds do when
``[compute] scheduler = "remote"``: the conductor's own scheduler is never asked; the move goes on when the answer
comes, with the destination claimed under the instance and the source kept by the migration; a refusal, a
scheduler's silence or a delete while the request waits leaves usage exactly as it was."""

from __future__ import annotations

from dataclasses import dataclass

from tests.sim.test_conductor_flows import SMALL
from tests.sim.test_conductor_remote_scheduling import REPLY, TIMEOUT, ConsumerFirstFit, adopt, holds
from twinstack.core.compute import move_requests as moves
from twinstack.core.compute import states
from twinstack.core.compute.conductor import Conductor, ConductorSettings
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.memory import (
    MemoryAggregateStore,
    MemoryHostStore,
    MemoryInstanceStore,
    MemoryMigrationStore,
    MemoryPlacement,
    MemoryQuotas,
    MemoryServerGroupStore,
)
from twinstack.core.compute.model import Instance
from twinstack.core.compute.remote_scheduling import ClaimHandover, RemoteDestinations
from twinstack.core.compute.service import BootRequest, ComputeService
from twinstack.core.compute.stores import MigrationQuery, RequestSpec
from twinstack.core.scheduler.service import SchedulerService
from twinstack.rpc.bus import Handler, typed
from twinstack.rpc.compute import FlavorSpec
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Envelope
from twinstack.rpc.scheduler import SCHEDULER_TOPIC
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed
from twinstack.sim.runtime import SimRuntime

MEDIUM = FlavorSpec(id="3", name="m1.medium", vcpus=2, ram_mb=4096, disk_gb=40)
SMALL_ALLOCATION = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}


class NeverAsked:
    """The conductor's own scheduler: with remote destinations, a move must not come here."""

    def select_destinations(self, spec: RequestSpec) -> list[str]:
        raise AssertionError(f"the conductor scheduled {spec.instance_uuid} itself")


@dataclass
class RemoteMoves:
    runtime: SimRuntime
    bus: InProcessBus
    agent: SimAgent
    placement: MemoryPlacement
    compute: ComputeContext
    destinations: RemoteDestinations
    service: SchedulerService
    requests: list[Envelope]

    def boot(self, name: str = "vm") -> Instance:
        [vm] = self.compute.service.create_servers(
            BootRequest(name=name, project_id="p", user_id="u", flavor=SMALL), request_id=f"req-{name}")
        for _ in range(30):
            self.later(1)
            if vm.status == "ACTIVE":
                return vm
        raise AssertionError(f"{name} is {vm.status}")

    def later(self, seconds: float) -> None:
        self.runtime.run(until=self.runtime.clock.now() + seconds)

    def used(self) -> dict[str, dict[str, int]]:
        return {host: {rc: n for rc, n in p.used.items() if n} for host, p in self.placement.providers.items()}

    def migration(self, vm: Instance) -> str:
        found = self.compute.migrations.find(MigrationQuery(instance_uuid=vm.uuid))
        return max(found, key=lambda m: m.created_at).status


def remote_moves(hosts: int = 3, answer_after: float | None = 0.0) -> RemoteMoves:
    """Hosts of 4 vCPUs and 8 GiB; a scheduler service answering after ``answer_after`` seconds (None: silent)."""
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    datacenter = uniform_datacenter(hosts, profile=HostProfile(vcpus=4, ram_mb=8192 + 512, disk_gb=200,
                                                               cpu_allocation_ratio=1.0))
    datacenter = datacenter.model_copy(update={"behaviour": Behaviour(
        boot_seconds=Fixed(value=10), delete_seconds=Fixed(value=1), power_seconds=Fixed(value=2),
        migrate_seconds=Fixed(value=5), heartbeat_seconds=10)})
    instances, hosts_store, placement = MemoryInstanceStore(), MemoryHostStore(), MemoryPlacement()
    migrations, groups = MemoryMigrationStore(), MemoryServerGroupStore(instances)
    quotas = MemoryQuotas(instances, groups)
    conductor = Conductor(runtime, bus, instances, hosts_store, placement, NeverAsked(),
                          ConductorSettings(build_timeout=120, service_down_time=30, check_interval=5,
                                            reply_topic=REPLY), migrations=migrations)
    destinations = RemoteDestinations(runtime, bus, REPLY, ClaimHandover(
        takes=conductor.awaits_placement, adopt=adopt(placement), release=placement.release), TIMEOUT)
    conductor.destinations = destinations
    conductor.start()
    service = SchedulerService(bus, ConsumerFirstFit(placement), placement.release, holds(placement))
    requests: list[Envelope] = []
    if answer_after is not None:
        handler: Handler = typed(service.handle)

        def delayed(envelope: Envelope) -> None:
            requests.append(envelope)
            runtime.call_later(answer_after, lambda: handler(envelope))
        bus.subscribe(SCHEDULER_TOPIC, delayed)
    agent = SimAgent("sim", runtime, bus, datacenter, seed=1)
    agent.start()
    runtime.run(until=1)
    context = ComputeContext(ComputeService(runtime, bus, instances, admission=quotas), instances, hosts_store,
                             placement, MemoryAggregateStore(), groups, quotas, service_down_time=30,
                             migrations=migrations)
    return RemoteMoves(runtime, bus, agent, placement, context, destinations, service, requests)


def test_a_resize_asks_the_scheduler_service_and_confirms_as_with_a_local_scheduler() -> None:
    c = remote_moves(answer_after=3)
    vm = c.boot()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(2)
    assert vm.task_state == states.RESIZE_PREP and c.destinations.waiting() == {vm.uuid}
    c.later(30)
    assert vm.status == "VERIFY_RESIZE" and vm.host == "sim000-0001" and vm.flavor == MEDIUM
    [migration] = c.compute.migrations.find(MigrationQuery())
    assert c.placement.allocations(migration.uuid) == {"sim000-0000": SMALL_ALLOCATION}
    assert c.placement.allocations(vm.uuid) == {"sim000-0001": {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 40}}
    assert c.service.answered == 2, "the build's request and the resize's"
    moves.confirm_resize(c.compute, vm.uuid, "u", "req-confirm")
    c.later(5)
    assert vm.status == "ACTIVE" and set(c.placement.consumers) == {vm.uuid}


def test_live_migration_and_evacuation_are_placed_by_the_scheduler_service() -> None:
    c = remote_moves()
    vm = c.boot()
    moves.live_migrate(c.compute, vm.uuid, "u", "req-live")
    c.later(20)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0001" and c.migration(vm) == "completed"
    c.agent.crash("sim000-0001")
    c.later(60)
    moves.evacuate(c.compute, vm.uuid, "u", "req-evacuate")
    c.later(30)
    assert vm.status == "ACTIVE" and vm.host not in (None, "sim000-0001") and c.migration(vm) == "done"
    assert set(c.placement.consumers) == {vm.uuid} and c.service.answered == 3


def test_a_refused_resize_leaves_the_server_and_usage_as_they_were() -> None:
    c = remote_moves(hosts=1)
    vm = c.boot()
    before = c.used()
    moves.migrate(c.compute, vm.uuid, "u", "req-migrate")
    c.later(10)
    assert vm.status == "ACTIVE" and vm.task_state is None and vm.host == "sim000-0000"
    assert vm.fault is not None and "No valid host" in vm.fault.message
    assert c.migration(vm) == "error" and c.used() == before and set(c.placement.consumers) == {vm.uuid}


def test_a_silent_scheduler_ends_the_move_not_the_server() -> None:
    c = remote_moves()
    vm = c.boot()  # answered: the scheduler goes silent only afterwards
    c.bus.unsubscribe(SCHEDULER_TOPIC)
    before = c.used()
    moves.migrate(c.compute, vm.uuid, "u", "req-migrate")
    c.later(3 * TIMEOUT + 5)
    assert vm.status == "ACTIVE" and vm.task_state is None and vm.host == "sim000-0000"
    assert vm.fault is not None and "No scheduler answered" in vm.fault.message
    assert c.migration(vm) == "error" and c.used() == before and c.destinations.waiting() == set()


def test_a_server_deleted_while_its_move_waits_for_the_scheduler_leaves_no_claim() -> None:
    c = remote_moves(answer_after=5)
    vm = c.boot()
    moves.migrate(c.compute, vm.uuid, "u", "req-migrate")
    c.later(1)
    c.compute.service.delete_server(vm.uuid, "u", "req-delete")
    c.later(20)
    assert vm.vm_state == states.DELETED
    assert c.placement.consumers == {} and c.used() == {h: {} for h in c.placement.providers}
