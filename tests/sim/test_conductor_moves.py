"""The conductor's move flows (resize, confirm, revert, cold and live migration, evacuation, rebuild) against
simulated hosts, in virtual time, with in-memory stores and the first-fit scheduler double.

Every host: 4 vCPUs and 8 GiB usable. Boots take 10 s, moves 5 s, deletes 1 s, power actions 2 s.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.sim.test_conductor_flows import SMALL, FirstFit
from twinstack.core.compute import move_requests as moves
from twinstack.core.compute import states
from twinstack.core.compute.conductor import Conductor, ConductorSettings, Networking
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
from twinstack.core.compute.model import Aggregate, Instance
from twinstack.core.compute.quotas import QuotaExceeded
from twinstack.core.compute.service import BootRequest, ComputeService
from twinstack.core.compute.stores import MigrationQuery, RequestSpec, Scheduler
from twinstack.core.errors import BadRequest, Conflict
from twinstack.core.scheduler.columnar_placement import ColumnarPlacement
from twinstack.core.scheduler.filter_scheduler import FilterScheduler
from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.rpc.compute import FlavorSpec, ImageSpec
from twinstack.rpc.inprocess import InProcessBus
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed
from twinstack.sim.runtime import SimRuntime

MEDIUM = FlavorSpec(id="3", name="m1.medium", vcpus=2, ram_mb=4096, disk_gb=40)
SMALL_ALLOCATION = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}
MEDIUM_ALLOCATION = {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 40}
SMALL_AS_NEW = FlavorSpec(id="7", name="m1.narrow", vcpus=1, ram_mb=1024, disk_gb=40)


class ListeningFirstFit(FirstFit):
    """FirstFit that also hears the conductor's SchedulerFeedback."""

    def __init__(self, placement: MemoryPlacement) -> None:
        super().__init__(placement)
        self.heard: list[tuple[str, str, bool | None]] = []

    def task_started(self, host: str) -> None:
        self.heard.append(("started", host, None))

    def task_finished(self, host: str) -> None:
        self.heard.append(("finished", host, None))

    def build_finished(self, host: str, ok: bool) -> None:
        self.heard.append(("build", host, ok))


@dataclass
class Cloudlet:
    runtime: SimRuntime
    bus: InProcessBus
    agent: SimAgent
    instances: MemoryInstanceStore
    placement: MemoryPlacement
    compute: ComputeContext
    conductor: Conductor
    quotas: MemoryQuotas
    scheduler: ListeningFirstFit

    def boot(self, name: str = "vm", flavor: FlavorSpec = SMALL) -> Instance:
        [vm] = self.compute.service.create_servers(
            BootRequest(name=name, project_id="p", user_id="u", flavor=flavor), request_id=f"req-{name}")
        self.run(self.runtime.clock.now() + 11)
        assert vm.status == "ACTIVE"
        return vm

    def run(self, until: float) -> None:
        self.runtime.run(until=until)

    def later(self, seconds: float) -> None:
        self.run(self.runtime.clock.now() + seconds)

    def used(self) -> dict[str, dict[str, int]]:
        return {host: {rc: n for rc, n in p.used.items() if n} for host, p in self.placement.providers.items()}

    def actions(self, vm: Instance) -> list[str]:
        return [a.action for a in self.instances.actions(vm.uuid)]

    def events(self, vm: Instance, request_id: str) -> list[tuple[str, str | None, str | None]]:
        [action] = [a for a in self.instances.actions(vm.uuid) if a.request_id == request_id]
        return [(e.event, e.result, e.host) for e in action.events]

    def migration(self, vm: Instance) -> str:
        found = self.compute.migrations.find(MigrationQuery(instance_uuid=vm.uuid))
        return found[0].status


