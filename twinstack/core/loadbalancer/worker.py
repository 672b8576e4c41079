"""The load-balancing worker (Octavia's controller worker): turns PENDING_* changes into data-plane commands
and settles them when the amphora driver answers.

* ProvisionLoadBalancer (from the API): read the load balancer's tree as it should now be (what is
  PENDING_DELETE left out) and send it whole to the amphora driver in ApplyLoadBalancer; a load balancer
  PENDING_DELETE is sent as ``deleted``. Nothing PENDING_*: a repeated request, ignored.
* LoadBalancerApplied (from the driver): objects PENDING_CREATE or PENDING_UPDATE become ACTIVE, those
  PENDING_DELETE are removed (a deleted load balancer with its VIP port), and operating statuses follow the
  tree. A failure leaves what was pending in ERROR, and the load balancer ACTIVE again after a failed update
  (its other objects still work), ERROR after a failed create or delete.

Handlers run one at a time on the runtime; each is its own short transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.loadbalancer import status
from twinstack.core.network import ports
from twinstack.core.network.common import acting_for, now
from twinstack.core.runtime import Runtime
from twinstack.db.models.loadbalancer import HealthMonitorRow, ListenerRow, LoadBalancerRow, MemberRow, PoolRow
from twinstack.db.models.network import PortRow
from twinstack.db.session import SessionFactory
from twinstack.rpc.bus import Bus, send, typed
from twinstack.rpc.loadbalancer import (
    AMPHORA_TOPIC,
    LOADBALANCER_TOPIC,
    ApplyLoadBalancer,
    ListenerConfig,
    LoadBalancerApplied,
    MemberConfig,
    MonitorConfig,
    PoolConfig,
    ProvisionLoadBalancer,
)
from twinstack.rpc.messages import Envelope, Message

LOG = logging.getLogger(__name__)


class Tree:
    """A load balancer's rows, children first in the order they must go."""

    def __init__(self, session: Session, lb: LoadBalancerRow) -> None:
        self.lb = lb
        self.listeners = list(session.scalars(select(ListenerRow).where(ListenerRow.loadbalancer_id == lb.id)
                                              .order_by(ListenerRow.created_at, ListenerRow.id)))
        self.pools = list(session.scalars(select(PoolRow).where(PoolRow.loadbalancer_id == lb.id)
                                          .order_by(PoolRow.created_at, PoolRow.id)))
        pool_ids = [p.id for p in self.pools]
        self.members = list(session.scalars(select(MemberRow).where(MemberRow.pool_id.in_(pool_ids))
                                            .order_by(MemberRow.created_at, MemberRow.id))) if pool_ids else []
        self.monitors = list(session.scalars(select(HealthMonitorRow).where(HealthMonitorRow.pool_id.in_(pool_ids))
                                             )) if pool_ids else []

    def rows(self) -> list[Any]:
        return [*self.members, *self.monitors, *self.pools, *self.listeners, self.lb]

    def pending(self) -> bool:
        return any(row.provisioning_status in status.PENDING for row in self.rows())


def configuration(tree: Tree, command_id: str | None = None) -> ApplyLoadBalancer:
    """What the amphora should hold: everything but what is being deleted."""
    lb = tree.lb
    extra = {"command_id": command_id} if command_id else {}
    if lb.provisioning_status == status.PENDING_DELETE:
        return ApplyLoadBalancer(loadbalancer_id=lb.id, deleted=True, **extra)

    def kept(row: Any) -> bool:
        return bool(row.provisioning_status != status.PENDING_DELETE)

    monitors = {m.pool_id: m for m in tree.monitors if kept(m)}
    pools = [PoolConfig(
        id=p.id, protocol=p.protocol, lb_algorithm=p.lb_algorithm, admin_state_up=p.admin_state_up,
        members=[MemberConfig(id=m.id, address=m.address, protocol_port=m.protocol_port, weight=m.weight,
                              backup=m.backup, admin_state_up=m.admin_state_up)
                 for m in tree.members if m.pool_id == p.id and kept(m)],
        monitor=MonitorConfig(type=mon.type, delay=mon.delay, timeout=mon.timeout, max_retries=mon.max_retries,
                              url_path=mon.url_path, expected_codes=mon.expected_codes,
                              admin_state_up=mon.admin_state_up) if (mon := monitors.get(p.id)) else None)
        for p in tree.pools if kept(p)]
    pool_ids = {p.id for p in pools}
    listeners = [ListenerConfig(id=li.id, protocol=li.protocol, protocol_port=li.protocol_port,
                                connection_limit=li.connection_limit, admin_state_up=li.admin_state_up,
                                default_pool_id=li.default_pool_id if li.default_pool_id in pool_ids else None)
                 for li in tree.listeners if kept(li)]
    return ApplyLoadBalancer(loadbalancer_id=lb.id, vip_address=lb.vip_address or "", admin_state_up=lb.admin_state_up,
                             listeners=listeners, pools=pools, **extra)


