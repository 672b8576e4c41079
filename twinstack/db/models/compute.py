"""Storage models of the compute service (Nova's instances, hosts, flavors, keypairs, groups...)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from twinstack.db.base import Base

UUID = String(36)


class InstanceRow(Base):
    __tablename__ = "compute_instances"
    __table_args__ = (Index("ix_compute_instances_project_listing", "project_id", "deleted", "created_at", "uuid"),
                      Index("ix_compute_instances_created_at_uuid", "created_at", "uuid"))
    """Both indexes end in the default listing order (newest first), so a page of a big listing walks one and
    stops at its limit instead of sorting every instance: the first for a project's own servers (what a
    project's listing, and its quota usage, filter on), the second for an admin's listing of every project."""
    uuid: Mapped[str] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    flavor: Mapped[dict[str, Any]]
    image: Mapped[dict[str, Any] | None]
    vm_state: Mapped[str] = mapped_column(String(32))
    task_state: Mapped[str | None] = mapped_column(String(32))
    power_state: Mapped[int] = mapped_column(default=0)
    host: Mapped[str | None] = mapped_column(String(255), index=True)
    node: Mapped[str | None] = mapped_column(String(255))
    cell: Mapped[str | None] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    requested_availability_zone: Mapped[str | None] = mapped_column(String(255))
    key_name: Mapped[str | None] = mapped_column(String(255))
    key_data: Mapped[str | None] = mapped_column(Text)
    user_data: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    server_group_id: Mapped[str | None] = mapped_column(UUID)
    scheduler_hints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    launched_at: Mapped[dt.datetime | None]
    terminated_at: Mapped[dt.datetime | None]
    deleted_at: Mapped[dt.datetime | None]
    deleted: Mapped[bool] = mapped_column(default=False)
    fault: Mapped[dict[str, Any] | None]
    locked_by: Mapped[str | None] = mapped_column(String(16))
    reservation_id: Mapped[str] = mapped_column(String(32), default="")
    launch_index: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    alternates: Mapped[list[str]] = mapped_column(default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """API-only attributes (description, tags, access IPs...) the conductor never reads."""
    old_flavor: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    new_flavor: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """The two flavors of a resize under way; SQL NULL otherwise (not JSON null), so that counting a project's
    quota usage picks the few resizing instances with ``IS NOT NULL`` instead of loading every instance."""


class MigrationRow(Base):
    """Nova's migration records: one per resize, cold or live migration, or evacuation."""

    __tablename__ = "compute_migrations"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(UUID, unique=True)
    instance_uuid: Mapped[str] = mapped_column(UUID, index=True)
    migration_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    old_flavor: Mapped[dict[str, Any]]
    new_flavor: Mapped[dict[str, Any]]
    source_compute: Mapped[str | None] = mapped_column(String(255))
    source_node: Mapped[str | None] = mapped_column(String(255))
    dest_compute: Mapped[str | None] = mapped_column(String(255))
    dest_node: Mapped[str | None] = mapped_column(String(255))
    dest_host: Mapped[str | None] = mapped_column(String(255))
    old_vm_state: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class InstanceActionRow(Base):
    __tablename__ = "compute_instance_actions"
    __table_args__ = (UniqueConstraint("instance_uuid", "request_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(UUID, index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    start_time: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    message: Mapped[str | None] = mapped_column(Text)


class InstanceActionEventRow(Base):
    __tablename__ = "compute_instance_action_events"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("compute_instance_actions.id", ondelete="CASCADE"),
                                           index=True)
    event: Mapped[str] = mapped_column(String(255))
    start_time: Mapped[dt.datetime]
    finish_time: Mapped[dt.datetime | None]
    result: Mapped[str | None] = mapped_column(String(32))
    traceback: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))