def cloudlet(hosts: int = 3, aggregates: list[Aggregate] | Callable[[], list[Aggregate]] | None = None,
             same_host: bool = False,
             networking: Networking | None = None, scheduler: Scheduler | None = None,
             reply_topic: str | None = None) -> Cloudlet:
    """Hosts of 4 vCPUs and 8 GiB; the conductor schedules with ``scheduler`` (default: a listening first fit)
    and hears its agents' answers on ``reply_topic`` (default: the conductor topic)."""
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
    listening = ListeningFirstFit(placement)
    conductor = Conductor(runtime, bus, instances, hosts_store, placement, scheduler or listening,
                          ConductorSettings(build_timeout=120, service_down_time=30, check_interval=5,
                                            allow_resize_to_same_host=same_host, reply_topic=reply_topic),
                          migrations=migrations,
                          aggregates=aggregates if callable(aggregates) else (lambda: aggregates or []),
                          networking=networking)
    conductor.start()
    agent = SimAgent("sim", runtime, bus, datacenter, seed=1)
    agent.start()
    runtime.run(until=1)
    service = ComputeService(runtime, bus, instances, admission=quotas)
    context = ComputeContext(service, instances, hosts_store, placement, MemoryAggregateStore(), groups, quotas,
                             service_down_time=30, migrations=migrations)
    return Cloudlet(runtime, bus, agent, instances, placement, context, conductor, quotas, listening)


# resize, confirm, revert


def test_resize_claims_the_destination_and_parks_the_source_on_the_migration_until_confirmed() -> None:
    c = cloudlet()
    vm = c.boot()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    assert vm.status == "RESIZE" and vm.task_state == states.RESIZE_PREP
    c.later(1)
    assert vm.task_state == states.RESIZE_MIGRATING and c.migration(vm) == "migrating"
    [migration] = c.compute.migrations.find(MigrationQuery())
    assert c.placement.allocations(migration.uuid) == {"sim000-0000": SMALL_ALLOCATION}
    assert c.placement.allocations(vm.uuid) == {"sim000-0001": MEDIUM_ALLOCATION}
    c.later(20)
    assert vm.status == "VERIFY_RESIZE" and vm.vm_state == states.RESIZED and vm.task_state is None
    assert vm.host == "sim000-0001" and vm.flavor == MEDIUM and c.migration(vm) == "finished"
    assert migration.migration_type == "resize" and migration.source_compute == "sim000-0000"
    assert c.events(vm, "req-resize") == [
        ("conductor_migrate_server", "Success", None), ("compute_prep_resize", "Success", "sim000-0001"),
        ("compute_resize_instance", "Success", "sim000-0000"), ("compute_finish_resize", "Success", "sim000-0001")]
    moves.confirm_resize(c.compute, vm.uuid, "u", "req-confirm")
    c.later(2)
    assert vm.status == "ACTIVE" and c.migration(vm) == "confirmed"
    assert c.placement.allocations(migration.uuid) == {}
    assert c.used() == {"sim000-0000": {}, "sim000-0001": MEDIUM_ALLOCATION, "sim000-0002": {}}
    assert vm.uuid not in c.agent.hosts["sim000-0000"].instances
    assert c.actions(vm) == ["create", "resize", "confirmResize"]
    assert c.events(vm, "req-confirm") == [("compute_confirm_resize", "Success", "sim000-0000")]


def test_resize_then_revert_leaves_usage_exactly_as_before() -> None:
    c = cloudlet()
    vm = c.boot()
    before = c.used()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(25)
    assert vm.status == "VERIFY_RESIZE"
    moves.revert_resize(c.compute, vm.uuid, "u", "req-revert")
    assert vm.status == "REVERT_RESIZE"
    c.later(10)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0000" and vm.flavor == SMALL
    assert vm.old_flavor is None and vm.new_flavor is None and c.migration(vm) == "reverted"
    assert c.used() == before and set(c.placement.consumers) == {vm.uuid}
    assert c.agent.hosts["sim000-0000"].instances == {vm.uuid: states.RUNNING}
    assert vm.uuid not in c.agent.hosts["sim000-0001"].instances
    assert c.events(vm, "req-revert") == [("compute_revert_resize", "Success", "sim000-0001"),
                                          ("compute_finish_revert_resize", "Success", "sim000-0000")]


def test_allocations_are_never_doubled_at_any_moment_of_a_resize_and_its_confirm() -> None:
    c = cloudlet()
    vm = c.boot()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    for _ in range(60):
        c.later(0.5)
        if vm.vm_state == states.RESIZED and vm.task_state is None and c.migration(vm) == "finished":
            moves.confirm_resize(c.compute, vm.uuid, "u", "req-confirm")
        held = [c.placement.consumers[k] for k in c.placement.consumers]
        assert len(held) <= 2  # the instance's claim and its migration's, never more
        for host, provider in c.placement.providers.items():
            assert provider.used == {rc: sum(r.get(rc, 0) for h, r in held if h == host) for rc in provider.used}
    assert vm.status == "ACTIVE" and list(c.placement.consumers) == [vm.uuid]


