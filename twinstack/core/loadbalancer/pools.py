"""Pools, their members and their health monitor.

A pool belongs to a load balancer, and to a listener if it is that listener's default pool. A
member is an address and port (unique in its pool); its operating status is ONLINE once the pool
has a health monitor (the simulated backends always answer), NO_MONITOR before. A pool has at most
one health monitor (409 for a second).

Each change claims the pool's load balancer (PENDING_UPDATE) and leaves the object PENDING_*: the worker
settles it once the amphorae applied it, as for listeners (:mod:`twinstack.core.loadbalancer.loadbalancers`).
As Octavia, the objects above the change are marked PENDING_UPDATE too: the pool's listeners for a pool's
change, the pool and its listeners for a member's or health monitor's; they go back to ACTIVE whether the
change succeeds or fails (only the changed object goes to ERROR). Deleting a pool deletes its members and
health monitor with it once applied; they stay as they are meanwhile (a failed delete leaves them alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Conflict
from twinstack.core.loadbalancer import loadbalancers, status
from twinstack.core.loadbalancer.errors import ObjectNotFound
from twinstack.core.loadbalancer.provisioning import check_settled, claim
from twinstack.core.network import addresses, subnets
from twinstack.core.network.common import new_uuid, now, owns
from twinstack.core.policy import Credentials
from twinstack.db.models.loadbalancer import HealthMonitorRow, ListenerRow, MemberRow, PoolRow

ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT")
POOL_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "UDP", "PROXY", "PROXYV2", "SCTP")
MONITOR_TYPES = ("HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP")


@dataclass
class PoolSpec:
    protocol: str
    lb_algorithm: str
    loadbalancer_id: str | None = None
    listener_id: str | None = None
    name: str = ""
    description: str = ""
    session_persistence: dict[str, Any] | None = None
    admin_state_up: bool = True
    tags: list[str] = field(default_factory=list)


@dataclass
class MemberSpec:
    address: str
    protocol_port: int
    name: str = ""
    weight: int = 1
    subnet_id: str | None = None
    backup: bool = False
    monitor_address: str | None = None
    monitor_port: int | None = None
    admin_state_up: bool = True
    tags: list[str] = field(default_factory=list)


@dataclass
class MonitorSpec:
    pool_id: str
    type: str
    delay: int
    timeout: int
    max_retries: int
    max_retries_down: int = 3
    name: str = ""
    http_method: str | None = None
    url_path: str | None = None
    expected_codes: str | None = None
    admin_state_up: bool = True
    tags: list[str] = field(default_factory=list)


def _one(session: Session, creds: Credentials, model: Any, kind: str, object_id: str) -> Any:
    row = session.get(model, object_id)
    if row is None or not owns(creds, row):
        raise ObjectNotFound(kind, object_id)
    return row


def _all(session: Session, creds: Credentials, model: Any, *where: Any) -> list[Any]:
    statement = select(model).where(*where).order_by(model.created_at, model.id)
    if not creds.is_admin:
        statement = statement.where(model.project_id == (creds.project_id or ""))
    return list(session.scalars(statement))


def get_pool(session: Session, creds: Credentials, pool_id: str) -> PoolRow:
    row: PoolRow = _one(session, creds, PoolRow, "Pool", pool_id)
    return row


def list_pools(session: Session, creds: Credentials) -> list[PoolRow]:
    return _all(session, creds, PoolRow)


def create_pool(session: Session, clock: Clock, creds: Credentials, spec: PoolSpec) -> PoolRow:
    if spec.lb_algorithm not in ALGORITHMS:
        raise BadRequest(f"Invalid input for field/attribute lb_algorithm. Value: '{spec.lb_algorithm}'.")
    if spec.protocol not in POOL_PROTOCOLS:
        raise BadRequest(f"Invalid input for field/attribute protocol. Value: '{spec.protocol}'.")
    listener: ListenerRow | None = None
    if spec.listener_id is not None:
        listener = loadbalancers.get_listener(session, creds, spec.listener_id)
        if listener.default_pool_id is not None:
            raise Conflict(f"Listener {listener.id} already has default pool {listener.default_pool_id}.")
        lb_id = listener.loadbalancer_id
    elif spec.loadbalancer_id is not None:
        lb_id = spec.loadbalancer_id
    else:
        raise BadRequest("Validation failure: Either a loadbalancer_id or listener_id must be specified.")
    lb = loadbalancers.get_loadbalancer(session, creds, lb_id)
    claim(session, lb)
    moment = now(clock)
    row = PoolRow(id=new_uuid(), project_id=lb.project_id, loadbalancer_id=lb.id, listener_id=None, name=spec.name,
                  description=spec.description, protocol=spec.protocol, lb_algorithm=spec.lb_algorithm,
                  session_persistence=spec.session_persistence, admin_state_up=spec.admin_state_up,
                  provisioning_status=status.PENDING_CREATE, operating_status=status.OFFLINE,
                  tags=list(spec.tags), created_at=moment, updated_at=moment)
    session.add(row)
    session.flush()
    if listener is not None:
        loadbalancers.set_default_pool(session, creds, listener, row.id)
    _mark_above(session, row, with_pool=False)
    session.flush()
    return row


def update_pool(session: Session, clock: Clock, creds: Credentials, pool_id: str,
                changes: Mapping[str, Any]) -> PoolRow:
    row = get_pool(session, creds, pool_id)
    if "lb_algorithm" in changes and changes["lb_algorithm"] not in ALGORITHMS:
        raise BadRequest(f"Invalid input for field/attribute lb_algorithm. Value: '{changes['lb_algorithm']}'.")
    _claim_for(session, creds, "Pool", row, row)
    for name in ("name", "description", "admin_state_up", "lb_algorithm", "session_persistence", "tags"):
        if name in changes:
            setattr(row, name, changes[name])
    row.provisioning_status = status.PENDING_UPDATE
    _mark_above(session, row, with_pool=False)
    row.updated_at = now(clock)
    session.flush()
    return row


def delete_pool(session: Session, creds: Credentials, pool_id: str) -> str:
    """PENDING_DELETE with its members and monitor; its load balancer's id, for the worker's word."""
    row = get_pool(session, creds, pool_id)
    _claim_for(session, creds, "Pool", row, row)
    row.provisioning_status = status.PENDING_DELETE
    _mark_above(session, row, with_pool=False)
    session.flush()
    return row.loadbalancer_id


def _claim_for(session: Session, creds: Credentials, kind: str, row: Any, pool: PoolRow) -> None:
    """Claim the load balancer (as Octavia, the first refusal names it), then refuse a change to ``row`` (of
    ``pool``) while it or its pool is still PENDING_*."""
    claim(session, loadbalancers.get_loadbalancer(session, creds, pool.loadbalancer_id))
    check_settled("Pool", pool)
    check_settled(kind, row)


def _mark_above(session: Session, pool: PoolRow, with_pool: bool = True) -> None:
    """Octavia's marks on the parents of a change: the pool (for a change under it) and its listeners."""
    if with_pool:
        pool.provisioning_status = status.PENDING_UPDATE
    for listener in session.scalars(select(ListenerRow).where(or_(ListenerRow.default_pool_id == pool.id,
                                                                  ListenerRow.id == pool.listener_id))):
        listener.provisioning_status = status.PENDING_UPDATE


