"""The API's side of moving servers: resize (then confirm or revert), cold and live migration, evacuation
and rebuild. Each checks what Nova checks before it accepts the request (state, lock, target host, quota),
records the instance action, sets the task state the client sees at once, and hands the work to the
conductor (:mod:`twinstack.core.compute.moves`). Nothing waits for a host.

Refusals use Nova's words: 409 "Cannot 'resize' instance X while it is in vm_state building", 400 "When
resizing, instances must change flavor!", 400 "Instance has not been resized.", 403 over quota.
"""

from __future__ import annotations

from dataclasses import replace

from twinstack.core.compute import states
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.hosts_admin import is_up
from twinstack.core.compute.model import Instance, InstanceAction, Migration
from twinstack.core.compute.service import ComputeService
from twinstack.core.compute.stores import MigrationQuery
from twinstack.core.errors import BadRequest, NotFound
from twinstack.rpc.compute import FlavorSpec, ImageSpec
from twinstack.rpc.conductor import (
    ConfirmResize,
    LiveMigrateServer,
    MigrateServer,
    RebuildServer,
    RevertResize,
)
from twinstack.rpc.messages import Command

RESIZABLE = frozenset({states.ACTIVE, states.STOPPED})
LIVE_MIGRATABLE = frozenset({states.ACTIVE, states.PAUSED})
REBUILDABLE = frozenset({states.ACTIVE, states.STOPPED, states.ERROR})
RESIZED = frozenset({states.RESIZED})
IN_PROGRESS_LIVE = frozenset({"queued", "preparing", "running", "post-migrating"})
"""A live migration's statuses while it runs (what ``/servers/{id}/migrations`` lists)."""


def _start(compute: ComputeContext, instance: Instance, action: str, user_id: str, request_id: str,
           command: Command, **changes: object) -> None:
    """Record the action, write the instance's new task state (and any other change), tell the conductor."""
    now = compute.now()
    for name, value in changes.items():
        setattr(instance, name, value)
    instance.updated_at = now
    compute.instances.save(instance)
    compute.instances.add_action(InstanceAction(request_id, instance.uuid, action, instance.project_id, user_id,
                                                now))
    compute.service.to_conductor(instance, command)


def _checked(compute: ComputeContext, uuid: str, allowed: frozenset[str], verb: str, is_admin: bool) -> Instance:
    instance = compute.service.get(uuid)
    ComputeService.check_unlocked(instance, is_admin)
    ComputeService.check_state(instance, allowed, verb)
    return instance


def _target(compute: ComputeContext, host: str | None, instance: Instance) -> None:
    """A requested destination must be a known host other than the instance's own (400 otherwise, as Nova)."""
    if host is None:
        return
    if compute.hosts.get(host) is None:
        raise BadRequest(f"Compute host {host} could not be found.")
    if host == instance.host:
        raise BadRequest("The target host can't be the same one.")


def resize(compute: ComputeContext, uuid: str, flavor: FlavorSpec, user_id: str, request_id: str,
           is_admin: bool = False) -> None:
    """Start resizing to ``flavor``: quota for the growth admitted atomically with the task state (403 and
    nothing changed when over quota), then the conductor schedules and moves it."""
    instance = _checked(compute, uuid, RESIZABLE, "resize", is_admin)
    if flavor.id == instance.flavor.id:
        raise BadRequest("When resizing, instances must change flavor!")
    if flavor.disk_gb < instance.flavor.disk_gb:
        raise BadRequest("Resize error: Unable to resize disk down.")
    now = compute.now()
    changed = replace(instance, old_flavor=instance.flavor, new_flavor=flavor, task_state=states.RESIZE_PREP,
                      updated_at=now)
    admission = compute.service.admission
    if admission is not None:
        admission.admit_resize(changed)
    else:
        compute.instances.save(changed)
    compute.instances.add_action(InstanceAction(request_id, uuid, "resize", instance.project_id, user_id, now))
    compute.service.to_conductor(instance, MigrateServer(instance_uuid=uuid, request_id=request_id, flavor=flavor))


def migrate(compute: ComputeContext, uuid: str, user_id: str, request_id: str, host: str | None = None) -> None:
    """Cold-migrate (an admin's action): a resize to the same flavor, ending in VERIFY_RESIZE."""
    instance = _checked(compute, uuid, RESIZABLE, "migrate", True)
    _target(compute, host, instance)
    _start(compute, instance, "migrate", user_id, request_id,
           MigrateServer(instance_uuid=uuid, request_id=request_id, host=host), task_state=states.RESIZE_PREP)


