"""Load balancers (``/v2/lbaas/loadbalancers``) and listeners (``/v2/lbaas/listeners``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from twinstack.api.deps import CallerDep
from twinstack.api.loadbalancer.common import listed, standard
from twinstack.api.network import bodies
from twinstack.api.network.bodies import Attr
from twinstack.api.network.common import BodyDep, one
from twinstack.core.loadbalancer import loadbalancers
from twinstack.core.loadbalancer import pools as pool_logic
from twinstack.core.network.common import check_tags
from twinstack.db.models.loadbalancer import ListenerRow, LoadBalancerRow

router = APIRouter(prefix="/lbaas")
API = "os_load-balancer_api:"

LB_ATTRIBUTES: dict[str, Attr] = {
    "name": Attr(bodies.nullable(bodies.string())),
    "description": Attr(bodies.nullable(bodies.string())),
    "admin_state_up": Attr(bodies.boolean),
    "vip_subnet_id": Attr(bodies.string(36), put=False),
    "vip_network_id": Attr(bodies.string(36), put=False),
    "vip_port_id": Attr(bodies.string(36), put=False),
    "vip_address": Attr(bodies.string(64), put=False),
    "provider": Attr(bodies.string(64), put=False),
    "tags": Attr(bodies.list_of(bodies.string())),
}

LISTENER_ATTRIBUTES: dict[str, Attr] = {
    "loadbalancer_id": Attr(bodies.string(36), put=False, required=True),
    "protocol": Attr(bodies.string(32), put=False, required=True),
    "protocol_port": Attr(bodies.integer(), put=False, required=True),
    "name": Attr(bodies.nullable(bodies.string())),
    "description": Attr(bodies.nullable(bodies.string())),
    "connection_limit": Attr(bodies.integer(-1)),
    "default_pool_id": Attr(bodies.nullable(bodies.string(36))),
    "admin_state_up": Attr(bodies.boolean),
    "tags": Attr(bodies.list_of(bodies.string())),
}


def render_lb(session: Session, row: LoadBalancerRow) -> dict[str, Any]:
    listeners, pools = loadbalancers.children(session, row.id)
    return {**standard(row), "description": row.description, "vip_address": row.vip_address,
            "vip_port_id": row.vip_port_id, "vip_subnet_id": row.vip_subnet_id, "vip_network_id": row.vip_network_id,
            "vip_qos_policy_id": None, "provider": row.provider, "flavor_id": None, "availability_zone": None,
            "listeners": [{"id": li.id} for li in listeners], "pools": [{"id": p.id} for p in pools],
            "additional_vips": [], "vip_vnic_type": "normal"}


def render_listener(row: ListenerRow) -> dict[str, Any]:
    return {**standard(row), "description": row.description, "protocol": row.protocol,
            "protocol_port": row.protocol_port, "connection_limit": row.connection_limit,
            "default_pool_id": row.default_pool_id, "loadbalancers": [{"id": row.loadbalancer_id}],
            "l7policies": [], "insert_headers": {}, "default_tls_container_ref": None, "sni_container_refs": [],
            "timeout_client_data": 50000, "timeout_member_connect": 5000, "timeout_member_data": 50000,
            "timeout_tcp_inspect": 0, "allowed_cidrs": None, "tls_ciphers": None, "tls_versions": None,
            "alpn_protocols": None, "hsts_max_age": None, "hsts_include_subdomains": None, "hsts_preload": None}


def _strings(attrs: dict[str, Any]) -> dict[str, Any]:
    """Octavia takes null for name and description and shows an empty string."""
    return {k: ("" if k in ("name", "description") and v is None else v) for k, v in attrs.items()}


@router.get("/loadbalancers")
def list_lbs(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "loadbalancer:get_all")
    with caller.cloud.sessions() as session:
        return listed(request, "loadbalancers",
                      [render_lb(session, r) for r in loadbalancers.list_loadbalancers(session, caller.creds)])


@router.get("/loadbalancers/{lb_id}")
def show_lb(lb_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "loadbalancer:get_one")
    with caller.cloud.sessions() as session:
        return one(request, "loadbalancer",
                   render_lb(session, loadbalancers.get_loadbalancer(session, caller.creds, lb_id)))


@router.post("/loadbalancers", status_code=201)
def create_lb(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "loadbalancer:post")
    attrs = _strings(bodies.parse(body, "loadbalancer", LB_ATTRIBUTES, caller.creds))
    spec = loadbalancers.LoadBalancerSpec(
        name=attrs.get("name", ""), description=attrs.get("description", ""), project_id=attrs.get("project_id"),
        admin_state_up=attrs.get("admin_state_up", True), vip_subnet_id=attrs.get("vip_subnet_id"),
        vip_network_id=attrs.get("vip_network_id"), vip_port_id=attrs.get("vip_port_id"),
        vip_address=attrs.get("vip_address"), provider=attrs.get("provider"),
        tags=check_tags(attrs.get("tags", [])))
    cloud = caller.cloud
    cloud.loadbalancer.require()
    with cloud.transaction() as session:
        row = loadbalancers.create_loadbalancer(session, cloud.clock, cloud.settings.network, caller.creds, spec)
        answer = {"loadbalancer": render_lb(session, row)}
    cloud.loadbalancer.provision(row.id)
    return answer


@router.put("/loadbalancers/{lb_id}")
def update_lb(lb_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "loadbalancer:put")
    changes = _strings(bodies.parse(body, "loadbalancer", LB_ATTRIBUTES, caller.creds, update=True))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        row = loadbalancers.update_loadbalancer(session, caller.cloud.clock, caller.creds, lb_id, changes)
        answer = {"loadbalancer": render_lb(session, row)}
    caller.cloud.loadbalancer.provision(lb_id)
    return answer


@router.delete("/loadbalancers/{lb_id}", status_code=204)
def delete_lb(lb_id: str, request: Request, caller: CallerDep) -> Response:
    caller.enforce(API + "loadbalancer:delete")
    cascade = bodies.boolean("cascade", request.query_params.get("cascade", "false"))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        loadbalancers.delete_loadbalancer(session, caller.creds, lb_id, cascade)
    caller.cloud.loadbalancer.provision(lb_id)
    return Response(status_code=204)


@router.get("/loadbalancers/{lb_id}/status")
def lb_status(lb_id: str, caller: CallerDep) -> dict[str, Any]:
    """The status tree: the load balancer, its listeners, their pools, their members and monitors."""
    caller.enforce(API + "loadbalancer:get_one")
    with caller.cloud.sessions() as session:
        lb = loadbalancers.get_loadbalancer(session, caller.creds, lb_id)
        listeners, pools = loadbalancers.children(session, lb.id)
        monitors = pool_logic.monitor_of(session, [p.id for p in pools])

        def pool_status(pool_id: str) -> dict[str, Any]:
            pool = next(p for p in pools if p.id == pool_id)
            members = pool_logic.list_members(session, caller.creds, pool.id)
            body: dict[str, Any] = {"id": pool.id, "name": pool.name, "provisioning_status": pool.provisioning_status,
                                    "operating_status": pool.operating_status,
                                    "members": [{"id": m.id, "name": m.name, "address": m.address,
                                                 "protocol_port": m.protocol_port,
                                                 "provisioning_status": m.provisioning_status,
                                                 "operating_status": m.operating_status} for m in members]}
            if pool.id in monitors:
                monitor = pool_logic.get_monitor(session, caller.creds, monitors[pool.id])
                body["health_monitor"] = {"id": monitor.id, "name": monitor.name, "type": monitor.type,
                                          "provisioning_status": monitor.provisioning_status,
                                          "operating_status": monitor.operating_status}
            return body

        return {"statuses": {"loadbalancer": {
            "id": lb.id, "name": lb.name, "provisioning_status": lb.provisioning_status,
            "operating_status": lb.operating_status,
            "listeners": [{"id": li.id, "name": li.name, "provisioning_status": li.provisioning_status,
                           "operating_status": li.operating_status,
                           "pools": [pool_status(p.id) for p in pools if p.listener_id == li.id]}
                          for li in listeners]}}}


@router.get("/listeners")
def list_listeners(request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "listener:get_all")
    with caller.cloud.sessions() as session:
        return listed(request, "listeners",
                      [render_listener(r) for r in loadbalancers.list_listeners(session, caller.creds)])


@router.get("/listeners/{listener_id}")
def show_listener(listener_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "listener:get_one")
    with caller.cloud.sessions() as session:
        return one(request, "listener", render_listener(loadbalancers.get_listener(session, caller.creds,
                                                                                   listener_id)))


@router.post("/listeners", status_code=201)
def create_listener(body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "listener:post")
    attrs = _strings(bodies.parse(body, "listener", LISTENER_ATTRIBUTES, caller.creds))
    spec = loadbalancers.ListenerSpec(
        loadbalancer_id=attrs["loadbalancer_id"], protocol=attrs["protocol"], protocol_port=attrs["protocol_port"],
        name=attrs.get("name", ""), description=attrs.get("description", ""),
        connection_limit=attrs.get("connection_limit", -1), default_pool_id=attrs.get("default_pool_id"),
        admin_state_up=attrs.get("admin_state_up", True), tags=check_tags(attrs.get("tags", [])))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        answer = {"listener": render_listener(loadbalancers.create_listener(session, caller.cloud.clock,
                                                                            caller.creds, spec))}
    caller.cloud.loadbalancer.provision(spec.loadbalancer_id)
    return answer


@router.put("/listeners/{listener_id}")
def update_listener(listener_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce(API + "listener:put")
    changes = _strings(bodies.parse(body, "listener", LISTENER_ATTRIBUTES, caller.creds, update=True))
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        row = loadbalancers.update_listener(session, caller.cloud.clock, caller.creds, listener_id, changes)
        answer, lb_id = {"listener": render_listener(row)}, row.loadbalancer_id
    caller.cloud.loadbalancer.provision(lb_id)
    return answer


@router.delete("/listeners/{listener_id}", status_code=204)
def delete_listener(listener_id: str, caller: CallerDep) -> Response:
    caller.enforce(API + "listener:delete")
    caller.cloud.loadbalancer.require()
    with caller.cloud.transaction() as session:
        lb_id = loadbalancers.delete_listener(session, caller.creds, listener_id)
    caller.cloud.loadbalancer.provision(lb_id)
    return Response(status_code=204)
