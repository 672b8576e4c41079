"""The conductor's move flows: resize and cold migration (then confirm or revert), live migration,
evacuation and rebuild.

Allocations follow Nova's Placement dance, so that every end is one release or one hand-back:

* when a move starts, the instance's allocation on its source is handed (atomically, usage unchanged) to
  the migration record, whose uuid becomes the consumer; the scheduler then claims the destination under
  the instance's own uuid, for the new flavor;
* confirming (or a live migration or evacuation succeeding) releases the migration's consumer: the source
  is freed, exactly once;
* reverting (or any failure on the way) releases the instance's destination claim and hands the
  migration's allocation back to the instance: usage is exactly as before the move.

Ports follow the guest (with networking): the destination's agent is told to plug them before the guest
boots or arrives there, and the source's to unplug them once it is gone from there. A resize or cold
migration binds them (``binding:host_id``) to the destination when it boots there, back to the source on a
revert; a live migration plugs them on the destination before PreLiveMigration while they stay bound to the
source (an inactive binding there, Neutron's binding-extended), and activates that binding once the guest runs
there; a move that fails unplugs whatever its destination was told to plug.

Volumes follow a resized or cold-migrated server: they are connected on the host it is about to run on (the
destination before FinishResize, the source again before FinishRevertResize) and the command waits for them, as
Nova's finish_resize connects them before its driver defines the guest: a volume-backed server boots from its root
volume there (twinstack.core.compute.volume_attach.VolumeAttachFlow.follow).

Each flow records Nova's instance action events (conductor_migrate_server, compute_prep_resize,
compute_resize_instance, compute_finish_resize...) and the migration's statuses as Nova names them. A
command for a host known to be down fails at once, unsent.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from twinstack.core.compute import states
from twinstack.core.compute.model import Fault, Instance, Migration
from twinstack.core.compute.stores import MigrationQuery, NoValidHost, resources_of
from twinstack.core.compute.volume_boot import volume_backed, volume_image
from twinstack.rpc.compute import (
    DestroyInstance,
    FinishResize,
    FinishRevertResize,
    FlavorSpec,
    InstanceActionResult,
    LiveMigrateInstance,
    PreLiveMigration,
    RebuildInstance,
    ResizeInstance,
)
from twinstack.rpc.conductor import ConfirmResize, LiveMigrateServer, MigrateServer, RebuildServer, RevertResize

if TYPE_CHECKING:
    from twinstack.core.compute.conductor import Conductor

LOG = logging.getLogger(__name__)

MIGRATE_EVENT = "conductor_migrate_server"
PREP_RESIZE_EVENT = "compute_prep_resize"
RESIZE_EVENT = "compute_resize_instance"
FINISH_RESIZE_EVENT = "compute_finish_resize"
CONFIRM_EVENT = "compute_confirm_resize"
REVERT_EVENT = "compute_revert_resize"
FINISH_REVERT_EVENT = "compute_finish_revert_resize"
LIVE_EVENT = "conductor_live_migrate_instance"
PRE_LIVE_EVENT = "compute_pre_live_migration"
LIVE_MIGRATION_EVENT = "compute_live_migration"
POST_LIVE_EVENT = "compute_post_live_migration_at_destination"
REBUILD_SERVER_EVENT = "rebuild_server"
REBUILD_EVENT = "compute_rebuild_instance"

Handler = Callable[[Instance, InstanceActionResult], None]
MoveMessage = MigrateServer | ConfirmResize | RevertResize | LiveMigrateServer | RebuildServer


FORCED_HINTS = frozenset({"force_hosts", "force_nodes"})
"""The hints that forced the server's first host: a move does not keep them (it must leave that host)."""


def _ignore(_instance: Instance, _result: InstanceActionResult) -> None:
    """The answer to a clean-up nobody waits for."""


