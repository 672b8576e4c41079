"""Networks: create with a segment, who sees which, update, and delete only when no port is in use.

Visibility follows Neutron's default policy: admins see every network; anyone else sees their own
project's, shared ones and external ones (so they can route to them and take floating IPs). A
network someone cannot see is not found; one they see but do not own cannot be changed (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from twinstack.config import NetworkSettings
from twinstack.core.clock import Clock
from twinstack.core.errors import Forbidden
from twinstack.core.network import quotas, segments
from twinstack.core.network.common import new_uuid, now, owner_for, owns, touch
from twinstack.core.network.errors import DefaultExternalNetworkExists, InvalidInput, NetworkInUse, NetworkNotFound
from twinstack.core.policy import Credentials
from twinstack.db.models.network import NetworkRow, PortRow
from twinstack.db.stores.network_locks import lock_keys

AUTO_DELETED_OWNERS = ("network:dhcp",)
"""Ports the service made for itself, deleted with their network instead of blocking its deletion."""


@dataclass(frozen=True)
class NetworkSpec:
    name: str = ""
    description: str = ""
    project_id: str | None = None
    admin_state_up: bool = True
    shared: bool = False
    external: bool = False
    is_default: bool = False
    mtu: int | None = None
    port_security_enabled: bool = True
    availability_zone_hints: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    provider: segments.ProviderRequest = field(default_factory=segments.ProviderRequest)


def visible(creds: Credentials) -> ColumnElement[bool] | None:
    """The networks the caller may see, as a WHERE clause (None: all of them)."""
    if creds.is_admin:
        return None
    conditions: list[ColumnElement[bool]] = [NetworkRow.shared.is_(True), NetworkRow.external.is_(True)]
    if creds.project_id:
        conditions.append(NetworkRow.project_id == creds.project_id)
    return or_(*conditions)


def can_see(creds: Credentials, row: NetworkRow) -> bool:
    return owns(creds, row) or row.shared or row.external


def get_network(session: Session, creds: Credentials, network_id: str) -> NetworkRow:
    row = session.get(NetworkRow, network_id)
    if row is None or not can_see(creds, row):
        raise NetworkNotFound(network_id)
    return row


def get_owned(session: Session, creds: Credentials, network_id: str) -> NetworkRow:
    """The network, if the caller may change it: 404 if unseen, 403 if seen (shared) but not theirs."""
    row = get_network(session, creds, network_id)
    if not owns(creds, row):
        raise Forbidden(f"Network {network_id} belongs to another project.")
    return row


def list_networks(session: Session, creds: Credentials, *where: ColumnElement[bool]) -> list[NetworkRow]:
    statement = select(NetworkRow).where(*where).order_by(NetworkRow.created_at, NetworkRow.id)
    clause = visible(creds)
    if clause is not None:
        statement = statement.where(clause)
    return list(session.scalars(statement))


DEFAULT_EXTERNAL_KEY = "default-external-network"


def default_external(session: Session, except_id: str | None = None) -> NetworkRow | None:
    """The deployment's default external network (``is_default``): where get-me-a-network routes to."""
    statement = select(NetworkRow).where(NetworkRow.external.is_(True), NetworkRow.is_default.is_(True))
    if except_id is not None:
        statement = statement.where(NetworkRow.id != except_id)
    return session.scalar(statement.order_by(NetworkRow.created_at, NetworkRow.id).limit(1))


def _check_no_default_external(session: Session, except_id: str | None) -> None:
    """Neutron keeps one default external network at a time (the caller holds :data:`DEFAULT_EXTERNAL_KEY`)."""
    other = default_external(session, except_id)
    if other is not None:
        raise DefaultExternalNetworkExists(other.id)


def create_network(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials,
                   spec: NetworkSpec) -> NetworkRow:
    """One network with its segment, counted against the project's ``network`` quota."""
    project_id = owner_for(creds, spec.project_id)
    lock_keys(session, [quotas.quota_key(project_id), segments.LOCK_KEY,
                        *([DEFAULT_EXTERNAL_KEY] if spec.external and spec.is_default else [])])
    quotas.check(session, project_id, "network")
    if spec.external and spec.is_default:
        _check_no_default_external(session, None)
    moment = now(clock)
    row = NetworkRow(id=new_uuid(), project_id=project_id, name=spec.name, description=spec.description,
                     admin_state_up=spec.admin_state_up, status="ACTIVE", shared=spec.shared,
                     external=spec.external, is_default=spec.is_default, mtu=0,
                     port_security_enabled=spec.port_security_enabled,
                     availability_zone_hints=list(spec.availability_zone_hints), tags=list(spec.tags),
                     revision_number=0, created_at=moment, updated_at=moment)
    session.add(row)
    session.flush()
    segment = segments.allocate(session, settings, row.id, spec.provider)
    largest = segments.mtu_for(settings, segment.network_type)
    if spec.mtu is not None and spec.mtu > largest:
        raise InvalidInput(f"Requested MTU is too big, maximum is {largest}")
    row.mtu = spec.mtu if spec.mtu is not None else largest
    return row


UPDATABLE = ("name", "description", "admin_state_up", "shared", "external", "is_default", "mtu",
             "port_security_enabled")


def update_network(session: Session, clock: Clock, settings: NetworkSettings, creds: Credentials,
                   network_id: str, changes: Mapping[str, Any]) -> NetworkRow:
    row = get_owned(session, creds, network_id)
    if "mtu" in changes:
        segment = segments.segments_of(session, [row.id]).get(row.id)
        largest = segments.mtu_for(settings, segment.network_type if segment else settings.tenant_network_type)
        if changes["mtu"] > largest:
            raise InvalidInput(f"Requested MTU is too big, maximum is {largest}")
    for name, value in changes.items():
        if name not in UPDATABLE:
            raise InvalidInput(f"Cannot update read-only attribute {name}")
        setattr(row, name, value)
    if row.external and row.is_default and ("is_default" in changes or "external" in changes):
        lock_keys(session, [DEFAULT_EXTERNAL_KEY])
        _check_no_default_external(session, row.id)
    touch(row, clock)
    session.flush()
    return row


def delete_network(session: Session, creds: Credentials, network_id: str) -> None:
    """Refused (NetworkInUse) while any port but the service's own is on it; subnets and segment go with it."""
    row = get_owned(session, creds, network_id)
    lock_keys(session, [f"network:{network_id}"])
    in_use = session.scalar(select(PortRow.id).where(PortRow.network_id == network_id,
                                                     PortRow.device_owner.not_in(AUTO_DELETED_OWNERS)).limit(1))
    if in_use is not None:
        raise NetworkInUse(network_id)
    session.delete(row)
    session.flush()
