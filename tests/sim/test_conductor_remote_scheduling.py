"""A conductor asking a scheduler service over the bus (``[compute] scheduler = "remote"``), in virtual time: the
build continues when the answer comes; a request unanswered past its timeout is sent again (same id) and its late
first handling claims nothing more; an answer nobody waits for is dropped with its claim; a scheduler's silence
ends the build in ERROR, never in BUILD; a redelivered request holds one claim, not two."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from tests.sim.test_conductor_flows import SMALL, FirstFit
from twinstack.core.compute import states
from twinstack.core.compute.conductor import Conductor, ConductorSettings
from twinstack.core.compute.memory import MemoryHostStore, MemoryInstanceStore, MemoryPlacement
from twinstack.core.compute.model import ComputeHost, Instance
from twinstack.core.compute.remote_scheduling import ClaimHandover, RemoteDestinations
from twinstack.core.compute.scheduling import spec_body, spec_of
from twinstack.core.compute.service import BootRequest, ComputeService
from twinstack.core.compute.stores import NoValidHost, RequestSpec
from twinstack.core.scheduler.service import SchedulerService
from twinstack.rpc.bus import Handler, typed
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Envelope, seal
from twinstack.rpc.scheduler import SCHEDULER_TOPIC, SelectDestinations
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed
from twinstack.sim.runtime import SimRuntime

TIMEOUT = 30.0
REPLY = "reply.conductor.c1"


class ConsumerFirstFit(FirstFit):
    """FirstFit claiming for ``spec.consumer`` (the request, as the scheduler service asks) when one is named."""

    def select_destinations(self, spec: RequestSpec) -> list[str]:
        hosts = [h for h in sorted(self.placement.providers)
                 if h not in spec.ignore_hosts and self.placement.fits(h, spec.resources)]
        for index, host in enumerate(hosts):
            if self.placement.claim(spec.consumer or spec.instance_uuid, spec.project_id, spec.user_id, host,
                                    spec.resources):
                return [host, *hosts[index + 1: index + 1 + spec.alternates]]
        raise NoValidHost()


def adopt(placement: MemoryPlacement) -> Callable[[str, str, str], bool]:
    """SqlBackedPlacement.adopt's contract over the in-memory placement."""
    def hand_over(source: str, target: str, host: str) -> bool:
        if host not in placement.allocations(source):
            return False
        placement.release(target)
        return placement.move(source, target)
    return hand_over


def holds(placement: MemoryPlacement) -> Callable[[str], bool]:
    return lambda consumer: bool(placement.allocations(consumer))


@dataclass
class Remote:
    runtime: SimRuntime
    bus: InProcessBus
    instances: MemoryInstanceStore
    placement: MemoryPlacement
    compute: ComputeService
    conductor: Conductor
    destinations: RemoteDestinations
    service: SchedulerService

    def boot(self, name: str = "vm", count: int = 1) -> list[Instance]:
        return self.compute.create_servers(BootRequest(name=name, project_id="p", user_id="u", flavor=SMALL,
                                                       max_count=count), request_id=f"req-{name}")


Wrap = Callable[[SimRuntime, Handler], Handler]
"""Wraps the scheduler service's handler (to lose, delay... requests), given the runtime."""


def remote_cloud(hosts: int = 2, scheduler: Wrap | None = None) -> Remote:
    """A conductor with remote destinations, a scheduler service whose handler ``scheduler`` wraps (None: no
    scheduler subscribed at all), and simulated hosts that take 4 small servers each."""
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    datacenter = uniform_datacenter(hosts, profile=HostProfile(vcpus=4, ram_mb=8192 + 512, cpu_allocation_ratio=1.0))
    datacenter = datacenter.model_copy(update={"behaviour": Behaviour(
        boot_seconds=Fixed(value=10), delete_seconds=Fixed(value=1), power_seconds=Fixed(value=2),
        heartbeat_seconds=10)})
    instances, placement = MemoryInstanceStore(), MemoryPlacement()
    conductor = Conductor(runtime, bus, instances, MemoryHostStore(), placement, FirstFit(placement),
                          ConductorSettings(build_timeout=120, service_down_time=30, check_interval=5,
                                            reply_topic=REPLY))
    destinations = RemoteDestinations(runtime, bus, REPLY, ClaimHandover(
        takes=conductor.awaits_placement, adopt=adopt(placement), release=placement.release), TIMEOUT)
    conductor.destinations = destinations
    conductor.start()
    service = SchedulerService(bus, ConsumerFirstFit(placement), placement.release, holds(placement))
    if scheduler is not None:
        bus.subscribe(SCHEDULER_TOPIC, scheduler(runtime, typed(service.handle)))  # as service.start() does
    SimAgent("sim", runtime, bus, datacenter, seed=1).start()
    runtime.run(until=1)
    return Remote(runtime, bus, instances, placement, ComputeService(runtime, bus, instances), conductor,
                  destinations, service)


