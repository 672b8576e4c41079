"""The host-agent protocol for compute: commands the conductor sends, reports agents send back.

The same messages drive a simulated agent and a real one; nothing here says which is listening.
Agents speak for many hosts at once (a simulated agent process may hold thousands), so
registration and heartbeats are batched.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from twinstack.rpc.messages import Command, Message, register

CONDUCTOR_TOPIC = "conductor"


def agent_topic(host: str) -> str:
    return f"agent.{host}"


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class InventoryRecord(_Part):
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int | None = None
    step_size: int = 1
    allocation_ratio: float = 1.0


class HostReport(_Part):
    """What a host is: where it sits and what it offers."""

    host: str
    cell: str = "cell1"
    availability_zone: str = "nova"
    rack: str | None = None
    hypervisor_type: str = "QEMU"
    hypervisor_hostname: str | None = None
    host_ip: str = "127.0.0.1"
    inventory: dict[str, InventoryRecord]
    traits: list[str] = Field(default_factory=list)
    tunnel_ip: str | None = None
    """1.1 (HostsRegistered): the host's VXLAN tunnel endpoint address (Neutron's ``local_ip``, reported by its agents
    as ``tunneling_ip``); None: the host takes part in no tunnel (simulated hosts, a real one not configured)."""
    tunnel_port: int = 4789
    """1.1: the UDP port its tunnel endpoint listens on (IANA's 4789 between machines; two agents on one machine
    need two, as the kernel holds one VXLAN device per VNI and port)."""


@register
class HostsRegistered(Message):
    """1.1: each host may name its tunnel endpoint (HostReport.tunnel_ip, tunnel_port)."""

    name = "compute.hosts_registered"
    version = "1.1"
    agent: str
    hosts: list[HostReport]


@register
class Heartbeat(Message):
    """The listed hosts are alive at ``at`` (epoch seconds of the agent's runtime)."""

    name = "compute.heartbeat"
    version = "1.0"
    agent: str
    hosts: list[str]
    at: float


class FlavorSpec(_Part):
    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    ephemeral_gb: int = 0
    swap_mb: int = 0
    extra_specs: dict[str, str] = Field(default_factory=dict)


class ImageSpec(_Part):
    id: str
    size_bytes: int = 0
    disk_format: str = "qcow2"
    container_format: str = "bare"
    properties: dict[str, str] = Field(default_factory=dict)


@register
class SpawnInstance(Command):
    """Create and boot the instance on ``host``. The agent answers with InstanceActionResult.

    Contract: if spawning fails the agent cleans up whatever it created and reports ok=False
    with a fault; a repeated command_id for an instance already spawned is answered again.
    """

    name = "compute.spawn_instance"
    version = "1.1"
    host: str
    instance_uuid: str
    instance_name: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    user_data: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    key_data: str | None = None
    volume_image: ImageSpec | None = None
    """1.1: a volume-backed server's image metadata (its root volume, connected before the spawn, is its disk;
    this says how to boot it, e.g. the kernel and ramdisk); its data is not fetched."""


@register
class DestroyInstance(Command):
    """Remove the instance and everything it holds on the host (idempotent: gone already is fine)."""

    name = "compute.destroy_instance"
    version = "1.0"
    host: str
    instance_uuid: str


PowerActionName = Literal["reboot_soft", "reboot_hard", "stop", "start", "pause", "unpause", "suspend",
                          "resume"]


@register
class PowerAction(Command):
    name = "compute.power_action"
    version = "1.0"
    host: str
    instance_uuid: str
    action: PowerActionName


@register
class InstanceActionResult(Message):
    """How a command on an instance ended. ``power_state`` uses Nova's integers (1 running, 4 shutdown...)."""

    name = "compute.instance_action_result"
    version = "1.2"
    command_id: str
    action: str
    host: str
    instance_uuid: str
    ok: bool
    fault: str | None = None
    power_state: int = 0
    image_size: int | None = None
    """1.1: of a snapshot, the bytes of the image taken."""
    image_uploaded: bool = False
    """1.2: of a snapshot, the host gave the image its data itself, through the image service's API (a real
    host, as Nova's driver uploads to Glance); otherwise the conductor stores ``image_size`` bytes for it."""


# snapshots (Nova's createImage)


@register
class SnapshotInstance(Command):
    """Take a snapshot of the instance's root disk on ``host`` as the image ``image_id`` (already ``queued``).

    The agent reports SnapshotProgress as the guest's disk is captured (``image_pending_upload``) and while
    it is sent (``image_uploading``), then answers InstanceActionResult with ``image_size`` (and
    ``image_uploaded`` when it uploaded the data to the image itself). The instance
    keeps running (or stays as it was); on failure the agent removes whatever it made and reports ok=False.
    """

    name = "compute.snapshot_instance"
    version = "1.0"
    host: str
    instance_uuid: str
    image_id: str
    image: ImageSpec | None = None
    """The image the instance was booted from (its size models how long the capture takes)."""


@register
class SnapshotProgress(Message):
    """A snapshot in progress reached ``task_state`` (Nova's update_task_state from the driver)."""

    name = "compute.snapshot_progress"
    version = "1.0"
    command_id: str
    instance_uuid: str
    task_state: Literal["image_pending_upload", "image_uploading"]


# moves: resize and cold migration, live migration, rebuild and evacuation


@register
class ResizeInstance(Command):
    """Power the instance off on ``host`` (the source) and send its disk to ``destination``.

    The source keeps its copy until a DestroyInstance (the resize confirmed) or a FinishRevertResize
    (reverted, or the destination failed). Answered with InstanceActionResult; on failure the instance
    is left on the source as it was.
    """

    name = "compute.resize_instance"
    version = "1.0"
    host: str
    instance_uuid: str
    destination: str
    flavor: FlavorSpec


@register
class FinishResize(Command):
    """Boot the instance on ``host`` (the destination) from the disk received, with ``flavor``.

    Contract: on failure the agent removes whatever it made here and reports ok=False with a fault.
    """

    name = "compute.finish_resize"
    version = "1.1"
    host: str
    instance_uuid: str
    instance_name: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    power_on: bool = True
    """False for an instance that was stopped: it arrives stopped."""
    volume_image: ImageSpec | None = None
    """1.1: a volume-backed server's image metadata, as SpawnInstance.volume_image (its root volume, connected on
    ``host`` before this command, is its disk)."""


@register
class FinishRevertResize(Command):
    """Take the instance back on ``host`` (the source, which kept its copy): power it on if ``power_on``."""

    name = "compute.finish_revert_resize"
    version = "1.0"
    host: str
    instance_uuid: str
    flavor: FlavorSpec
    power_on: bool = True


@register
class PreLiveMigration(Command):
    """Make ``host`` (the destination) ready to receive the running instance (disks, networking)."""

    name = "compute.pre_live_migration"
    version = "1.0"
    host: str
    instance_uuid: str
    instance_name: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    block_migration: bool = False


@register
class LiveMigrateInstance(Command):
    """Move the running instance from ``host`` (the source) to ``destination``, prepared by PreLiveMigration.

    ok=True means the guest now runs on the destination and the source holds nothing of it; on failure
    the guest still runs on the source.
    """

    name = "compute.live_migrate_instance"
    version = "1.0"
    host: str
    instance_uuid: str
    destination: str
    block_migration: bool = False


@register
class RebuildInstance(Command):
    """Recreate the instance on ``host`` from ``image``: in place (rebuild) or, with ``evacuate``, on a new host
    after its old one died. Contract as SpawnInstance: a failure cleans up and reports ok=False."""

    name = "compute.rebuild_instance"
    version = "1.0"
    host: str
    instance_uuid: str
    instance_name: str
    flavor: FlavorSpec
    image: ImageSpec | None = None
    evacuate: bool = False
    power_on: bool = True
    user_data: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    key_data: str | None = None


# console and host state: asked of any agent, simulated or real


@register
class GetConsoleOutput(Command):
    """Ask ``host``'s agent for the instance's serial console log (its last ``length`` lines if given).

    Answered with ConsoleOutput to the envelope's ``reply_to`` topic (a request/reply, not a result the
    conductor tracks): reading a log changes nothing.
    """

    name = "compute.get_console_output"
    version = "1.0"
    host: str
    instance_uuid: str
    length: int | None = None


@register
class ConsoleOutput(Message):
    name = "compute.console_output"
    version = "1.0"
    command_id: str
    instance_uuid: str
    ok: bool
    output: str = ""
    fault: str | None = None


@register
class HostInstances(Message):
    """What an agent found on ``host`` when it (re)started: instance uuid -> power state, 0 (NOSTATE) for an
    instance with a disk but no domain. The conductor answers what should not be there with DestroyInstance
    and corrects the records of what should be there and is not (or is in another state)."""

    name = "compute.host_instances"
    version = "1.0"
    agent: str
    host: str
    instances: dict[str, int] = Field(default_factory=dict)
