"""A port's bindings to hosts (Neutron's ``binding-extended``): one ACTIVE, where the port is plugged and
``binding:host_id`` points, and any number of INACTIVE ones readied elsewhere.

Nova live-migrates with them: before the guest moves, an inactive binding on the destination (whose agent
plugs the port there); once the guest runs there, that binding activated (the source's turns inactive) and
the source's deleted; if the move fails, the destination's deleted. The API (admins only, as in Neutron) and
the conductor's live migration (:class:`twinstack.core.network.instance_ports.SqlNetworking`) share this.

The active binding is the port's own fields (``binding_host_id``, ``binding_vnic_type``, ``binding_profile``);
the inactive ones are rows of ``net_port_inactive_bindings``. Activating swaps the two, in one transaction.
Only the inactive bindings may be deleted (the active one goes with ``binding:host_id`` cleared).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from twinstack.core.clock import Clock
from twinstack.core.network import ports
from twinstack.core.network.common import touch
from twinstack.core.network.errors import (
    BadRequestWithType,
    PortBindingAlreadyActive,
    PortBindingAlreadyExists,
    PortBindingNotFound,
)
from twinstack.core.policy import Credentials
from twinstack.db.models.network import InactiveBindingRow, PortRow

ACTIVE, INACTIVE = "ACTIVE", "INACTIVE"
COMPUTE_PREFIX = "compute:"


@dataclass(frozen=True)
class Binding:
    host: str
    status: str
    vnic_type: str = "normal"
    profile: dict[str, Any] = field(default_factory=dict)


def _active(port: PortRow) -> Binding | None:
    if not port.binding_host_id:
        return None
    return Binding(port.binding_host_id, ACTIVE, port.binding_vnic_type, dict(port.binding_profile))


def _inactive(session: Session, port_id: str) -> list[InactiveBindingRow]:
    return list(
        session.scalars(
            select(InactiveBindingRow).where(InactiveBindingRow.port_id == port_id).order_by(InactiveBindingRow.host)
        )
    )


def _compute_port(session: Session, creds: Credentials, port_id: str) -> PortRow:
    port = ports.get_port(session, creds, port_id)
    if not port.device_owner.startswith(COMPUTE_PREFIX):
        raise BadRequestWithType(f"Invalid port {port_id}. Operation only valid on compute ports")
    return port


def list_bindings(session: Session, creds: Credentials, port_id: str) -> list[Binding]:
    """The port's bindings: the active one first, then the inactive ones by host."""
    port = ports.get_port(session, creds, port_id)
    active = _active(port)
    return ([active] if active else []) + [
        Binding(r.host, INACTIVE, r.vnic_type, dict(r.profile)) for r in _inactive(session, port.id)
    ]


def get_binding(session: Session, creds: Credentials, port_id: str, host: str) -> Binding:
    for binding in list_bindings(session, creds, port_id):
        if binding.host == host:
            return binding
    raise PortBindingNotFound(port_id, host)


def create_binding(
    session: Session,
    clock: Clock,
    creds: Credentials,
    port_id: str,
    host: str,
    vnic_type: str = "normal",
    profile: dict[str, Any] | None = None,
) -> Binding:
    """A binding of a compute port on ``host``: ACTIVE if the port is bound nowhere yet, else INACTIVE."""
    port = _compute_port(session, creds, port_id)
    if host == port.binding_host_id or session.get(InactiveBindingRow, (port.id, host)) is not None:
        raise PortBindingAlreadyExists(port.id, host)
    if not port.binding_host_id:
        port.binding_host_id, port.binding_vnic_type, port.binding_profile = host, vnic_type, dict(profile or {})
        port.status = "ACTIVE" if port.admin_state_up else "DOWN"
        touch(port, clock)
        session.flush()
        return Binding(host, ACTIVE, vnic_type, dict(profile or {}))
    session.add(InactiveBindingRow(port_id=port.id, host=host, vnic_type=vnic_type, profile=dict(profile or {})))
    session.flush()
    return Binding(host, INACTIVE, vnic_type, dict(profile or {}))


