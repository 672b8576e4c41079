"""The flavor, image and key pair a boot names, read as the caller sees them, each row once per request.

Why a module of its own: a create reads these three rows on every request (the image twice before, once for its
image-defined block device mappings and once to check it), and the ORM's way (a Session per read, an object per
row) cost ~180 us of CPU a read on SQLite where a Core statement on a plain connection cost ~40 us (one image read
by id, 3,000 times, on this project's 2-core machine). The statements are
built once, at import; visibility is part of each statement (Nova's rules, as :mod:`flavors` and :mod:`images`
apply them), so a row the caller may not see reads as missing, which is what Nova answers for it. Nothing here
refuses anything: :mod:`twinstack.core.compute.boot` turns what was (not) found into Nova's 400s, in Nova's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, Table, and_, bindparam, exists, or_, select

from twinstack.core.policy import Credentials
from twinstack.db.models.compute import FlavorAccessRow, FlavorRow, KeypairRow
from twinstack.db.models.image import ImageMemberRow, ImageRow
from twinstack.rpc.compute import FlavorSpec, ImageSpec

FLAVORS: Table = FlavorRow.__table__  # type: ignore[assignment]
FLAVOR_ACCESS: Table = FlavorAccessRow.__table__  # type: ignore[assignment]
IMAGES: Table = ImageRow.__table__  # type: ignore[assignment]
IMAGE_MEMBERS: Table = ImageMemberRow.__table__  # type: ignore[assignment]
KEYPAIRS: Table = KeypairRow.__table__  # type: ignore[assignment]


def _flavor_statement(*visible: Any) -> Select[Any]:
    """An enabled flavor by its flavorid (a disabled one is refused with the message of a missing one)."""
    f = FLAVORS.c
    return select(f.flavorid, f.name, f.vcpus, f.memory_mb, f.root_gb, f.ephemeral_gb, f.swap, f.extra_specs).where(
        f.flavorid == bindparam("flavorid"), f.disabled.is_(False), *visible)


FLAVOR_FOR_ADMIN = _flavor_statement()
FLAVOR_FOR_ANYONE = _flavor_statement(FLAVORS.c.is_public.is_(True))
FLAVOR_FOR_PROJECT = _flavor_statement(or_(FLAVORS.c.is_public.is_(True), exists().where(
    FLAVOR_ACCESS.c.flavor_id == FLAVORS.c.id, FLAVOR_ACCESS.c.project_id == bindparam("project_id"))))
"""Nova's flavor visibility (flavors._visible): an admin every flavor, a project the public ones and those it was
given access to, a caller without a project the public ones."""


def _image_statement(*visible: Any) -> Select[Any]:
    """An image that is not deleted, by id."""
    i = IMAGES.c
    return select(i.id, i.status, i.min_ram, i.min_disk, i.size, i.disk_format, i.container_format,
                  i.properties).where(i.id == bindparam("image_id"), i.status != "deleted", *visible)


_PUBLIC = IMAGES.c.visibility.in_(("public", "community"))
IMAGE_FOR_ADMIN = _image_statement()
IMAGE_FOR_ANYONE = _image_statement(_PUBLIC)
IMAGE_FOR_PROJECT = _image_statement(or_(
    _PUBLIC, IMAGES.c.owner == bindparam("project_id"),
    and_(IMAGES.c.visibility == "shared", exists().where(
        IMAGE_MEMBERS.c.image_id == IMAGES.c.id, IMAGE_MEMBERS.c.member_id == bindparam("project_id")))))
"""Glance's visibility of one image (images.can_see): an admin every image; anyone the public and community ones;
a project its own, and the shared ones it is a member of (whatever its membership's status)."""

KEY_OF_USER = select(KEYPAIRS.c.public_key).where(KEYPAIRS.c.user_id == bindparam("user_id"),
                                                  KEYPAIRS.c.name == bindparam("name"))


@dataclass(frozen=True, slots=True)
class BootImage:
    """What a boot checks of its image and records of it."""

    id: str
    status: str
    min_ram: int
    min_disk: int
    size: int | None
    disk_format: str | None
    container_format: str | None
    properties: dict[str, Any]

    def spec(self) -> ImageSpec:
        """The image as a server records it and a host agent fetches it (images.image_spec's)."""
        return ImageSpec(id=self.id, size_bytes=self.size or 0, disk_format=self.disk_format or "raw",
                         container_format=self.container_format or "bare",
                         properties={k: str(v) for k, v in self.properties.items()})


def _scoped(creds: Credentials, for_admin: Select[Any], for_anyone: Select[Any],
            for_project: Select[Any]) -> tuple[Select[Any], dict[str, Any]]:
    if creds.is_admin:
        return for_admin, {}
    if creds.project_id is None:
        return for_anyone, {}
    return for_project, {"project_id": creds.project_id}


def read_flavor(connection: Connection, creds: Credentials, flavorid: str) -> FlavorSpec | None:
    """The enabled flavor ``flavorid`` as the caller may use it; None if there is none it may see."""
    statement, scope = _scoped(creds, FLAVOR_FOR_ADMIN, FLAVOR_FOR_ANYONE, FLAVOR_FOR_PROJECT)
    row = connection.execute(statement, {"flavorid": flavorid, **scope}).first()
    if row is None:
        return None
    return FlavorSpec(id=row.flavorid, name=row.name, vcpus=row.vcpus, ram_mb=row.memory_mb, disk_gb=row.root_gb,
                      ephemeral_gb=row.ephemeral_gb, swap_mb=row.swap,
                      extra_specs={k: str(v) for k, v in row.extra_specs.items()})


def read_image(connection: Connection, creds: Credentials, image_id: str) -> BootImage | None:
    """The image ``image_id`` as the caller sees it; None if it is missing, deleted or not the caller's to see."""
    statement, scope = _scoped(creds, IMAGE_FOR_ADMIN, IMAGE_FOR_ANYONE, IMAGE_FOR_PROJECT)
    row = connection.execute(statement, {"image_id": image_id, **scope}).first()
    if row is None:
        return None
    return BootImage(row.id, row.status, row.min_ram, row.min_disk, row.size, row.disk_format,
                     row.container_format, dict(row.properties))


def read_key(connection: Connection, user_id: str, name: str) -> str | None:
    """The public key of the user's key pair ``name``; None if the user has none of that name."""
    found: str | None = connection.execute(KEY_OF_USER, {"user_id": user_id, "name": name}).scalar()
    return found


def image_id_of(ref: str) -> str:
    """The image id an imageRef names (an id, or a URL ending in one)."""
    return ref.rstrip("/").rsplit("/", 1)[-1]


def flavor_id_of(ref: str) -> str:
    """The flavorid a flavorRef names (an id, or a URL ending in one)."""
    return ref.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class BootReferences:
    """What a create's references were found to be, read together before anything is refused."""

    flavor: FlavorSpec | None
    image: BootImage | None
    key_data: str | None
    """The key pair's public key; None when no key_name was given or none of that name exists."""


def read_references(connection: Connection, creds: Credentials, flavor_ref: str, image_ref: str | None,
                    key_name: str | None) -> BootReferences:
    """The flavor, image and key pair a create names, on one connection."""
    return BootReferences(
        flavor=read_flavor(connection, creds, flavor_id_of(flavor_ref)),
        image=read_image(connection, creds, image_id_of(image_ref)) if image_ref is not None else None,
        key_data=read_key(connection, creds.user_id, key_name) if key_name is not None else None,
    )
