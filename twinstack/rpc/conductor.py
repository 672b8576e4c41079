"""Messages from the compute API to the conductor: the API records intent, the conductor carries it out."""

from __future__ import annotations

from twinstack.rpc.compute import FlavorSpec, ImageSpec
from twinstack.rpc.messages import Command, register

CONDUCTOR_TOPIC = "conductor"


@register
class BuildInstances(Command):
    """Schedule and spawn instances already recorded in BUILD/scheduling by the API."""

    name = "conductor.build_instances"
    version = "1.0"
    instance_uuids: list[str]
    request_id: str


@register
class BuildPlaced(Command):
    """A build the top-level conductor scheduled onto ``host``, of a cell with a bus of its own, handed over to that
    cell's conductor on that bus (Nova's super-conductor casting build_and_run_instance into the cell): the
    instance is already recorded there, placed and claimed; the cell's conductor connects its volumes (if it has
    any), spawns it on the host and carries the build to its end, alternates of that cell included."""

    name = "conductor.build_placed"
    version = "1.0"
    instance_uuid: str
    host: str
    request_id: str


@register
class DeleteInstance(Command):
    name = "conductor.delete_instance"
    version = "1.0"
    instance_uuid: str
    request_id: str


@register
class ChangePowerState(Command):
    """reboot_soft, reboot_hard, stop, start, pause, unpause, suspend or resume one instance."""

    name = "conductor.change_power_state"
    version = "1.0"
    instance_uuid: str
    action: str
    request_id: str


@register
class SnapshotServer(Command):
    """Have the instance's host snapshot it into the ``queued`` image ``image_id``; the API has already put the
    instance in image_snapshot_pending."""

    name = "conductor.snapshot_server"
    version = "1.0"
    instance_uuid: str
    image_id: str
    request_id: str


@register
class MigrateServer(Command):
    """Cold-migrate (``flavor`` None) or resize one instance, to ``host`` if given, else where the scheduler says;
    the API has already put it in resize_prep."""

    name = "conductor.migrate_server"
    version = "1.0"
    instance_uuid: str
    request_id: str
    flavor: FlavorSpec | None = None
    host: str | None = None


@register
class ConfirmResize(Command):
    """Drop the source's copy and allocation of a resized (or cold-migrated) instance."""

    name = "conductor.confirm_resize"
    version = "1.0"
    instance_uuid: str
    migration_uuid: str
    request_id: str


@register
class RevertResize(Command):
    """Drop the destination's copy and claim, and take the instance back on its source with its old flavor."""

    name = "conductor.revert_resize"
    version = "1.0"
    instance_uuid: str
    migration_uuid: str
    request_id: str


@register
class LiveMigrateServer(Command):
    """Live-migrate one instance, to ``host`` if given (``force``: skip the scheduler's checks)."""

    name = "conductor.live_migrate_server"
    version = "1.0"
    instance_uuid: str
    request_id: str
    host: str | None = None
    block_migration: bool | None = None
    """None: "auto" (the destination decides whether storage is shared)."""
    force: bool = False


@register
class RebuildServer(Command):
    """Rebuild one instance in place from ``image``; with ``evacuate``, recreate it on another host (``host`` if
    given, else the scheduler's) because its own is down."""

    name = "conductor.rebuild_server"
    version = "1.0"
    instance_uuid: str
    request_id: str
    image: ImageSpec | None = None
    evacuate: bool = False
    host: str | None = None
    force: bool = False


@register
class HostsChanged(Command):
    """An operator changed what the scheduler knows of hosts (a service disabled or forced down, an aggregate
    or its zone or metadata): the scheduler re-reads its view before its next decision."""

    name = "conductor.hosts_changed"
    version = "1.0"
    reason: str


@register
class AttachVolume(Command):
    """Connect the volume of attachment ``attachment_id`` (reserved by the API, its device chosen) to the instance
    on its host: the conductor records the host's connection, sends ConnectVolume with a deadline and completes
    the attachment ('in-use') on the host's answer, or removes it (volume 'available') on a failure or silence.
    Harmless when redelivered: an attachment already attached, or gone, is left as it is."""

    name = "conductor.attach_volume"
    version = "1.0"
    instance_uuid: str
    volume_id: str
    attachment_id: str
    request_id: str


@register
class DetachVolume(Command):
    """Disconnect the volume of attachment ``attachment_id`` (put in 'detaching' by the API) from the instance on
    its host: removed ('available') on the host's answer, rolled back to 'in-use' on a failure or silence."""

    name = "conductor.detach_volume"
    version = "1.0"
    instance_uuid: str
    volume_id: str
    attachment_id: str
    request_id: str
