"""How a change reaches the data plane: the API marks it PENDING_* and asks the worker to provision it.

Octavia's rule, kept here: a load balancer has at most one change in flight. Every create, update or delete of
the load balancer or of anything under it first moves the load balancer from ACTIVE (or ERROR) to a PENDING_*
status with a compare-and-set in SQL, so two racing requests cannot both pass, and one that finds it PENDING_*
is refused with ImmutableObject (409). The worker (:mod:`twinstack.core.loadbalancer.worker`) settles it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from twinstack.core.loadbalancer import status
from twinstack.core.loadbalancer.errors import ImmutableObject, ProvisioningUnavailable
from twinstack.db.models.loadbalancer import LoadBalancerRow
from twinstack.rpc.bus import Bus, send
from twinstack.rpc.loadbalancer import LOADBALANCER_TOPIC, ProvisionLoadBalancer

LOG = logging.getLogger(__name__)


@dataclass
class LoadBalancerService:
    """The API's way to the workers: None for ``bus`` means no control plane runs (changes are refused, 503)."""

    bus: Bus | None = None

    def require(self) -> Bus:
        """Call before recording a change: without a worker it would stay PENDING_* for ever."""
        if self.bus is None:
            raise ProvisioningUnavailable()
        return self.bus

    def provision(self, loadbalancer_id: str) -> None:
        """Call once the change is committed: the worker reads it from the database. A failed send is only
        logged: the change is recorded (the caller's answer says so) and the worker's sweep sends its apply."""
        bus = self.require()
        try:
            send(bus, LOADBALANCER_TOPIC, ProvisionLoadBalancer(loadbalancer_id=loadbalancer_id))
        except Exception:
            LOG.warning("could not ask the worker to provision load balancer %s; its sweep will", loadbalancer_id,
                        exc_info=True)


def claim(session: Session, lb: LoadBalancerRow, pending: str = status.PENDING_UPDATE) -> None:
    """Move ``lb`` to ``pending`` if it is ACTIVE or ERROR, atomically; else ImmutableObject."""
    done = session.execute(update(LoadBalancerRow).where(
        LoadBalancerRow.id == lb.id, LoadBalancerRow.provisioning_status.in_(status.MUTABLE))
        .values(provisioning_status=pending))
    if getattr(done, "rowcount", 0) != 1:
        raise ImmutableObject("Load Balancer", lb.id)
    lb.provisioning_status = pending


def check_settled(kind: str, row: Any) -> None:
    """An object still PENDING_* cannot change either (its load balancer's claim covers the rest)."""
    if row.provisioning_status in status.PENDING:
        raise ImmutableObject(kind, row.id)