def monitor_of(session: Session, pool_ids: list[str]) -> dict[str, str]:
    if not pool_ids:
        return {}
    return {m.pool_id: m.id for m in session.scalars(select(HealthMonitorRow)
                                                     .where(HealthMonitorRow.pool_id.in_(pool_ids)))}


def _member_status(session: Session, member: MemberRow) -> str:
    monitored = bool(monitor_of(session, [member.pool_id]))
    return status.operating(member.admin_state_up, status.ONLINE if monitored else status.NO_MONITOR)


def get_member(session: Session, creds: Credentials, pool_id: str, member_id: str) -> MemberRow:
    get_pool(session, creds, pool_id)
    row: MemberRow = _one(session, creds, MemberRow, "Member", member_id)
    if row.pool_id != pool_id:
        raise ObjectNotFound("Member", member_id)
    return row


def list_members(session: Session, creds: Credentials, pool_id: str) -> list[MemberRow]:
    get_pool(session, creds, pool_id)
    return _all(session, creds, MemberRow, MemberRow.pool_id == pool_id)


def member_ids(session: Session, pool_id: str) -> list[str]:
    return list(session.scalars(select(MemberRow.id).where(MemberRow.pool_id == pool_id)
                                .order_by(MemberRow.created_at, MemberRow.id)))


def create_member(session: Session, clock: Clock, creds: Credentials, pool_id: str, spec: MemberSpec) -> MemberRow:
    pool = get_pool(session, creds, pool_id)
    address = str(addresses.parse_address(spec.address, "address"))
    _claim_for(session, creds, "Pool", pool, pool)
    if not 1 <= spec.protocol_port <= 65535:
        raise BadRequest(f"Invalid input for field/attribute protocol_port. Value: '{spec.protocol_port}'.")
    if not 0 <= spec.weight <= 256:
        raise BadRequest(f"Invalid input for field/attribute weight. Value: '{spec.weight}'.")
    if spec.subnet_id is not None:
        subnets.get_subnet(session, creds, spec.subnet_id)
    clash = session.scalar(select(MemberRow.id).where(MemberRow.pool_id == pool.id, MemberRow.address == address,
                                                      MemberRow.protocol_port == spec.protocol_port))
    if clash is not None:
        raise Conflict(f"Another member on this pool is already using ip {address} on protocol_port "
                       f"{spec.protocol_port}")
    moment = now(clock)
    row = MemberRow(id=new_uuid(), project_id=pool.project_id, pool_id=pool.id, name=spec.name, address=address,
                    protocol_port=spec.protocol_port, weight=spec.weight, subnet_id=spec.subnet_id,
                    backup=spec.backup, monitor_address=spec.monitor_address, monitor_port=spec.monitor_port,
                    admin_state_up=spec.admin_state_up, provisioning_status=status.PENDING_CREATE, operating_status="",
                    tags=list(spec.tags), created_at=moment, updated_at=moment)
    row.operating_status = _member_status(session, row)
    session.add(row)
    _mark_above(session, pool)
    session.flush()
    return row


