"""Security groups (``/v2.0/security-groups``) and their rules (``/v2.0/security-group-rules``).

Listing or creating groups first makes the caller's project its ``default`` group if it has none,
as Neutron does on first use.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.bodies import Attr
from twinstack.api.network.common import BodyDep, neutron_time, one, refresh_ports, standard
from twinstack.api.network.listing import respond
from twinstack.core.network import instance_ports, security_groups
from twinstack.core.network.common import check_tags
from twinstack.db.models.network import SecurityGroupRow, SecurityGroupRuleRow

router = APIRouter()


def protocol(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bodies.invalid(name, f"'{value}' is not a valid protocol")
    return str(value)


GROUP_ATTRIBUTES: dict[str, Attr] = {
    "name": Attr(bodies.string()),
    "description": Attr(bodies.string()),
    "stateful": Attr(bodies.boolean),
    "tags": Attr(bodies.list_of(bodies.string()), put=False),
}

RULE_ATTRIBUTES: dict[str, Attr] = {
    "security_group_id": Attr(bodies.string(36), put=False, required=True),
    "direction": Attr(bodies.string(8), put=False, required=True),
    "ethertype": Attr(bodies.string(8), put=False),
    "protocol": Attr(protocol, put=False),
    "port_range_min": Attr(bodies.nullable(bodies.integer()), put=False),
    "port_range_max": Attr(bodies.nullable(bodies.integer()), put=False),
    "remote_ip_prefix": Attr(bodies.nullable(bodies.string(64)), put=False),
    "remote_group_id": Attr(bodies.nullable(bodies.string(36)), put=False),
    "remote_address_group_id": Attr(bodies.nullable(bodies.string(36)), put=False),
    "description": Attr(bodies.string()),
}


def render_rule(rule: SecurityGroupRuleRow) -> dict[str, Any]:
    return {"id": rule.id, "security_group_id": rule.security_group_id, "direction": rule.direction,
            "ethertype": rule.ethertype, "protocol": rule.protocol, "port_range_min": rule.port_range_min,
            "port_range_max": rule.port_range_max, "remote_ip_prefix": rule.remote_ip_prefix,
            "remote_group_id": rule.remote_group_id, "remote_address_group_id": None,
            "description": rule.description, "tenant_id": rule.project_id, "project_id": rule.project_id,
            "created_at": neutron_time(rule.created_at), "updated_at": neutron_time(rule.updated_at),
            "revision_number": rule.revision_number}


def render_groups(session: Session, groups: list[SecurityGroupRow]) -> list[dict[str, Any]]:
    rules = security_groups.rules_of(session, [g.id for g in groups])
    return [{"id": g.id, "name": g.name, "stateful": g.stateful, "shared": False,
             "security_group_rules": [render_rule(r) for r in rules[g.id]], **standard(g)} for g in groups]


def ensure_default(caller: Caller, project_id: str | None = None) -> None:
    project = project_id or caller.creds.project_id
    if project:
        security_groups.ensure_default(caller.cloud.sessions, caller.cloud.clock, project)


@router.get("/v2.0/security-groups")
def list_groups(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_security_group")
    ensure_default(caller)
    with caller.cloud.sessions() as session:
        return respond(request, "security_groups",
                       render_groups(session, security_groups.list_groups(session, caller.creds)))


@router.get("/v2.0/security-groups/{group_id}")
def show_group(group_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_security_group")
    with caller.cloud.sessions() as session:
        group = security_groups.get_group(session, caller.creds, group_id)
        return one(request, "security_group", render_groups(session, [group])[0])


@router.post("/v2.0/security-groups", status_code=201)
def create_group(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("create_security_group")
    attrs = bodies.parse(body, "security_group", GROUP_ATTRIBUTES, caller.creds)
    ensure_default(caller, attrs.get("project_id"))
    cloud = caller.cloud
    with cloud.transaction() as session:
        group = security_groups.create_group(session, cloud.clock, caller.creds, attrs.get("name", ""),
                                             attrs.get("description", ""), attrs.get("stateful", True),
                                             attrs.get("project_id"), check_tags(attrs.get("tags", [])))
        return {"security_group": render_groups(session, [group])[0]}


@router.put("/v2.0/security-groups/{group_id}")
def update_group(group_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("update_security_group")
    changes = bodies.parse(body, "security_group", GROUP_ATTRIBUTES, caller.creds, update=True)
    with caller.cloud.transaction() as session:
        group = security_groups.update_group(session, caller.cloud.clock, caller.creds, group_id, changes)
        return {"security_group": render_groups(session, [group])[0]}


@router.delete("/v2.0/security-groups/{group_id}", status_code=204)
def delete_group(group_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_security_group")
    with caller.cloud.transaction() as session:
        security_groups.delete_group(session, caller.creds, group_id)
    return Response(status_code=204)


@router.get("/v2.0/security-group-rules")
def list_rules(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_security_group_rule")
    with caller.cloud.sessions() as session:
        return respond(request, "security_group_rules",
                       [render_rule(r) for r in security_groups.list_rules(session, caller.creds)])


@router.get("/v2.0/security-group-rules/{rule_id}")
def show_rule(rule_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_security_group_rule")
    with caller.cloud.sessions() as session:
        return one(request, "security_group_rule",
                   render_rule(security_groups.get_rule(session, caller.creds, rule_id)))


@router.post("/v2.0/security-group-rules", status_code=201)
def create_rule(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("create_security_group_rule")
    attrs = bodies.parse(body, "security_group_rule", RULE_ATTRIBUTES, caller.creds)
    if attrs.get("remote_address_group_id") is not None:
        raise bodies.invalid("remote_address_group_id", "address groups are not supported")
    spec = security_groups.RuleSpec(
        security_group_id=attrs["security_group_id"], direction=attrs["direction"],
        ethertype=attrs.get("ethertype", "IPv4"), protocol=attrs.get("protocol"),
        port_range_min=attrs.get("port_range_min"), port_range_max=attrs.get("port_range_max"),
        remote_ip_prefix=attrs.get("remote_ip_prefix"), remote_group_id=attrs.get("remote_group_id"),
        description=attrs.get("description", ""), project_id=attrs.get("project_id"))
    with caller.cloud.transaction() as session:
        rule = security_groups.create_rule(session, caller.cloud.clock, caller.creds, spec)
        answer = {"security_group_rule": render_rule(rule)}
        reached = instance_ports.members_of_groups(session, [rule.security_group_id])
    refresh_ports(caller, reached)
    return answer


@router.delete("/v2.0/security-group-rules/{rule_id}", status_code=204)
def delete_rule(rule_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_security_group_rule")
    with caller.cloud.transaction() as session:
        group_id = security_groups.get_rule(session, caller.creds, rule_id).security_group_id
        security_groups.delete_rule(session, caller.cloud.clock, caller.creds, rule_id)
        reached = instance_ports.members_of_groups(session, [group_id])
    refresh_ports(caller, reached)
    return Response(status_code=204)
