"""Booting servers: turn what a user asked for (flavor, image and keypair by reference) into instances.

References are read as the caller sees them (a private flavor of another project, or an image
they may not see, is "not found"), once per request and before anything is refused
(:mod:`boot_references`), and refused with Nova's 400 messages; the checks Nova makes
before it accepts a boot (image active, flavor big enough for the image, zone known) are made
here. What passes is recorded and handed to the conductor; nothing waits for a host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from twinstack.core.compute.availability_zones import zone_names
from twinstack.core.compute.block_devices import BlockDeviceMapping, RootImage, is_volume_backed
from twinstack.core.compute.boot_references import (
    BootImage,
    BootReferences,
    flavor_id_of,
    image_id_of,
    read_flavor,
    read_image,
    read_references,
)
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.model import Instance, ServerAttributes
from twinstack.core.compute.service import BootRequest
from twinstack.core.errors import BadRequest
from twinstack.core.policy import Credentials
from twinstack.rpc.compute import FlavorSpec, ImageSpec

GiB = 1024**3
LIST_HINTS = ("same_host", "different_host")
"""Hints that name one server or several: always handed on as lists."""


@dataclass(frozen=True)
class ServerCreate:
    name: str
    flavor_ref: str
    image_ref: str | None = None
    """None: no image (the server boots from a volume named in its block device mapping)."""
    availability_zone: str | None = None
    forced_host: str | None = None
    """An admin's ``zone:host`` (or ``host``): handed to the scheduler as the ``force_hosts`` hint."""
    key_name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    min_count: int = 1
    max_count: int = 1
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    attributes: ServerAttributes = field(default_factory=ServerAttributes)
    mappings: tuple[BlockDeviceMapping, ...] = ()
    """The block device mappings, checked for shape (the same ones the attributes keep)."""
    root_image: RootImage | None = None
    """For a volume-backed server: what block storage found of its root, for the flavor checks."""


def boot_servers(references: BootReferences, compute: ComputeContext, creds: Credentials, create: ServerCreate,
                 request_id: str, before_build: Callable[[list[Instance]], None] | None = None) -> list[Instance]:
    """Check the references (``references``: what :func:`read_references` found of them), then record the instances
    and ask the conductor to build them (``before_build``: see :meth:`ComputeService.create_servers`)."""
    if create.min_count > create.max_count:
        raise BadRequest("min_count must be <= max_count")
    flavor = check_flavor(references.flavor)
    volume_root = is_volume_backed(create.mappings)
    image = (check_image(image_id_of(create.image_ref), references.image, flavor, volume_root)
             if create.image_ref else None)
    attributes = create.attributes
    if volume_root and create.root_image is not None:
        check_volume_root(flavor, create.root_image)
        if create.root_image.image is not None:
            attributes = replace(attributes, volume_image=create.root_image.image.model_dump())
    if create.key_name is not None and references.key_data is None:
        raise BadRequest("Invalid key_name provided.")
    if create.availability_zone is not None and create.availability_zone not in zone_names(compute):
        raise BadRequest("The requested availability zone is not available")
    hints = {k: ([v] if k in LIST_HINTS and isinstance(v, str) else v) for k, v in create.scheduler_hints.items()}
    if create.forced_host is not None:
        hints["force_hosts"] = [create.forced_host]
    assert creds.project_id is not None
    request = BootRequest(
        name=create.name, project_id=creds.project_id, user_id=creds.user_id, flavor=flavor, image=image,
        availability_zone=create.availability_zone, key_name=create.key_name, key_data=references.key_data,
        user_data=create.user_data, metadata=dict(create.metadata), scheduler_hints=hints,
        min_count=create.min_count, max_count=create.max_count, attributes=attributes,
    )
    return compute.service.create_servers(request, request_id, before_build)


def read_create_references(connection: Connection, creds: Credentials, create: ServerCreate) -> BootReferences:
    """The flavor, image and key pair ``create`` names, read (not yet checked) on one connection."""
    return read_references(connection, creds, create.flavor_ref, create.image_ref, create.key_name)


def check_flavor(found: FlavorSpec | None) -> FlavorSpec:
    """The flavor a flavorRef found; Nova's 400 if it found none the caller may use (missing, private to others
    or disabled)."""
    if found is None:
        raise BadRequest("Invalid flavorRef provided.")
    return found


def resolve_flavor(session: Session, creds: Credentials, ref: str) -> FlavorSpec:
    """The flavor ``ref`` names, read and checked as a create checks it (for a resize)."""
    return check_flavor(read_flavor(session.connection(), creds, flavor_id_of(ref)))


def check_image(image_id: str, found: BootImage | None, flavor: FlavorSpec, volume_root: bool = False) -> ImageSpec:
    """The image, checked as Nova's _validate_flavor_image checks it: found, active, its minimum memory within the
    flavor's, and (unless the root disk is a volume) its size and minimum disk within the flavor's root disk."""
    if found is None:
        raise BadRequest(f"Image {image_id} could not be found.")
    if found.status != "active":
        raise BadRequest(f"Image {image_id} is not active.")
    if found.min_ram > flavor.ram_mb:
        raise BadRequest("Flavor's memory is too small for requested image.")
    if flavor.disk_gb and not volume_root:
        if found.min_disk > flavor.disk_gb:
            raise BadRequest(f"Flavor's disk is smaller than the minimum size specified in image metadata. "
                             f"Flavor disk is {flavor.disk_gb * GiB} bytes, minimum size is "
                             f"{found.min_disk * GiB} bytes.")
        if (found.size or 0) > flavor.disk_gb * GiB:
            raise BadRequest(f"Flavor's disk is too small for requested image. Flavor disk is "
                             f"{flavor.disk_gb * GiB} bytes, image is {found.size} bytes.")
    return found.spec()


def resolve_image(session: Session, creds: Credentials, ref: str, flavor: FlavorSpec,
                  volume_root: bool = False) -> ImageSpec:
    """The image ``ref`` names, read and checked as a create checks it (for a rebuild)."""
    image_id = image_id_of(ref)
    return check_image(image_id, read_image(session.connection(), creds, image_id), flavor, volume_root)


def check_volume_root(flavor: FlavorSpec, root: RootImage) -> None:
    """Nova's checks of a volume root: the image behind it asks no more memory than the flavor has, and a volume to
    be made is at least the image's minimum disk (an existing volume was checked by block storage)."""
    if root.min_ram > flavor.ram_mb:
        raise BadRequest("Flavor's memory is too small for requested image.")
    if root.volume_size is not None and root.min_disk > root.volume_size:
        raise BadRequest(f"Volume is smaller than the minimum size specified in image metadata. Volume size is "
                         f"{root.volume_size * GiB} bytes, minimum size is {root.min_disk * GiB} bytes.")
