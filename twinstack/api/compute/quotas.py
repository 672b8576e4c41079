"""Compute API (Nova v2.1): os-quota-sets — a project's limits, the defaults, usage in detail; set and revert
(admin).

Quota sets show nova-network's resources before 2.36 and the injected files' before 2.57, and an
update naming one of them at a later version is refused, as Nova's schemas refuse it. Limits are
per project (``user_id`` quotas are not kept: the project's apply).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from twinstack.api.compute.common import json_body, v
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import Caller, CallerDep
from twinstack.core.compute import quotas
from twinstack.core.compute.admin_policies import QUOTAS
from twinstack.core.errors import BadRequest
from twinstack.db.models.identity import Project

router = APIRouter(prefix="/v2.1")

JsonDep = Annotated[Any, Depends(json_body)]


def hidden(version: Version) -> frozenset[str]:
    """Resources a quota set (and /limits) no longer shows at ``version``."""
    gone: set[str] = set()
    if version >= v(36):
        gone.update(quotas.NETWORK_RESOURCES)
    if version >= v(57):
        gone.update(quotas.FILE_RESOURCES)
    return frozenset(gone)


def shown(values: dict[str, Any], version: Version) -> dict[str, Any]:
    gone = hidden(version)
    return {resource: value for resource, value in values.items() if resource not in gone}


def _project(caller: Caller, project_id: str, action: str) -> None:
    """Policy on the target project, then Nova's check that the project exists at all."""
    caller.enforce(QUOTAS + action, {"project_id": project_id})
    with caller.cloud.sessions() as session:
        if session.get(Project, project_id) is None:
            raise BadRequest(f"Project ID {project_id} is not a valid project.")


@router.get("/os-quota-sets/{project_id}")
def show_quota_set(project_id: str, caller: CallerDep, version: MicroversionDep,
                   compute: ComputeDep) -> dict[str, Any]:
    _project(caller, project_id, "show")
    return {"quota_set": {"id": project_id, **shown(quotas.limits_of(compute.quotas, project_id), version)}}


@router.get("/os-quota-sets/{project_id}/defaults")
def show_quota_defaults(project_id: str, caller: CallerDep, version: MicroversionDep) -> dict[str, Any]:
    _project(caller, project_id, "defaults")
    return {"quota_set": {"id": project_id, **shown(dict(quotas.DEFAULT_LIMITS), version)}}


@router.get("/os-quota-sets/{project_id}/detail")
def show_quota_detail(project_id: str, caller: CallerDep, version: MicroversionDep,
                      compute: ComputeDep) -> dict[str, Any]:
    _project(caller, project_id, "detail")
    return {"quota_set": {"id": project_id, **shown(quotas.detail(compute.quotas, project_id), version)}}


def _limit(resource: str, value: Any) -> int:
    """An integer, or a string of one (Nova's schema takes both)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"Invalid input for field/attribute {resource}. Value: {value}. {value!r} is not of type "
                         f"'integer', 'string'")
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"Invalid input for field/attribute {resource}. Value: {value}. {value!r} does not match "
                         f"'^-?[0-9]+$'") from None


def _force(value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "t", "true", "on", "y", "yes"):
        return True
    if text in ("0", "f", "false", "off", "n", "no"):
        return False
    raise BadRequest(f"Invalid input for field/attribute force. Value: {value}. {value!r} is not a boolean")


@router.put("/os-quota-sets/{project_id}")
def update_quota_set(project_id: str, caller: CallerDep, version: MicroversionDep, compute: ComputeDep,
                     data: JsonDep) -> dict[str, Any]:
    _project(caller, project_id, "update")
    if not isinstance(data, dict) or set(data) != {"quota_set"} or not isinstance(data["quota_set"], dict):
        raise BadRequest("Invalid input for field/attribute quota_set. 'quota_set' is a required property")
    asked = dict(data["quota_set"])
    force = _force(asked.pop("force", False))
    unknown = sorted(set(asked) - (set(quotas.DEFAULT_LIMITS) - hidden(version)))
    if unknown:
        raise BadRequest(f"Invalid input for field/attribute quota_set. Additional properties are not allowed "
                         f"({', '.join(repr(k) for k in unknown)} {'was' if len(unknown) == 1 else 'were'} "
                         f"unexpected)")
    limits = {resource: _limit(resource, value) for resource, value in asked.items()}
    updated = quotas.set_limits(compute.quotas, project_id, limits, force=force)
    return {"quota_set": shown(updated, version)}


@router.delete("/os-quota-sets/{project_id}", status_code=202, response_class=Response)
def revert_quota_set(project_id: str, caller: CallerDep, compute: ComputeDep) -> Response:
    """Back to the defaults (Nova answers 202)."""
    caller.enforce(QUOTAS + "delete", {"project_id": project_id})
    compute.quotas.reset_limits(project_id)
    return Response(status_code=202)