def update_member(session: Session, clock: Clock, creds: Credentials, pool_id: str, member_id: str,
                  changes: Mapping[str, Any]) -> MemberRow:
    row = get_member(session, creds, pool_id, member_id)
    if "weight" in changes and not 0 <= changes["weight"] <= 256:
        raise BadRequest(f"Invalid input for field/attribute weight. Value: '{changes['weight']}'.")
    _claim_for(session, creds, "Member", row, get_pool(session, creds, pool_id))
    for name in ("name", "weight", "backup", "monitor_address", "monitor_port", "admin_state_up", "tags"):
        if name in changes:
            setattr(row, name, changes[name])
    row.provisioning_status = status.PENDING_UPDATE
    _mark_above(session, get_pool(session, creds, pool_id))
    row.updated_at = now(clock)
    session.flush()
    return row


def delete_member(session: Session, creds: Credentials, pool_id: str, member_id: str) -> str:
    row = get_member(session, creds, pool_id, member_id)
    pool = get_pool(session, creds, pool_id)
    _claim_for(session, creds, "Member", row, pool)
    row.provisioning_status = status.PENDING_DELETE
    _mark_above(session, pool)
    session.flush()
    return pool.loadbalancer_id


def get_monitor(session: Session, creds: Credentials, monitor_id: str) -> HealthMonitorRow:
    row: HealthMonitorRow = _one(session, creds, HealthMonitorRow, "Health Monitor", monitor_id)
    return row


def list_monitors(session: Session, creds: Credentials) -> list[HealthMonitorRow]:
    return _all(session, creds, HealthMonitorRow)


def create_monitor(session: Session, clock: Clock, creds: Credentials, spec: MonitorSpec) -> HealthMonitorRow:
    pool = get_pool(session, creds, spec.pool_id)
    if spec.type not in MONITOR_TYPES:
        raise BadRequest(f"Invalid input for field/attribute type. Value: '{spec.type}'.")
    if spec.timeout > spec.delay:
        raise BadRequest("Validation failure: The timeout value must be less than or equal to the delay.")
    if not 1 <= spec.max_retries <= 10:
        raise BadRequest(f"Invalid input for field/attribute max_retries. Value: '{spec.max_retries}'.")
    if monitor_of(session, [pool.id]):
        raise Conflict("This pool already has a health monitor")
    _claim_for(session, creds, "Pool", pool, pool)
    http = spec.type in ("HTTP", "HTTPS")
    moment = now(clock)
    row = HealthMonitorRow(id=new_uuid(), project_id=pool.project_id, pool_id=pool.id, name=spec.name,
                           type=spec.type, delay=spec.delay, timeout=spec.timeout, max_retries=spec.max_retries,
                           max_retries_down=spec.max_retries_down,
                           http_method=(spec.http_method or "GET") if http else None,
                           url_path=(spec.url_path or "/") if http else None,
                           expected_codes=(spec.expected_codes or "200") if http else None,
                           admin_state_up=spec.admin_state_up, provisioning_status=status.PENDING_CREATE,
                           operating_status=status.OFFLINE, tags=list(spec.tags), created_at=moment,
                           updated_at=moment)
    session.add(row)
    _mark_above(session, pool)
    session.flush()
    return row


def update_monitor(session: Session, clock: Clock, creds: Credentials, monitor_id: str,
                   changes: Mapping[str, Any]) -> HealthMonitorRow:
    row = get_monitor(session, creds, monitor_id)
    _claim_for(session, creds, "Health Monitor", row, get_pool(session, creds, row.pool_id))
    for name in ("name", "delay", "timeout", "max_retries", "max_retries_down", "http_method", "url_path",
                 "expected_codes", "admin_state_up", "tags"):
        if name in changes:
            setattr(row, name, changes[name])
    if row.timeout > row.delay:
        raise BadRequest("Validation failure: The timeout value must be less than or equal to the delay.")
    row.provisioning_status = status.PENDING_UPDATE
    _mark_above(session, get_pool(session, creds, row.pool_id))
    row.updated_at = now(clock)
    session.flush()
    return row


def delete_monitor(session: Session, creds: Credentials, monitor_id: str) -> str:
    row = get_monitor(session, creds, monitor_id)
    pool = get_pool(session, creds, row.pool_id)
    _claim_for(session, creds, "Health Monitor", row, pool)
    row.provisioning_status = status.PENDING_DELETE
    _mark_above(session, pool)
    session.flush()
    return pool.loadbalancer_id
