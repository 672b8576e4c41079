"""Compute API (Nova v2.1): os-services — list, enable/disable, force down (admin).

Before 2.53 a service is named by host and binary and changed through ``PUT /os-services/enable``,
``disable``, ``disable-log-reason`` and (2.11) ``force-down``; from 2.53 it has a uuid and one
``PUT /os-services/{id}`` takes ``status``, ``disabled_reason`` and ``forced_down``. Only compute
services can be changed; the control plane's own are listed (in the internal zone) for the record.
"""

from __future__ import annotations

import platform
import uuid as uuidlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StrictBool

from twinstack.api.compute.common import Body, json_body, nova_datetime, parse, v
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import CallerDep
from twinstack.core.compute import hosts_admin
from twinstack.core.compute.admin_policies import SERVICES
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.hosts_admin import COMPUTE, Service
from twinstack.core.errors import BadRequest, NotFound

router = APIRouter(prefix="/v2.1")

JsonDep = Annotated[Any, Depends(json_body)]


def control_host() -> str:
    """Where the control services run: this machine, as Nova names it by its hostname."""
    return platform.node() or "localhost"


def render(service: Service, version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": service.uuid if version >= v(53) else service.id,
        "binary": service.binary, "host": service.host, "zone": service.zone,
        "status": "disabled" if service.disabled else "enabled", "state": "up" if service.up else "down",
        "updated_at": nova_datetime(service.updated_at), "disabled_reason": service.disabled_reason,
    }
    if version >= v(11):
        body["forced_down"] = service.forced_down
    return body


@router.get("/os-services")
def list_services(request: Request, caller: CallerDep, version: MicroversionDep,
                  compute: ComputeDep) -> dict[str, Any]:
    caller.enforce(SERVICES + "list")
    params = request.query_params
    found = hosts_admin.list_services(compute, control_host(), params.get("host"), params.get("binary"))
    return {"services": [render(s, version) for s in found]}


class ServiceUpdate(Body):
    """The 2.53 body."""

    status: Literal["enabled", "disabled"] | None = None
    disabled_reason: str | None = Field(None, min_length=1, max_length=255)
    forced_down: StrictBool | None = None


class LegacyService(Body):
    host: str = Field(min_length=1, max_length=255)
    binary: str = Field(min_length=1, max_length=255)
    disabled_reason: str | None = Field(None, min_length=1, max_length=255)
    forced_down: StrictBool | None = None


def _update_by_id(compute: ComputeContext, version: Version, service_id: str, data: Any) -> dict[str, Any]:
    try:
        uuidlib.UUID(service_id)
    except ValueError:
        raise BadRequest(f"Invalid uuid {service_id}") from None
    asked = parse(ServiceUpdate, data)
    if asked.disabled_reason is not None and asked.status != "disabled":
        raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    if asked.status is None and asked.forced_down is None:
        raise BadRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
    service = hosts_admin.find_service(compute, control_host(), service_id)
    if service.binary != COMPUTE:
        raise BadRequest(f"Updating a {service.binary} service is not supported. Only nova-compute services can "
                         f"be updated.")
    disabled = None if asked.status is None else asked.status == "disabled"
    changed = hosts_admin.update_service(compute, service.host, disabled, asked.disabled_reason, asked.forced_down)
    return {"service": render(changed, version)}


def _update_legacy(compute: ComputeContext, version: Version, action: str, data: Any) -> dict[str, Any]:
    """PUT /os-services/{enable,disable,disable-log-reason,force-down}: answers only what changed."""
    if action not in ("enable", "disable", "disable-log-reason") and not (action == "force-down"
                                                                          and version >= v(11)):
        raise NotFound("Unknown action")
    asked = parse(LegacyService, data)
    if action == "disable-log-reason" and asked.disabled_reason is None:
        raise BadRequest("Missing disabled reason field")
    if action == "force-down" and asked.forced_down is None:
        raise BadRequest("Missing forced_down field")
    if asked.binary != COMPUTE or not hosts_admin.list_services(compute, control_host(), asked.host, COMPUTE):
        raise NotFound(f"Could not find binary {asked.binary} on host {asked.host}.")
    body: dict[str, Any] = {"host": asked.host, "binary": asked.binary}
    if action == "force-down":
        hosts_admin.update_service(compute, asked.host, forced_down=asked.forced_down)
        return {"service": body | {"forced_down": asked.forced_down}}
    disabled = action != "enable"
    hosts_admin.update_service(compute, asked.host, disabled, asked.disabled_reason)
    body["status"] = "disabled" if disabled else "enabled"
    if action == "disable-log-reason":
        body["disabled_reason"] = asked.disabled_reason
    return {"service": body}


@router.put("/os-services/{service_id}")
def update_service(service_id: str, caller: CallerDep, version: MicroversionDep, compute: ComputeDep,
                   data: JsonDep) -> dict[str, Any]:
    caller.enforce(SERVICES + "update")
    if version >= v(53):
        return _update_by_id(compute, version, service_id, data)
    return _update_legacy(compute, version, service_id, data)