def _swap(session: Session, clock: Clock | None, port: PortRow, row: InactiveBindingRow) -> None:
    """``row`` becomes the port's active binding; the active one (if any) becomes inactive in its place. The
    conductor passes no clock: as when it binds a port to a host, the port's revision stays as it was."""
    old = _active(port)
    host, vnic_type, profile = row.host, row.vnic_type, dict(row.profile)
    session.delete(row)
    session.flush()
    if old is not None:
        session.add(InactiveBindingRow(port_id=port.id, host=old.host, vnic_type=old.vnic_type, profile=old.profile))
    port.binding_host_id, port.binding_vnic_type, port.binding_profile = host, vnic_type, profile
    port.status = "ACTIVE" if port.admin_state_up else "DOWN"
    if clock is not None:
        touch(port, clock)
    session.flush()


def activate(session: Session, clock: Clock, creds: Credentials, port_id: str, host: str) -> Binding:
    """Make the inactive binding on ``host`` the active one (the active one turns inactive)."""
    port = _compute_port(session, creds, port_id)
    if host == port.binding_host_id:
        raise PortBindingAlreadyActive(port.id, host)
    row = session.get(InactiveBindingRow, (port.id, host))
    if row is None:
        raise PortBindingNotFound(port.id, host)
    _swap(session, clock, port, row)
    return Binding(host, ACTIVE, port.binding_vnic_type, dict(port.binding_profile))


def delete_binding(session: Session, creds: Credentials, port_id: str, host: str) -> None:
    """Delete the inactive binding on ``host`` (the active one is not found here, as in Neutron)."""
    port = ports.get_port(session, creds, port_id)
    row = session.get(InactiveBindingRow, (port.id, host))
    if row is None:
        raise PortBindingNotFound(port.id, host)
    session.delete(row)
    session.flush()


def hosts_readied(session: Session, port_ids: list[str]) -> dict[str, list[str]]:
    """Each port's inactive binding hosts (where a re-plug must reach too while a live migration runs)."""
    found: dict[str, list[str]] = {p: [] for p in port_ids}
    if port_ids:
        for row in session.scalars(
            select(InactiveBindingRow).where(InactiveBindingRow.port_id.in_(port_ids)).order_by(InactiveBindingRow.host)
        ):
            found[row.port_id].append(row.host)
    return found


# the conductor's side, over every port of a server


def ready_on(session: Session, port_rows: list[PortRow], host: str) -> None:
    """An inactive binding on ``host`` for each port not bound there yet (idempotent)."""
    for port in port_rows:
        if port.binding_host_id != host and session.get(InactiveBindingRow, (port.id, host)) is None:
            session.add(
                InactiveBindingRow(
                    port_id=port.id, host=host, vnic_type=port.binding_vnic_type, profile=dict(port.binding_profile)
                )
            )
    session.flush()


def move_to(session: Session, port_rows: list[PortRow], host: str) -> None:
    """Activate each port's binding on ``host`` (made active at once if none was readied) and delete the one it
    leaves, as Nova does once a live-migrated guest runs on ``host``."""
    for port in port_rows:
        if port.binding_host_id == host:
            continue
        row = session.get(InactiveBindingRow, (port.id, host))
        left = port.binding_host_id
        if row is None:
            port.binding_host_id, port.status = host, "ACTIVE" if port.admin_state_up else "DOWN"
        else:
            _swap(session, None, port, row)
        if left:
            session.execute(
                delete(InactiveBindingRow).where(InactiveBindingRow.port_id == port.id, InactiveBindingRow.host == left)
            )
    session.flush()


def abandon(session: Session, port_ids: list[str], host: str | None = None) -> None:
    """Delete the ports' inactive bindings on ``host`` (every host if None): a move that failed, a port unbound."""
    statement = delete(InactiveBindingRow).where(InactiveBindingRow.port_id.in_(port_ids))
    if host is not None:
        statement = statement.where(InactiveBindingRow.host == host)
    session.execute(statement)
    session.flush()
