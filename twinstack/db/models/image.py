"""Storage models of the image service (Glance v2): images and the projects they are shared with.

Glance's well-known attributes are columns; the free-form properties a user adds (``os_distro``,
``hw_disk_bus``, ``owner_specified.openstack.sha256``...) live in one JSON column, as do tags and
the locations the image's data is kept at.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from twinstack.db.base import Base

UUID = String(36)


class ImageRow(Base):
    __tablename__ = "image_images"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(30))
    """queued, saving, uploading, importing, active, deactivated, killed, deleted, pending_delete."""
    visibility: Mapped[str] = mapped_column(String(20), index=True)
    """public, community, shared or private."""
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    disk_format: Mapped[str | None] = mapped_column(String(20))
    container_format: Mapped[str | None] = mapped_column(String(20))
    size: Mapped[int | None] = mapped_column(BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger)
    min_disk: Mapped[int] = mapped_column(default=0)
    min_ram: Mapped[int] = mapped_column(default=0)
    checksum: Mapped[str | None] = mapped_column(String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(String(64))
    os_hash_value: Mapped[str | None] = mapped_column(String(128))
    os_hidden: Mapped[bool] = mapped_column(default=False)
    protected: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list[str]] = mapped_column(default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    locations: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    """Where the data is: [{"url": ..., "metadata": {...}}], as Glance's image locations."""
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    deleted_at: Mapped[dt.datetime | None]
    """When the image was deleted: Glance keeps the row (status 'deleted') so its id is never reused."""


class ImageMemberRow(Base):
    """A project an image is shared with, and whether that project accepted it."""

    __tablename__ = "image_members"
    image_id: Mapped[str] = mapped_column(ForeignKey("image_images.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    """pending, accepted or rejected."""
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class ImageTaskRow(Base):
    """One interoperable import of an image (Glance's task): what was asked, how it went.

    Kept so ``GET /v2/images/{id}/tasks`` can tell why an import left the image ``queued``.
    """

    __tablename__ = "image_tasks"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("image_images.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    """'api_image_import'."""
    status: Mapped[str] = mapped_column(String(30))
    """pending, processing, success or failure."""
    owner: Mapped[str | None] = mapped_column(String(64))
    input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str] = mapped_column(String(1024), default="")
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
