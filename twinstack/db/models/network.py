"""Storage models of the networking service (Neutron v2.0): networks and their segments, subnets, ports
and the addresses they hold, security groups and rules, routers, floating IPs, subnet pools, quotas.

Two tables carry the invariants concurrency must never break, so SQL enforces them even if two
servers race past the application's own checks:

* ``net_ip_allocations`` has the primary key (network, address): one address, one port.
* ``net_segments`` has the primary key (type, physical network, segmentation id): a VLAN or VNI is
  held by at most one network while that network exists (a flat network holds id 0 of its
  physical network, so a physical network carries at most one flat network).

Free-form lists (tags, DNS servers, host routes, allocation pools, allowed address pairs, static
routes) are JSON columns: they are read and written whole, never queried into.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from twinstack.db.base import Base

UUID = String(36)
PROJECT = String(64)
NAME = String(255)
ADDRESS = String(64)


class NetworkRow(Base):
    __tablename__ = "net_networks"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(NAME, default="")
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(default=False)
    external: Mapped[bool] = mapped_column(default=False)
    """``router:external``: routers may take a gateway on it and floating IPs come from it."""
    is_default: Mapped[bool] = mapped_column(default=False)
    mtu: Mapped[int]
    port_security_enabled: Mapped[bool] = mapped_column(default=True)
    availability_zone_hints: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(default=list)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    peers_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    """Raised each time a conductor recomputes the network's tunnel peers after its hosts may have changed; the
    PlugPorts carry it, and an agent never takes a list older than one it has (twinstack.core.compute.tunnel_peers)."""


class SegmentRow(Base):
    """The one segment of a network: how its traffic is carried between hosts."""

    __tablename__ = "net_segments"
    network_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    """flat, vlan or vxlan."""
    physical_network: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    """Empty for vxlan (tunnels need none)."""
    segmentation_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=0)
    """The VLAN id or VNI; 0 for flat."""
    network_id: Mapped[str] = mapped_column(ForeignKey("net_networks.id", ondelete="CASCADE"), unique=True)


class SubnetPoolRow(Base):
    __tablename__ = "net_subnetpools"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(NAME, default="")
    ip_version: Mapped[int]
    prefixes: Mapped[list[str]] = mapped_column(default=list)
    default_prefixlen: Mapped[int]
    min_prefixlen: Mapped[int]
    max_prefixlen: Mapped[int]
    shared: Mapped[bool] = mapped_column(default=False)
    is_default: Mapped[bool] = mapped_column(default=False)
    default_quota: Mapped[int | None]
    address_scope_id: Mapped[str | None] = mapped_column(UUID)
    tags: Mapped[list[str]] = mapped_column(default=list)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class SubnetRow(Base):
    __tablename__ = "net_subnets"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("net_networks.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(NAME, default="")
    ip_version: Mapped[int]
    cidr: Mapped[str] = mapped_column(ADDRESS)
    gateway_ip: Mapped[str | None] = mapped_column(ADDRESS)
    enable_dhcp: Mapped[bool] = mapped_column(default=True)
    dns_nameservers: Mapped[list[str]] = mapped_column(default=list)
    host_routes: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    allocation_pools: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    """[{"start": ..., "end": ...}], inclusive ranges inside the CIDR."""
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(16))
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(16))
    subnetpool_id: Mapped[str | None] = mapped_column(ForeignKey("net_subnetpools.id"), index=True)
    service_types: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(default=list)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class PortRow(Base):
    __tablename__ = "net_ports"
    __table_args__ = (UniqueConstraint("network_id", "mac_address"),)
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("net_networks.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(NAME, default="")
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    mac_address: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str] = mapped_column(NAME, default="", index=True)
    device_owner: Mapped[str] = mapped_column(NAME, default="")
    port_security_enabled: Mapped[bool] = mapped_column(default=True)
    allowed_address_pairs: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    binding_host_id: Mapped[str] = mapped_column(NAME, default="")
    binding_vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    binding_profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    delete_with_device: Mapped[bool] = mapped_column(default=False)
    """Made by compute for its server, so deleted with it (Nova's preserve_on_delete, inverted); not on the wire."""
    tags: Mapped[list[str]] = mapped_column(default=list)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class InactiveBindingRow(Base):
    """A port's binding to another host than its own (Neutron's binding-extended, status INACTIVE): where a live
    migration's destination is readied while the port stays bound (``binding_host_id``) to the source. The
    active binding is the port's own fields; activating one of these swaps them."""

    __tablename__ = "net_port_inactive_bindings"
    port_id: Mapped[str] = mapped_column(ForeignKey("net_ports.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(NAME, primary_key=True)
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IpAllocationRow(Base):
    """One address held by one port: the primary key is IPAM's last line of defence."""

    __tablename__ = "net_ip_allocations"
    network_id: Mapped[str] = mapped_column(ForeignKey("net_networks.id", ondelete="CASCADE"), primary_key=True)
    ip_address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    """Canonical text (``str(ipaddress.ip_address(...))``), so one address has one spelling."""
    subnet_id: Mapped[str] = mapped_column(ForeignKey("net_subnets.id", ondelete="CASCADE"), index=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("net_ports.id", ondelete="CASCADE"), index=True)


class SecurityGroupRow(Base):
    __tablename__ = "net_security_groups"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(NAME, default="")
    stateful: Mapped[bool] = mapped_column(default=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class DefaultSecurityGroupRow(Base):
    """Which group is a project's ``default``: the primary key makes two racing first uses make one."""

    __tablename__ = "net_default_security_groups"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("net_security_groups.id", ondelete="CASCADE"))


class SecurityGroupRuleRow(Base):
    __tablename__ = "net_security_group_rules"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("net_security_groups.id", ondelete="CASCADE"),
                                                   index=True)
    direction: Mapped[str] = mapped_column(String(8))
    ethertype: Mapped[str] = mapped_column(String(8))
    protocol: Mapped[str | None] = mapped_column(String(40))
    port_range_min: Mapped[int | None]
    port_range_max: Mapped[int | None]
    remote_ip_prefix: Mapped[str | None] = mapped_column(ADDRESS)
    remote_group_id: Mapped[str | None] = mapped_column(ForeignKey("net_security_groups.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(NAME, default="")
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class PortSecurityGroupRow(Base):
    __tablename__ = "net_port_security_groups"
    port_id: Mapped[str] = mapped_column(ForeignKey("net_ports.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("net_security_groups.id"), primary_key=True,
                                                   index=True)


class RouterRow(Base):
    __tablename__ = "net_routers"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(NAME, default="")
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gw_port_id: Mapped[str | None] = mapped_column(ForeignKey("net_ports.id", ondelete="SET NULL"))
    """The router's port on its external network (device_owner network:router_gateway)."""
    enable_snat: Mapped[bool] = mapped_column(default=True)
    routes: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(default=list)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class FloatingIpRow(Base):
    __tablename__ = "net_floating_ips"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    floating_network_id: Mapped[str] = mapped_column(ForeignKey("net_networks.id"), index=True)
    floating_port_id: Mapped[str] = mapped_column(ForeignKey("net_ports.id", ondelete="CASCADE"), unique=True)
    floating_ip_address: Mapped[str] = mapped_column(ADDRESS)
    port_id: Mapped[str | None] = mapped_column(ForeignKey("net_ports.id", ondelete="SET NULL"), index=True)
    """The internal port the address is translated to, if associated."""
    fixed_ip_address: Mapped[str | None] = mapped_column(ADDRESS)
    router_id: Mapped[str | None] = mapped_column(ForeignKey("net_routers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    description: Mapped[str] = mapped_column(NAME, default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class NetworkQuotaRow(Base):
    """A project's limit on one resource, where it differs from the default."""

    __tablename__ = "net_quotas"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int]


class AutoAllocatedTopologyRow(Base):
    """A project's auto-allocated topology (get-me-a-network): the network it was given, and the router joining
    it to the default external network. At most one per project; it goes with its network."""

    __tablename__ = "net_auto_allocated_topologies"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("net_networks.id", ondelete="CASCADE"), unique=True)
    router_id: Mapped[str | None] = mapped_column(ForeignKey("net_routers.id", ondelete="SET NULL"))
