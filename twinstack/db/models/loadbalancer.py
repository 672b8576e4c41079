"""Storage models of the load-balancing service (Octavia v2): load balancers, listeners, pools,
members and health monitors. A load balancer's VIP is a port of the networking service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from twinstack.db.base import Base

UUID = String(36)
PROJECT = String(64)
NAME = String(255)
STATUS = String(16)


class LoadBalancerRow(Base):
    __tablename__ = "lb_loadbalancers"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(NAME, default="")
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    provisioning_status: Mapped[str] = mapped_column(STATUS)
    operating_status: Mapped[str] = mapped_column(STATUS)
    vip_port_id: Mapped[str | None] = mapped_column(ForeignKey("net_ports.id", ondelete="SET NULL"))
    vip_address: Mapped[str] = mapped_column(String(64))
    vip_subnet_id: Mapped[str] = mapped_column(UUID)
    vip_network_id: Mapped[str] = mapped_column(UUID)
    provider: Mapped[str] = mapped_column(String(64), default="amphora")
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    command_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """The ApplyLoadBalancer in flight for the pending change (None when settled): only its answer settles."""
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    """When that command was first sent: past the worker's apply timeout, the change settles to ERROR."""
    vip_port_owned: Mapped[bool] = mapped_column(default=True, server_default=true())
    """The VIP port was made for this load balancer (deleted with it), not given as vip_port_id."""


class ListenerRow(Base):
    __tablename__ = "lb_listeners"
    __table_args__ = (UniqueConstraint("loadbalancer_id", "protocol", "protocol_port"),)
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    loadbalancer_id: Mapped[str] = mapped_column(ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(NAME, default="")
    protocol: Mapped[str] = mapped_column(String(32))
    protocol_port: Mapped[int]
    connection_limit: Mapped[int] = mapped_column(default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(UUID)
    """No foreign key (pools name their listener too); the service keeps the two consistent."""
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    provisioning_status: Mapped[str] = mapped_column(STATUS)
    operating_status: Mapped[str] = mapped_column(STATUS)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class PoolRow(Base):
    __tablename__ = "lb_pools"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    loadbalancer_id: Mapped[str] = mapped_column(ForeignKey("lb_loadbalancers.id", ondelete="CASCADE"), index=True)
    listener_id: Mapped[str | None] = mapped_column(ForeignKey("lb_listeners.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(NAME, default="")
    protocol: Mapped[str] = mapped_column(String(32))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict[str, Any] | None]
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    provisioning_status: Mapped[str] = mapped_column(STATUS)
    operating_status: Mapped[str] = mapped_column(STATUS)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class MemberRow(Base):
    __tablename__ = "lb_members"
    __table_args__ = (UniqueConstraint("pool_id", "address", "protocol_port"),)
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("lb_pools.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int]
    weight: Mapped[int] = mapped_column(default=1)
    subnet_id: Mapped[str | None] = mapped_column(UUID)
    backup: Mapped[bool] = mapped_column(default=False)
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None]
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    provisioning_status: Mapped[str] = mapped_column(STATUS)
    operating_status: Mapped[str] = mapped_column(STATUS)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class HealthMonitorRow(Base):
    __tablename__ = "lb_healthmonitors"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("lb_pools.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    type: Mapped[str] = mapped_column(String(16))
    delay: Mapped[int]
    timeout: Mapped[int]
    max_retries: Mapped[int]
    max_retries_down: Mapped[int] = mapped_column(default=3)
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(255))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    provisioning_status: Mapped[str] = mapped_column(STATUS)
    operating_status: Mapped[str] = mapped_column(STATUS)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