def as_is(_runtime: SimRuntime, handler: Handler) -> Handler:
    return handler


def fail_once_finishing(c: Remote, failing: str) -> list[str]:
    """The database goes away the first time an action event is finished with ``failing``: the instances it failed
    for are listed in the answer."""
    finish = c.instances.finish_event
    failures: list[str] = []

    def flaky(instance_uuid: str, request_id: str, event: str, finish_time: float, result: str,
              traceback: str | None = None) -> None:
        if result == failing and not failures:
            failures.append(instance_uuid)
            raise ConnectionError("the database went away")
        finish(instance_uuid, request_id, event, finish_time, result, traceback)

    c.instances.finish_event = flaky  # type: ignore[method-assign]
    return failures


def test_a_build_continues_when_the_scheduler_answers_and_the_instance_holds_the_claim() -> None:
    c = remote_cloud(scheduler=as_is)
    vms = c.boot(count=5)
    c.runtime.run(until=20)
    assert [vm.status for vm in vms] == ["ACTIVE"] * 5
    assert [vm.host for vm in vms] == ["sim000-0000"] * 4 + ["sim000-0001"]
    assert set(c.placement.consumers) == {vm.uuid for vm in vms}, "every claim is the instance's, none a request's"
    assert c.service.answered == 5 and c.destinations.resent == 0 and c.destinations.waiting() == set()


def test_past_the_room_the_scheduler_answers_no_valid_host() -> None:
    c = remote_cloud(hosts=1, scheduler=as_is)
    vms = c.boot(count=6)
    c.runtime.run(until=20)
    assert sorted(vm.status for vm in vms) == ["ACTIVE"] * 4 + ["ERROR"] * 2
    faults = {vm.fault.message for vm in vms if vm.fault is not None}
    assert faults == {"No valid host was found. There are not enough hosts available."}
    assert len(c.placement.consumers) == 4


def test_a_lost_request_is_sent_again_after_the_timeout() -> None:
    seen: list[str] = []

    def loses_the_first(_runtime: SimRuntime, handler: Handler) -> Handler:
        def handle(envelope: Envelope) -> None:
            seen.append(envelope.body["command_id"])
            if len(seen) > 1:
                handler(envelope)
        return handle

    c = remote_cloud(scheduler=loses_the_first)
    [vm] = c.boot()
    c.runtime.run(until=TIMEOUT)
    assert vm.status == "BUILD" and vm.task_state == states.SCHEDULING
    c.runtime.run(until=TIMEOUT + 15)
    assert vm.status == "ACTIVE" and c.destinations.resent == 1
    assert len(seen) == 2 and seen[0] == seen[1], "sent again under its id"


def test_the_late_first_handling_of_a_request_sent_again_claims_nothing_more() -> None:
    def slow_first(runtime: SimRuntime, handler: Handler) -> Handler:
        calls: list[Envelope] = []

        def handle(envelope: Envelope) -> None:
            calls.append(envelope)
            if len(calls) == 1:  # decided (and claimed) only after the conductor has asked again
                runtime.call_later(TIMEOUT + 5, lambda: handler(envelope))
            else:
                handler(envelope)
        return handle

    c = remote_cloud(scheduler=slow_first)
    [vm] = c.boot()
    c.runtime.run(until=TIMEOUT + 15)
    assert vm.status == "ACTIVE" and c.destinations.resent == 1
    c.runtime.run(until=TIMEOUT + 60)
    assert c.service.answered == 1 and c.service.repeats == 1, "the instance held its claim: nothing decided"
    assert set(c.placement.consumers) == {vm.uuid}
    assert c.placement.providers["sim000-0000"].used["VCPU"] == 1


