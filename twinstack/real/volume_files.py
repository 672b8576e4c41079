"""A qcow2 storage back end's files: volumes and their snapshots as qcow2 files in the back end's directory.

``<directory>/volume-<id>.qcow2`` and ``<directory>/snapshot-<id>.qcow2``, as Cinder's NFS and generic file
drivers name them. Every copy (from an image, a snapshot or another volume) is a ``qemu-img convert`` into
a flat, independent qcow2 file, so deleting a source never breaks a copy; a volume attached to a running
guest is read with ``-U`` (QEMU holds its write lock), which gives a crash-consistent copy.

Each new file is written under a hidden temporary name and renamed into place only once complete, so a
failed create leaves nothing behind and a repeated create of a file already there is done already. Every
qemu-img call goes through :mod:`twinstack.real.privileged`; the argument lists are built by the pure
functions at the top, which the unit tests pin.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twinstack.real import privileged

GIB = 2**30
QCOW2_MAGIC = b"QFI\xfb"


class VolumeFileError(Exception):
    """An operation named a file this back end does not hold, or qemu-img refused it."""


# argument lists (pure)


def create_args(path: Path, size_gb: int) -> list[str]:
    return ["qemu-img", "create", "-f", "qcow2", str(path), f"{size_gb}G"]


def convert_args(source: Path, source_format: str, target: Path, target_format: str = "qcow2") -> list[str]:
    """A flat copy of ``source`` (its backing chain folded in), readable while a guest has it open (``-U``)."""
    return ["qemu-img", "convert", "-U", "-f", source_format, "-O", target_format, str(source), str(target)]


def resize_args(path: Path, size_gb: int) -> list[str]:
    return ["qemu-img", "resize", "-f", "qcow2", str(path), f"{size_gb}G"]


def qcow2_virtual_size(path: Path) -> int:
    """The guest-visible size a qcow2 file's header declares (bytes 24-31, big-endian), read without qemu-img:
    capacity reports read it for every file, every report interval."""
    with path.open("rb") as handle:
        header = handle.read(32)
    if len(header) < 32 or header[:4] != QCOW2_MAGIC:
        raise VolumeFileError(f"{path} is not a qcow2 file")
    return int(struct.unpack(">Q", header[24:32])[0])


def gib_up(size: int) -> int:
    return -(-size // GIB)


@dataclass(frozen=True)
class Capacity:
    total_gb: int
    free_gb: int
    provisioned_gb: int
    """What the files promise their guests (their virtual sizes), however little of it they hold yet."""


GrowAttached = Callable[[Path, int], bool]
"""Grow a volume file to a size in bytes through the running guests that have it open; False when none has."""


class VolumeFiles:
    """The files of one back end, in ``directory`` (made, and traversable by QEMU, on first use)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def volume(self, volume_id: str) -> Path:
        return self.directory / f"volume-{_checked(volume_id)}.qcow2"

    def snapshot(self, snapshot_id: str) -> Path:
        return self.directory / f"snapshot-{_checked(snapshot_id)}.qcow2"

    def ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for directory in (self.directory.parent, self.directory):
            directory.chmod(0o755)  # QEMU (libvirt-qemu) must reach attached volumes

    # create

    def create_blank(self, volume_id: str, size_gb: int) -> Path:
        return self._make(self.volume(volume_id), lambda part: privileged.run(create_args(part, size_gb)))

    def create_copy(self, volume_id: str, source: Path, source_format: str, size_gb: int) -> Path:
        """The volume as a flat copy of ``source`` (an image, a snapshot or a volume), grown to ``size_gb``."""
        if not source.is_file():
            raise VolumeFileError(f"the source {source.name} is not in this back end")

        def copy(part: Path) -> None:
            privileged.run(convert_args(source, source_format, part))
            if size_gb * GIB > qcow2_virtual_size(part):
                privileged.run(resize_args(part, size_gb))

        return self._make(self.volume(volume_id), copy)

    def create_snapshot(self, snapshot_id: str, volume_id: str) -> Path:
        source = self.volume(volume_id)
        if not source.is_file():
            raise VolumeFileError(f"volume {volume_id} is not in this back end")
        return self._make(self.snapshot(snapshot_id), lambda part: privileged.run(convert_args(source, "qcow2", part)))

    def _make(self, target: Path, write: Callable[[Path], object]) -> Path:
        if target.is_file():
            return target  # a repeated command: made already
        self.ensure_directory()
        part = target.with_name(f".{target.name}.part")
        try:
            write(part)
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        return target

    # change and remove

    def extend(self, volume_id: str, new_size_gb: int, grow_attached: GrowAttached | None = None) -> None:
        """Grow the volume's file to ``new_size_gb`` (never shrink it). A file a running guest has open is grown by
        ``grow_attached`` (its QEMU: twinstack.real.block_resize), which answers False when no guest has it."""
        path = self.volume(volume_id)
        if not path.is_file():
            raise VolumeFileError(f"volume {volume_id} is not in this back end")
        if new_size_gb * GIB <= qcow2_virtual_size(path):
            return
        if grow_attached is None or not grow_attached(path, new_size_gb * GIB):
            privileged.run(resize_args(path, new_size_gb))

    def delete_volume(self, volume_id: str) -> None:
        """Idempotent: a volume already gone is deleted."""
        self.volume(volume_id).unlink(missing_ok=True)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.snapshot(snapshot_id).unlink(missing_ok=True)

    # what is here

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p for p in self.directory.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix == ".qcow2"
        )

    def capacity(self) -> Capacity:
        """The file system's size and free space (what Cinder's file drivers report) and what the files promise."""
        probe = self.directory if self.directory.is_dir() else _existing_parent(self.directory)
        usage = shutil.disk_usage(probe)
        provisioned = 0
        for path in self.files():
            try:
                provisioned += gib_up(qcow2_virtual_size(path))
            except (OSError, VolumeFileError):
                continue  # deleted meanwhile, or not ours
        return Capacity(usage.total // GIB, usage.free // GIB, provisioned)


def _checked(resource_id: str) -> str:
    """An id safe inside a file name (ids come over the bus: never let one climb out of the directory)."""
    if not resource_id or "/" in resource_id or resource_id.startswith(".") or "\0" in resource_id:
        raise VolumeFileError(f"invalid id {resource_id!r}")
    return resource_id


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
