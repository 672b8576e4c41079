"""Security groups and their rules, and each project's ``default`` group.

A project's default group is made on its first use (listing groups, creating a group or a port),
with Neutron's default rules: all egress, and ingress from members of the same group, for IPv4
and IPv6. Two first uses racing make one group: the second finds the first's row (the primary key
of ``net_default_security_groups`` decides). A group still bound to a port cannot be deleted; the
default group can only be deleted by an admin (Neutron deletes it with its project).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twinstack.core.clock import Clock
from twinstack.core.errors import BadRequest, Conflict
from twinstack.core.network import quotas
from twinstack.core.network.common import new_uuid, now, owner_for, owns, touch
from twinstack.core.network.errors import (
    SecurityGroupCannotRemoveDefault,
    SecurityGroupConflict,
    SecurityGroupInUse,
    SecurityGroupNotFound,
    SecurityGroupRuleExists,
    SecurityGroupRuleNotFound,
)
from twinstack.core.policy import Credentials
from twinstack.db.models.network import (
    DefaultSecurityGroupRow,
    PortSecurityGroupRow,
    SecurityGroupRow,
    SecurityGroupRuleRow,
)
from twinstack.db.session import SessionFactory
from twinstack.db.stores.network_locks import lock_keys

DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "Default security group"
PROTOCOL_NUMBERS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "icmpv6": 58, "igmp": 2,
                    "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59,
                    "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6,
                    "udp": 17, "udplite": 136, "vrrp": 112}
PORT_PROTOCOLS = ("tcp", "udp", "sctp", "udplite", "dccp", "6", "17", "132", "136", "33")
ICMP_PROTOCOLS = ("icmp", "icmpv6", "ipv6-icmp", "1", "58")


@dataclass(frozen=True)
class RuleSpec:
    security_group_id: str
    direction: str
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None
    description: str = ""
    project_id: str | None = None


def visible(creds: Credentials) -> ColumnElement[bool] | None:
    if creds.is_admin:
        return None
    return SecurityGroupRow.project_id == (creds.project_id or "")


def get_group(session: Session, creds: Credentials, group_id: str) -> SecurityGroupRow:
    row = session.get(SecurityGroupRow, group_id)
    if row is None or not owns(creds, row):
        raise SecurityGroupNotFound(group_id)
    return row


def list_groups(session: Session, creds: Credentials) -> list[SecurityGroupRow]:
    statement = select(SecurityGroupRow).order_by(SecurityGroupRow.created_at, SecurityGroupRow.id)
    clause = visible(creds)
    if clause is not None:
        statement = statement.where(clause)
    return list(session.scalars(statement))


def default_ids(session: Session) -> set[str]:
    return set(session.scalars(select(DefaultSecurityGroupRow.security_group_id)))


def _rule(group: SecurityGroupRow, moment: Any, direction: str, ethertype: str,
          remote_group_id: str | None = None) -> SecurityGroupRuleRow:
    return SecurityGroupRuleRow(id=new_uuid(), project_id=group.project_id, security_group_id=group.id,
                                direction=direction, ethertype=ethertype, protocol=None, port_range_min=None,
                                port_range_max=None, remote_ip_prefix=None, remote_group_id=remote_group_id,
                                description="", revision_number=0, created_at=moment, updated_at=moment)


def _new_group(session: Session, clock: Clock, project_id: str, name: str, description: str,
               stateful: bool = True) -> SecurityGroupRow:
    moment = now(clock)
    group = SecurityGroupRow(id=new_uuid(), project_id=project_id, name=name, description=description,
                             stateful=stateful, tags=[], revision_number=0, created_at=moment, updated_at=moment)
    session.add(group)
    session.flush()
    session.add_all([_rule(group, moment, "egress", "IPv4"), _rule(group, moment, "egress", "IPv6")])
    return group


def ensure_default(sessions: SessionFactory, clock: Clock, project_id: str) -> str:
    """Idempotent, in its own transaction: the id of the project's default group, made if missing."""
    with sessions() as session:
        existing = session.get(DefaultSecurityGroupRow, project_id)
        if existing is not None:
            return existing.security_group_id
    try:
        with sessions() as session, session.begin():
            lock_keys(session, [quotas.quota_key(project_id)])
            existing = session.get(DefaultSecurityGroupRow, project_id)
            if existing is not None:
                return existing.security_group_id
            group = _new_group(session, clock, project_id, DEFAULT_NAME, DEFAULT_DESCRIPTION)
            moment = group.created_at
            session.add_all([_rule(group, moment, "ingress", "IPv4", group.id),
                             _rule(group, moment, "ingress", "IPv6", group.id)])
            session.add(DefaultSecurityGroupRow(project_id=project_id, security_group_id=group.id))
            return group.id
    except IntegrityError:
        with sessions() as session:
            row = session.get(DefaultSecurityGroupRow, project_id)
            assert row is not None
            return row.security_group_id