def test_with_no_scheduler_answering_the_build_ends_in_error_not_in_build() -> None:
    c = remote_cloud(scheduler=None)
    [vm] = c.boot()
    c.runtime.run(until=3 * TIMEOUT - 1)
    assert vm.status == "BUILD"
    c.runtime.run(until=3 * TIMEOUT + 1)
    assert vm.status == "ERROR" and vm.fault is not None
    assert vm.fault.message == "No valid host was found. No scheduler answered within 3 requests of 30 s."
    assert c.destinations.waiting() == set()


def test_a_server_deleted_while_its_request_waits_is_gone_and_the_answer_releases_its_claim() -> None:
    def slow(runtime: SimRuntime, handler: Handler) -> Handler:
        def handle(envelope: Envelope) -> None:
            runtime.call_later(5, lambda: handler(envelope))
        return handle

    c = remote_cloud(scheduler=slow)
    [vm] = c.boot()
    c.runtime.run(until=2)
    c.compute.delete_server(vm.uuid, "u", "req-del")
    c.runtime.run(until=20)
    assert vm.vm_state == states.DELETED
    assert c.service.answered == 1 and c.destinations.dropped == 1 and c.placement.consumers == {}


def test_a_redelivered_request_is_decided_again_holding_one_claim() -> None:
    runtime = SimRuntime(epoch=0.0)
    bus = InProcessBus(runtime)
    placement = MemoryPlacement()
    placement.register_host(ComputeHost(
        host="h1", agent="a", cell="cell1", availability_zone="nova", rack="r1", hypervisor_type="QEMU",
        hypervisor_hostname="h1", host_ip="10.0.0.1", traits=[], last_heartbeat=0.0,
        inventory={"VCPU": {"total": 4}, "MEMORY_MB": {"total": 8192}, "DISK_GB": {"total": 100}}))
    service = SchedulerService(bus, ConsumerFirstFit(placement), placement.release, holds(placement))
    answers: list[Envelope] = []
    bus.subscribe(REPLY, answers.append)
    spec = RequestSpec(instance_uuid="i-1", project_id="p", user_id="u", flavor=SMALL)
    request = SelectDestinations(command_id="6d0c3a52-8f4e-4b8e-9a55-0c6f6a1e2b11", spec=spec_body(spec))
    envelope = seal(request, reply_to=REPLY)
    service.handle(request, envelope)
    service.handle(request, envelope)  # the broker redelivers: the scheduler that took it first died
    runtime.run(until=1)
    assert [a.body["hosts"] for a in answers] == [["h1"], ["h1"]], "decided again, not refused for its own claim"
    assert set(placement.consumers) == {request.command_id} and placement.providers["h1"].used["VCPU"] == 1
    assert spec_of(spec_body(spec)) == spec, "the wire form carries the whole request"


def test_an_answer_to_a_request_of_an_earlier_build_is_dropped_with_its_claim() -> None:
    """The build asked, then started over (its spawn given up) and asked again under a new id: the first request,
    decided late, claimed a host nobody takes; that claim goes back."""
    def slow(runtime: SimRuntime, handler: Handler) -> Handler:
        calls: list[Envelope] = []

        def handle(envelope: Envelope) -> None:
            calls.append(envelope)
            runtime.call_later(2 if len(calls) == 1 else 5, lambda: handler(envelope))
        return handle

    c = remote_cloud(scheduler=slow)
    [vm] = c.boot()
    c.runtime.run(until=2)
    c.conductor.build_again(vm.uuid, "req-again")  # as a takeover or a redelivered build message would
    c.runtime.run(until=30)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0000"
    assert c.service.answered == 2 and c.destinations.dropped == 1
    assert set(c.placement.consumers) == {vm.uuid}, "the earlier request's claim was released"
    assert c.placement.providers["sim000-0000"].used["VCPU"] == 1


def test_a_build_failing_right_after_taking_its_claim_asks_again_and_holds_one_claim() -> None:
    """The database fails as the build goes on (the claim already the instance's): after the timeout the claim is
    released and the request sent anew, so the build still ends ACTIVE, on one claim."""
    c = remote_cloud(scheduler=as_is)
    failures = fail_once_finishing(c, "Success")
    [vm] = c.boot()
    c.runtime.run(until=TIMEOUT - 1)
    assert failures == [vm.uuid] and vm.status == "BUILD" and c.destinations.waiting() == {vm.uuid}
    c.runtime.run(until=TIMEOUT + 15)
    assert vm.status == "ACTIVE" and c.destinations.resent == 1
    assert set(c.placement.consumers) == {vm.uuid} and c.placement.providers["sim000-0000"].used["VCPU"] == 1


