"""Bringing the records of one host's instances in line with what its agent found on (re)start.

An agent never reads the database, so after a restart it reports what it holds (HostInstances) and the
conductor decides, as Nova's compute does in ``init_host``:

* held but not recorded as live on that host (deleted, moved, never known): destroyed (DestroyInstance);
* recorded and building, with no command in flight (the build's answer died with the agent): ACTIVE if
  the guest runs, else ERROR with a fault saying why (never left building). Where several conductors share
  the work, a build this conductor does not drive is another's, whose deadline (or, if it died, the build
  takeover) carries it on: left alone;
* recorded and deleting with no command in flight: the delete is driven again;
* recorded but not held: ERROR (the guest is gone from its host);
* held in another power state than recorded: the record follows the host (a running server found
  shut off is STOPPED), and a task left over from a lost command is cleared.

Instances with a command in flight are left to that command's answer or timeout. While a cell's database does
not answer, the records of its instances cannot be read: nothing a host holds is destroyed then (it may be one of
them); the rest of the sync goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from twinstack.core.compute import states
from twinstack.core.compute.cell_mappings import SpansCells
from twinstack.core.compute.model import Fault, Instance
from twinstack.core.compute.stores import InstanceQuery, InstanceStore
from twinstack.rpc.compute import HostInstances

LOG = logging.getLogger(__name__)


@dataclass
class SyncPlan:
    """What the conductor does: instance uuids to destroy on the host, records to correct, deletes to redo."""

    destroy: list[str] = field(default_factory=list)
    save: list[Instance] = field(default_factory=list)
    redo_delete: list[str] = field(default_factory=list)


def plan_sync(report: HostInstances, recorded: list[Instance], in_flight: set[str], now: float,
              builds_elsewhere: bool = False) -> SyncPlan:
    """Pure decision over the report and the records of the instances placed on the report's host;
    ``builds_elsewhere``: other conductors drive builds too (those not in ``in_flight`` may be theirs)."""
    plan = SyncPlan()
    live = {instance.uuid: instance for instance in recorded if instance.vm_state != states.DELETED}
    for uuid in sorted(report.instances):
        if uuid not in live:
            LOG.warning("host %s holds instance %s, which should not be there: destroying it", report.host, uuid)
            plan.destroy.append(uuid)
    for uuid, instance in live.items():
        if uuid in in_flight:
            continue
        power = report.instances.get(uuid)
        if instance.task_state == states.DELETING:
            plan.redo_delete.append(uuid)
            continue
        if instance.vm_state == states.BUILDING:
            if builds_elsewhere:
                continue
            if power == states.RUNNING:
                instance.vm_state, instance.task_state, instance.power_state = states.ACTIVE, None, power
                instance.launched_at = instance.launched_at or now
            else:
                _error(instance, f"Instance was building on host {report.host} when its agent restarted", now)
        elif power is None or power == states.NOSTATE:
            if instance.vm_state == states.ERROR and instance.power_state == states.NOSTATE:
                continue
            _error(instance, f"Instance is missing from host {report.host}", now)
            instance.power_state = states.NOSTATE
        else:
            if instance.task_state is None and instance.power_state == power:
                continue
            instance.task_state, instance.power_state = None, power
            if power == states.SHUTDOWN and instance.vm_state == states.ACTIVE:
                instance.vm_state = states.STOPPED
            elif power == states.RUNNING and instance.vm_state == states.STOPPED:
                instance.vm_state = states.ACTIVE
        instance.updated_at = now
        plan.save.append(instance)
        LOG.warning("instance %s on host %s corrected to %s/%s", uuid, report.host, instance.vm_state,
                    instance.power_state)
    return plan


def _error(instance: Instance, message: str, now: float) -> None:
    instance.vm_state, instance.task_state = states.ERROR, None
    instance.fault = Fault(code=500, message=message, created=now)


class SyncTarget(Protocol):
    """What of the conductor a sync needs."""

    instances: InstanceStore

    def now(self) -> float: ...

    def in_flight(self) -> set[str]: ...

    @property
    def shares_builds(self) -> bool: ...

    def destroy_on(self, host: str, instance_uuid: str) -> None: ...

    def redo_delete(self, instance_uuid: str) -> None: ...


def sync_host(conductor: SyncTarget, report: HostInstances) -> SyncPlan:
    query = InstanceQuery(host=report.host)
    down: frozenset[str] = frozenset()
    if isinstance(conductor.instances, SpansCells):
        listing = conductor.instances.find_across(query)
        recorded, down = listing.instances, listing.down
    else:
        recorded = conductor.instances.find(query)
    plan = plan_sync(report, recorded, conductor.in_flight(), conductor.now(), conductor.shares_builds)
    if down and plan.destroy:
        LOG.warning("host %s holds %d instance(s) not found while cells %s do not answer: none destroyed",
                    report.host, len(plan.destroy), ", ".join(sorted(down)))
        plan.destroy = []
    for instance in plan.save:
        conductor.instances.save(instance)
    for uuid in plan.destroy:
        conductor.destroy_on(report.host, uuid)
    for uuid in plan.redo_delete:
        conductor.redo_delete(uuid)
    return plan
