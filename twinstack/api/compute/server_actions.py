"""Compute API (Nova v2.1): ``POST /servers/{id}/action`` — reboot, start, stop, pause, unpause, suspend,
resume, lock and unlock. Each answers 202 at once; the conductor carries power actions out. The actions
that move a server (resize, migrate, evacuate, rebuild...) are in :mod:`twinstack.api.compute.server_moves`,
createImage in :mod:`twinstack.api.compute.server_images`.

A state that does not allow the action is 409 conflictingRequest with Nova's words ("Cannot 'stop'
instance X while it is in vm_state stopped"); a locked server refuses everyone but admins.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from twinstack.api.compute.common import Body, find_server, is_admin, json_body, parse, request_id, v
from twinstack.api.compute.console_output import ACTION as CONSOLE_ACTION
from twinstack.api.compute.console_output import console_output
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.server_images import ACTION as CREATE_IMAGE_ACTION
from twinstack.api.compute.server_images import create_image
from twinstack.api.compute.server_moves import MOVE_ACTIONS, move_action
from twinstack.api.compute.server_security_groups import ACTIONS as SECURITY_GROUP_ACTIONS
from twinstack.api.compute.server_security_groups import security_group_action
from twinstack.api.deps import CallerDep
from twinstack.core.errors import BadRequest

router = APIRouter(prefix="/v2.1")

JsonDep = Annotated[Any, Depends(json_body)]

POWER_ACTIONS = {
    # body key: (policy, core action)
    "os-start": ("os_compute_api:servers:start", "start"),
    "os-stop": ("os_compute_api:servers:stop", "stop"),
    "pause": ("os_compute_api:os-pause-server:pause", "pause"),
    "unpause": ("os_compute_api:os-pause-server:unpause", "unpause"),
    "suspend": ("os_compute_api:os-suspend-server:suspend", "suspend"),
    "resume": ("os_compute_api:os-suspend-server:resume", "resume"),
}


class RebootIn(Body):
    type: str


class LockIn(Body):
    locked_reason: str | None = Field(None, min_length=1, max_length=255)


@router.post("/servers/{server_id}/action", status_code=202)
def server_action(server_id: str, request: Request, caller: CallerDep, version: MicroversionDep,
                  compute: ComputeDep, data: JsonDep) -> Response:
    if not isinstance(data, dict) or not data:
        raise BadRequest("Malformed request body")
    name, payload = next(iter(data.items()))
    if name in MOVE_ACTIONS:
        return move_action(name, payload, server_id, request, caller, version, compute)
    if name == CONSOLE_ACTION:
        return console_output(payload, server_id, caller, compute)
    if name == CREATE_IMAGE_ACTION:
        return create_image(payload, server_id, request, caller, version, compute)
    if name in SECURITY_GROUP_ACTIONS:
        return security_group_action(name, payload, server_id, caller, compute)
    user, req_id, admin = caller.token.user_id, request_id(request), is_admin(caller)
    service = compute.service
    if name in POWER_ACTIONS:
        policy, action = POWER_ACTIONS[name]
        find_server(compute, caller, server_id, policy)
        service.power_action(server_id, action, user, req_id, admin)
    elif name == "reboot":
        kind = parse(RebootIn, payload).type.upper()
        if kind not in ("SOFT", "HARD"):
            raise BadRequest(f"Invalid input for field/attribute type. Value: {kind}. "
                             f"'{kind}' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']")
        find_server(compute, caller, server_id, "os_compute_api:servers:reboot")
        service.power_action(server_id, "reboot_hard" if kind == "HARD" else "reboot_soft", user, req_id, admin)
    elif name == "lock":
        reason = None
        if payload is not None:
            if version < v(73):
                raise BadRequest("Invalid input for field/attribute lock. Value: must be null before 2.73.")
            reason = parse(LockIn, payload).locked_reason
        find_server(compute, caller, server_id, "os_compute_api:os-lock-server:lock")
        service.lock(server_id, user, caller.creds.project_id, req_id, reason)
    elif name == "unlock":
        instance = find_server(compute, caller, server_id, "os_compute_api:os-lock-server:unlock")
        if not service.expected_locker(instance, caller.creds.project_id):
            caller.enforce("os_compute_api:os-lock-server:unlock:unlock_override",
                           {"project_id": instance.project_id})
        service.unlock(server_id, user, req_id)
    else:
        raise BadRequest(f"There is no such action: {name}")
    return Response(status_code=202)
