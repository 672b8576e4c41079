"""A cell with a bus of its own, in virtual time (Nova's super-conductor and cell conductor): the top-level conductor
on the main bus schedules and hands the build over; cell2's conductor on cell2's bus, where cell2's hosts are, spawns
it, answers its actions and finishes its half-done work after a restart, which the top-level conductor leaves alone.
Every host here is in cell2, so nothing can be built without the hand-over."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pytest

from tests.sim.test_conductor_flows import SMALL, FirstFit
from twinstack.core.compute import states
from twinstack.core.compute.cell_buses import CellBuses
from twinstack.core.compute.cells import CellUnavailable
from twinstack.core.compute.conductor import Conductor, ConductorSettings
from twinstack.core.compute.memory import MemoryHostStore, MemoryInstanceStore, MemoryPlacement
from twinstack.core.compute.model import Instance
from twinstack.core.compute.service import BootRequest, ComputeService
from twinstack.core.compute.takeover import Claim, WorkTakeover
from twinstack.rpc.bus import BusUnavailable, send, typed
from twinstack.rpc.compute import DestroyInstance, SpawnInstance
from twinstack.rpc.conductor import CONDUCTOR_TOPIC, BuildPlaced, DeleteInstance
from twinstack.rpc.inprocess import InProcessBus
from twinstack.rpc.messages import Envelope, Message
from twinstack.sim.agent import SimAgent
from twinstack.sim.datacenter import Behaviour, HostProfile, uniform_datacenter
from twinstack.sim.distributions import Fixed
from twinstack.sim.runtime import SimRuntime

SETTINGS = ConductorSettings(build_timeout=120, service_down_time=30, check_interval=5)
RESOURCES = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}


@dataclass
class TwoBuses:
    runtime: SimRuntime
    main: InProcessBus
    cell_bus: InProcessBus
    instances: MemoryInstanceStore
    hosts: MemoryHostStore
    placement: MemoryPlacement
    top: Conductor
    cell: Conductor
    agent: SimAgent
    compute: ComputeService

    def run(self, until: float) -> None:
        self.runtime.run(until=until)

    def restart_cell_conductor(self) -> Conductor:
        self.cell._pending.clear()
        self.cell.bus.unsubscribe(CONDUCTOR_TOPIC)
        self.cell = Conductor(self.runtime, self.cell_bus, self.instances, self.hosts, self.placement,
                              FirstFit(self.placement), self.cell.settings)
        self.cell.start()
        return self.cell

    def commands(self, instance: Instance) -> list[tuple[str, str]]:
        return [(host, name) for host, name, uuid_ in self.agent.timeline if uuid_ == instance.uuid]


def two_buses() -> TwoBuses:
    runtime = SimRuntime(epoch=0.0)
    main, cell_bus = InProcessBus(runtime), InProcessBus(runtime)
    datacenter = uniform_datacenter(3, profile=HostProfile(vcpus=4, ram_mb=8192 + 512, cpu_allocation_ratio=1.0))
    datacenter = datacenter.model_copy(update={
        "cells": [datacenter.cells[0].model_copy(update={"name": "cell2"})],
        "behaviour": Behaviour(boot_seconds=Fixed(value=10), delete_seconds=Fixed(value=1), heartbeat_seconds=10)})
    instances, hosts, placement = MemoryInstanceStore(), MemoryHostStore(), MemoryPlacement()
    cell_buses = CellBuses(lambda: {"cell2": "inprocess://cell2"}, lambda _cell, _url: cell_bus, runtime.clock)
    top = Conductor(runtime, main, instances, hosts, placement, FirstFit(placement), SETTINGS)
    top.cell_buses = cell_buses
    cell = Conductor(runtime, cell_bus, instances, hosts, placement, FirstFit(placement),
                     replace(SETTINGS, cell="cell2"))
    agent = SimAgent("sim", runtime, cell_bus, datacenter, seed=1)
    for part in (top, cell, agent):
        part.start()
    runtime.run(until=1)
    return TwoBuses(runtime, main, cell_bus, instances, hosts, placement, top, cell, agent,
                    ComputeService(runtime, main, instances, cell_buses=cell_buses))


def boot(c: TwoBuses) -> Instance:
    [vm] = c.compute.create_servers(BootRequest(name="vm", project_id="p", user_id="u", flavor=SMALL),
                                    request_id="req-vm")
    return vm


def test_the_top_conductor_places_the_build_and_the_cells_conductor_spawns_and_deletes_it() -> None:
    c = two_buses()
    vm = boot(c)
    c.run(until=2)
    assert (vm.task_state, vm.host, vm.cell) == (states.SPAWNING, "sim000-0000", "cell2")
    assert vm.uuid in c.cell.in_flight() and vm.uuid not in c.top.in_flight(), "the cell's conductor waits for it"
    c.run(until=12)
    assert vm.status == "ACTIVE" and vm.alternates == ["sim000-0001", "sim000-0002"]
    c.compute.delete_server(vm.uuid, "u", "req-del")  # to cell2's bus: the top-level conductor never hears of it
    c.run(until=14)
    assert vm.vm_state == states.DELETED and c.placement.allocations(vm.uuid) == {}
    assert c.commands(vm) == [("sim000-0000", SpawnInstance.name), ("sim000-0000", DestroyInstance.name)]


def test_an_action_that_reaches_the_top_conductor_is_forwarded_to_the_cells() -> None:
    """The API read the server before it was placed (or an older API knows no cells): the delete is the cell's."""
    c = two_buses()
    vm = boot(c)
    c.run(until=12)
    vm.task_state = states.DELETING
    c.instances.save(vm)
    send(c.main, CONDUCTOR_TOPIC, DeleteInstance(instance_uuid=vm.uuid, request_id="req-del"))
    c.run(until=14)
    assert vm.vm_state == states.DELETED and c.commands(vm)[-1] == ("sim000-0000", DestroyInstance.name)


