"""Where several conductors share the work, a server may be deleted by one while another drives its build (issue
#9, found by tests/processes/test_cluster_faults.py): the build's late answer must neither bring the server back
nor reschedule it, and what the build claimed or started goes. Here the "other conductor" is played by writing
the delete's outcome into the store, as it would land in the shared database."""

from __future__ import annotations

import copy
from typing import Any

from tests.sim.test_conductor_flows import cloudlet
from twinstack.core.compute import states
from twinstack.core.compute.host_sync import plan_sync
from twinstack.core.compute.memory import MemoryInstanceStore
from twinstack.core.compute.model import Instance
from twinstack.rpc.compute import HostInstances


def test_a_spawn_answered_after_another_conductor_deleted_the_server_leaves_nothing() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=5)
    assert vm.task_state == states.SPAWNING
    host = vm.host
    vm.vm_state, vm.task_state = states.DELETED, None  # the other conductor found it unplaced and deleted it
    c.run(until=20)  # the spawn answers at 11: ignored, its claim released, its guest destroyed
    assert vm.vm_state == states.DELETED and vm.task_state is None
    assert c.placement.consumers == {}
    assert all(not h.instances for h in c.agent.hosts.values()), host


def test_a_failed_spawn_of_a_server_being_deleted_elsewhere_is_not_rescheduled() -> None:
    c = cloudlet(failure=1.0)
    [vm] = c.boot()
    c.run(until=5)
    first = vm.host
    vm.task_state = states.DELETING  # the other conductor's delete is under way
    c.run(until=20)
    assert vm.host == first and vm.attempts == 1 and vm.task_state == states.DELETING


def test_a_restarted_process_of_simulated_hosts_reports_that_its_servers_are_gone() -> None:
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=12)
    assert vm.status == "ACTIVE"
    for host in c.agent.hosts.values():  # a new process: the guests died with the old one
        host.instances.clear()
    c.agent.report_holdings()
    c.run(until=13)
    assert vm.vm_state == states.ERROR and vm.fault is not None
    assert vm.fault.message == f"Instance is missing from host {vm.host}"


def building(uuid: str, host: str) -> Instance:
    from tests.unit.test_compute_stores import instance

    vm = instance()
    vm.uuid, vm.host, vm.vm_state, vm.task_state = uuid, host, states.BUILDING, states.SPAWNING
    return vm


def test_the_host_sync_leaves_builds_to_the_conductor_driving_them() -> None:
    report = HostInstances(agent="a", host="h1", instances={})
    alone = plan_sync(report, [building("b1", "h1")], in_flight=set(), now=5.0)
    assert [i.vm_state for i in alone.save] == [states.ERROR]  # one conductor: nobody else drives it
    shared = plan_sync(report, [building("b1", "h1")], in_flight=set(), now=5.0, builds_elsewhere=True)
    assert shared.save == [] and shared.destroy == [] and shared.redo_delete == []


def test_a_spawn_given_up_after_another_conductor_failed_the_delete_does_not_reschedule() -> None:
    c = cloudlet(failure=1.0)
    [vm] = c.boot()
    c.run(until=5)
    first = vm.host
    vm.vm_state, vm.task_state = states.ERROR, None  # the other conductor's destroy was given up: ERROR
    c.run(until=20)
    assert vm.vm_state == states.ERROR and vm.host == first and vm.attempts == 1


class DeleteLandsAsTheAnswerIsHandled:
    """The instance store as a conductor sharing a database sees it: ``get`` answers a copy (a row read), and the
    API's delete is recorded (task deleting) while the conductor handles the spawn's answer, right after the
    conductor's first look at the instance (its read, or its conditional write: the delete lands first)."""

    def __init__(self, store: MemoryInstanceStore, uuid: str) -> None:
        self.store, self.uuid, self.armed = store, uuid, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def _delete_lands(self) -> None:
        if self.armed:
            self.armed = False
            self.store.instances[self.uuid].task_state = states.DELETING

    def get(self, uuid: str) -> Instance | None:
        found = copy.deepcopy(self.store.get(uuid))
        self._delete_lands()
        return found

    def update_expecting(self, *args: Any) -> bool:
        self._delete_lands()
        return self.store.update_expecting(*args)


def test_a_delete_recorded_while_the_spawn_answer_is_handled_is_not_undone() -> None:
    """Nova's ``save(expected_task_state=SPAWNING)``: the answer's ACTIVE is written only if the server still
    spawns, in one step; a read then a save let a delete recorded between them be overwritten (ACTIVE, no task)."""
    c = cloudlet()
    [vm] = c.boot()
    c.run(until=5)
    assert vm.task_state == states.SPAWNING
    store = DeleteLandsAsTheAnswerIsHandled(c.instances, vm.uuid)
    c.conductor.instances = store  # type: ignore[assignment]
    store.armed = True
    c.run(until=12)  # the spawn answers at 11
    stored = c.instances.get(vm.uuid)
    assert stored is not None and (stored.vm_state, stored.task_state) == (states.BUILDING, states.DELETING)
