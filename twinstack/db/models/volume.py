"""Storage models of the block storage service (Cinder v3): types, volumes, snapshots, attachments, pools.

Cinder's well-known attributes are columns; user metadata, extra specs kept per type, a pool's free-form
capabilities and an attachment's connector live in JSON columns. Deleted volumes and snapshots lose their
row (Cinder soft-deletes, but no client can see a deleted volume, and quotas count only live rows).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from twinstack.db.base import Base

UUID = String(36)


class VolumeTypeRow(Base):
    __tablename__ = "volume_types"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    is_public: Mapped[bool] = mapped_column(default=True)
    extra_specs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Requirements on a pool's capabilities (``volume_backend_name``...), matched by the scheduler."""
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class VolumeTypeAccessRow(Base):
    """A project allowed to use a private volume type."""

    __tablename__ = "volume_type_projects"
    volume_type_id: Mapped[str] = mapped_column(ForeignKey("volume_types.id", ondelete="CASCADE"),
                                                primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class VolumeRow(Base):
    __tablename__ = "volume_volumes"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int]
    status: Mapped[str] = mapped_column(String(32), index=True)
    """creating, available, reserved, attaching, in-use, detaching, deleting, error, error_deleting, extending,
    retyping, maintenance, downloading."""
    attach_status: Mapped[str] = mapped_column(String(32), default="detached")
    availability_zone: Mapped[str] = mapped_column(String(255))
    volume_type_id: Mapped[str] = mapped_column(UUID)
    host: Mapped[str | None] = mapped_column(String(255), index=True)
    """The pool holding the volume, Cinder-style ``host@backend#pool``; null until scheduled."""
    bootable: Mapped[bool] = mapped_column(default=False)
    multiattach: Mapped[bool] = mapped_column(default=False)
    source_volid: Mapped[str | None] = mapped_column(UUID)
    snapshot_id: Mapped[str | None] = mapped_column(UUID, index=True)
    image_id: Mapped[str | None] = mapped_column(UUID)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    image_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    migration_status: Mapped[str | None] = mapped_column(String(32))
    pending: Mapped[dict[str, Any] | None]
    """The change a back end is carrying out (an extend's new size, a retype's new type), until it answers."""
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    launched_at: Mapped[dt.datetime | None]


class SnapshotRow(Base):
    __tablename__ = "volume_snapshots"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    volume_id: Mapped[str] = mapped_column(UUID, index=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int]
    status: Mapped[str] = mapped_column(String(32))
    """creating, available, deleting, error, error_deleting."""
    progress: Mapped[str] = mapped_column(String(8), default="0%")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class AttachmentRow(Base):
    """One attachment of a volume to a server (Cinder's volume_attachment), from reservation to detach."""

    __tablename__ = "volume_attachments"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volume_volumes.id", ondelete="CASCADE"), index=True)
    instance_uuid: Mapped[str | None] = mapped_column(UUID, index=True)
    attached_host: Mapped[str | None] = mapped_column(String(255))
    mountpoint: Mapped[str | None] = mapped_column(String(255))
    attach_status: Mapped[str] = mapped_column(String(32))
    """reserved, attaching, attached, detaching, error_attaching, error_detaching."""
    attach_mode: Mapped[str] = mapped_column(String(8), default="rw")
    connector: Mapped[dict[str, Any] | None]
    connection_info: Mapped[dict[str, Any] | None]
    delete_on_termination: Mapped[bool] = mapped_column(default=False)
    tag: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[dt.datetime]
    attach_time: Mapped[dt.datetime | None]
    detach_time: Mapped[dt.datetime | None]


class PoolRow(Base):
    """A back end's pool as it last reported itself, plus what the scheduler has promised from it.

    ``allocated_capacity_gb`` is the control plane's own count (claimed when a volume is scheduled, released
    when it is deleted), so two decisions never promise the same free space.
    """

    __tablename__ = "volume_pools"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    """``host@backend#pool``."""
    backend: Mapped[str] = mapped_column(String(255), index=True)
    """``host@backend``: the storage agent's topic suffix."""
    volume_backend_name: Mapped[str] = mapped_column(String(255))
    availability_zone: Mapped[str] = mapped_column(String(255))
    total_capacity_gb: Mapped[int] = mapped_column(BigInteger)
    free_capacity_gb: Mapped[int] = mapped_column(BigInteger)
    allocated_capacity_gb: Mapped[int] = mapped_column(BigInteger, default=0)
    thin_provisioning: Mapped[bool] = mapped_column(default=False)
    max_over_subscription_ratio: Mapped[float] = mapped_column(default=1.0)
    reserved_percentage: Mapped[int] = mapped_column(default=0)
    capabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime]


class VolumeQuotaRow(Base):
    __tablename__ = "volume_quotas"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int]


class UserMessageRow(Base):
    """A message for the user about an asynchronous failure (Cinder's messages API, 3.3)."""

    __tablename__ = "volume_messages"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_uuid: Mapped[str | None] = mapped_column(UUID)
    event_id: Mapped[str] = mapped_column(String(32))
    message_level: Mapped[str] = mapped_column(String(16), default="ERROR")
    user_message: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