def test_a_spawn_left_half_done_in_the_cell_is_finished_by_the_cells_conductor_not_the_top() -> None:
    c = two_buses()
    now = c.runtime.clock.now()
    vm = Instance(uuid=str(uuid.uuid4()), name="vm", project_id="p", user_id="u", flavor=SMALL, image=None,
                  created_at=now, updated_at=now, host="sim000-0001", cell="cell2", task_state=states.SPAWNING,
                  attempts=1, alternates=["sim000-0002"])
    c.instances.save(vm)
    assert c.placement.claim(vm.uuid, "p", "u", "sim000-0001", RESOURCES)
    c.run(until=2)
    c.top.started_at = c.runtime.clock.now()
    c.top.runtime.call_soon(c.top._recover)  # a top-level conductor restarting: not its instance
    c.run(until=3)
    assert (vm.task_state, vm.host, c.commands(vm)) == (states.SPAWNING, "sim000-0001", [])
    c.restart_cell_conductor()
    c.run(until=20)  # its recovery, 5 s after it starts: the lost spawn fails over to the alternate
    assert vm.status == "ACTIVE" and vm.host == "sim000-0002" and vm.attempts == 2
    assert c.commands(vm)[0] == ("sim000-0001", DestroyInstance.name)
    assert c.placement.allocations(vm.uuid) == {"sim000-0002": RESOURCES}


class Refusing:
    """A cell's bus whose broker is gone."""

    def publish(self, topic: str, envelope: Envelope) -> None:
        raise BusUnavailable("no broker")


def test_an_action_the_cells_bus_refuses_is_answered_503_and_leaves_no_task_behind() -> None:
    c = two_buses()
    vm = boot(c)
    c.run(until=12)
    api = ComputeService(c.runtime, c.main, c.instances, cell_buses=CellBuses(
        lambda: {"cell2": "amqp://gone"}, lambda _cell, _url: Refusing(), c.runtime.clock))
    for attempt in (lambda: api.delete_server(vm.uuid, "u", "req-del"),
                    lambda: api.power_action(vm.uuid, "stop", "u", "req-stop")):
        with pytest.raises(CellUnavailable) as refused:
            attempt()
        assert refused.value.status == 503
        assert (vm.status, vm.task_state) == ("ACTIVE", None), "the user may ask again"
    assert api.cell_buses is not None and api.cell_buses.down() == {"cell2"}


