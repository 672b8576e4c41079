"""The block storage protocol: what the volume manager asks of storage back ends and of hosts, and their answers.

Three parties talk here, each on its own topic:

* the volume manager (``volume``): the API asks it to schedule a new volume; back ends and hosts answer it;
* a storage back end's agent (``storage.<host@backend>``): creates, clones, extends, snapshots and deletes
  volumes in its pools, and reports the pools' capacity;
* a host's volume connector (``agent.<host>.volumes``): connects a volume to a server on that host, or
  disconnects it. It is a topic of its own beside the compute agent's, so the volume side needs nothing of
  the compute agent's dispatch (a real host agent subscribes both).

The same messages drive simulated back ends and real ones (LVM, qcow2 files).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twinstack.rpc.messages import Command, Message, register

VOLUME_TOPIC = "volume"


def storage_topic(backend: str) -> str:
    return f"storage.{backend}"


def host_volumes_topic(host: str) -> str:
    return f"agent.{host}.volumes"


def is_host_volumes_topic(topic: str) -> bool:
    """Is ``topic`` a host's volume topic (one :func:`host_volumes_topic` names)?"""
    return topic.startswith("agent.") and topic.endswith(".volumes")


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PoolReport(_Part):
    """One pool as its back end sees it (Cinder's get_volume_stats, per pool)."""

    name: str
    """``host@backend#pool``."""
    volume_backend_name: str
    availability_zone: str = "nova"
    total_capacity_gb: int
    free_capacity_gb: int
    provisioned_capacity_gb: int = 0
    thin_provisioning_support: bool = False
    thick_provisioning_support: bool = True
    max_over_subscription_ratio: float = 1.0
    reserved_percentage: int = 0
    capabilities: dict[str, str] = Field(default_factory=dict)


@register
class PoolsReported(Message):
    """The back end ``backend`` (``host@backend``) and its pools, sent at start and every report interval."""

    name = "volume.pools_reported"
    version = "1.0"
    backend: str
    pools: list[PoolReport]


@register
class ScheduleVolume(Command):
    """API -> manager: the volume recorded in 'creating' needs a pool; the manager picks one and creates it."""

    name = "volume.schedule_volume"
    version = "1.0"
    volume_id: str
    request_id: str = ""


SourceKind = Literal["blank", "image", "snapshot", "volume"]


@register
class CreateVolume(Command):
    """Create ``volume_id`` of ``size_gb`` in ``pool``: blank, or copied from an image, a snapshot or a volume
    (clones and snapshot restores happen inside the back end that holds the source). Answered with
    StorageResult; on failure the back end leaves nothing of the volume behind."""

    name = "volume.create_volume"
    version = "1.0"
    backend: str
    pool: str
    volume_id: str
    size_gb: int
    source: SourceKind = "blank"
    source_id: str | None = None
    image_bytes: int = 0


@register
class DeleteVolume(Command):
    """Remove the volume from its pool (idempotent: a volume already gone is deleted)."""

    name = "volume.delete_volume"
    version = "1.0"
    backend: str
    pool: str
    volume_id: str


@register
class ExtendVolume(Command):
    name = "volume.extend_volume"
    version = "1.0"
    backend: str
    pool: str
    volume_id: str
    new_size_gb: int


@register
class CreateSnapshot(Command):
    name = "volume.create_snapshot"
    version = "1.0"
    backend: str
    pool: str
    volume_id: str
    snapshot_id: str
    size_gb: int


@register
class DeleteSnapshot(Command):
    name = "volume.delete_snapshot"
    version = "1.0"
    backend: str
    pool: str
    snapshot_id: str


@register
class MigrateVolume(Command):
    """Move the volume from ``pool`` of this back end to ``dest_pool`` of the back end ``dest_backend`` (Cinder's
    generic migration: a volume made on the destination, the data copied, the source removed). Sent to the
    source back end; answered with StorageResult ``migrate_volume``. On failure the source is left as it was and
    nothing of the copy remains."""

    name = "volume.migrate_volume"
    version = "1.0"
    backend: str
    pool: str
    volume_id: str
    size_gb: int
    dest_backend: str
    dest_pool: str


StorageOperation = Literal["create_volume", "delete_volume", "extend_volume", "create_snapshot", "delete_snapshot",
                           "migrate_volume"]


@register
class StorageResult(Message):
    """A back end's answer to one command; ``resource_id`` is the volume's or the snapshot's id."""

    name = "volume.storage_result"
    version = "1.1"
    """1.1: ``migrate_volume`` answers."""
    command_id: str
    operation: StorageOperation
    backend: str
    resource_id: str
    ok: bool
    fault: str | None = None


@register
class ConnectVolume(Command):
    """Connect the volume to the server on ``host`` at ``mountpoint``, using ``connection_info`` (what the back
    end's initialize_connection returned). Answered with HostVolumeResult."""

    name = "volume.connect_volume"
    version = "1.1"
    """1.1: ``export_from``."""
    host: str
    instance_uuid: str
    volume_id: str
    attachment_id: str
    mountpoint: str
    connection_info: dict[str, Any] = Field(default_factory=dict)
    export_from: str | None = None
    """The back end (``host@backend``) that must export the volume to ``host`` first (its volume file is on
    another host: reached over NBD). The command goes to that back end's topic; the back end exports the volume
    for this attachment and sends the command on to ``host`` (the same id and reply topic) with the export's
    address in ``connection_info`` and this field cleared, or answers HostVolumeResult failed itself.
    None: the command goes straight to ``host``."""


def connect_topic(command: ConnectVolume) -> str:
    """Where a connect is sent: the back end that exports the volume first (:attr:`ConnectVolume.export_from`),
    else the host's volume topic."""
    return storage_topic(command.export_from) if command.export_from else host_volumes_topic(command.host)


@register
class VolumeExported(Message):
    """A back end -> the volume manager: it exports the volume for the attachment at ``connection_info`` (what
    the host connects to); the attachment records it (Cinder's connection_info of the attachment)."""

    name = "volume.volume_exported"
    version = "1.0"
    backend: str
    volume_id: str
    attachment_id: str
    connection_info: dict[str, Any]


@register
class UnexportVolume(Command):
    """Stop the back end's export of the volume for the attachment (Cinder's terminate_connection), once its host
    let go of it or the attachment went. Idempotent: an export already gone is stopped. Not answered."""

    name = "volume.unexport_volume"
    version = "1.0"
    backend: str
    volume_id: str
    attachment_id: str


@register
class DisconnectVolume(Command):
    """Disconnect the volume from the server (idempotent: not connected is disconnected)."""

    name = "volume.disconnect_volume"
    version = "1.0"
    host: str
    instance_uuid: str
    volume_id: str
    attachment_id: str


@register
class HostVolumeResult(Message):
    name = "volume.host_volume_result"
    version = "1.0"
    command_id: str
    action: Literal["connect", "disconnect"]
    host: str
    attachment_id: str
    ok: bool
    fault: str | None = None