def resize_migration(compute: ComputeContext, instance: Instance) -> Migration:
    """The finished resize or cold migration awaiting confirmation; 400 as Nova says if there is none."""
    found = compute.migrations.find(MigrationQuery(instance_uuid=instance.uuid, statuses=frozenset({"finished"})))
    found = [m for m in found if m.migration_type in ("resize", "migration")]
    if not found:
        raise BadRequest("Instance has not been resized.")
    return found[0]


def confirm_resize(compute: ComputeContext, uuid: str, user_id: str, request_id: str,
                   is_admin: bool = False) -> None:
    """Accept the resized instance: the source's copy and allocation are dropped (VERIFY_RESIZE → ACTIVE)."""
    instance = _checked(compute, uuid, RESIZED, "confirmResize", is_admin)
    migration = resize_migration(compute, instance)
    migration.status, migration.updated_at = "confirming", compute.now()
    compute.migrations.save(migration)
    _start(compute, instance, "confirmResize", user_id, request_id,
           ConfirmResize(instance_uuid=uuid, migration_uuid=migration.uuid, request_id=request_id))


def revert_resize(compute: ComputeContext, uuid: str, user_id: str, request_id: str, is_admin: bool = False) -> None:
    """Go back to the source host and the old flavor (REVERT_RESIZE, then as before the resize)."""
    instance = _checked(compute, uuid, RESIZED, "revertResize", is_admin)
    migration = resize_migration(compute, instance)
    migration.status, migration.updated_at = "reverting", compute.now()
    compute.migrations.save(migration)
    _start(compute, instance, "revertResize", user_id, request_id,
           RevertResize(instance_uuid=uuid, migration_uuid=migration.uuid, request_id=request_id),
           task_state=states.RESIZE_REVERTING)


def live_migrate(compute: ComputeContext, uuid: str, user_id: str, request_id: str, host: str | None = None,
                 block_migration: bool | None = None, force: bool = False) -> None:
    """Move the running instance (MIGRATING) to ``host`` or the scheduler's choice; it stays ACTIVE throughout."""
    instance = _checked(compute, uuid, LIVE_MIGRATABLE, "os-migrateLive", True)
    if host is not None:
        if compute.hosts.get(host) is None:
            raise BadRequest(f"Compute host {host} could not be found.")
        if host == instance.host:
            raise BadRequest(f"Unable to migrate instance ({uuid}) to current host ({host}).")
    _start(compute, instance, "live-migration", user_id, request_id,
           LiveMigrateServer(instance_uuid=uuid, request_id=request_id, host=host, block_migration=block_migration,
                             force=force), task_state=states.MIGRATING)


def evacuate(compute: ComputeContext, uuid: str, user_id: str, request_id: str, host: str | None = None,
             force: bool = False) -> None:
    """Rebuild the instance on another host because its own is down (or forced down); Nova refuses (400)
    while the instance's compute service is up."""
    instance = compute.service.get(uuid)
    if host is not None:
        if compute.hosts.get(host) is None:
            raise NotFound(f"Compute host {host} not found.")
        if host == instance.host:
            raise BadRequest("The target host can't be the same one.")
    ComputeService.check_state(instance, REBUILDABLE, "evacuate")
    source = compute.hosts.get(instance.host) if instance.host else None
    if source is not None and is_up(source, compute.now(), compute.service_down_time):
        raise BadRequest(f"Compute service of {source.host} is still in use.")
    _start(compute, instance, "evacuate", user_id, request_id,
           RebuildServer(instance_uuid=uuid, request_id=request_id, evacuate=True, host=host, force=force),
           task_state=states.REBUILDING)


def rebuild(compute: ComputeContext, uuid: str, image: ImageSpec, user_id: str, request_id: str,
            is_admin: bool = False) -> Instance:
    """Recreate the instance in place from ``image`` (the server shows the new image at once, as in Nova)."""
    instance = _checked(compute, uuid, REBUILDABLE, "rebuild", is_admin)
    _start(compute, instance, "rebuild", user_id, request_id,
           RebuildServer(instance_uuid=uuid, request_id=request_id, image=image), task_state=states.REBUILDING,
           image=image)
    return instance