@dataclass
class Registry:
    """The conductors' registry's contract in memory (twinstack.db.stores.conductors keeps it in the cell's
    database): beats, owners, and the work of conductors silent since ``dead_before`` handed out once."""

    beats: dict[str, float] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def beat(self, name: str, at: float) -> None:
        self.beats[name] = at

    def own(self, name: str, instance_uuids: Sequence[str]) -> None:
        self.owners.update(dict.fromkeys(instance_uuids, name))

    def claim(self, name: str, instance_uuid: str, alive_since: float) -> Claim:
        owner = self.owners.get(instance_uuid)
        if owner is None or owner == name:
            self.owners[instance_uuid] = name
            return Claim.FREE
        if self.beats.get(owner, -1.0) >= alive_since:
            return Claim.REFUSED
        self.owners[instance_uuid] = name
        return Claim.ORPHANED

    def adopt_orphans(self, name: str, dead_before: float, own_too: bool = False) -> list[str]:
        taken = [uuid for uuid, owner in self.owners.items()
                 if self.beats.get(owner, -1.0) < dead_before or (own_too and owner == name)]
        self.own(name, taken)
        return taken

    def adopt_unsent(self, name: str, sent_before: float) -> list[str]:
        raise AssertionError("a cell's conductors never adopt builds nobody received")


def cell_conductor(c: TwoBuses, name: str, registry: Registry) -> tuple[Conductor, WorkTakeover]:
    """One of cell2's conductors, with its own reply topic, sharing the cell's work through ``registry``."""
    conductor = Conductor(c.runtime, c.cell_bus, c.instances, c.hosts, c.placement, FirstFit(c.placement),
                          replace(SETTINGS, cell="cell2", reply_topic=f"reply.{name}", recovery_delay=None))
    takeover = WorkTakeover(name, registry, conductor, c.runtime, down_after=SETTINGS.service_down_time,
                            interval=SETTINGS.check_interval, adopts_unsent=False)
    conductor.on_work = takeover.record
    conductor.on_handover = takeover.claim
    conductor.start()
    takeover.start()
    return conductor, takeover


def kill(conductor: Conductor, takeover: WorkTakeover) -> None:
    """As kill -9: it hears nothing more, beats no more, and what it waited for is forgotten with it."""
    conductor.bus.unsubscribe(CONDUCTOR_TOPIC)
    assert conductor.settings.reply_topic is not None
    conductor.bus.unsubscribe(conductor.settings.reply_topic)
    conductor._pending.clear()
    takeover.registry = Registry()  # its beats and records go nowhere now


def test_a_cell_conductor_that_dies_has_its_spawn_delete_and_power_action_taken_over_by_another_of_the_cell() -> None:
    """Two conductors of cell2 share its work; the one that takes a build, a delete and a stop dies with all three
    under way (their answers go to its reply topic, which nobody reads any more). The other, running since before,
    takes them over once the dead one has been silent for service_down_time: the spawn counts as failed and the
    build goes on to its alternate, the delete is sent again, the stop too."""
    c = two_buses()
    registry = Registry()
    c.cell.bus.unsubscribe(CONDUCTOR_TOPIC)  # cell2's conductor of two_buses() is not one of these
    survivor, _ = cell_conductor(c, "survivor", registry)
    doomed, doomed_takeover = cell_conductor(c, "doomed", registry)  # takes cell2's conductor topic from here on
    c.run(until=2)
    deleted, stopped = boot(c), boot(c)
    c.run(until=13)
    assert deleted.status == stopped.status == "ACTIVE"
    building = boot(c)
    c.run(until=14)
    first = building.host
    assert building.task_state == states.SPAWNING and first is not None and building.alternates
    c.compute.delete_server(deleted.uuid, "u", "req-del")
    c.compute.power_action(stopped.uuid, "stop", "u", "req-stop")
    c.run(until=14.5)
    assert {registry.owners[i.uuid] for i in (building, deleted, stopped)} == {"doomed"}
    kill(doomed, doomed_takeover)
    c.cell_bus.subscribe(CONDUCTOR_TOPIC, typed(survivor.handle))  # the survivor alone consumes cell2's topic now
    died = c.runtime.clock.now()

    c.run(until=died + SETTINGS.service_down_time - 1)
    assert (building.task_state, deleted.task_state, stopped.task_state) == (
        states.SPAWNING, states.DELETING, states.POWERING_OFF), "nothing drives them until the dead one is seen dead"
    c.run(until=died + SETTINGS.service_down_time + SETTINGS.check_interval + 12)
    assert deleted.vm_state == states.DELETED and c.placement.allocations(deleted.uuid) == {}
    assert (stopped.status, stopped.task_state) == ("SHUTOFF", None)
    assert building.status == "ACTIVE" and building.host != first and building.attempts == 2
    assert c.commands(building)[:2] == [(first, SpawnInstance.name), (first, DestroyInstance.name)]
    assert c.placement.allocations(building.uuid) == {building.host: RESOURCES}
    assert {registry.owners[i.uuid] for i in (building, deleted, stopped)} == {"survivor"}


