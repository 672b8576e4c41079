"""Moves (resize, cold and live migration, evacuation) asking a scheduler service over the bus, as builds do when
``[compute] scheduler = "remote"``: the conductor's own scheduler is never asked; the move goes on when the answer
comes, with the destination claimed under the instance and the source kept by the migration; a refusal, a
scheduler's silence or a delete while the request waits leaves usage exactly as it was."""

from __future__ import annotations

from dataclasses import dataclass

from tests.sim.test_conductor_flows import SMALL
from tests.sim.test_conductor_moves import MEDIUM, SMALL_ALLOCATION, Cloudlet, cloudlet
from tests.sim.test_conductor_remote_scheduling import REPLY, TIMEOUT, ConsumerFirstFit, adopt, holds
from twinstack.core.compute import move_requests as moves
from twinstack.core.compute import states
from twinstack.core.compute.model import Instance
from twinstack.core.compute.remote_scheduling import ClaimHandover, RemoteDestinations
from twinstack.core.compute.service import BootRequest
from twinstack.core.compute.stores import MigrationQuery, RequestSpec
from twinstack.core.scheduler.service import SchedulerService
from twinstack.rpc.bus import Handler, send, typed
from twinstack.rpc.conductor import CONDUCTOR_TOPIC, MigrateServer
from twinstack.rpc.messages import Envelope
from twinstack.rpc.scheduler import SCHEDULER_TOPIC


class NeverAsked:
    """The conductor's own scheduler: with remote destinations, a move must not come here."""

    def select_destinations(self, spec: RequestSpec) -> list[str]:
        raise AssertionError(f"the conductor scheduled {spec.instance_uuid} itself")


@dataclass
class RemoteMoves:
    cloud: Cloudlet
    destinations: RemoteDestinations
    service: SchedulerService

    def boot(self, name: str = "vm") -> Instance:
        c = self.cloud
        [vm] = c.compute.service.create_servers(
            BootRequest(name=name, project_id="p", user_id="u", flavor=SMALL), request_id=f"req-{name}")
        for _ in range(30):
            c.later(1)
            if vm.status == "ACTIVE":
                return vm
        raise AssertionError(f"{name} is {vm.status}")

    def migration(self, vm: Instance) -> str:
        found = self.cloud.compute.migrations.find(MigrationQuery(instance_uuid=vm.uuid))
        return max(found, key=lambda m: m.created_at).status


def remote_moves(hosts: int = 3, answer_after: float = 0.0) -> RemoteMoves:
    """The moves' cloudlet whose conductor asks a scheduler service over the bus, answering after
    ``answer_after`` seconds."""
    c = cloudlet(hosts, scheduler=NeverAsked(), reply_topic=REPLY)
    destinations = RemoteDestinations(c.runtime, c.bus, REPLY, ClaimHandover(
        takes=c.conductor.awaits_placement, adopt=adopt(c.placement), release=c.placement.release), TIMEOUT)
    c.conductor.destinations = destinations
    service = SchedulerService(c.bus, ConsumerFirstFit(c.placement), c.placement.release, holds(c.placement))
    handler: Handler = typed(service.handle)

    def delayed(envelope: Envelope) -> None:
        c.runtime.call_later(answer_after, lambda: handler(envelope))
    c.bus.subscribe(SCHEDULER_TOPIC, delayed)
    return RemoteMoves(c, destinations, service)


