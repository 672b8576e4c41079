"""The compute API's logic: record what a user asked for, check it can be done, hand it to the conductor.

The HTTP layer and the simulator's workloads both call these functions, so a simulated request
takes exactly the path a real one does. Nothing here waits for a host: answers are immediate
and the conductor carries the work out.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from twinstack.core.compute import states
from twinstack.core.compute.block_devices import RootVolume, mappings_of, root_volume_of
from twinstack.core.compute.cell_buses import CellBuses
from twinstack.core.compute.cells import CellUnavailable
from twinstack.core.compute.image_mappings import ROOT_DEVICE_NAME, snapshot_properties
from twinstack.core.compute.model import ActionEvent, Instance, InstanceAction, ServerAttributes
from twinstack.core.compute.stores import Admission, ImageSnapshots, InstanceStore, keeps_history
from twinstack.core.errors import CloudError, Conflict, NotFound
from twinstack.core.runtime import Runtime
from twinstack.rpc.bus import Bus, send
from twinstack.rpc.compute import FlavorSpec, ImageSpec
from twinstack.rpc.conductor import (
    CONDUCTOR_TOPIC,
    AttachVolume,
    BuildInstances,
    ChangePowerState,
    DeleteInstance,
    DetachVolume,
    HostsChanged,
    SnapshotServer,
)
from twinstack.rpc.messages import Message


class VolumeSnapshots(Protocol):
    """Block storage as a volume-backed server's snapshot needs it (``twinstack.core.volume.server_snapshots``)."""

    def snapshot(self, server_uuid: str, image_name: str, root: RootVolume | None) -> list[dict[str, Any]]:
        """Snapshot each volume attached to the server; their image mappings, the root (``root``) first. All or
        none: a refusal leaves no snapshot behind."""
        ...

    def discard(self, snapshot_ids: list[str]) -> None:
        """Delete snapshots made for an image that could not be made."""
        ...


# vm_states from which each power action may start (Nova's check_instance_state rules)
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "reboot_soft": frozenset({states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED, states.ERROR}),
    "reboot_hard": frozenset({states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED, states.ERROR}),
    "stop": frozenset({states.ACTIVE, states.ERROR}),
    "start": frozenset({states.STOPPED}),
    "pause": frozenset({states.ACTIVE}),
    "unpause": frozenset({states.PAUSED}),
    "suspend": frozenset({states.ACTIVE}),
    "resume": frozenset({states.SUSPENDED}),
}
TASK_STATE_OF = {
    "reboot_soft": states.REBOOTING, "reboot_hard": states.REBOOTING_HARD, "stop": states.POWERING_OFF,
    "start": states.POWERING_ON, "pause": states.PAUSING, "unpause": states.UNPAUSING,
    "suspend": states.SUSPENDING, "resume": states.RESUMING,
}
NOVA_ACTION_NAMES = {"reboot_soft": "reboot", "reboot_hard": "reboot"}
# vm_states in which a user may change metadata or tags (Nova's check_instance_state on those calls)
EDITABLE = frozenset({states.ACTIVE, states.PAUSED, states.SUSPENDED, states.STOPPED})
TAGGABLE = EDITABLE | {states.SHELVED, states.SHELVED_OFFLOADED}
SNAPSHOTTABLE = frozenset({states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED})
"""vm_states a server may be snapshotted in (Nova's check_instance_state on snapshot), with no task running."""


def _group_of(hints: Mapping[str, Any]) -> str | None:
    """The server group a ``group`` scheduler hint puts the server in (its membership is this field)."""
    group = hints.get("group")
    return str(group) if group else None


_PLAIN_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
"""A name that sanitizing leaves as it is (the common case: checked first, with one match)."""


def random_uuid() -> str:
    return str(uuid.uuid4())


