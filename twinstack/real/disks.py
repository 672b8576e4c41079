"""Instance disks: qcow2 overlays on cached base images, made and inspected with qemu-img (privileged)."""

from __future__ import annotations

import json
from pathlib import Path

from twinstack.real import privileged


def image_format(path: Path) -> str:
    """What qemu-img reads the file as (qcow2, raw...): never trust the image's declared format blindly."""
    info = json.loads(privileged.run(["qemu-img", "info", "--output=json", "-U", str(path)]))
    return str(info["format"])


def virtual_size(path: Path) -> int:
    info = json.loads(privileged.run(["qemu-img", "info", "--output=json", "-U", str(path)]))
    return int(info["virtual-size"])


def create_overlay(base: Path, overlay: Path, size_gb: int) -> None:
    """A qcow2 overlay backed by ``base``; grown to ``size_gb`` GiB when that is larger than the base."""
    backing_format = image_format(base)
    size = size_gb * 2**30
    argv = ["qemu-img", "create", "-f", "qcow2", "-F", backing_format, "-b", str(base), str(overlay)]
    if size > virtual_size(base):
        argv.append(str(size))
    privileged.run(argv)


def create_blank(path: Path, size_mb: int) -> None:
    privileged.run(["qemu-img", "create", "-f", "qcow2", str(path), f"{size_mb}M"])
