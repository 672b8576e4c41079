"""Disk and container formats Glance accepts, and the rules that tie kernel/ramdisk images together."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest
from twinstack.db.models.image import ImageRow

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
AMAZON_FORMATS = frozenset({"ami", "ari", "aki"})
BOOT_PARTS = ("kernel_id", "ramdisk_id")
"""Properties naming the kernel (AKI) and ramdisk (ARI) images an AMI-style image boots with."""


def check_formats(disk_format: str | None, container_format: str | None) -> None:
    """Known formats only; an Amazon-style format on one side needs the same on the other."""
    if disk_format is not None and disk_format not in DISK_FORMATS:
        raise BadRequest(f"Invalid value '{disk_format}' for disk_format: expected one of {', '.join(DISK_FORMATS)}.")
    if container_format is not None and container_format not in CONTAINER_FORMATS:
        raise BadRequest(f"Invalid value '{container_format}' for container_format: expected one of "
                         f"{', '.join(CONTAINER_FORMATS)}.")
    if disk_format and container_format and (disk_format in AMAZON_FORMATS or container_format in AMAZON_FORMATS) \
            and disk_format != container_format:
        raise BadRequest("Invalid mix of disk and container formats. When setting a disk or container format to "
                         "one of 'aki', 'ari', or 'ami', the container and disk formats must match.")


def check_boot_parts(session: Session, properties: Mapping[str, object], image_id: str) -> None:
    """``kernel_id``/``ramdisk_id``, when set, name other images that exist (the real agent boots from them)."""
    for name in BOOT_PARTS:
        value = properties.get(name)
        if value is None:
            continue
        part = session.get(ImageRow, str(value))
        if part is None or part.status == "deleted" or part.id == image_id:
            raise BadRequest(f"Invalid value for {name}: '{value}' is not the id of an existing image.")
