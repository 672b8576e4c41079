"""Load balancers and listeners.

Every change leaves the load balancer PENDING_* (claimed with a compare-and-set, see
:mod:`twinstack.core.loadbalancer.provisioning`) for the worker to settle once the amphorae applied it; the
API sends the worker word after committing. A new object starts PENDING_CREATE, a changed one
PENDING_UPDATE, a deleted one PENDING_DELETE (its row goes when the amphorae no longer hold it).

A load balancer takes a VIP port on the subnet (or network, or an existing port) it names, made by
the network service for the load balancer's project (device_owner ``Octavia``): its address is the
VIP. Deleting a load balancer with listeners or pools is refused (409) unless ``cascade``, which
removes the whole tree; the VIP port goes with the load balancer if it was made for it, and a port the user
gave (``vip_port_id``) is only released, as Octavia does. Two listeners of one load balancer never share a protocol
and port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.config import NetworkSettings
from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Conflict
from twinstack.core.loadbalancer import status
from twinstack.core.loadbalancer.errors import ObjectNotFound
from twinstack.core.loadbalancer.provisioning import check_settled, claim
from twinstack.core.network import ipam, ports, subnets
from twinstack.core.network.common import acting_for, new_uuid, now, owner_for, owns
from twinstack.core.policy import Credentials
from twinstack.db.models.loadbalancer import HealthMonitorRow, ListenerRow, LoadBalancerRow, MemberRow, PoolRow

VIP_OWNER = "Octavia"
LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "UDP", "TERMINATED_HTTPS", "SCTP", "PROMETHEUS")


@dataclass
class LoadBalancerSpec:
    name: str = ""
    description: str = ""
    project_id: str | None = None
    admin_state_up: bool = True
    vip_subnet_id: str | None = None
    vip_network_id: str | None = None
    vip_port_id: str | None = None
    vip_address: str | None = None
    provider: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class ListenerSpec:
    loadbalancer_id: str
    protocol: str
    protocol_port: int
    name: str = ""
    description: str = ""
    connection_limit: int = -1
    default_pool_id: str | None = None
    admin_state_up: bool = True
    tags: list[str] = field(default_factory=list)


def _visible(creds: Credentials, row: Any) -> bool:
    return owns(creds, row)


def get_loadbalancer(session: Session, creds: Credentials, lb_id: str) -> LoadBalancerRow:
    row = session.get(LoadBalancerRow, lb_id)
    if row is None or not _visible(creds, row):
        raise ObjectNotFound("Load Balancer", lb_id)
    return row


def list_loadbalancers(session: Session, creds: Credentials) -> list[LoadBalancerRow]:
    statement = select(LoadBalancerRow).order_by(LoadBalancerRow.created_at, LoadBalancerRow.id)
    if not creds.is_admin:
        statement = statement.where(LoadBalancerRow.project_id == (creds.project_id or ""))
    return list(session.scalars(statement))


def create_loadbalancer(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials,
                        spec: LoadBalancerSpec) -> LoadBalancerRow:
    """The load balancer and its VIP port, PENDING_CREATE (OFFLINE) until the amphorae hold it."""
    if spec.provider not in (None, "amphora", "octavia"):
        raise BadRequest(f"Provider '{spec.provider}' is not enabled.")
    project_id = owner_for(creds, spec.project_id)
    lb_id = new_uuid()
    service = acting_for(project_id)
    if spec.vip_port_id is not None:
        port = ports.get_port(session, creds, spec.vip_port_id)
        if port.device_id or port.device_owner:
            raise Conflict(f"Port {port.id} is already in use.")
        port.device_id, port.device_owner = f"lb-{lb_id}", VIP_OWNER
    else:
        fixed: list[ipam.FixedIp] | None
        if spec.vip_subnet_id is not None:
            subnet = subnets.get_subnet(session, creds, spec.vip_subnet_id)
            network_id = subnet.network_id
            fixed = [ipam.FixedIp(subnet.id, spec.vip_address)]
        elif spec.vip_network_id is not None:
            network_id = spec.vip_network_id
            fixed = [ipam.FixedIp(None, spec.vip_address)] if spec.vip_address else None
        else:
            raise BadRequest("Validation failure: VIP must contain one of: vip_port_id, vip_network_id, "
                             "vip_subnet_id.")
        port = ports.create_port(session, clock, settings, service, ports.PortSpec(
            network_id=network_id, device_id=f"lb-{lb_id}", device_owner=VIP_OWNER, fixed_ips=fixed,
            security_groups=[]), service=True)
    held = ipam.allocations_of(session, [port.id])[port.id]
    if not held:
        raise BadRequest(f"Validation failure: the VIP port {port.id} has no address.")
    moment = now(clock)
    row = LoadBalancerRow(id=lb_id, project_id=project_id, name=spec.name, description=spec.description,
                          admin_state_up=spec.admin_state_up, provisioning_status=status.PENDING_CREATE,
                          operating_status=status.OFFLINE, vip_port_id=port.id,
                          vip_address=held[0].ip_address, vip_subnet_id=held[0].subnet_id,
                          vip_network_id=port.network_id, vip_port_owned=spec.vip_port_id is None,
                          provider="amphora", tags=list(spec.tags),
                          created_at=moment, updated_at=moment)
    session.add(row)
    session.flush()
    return row


def update_loadbalancer(session: Session, clock: Clock, creds: Credentials, lb_id: str,
                        changes: Mapping[str, Any]) -> LoadBalancerRow:
    row = get_loadbalancer(session, creds, lb_id)
    claim(session, row)
    for name in ("name", "description", "admin_state_up", "tags"):
        if name in changes:
            setattr(row, name, changes[name])
    row.updated_at = now(clock)
    session.flush()
    return row


def children(session: Session, lb_id: str) -> tuple[list[ListenerRow], list[PoolRow]]:
    listeners = list(session.scalars(select(ListenerRow).where(ListenerRow.loadbalancer_id == lb_id)
                                     .order_by(ListenerRow.created_at, ListenerRow.id)))
    pools = list(session.scalars(select(PoolRow).where(PoolRow.loadbalancer_id == lb_id)
                                 .order_by(PoolRow.created_at, PoolRow.id)))
    return listeners, pools


def delete_loadbalancer(session: Session, creds: Credentials, lb_id: str, cascade: bool = False) -> None:
    """PENDING_DELETE, with the whole tree if ``cascade``; the worker removes the rows and the VIP port it made."""
    row = get_loadbalancer(session, creds, lb_id)
    listeners, pools = children(session, lb_id)
    if (listeners or pools) and not cascade:
        raise BadRequest(f"Cannot delete Load Balancer {lb_id} - it has children")
    claim(session, row, status.PENDING_DELETE)
    pool_ids = [p.id for p in pools]
    members = list(session.scalars(select(MemberRow).where(MemberRow.pool_id.in_(pool_ids)))) if pool_ids else []
    monitors = list(session.scalars(select(HealthMonitorRow).where(HealthMonitorRow.pool_id.in_(pool_ids)))
                    ) if pool_ids else []
    tree: list[Any] = [*listeners, *pools, *members, *monitors]
    for child in tree:
        child.provisioning_status = status.PENDING_DELETE
    session.flush()


def get_listener(session: Session, creds: Credentials, listener_id: str) -> ListenerRow:
    row = session.get(ListenerRow, listener_id)
    if row is None or not _visible(creds, row):
        raise ObjectNotFound("Listener", listener_id)
    return row


def list_listeners(session: Session, creds: Credentials) -> list[ListenerRow]:
    statement = select(ListenerRow).order_by(ListenerRow.created_at, ListenerRow.id)
    if not creds.is_admin:
        statement = statement.where(ListenerRow.project_id == (creds.project_id or ""))
    return list(session.scalars(statement))


def create_listener(session: Session, clock: Clock, creds: Credentials, spec: ListenerSpec) -> ListenerRow:
    lb = get_loadbalancer(session, creds, spec.loadbalancer_id)
    claim(session, lb)
    if spec.protocol not in LISTENER_PROTOCOLS:
        raise BadRequest(f"Invalid input for field/attribute protocol. Value: '{spec.protocol}'. Value should be "
                         f"one of: {', '.join(LISTENER_PROTOCOLS)}")
    if not 1 <= spec.protocol_port <= 65535:
        raise BadRequest(f"Invalid input for field/attribute protocol_port. Value: '{spec.protocol_port}'.")
    udp = spec.protocol in ("UDP", "SCTP")
    for other in children(session, lb.id)[0]:
        if other.protocol_port == spec.protocol_port and (other.protocol in ("UDP", "SCTP")) == udp:
            raise Conflict(f"Another Listener on this Load Balancer is already using protocol {spec.protocol} "
                           f"and protocol_port {spec.protocol_port}")
    moment = now(clock)
    row = ListenerRow(id=new_uuid(), project_id=lb.project_id, loadbalancer_id=lb.id, name=spec.name,
                      description=spec.description, protocol=spec.protocol, protocol_port=spec.protocol_port,
                      connection_limit=spec.connection_limit, default_pool_id=None,
                      admin_state_up=spec.admin_state_up, provisioning_status=status.PENDING_CREATE,
                      operating_status=status.OFFLINE, tags=list(spec.tags), created_at=moment, updated_at=moment)
    session.add(row)
    session.flush()
    if spec.default_pool_id is not None:
        set_default_pool(session, creds, row, spec.default_pool_id)
    lb.updated_at = moment
    return row


def set_default_pool(session: Session, creds: Credentials, listener: ListenerRow, pool_id: str | None) -> None:
    if pool_id is None:
        listener.default_pool_id = None
        return
    pool = session.get(PoolRow, pool_id)
    if pool is None or not _visible(creds, pool) or pool.loadbalancer_id != listener.loadbalancer_id:
        raise ObjectNotFound("Pool", pool_id)
    if pool.listener_id not in (None, listener.id):
        raise Conflict(f"Pool {pool_id} is already in use by another listener.")
    pool.listener_id = listener.id
    listener.default_pool_id = pool.id


def update_listener(session: Session, clock: Clock, creds: Credentials, listener_id: str,
                    changes: Mapping[str, Any]) -> ListenerRow:
    row = get_listener(session, creds, listener_id)
    claim(session, get_loadbalancer(session, creds, row.loadbalancer_id))
    check_settled("Listener", row)
    for name in ("name", "description", "admin_state_up", "connection_limit", "tags"):
        if name in changes:
            setattr(row, name, changes[name])
    if "default_pool_id" in changes:
        set_default_pool(session, creds, row, changes["default_pool_id"])
    row.provisioning_status = status.PENDING_UPDATE
    row.updated_at = now(clock)
    session.flush()
    return row


def delete_listener(session: Session, creds: Credentials, listener_id: str) -> str:
    """PENDING_DELETE (the worker removes it); its load balancer's id, for the worker's word."""
    row = get_listener(session, creds, listener_id)
    claim(session, get_loadbalancer(session, creds, row.loadbalancer_id))
    check_settled("Listener", row)
    row.provisioning_status = status.PENDING_DELETE
    session.flush()
    return row.loadbalancer_id