def hand_overs(c: TwoBuses, others_to: Conductor) -> list[BuildPlaced]:
    """Take cell2's conductor topic: the hand-overs published there are kept, for the test to deliver; every
    other message (the hosts' heartbeats) goes to ``others_to``."""
    kept: list[BuildPlaced] = []

    def receive(message: Message, envelope: Envelope) -> None:
        if isinstance(message, BuildPlaced):
            kept.append(message)
        else:
            others_to.handle(message, envelope)

    c.cell_bus.subscribe(CONDUCTOR_TOPIC, typed(receive))
    return kept


@dataclass
class HandOverRig:
    """Two conductors of cell2 sharing ``registry``, and a build the top-level conductor handed over to them, kept
    undelivered (``placed``) for the test to deliver."""

    c: TwoBuses
    registry: Registry
    first: Conductor
    first_takeover: WorkTakeover
    second: Conductor
    second_takeover: WorkTakeover
    vm: Instance
    placed: BuildPlaced


def handed_over(first: str, second: str) -> HandOverRig:
    c = two_buses()
    registry = Registry()
    c.cell.bus.unsubscribe(CONDUCTOR_TOPIC)  # cell2's conductor of two_buses() is not one of these
    one, one_takeover = cell_conductor(c, first, registry)
    two, two_takeover = cell_conductor(c, second, registry)
    kept = hand_overs(c, two)
    c.run(until=2)
    vm = boot(c)
    c.run(until=3)
    [placed] = kept
    return HandOverRig(c, registry, one, one_takeover, two, two_takeover, vm, placed)


def test_a_hand_over_delivered_to_two_conductors_of_the_cell_is_driven_by_one() -> None:
    """The broker redelivers a BuildPlaced whose acknowledgement was lost with a connection, to the other conductor
    of the cell, while the first drives the build (and to the first too): it is spawned once, by the first, which
    stays recorded as its driver (so that its death still leads to a takeover)."""
    rig = handed_over("first", "second")
    c, registry, first, second, vm, placed = rig.c, rig.registry, rig.first, rig.second, rig.vm, rig.placed
    first.cells.build_placed(placed)
    c.run(until=4)
    second.cells.build_placed(placed)  # redelivered to the other, a second later
    first.cells.build_placed(placed)  # and to the one that drives it: a repeat, nothing more
    c.run(until=15)
    assert vm.status == "ACTIVE" and vm.attempts == 1
    assert c.commands(vm) == [(vm.host, SpawnInstance.name)], "spawned once"
    assert registry.owners[vm.uuid] == "first" and vm.uuid not in second.in_flight()


def test_a_hand_over_delivered_to_two_conductors_of_the_cell_at_once_is_driven_by_one() -> None:
    rig = handed_over("first", "second")
    c, registry, first, second, vm, placed = rig.c, rig.registry, rig.first, rig.second, rig.vm, rig.placed
    second.cells.build_placed(placed)
    first.cells.build_placed(placed)
    c.run(until=15)
    assert vm.status == "ACTIVE" and c.commands(vm) == [(vm.host, SpawnInstance.name)]
    assert registry.owners[vm.uuid] == "second" and vm.uuid not in first.in_flight()