class LoadBalancerWorker:
    def __init__(self, runtime: Runtime, bus: Bus, sessions: SessionFactory) -> None:
        self.runtime = runtime
        self.bus = bus
        self.sessions = sessions

    def start(self) -> None:
        self.bus.subscribe(LOADBALANCER_TOPIC, typed(self.handle))

    def handle(self, message: Message, _envelope: Envelope) -> None:
        if isinstance(message, ProvisionLoadBalancer):
            self.provision(message.loadbalancer_id)
        elif isinstance(message, LoadBalancerApplied):
            if not message.ok:
                LOG.warning("load balancer %s was not applied: %s", message.loadbalancer_id, message.fault)
            self.settle(message.loadbalancer_id, message.ok)

    def provision(self, lb_id: str) -> None:
        with self.sessions() as session:
            lb = session.get(LoadBalancerRow, lb_id)
            if lb is None:
                return
            tree = Tree(session, lb)
            if not tree.pending():
                return  # a repeated request, settled already
            command = configuration(tree)
        send(self.bus, AMPHORA_TOPIC, command)

    def settle(self, lb_id: str, ok: bool) -> None:
        with self.sessions() as session, session.begin():
            lb = session.get(LoadBalancerRow, lb_id)
            if lb is None:
                return
            tree = Tree(session, lb)
            if not tree.pending():
                return  # a repeated answer
            if ok and lb.provisioning_status == status.PENDING_DELETE:
                self._remove(session, tree)
                return
            if ok:
                self._done(session, tree)
            else:
                self._failed(tree)
            moment = now(self.runtime.clock)
            for row in tree.rows():
                if row in session:
                    row.updated_at = moment

    @staticmethod
    def _remove(session: Session, tree: Tree) -> None:
        """The load balancer is gone from the data plane: its rows go, children first, then its VIP port."""
        port_id, project_id = tree.lb.vip_port_id, tree.lb.project_id
        for row in tree.rows():
            session.delete(row)
            session.flush()
        if port_id is not None and session.get(PortRow, port_id) is not None:
            ports.delete_port(session, acting_for(project_id), port_id, service=True)

    @staticmethod
    def _done(session: Session, tree: Tree) -> None:
        for row in tree.rows():
            if row.provisioning_status == status.PENDING_DELETE:
                for listener in tree.listeners:
                    if listener.default_pool_id == row.id:
                        listener.default_pool_id = None
                for pool in tree.pools:
                    if pool.listener_id == row.id:
                        pool.listener_id = None
                session.flush()
                session.delete(row)
                session.flush()
            elif row.provisioning_status in status.PENDING:
                row.provisioning_status = status.ACTIVE
        monitored = {m.pool_id for m in tree.monitors if m in session}
        settled: list[Any] = [*tree.listeners, *tree.pools, *tree.monitors, tree.lb]
        for row in settled:
            if row in session:
                row.operating_status = status.operating(row.admin_state_up)
        for member in tree.members:
            if member in session:
                member.operating_status = status.operating(
                    member.admin_state_up, status.ONLINE if member.pool_id in monitored else status.NO_MONITOR)

    @staticmethod
    def _failed(tree: Tree) -> None:
        lb = tree.lb
        for row in tree.rows():
            if row is lb:
                continue
            if row.provisioning_status in status.PENDING:
                row.provisioning_status = status.ERROR
        lb.provisioning_status = status.ACTIVE if lb.provisioning_status == status.PENDING_UPDATE else status.ERROR
        lb.operating_status = status.ERROR if lb.provisioning_status == status.ERROR else lb.operating_status