def hostname_for(name: str, default: str) -> str:
    """Nova's sanitize_hostname: a DNS label made from a display name, or ``default`` if nothing is left."""
    if _PLAIN_HOSTNAME.fullmatch(name):
        return name
    hostname = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    hostname = re.sub(r"[ _.]", "-", hostname)
    hostname = re.sub(r"[^\w.-]+", "", hostname).lower().strip(".-")
    return hostname or default[:63]


@dataclass(slots=True)
class BootRequest:
    """What a user asked ``create_servers`` for; read-only to it. Not ``frozen``: a frozen dataclass sets each of
    these fields through ``object.__setattr__``, a few microseconds per request an offline run makes a million of."""

    name: str
    project_id: str
    user_id: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    availability_zone: str | None = None
    key_name: str | None = None
    key_data: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    min_count: int = 1
    max_count: int = 1
    attributes: ServerAttributes = field(default_factory=ServerAttributes)


class ComputeService:
    def __init__(self, runtime: Runtime, bus: Bus, instances: InstanceStore,
                 admission: Admission | None = None, snapshots: ImageSnapshots | None = None,
                 new_uuid: Callable[[], str] = random_uuid, cell_buses: CellBuses | None = None) -> None:
        self.runtime = runtime
        self.bus = bus
        self.instances = instances
        self.admission = admission
        """Quotas and server group sizes, checked atomically with the recording; None admits everything."""
        self.snapshots = snapshots
        """Where createImage makes its images; None: this cloud has no image service to snapshot into."""
        self.new_uuid = new_uuid
        """Where servers' ids come from: uuid4 by default; a simulation draws them from its seed."""
        self.cell_buses = cell_buses
        """The buses of the cells that have their own: an instance's actions go to its cell's conductor there."""

    def _now(self) -> float:
        return self.runtime.clock.now()

    def _start_task(self, instance: Instance, task_state: str, action: InstanceAction, message: Message) -> None:
        """Record the task and its action, then hand it to the conductor that drives the instance. If its cell's bus
        refuses (CellUnavailable, 503), the task is taken back, so that the server shows no task nobody carries out
        and the user may ask again; a cell known to refuse is answered before anything is recorded."""
        if self.cell_buses is not None and instance.cell is not None and instance.cell in self.cell_buses.down():
            raise CellUnavailable(instance.cell)
        before = instance.task_state, instance.updated_at
        instance.task_state = task_state
        instance.updated_at = self._now()
        self.instances.save(instance)
        self.instances.add_action(action)
        try:
            self.to_conductor(instance, message)
        except CellUnavailable:
            instance.task_state, instance.updated_at = before
            self.instances.save(instance)
            raise

    def to_conductor(self, instance: Instance, message: Message) -> None:
        """Hand an action on ``instance`` to the conductor that drives it: its cell's, on its cell's bus, for a cell
        with a bus of its own (the instance's cell is its mapping's); else the top-level conductor, on the main bus
        (a build not placed yet included). CellUnavailable (503) if the cell's bus refuses it."""
        if self.cell_buses is not None and self.cell_buses.own(instance.cell):
            assert instance.cell is not None
            self.cell_buses.send(instance.cell, CONDUCTOR_TOPIC, message)
        else:
            send(self.bus, CONDUCTOR_TOPIC, message)

    def create_servers(self, request: BootRequest, request_id: str,
                       before_build: Callable[[list[Instance]], None] | None = None) -> list[Instance]:
        """Record ``max_count`` instances (fewer, down to ``min_count``, if the quota allows no more) in
        BUILD/scheduling and ask the conductor to build them. Over quota: QuotaExceeded, nothing recorded.
        ``before_build`` runs on the recorded instances before the conductor hears of them (the API makes their
        ports there, so that the conductor finds them to bind and plug); the build is asked for even if it
        raises (the instances are recorded: they must build or fail, not wait forever)."""
        now = self._now()
        reservation = "r-" + self.new_uuid()[:8]
        created: list[Instance] = []
        for index in range(request.max_count):
            name = request.name if request.max_count == 1 else f"{request.name}-{index + 1}"
            instance_uuid = self.new_uuid()
            hostname = hostname_for(name, f"server-{instance_uuid}")
            attributes = ServerAttributes(**{**vars(request.attributes), "hostname": hostname})  # replace(), cheaper
            instance = Instance(
                uuid=instance_uuid, name=name, attributes=attributes, project_id=request.project_id,
                user_id=request.user_id,
                flavor=request.flavor, image=request.image, created_at=now, updated_at=now,
                requested_availability_zone=request.availability_zone, key_name=request.key_name,
                key_data=request.key_data, user_data=request.user_data, metadata=dict(request.metadata),
                scheduler_hints=dict(request.scheduler_hints), reservation_id=reservation, launch_index=index,
                server_group_id=_group_of(request.scheduler_hints),
            )
            created.append(instance)
        actions = ([InstanceAction(request_id, i.uuid, "create", request.project_id, request.user_id, now)
                    for i in created] if keeps_history(self.instances) else [])
        if self.admission is not None:
            created = self.admission.admit(created, request.min_count, actions)  # and the actions: one step
        else:
            for instance in created:
                self.instances.save(instance)
            for action in actions:
                self.instances.add_action(action)
        try:
            if before_build is not None:
                before_build(created)
        finally:
            send(self.bus, CONDUCTOR_TOPIC, BuildInstances(instance_uuids=[i.uuid for i in created],
                                                           request_id=request_id))
        return created

    def hosts_changed(self, reason: str) -> None:
        """Tell the scheduler that an operator changed its hosts' services or aggregates, so that the very
        next decision sees it (otherwise it re-reads them only every ``host_refresh_seconds``)."""
        send(self.bus, CONDUCTOR_TOPIC, HostsChanged(reason=reason))

    def get(self, uuid: str) -> Instance:
        instance = self.instances.get(uuid)
        if instance is None or instance.vm_state == states.DELETED:
            raise NotFound(f"Instance {uuid} could not be found.")
        return instance

    @staticmethod
    def check_unlocked(instance: Instance, is_admin: bool) -> None:
        """A locked instance refuses changes, except from an admin (Nova's check_instance_lock)."""
        if instance.locked_by is not None and not is_admin:
            raise Conflict(f"Instance {instance.uuid} is locked")

    @staticmethod
    def check_state(instance: Instance, allowed: frozenset[str], verb: str, idle: bool = True) -> None:
        if instance.vm_state not in allowed:
            raise Conflict(f"Cannot '{verb}' instance {instance.uuid} while it is in vm_state {instance.vm_state}")
        if idle and instance.task_state is not None:
            raise Conflict(f"Cannot '{verb}' instance {instance.uuid} while it is in task_state "
                           f"{instance.task_state}")

    def delete_server(self, uuid: str, user_id: str, request_id: str, is_admin: bool = False) -> None:
        instance = self.get(uuid)
        self.check_unlocked(instance, is_admin)
        self._start_task(instance, states.DELETING, InstanceAction(request_id, uuid, "delete", instance.project_id,
                                                                   user_id, self._now()),
                         DeleteInstance(instance_uuid=uuid, request_id=request_id))

    def power_action(self, uuid: str, action: str, user_id: str, request_id: str, is_admin: bool = False) -> None:
        """Refuse (409, as Nova words it) an action the instance's state does not allow; else start it."""
        instance = self.get(uuid)
        allowed = ALLOWED_FROM[action]
        self.check_unlocked(instance, is_admin)
        if instance.vm_state not in allowed or (instance.task_state is not None and action != "reboot_hard"):
            verb = NOVA_ACTION_NAMES.get(action, action)
            if instance.task_state is not None:
                raise Conflict(f"Cannot '{verb}' instance {uuid} while it is in task_state {instance.task_state}")
            raise Conflict(f"Cannot '{verb}' instance {uuid} while it is in vm_state {instance.vm_state}")
        self._start_task(instance, TASK_STATE_OF[action],
                         InstanceAction(request_id, uuid, NOVA_ACTION_NAMES.get(action, action), instance.project_id,
                                        user_id, self._now()),
                         ChangePowerState(instance_uuid=uuid, action=action, request_id=request_id))

    def create_image(self, uuid: str, name: str, metadata: Mapping[str, str], user_id: str, request_id: str,
                     is_admin: bool = False) -> str:
        """Nova's createImage: refuse (409) a state that cannot be snapshotted; else make the ``queued`` image,
        put the instance in image_snapshot_pending and hand the snapshot to the conductor. The image's id."""
        instance = self.get(uuid)
        self.check_unlocked(instance, is_admin)
        self.check_state(instance, SNAPSHOTTABLE, "createImage")
        if self.snapshots is None or instance.host is None:
            raise Conflict(f"Cannot 'createImage' instance {uuid}: no image service or host to snapshot it with")
        image_id = self.snapshots.create(name, uuid, instance.project_id, user_id, instance.image, metadata,
                                         root_gb=instance.flavor.disk_gb)
        instance.task_state = states.IMAGE_SNAPSHOT_PENDING
        instance.updated_at = self._now()
        self.instances.save(instance)
        self.instances.add_action(InstanceAction(request_id, uuid, "createImage", instance.project_id, user_id,
                                                 self._now()))
        self.to_conductor(instance, SnapshotServer(instance_uuid=uuid, image_id=image_id, request_id=request_id))
        return image_id

    def snapshot_volume_backed(self, uuid: str, name: str, metadata: Mapping[str, str], user_id: str,
                               volumes: VolumeSnapshots, is_admin: bool = False) -> str:
        """Nova's snapshot_volume_backed: refuse (409) a state that cannot be snapshotted; else snapshot the
        server's volumes (block storage) and make an image with no data (active, size 0) whose properties map
        each snapshot (``block_device_mapping``, ``bdm_v2``, ``root_device_name``): booting from it boots from
        volumes made from them. No host is asked and the server's state does not change. The image's id."""
        instance = self.get(uuid)
        self.check_unlocked(instance, is_admin)
        self.check_state(instance, SNAPSHOTTABLE, "createImage")
        if self.snapshots is None:
            raise Conflict(f"Cannot 'createImage' instance {uuid}: no image service to snapshot it with")
        root = root_volume_of(mappings_of(instance.attributes.block_device_mapping))
        mappings = volumes.snapshot(uuid, name, root)
        properties = {**metadata, **snapshot_properties(mappings, root.device if root else ROOT_DEVICE_NAME)}
        try:
            image_id = self.snapshots.create(name, uuid, instance.project_id, user_id, None, properties)
        except CloudError:
            volumes.discard([m["snapshot_id"] for m in mappings])
            raise
        self.snapshots.store(image_id, 0)  # Nova's force_activate: the empty upload that makes it active
        return image_id

    def attach_volume(self, uuid: str, volume_id: str, attachment_id: str, user_id: str, request_id: str) -> None:
        """The volume's attachment is reserved for the instance: record Nova's ``attach_volume`` action and hand the
        connection to the conductor (which has the instance's host connect it)."""
        instance = self.get(uuid)
        self.instances.add_action(InstanceAction(request_id, uuid, "attach_volume", instance.project_id, user_id,
                                                 self._now()))
        self.to_conductor(instance, AttachVolume(instance_uuid=uuid, volume_id=volume_id,
                                                     attachment_id=attachment_id, request_id=request_id))

    def detach_volume(self, uuid: str, volume_id: str, attachment_id: str, user_id: str, request_id: str) -> None:
        """The volume's attachment is 'detaching': record ``detach_volume`` and have the conductor disconnect it."""
        instance = self.get(uuid)
        self.instances.add_action(InstanceAction(request_id, uuid, "detach_volume", instance.project_id, user_id,
                                                 self._now()))
        self.to_conductor(instance, DetachVolume(instance_uuid=uuid, volume_id=volume_id,
                                                     attachment_id=attachment_id, request_id=request_id))

    # what only the API changes: names, descriptions, metadata, tags, locks

    def update_server(self, uuid: str, name: str | None = None,
                      attributes: Mapping[str, Any] | None = None) -> Instance:
        """Rename and/or change API-only attributes (description, access IPs...); returns the instance."""
        instance = self.get(uuid)
        if name is not None:
            instance.name = name
        if attributes:
            instance.attributes = replace(instance.attributes, **attributes)
        self.instances.update_user_fields(instance)
        return instance

    def update_metadata(self, uuid: str, items: Mapping[str, str], replace_all: bool = False,
                        is_admin: bool = False) -> dict[str, str]:
        """Merge ``items`` into the metadata (or replace it all); returns the metadata now held."""
        instance = self.get(uuid)
        self.check_unlocked(instance, is_admin)
        self.check_state(instance, EDITABLE, "update metadata")
        instance.metadata = dict(items) if replace_all else {**instance.metadata, **items}
        self.instances.update_user_fields(instance)
        return dict(instance.metadata)

    def delete_metadata_item(self, uuid: str, key: str, is_admin: bool = False) -> None:
        instance = self.get(uuid)
        if key not in instance.metadata:
            raise NotFound("Metadata item was not found")
        self.check_unlocked(instance, is_admin)
        self.check_state(instance, EDITABLE, "delete metadata")
        del instance.metadata[key]
        self.instances.update_user_fields(instance)

    def set_tags(self, uuid: str, tags: list[str], verb: str = "update tags") -> list[str]:
        """Replace the instance's tags (order kept, duplicates dropped); returns them."""
        instance = self.get(uuid)
        self.check_state(instance, TAGGABLE, verb, idle=False)
        instance.attributes = replace(instance.attributes, tags=list(dict.fromkeys(tags)))
        self.instances.update_user_fields(instance)
        return list(instance.attributes.tags)

    def lock(self, uuid: str, user_id: str, project_id: str | None, request_id: str,
             reason: str | None = None) -> None:
        """Lock the instance: by its 'owner' when the caller's project owns it, else by 'admin'.

        Idempotent for the owner (a second lock changes nothing), as in Nova; an admin's lock
        takes over an owner's, so the owner can no longer unlock it.
        """
        instance = self.get(uuid)
        is_owner = instance.project_id == project_id
        if instance.locked_by is not None and is_owner:
            return
        self._record_api_action(instance, "lock", user_id, request_id)
        instance.locked_by = "owner" if is_owner else "admin"
        instance.attributes = replace(instance.attributes, locked_reason=reason)
        self.instances.update_user_fields(instance)
        self._finish_api_action(instance, "lock", request_id)

    def expected_locker(self, instance: Instance, project_id: str | None) -> bool:
        """Whether the caller may unlock without the override: it locked as who it is now."""
        return instance.locked_by == ("owner" if instance.project_id == project_id else "admin")

    def unlock(self, uuid: str, user_id: str, request_id: str) -> None:
        instance = self.get(uuid)
        self._record_api_action(instance, "unlock", user_id, request_id)
        instance.locked_by = None
        instance.attributes = replace(instance.attributes, locked_reason=None)
        self.instances.update_user_fields(instance)
        self._finish_api_action(instance, "unlock", request_id)

    def _record_api_action(self, instance: Instance, action: str, user_id: str, request_id: str) -> None:
        """An action the API completes itself, with its one ``api_<action>`` event (as Nova records it)."""
        now = self._now()
        self.instances.add_action(InstanceAction(request_id, instance.uuid, action, instance.project_id,
                                                 user_id, now))
        self.instances.start_event(instance.uuid, request_id, ActionEvent(f"api_{action}", now))

    def _finish_api_action(self, instance: Instance, action: str, request_id: str) -> None:
        self.instances.finish_event(instance.uuid, request_id, f"api_{action}", self._now(), "Success")
