"""A server's security groups as Nova keeps them: the groups of its ports, changed on every port at once.

Nova holds no security groups of its own once Neutron serves them: ``addSecurityGroup`` adds the group to
each port of the server, ``removeSecurityGroup`` takes it from each port that has it, and the server's
``security_groups`` (in its views and under ``/servers/{id}/os-security-groups``) are read back from its
ports. The refusals are Nova's (its ``nova.network.security_group_api``):

* a group neither an id the caller may see nor a name in the caller's project: 404 "Security group X is not
  found for project P"; a name two of the project's groups share: 409;
* a server with no port: 404 "instance_id X could not be found as device id on any ports";
* a port without port security or without an address: 400 (SecurityGroupCannotBeApplied); a port that
  already has the group: 400 (Neutron refuses the duplicate, Nova passes the 400 on);
* removing a group none of the ports has: 404 "Security group X not associated with the instance Y".

Unlike Nova (one port update after another), all ports change in one transaction: a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.core.network import ipam, ports, security_groups
from twinstack.core.network.common import owns
from twinstack.core.policy import Credentials
from twinstack.db.models.network import PortRow, PortSecurityGroupRow, SecurityGroupRow, SecurityGroupRuleRow

COMPUTE_OWNER = "compute:nova"
CANNOT_APPLY = "Network requires port_security_enabled and subnet associated in order to apply security groups."


def find_group(session: Session, creds: Credentials, name_or_id: str) -> SecurityGroupRow:
    """The group ``name_or_id`` names, as Nova finds it in Neutron: by id among the groups the caller may see,
    else by name among the caller's project's groups."""
    row = session.get(SecurityGroupRow, name_or_id)
    if row is not None and owns(creds, row):
        return row
    named = list(
        session.scalars(
            select(SecurityGroupRow).where(
                SecurityGroupRow.name == name_or_id, SecurityGroupRow.project_id == (creds.project_id or "")
            )
        )
    )
    if len(named) > 1:
        raise Conflict(f"Multiple security_group matches found for name '{name_or_id}', use an ID to be more specific.")
    if not named:
        raise NotFound(f"Security group {name_or_id} is not found for project {creds.project_id}")
    return named[0]


def _server_ports(session: Session, instance_id: str) -> list[PortRow]:
    found = [p for p in ports.ports_of_device(session, instance_id) if p.device_owner == COMPUTE_OWNER]
    if not found:
        raise NotFound(f"instance_id {instance_id} could not be found as device id on any ports")
    return found


def add_to_server(session: Session, creds: Credentials, instance_id: str, name_or_id: str) -> list[str]:
    """Nova's addSecurityGroup: the group joins every port of the server. Answers the ports changed."""
    group = find_group(session, creds, name_or_id)
    server_ports = _server_ports(session, instance_id)
    held = ipam.allocations_of(session, [p.id for p in server_ports])
    groups = security_groups.groups_of_ports(session, [p.id for p in server_ports])
    for port in server_ports:
        if not port.port_security_enabled or not held[port.id]:
            raise BadRequest(CANNOT_APPLY)
        if group.id in groups[port.id]:
            raise BadRequest(f"Duplicate items in the list: '{group.id}'")
        security_groups.check_one_statefulness(session, [*groups[port.id], group.id])
    session.add_all([PortSecurityGroupRow(port_id=p.id, security_group_id=group.id) for p in server_ports])
    session.flush()
    return [p.id for p in server_ports]


def remove_from_server(session: Session, creds: Credentials, instance_id: str, name_or_id: str) -> list[str]:
    """Nova's removeSecurityGroup: the group leaves every port of the server that has it (404 if none has it).
    Answers the ports changed."""
    group = find_group(session, creds, name_or_id)
    port_ids = [p.id for p in _server_ports(session, instance_id)]
    having = sorted(
        session.scalars(
            select(PortSecurityGroupRow.port_id).where(
                PortSecurityGroupRow.port_id.in_(port_ids), PortSecurityGroupRow.security_group_id == group.id
            )
        )
    )
    if not having:
        raise NotFound(f"Security group {name_or_id} not associated with the instance {instance_id}")
    session.execute(
        delete(PortSecurityGroupRow).where(
            PortSecurityGroupRow.port_id.in_(having), PortSecurityGroupRow.security_group_id == group.id
        )
    )
    session.flush()
    return having