def create_group(session: Session, clock: Clock, creds: Credentials, name: str, description: str = "",
                 stateful: bool = True, project_id: str | None = None, tags: Sequence[str] = ()) -> SecurityGroupRow:
    """A group with Neutron's two egress rules, counted against ``security_group`` and its rules' quota."""
    owner = owner_for(creds, project_id)
    if name == DEFAULT_NAME:
        raise Conflict("Default security group already exists.")
    lock_keys(session, [quotas.quota_key(owner)])
    quotas.check(session, owner, "security_group")
    quotas.check(session, owner, "security_group_rule", 2)
    group = _new_group(session, clock, owner, name, description, stateful)
    group.tags = list(tags)
    session.flush()
    return group


def update_group(session: Session, clock: Clock, creds: Credentials, group_id: str,
                 changes: Mapping[str, Any]) -> SecurityGroupRow:
    group = get_group(session, creds, group_id)
    if "name" in changes and group.id in default_ids(session) and changes["name"] != DEFAULT_NAME:
        raise Conflict("Updating default security group not allowed.")
    if "stateful" in changes and changes["stateful"] != group.stateful and session.scalar(
            select(PortSecurityGroupRow.port_id).where(PortSecurityGroupRow.security_group_id == group_id)
            .limit(1)) is not None:
        raise SecurityGroupInUse(group_id)  # Neutron: statefulness changes only on a group no port uses
    for name in ("name", "description", "stateful"):
        if name in changes:
            setattr(group, name, changes[name])
    touch(group, clock)
    session.flush()
    return group


def delete_group(session: Session, creds: Credentials, group_id: str) -> None:
    group = get_group(session, creds, group_id)
    if group.id in default_ids(session) and not creds.is_admin:
        raise SecurityGroupCannotRemoveDefault()
    if session.scalar(select(PortSecurityGroupRow.port_id)
                      .where(PortSecurityGroupRow.security_group_id == group_id).limit(1)) is not None:
        raise SecurityGroupInUse(group_id)
    session.delete(group)
    session.flush()


def statefulness(session: Session, group_ids: Sequence[str]) -> dict[str, bool]:
    """Whether each group tracks connections (stateful-security-group)."""
    if not group_ids:
        return {}
    return {gid: flag for gid, flag in session.execute(
        select(SecurityGroupRow.id, SecurityGroupRow.stateful).where(SecurityGroupRow.id.in_(group_ids)))}


def rules_of(session: Session, group_ids: Sequence[str]) -> dict[str, list[SecurityGroupRuleRow]]:
    found: dict[str, list[SecurityGroupRuleRow]] = {g: [] for g in group_ids}
    if group_ids:
        for rule in session.scalars(select(SecurityGroupRuleRow)
                                    .where(SecurityGroupRuleRow.security_group_id.in_(group_ids))
                                    .order_by(SecurityGroupRuleRow.created_at, SecurityGroupRuleRow.id)):
            found[rule.security_group_id].append(rule)
    return found


def get_rule(session: Session, creds: Credentials, rule_id: str) -> SecurityGroupRuleRow:
    rule = session.get(SecurityGroupRuleRow, rule_id)
    if rule is None or not owns(creds, rule):
        raise SecurityGroupRuleNotFound(rule_id)
    return rule


def list_rules(session: Session, creds: Credentials) -> list[SecurityGroupRuleRow]:
    statement = select(SecurityGroupRuleRow).order_by(SecurityGroupRuleRow.created_at, SecurityGroupRuleRow.id)
    if not creds.is_admin:
        statement = statement.where(SecurityGroupRuleRow.project_id == (creds.project_id or ""))
    return list(session.scalars(statement))


def _protocol(value: str | None) -> str | None:
    if value is None or value in ("any", "ANY", ""):
        return None
    lowered = value.lower()
    if lowered in PROTOCOL_NUMBERS:
        return lowered
    if lowered.isdigit() and 0 <= int(lowered) <= 255:
        return lowered
    raise BadRequest(f"Security group rule protocol {value} not supported. Only protocol values "
                     f"{sorted(PROTOCOL_NUMBERS)} and integer representations [0 to 255] are supported.")


def _check_ports(protocol: str | None, low: int | None, high: int | None) -> None:
    if low is None and high is None:
        return
    if protocol in PORT_PROTOCOLS:
        if low is None or high is None:
            raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max")
        if not 1 <= low <= 65535 or not 1 <= high <= 65535:
            raise BadRequest(f"Invalid value for port {low if not 1 <= low <= 65535 else high}.")
        if low > high:
            raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max")
    elif protocol in ICMP_PROTOCOLS:
        for field, value in (("type", low), ("code", high)):
            if value is not None and not 0 <= value <= 255:
                raise BadRequest(f"Invalid value for ICMP {field} (port-range-{'min' if field == 'type' else 'max'}) "
                                 f"{value}. It must be 0 to 255.")
        if low is None and high is not None:
            raise BadRequest(f"ICMP code (port-range-max) {high} is provided but ICMP type (port-range-min) is "
                             "missing.")
    else:
        raise BadRequest(f"Invalid protocol {protocol} for port range, only supported for TCP, UDP, UDPLITE, SCTP "
                         "and DCCP.")


