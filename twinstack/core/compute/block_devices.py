"""A server's block device mappings (Nova's ``block_device_mapping_v2``) and what compute asks of block storage
to boot one.

The API checks each mapping and keeps them, normalised, in the server's attributes; the conductor reads them
back (it never changes them) to know whether the server is volume-backed and which volumes its host must
connect before it boots. Block storage is reached through :class:`BootVolumes`, implemented beside the volume
service (``twinstack.core.volume.boot_volumes``), so compute never reads the volume tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from twinstack.rpc.compute import ImageSpec

SourceType = Literal["image", "volume", "snapshot", "blank"]
DestinationType = Literal["local", "volume"]


@dataclass(frozen=True)
class BlockDeviceMapping:
    """One mapping as Nova keeps it: where its data comes from, where it goes, its place in the boot order."""

    source_type: SourceType
    destination_type: DestinationType
    uuid: str | None = None
    """The image, volume or snapshot the data comes from (None for a blank disk)."""
    boot_index: int | None = None
    """0: the root disk; None or negative: not bootable."""
    volume_size: int | None = None
    delete_on_termination: bool = False
    device_name: str | None = None
    volume_type: str | None = None
    tag: str | None = None
    guest_format: str | None = None

    @property
    def is_root(self) -> bool:
        return self.boot_index == 0

    @property
    def is_volume(self) -> bool:
        return self.destination_type == "volume"

    def stored(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_stored(cls, item: Mapping[str, Any]) -> BlockDeviceMapping:
        known = {k: item[k] for k in cls.__dataclass_fields__ if k in item}
        return cls(**known)


def mappings_of(stored: Sequence[Mapping[str, Any]]) -> list[BlockDeviceMapping]:
    """The mappings a server's attributes hold (entries without a source or destination are not volumes)."""
    return [
        BlockDeviceMapping.from_stored(item)
        for item in stored
        if item.get("source_type") and item.get("destination_type")
    ]


def root_of(mappings: Sequence[BlockDeviceMapping]) -> BlockDeviceMapping | None:
    return next((m for m in mappings if m.is_root), None)


ROOT_DEVICE = "/dev/vda"
"""Where a root volume is attached unless its mapping names a device."""


def device_path(name: str) -> str:
    """``vdb`` or ``/dev/vdb`` as ``/dev/vdb``."""
    return name if name.startswith("/dev/") else f"/dev/{name}"


@dataclass(frozen=True)
class RootVolume:
    """How a volume-backed server's root attachment is known among its attachments (Nova's ``bdm.is_root``): by
    its volume when the root mapping names an existing volume, else by the device the build attached it at (the
    mapping's device name, ``/dev/vda`` unless given)."""

    volume_id: str | None
    device: str

    def matches(self, volume_id: str, mountpoint: str | None) -> bool:
        if self.volume_id is not None:
            return volume_id == self.volume_id
        return mountpoint == self.device


def root_volume_of(mappings: Sequence[BlockDeviceMapping]) -> RootVolume | None:
    """The root volume of a volume-backed server's mappings; None for an image-backed one."""
    root = root_of(mappings)
    if root is None or not root.is_volume:
        return None
    device = device_path(root.device_name) if root.device_name else ROOT_DEVICE
    return RootVolume(root.uuid if root.source_type == "volume" and root.uuid else None, device)


def is_volume_backed(mappings: Sequence[BlockDeviceMapping]) -> bool:
    """Nova's is_volume_backed_instance: the root disk (boot index 0) is a volume."""
    root = root_of(mappings)
    return root is not None and root.is_volume


def volume_mappings(mappings: Sequence[BlockDeviceMapping]) -> list[tuple[int, BlockDeviceMapping]]:
    """The mappings that are volumes, with their index in the request (how a build names them)."""
    return [(index, m) for index, m in enumerate(mappings) if m.is_volume]


@dataclass(frozen=True)
class BootServer:
    """What block storage needs of a server being built: the seam between the two services."""

    uuid: str
    project_id: str
    user_id: str
    host: str
    availability_zone: str | None = None


@dataclass(frozen=True)
class RootImage:
    """What the API learnt of a volume-backed server's root for Nova's flavor checks: the minimums of the image
    behind it (the image it is made from, or the one its volume was made from) and the size of a volume to make."""

    min_ram: int = 0
    min_disk: int = 0
    volume_size: int | None = None
    image: ImageSpec | None = None
    """That image as a host boots it (Nova's image_meta of a volume-backed server: a kernel and ramdisk to boot
    the volume with, say); None when the root was not made from an image."""


@dataclass
class BuildVolumes:
    """What a build's volume steps have done so far, kept by the conductor between steps and across attempts (a
    rescheduled build reuses the volumes it made)."""

    created: dict[int, str] = field(default_factory=dict)
    """Volumes made for the build, by mapping index."""
    reserved: set[int] = field(default_factory=set)
    """Mappings whose volume is reserved for the server (by the API for existing volumes, by the build for the
    ones it made): one found without its attachment later lost it (its host could not connect it)."""


@dataclass(frozen=True)
class Preparation:
    """How far a server's volumes are: all connected on its host (``ready``), still under way, or failed."""

    ready: bool = False
    fault: str | None = None
    """Why the build must stop (it is aborted, not rescheduled, as Nova aborts a failed block device set-up)."""


class BootVolumes(Protocol):
    """Block storage as a build with volume mappings needs it. Each call is one short step, never a wait: the
    conductor calls :meth:`prepare` again until its answer is ready or failed."""

    def prepare(self, server: BootServer, mappings: Sequence[BlockDeviceMapping], so_far: BuildVolumes) -> Preparation:
        """Move every volume mapping one step towards 'connected on ``server.host``': make the volumes that come
        from an image, a snapshot or nothing (once: ``so_far`` records them), reserve them for the server, and ask
        the host to connect each (moving a connection an earlier attempt left on another host)."""
        ...

    def abandon(self, server_uuid: str, created: Sequence[str]) -> list[str]:
        """The build failed or the server went: every volume is released from the server (disconnected from its
        host, available again); those with delete_on_termination and those the build made (``created``) are
        deleted. Returns the created volumes not deletable yet (still being made): ask again later."""
        ...