def test_a_resize_stays_on_its_host_only_when_configured() -> None:
    alone = cloudlet(hosts=1)
    vm = alone.boot()
    moves.resize(alone.compute, vm.uuid, MEDIUM, "u", "req-resize")
    alone.later(1)
    assert vm.status == "ACTIVE" and vm.fault is not None and "No valid host" in vm.fault.message
    c = cloudlet(hosts=1, same_host=True)
    vm = c.boot()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(25)
    assert vm.status == "VERIFY_RESIZE" and vm.host == "sim000-0000"
    assert c.used() == {"sim000-0000": {rc: SMALL_ALLOCATION[rc] + MEDIUM_ALLOCATION[rc] for rc in SMALL_ALLOCATION}}
    moves.confirm_resize(c.compute, vm.uuid, "u", "req-confirm")
    c.later(2)
    assert vm.status == "ACTIVE" and c.used() == {"sim000-0000": MEDIUM_ALLOCATION}
    assert c.agent.hosts["sim000-0000"].instances == {vm.uuid: states.RUNNING}
    moves.resize(c.compute, vm.uuid, SMALL_AS_NEW, "u", "req-resize-2")
    c.later(25)
    moves.revert_resize(c.compute, vm.uuid, "u", "req-revert")
    c.later(10)
    assert vm.status == "ACTIVE" and vm.flavor == MEDIUM and c.used() == {"sim000-0000": MEDIUM_ALLOCATION}
    assert c.agent.hosts["sim000-0000"].instances == {vm.uuid: states.RUNNING}


def test_deleting_a_server_awaiting_confirmation_releases_both_hosts_and_both_copies() -> None:
    c = cloudlet()
    vm = c.boot()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(25)
    assert vm.status == "VERIFY_RESIZE"
    [migration] = c.compute.migrations.find(MigrationQuery(instance_uuid=vm.uuid))
    assert vm.uuid in c.agent.hosts[migration.source_compute or ""].instances
    c.compute.service.delete_server(vm.uuid, "u", "req-delete")
    c.later(2)
    assert vm.vm_state == states.DELETED and c.placement.consumers == {}
    assert all(vm.uuid not in host.instances for host in c.agent.hosts.values()), "no copy left on either host"
    assert c.compute.migrations.get(migration.uuid).status == "confirmed"  # type: ignore[union-attr]


def test_a_resize_is_refused_over_quota_with_nothing_changed() -> None:
    c = cloudlet()
    vm = c.boot()
    c.quotas.set_limits("p", {"cores": 1})
    with pytest.raises(QuotaExceeded, match="Quota exceeded for cores: Requested 1, but already used 1 of 1 cores"):
        moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    assert vm.status == "ACTIVE" and vm.task_state is None and vm.new_flavor is None
    assert c.actions(vm) == ["create"] and c.quotas.usage("p")["cores"] == 1


def test_an_open_resize_holds_the_larger_flavor_of_the_quota() -> None:
    c = cloudlet()
    vm = c.boot()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    assert c.quotas.usage("p")["cores"] == 2
    c.later(25)
    moves.revert_resize(c.compute, vm.uuid, "u", "req-revert")
    c.later(10)
    assert c.quotas.usage("p")["cores"] == 1


def test_resize_refusals_use_novas_words() -> None:
    c = cloudlet()
    vm = c.boot()
    with pytest.raises(BadRequest, match="When resizing, instances must change flavor!"):
        moves.resize(c.compute, vm.uuid, SMALL, "u", "req-1")
    with pytest.raises(Conflict, match=r"Cannot .confirmResize. instance .* while it is in vm_state active"):
        moves.confirm_resize(c.compute, vm.uuid, "u", "req-2")
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-3")
    with pytest.raises(Conflict, match="while it is in task_state resize_prep"):
        moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-4")