def _protocol_number(protocol: str | None, ethertype: str) -> int | None:
    """A rule's protocol as its IP protocol number (ICMP, ``icmp`` or ``1``, on an IPv6 rule meaning ICMPv6, as
    Neutron reads it)."""
    if protocol is None:
        return None
    number = int(protocol) if protocol.isdigit() else PROTOCOL_NUMBERS[protocol]
    if number == PROTOCOL_NUMBERS["icmp"] and ethertype == "IPv6":
        return PROTOCOL_NUMBERS["ipv6-icmp"]
    return number


def _key(rule: SecurityGroupRuleRow) -> tuple[object, ...]:
    """What makes two rules the same rule, as Neutron compares them: the protocol by number (``tcp`` is ``6``), and a
    prefix covering every address (``0.0.0.0/0``, ``::/0``) as no prefix."""
    prefix = None if rule.remote_ip_prefix in ("0.0.0.0/0", "::/0") else rule.remote_ip_prefix
    return (rule.direction, rule.ethertype, _protocol_number(rule.protocol, rule.ethertype), rule.port_range_min,
            rule.port_range_max, prefix, rule.remote_group_id)


def _same(rule: SecurityGroupRuleRow, candidate: SecurityGroupRuleRow) -> bool:
    return _key(rule) == _key(candidate)


def create_rule(session: Session, clock: Clock, creds: Credentials, spec: RuleSpec) -> SecurityGroupRuleRow:
    """One rule, checked as Neutron does; an identical rule already in the group is a 409 naming it."""
    group = get_group(session, creds, spec.security_group_id)
    if spec.direction not in ("ingress", "egress"):
        raise BadRequest(f"Invalid input for direction. Reason: {spec.direction} is not in ['ingress', 'egress'].")
    if spec.ethertype not in ("IPv4", "IPv6"):
        raise BadRequest(f"Invalid input for ethertype. Reason: {spec.ethertype} is not in ['IPv4', 'IPv6'].")
    protocol = _protocol(spec.protocol)
    _check_ports(protocol, spec.port_range_min, spec.port_range_max)
    if spec.remote_ip_prefix is not None and spec.remote_group_id is not None:
        raise BadRequest("Only remote_ip_prefix or remote_group_id may be provided.")
    prefix = None
    if spec.remote_ip_prefix is not None:
        try:
            network = ipaddress.ip_network(spec.remote_ip_prefix, strict=False)
        except ValueError:
            raise BadRequest(f"Invalid input for remote_ip_prefix. Reason: '{spec.remote_ip_prefix}' is not a valid "
                             "IP subnet.") from None
        if f"IPv{network.version}" != spec.ethertype:
            raise BadRequest(f"Conflicting value ethertype {spec.ethertype} for CIDR {spec.remote_ip_prefix}")
        prefix = str(network)
    if spec.remote_group_id is not None:
        get_group(session, creds, spec.remote_group_id)
    lock_keys(session, [quotas.quota_key(group.project_id)])
    quotas.check(session, group.project_id, "security_group_rule")
    moment = now(clock)
    rule = SecurityGroupRuleRow(id=new_uuid(), project_id=group.project_id, security_group_id=group.id,
                                direction=spec.direction, ethertype=spec.ethertype, protocol=protocol,
                                port_range_min=spec.port_range_min, port_range_max=spec.port_range_max,
                                remote_ip_prefix=prefix, remote_group_id=spec.remote_group_id,
                                description=spec.description, revision_number=0, created_at=moment,
                                updated_at=moment)
    for existing in rules_of(session, [group.id])[group.id]:
        if _same(existing, rule):
            raise SecurityGroupRuleExists(existing.id)
    session.add(rule)
    touch(group, clock)
    session.flush()
    return rule


def delete_rule(session: Session, clock: Clock, creds: Credentials, rule_id: str) -> None:
    rule = get_rule(session, creds, rule_id)
    group = session.get(SecurityGroupRow, rule.security_group_id)
    session.delete(rule)
    if group is not None:
        touch(group, clock)
    session.flush()


def groups_of_ports(session: Session, port_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {p: [] for p in port_ids}
    if port_ids:
        for row in session.scalars(select(PortSecurityGroupRow)
                                   .where(PortSecurityGroupRow.port_id.in_(port_ids))):
            found[row.port_id].append(row.security_group_id)
    for groups in found.values():
        groups.sort()
    return found


def check_bindable(session: Session, project_id: str, creds: Credentials, group_ids: Sequence[str]) -> list[str]:
    """The groups a port of ``project_id`` may be bound to: its project's own (any, for an admin), all
    stateful or all stateless (:func:`check_one_statefulness`)."""
    unique = list(dict.fromkeys(group_ids))
    for group_id in unique:
        row = session.get(SecurityGroupRow, group_id)
        if row is None or (row.project_id != project_id and not creds.is_admin):
            raise SecurityGroupNotFound(group_id)
    check_one_statefulness(session, unique)
    return unique


def check_one_statefulness(session: Session, group_ids: Sequence[str]) -> None:
    """A port's groups are all stateful or all stateless, as Neutron insists (SecurityGroupConflict, 409): the
    agent could not both track a port's connections and not."""
    if len(set(statefulness(session, group_ids).values())) > 1:
        raise SecurityGroupConflict()