class ComputeHostRow(Base):
    """A compute service and its hypervisor (one node per host, as with libvirt)."""

    __tablename__ = "compute_hosts"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(UUID, unique=True)
    host: Mapped[str] = mapped_column(String(255), unique=True)
    agent: Mapped[str] = mapped_column(String(255))
    cell: Mapped[str] = mapped_column(String(255))
    availability_zone: Mapped[str] = mapped_column(String(255))
    rack: Mapped[str | None] = mapped_column(String(255))
    hypervisor_type: Mapped[str] = mapped_column(String(64))
    hypervisor_hostname: Mapped[str] = mapped_column(String(255))
    host_ip: Mapped[str] = mapped_column(String(64))
    inventory: Mapped[dict[str, Any]]
    traits: Mapped[list[str]]
    last_heartbeat: Mapped[dt.datetime]
    disabled: Mapped[bool] = mapped_column(default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    forced_down: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]
    tunnel_ip: Mapped[str | None] = mapped_column(String(64))
    tunnel_port: Mapped[int | None]


class FlavorRow(Base):
    __tablename__ = "compute_flavors"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    flavorid: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    vcpus: Mapped[int]
    memory_mb: Mapped[int]
    root_gb: Mapped[int]
    ephemeral_gb: Mapped[int] = mapped_column(default=0)
    swap: Mapped[int] = mapped_column(default=0)
    rxtx_factor: Mapped[float] = mapped_column(default=1.0)
    is_public: Mapped[bool] = mapped_column(default=True)
    disabled: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str | None] = mapped_column(Text)
    extra_specs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]


class FlavorAccessRow(Base):
    __tablename__ = "compute_flavor_access"
    flavor_id: Mapped[int] = mapped_column(ForeignKey("compute_flavors.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class KeypairRow(Base):
    __tablename__ = "compute_keypairs"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    created_at: Mapped[dt.datetime]


class AggregateRow(Base):
    __tablename__ = "compute_aggregates"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(UUID, unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    hosts: Mapped[list[str]] = mapped_column(default=list)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]


class ServerGroupRow(Base):
    __tablename__ = "compute_server_groups"
    uuid: Mapped[str] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    policy: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    members: Mapped[list[str]] = mapped_column(default=list)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]


class QuotaRow(Base):
    __tablename__ = "compute_quotas"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int]


class CellRow(Base):
    """A cell an operator changed (disabled) or created with its own database and bus (Nova's cell_mappings)."""

    __tablename__ = "compute_cells"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    uuid: Mapped[str] = mapped_column(UUID, unique=True)
    disabled: Mapped[bool] = mapped_column(default=False)
    database_url: Mapped[str | None] = mapped_column(Text)
    """Where the cell's instances are kept; None: the main database (the default cell)."""
    transport_url: Mapped[str | None] = mapped_column(Text)
    """The cell's own bus; None: the main bus. Recorded only: the per-cell bus is not wired yet."""
    created_at: Mapped[dt.datetime | None]


class InstanceMappingRow(Base):
    """Which cell database holds an instance that left the main one (Nova's instance_mappings), and what the API
    shows of it while that database does not answer (the request spec's fields Nova reads for a down cell).

    An instance with no mapping is in the main database. ``moving`` marks a move between databases under way
    (or cut short by a crash): the record is in ``cell``'s database, or still in ``moved_from``'s (None: the
    main one); see twinstack.db.stores.cell_instances."""

    __tablename__ = "compute_instance_mappings"
    __table_args__ = (Index("ix_compute_instance_mappings_cell_project", "cell", "project_id", "deleted"),)
    instance_uuid: Mapped[str] = mapped_column(UUID, primary_key=True)
    cell: Mapped[str | None] = mapped_column(String(255))
    moved_from: Mapped[str | None] = mapped_column(String(255))
    moving: Mapped[bool] = mapped_column(default=False, index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    flavor: Mapped[dict[str, Any]]
    image_id: Mapped[str | None] = mapped_column(UUID)
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    server_group_id: Mapped[str | None] = mapped_column(UUID)
    deleted: Mapped[bool] = mapped_column(default=False)