def test_a_destination_failing_during_resize_leaves_the_instance_active_on_its_source_with_the_fault() -> None:
    c = cloudlet()
    vm = c.boot()
    before = c.used()
    c.agent.behaviour = c.agent.behaviour.model_copy(update={"spawn_failure_probability": 1.0})
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(30)
    assert vm.status == "ACTIVE" and vm.task_state is None and vm.host == "sim000-0000" and vm.flavor == SMALL
    assert vm.power_state == states.RUNNING and c.migration(vm) == "error"
    assert c.used() == before and set(c.placement.consumers) == {vm.uuid}
    events = {e.event: e for a in c.instances.actions(vm.uuid) if a.request_id == "req-resize" for e in a.events}
    assert events["compute_finish_resize"].result == "Error"
    assert "Simulated resize_finish failure on host sim000-0001" in (events["compute_finish_resize"].traceback or "")
    assert events["compute_finish_revert_resize"].result == "Success"
    assert c.agent.hosts["sim000-0000"].instances == {vm.uuid: states.RUNNING}
    assert c.quotas.usage("p")["cores"] == 1


def test_no_room_for_the_new_flavor_leaves_the_server_as_it_was_with_a_fault() -> None:
    c = cloudlet(hosts=2)
    vm = c.boot()
    c.boot("filler", FlavorSpec(id="8", name="big", vcpus=4, ram_mb=1024, disk_gb=1))
    before = c.used()
    moves.resize(c.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.later(1)
    assert vm.status == "ACTIVE" and vm.task_state is None and vm.host == "sim000-0000"
    assert vm.fault is not None and "No valid host was found" in vm.fault.message
    assert c.used() == before and c.migration(vm) == "error"
    assert c.events(vm, "req-resize")[0][:2] == ("conductor_migrate_server", "Error")


# cold and live migration


def test_cold_migration_is_a_resize_to_the_same_flavor_on_another_host() -> None:
    c = cloudlet()
    vm = c.boot()
    moves.migrate(c.compute, vm.uuid, "admin", "req-migrate")
    c.later(25)
    assert vm.status == "VERIFY_RESIZE" and vm.host == "sim000-0001" and vm.flavor == SMALL
    [migration] = c.compute.migrations.find(MigrationQuery(instance_uuid=vm.uuid))
    assert migration.migration_type == "migration" and migration.status == "finished"
    moves.confirm_resize(c.compute, vm.uuid, "u", "req-confirm")
    c.later(2)
    assert vm.status == "ACTIVE" and c.used()["sim000-0000"] == {} and c.used()["sim000-0001"] == SMALL_ALLOCATION
    assert c.actions(vm) == ["create", "migrate", "confirmResize"]


def test_cold_migration_to_a_named_host() -> None:
    c = cloudlet()
    vm = c.boot()
    with pytest.raises(BadRequest, match="The target host can't be the same one"):
        moves.migrate(c.compute, vm.uuid, "admin", "req-0", host="sim000-0000")
    moves.migrate(c.compute, vm.uuid, "admin", "req-migrate", host="sim000-0002")
    c.later(25)
    assert vm.status == "VERIFY_RESIZE" and vm.host == "sim000-0002"


def test_a_stopped_server_is_migrated_stopped_and_confirmed_stopped() -> None:
    c = cloudlet()
    vm = c.boot()
    c.compute.service.power_action(vm.uuid, "stop", "u", "req-stop")
    c.later(3)
    moves.migrate(c.compute, vm.uuid, "admin", "req-migrate")
    c.later(25)
    assert vm.status == "VERIFY_RESIZE" and vm.power_state == states.SHUTDOWN
    moves.confirm_resize(c.compute, vm.uuid, "u", "req-confirm")
    c.later(2)
    assert vm.status == "SHUTOFF"


def test_live_migration_keeps_the_server_active_and_moves_the_allocation_exactly_once() -> None:
    c = cloudlet()
    vm = c.boot()
    moves.live_migrate(c.compute, vm.uuid, "admin", "req-live")
    assert vm.status == "MIGRATING"
    c.later(1)
    [migration] = c.compute.migrations.find(MigrationQuery(instance_uuid=vm.uuid))
    assert migration.status in moves.IN_PROGRESS_LIVE and migration.migration_type == "live-migration"
    assert c.placement.allocations(migration.uuid) == {"sim000-0000": SMALL_ALLOCATION}
    c.later(10)
    assert vm.status == "ACTIVE" and vm.task_state is None and vm.host == "sim000-0001"
    assert c.compute.migrations.get(migration.uuid).status == "completed"  # type: ignore[union-attr]
    assert c.placement.consumers == {vm.uuid: ("sim000-0001", SMALL_ALLOCATION)}
    assert c.used()["sim000-0000"] == {} and vm.uuid not in c.agent.hosts["sim000-0000"].instances
    assert c.agent.hosts["sim000-0001"].instances == {vm.uuid: states.RUNNING}
    assert [e for e, _, _ in c.events(vm, "req-live")] == [
        "conductor_live_migrate_instance", "compute_pre_live_migration", "compute_live_migration",
        "compute_post_live_migration_at_destination"]
    assert c.actions(vm) == ["create", "live-migration"]


def test_a_live_migration_whose_source_dies_is_rolled_back() -> None:
    c = cloudlet()
    vm = c.boot()
    before = c.used()
    moves.live_migrate(c.compute, vm.uuid, "admin", "req-live", host="sim000-0002")
    c.later(3)  # prepared; the source now copies the memory for 5 s
    c.agent.crash("sim000-0000")
    c.later(60)
    assert vm.task_state is None and vm.host == "sim000-0000" and c.migration(vm) == "failed"
    assert c.used() == before


# evacuate and rebuild


def test_evacuate_is_refused_from_a_live_host() -> None:
    c = cloudlet()
    vm = c.boot()
    with pytest.raises(BadRequest, match="Compute service of sim000-0000 is still in use"):
        moves.evacuate(c.compute, vm.uuid, "admin", "req-evacuate")
    assert vm.status == "ACTIVE" and c.actions(vm) == ["create"]


def test_evacuate_from_a_dead_host_rebuilds_elsewhere_and_releases_the_dead_hosts_allocation() -> None:
    c = cloudlet()
    vm = c.boot()
    c.agent.crash("sim000-0000")
    c.later(40)  # past service_down_time
    moves.evacuate(c.compute, vm.uuid, "admin", "req-evacuate")
    assert vm.status == "REBUILD"
    c.later(15)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0001" and c.migration(vm) == "done"
    assert c.placement.consumers == {vm.uuid: ("sim000-0001", SMALL_ALLOCATION)}
    assert c.used()["sim000-0000"] == {}
    assert c.events(vm, "req-evacuate") == [("rebuild_server", "Success", None),
                                            ("compute_rebuild_instance", "Success", "sim000-0001")]


def test_evacuate_works_from_a_host_forced_down() -> None:
    c = cloudlet()
    vm = c.boot()
    c.compute.hosts.set_service("sim000-0000", forced_down=True)
    moves.evacuate(c.compute, vm.uuid, "admin", "req-evacuate", host="sim000-0002")
    c.later(15)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0002"


def test_rebuild_recreates_the_server_in_place_from_the_new_image() -> None:
    c = cloudlet()
    vm = c.boot()
    image = ImageSpec(id=str(uuid.uuid4()), size_bytes=0)
    moves.rebuild(c.compute, vm.uuid, image, "u", "req-rebuild")
    assert vm.status == "REBUILD" and vm.image == image
    c.later(1)
    assert vm.task_state == states.REBUILD_SPAWNING
    c.later(12)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0000" and vm.launched_at == pytest.approx(12 + 11, abs=1)
    assert c.used()["sim000-0000"] == SMALL_ALLOCATION
    assert c.events(vm, "req-rebuild") == [("rebuild_server", "Success", None),
                                           ("compute_rebuild_instance", "Success", "sim000-0000")]


def test_a_rebuild_on_a_down_host_fails_at_once() -> None:
    c = cloudlet()
    vm = c.boot()
    c.agent.crash("sim000-0000")
    c.later(40)
    moves.rebuild(c.compute, vm.uuid, ImageSpec(id="x"), "u", "req-rebuild")
    c.later(0.1)
    assert vm.status == "ERROR" and vm.fault is not None and "is down" in vm.fault.message


# what the conductor tells the scheduler, and the zone it reads from aggregates


def test_the_scheduler_hears_of_tasks_and_builds() -> None:
    c = cloudlet()
    vm = c.boot()
    assert c.scheduler.heard == [("started", "sim000-0000", None), ("finished", "sim000-0000", None),
                                 ("build", "sim000-0000", True)]
    c.compute.service.power_action(vm.uuid, "stop", "u", "req-stop")
    c.later(3)
    assert c.scheduler.heard[3:] == [("started", "sim000-0000", None), ("finished", "sim000-0000", None)]


def test_an_instance_takes_its_hosts_zone_from_aggregates() -> None:
    zone = Aggregate(id=1, uuid="a1", name="fast", availability_zone="az-fast", hosts={"sim000-0000"})
    c = cloudlet(aggregates=[zone])
    vm = c.boot()
    assert vm.availability_zone == "az-fast"


def test_an_aggregates_zone_change_is_seen_by_the_next_build_and_unchanged_aggregates_are_not_read_again() -> None:
    """The conductor keeps the aggregates it read (a transaction per build, for a list that rarely changes) until
    the API's HostsChanged, sent after every aggregate change, says they changed, or until they are
    ``aggregate_refresh_seconds`` old (how a conductor the HostsChanged did not reach learns of it)."""
    every = {"sim000-0000", "sim000-0001", "sim000-0002"}
    aggregates = [Aggregate(id=1, uuid="a1", name="fast", availability_zone="az-fast", hosts=every)]
    reads: list[float] = []
    c = cloudlet(aggregates=lambda: reads.append(c.runtime.clock.now()) or list(aggregates))
    built = c.compute.service.create_servers(BootRequest(name="vm", project_id="p", user_id="u", flavor=SMALL,
                                                         min_count=3, max_count=3), "req-three")
    c.later(11)
    assert [vm.availability_zone for vm in built] == ["az-fast"] * 3
    assert len(reads) == 1, "read once for three builds"
    aggregates[0] = Aggregate(id=1, uuid="a1", name="fast", availability_zone="az-slow", hosts=every,
                              metadata={"availability_zone": "az-slow"})  # as the API's update stores it
    c.compute.service.hosts_changed("aggregate 1 updated")  # and then tells the conductors
    assert c.boot("vm3").availability_zone == "az-slow"
    aggregates[0] = Aggregate(id=1, uuid="a1", name="fast", availability_zone="az-new", hosts=every)
    c.later(c.conductor.settings.aggregate_refresh_seconds or 0)  # a change only another conductor was told of
    assert c.boot("vm4").availability_zone == "az-new", "seen once the view is old, as the scheduler sees it"


def test_a_scheduler_spec_for_a_move_never_forces_the_old_host() -> None:
    c = cloudlet()
    [vm] = c.compute.service.create_servers(BootRequest(name="vm", project_id="p", user_id="u", flavor=SMALL,
                                                        availability_zone="nova:sim000-0000"), "req-vm")
    c.later(11)
    seen: list[RequestSpec] = []
    select = c.scheduler.select_destinations
    c.scheduler.select_destinations = lambda spec: seen.append(spec) or select(spec)  # type: ignore[method-assign]
    moves.migrate(c.compute, vm.uuid, "admin", "req-migrate")
    c.later(1)
    assert seen[0].availability_zone == "nova" and "sim000-0000" in seen[0].ignore_hosts


def test_the_filter_schedulers_io_ops_and_failed_builds_follow_the_conductor() -> None:
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    datacenter = uniform_datacenter(2, profile=HostProfile(vcpus=4, ram_mb=8192 + 512, cpu_allocation_ratio=1.0))
    datacenter = datacenter.model_copy(update={"behaviour": Behaviour(
        boot_seconds=Fixed(value=10), heartbeat_seconds=10, spawn_failure_probability=1.0)})
    instances, hosts_store, placement = MemoryInstanceStore(), MemoryHostStore(), ColumnarPlacement()
    scheduler = FilterScheduler(placement, SchedulerSettings(service_down_time=30), rng=random.Random(1),
                                clock=runtime.clock, hosts=hosts_store)
    conductor = Conductor(runtime, bus, instances, hosts_store, placement, scheduler,
                          ConductorSettings(build_timeout=120, service_down_time=30, check_interval=5, max_attempts=1))
    conductor.start()
    agent = SimAgent("sim", runtime, bus, datacenter, seed=1)
    agent.start()
    runtime.run(until=1)
    [vm] = ComputeService(runtime, bus, instances).create_servers(
        BootRequest(name="vm", project_id="p", user_id="u", flavor=SMALL), "req-vm")
    runtime.run(until=5)
    i = scheduler.state.index[vm.host or ""]
    assert scheduler.state.io_ops[i] == 1 and scheduler.state.failed_builds[i] == 0
    runtime.run(until=15)
    assert vm.status == "ERROR"
    assert scheduler.state.io_ops[i] == 0 and scheduler.state.failed_builds[i] == 1
