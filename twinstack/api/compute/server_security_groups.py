"""Compute API (Nova v2.1): a server's security groups, which are its ports' (the network service holds them).

``POST /servers/{id}/action`` with ``addSecurityGroup`` / ``removeSecurityGroup`` (``{"name": <name or id>}``)
changes the groups of every port of the server (:mod:`twinstack.core.network.server_security_groups`, with
Nova's refusals), answering 202; the conductor then re-plugs the changed ports on their host, and the ports
whose rules name the group as remote group (its members changed). ``GET /servers/{id}/os-security-groups``
lists the groups in Nova's shape. Neither is capped by a microversion: Nova's 2.36 retired only the proxies of
the network service's own resources (``/os-security-groups``), not these.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from twinstack.api.compute.common import find_server
from twinstack.api.compute.deps import ComputeDep
from twinstack.api.deps import Caller, CallerDep
from twinstack.api.network.common import refresh
from twinstack.core.compute.context import ComputeContext
from twinstack.core.errors import BadRequest
from twinstack.core.network import server_security_groups

router = APIRouter(prefix="/v2.1")

ACTIONS = {
    "addSecurityGroup": "os_compute_api:os-security-groups:add",
    "removeSecurityGroup": "os_compute_api:os-security-groups:remove",
}
LIST_POLICY = "os_compute_api:os-security-groups:list"


def _group_name(payload: Any) -> str:
    """The group a body names, refused as Nova's API refuses it."""
    if not isinstance(payload, dict):
        raise BadRequest("Missing parameter dict")
    if "name" not in payload:
        raise BadRequest("Security group not specified")
    name = payload["name"]
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("Security group name cannot be empty")
    return name


def security_group_action(
    action: str, payload: Any, server_id: str, caller: Caller, compute: ComputeContext
) -> Response:
    """``addSecurityGroup`` or ``removeSecurityGroup``: every port of the server changes, or none does."""
    name = _group_name(payload)
    instance = find_server(compute, caller, server_id, ACTIONS[action])
    change = (
        server_security_groups.add_to_server
        if action == "addSecurityGroup"
        else server_security_groups.remove_from_server
    )
    cloud = caller.cloud
    with cloud.transaction() as session:
        group = server_security_groups.find_group(session, caller.creds, name)
        changed = change(session, caller.creds, instance.uuid, name)
    refresh(cloud, changed, [group.id])
    return Response(status_code=202)


@router.get("/servers/{server_id}/os-security-groups")
def server_security_group_list(server_id: str, caller: CallerDep, compute: ComputeDep) -> dict[str, Any]:
    instance = find_server(compute, caller, server_id, LIST_POLICY)
    with caller.cloud.sessions() as session:
        return {"security_groups": server_security_groups.detailed_for_server(session, instance.uuid)}