def test_a_resize_asks_the_scheduler_service_and_confirms_as_with_a_local_scheduler() -> None:
    c = remote_moves(answer_after=3)
    vm = c.boot()
    moves.resize(c.cloud.compute, vm.uuid, MEDIUM, "u", "req-resize")
    c.cloud.later(2)
    assert vm.task_state == states.RESIZE_PREP and c.destinations.waiting() == {vm.uuid}
    c.cloud.later(30)
    assert vm.status == "VERIFY_RESIZE" and vm.host == "sim000-0001" and vm.flavor == MEDIUM
    [migration] = c.cloud.compute.migrations.find(MigrationQuery())
    assert c.cloud.placement.allocations(migration.uuid) == {"sim000-0000": SMALL_ALLOCATION}
    assert c.cloud.placement.allocations(vm.uuid) == {"sim000-0001": {"VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 40}}
    assert c.service.answered == 2, "the build's request and the resize's"
    moves.confirm_resize(c.cloud.compute, vm.uuid, "u", "req-confirm")
    c.cloud.later(5)
    assert vm.status == "ACTIVE" and set(c.cloud.placement.consumers) == {vm.uuid}


def test_live_migration_and_evacuation_are_placed_by_the_scheduler_service() -> None:
    c = remote_moves()
    vm = c.boot()
    moves.live_migrate(c.cloud.compute, vm.uuid, "u", "req-live")
    c.cloud.later(20)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0001" and c.migration(vm) == "completed"
    c.cloud.agent.crash("sim000-0001")
    c.cloud.later(60)
    moves.evacuate(c.cloud.compute, vm.uuid, "u", "req-evacuate")
    c.cloud.later(30)
    assert vm.status == "ACTIVE" and vm.host not in (None, "sim000-0001") and c.migration(vm) == "done"
    assert set(c.cloud.placement.consumers) == {vm.uuid} and c.service.answered == 3


def test_a_refused_resize_leaves_the_server_and_usage_as_they_were() -> None:
    c = remote_moves(hosts=1)
    vm = c.boot()
    before = c.cloud.used()
    moves.migrate(c.cloud.compute, vm.uuid, "u", "req-migrate")
    c.cloud.later(10)
    assert vm.status == "ACTIVE" and vm.task_state is None and vm.host == "sim000-0000"
    assert vm.fault is not None and "No valid host" in vm.fault.message
    assert c.migration(vm) == "error" and c.cloud.used() == before and set(c.cloud.placement.consumers) == {vm.uuid}


def test_a_silent_scheduler_ends_the_move_not_the_server() -> None:
    c = remote_moves()
    vm = c.boot()  # answered: the scheduler goes silent only afterwards
    c.cloud.bus.unsubscribe(SCHEDULER_TOPIC)
    before = c.cloud.used()
    moves.migrate(c.cloud.compute, vm.uuid, "u", "req-migrate")
    c.cloud.later(3 * TIMEOUT + 5)
    assert vm.status == "ACTIVE" and vm.task_state is None and vm.host == "sim000-0000"
    assert vm.fault is not None and "No scheduler answered" in vm.fault.message
    assert c.migration(vm) == "error" and c.cloud.used() == before and c.destinations.waiting() == set()


def test_a_server_deleted_while_its_move_waits_for_the_scheduler_leaves_no_claim() -> None:
    c = remote_moves(answer_after=5)
    vm = c.boot()
    moves.migrate(c.cloud.compute, vm.uuid, "u", "req-migrate")
    c.cloud.later(1)
    c.cloud.compute.service.delete_server(vm.uuid, "u", "req-delete")
    c.cloud.later(20)
    assert vm.vm_state == states.DELETED
    assert c.cloud.placement.consumers == {} and c.cloud.used() == {h: {} for h in c.cloud.placement.providers}


def test_a_move_asked_again_while_its_destination_is_sought_opens_one_migration() -> None:
    """The broker redelivers the request (its first handling was not acknowledged): the move carries on with the
    record it opened, which holds the source, and the earlier request's answer is dropped with its claim."""
    c = remote_moves(answer_after=5)
    vm = c.boot()
    moves.migrate(c.cloud.compute, vm.uuid, "u", "req-migrate")
    c.cloud.later(1)
    send(c.cloud.bus, CONDUCTOR_TOPIC, MigrateServer(instance_uuid=vm.uuid, request_id="req-migrate"))
    c.cloud.later(30)
    assert vm.status == "VERIFY_RESIZE" and vm.host == "sim000-0001"
    [migration] = c.cloud.compute.migrations.find(MigrationQuery(instance_uuid=vm.uuid))
    assert c.cloud.placement.allocations(migration.uuid) == {"sim000-0000": SMALL_ALLOCATION}
    assert c.cloud.placement.allocations(vm.uuid) == {"sim000-0001": SMALL_ALLOCATION}
    assert set(c.cloud.placement.consumers) == {vm.uuid, migration.uuid}, "the superseded request's claim is gone"


def test_a_state_reset_while_the_destination_is_sought_gives_the_source_back() -> None:
    """An admin resets the server's state mid-wait: the answer is not taken, the source allocation is the
    instance's again and the migration ends in error."""
    c = remote_moves(answer_after=5)
    vm = c.boot()
    before = c.cloud.used()
    moves.migrate(c.cloud.compute, vm.uuid, "u", "req-migrate")
    c.cloud.later(1)
    vm.task_state = None  # what `server set --state active` leaves
    c.cloud.compute.instances.save(vm)
    c.cloud.later(30)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0000" and c.migration(vm) == "error"
    assert c.cloud.used() == before and set(c.cloud.placement.consumers) == {vm.uuid}
