"""The per-host base image cache: each image's data copied once to ``<state_dir>/_base/<image id>``.

Instance disks are qcow2 overlays on these files, so a second server from the same image costs one
``qemu-img create``, not a copy. Data comes from an :class:`ImageSource`; today that is the image
service's file stores read in place (an all-in-one cloud shares its disk with the agent), later an
HTTP download from the image API for agents on other machines.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class ImageNotFound(Exception):
    """No source holds the data of an image the agent was asked to boot."""


class ImageSource(Protocol):
    def copy_to(self, image_id: str, destination: Path) -> None:
        """Write the image's bytes to ``destination``; raise :class:`ImageNotFound` if there are none."""
        ...


class FileStores:
    """Image data in Glance file stores (``<store root>/<image id>``), as the image service keeps it."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = list(roots)

    def copy_to(self, image_id: str, destination: Path) -> None:
        for root in self.roots:
            source = root / image_id
            if source.is_file():
                shutil.copyfile(source, destination)
                return
        raise ImageNotFound(f"Image {image_id} has no data in the stores {[str(r) for r in self.roots]}")


class ImageCache:
    """Fetch-once cache; safe to use from several worker threads (one fetch per image at a time), and beside
    another cache on the same directory (each writes its own temporary file; the rename is atomic)."""

    def __init__(self, directory: Path, source: ImageSource) -> None:
        self.directory = directory
        self.source = source
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, image_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(image_id, threading.Lock())

    def path(self, image_id: str) -> Path:
        """The cached file, fetched first if needed (written under a temporary name, then renamed)."""
        if "/" in image_id or image_id in ("", ".", ".."):
            raise ImageNotFound(f"Invalid image id {image_id!r}")
        target = self.directory / image_id
        with self._lock(image_id):
            if target.is_file():
                return target
            self.directory.mkdir(parents=True, exist_ok=True)
            self.directory.chmod(0o755)
            partial = target.with_name(f".{image_id}.{uuid.uuid4().hex}.part")  # unique: another cache (the
            # storage back ends') may fetch the same image into the same directory at the same time
            try:
                self.source.copy_to(image_id, partial)
                partial.chmod(0o644)  # QEMU runs as libvirt-qemu: it must read base files
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
            return target

    def cached(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if p.is_file() and not p.name.startswith("."))
