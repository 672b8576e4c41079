"""Pools (``/v2/lbaas/pools``), their members (``/v2/lbaas/pools/{id}/members``) and health monitors
(``/v2/lbaas/healthmonitors``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from twinstack.api.deps import CallerDep
from twinstack.api.loadbalancer.common import listed, standard
from twinstack.api.network import bodies
from twinstack.api.network.bodies import Attr
from twinstack.api.network.common import BodyDep, one
from twinstack.core.loadbalancer import pools
from twinstack.core.network.common import check_tags
from twinstack.db.models.loadbalancer import HealthMonitorRow, MemberRow, PoolRow

router = APIRouter(prefix="/lbaas")
API = "os_load-balancer_api:"
TEXT = bodies.nullable(bodies.string())

POOL_ATTRIBUTES: dict[str, Attr] = {
    "protocol": Attr(bodies.string(32), put=False, required=True),
    "lb_algorithm": Attr(bodies.string(32), required=True),
    "loadbalancer_id": Attr(bodies.string(36), put=False),
    "listener_id": Attr(bodies.string(36), put=False),
    "name": Attr(TEXT),
    "description": Attr(TEXT),
    "session_persistence": Attr(bodies.nullable(bodies.dict_value)),
    "admin_state_up": Attr(bodies.boolean),
    "tls_enabled": Attr(bodies.one_of(False)),
    "tags": Attr(bodies.list_of(bodies.string())),
}

MEMBER_ATTRIBUTES: dict[str, Attr] = {
    "address": Attr(bodies.string(64), put=False, required=True),
    "protocol_port": Attr(bodies.integer(), put=False, required=True),
    "name": Attr(TEXT),
    "weight": Attr(bodies.integer()),
    "subnet_id": Attr(bodies.nullable(bodies.string(36)), put=False),
    "backup": Attr(bodies.boolean),
    "monitor_address": Attr(bodies.nullable(bodies.string(64))),
    "monitor_port": Attr(bodies.nullable(bodies.integer(1, 65535))),
    "admin_state_up": Attr(bodies.boolean),
    "tags": Attr(bodies.list_of(bodies.string())),
}

MONITOR_ATTRIBUTES: dict[str, Attr] = {
    "pool_id": Attr(bodies.string(36), put=False, required=True),
    "type": Attr(bodies.string(16), put=False, required=True),
    "delay": Attr(bodies.integer(0), required=True),
    "timeout": Attr(bodies.integer(0), required=True),
    "max_retries": Attr(bodies.integer(1, 10), required=True),
    "max_retries_down": Attr(bodies.integer(1, 10)),
    "name": Attr(TEXT),
    "http_method": Attr(bodies.nullable(bodies.one_of("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST",
                                                      "PUT", "TRACE"))),
    "url_path": Attr(bodies.nullable(bodies.string())),
    "expected_codes": Attr(bodies.nullable(bodies.string(64))),
    "admin_state_up": Attr(bodies.boolean),
    "tags": Attr(bodies.list_of(bodies.string())),
}


def _strings(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: ("" if k in ("name", "description") and v is None else v) for k, v in attrs.items()}


def render_pool(session: Session, row: PoolRow) -> dict[str, Any]:
    members = [{"id": member_id} for member_id in pools.member_ids(session, row.id)]
    return {**standard(row), "description": row.description, "protocol": row.protocol,
            "lb_algorithm": row.lb_algorithm, "session_persistence": row.session_persistence,
            "loadbalancers": [{"id": row.loadbalancer_id}],
            "listeners": [{"id": row.listener_id}] if row.listener_id else [], "members": members,
            "healthmonitor_id": pools.monitor_of(session, [row.id]).get(row.id), "tls_enabled": False,
            "tls_container_ref": None, "ca_tls_container_ref": None, "crl_container_ref": None,
            "tls_ciphers": None, "tls_versions": None, "alpn_protocols": None}


def render_member(row: MemberRow) -> dict[str, Any]:
    return {**standard(row), "address": row.address, "protocol_port": row.protocol_port, "weight": row.weight,
            "subnet_id": row.subnet_id, "backup": row.backup, "monitor_address": row.monitor_address,
            "monitor_port": row.monitor_port, "vnic_type": "normal"}


def render_monitor(row: HealthMonitorRow) -> dict[str, Any]:
    return {**standard(row), "type": row.type, "delay": row.delay, "timeout": row.timeout,
            "max_retries": row.max_retries, "max_retries_down": row.max_retries_down,
            "http_method": row.http_method, "url_path": row.url_path, "expected_codes": row.expected_codes,
            "http_version": None, "domain_name": None, "pools": [{"id": row.pool_id}]}


@router.get("/pools")
def list_pools(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "pool:get_all")
    with caller.cloud.sessions() as session:
        return listed(request, "pools", [render_pool(session, r) for r in pools.list_pools(session, caller.creds)])


@router.get("/pools/{pool_id}")
def show_pool(pool_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "pool:get_one")
    with caller.cloud.sessions() as session:
        return one(request, "pool", render_pool(session, pools.get_pool(session, caller.creds, pool_id)))


@router.post("/pools", status_code=201)
def create_pool(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "pool:post")
    attrs = _strings(bodies.parse(body, "pool", POOL_ATTRIBUTES, caller.creds))
    spec = pools.PoolSpec(
        protocol=attrs["protocol"], lb_algorithm=attrs["lb_algorithm"], loadbalancer_id=attrs.get("loadbalancer_id"),
        listener_id=attrs.get("listener_id"), name=attrs.get("name", ""), description=attrs.get("description", ""),
        session_persistence=attrs.get("session_persistence"), admin_state_up=attrs.get("admin_state_up", True),
        tags=check_tags(attrs.get("tags", [])))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        row = pools.create_pool(session, caller.cloud.clock, caller.creds, spec)
        answer, lb_id = {"pool": render_pool(session, row)}, row.loadbalancer_id
    caller.cloud.loadbalancer.provision(lb_id)
    return answer


@router.put("/pools/{pool_id}")
def update_pool(pool_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "pool:put")
    changes = _strings(bodies.parse(body, "pool", POOL_ATTRIBUTES, caller.creds, update=True))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        row = pools.update_pool(session, caller.cloud.clock, caller.creds, pool_id, changes)
        answer, lb_id = {"pool": render_pool(session, row)}, row.loadbalancer_id
    caller.cloud.loadbalancer.provision(lb_id)
    return answer


@router.delete("/pools/{pool_id}", status_code=204)
def delete_pool(pool_id: str, caller: CallerDep) -> Response:
    caller.enforce(API + "pool:delete")
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        lb_id = pools.delete_pool(session, caller.creds, pool_id)
    caller.cloud.loadbalancer.provision(lb_id)
    return Response(status_code=204)


@router.get("/pools/{pool_id}/members")
def list_members(pool_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "member:get_all")
    with caller.cloud.sessions() as session:
        items = [render_member(m) for m in pools.list_members(session, caller.creds, pool_id)]
    return listed(request, "members", items)


@router.get("/pools/{pool_id}/members/{member_id}")
def show_member(pool_id: str, member_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "member:get_one")
    with caller.cloud.sessions() as session:
        return one(request, "member", render_member(pools.get_member(session, caller.creds, pool_id, member_id)))


@router.post("/pools/{pool_id}/members", status_code=201)
def create_member(pool_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "member:post")
    attrs = _strings(bodies.parse(body, "member", MEMBER_ATTRIBUTES, caller.creds))
    spec = pools.MemberSpec(
        address=attrs["address"], protocol_port=attrs["protocol_port"], name=attrs.get("name", ""),
        weight=attrs.get("weight", 1), subnet_id=attrs.get("subnet_id"), backup=attrs.get("backup", False),
        monitor_address=attrs.get("monitor_address"), monitor_port=attrs.get("monitor_port"),
        admin_state_up=attrs.get("admin_state_up", True), tags=check_tags(attrs.get("tags", [])))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        answer = {"member": render_member(pools.create_member(session, caller.cloud.clock, caller.creds, pool_id,
                                                              spec))}
        lb_id = pools.get_pool(session, caller.creds, pool_id).loadbalancer_id
    caller.cloud.loadbalancer.provision(lb_id)
    return answer


@router.put("/pools/{pool_id}/members/{member_id}")
def update_member(pool_id: str, member_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "member:put")
    changes = _strings(bodies.parse(body, "member", MEMBER_ATTRIBUTES, caller.creds, update=True))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        answer = {"member": render_member(pools.update_member(session, caller.cloud.clock, caller.creds, pool_id,
                                                              member_id, changes))}
        lb_id = pools.get_pool(session, caller.creds, pool_id).loadbalancer_id
    caller.cloud.loadbalancer.provision(lb_id)
    return answer


@router.delete("/pools/{pool_id}/members/{member_id}", status_code=204)
def delete_member(pool_id: str, member_id: str, caller: CallerDep) -> Response:
    caller.enforce(API + "member:delete")
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        lb_id = pools.delete_member(session, caller.creds, pool_id, member_id)
    caller.cloud.loadbalancer.provision(lb_id)
    return Response(status_code=204)


@router.get("/healthmonitors")
def list_monitors(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "healthmonitor:get_all")
    with caller.cloud.sessions() as session:
        return listed(request, "healthmonitors",
                      [render_monitor(r) for r in pools.list_monitors(session, caller.creds)])


@router.get("/healthmonitors/{monitor_id}")
def show_monitor(monitor_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "healthmonitor:get_one")
    with caller.cloud.sessions() as session:
        return one(request, "healthmonitor", render_monitor(pools.get_monitor(session, caller.creds, monitor_id)))


@router.post("/healthmonitors", status_code=201)
def create_monitor(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "healthmonitor:post")
    attrs = _strings(bodies.parse(body, "healthmonitor", MONITOR_ATTRIBUTES, caller.creds))
    spec = pools.MonitorSpec(
        pool_id=attrs["pool_id"], type=attrs["type"], delay=attrs["delay"], timeout=attrs["timeout"],
        max_retries=attrs["max_retries"], max_retries_down=attrs.get("max_retries_down", 3),
        name=attrs.get("name", ""), http_method=attrs.get("http_method"), url_path=attrs.get("url_path"),
        expected_codes=attrs.get("expected_codes"), admin_state_up=attrs.get("admin_state_up", True),
        tags=check_tags(attrs.get("tags", [])))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        answer = {"healthmonitor": render_monitor(pools.create_monitor(session, caller.cloud.clock, caller.creds,
                                                                       spec))}
        lb_id = pools.get_pool(session, caller.creds, spec.pool_id).loadbalancer_id
    caller.cloud.loadbalancer.provision(lb_id)
    return answer


@router.put("/healthmonitors/{monitor_id}")
def update_monitor(monitor_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "healthmonitor:put")
    changes = _strings(bodies.parse(body, "healthmonitor", MONITOR_ATTRIBUTES, caller.creds, update=True))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        row = pools.update_monitor(session, caller.cloud.clock, caller.creds, monitor_id, changes)
        answer = {"healthmonitor": render_monitor(row)}
        lb_id = pools.get_pool(session, caller.creds, row.pool_id).loadbalancer_id
    caller.cloud.loadbalancer.provision(lb_id)
    return answer


@router.delete("/healthmonitors/{monitor_id}", status_code=204)
def delete_monitor(monitor_id: str, caller: CallerDep) -> Response:
    caller.enforce(API + "healthmonitor:delete")
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        lb_id = pools.delete_monitor(session, caller.creds, monitor_id)
    caller.cloud.loadbalancer.provision(lb_id)
    return Response(status_code=204)