class MoveFlows:
    """The move handlers of one conductor; they use its stores, its commands and its action history."""

    def __init__(self, conductor: Conductor) -> None:
        self.c = conductor

    def handle(self, message: MoveMessage) -> None:
        if isinstance(message, MigrateServer):
            self._migrate(message)
        elif isinstance(message, ConfirmResize):
            self._confirm(message)
        elif isinstance(message, RevertResize):
            self._revert(message)
        elif isinstance(message, LiveMigrateServer):
            self._live_migrate(message)
        elif message.evacuate:
            self._evacuate(message)
        else:
            self._rebuild(message)

    # records and allocations

    def _record(self, instance: Instance, kind: str, new_flavor: FlavorSpec, status: str) -> Migration:
        """The migration record of ``instance`` leaving its host; its source allocation moves onto it.

        A move asked again before its destination was chosen (the request redelivered while the scheduler's answer
        was awaited, or after the conductor that took it died) carries on with the record it opened, which already
        holds the source allocation: a second record would hold nothing, and giving back from it would leave the
        instance holding nothing either."""
        opened = [m for m in self.c.migrations.find(MigrationQuery(
            instance_uuid=instance.uuid, statuses=frozenset({status}), migration_type=kind)) if m.dest_compute is None]
        if opened:
            return opened[0]  # newest first
        now = self.c.now()
        host = self.c.hosts.get(instance.host) if instance.host else None
        migration = Migration(
            uuid=str(uuidlib.uuid4()), instance_uuid=instance.uuid, migration_type=kind, status=status,
            project_id=instance.project_id, user_id=instance.user_id, old_flavor=instance.flavor,
            new_flavor=new_flavor, created_at=now, updated_at=now, source_compute=instance.host,
            source_node=host.hypervisor_hostname if host else instance.node, old_vm_state=instance.vm_state)
        self.c.migrations.add(migration)
        if not self.c.placement.move(instance.uuid, migration.uuid):
            LOG.warning("%s: the instance held no allocation to park on migration %s", instance.uuid, migration.uuid)
        return migration

    def _status(self, migration: Migration, status: str) -> None:
        migration.status = status
        migration.updated_at = self.c.now()
        self.c.migrations.save(migration)

    def _set_destination(self, migration: Migration, dest: str, status: str) -> None:
        host = self.c.hosts.get(dest)
        migration.dest_compute = dest
        migration.dest_node = host.hypervisor_hostname if host else dest
        migration.dest_host = host.host_ip if host else None
        self._status(migration, status)

    def _give_back(self, instance: Instance, migration: Migration) -> None:
        """Drop the destination claim (if any) and hand the source allocation back to the instance."""
        self.c.placement.release(instance.uuid)
        self.c.placement.move(migration.uuid, instance.uuid)

    def _schedule(self, instance: Instance, migration: Migration, flavor: FlavorSpec, host: str | None, force: bool,
                  chosen: Callable[[Instance, str], None], refused: Callable[[Instance, str], None],
                  leave_source: bool = True) -> None:
        """Claim a destination for ``instance`` with ``flavor``: ``host`` as is when forced, else the scheduler's
        choice among ``host`` only (Nova's requested destination) or among all but the source; then ``chosen``
        (with the instance as it is then, and the host) or ``refused`` (with the reason).

        The scheduler is asked through the conductor's destinations, as builds ask it: in this process (the
        answer comes at once) or a scheduler service over the bus (``[compute] scheduler = "remote"``), whose
        answer comes later. Then the move goes on only if the instance is still in the task that asked (the
        answer is dropped, its claim released, otherwise); the claim is the instance's by then, under its own
        uuid, while its source allocation stays with the migration."""
        resources = resources_of(flavor, volume_backed(instance))
        if host is not None and force:
            if not self.c.placement.claim(instance.uuid, instance.project_id, instance.user_id, host, resources):
                refused(instance, f"Unable to claim resources on host {host}.")
                return
            chosen(instance, host)
            return
        ignore = {instance.host} if leave_source and instance.host else set()
        if host is not None:
            ignore |= {h.host for h in self.c.hosts.all() if h.host != host}
        zone = instance.requested_availability_zone
        built = self.c.spec(instance, frozenset(ignore))
        unforced = {k: v for k, v in built.hints.items() if k not in FORCED_HINTS}  # Nova's reset_forced_destinations
        spec = replace(built, flavor=flavor, alternates=0, hints=unforced,
                       availability_zone=zone.split(":", 1)[0] or None if zone else None)
        uuid, task = instance.uuid, instance.task_state
        later = self.c.destinations.answers_later

        def abandoned() -> None:
            """The instance left the move's task while its destination was sought (deleted, or its state reset by
            an admin): whatever was claimed for it goes, the source allocation is the instance's again (a deleted
            instance's delete released it already), and the migration ends in error."""
            self.c.placement.release(uuid)
            now = self.c.instances.get(uuid)
            if now is not None and now.vm_state != states.DELETED:
                self.c.placement.move(migration.uuid, uuid)
            self._status(migration, "error")

        def current() -> Instance | None:
            if not later:
                return instance
            now = self.c.instances.get(uuid)
            return now if now is not None and now.task_state == task and now.vm_state != states.DELETED else None

        def on_chosen(hosts: list[str]) -> None:
            now = current()
            if now is None:  # deleted or changed since it asked: the claim handed to it goes, the source comes back
                abandoned()
                return
            chosen(now, hosts[0])

        def on_refused(exc: NoValidHost) -> None:
            now = current()
            if now is None:
                abandoned()
                return
            refused(now, exc.message)

        # every answer is taken (``waits`` always yes): one that comes for an instance no longer in the move's task
        # must still give the source back (``abandoned``), which an answer dropped unseen would not
        self.c.destinations.select(spec, on_chosen, on_refused, waits=lambda: True)

    def _undo(self, instance: Instance, migration: Migration, request_id: str, event: str, reason: str,
              status: str = "error", fault: bool = True) -> None:
        """The move failed before anything ran anywhere: allocations and instance back as they were."""
        self._give_back(instance, migration)
        self._status(migration, status)
        instance.task_state = None
        instance.old_flavor = instance.new_flavor = None
        if fault:
            instance.fault = Fault(code=500, message=reason, created=self.c.now())
        instance.updated_at = self.c.now()
        self.c.instances.save(instance)
        self.c.event_finish(instance, request_id, event, "Error", reason)

    def _saved(self, instance: Instance, **changes: object) -> None:
        for name, value in changes.items():
            setattr(instance, name, value)
        instance.updated_at = self.c.now()
        self.c.instances.save(instance)

    def _failed(self, instance: Instance, request_id: str, event: str, reason: str) -> None:
        """Nova's end of a move that broke half way: ERROR with the fault, the event failed."""
        self.c.event_finish(instance, request_id, event, "Error", reason)
        self._saved(instance, vm_state=states.ERROR, task_state=None,
                    fault=Fault(code=500, message=reason, created=self.c.now()))

    # resize and cold migration

    def _migrate(self, message: MigrateServer) -> None:
        instance = self.c.instances.get(message.instance_uuid)
        if instance is None or instance.task_state != states.RESIZE_PREP or instance.host is None:
            return  # deleted meanwhile, or a redelivery
        rid = message.request_id
        self.c.event_start(instance, rid, MIGRATE_EVENT)
        kind = "resize" if message.flavor is not None else "migration"
        flavor = message.flavor or instance.flavor
        migration = self._record(instance, kind, flavor, "pre-migrating")
        same_host_ok = kind == "resize" and self.c.settings.allow_resize_to_same_host
        self._schedule(instance, migration, flavor, message.host, False,
                       lambda i, dest: self._migrate_to(i, dest, migration, rid, flavor),
                       lambda i, reason: self._undo(i, migration, rid, MIGRATE_EVENT, reason),
                       leave_source=not same_host_ok)

    def _migrate_to(self, instance: Instance, dest: str, migration: Migration, rid: str, flavor: FlavorSpec) -> None:
        source = migration.source_compute or ""
        self._set_destination(migration, dest, "migrating")
        self.c.event_finish(instance, rid, MIGRATE_EVENT, "Success")
        self.c.event_start(instance, rid, PREP_RESIZE_EVENT, dest)
        self.c.event_finish(instance, rid, PREP_RESIZE_EVENT, "Success")
        self._saved(instance, task_state=states.RESIZE_MIGRATING)
        self.c.event_start(instance, rid, RESIZE_EVENT, source)
        command = ResizeInstance(host=source, instance_uuid=instance.uuid, destination=dest, flavor=flavor)
        self.c.send_if_up(command, instance, "resize_migrate", source, rid,
                          lambda i, r: self._migrated(i, r, migration, rid))

    def _migrated(self, instance: Instance, result: InstanceActionResult, migration: Migration, rid: str) -> None:
        if not result.ok:
            self._undo(instance, migration, rid, RESIZE_EVENT, result.fault or "resize failed on the source")
            return
        self.c.event_finish(instance, rid, RESIZE_EVENT, "Success")
        self._status(migration, "post-migrating")
        self._saved(instance, task_state=states.RESIZE_FINISH)
        dest = migration.dest_compute or ""
        self.c.event_start(instance, rid, FINISH_RESIZE_EVENT, dest)
        self.c.plug_ports(instance.uuid, dest, migration.source_compute)

        def connected(i: Instance, fault: str | None) -> None:
            """The volumes are connected on the destination (its agent defines the guest with them)."""
            command = FinishResize(host=dest, instance_uuid=i.uuid, instance_name=i.name,
                                   flavor=migration.new_flavor, image=i.image,
                                   power_on=migration.old_vm_state != states.STOPPED, volume_image=volume_image(i))
            if fault is None:
                self.c.send_if_up(command, i, "resize_finish", dest, rid,
                                  lambda i, r: self._finished(i, r, migration, rid))
                return
            if self.c.host_up(dest):  # what it noted of the volumes it did connect goes, nobody waits for it
                self.c.send(DestroyInstance(host=dest, instance_uuid=i.uuid), i.uuid, "resize_cleanup", dest, rid,
                            self.c.settings.build_timeout, _ignore)
            self._finished(i, InstanceActionResult(command_id=command.command_id, action="resize_finish", host=dest,
                                                   instance_uuid=i.uuid, ok=False, fault=fault), migration, rid)

        self.c.volume_attach.follow(instance, dest, migration.uuid, rid, connected)

    def _finished(self, instance: Instance, result: InstanceActionResult, migration: Migration, rid: str) -> None:
        if result.ok:
            self.c.place(instance, migration.dest_compute or "")
            self._status(migration, "finished")
            self._saved(instance, flavor=migration.new_flavor, vm_state=states.RESIZED, task_state=None,
                        power_state=result.power_state)
            self.c.event_finish(instance, rid, FINISH_RESIZE_EVENT, "Success")
            return
        # the destination failed (and cleaned up after itself): back to the source, which kept its copy
        reason = result.fault or "resize failed on the destination"
        self.c.event_finish(instance, rid, FINISH_RESIZE_EVENT, "Error", reason)
        if migration.dest_compute != migration.source_compute:
            self.c.unplug_ports(instance.uuid, migration.dest_compute or "")
        self._give_back(instance, migration)
        self._status(migration, "error")
        self._saved(instance, task_state=states.RESIZE_REVERTING,
                    fault=Fault(code=500, message=reason, created=self.c.now()))
        self._back_to_source(instance, migration, rid, "error")

    def _back_to_source(self, instance: Instance, migration: Migration, rid: str, final_status: str) -> None:
        """Connect the server's volumes on the source again, then power the source's copy on again (if it ran
        before) and end the move there."""
        source = migration.source_compute or ""
        self.c.place(instance, source)
        self._saved(instance, flavor=migration.old_flavor)
        self.c.event_start(instance, rid, FINISH_REVERT_EVENT, source)
        self.c.plug_ports(instance.uuid, source, migration.dest_compute)
        command = FinishRevertResize(host=source, instance_uuid=instance.uuid, flavor=migration.old_flavor,
                                     power_on=migration.old_vm_state != states.STOPPED)

        def done(i: Instance, r: InstanceActionResult) -> None:
            if not r.ok:
                self._status(migration, "error")
                self._failed(i, rid, FINISH_REVERT_EVENT, r.fault or "revert failed on the source")
                return
            if migration.status != final_status:
                self._status(migration, final_status)
            self.c.event_finish(i, rid, FINISH_REVERT_EVENT, "Success")
            self._saved(i, flavor=migration.old_flavor, old_flavor=None, new_flavor=None, task_state=None,
                        vm_state=migration.old_vm_state, power_state=r.power_state)

        def connected(i: Instance, fault: str | None) -> None:
            if fault is not None:
                self._status(migration, "error")
                self._failed(i, rid, FINISH_REVERT_EVENT, fault)
                return
            self.c.send_if_up(command, i, "resize_revert_finish", source, rid, done)

        self.c.volume_attach.follow(instance, source, migration.uuid, rid, connected)

    def _confirm(self, message: ConfirmResize) -> None:
        instance = self.c.instances.get(message.instance_uuid)
        migration = self.c.migrations.get(message.migration_uuid)
        if instance is None or migration is None or instance.vm_state != states.RESIZED:
            return
        rid, source = message.request_id, migration.source_compute or ""
        self.c.event_start(instance, rid, CONFIRM_EVENT, source)

        def done(i: Instance, r: InstanceActionResult) -> None:
            if not r.ok and self.c.host_up(source):
                self._status(migration, "error")
                self._failed(i, rid, CONFIRM_EVENT, r.fault or "confirm failed on the source")
                return
            self.c.placement.release(migration.uuid)
            self._status(migration, "confirmed")
            stopped = i.power_state == states.SHUTDOWN
            self._saved(i, vm_state=states.STOPPED if stopped else states.ACTIVE, task_state=None, old_flavor=None,
                        new_flavor=None)
            self.c.event_finish(i, rid, CONFIRM_EVENT, "Success")

        if source != migration.dest_compute:
            self.c.unplug_ports(instance.uuid, source)
        self._send_or_gone(DestroyInstance(host=source, instance_uuid=instance.uuid), instance, "resize_confirm",
                           source, rid, done, only_copy=source == migration.dest_compute)

    def confirm_for_delete(self, instance: Instance, rid: str) -> None:
        """Deleting a server that awaits resize confirmation confirms the resize first, as Nova does: the copy
        left on the source is destroyed and the migration ends ``confirmed``. The delete itself releases both
        allocations (the instance's and the migration's)."""
        for migration in self.c.migrations.find(MigrationQuery(instance_uuid=instance.uuid)):
            if migration.status != "finished":
                continue
            self._status(migration, "confirmed")
            source = migration.source_compute or ""
            if source and source != migration.dest_compute and self.c.host_up(source):
                self.c.unplug_ports(instance.uuid, source)
                self.c.send(DestroyInstance(host=source, instance_uuid=instance.uuid), instance.uuid,
                            "resize_confirm", source, rid, self.c.settings.build_timeout, lambda _i, _r: None)

    def _revert(self, message: RevertResize) -> None:
        instance = self.c.instances.get(message.instance_uuid)
        migration = self.c.migrations.get(message.migration_uuid)
        if instance is None or migration is None or instance.task_state != states.RESIZE_REVERTING:
            return
        rid, dest = message.request_id, migration.dest_compute or ""
        self.c.event_start(instance, rid, REVERT_EVENT, dest)

        def done(i: Instance, r: InstanceActionResult) -> None:
            if not r.ok and self.c.host_up(dest):
                self._status(migration, "error")
                self._failed(i, rid, REVERT_EVENT, r.fault or "revert failed on the destination")
                return
            self._give_back(i, migration)
            self.c.event_finish(i, rid, REVERT_EVENT, "Success")
            self._back_to_source(i, migration, rid, "reverted")

        if dest != migration.source_compute:
            self.c.unplug_ports(instance.uuid, dest)
        self._send_or_gone(DestroyInstance(host=dest, instance_uuid=instance.uuid), instance, "resize_revert",
                           dest, rid, done, only_copy=dest == migration.source_compute)

    def _send_or_gone(self, command: DestroyInstance, instance: Instance, action: str, host: str, rid: str,
                      done: Handler, only_copy: bool = False) -> None:
        """Destroy a copy on ``host``; on a host that is down the copy is gone with it, which is success. With
        ``only_copy`` (a resize that stayed on its host, as allow_resize_to_same_host permits) nothing is
        destroyed: the one copy is the instance."""
        if self.c.host_up(host) and not only_copy:
            self.c.send(command, instance.uuid, action, host, rid, self.c.settings.build_timeout, done)
        else:
            done(instance, InstanceActionResult(command_id=command.command_id, action=action, host=host,
                                                instance_uuid=instance.uuid, ok=True))

    # live migration

    def _live_migrate(self, message: LiveMigrateServer) -> None:
        instance = self.c.instances.get(message.instance_uuid)
        if instance is None or instance.task_state != states.MIGRATING or instance.host is None:
            return
        rid = message.request_id
        self.c.event_start(instance, rid, LIVE_EVENT)
        migration = self._record(instance, "live-migration", instance.flavor, "queued")
        self._schedule(instance, migration, instance.flavor, message.host, message.force,
                       lambda i, dest: self._live_migrate_to(i, dest, migration, rid, message.block_migration),
                       lambda i, reason: self._undo(i, migration, rid, LIVE_EVENT, reason, fault=False))

    def _live_migrate_to(self, instance: Instance, dest: str, migration: Migration, rid: str,
                         block_migration: bool | None) -> None:
        self._set_destination(migration, dest, "preparing")
        self.c.event_finish(instance, rid, LIVE_EVENT, "Success")
        self.c.event_start(instance, rid, PRE_LIVE_EVENT, dest)
        self.c.ready_ports(instance.uuid, dest)  # the ports stay bound to the source until the guest runs here
        block = block_migration is not False  # "auto": no shared storage between simulated hosts
        command = PreLiveMigration(host=dest, instance_uuid=instance.uuid, instance_name=instance.name,
                                   flavor=instance.flavor, image=instance.image, block_migration=block)
        self.c.send_if_up(command, instance, "live_prepare", dest, rid,
                          lambda i, r: self._prepared(i, r, migration, rid, block))

    def _prepared(self, instance: Instance, result: InstanceActionResult, migration: Migration, rid: str,
                  block: bool) -> None:
        if not result.ok:
            self.c.abandon_ports(instance.uuid, migration.dest_compute or "")
            self._undo(instance, migration, rid, PRE_LIVE_EVENT, result.fault or "pre live migration failed",
                       fault=False)
            return
        self.c.event_finish(instance, rid, PRE_LIVE_EVENT, "Success")
        self._status(migration, "running")
        source, dest = migration.source_compute or "", migration.dest_compute or ""
        self.c.event_start(instance, rid, LIVE_MIGRATION_EVENT, source)
        command = LiveMigrateInstance(host=source, instance_uuid=instance.uuid, destination=dest,
                                      block_migration=block)
        self.c.send_if_up(command, instance, "live_migrate", source, rid,
                          lambda i, r: self._live_done(i, r, migration, rid))

    def _live_done(self, instance: Instance, result: InstanceActionResult, migration: Migration, rid: str) -> None:
        dest = migration.dest_compute or ""
        if not result.ok:
            self.c.abandon_ports(instance.uuid, dest)
            if self.c.host_up(dest):  # the prepared destination is cleaned up; nobody waits for it
                self.c.send(DestroyInstance(host=dest, instance_uuid=instance.uuid), instance.uuid, "live_rollback",
                            dest, rid, self.c.settings.build_timeout, _ignore)
            self._undo(instance, migration, rid, LIVE_MIGRATION_EVENT, result.fault or "live migration failed",
                       status="failed", fault=False)
            return
        self.c.placement.release(migration.uuid)
        self._status(migration, "completed")
        self.c.place(instance, dest)
        # the binding readied there becomes the active one
        self.c.move_ports(instance.uuid, dest, migration.source_compute)
        self.c.unplug_ports(instance.uuid, migration.source_compute or "")
        self._saved(instance, task_state=None, power_state=result.power_state or instance.power_state)
        self.c.event_finish(instance, rid, LIVE_MIGRATION_EVENT, "Success")
        self.c.event_start(instance, rid, POST_LIVE_EVENT, dest)
        self.c.event_finish(instance, rid, POST_LIVE_EVENT, "Success")

    # evacuation and rebuild

    def _rebuild_command(self, instance: Instance, host: str, evacuate: bool, power_on: bool) -> RebuildInstance:
        return RebuildInstance(host=host, instance_uuid=instance.uuid, instance_name=instance.name,
                               flavor=instance.flavor, image=instance.image, evacuate=evacuate, power_on=power_on,
                               user_data=instance.user_data, metadata=instance.metadata, key_data=instance.key_data)

    def _evacuate(self, message: RebuildServer) -> None:
        instance = self.c.instances.get(message.instance_uuid)
        if instance is None or instance.task_state != states.REBUILDING or instance.host is None:
            return
        rid = message.request_id
        self.c.event_start(instance, rid, REBUILD_SERVER_EVENT)
        migration = self._record(instance, "evacuation", instance.flavor, "accepted")
        self._schedule(instance, migration, instance.flavor, message.host, message.force,
                       lambda i, dest: self._evacuate_to(i, dest, migration, rid),
                       lambda i, reason: self._undo(i, migration, rid, REBUILD_SERVER_EVENT, reason))

    def _evacuate_to(self, instance: Instance, dest: str, migration: Migration, rid: str) -> None:
        self._set_destination(migration, dest, "pre-migrating")
        self.c.event_finish(instance, rid, REBUILD_SERVER_EVENT, "Success")
        self._saved(instance, task_state=states.REBUILD_SPAWNING)
        self.c.event_start(instance, rid, REBUILD_EVENT, dest)
        self.c.plug_ports(instance.uuid, dest, migration.source_compute)  # the dead source holds nothing to unplug
        command = self._rebuild_command(instance, dest, True, migration.old_vm_state != states.STOPPED)
        self.c.send_if_up(command, instance, "evacuate", dest, rid, lambda i, r: self._evacuated(i, r, migration, rid))

    def _evacuated(self, instance: Instance, result: InstanceActionResult, migration: Migration, rid: str) -> None:
        if not result.ok:
            self.c.unplug_ports(instance.uuid, migration.dest_compute or "")
            self.c.rebind_ports(instance.uuid, migration.source_compute or "",  # the instance stays recorded there
                                migration.dest_compute)
            self._give_back(instance, migration)
            self._status(migration, "failed")
            self._failed(instance, rid, REBUILD_EVENT, result.fault or "evacuation failed")
            return
        self.c.placement.release(migration.uuid)  # what the dead host held
        self._status(migration, "done")
        self.c.place(instance, migration.dest_compute or "")
        stopped = migration.old_vm_state == states.STOPPED
        self._saved(instance, vm_state=states.STOPPED if stopped else states.ACTIVE, task_state=None,
                    power_state=result.power_state, launched_at=self.c.now(), fault=None)
        self.c.event_finish(instance, rid, REBUILD_EVENT, "Success")

    def _rebuild(self, message: RebuildServer) -> None:
        instance = self.c.instances.get(message.instance_uuid)
        if instance is None or instance.task_state != states.REBUILDING or instance.host is None:
            return
        rid, host, was = message.request_id, instance.host, instance.vm_state
        self.c.event_start(instance, rid, REBUILD_SERVER_EVENT)
        self.c.event_finish(instance, rid, REBUILD_SERVER_EVENT, "Success")
        self._saved(instance, task_state=states.REBUILD_SPAWNING)
        self.c.event_start(instance, rid, REBUILD_EVENT, host)

        def done(i: Instance, r: InstanceActionResult) -> None:
            if not r.ok:
                self._failed(i, rid, REBUILD_EVENT, r.fault or "rebuild failed")
                return
            self._saved(i, vm_state=states.STOPPED if was == states.STOPPED else states.ACTIVE, task_state=None,
                        power_state=r.power_state, launched_at=self.c.now(), fault=None)
            self.c.event_finish(i, rid, REBUILD_EVENT, "Success")

        self.c.send_if_up(self._rebuild_command(instance, host, False, was != states.STOPPED), instance, "rebuild",
                          host, rid, done)
