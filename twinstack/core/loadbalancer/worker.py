"""The load-balancing worker (Octavia's controller worker): turns PENDING_* changes into data-plane commands
and settles them when the amphora driver answers.

* ProvisionLoadBalancer (from the API): read the load balancer's tree as it should now be (what is
  PENDING_DELETE left out) and send it whole to the amphora driver in ApplyLoadBalancer; a load balancer
  PENDING_DELETE is sent as ``deleted``. The apply's id (derived from the request's) and its sending time are
  recorded on the load balancer first. Nothing PENDING_*, or an apply already out for this change: a repeated
  request, ignored (a load balancer has one change in flight, so an apply out is this change's).
* LoadBalancerApplied (from the driver): only the answer to the apply in flight counts (a late or duplicate
  answer to an older one changes nothing). Objects PENDING_CREATE or PENDING_UPDATE become ACTIVE, those
  PENDING_DELETE are removed (a deleted load balancer with the VIP port it made), and operating statuses
  follow the tree. A failure is Octavia's revert: the changed objects go to ERROR, and what was only marked
  PENDING_UPDATE because a change under it was pending (the load balancer, a listener over a changed pool, a
  pool over a changed member) goes back to ACTIVE; a failed create, update or delete of the load balancer
  itself leaves it in ERROR.
* a sweep at start-up and then every ``resend_seconds``: a PENDING_* load balancer whose apply was never sent
  (the API died or its send failed after committing, a request lost) is sent one; one unanswered that long is
  sent again (the driver answers a repeat from memory); one unanswered past ``apply_timeout`` fails as above.
  At start-up this picks up what a dead worker left.

Handlers run one at a time on the runtime; each is its own short transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.config import LoadBalancerSettings
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
from twinstack.rpc.messages import Envelope, Message, new_command_id

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
    def __init__(self, runtime: Runtime, bus: Bus, sessions: SessionFactory,
                 settings: LoadBalancerSettings | None = None) -> None:
        self.runtime = runtime
        self.bus = bus
        self.sessions = sessions
        self.settings = settings or LoadBalancerSettings()

    def start(self) -> None:
        self.bus.subscribe(LOADBALANCER_TOPIC, typed(self.handle))
        self.sweep()

    def handle(self, message: Message, _envelope: Envelope) -> None:
        if isinstance(message, ProvisionLoadBalancer):
            self.provision(message.loadbalancer_id, apply_id(message.command_id))
        elif isinstance(message, LoadBalancerApplied):
            if not message.ok:
                LOG.warning("load balancer %s was not applied: %s", message.loadbalancer_id, message.fault)
            self.settle(message.loadbalancer_id, message.ok, message.command_id)

    def provision(self, lb_id: str, command_id: str) -> None:
        with self.sessions() as session, session.begin():
            lb = session.get(LoadBalancerRow, lb_id, with_for_update=True)
            if lb is None:
                return
            tree = Tree(session, lb)
            if not tree.pending() or lb.command_id is not None:
                return  # a repeated request: settled already, or its apply is out (the sweep resends it)
            command = self._record(tree, command_id)
        send(self.bus, AMPHORA_TOPIC, command)

    def _record(self, tree: Tree, command_id: str) -> ApplyLoadBalancer:
        """Committed before sending: if the send fails, the sweep finds the apply recorded and resends it. The
        callers hold the load balancer's row lock, so of two workers (two conductors) one records the apply."""
        tree.lb.command_id, tree.lb.sent_at = command_id, now(self.runtime.clock)
        return configuration(tree, command_id)

    def sweep(self) -> None:
        """Unstick each PENDING_* load balancer (see the module's docstring); then again after the interval."""
        try:
            with self.sessions() as session:
                stuck = list(session.scalars(select(LoadBalancerRow.id).where(
                    LoadBalancerRow.provisioning_status.in_(status.PENDING))))
            for lb_id in stuck:
                self._unstick(lb_id)
        except Exception:  # the next sweep tries again; a sweep that stopped would leave them stuck for good
            LOG.exception("the load-balancer sweep failed")
        finally:
            self.runtime.call_later(self.settings.resend_seconds, self.sweep)

    def _unstick(self, lb_id: str) -> None:
        moment = now(self.runtime.clock)
        with self.sessions() as session, session.begin():
            lb = session.get(LoadBalancerRow, lb_id, with_for_update=True)
            if lb is None or lb.provisioning_status not in status.PENDING:
                return
            tree = Tree(session, lb)
            if lb.command_id is None or lb.sent_at is None:
                LOG.warning("load balancer %s was %s with no apply sent: sending one", lb_id, lb.provisioning_status)
                command = self._record(tree, apply_id(new_command_id()))
            elif (moment - lb.sent_at).total_seconds() >= self.settings.apply_timeout:
                LOG.warning("load balancer %s: apply %s unanswered past the timeout", lb_id, lb.command_id)
                self._failed(tree)
                self._settled(session, tree, moment)
                return
            elif (moment - lb.sent_at).total_seconds() >= self.settings.resend_seconds:
                command = configuration(tree, lb.command_id)
            else:
                return
        send(self.bus, AMPHORA_TOPIC, command)

    def settle(self, lb_id: str, ok: bool, command_id: str) -> None:
        with self.sessions() as session, session.begin():
            lb = session.get(LoadBalancerRow, lb_id, with_for_update=True)
            if lb is None:
                return
            if lb.command_id != command_id:
                LOG.info("load balancer %s: answer to %s ignored (in flight: %s)", lb_id, command_id, lb.command_id)
                return  # a late or repeated answer to another apply
            tree = Tree(session, lb)
            if ok and lb.provisioning_status == status.PENDING_DELETE:
                self._remove(session, tree)
                return
            if ok:
                self._done(session, tree)
            else:
                self._failed(tree)
            self._settled(session, tree, now(self.runtime.clock))

    @staticmethod
    def _settled(session: Session, tree: Tree, moment: dt.datetime) -> None:
        tree.lb.command_id, tree.lb.sent_at = None, None
        for row in tree.rows():
            if row in session:
                row.updated_at = moment

    @staticmethod
    def _remove(session: Session, tree: Tree) -> None:
        """The load balancer is gone from the data plane: its rows go, children first, then the VIP port it
        made (a port the user gave is released, as Octavia leaves it)."""
        port_id, project_id, owned = tree.lb.vip_port_id, tree.lb.project_id, tree.lb.vip_port_owned
        for row in tree.rows():
            session.delete(row)
            session.flush()
        port = session.get(PortRow, port_id) if port_id is not None else None
        if port is None:
            return
        if owned:
            ports.delete_port(session, acting_for(project_id), port.id, service=True)
        else:
            port.device_id, port.device_owner = "", ""

    @staticmethod
    def _done(session: Session, tree: Tree) -> None:
        gone_pools = {p.id for p in tree.pools if p.provisioning_status == status.PENDING_DELETE}
        for row in tree.rows():
            if row.provisioning_status == status.PENDING_DELETE or getattr(row, "pool_id", None) in gone_pools:
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
        """Octavia's revert: what changed goes to ERROR; what was PENDING_UPDATE only for a change under it
        (a pending child) goes back to ACTIVE. The load balancer's own change (nothing under it pending) leaves
        it in ERROR."""
        def pending(rows: Any) -> bool:
            return any(row.provisioning_status in status.PENDING for row in rows)

        lb = tree.lb
        over_change: set[int] = set()
        for pool in tree.pools:
            if pending(m for m in tree.members if m.pool_id == pool.id) or pending(
                    m for m in tree.monitors if m.pool_id == pool.id):
                over_change.add(id(pool))
        for listener in tree.listeners:
            its_pools = [p for p in tree.pools if listener.id == p.listener_id or p.id == listener.default_pool_id]
            if pending(its_pools) or any(id(p) in over_change for p in its_pools):
                over_change.add(id(listener))
        if pending(row for row in tree.rows() if row is not lb):
            over_change.add(id(lb))
        for row in tree.rows():
            if row.provisioning_status not in status.PENDING:
                continue
            back = row.provisioning_status == status.PENDING_UPDATE and id(row) in over_change
            row.provisioning_status = status.ACTIVE if back else status.ERROR
        if lb.provisioning_status == status.ERROR:
            lb.operating_status = status.ERROR


def apply_id(request_id: str) -> str:
    """The apply's id, from the request's: a redelivered request names the same apply."""
    return f"{request_id}.apply"
