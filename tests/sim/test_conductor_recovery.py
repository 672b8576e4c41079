"""A conductor that (re)starts finishes what its predecessor left half done (issue #9): a build whose message was
lost is built, a spawn whose answer was lost is redone, a delete is driven again, an answer sent to the dead
conductor is taken over; work the running conductor carries out itself is never touched."""

from __future__ import annotations

import uuid

from tests.sim.test_conductor_flows import SMALL, Cloudlet, FirstFit, cloudlet
from twinstack.core.compute import states
from twinstack.core.compute.conductor import Conductor
from twinstack.core.compute.model import Instance
from twinstack.core.compute.recovery import plan_recovery
from twinstack.rpc.compute import DestroyInstance


def restart(c: Cloudlet) -> Conductor:
    """The conductor's process dies (its commands in flight are forgotten) and a new one starts on the same
    stores, bus and hosts."""
    dead = c.conductor
    dead._pending.clear()
    fresh = Conductor(c.runtime, dead.bus, c.instances, dead.hosts, c.placement, FirstFit(c.placement),
                      dead.settings)
    fresh.start()
    c.conductor = fresh
    return fresh


def recorded(c: Cloudlet, **state: object) -> Instance:
    """An instance recorded as a conductor left it (no message about it in flight)."""
    now = c.runtime.clock.now()
    instance = Instance(uuid=str(uuid.uuid4()), name="vm", project_id="p", user_id="u", flavor=SMALL, image=None,
                        created_at=now, updated_at=now)
    for key, value in state.items():
        setattr(instance, key, value)
    c.instances.save(instance)
    return instance


def test_an_answer_sent_to_the_dead_conductor_is_taken_over_by_the_new_one() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=10.5)
    assert vm.task_state == states.SPAWNING
    restart(c)
    c.run(until=16)  # the host answers at 11, to the new conductor (which never sent the spawn), before recovery
    assert vm.status == "ACTIVE" and vm.host == "sim000-0000" and vm.attempts == 1
    assert c.placement.allocations(vm.uuid) == {"sim000-0000": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}}


def test_a_build_whose_message_was_lost_is_built_after_the_restart() -> None:
    c = cloudlet()
    vm = recorded(c)
    c.run(until=2)
    restart(c)
    c.run(until=7.5)  # recovery runs 5 s after the start
    assert vm.task_state == states.SPAWNING and vm.host == "sim000-0000"
    c.run(until=20)
    assert vm.status == "ACTIVE"


def test_a_spawn_whose_answer_was_lost_is_cleaned_up_and_scheduled_again() -> None:
    c = cloudlet()
    vm = recorded(c, host="sim000-0001", task_state=states.SPAWNING, attempts=1)
    assert c.placement.claim(vm.uuid, "p", "u", "sim000-0001", {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20})
    c.run(until=2)
    restart(c)
    c.run(until=20)
    assert vm.status == "ACTIVE" and vm.host == "sim000-0000" and vm.attempts == 2
    assert c.placement.allocations(vm.uuid) == {"sim000-0000": {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}}
    assert ("sim000-0001", DestroyInstance.name, vm.uuid) in c.agent.timeline  # what it left there goes


def test_a_delete_left_half_done_is_driven_again_and_releases_the_claim() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=12)
    assert vm.status == "ACTIVE"
    vm.task_state = states.DELETING  # the API recorded the delete; its message died with the process
    c.instances.save(vm)
    c.run(until=13)
    restart(c)
    c.run(until=20)
    assert vm.vm_state == states.DELETED and c.placement.allocations(vm.uuid) == {}


def test_a_power_task_left_over_is_cleared_and_the_running_conductors_own_work_is_left_alone() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=12)
    vm.task_state = states.POWERING_OFF
    c.instances.save(vm)
    c.run(until=13)
    restart(c)
    [mine] = c.boot("mine")  # accepted after the restart: the new conductor's own
    c.run(until=19)
    assert vm.status == "ACTIVE" and vm.task_state is None
    assert mine.status == "BUILD" and mine.task_state == states.SPAWNING and mine.attempts == 1


def test_the_plan_leaves_instances_in_flight_or_updated_since_the_start_alone() -> None:
    def instance(uuid: str, updated_at: float, **state: object) -> Instance:
        found = Instance(uuid=uuid, name=uuid, project_id="p", user_id="u", flavor=SMALL, image=None,
                         created_at=0, updated_at=updated_at)
        for key, value in state.items():
            setattr(found, key, value)
        return found

    plan = plan_recovery([
        instance("build", 1), instance("spawn", 1, host="h", task_state=states.SPAWNING),
        instance("volumes", 1, host="h", task_state=states.BLOCK_DEVICE_MAPPING),
        instance("delete", 1, vm_state=states.ACTIVE, task_state=states.DELETING),
        instance("reboot", 1, vm_state=states.ACTIVE, task_state=states.REBOOTING),
        instance("resize", 1, vm_state=states.ACTIVE, task_state=states.RESIZE_MIGRATING),
        instance("in-flight", 1), instance("recent", 10),
    ], in_flight={"in-flight"}, started_at=5)
    assert ([i.uuid for i in plan.build], [i.uuid for i in plan.respawn], [i.uuid for i in plan.abort],
            [i.uuid for i in plan.delete], [i.uuid for i in plan.clear]) == (
        ["build"], ["spawn"], ["volumes"], ["delete"], ["reboot"])
