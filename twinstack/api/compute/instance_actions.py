"""Compute API (Nova v2.1): a server's action history (``os-instance-actions``), with each action's events.

Newest first. From 2.21 a deleted server's history can still be read; from 2.51 everyone sees the
events (tracebacks stay admin-only); from 2.58 actions carry ``updated_at`` and page with
limit/marker and changes-since/changes-before; from 2.62 events carry hostId (and host, for admins).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from twinstack.api.compute.common import find_server, limit_and_marker, nova_datetime, parse_time, self_link, v
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.compute.server_views import host_id
from twinstack.api.deps import Caller, CallerDep
from twinstack.core.compute.model import ActionEvent, InstanceAction
from twinstack.core.errors import BadRequest, NotFound

router = APIRouter(prefix="/v2.1")

POLICY = "os_compute_api:os-instance-actions:"


def render_action(action: InstanceAction, version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": action.action,
        "instance_uuid": action.instance_uuid,
        "message": action.message or ("Error" if action.failed else None),
        "project_id": action.project_id,
        "request_id": action.request_id,
        "start_time": nova_datetime(action.start_time),
        "user_id": action.user_id,
    }
    if version >= v(58):
        body["updated_at"] = nova_datetime(action.updated_at)
    return body


def render_event(event: ActionEvent, project_id: str, version: Version, admin: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"event": event.event, "start_time": nova_datetime(event.start_time),
                            "finish_time": nova_datetime(event.finish_time), "result": event.result}
    if admin:
        body["traceback"] = event.traceback
    if version >= v(62):
        body["hostId"] = host_id(project_id, event.host)
        if admin:
            body["host"] = event.host or ""
    return body


def _history(compute: ComputeDep, caller: Caller, server_id: str, version: Version, policy: str) -> list[
        InstanceAction]:
    instance = find_server(compute, caller, server_id, POLICY + policy, deleted_ok=version >= v(21))
    return list(reversed(compute.instances.actions(instance.uuid)))


@router.get("/servers/{server_id}/os-instance-actions")
def list_actions(server_id: str, request: Request, caller: CallerDep, version: MicroversionDep,
                 compute: ComputeDep) -> dict[str, Any]:
    actions = _history(compute, caller, server_id, version, "list")
    body: dict[str, Any] = {}
    if version >= v(58):
        params = request.query_params
        if "changes-since" in params:
            since = parse_time(params["changes-since"], "changes-since")
            actions = [a for a in actions if a.updated_at >= since]
        if "changes-before" in params and version >= v(66):
            before = parse_time(params["changes-before"], "changes-before")
            actions = [a for a in actions if a.updated_at <= before]
        limit, marker = limit_and_marker(request)
        if marker is not None:
            index = next((n for n, a in enumerate(actions) if a.request_id == marker), None)
            if index is None:
                raise BadRequest(f"Marker {marker} could not be found.")
            actions = actions[index + 1:]
        actions = actions[:limit]
        if actions and len(actions) == limit:
            query = "&".join(f"{k}={val}" for k, val in params.multi_items() if k != "marker")
            href = self_link(request, f"servers/{server_id}/os-instance-actions")
            body["links"] = [{"rel": "next",
                              "href": f"{href}?{query + '&' if query else ''}marker={actions[-1].request_id}"}]
    body["instanceActions"] = [render_action(a, version) for a in actions]
    return body


@router.get("/servers/{server_id}/os-instance-actions/{action_request_id}")
def show_action(server_id: str, action_request_id: str, caller: CallerDep, version: MicroversionDep,
                compute: ComputeDep) -> dict[str, Any]:
    actions = _history(compute, caller, server_id, version, "show")
    action = next((a for a in actions if a.request_id == action_request_id), None)
    if action is None:
        raise NotFound(f"Action for request_id {action_request_id} on instance {server_id} not found")
    body = render_action(action, version)
    admin = caller.allows(POLICY + "events", {"project_id": action.project_id})
    if version >= v(51) or admin:
        body["events"] = [render_event(e, action.project_id, version, admin) for e in reversed(action.events)]
    return {"instanceAction": body}