def _groups_by_server(
    session: Session, instance_ids: Sequence[str]
) -> tuple[dict[str, list[str]], dict[str, SecurityGroupRow]]:
    """Each server's ports' group ids, port by port, by name (a group on two ports counts twice, as Nova lists
    it)."""
    rows = list(
        session.execute(
            select(PortRow.device_id, PortSecurityGroupRow.security_group_id)
            .join(PortSecurityGroupRow, PortSecurityGroupRow.port_id == PortRow.id)
            .join(SecurityGroupRow, SecurityGroupRow.id == PortSecurityGroupRow.security_group_id)
            .where(PortRow.device_id.in_(list(instance_ids)), PortRow.device_owner == COMPUTE_OWNER)
            .order_by(PortRow.created_at, PortRow.id, SecurityGroupRow.name, SecurityGroupRow.id)
        )
    )
    found: dict[str, list[str]] = {}
    if not rows:
        return found, {}
    for device_id, group_id in rows:
        found.setdefault(device_id, []).append(group_id)
    wanted = {g for _device, g in rows}
    groups = {g.id: g for g in session.scalars(select(SecurityGroupRow).where(SecurityGroupRow.id.in_(wanted)))}
    return found, groups


def names_by_server(session: Session, instance_ids: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """Nova's ``security_groups`` of each server view: ``[{"name"}]`` per group of each port (the id for a
    group without a name). A server without any is left out: Nova then omits the field."""
    if not instance_ids:
        return {}
    by_server, groups = _groups_by_server(session, instance_ids)
    return {server: [{"name": groups[g].name or g} for g in group_ids] for server, group_ids in by_server.items()}


def detailed_for_server(session: Session, instance_id: str) -> list[dict[str, Any]]:
    """``GET /servers/{id}/os-security-groups``: each group of each port in Nova's (nova-network era) shape, its
    ingress rules only, sorted by project then name."""
    by_server, groups = _groups_by_server(session, [instance_id])
    group_ids = by_server.get(instance_id, [])
    rules = security_groups.rules_of(session, sorted(set(group_ids)))
    remotes = {r.remote_group_id for rs in rules.values() for r in rs if r.remote_group_id}
    remote_rows = {g.id: g for g in session.scalars(select(SecurityGroupRow).where(SecurityGroupRow.id.in_(remotes)))}
    shown = []
    for group_id in group_ids:
        group = groups[group_id]
        shown.append(
            {
                "id": group.id,
                "name": group.name,
                "description": group.description,
                "tenant_id": group.project_id,
                "rules": [_nova_rule(rule, remote_rows) for rule in rules[group_id] if rule.direction == "ingress"],
            }
        )
    return sorted(shown, key=lambda g: (g["tenant_id"], g["name"]))


def _nova_rule(rule: SecurityGroupRuleRow, remote_rows: dict[str, SecurityGroupRow]) -> dict[str, Any]:
    """A Neutron rule as Nova shows it: a protocol without ports is the whole range (1-65535 for tcp and udp,
    -1 otherwise); a remote group is named, a prefix is an ``ip_range``."""
    low, high = rule.port_range_min, rule.port_range_max
    if rule.protocol and low is None and high is None:
        low, high = (1, 65535) if rule.protocol.upper() in ("TCP", "UDP") else (-1, -1)
    remote = remote_rows.get(rule.remote_group_id) if rule.remote_group_id else None
    return {
        "id": rule.id,
        "parent_group_id": rule.security_group_id,
        "ip_protocol": rule.protocol,
        "from_port": low,
        "to_port": high,
        "group": {"name": remote.name, "tenant_id": remote.project_id} if remote is not None else {},
        "ip_range": {"cidr": rule.remote_ip_prefix} if remote is None else {},
    }
