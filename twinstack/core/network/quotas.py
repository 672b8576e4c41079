"""Neutron's quotas: per-project limits over defaults, usage counted from the rows that exist.

Usage is counted, never tracked, so a delete frees quota at once and nothing drifts. The check
runs inside the creating transaction after :func:`~twinstack.db.stores.network_locks.lock_keys`
took the project's ``quota:`` key, so two requests racing for the last slot cannot both pass.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest
from twinstack.core.network.errors import OverQuota
from twinstack.db.models.network import (
    FloatingIpRow,
    NetworkQuotaRow,
    NetworkRow,
    PortRow,
    RouterRow,
    SecurityGroupRow,
    SecurityGroupRuleRow,
    SubnetPoolRow,
    SubnetRow,
)

UNLIMITED = -1

DEFAULT_LIMITS: dict[str, int] = {
    "network": 100,
    "subnet": 100,
    "port": 500,
    "router": 10,
    "floatingip": 50,
    "security_group": 10,
    "security_group_rule": 100,
    "subnetpool": UNLIMITED,
    "rbac_policy": 10,
}
"""Neutron's [quotas] defaults."""

COUNTED: dict[str, type[NetworkRow | SubnetRow | PortRow | RouterRow | FloatingIpRow | SecurityGroupRow
                        | SecurityGroupRuleRow | SubnetPoolRow]] = {
    "network": NetworkRow,
    "subnet": SubnetRow,
    "port": PortRow,
    "router": RouterRow,
    "floatingip": FloatingIpRow,
    "security_group": SecurityGroupRow,
    "security_group_rule": SecurityGroupRuleRow,
    "subnetpool": SubnetPoolRow,
}


def quota_key(project_id: str) -> str:
    """The lock key a transaction holds while it counts and grows the project's usage."""
    return f"quota:{project_id}"


def limits_of(session: Session, project_id: str) -> dict[str, int]:
    rows = session.execute(select(NetworkQuotaRow.resource, NetworkQuotaRow.hard_limit)
                           .where(NetworkQuotaRow.project_id == project_id))
    return {**DEFAULT_LIMITS, **{resource: limit for resource, limit in rows}}


UNCOUNTED_PORT_OWNERS = ("network:floatingip", "network:router_gateway")
"""Ports Neutron gives no project (a floating IP's, a router gateway's): they do not use the port quota."""


def used(session: Session, project_id: str, resource: str) -> int:
    model = COUNTED.get(resource)
    if model is None:
        return 0
    statement = select(func.count()).select_from(model).where(model.project_id == project_id)
    if model is PortRow:
        statement = statement.where(PortRow.device_owner.not_in(UNCOUNTED_PORT_OWNERS))
    return session.scalar(statement) or 0


def usage(session: Session, project_id: str) -> dict[str, int]:
    return {resource: used(session, project_id, resource) for resource in DEFAULT_LIMITS}


def check(session: Session, project_id: str, resource: str, adding: int = 1) -> None:
    """Raise OverQuota unless ``adding`` more of ``resource`` fit the project's limit (hold its quota key)."""
    limit = limits_of(session, project_id)[resource]
    if limit != UNLIMITED and used(session, project_id, resource) + adding > limit:
        raise OverQuota(resource)


def set_limits(session: Session, project_id: str, limits: Mapping[str, int]) -> dict[str, int]:
    """Set some of the project's limits (Neutron lets a limit fall below usage); returns them all."""
    unknown = sorted(set(limits) - set(DEFAULT_LIMITS))
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    for resource, limit in limits.items():
        if limit < UNLIMITED:
            raise BadRequest(f"Invalid input for {resource}. Reason: '{limit}' should be greater than or equal "
                             "to -1.")
        row = session.get(NetworkQuotaRow, (project_id, resource))
        if row is None:
            session.add(NetworkQuotaRow(project_id=project_id, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit
    session.flush()
    return limits_of(session, project_id)


def check_not_below_usage(session: Session, project_id: str, limits: Mapping[str, int]) -> None:
    """What ``check_limit`` asks: no new limit below what the project already uses."""
    for resource, limit in limits.items():
        in_use = used(session, project_id, resource)
        if limit != UNLIMITED and limit < in_use:
            raise BadRequest(f"Quota limit {limit} for {resource} must be greater than or equal to already used "
                             f"and reserved {in_use}.")


def reset(session: Session, project_id: str) -> None:
    session.execute(delete(NetworkQuotaRow).where(NetworkQuotaRow.project_id == project_id))


def projects_with_limits(session: Session) -> list[str]:
    return list(session.scalars(select(NetworkQuotaRow.project_id).distinct()))