def test_a_scheduler_queue_slower_than_the_timeout_delays_builds_but_refuses_none() -> None:
    """One scheduler taking 25 s per request, 6 builds at once: the last answers come long after three timeouts,
    but answers keep coming meanwhile (a queue, not a silence), so every build waits and ends ACTIVE."""
    def one_at_a_time(runtime: SimRuntime, handler: Handler) -> Handler:
        free_at = [0.0]

        def handle(envelope: Envelope) -> None:
            free_at[0] = max(free_at[0], runtime.clock.now()) + 25
            runtime.call_later(free_at[0] - runtime.clock.now(), lambda: handler(envelope))
        return handle

    c = remote_cloud(scheduler=one_at_a_time)
    vms = c.boot(count=6)
    c.runtime.run(until=3 * TIMEOUT + 5)
    assert any(vm.status == "BUILD" for vm in vms) and not any(vm.status == "ERROR" for vm in vms)
    c.runtime.run(until=400)
    assert [vm.status for vm in vms] == ["ACTIVE"] * 6
    assert c.destinations.resent > 0 and c.service.repeats > 0, "sent again, and the repeats decided nothing"
    assert len(c.placement.consumers) == 6


def test_a_build_failing_after_its_spawn_went_out_keeps_its_claim() -> None:
    """The spawn was sent, then the send reported a failure (the broker's confirmation lost): the build is placed
    and its spawn's deadline carries it, so the request's timeout must neither release the instance's claim nor
    ask for another host."""
    c = remote_cloud(scheduler=as_is)
    spawn = c.conductor.spawn
    failures: list[str] = []

    def sent_then_failed(instance: Instance, host_name: str, request_id: str) -> None:
        spawn(instance, host_name, request_id)
        if not failures:
            failures.append(instance.uuid)
            raise ConnectionError("the broker did not confirm")

    c.conductor.spawn = sent_then_failed  # type: ignore[method-assign]
    [vm] = c.boot()
    c.runtime.run(until=TIMEOUT + 15)
    assert failures == [vm.uuid] and vm.status == "ACTIVE" and vm.host == "sim000-0000"
    assert set(c.placement.consumers) == {vm.uuid}, "the active server holds its claim"
    assert c.placement.providers["sim000-0000"].used["VCPU"] == 1
    assert c.destinations.resent == 0 and c.destinations.waiting() == set()


def test_a_refusal_for_silence_that_fails_to_save_is_tried_again() -> None:
    """No scheduler answers, and the database fails as the build is refused: the refusal is tried again at the
    next timeout, so the build still ends in ERROR rather than waiting in BUILD with nothing to drive it."""
    c = remote_cloud(scheduler=None)
    failures = fail_once_finishing(c, "Error")
    [vm] = c.boot()
    c.runtime.run(until=3 * TIMEOUT + 1)
    assert failures == [vm.uuid] and vm.status == "BUILD"
    c.runtime.run(until=4 * TIMEOUT + 1)
    assert vm.status == "ERROR" and vm.fault is not None
    assert vm.fault.message == "No valid host was found. No scheduler answered within 3 requests of 30 s."
    assert c.destinations.waiting() == set()


def test_a_hand_over_that_fails_after_it_was_made_is_undone_before_asking_again() -> None:
    """The claim is handed to the instance, then the database connection drops before the commit is confirmed:
    the conductor cannot know it was made, so at the timeout it releases whatever the instance holds and asks
    again, rather than asking for an instance the schedulers take as served until it is refused."""
    c = remote_cloud(scheduler=as_is)
    hand_over = c.destinations.claims.adopt
    failures: list[str] = []

    def made_then_failed(source: str, target: str, host: str) -> bool:
        done = hand_over(source, target, host)
        if not failures:
            failures.append(target)
            raise ConnectionError("the database connection dropped")
        return done

    c.destinations.claims = replace(c.destinations.claims, adopt=made_then_failed)
    [vm] = c.boot()
    c.runtime.run(until=TIMEOUT - 1)
    assert failures == [vm.uuid] and vm.status == "BUILD" and c.destinations.waiting() == {vm.uuid}
    c.runtime.run(until=TIMEOUT + 15)
    assert vm.status == "ACTIVE" and c.destinations.resent == 1 and c.service.repeats == 0
    assert set(c.placement.consumers) == {vm.uuid} and c.placement.providers["sim000-0000"].used["VCPU"] == 1
