"""What a (re)started conductor does about work its predecessor left half done (Nova's conductor and compute
``init_host`` clean-ups, for a control plane that may be killed at any moment).

A conductor keeps its commands in flight in memory: when its process dies, the answers it was waiting for
have nobody to go to (or, over the in-process bus, the messages themselves are gone). So, a few seconds after
start (once the broker has redelivered what was never acknowledged), it looks for instances untouched since
before it started that are still building or still in a task it carries out, with no command of its own in
flight, and finishes them:

* building, not yet on a host: built again from the start (whatever the scheduler had claimed is released);
* building on a host (the spawn's answer is lost): that attempt counts as failed, the half-built guest is
  destroyed there, and the build moves on to its alternates as after any failed spawn (ERROR with Nova's
  NoValidHost fault when none is left); a build waiting for its volumes is aborted (ERROR with a fault);
* deleting: the delete is driven again (the host is told again, or the instance is deleted locally if its
  host is down), and it releases what the server held;
* in a power action: the task is cleared (the server keeps its vm_state; the host's next report of what it
  holds corrects the power state).

Moves, rebuilds and snapshots are left alone: their records say more than a restart can safely guess, and
``twinstack audit`` reports them once they have been stuck past the build timeout.

Only the instances this conductor drives are touched (a cell with a bus of its own has its own conductor, which
finishes its instances' work; the top-level conductor finishes the rest), and only those last updated *before* this
conductor started, so a conductor never takes over work another one is carrying out now; several conductors
sharing a database must start together, or run with recovery off (``recovery_delay`` None) and leave stuck
instances to ``twinstack audit --repair``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import uuid4

from twinstack.core.compute import states
from twinstack.core.compute.model import Instance
from twinstack.core.compute.stores import InstanceQuery

if TYPE_CHECKING:
    from twinstack.core.compute.conductor import Conductor

LOG = logging.getLogger(__name__)

POWER_TASKS = frozenset({states.REBOOTING, states.REBOOTING_HARD, states.POWERING_OFF, states.POWERING_ON,
                         states.PAUSING, states.UNPAUSING, states.SUSPENDING, states.RESUMING})
INTERRUPTED = "the build was interrupted: its conductor restarted"
RECOVERED_TASKS = POWER_TASKS | {states.DELETING, states.SCHEDULING, states.SPAWNING, states.BLOCK_DEVICE_MAPPING}


@dataclass
class RecoveryPlan:
    build: list[Instance] = field(default_factory=list)
    """Building and not placed: build again."""
    respawn: list[Instance] = field(default_factory=list)
    """Building on a host whose answer is lost: the attempt failed, on to the alternates."""
    abort: list[Instance] = field(default_factory=list)
    """Building with its volumes half made: ERROR."""
    delete: list[Instance] = field(default_factory=list)
    clear: list[Instance] = field(default_factory=list)
    """A power action's task to clear."""

    def __len__(self) -> int:
        return len(self.build) + len(self.respawn) + len(self.abort) + len(self.delete) + len(self.clear)


def plan_recovery(candidates: list[Instance], in_flight: set[str], started_at: float) -> RecoveryPlan:
    """Pure decision over the live instances building or in a task: what to finish, and how."""
    plan = RecoveryPlan()
    for instance in candidates:
        if instance.uuid in in_flight or instance.updated_at >= started_at or instance.vm_state == states.DELETED:
            continue
        building = instance.vm_state == states.BUILDING
        if instance.task_state == states.DELETING:
            plan.delete.append(instance)
        elif building and instance.host is None:
            plan.build.append(instance)
        elif building and instance.task_state == states.BLOCK_DEVICE_MAPPING:
            plan.abort.append(instance)
        elif building:
            plan.respawn.append(instance)
        elif instance.task_state in POWER_TASKS:
            plan.clear.append(instance)
    return plan


def last_request(conductor: Conductor, instance_uuid: str) -> str:
    """The request of the instance's latest action (its build's or its delete's), so that the events recovery
    records join that action; a new request id if it has none."""
    actions = conductor.instances.actions(instance_uuid)
    return actions[-1].request_id if actions else "req-" + uuid4().hex


def candidates(conductor: Conductor) -> list[Instance]:
    """Live instances building, or in a task recovery knows how to finish (two indexed queries, not a scan)."""
    found = {i.uuid: i for i in conductor.instances.find(InstanceQuery(vm_states=frozenset({states.BUILDING})))}
    for instance in conductor.instances.find(InstanceQuery(task_states=frozenset(RECOVERED_TASKS))):
        found.setdefault(instance.uuid, instance)
    return list(found.values())


def recover(conductor: Conductor, started_at: float) -> RecoveryPlan:
    """Finish what was left half done before ``started_at`` (see the module's docstring); returns the plan."""
    plan = plan_recovery([i for i in candidates(conductor) if conductor.serves(i)], conductor.in_flight(), started_at)
    if not plan:
        return plan
    LOG.warning("recovering work left by a previous conductor: %d builds, %d spawns, %d volume builds aborted, "
                "%d deletes, %d power tasks cleared", len(plan.build), len(plan.respawn), len(plan.abort),
                len(plan.delete), len(plan.clear))
    for instance in plan.build:
        conductor.placement.release(instance.uuid)
        conductor.build_again(instance.uuid, last_request(conductor, instance.uuid))
    for instance in plan.respawn:
        conductor.spawn_failed(instance, last_request(conductor, instance.uuid), INTERRUPTED)
    for instance in plan.abort:
        conductor.abort_build(instance, last_request(conductor, instance.uuid), INTERRUPTED)
    for instance in plan.delete:
        conductor.redo_delete(instance.uuid)
    for instance in plan.clear:
        instance.task_state = None
        instance.updated_at = conductor.now()
        conductor.instances.save(instance)
    return plan