def test_a_hand_over_that_reaches_a_conductor_of_the_cell_after_its_driver_died_is_taken_over_there() -> None:
    """Its driver was killed mid-spawn and has been silent for service_down_time when the redelivered hand-over
    reaches the other conductor (before that one's next round would adopt it): the other takes it over as an
    adoption does, once: the spawn the dead one sent counts as failed, and the build goes on to its alternate."""
    rig = handed_over("doomed", "survivor")
    c, registry, vm, placed = rig.c, rig.registry, rig.vm, rig.placed
    doomed, doomed_takeover, survivor, survivor_takeover = (rig.first, rig.first_takeover, rig.second,
                                                            rig.second_takeover)
    doomed.cells.build_placed(placed)
    c.run(until=4)
    first = vm.host
    assert vm.task_state == states.SPAWNING and registry.owners[vm.uuid] == "doomed"
    kill(doomed, doomed_takeover)  # its last beat: at 1 s (start), then every 5 s: 1 s is the last before 4 s
    c.cell_bus.subscribe(CONDUCTOR_TOPIC, typed(survivor.handle))  # the survivor alone consumes cell2's topic now
    survivor.cells.build_placed(placed)  # redelivered while the doomed one still counts as alive: left to it
    assert registry.owners[vm.uuid] == "doomed" and c.commands(vm) == [(first, SpawnInstance.name)]
    c.runtime.call_later(1 + SETTINGS.service_down_time + 2 - c.runtime.clock.now(),
                         lambda: survivor.cells.build_placed(placed))  # dead since 31 s; the next round is at 36 s
    c.run(until=60)
    assert survivor_takeover.adopted == [vm.uuid], "taken over once"
    assert vm.status == "ACTIVE" and vm.host != first and vm.attempts == 2
    assert c.commands(vm) == [(first, SpawnInstance.name), (first, DestroyInstance.name),
                              (vm.host, SpawnInstance.name)]
    assert registry.owners[vm.uuid] == "survivor"
    assert c.placement.allocations(vm.uuid) == {vm.host: RESOURCES}


def test_a_build_whose_hand_over_died_with_its_top_conductor_is_handed_over_again_by_the_one_taking_over() -> None:
    """The top-level conductor that placed the build in cell2 dies (kill -9) after recording it there and before
    its hand-over is published: no conductor of the cell ever hears of it. The other top-level conductor, taking
    over the dead one's work, sends the hand-over again, and the cell's conductor builds it."""
    c = two_buses()
    registry = Registry()
    c.top.bus.unsubscribe(CONDUCTOR_TOPIC)  # the top-level conductors here are these two
    survivor = Conductor(c.runtime, c.main, c.instances, c.hosts, c.placement, FirstFit(c.placement),
                         replace(SETTINGS, reply_topic="reply.survivor", recovery_delay=None))
    survivor.cell_buses = CellBuses(lambda: {"cell2": "inprocess://cell2"}, lambda _cell, _url: c.cell_bus,
                                    c.runtime.clock)
    doomed = Conductor(c.runtime, c.main, c.instances, c.hosts, c.placement, FirstFit(c.placement),
                       replace(SETTINGS, reply_topic="reply.doomed", recovery_delay=None))
    lost: list[object] = []
    doomed.cell_buses = CellBuses(lambda: {"cell2": "inprocess://cell2"}, lambda _cell, _url: c.cell_bus,
                                  c.runtime.clock, dispatch=lambda _cell, job: lost.append(job))  # never published
    takeovers = {}
    for name, conductor in (("survivor", survivor), ("doomed", doomed)):  # the doomed one takes the topic
        takeover = WorkTakeover(name, registry, conductor, c.runtime, down_after=SETTINGS.service_down_time,
                                interval=SETTINGS.check_interval, adopts_unsent=False)
        conductor.on_work = takeover.record
        conductor.start()
        takeover.start()
        takeovers[name] = takeover
    c.run(until=2)
    vm = boot(c)
    c.run(until=3)
    assert (vm.cell, vm.task_state, registry.owners[vm.uuid]) == ("cell2", states.SPAWNING, "doomed")
    assert len(lost) == 1 and vm.uuid not in c.cell.in_flight(), "placed, its hand-over never sent"
    kill(doomed, takeovers["doomed"])
    c.run(until=1 + SETTINGS.service_down_time)
    assert (vm.task_state, c.commands(vm)) == (states.SPAWNING, []), "nothing until the dead one is seen dead"
    c.run(until=60)
    assert takeovers["survivor"].adopted == [vm.uuid]
    assert vm.status == "ACTIVE" and vm.cell == "cell2" and vm.attempts == 1
    assert c.commands(vm) == [(vm.host, SpawnInstance.name)]
    assert c.placement.allocations(vm.uuid) == {vm.host: RESOURCES}
