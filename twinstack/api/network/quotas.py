"""Quotas (``/v2.0/quotas``): a project's limits, their defaults, their usage (``/details``), and
admin updates and resets. Anyone may read their own project's; only admins read or set others'."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.common import BodyDep
from twinstack.core.errors import Forbidden
from twinstack.core.network import quotas

router = APIRouter()


def _readable(caller: Caller, project_id: str) -> None:
    caller.enforce("get_quota")
    if project_id != caller.creds.project_id and not caller.allows("list_quotas"):
        raise Forbidden("Only admins may see another project's quotas.")


@router.get("/v2.0/quotas")
def list_quotas(caller: CallerDep) -> dict[str, Any]:
    caller.enforce("list_quotas")
    with caller.cloud.sessions() as session:
        return {"quotas": [{**quotas.limits_of(session, p), "project_id": p, "tenant_id": p}
                           for p in quotas.projects_with_limits(session)]}


@router.get("/v2.0/quotas/{project_id}/default")
def default_quota(project_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_quota")
    return {"quota": {**quotas.DEFAULT_LIMITS, "project_id": project_id, "tenant_id": project_id}}


@router.get("/v2.0/quotas/{project_id}/details")
def quota_details(project_id: str, caller: CallerDep) -> dict[str, Any]:
    _readable(caller, project_id)
    with caller.cloud.sessions() as session:
        limits = quotas.limits_of(session, project_id)
        usage = quotas.usage(session, project_id)
    return {"quota": {r: {"limit": limit, "used": usage.get(r, 0), "reserved": 0} for r, limit in limits.items()}}


@router.get("/v2.0/quotas/{project_id}")
def show_quota(project_id: str, caller: CallerDep) -> dict[str, Any]:
    _readable(caller, project_id)
    with caller.cloud.sessions() as session:
        return {"quota": quotas.limits_of(session, project_id)}


@router.put("/v2.0/quotas/{project_id}")
def update_quota(project_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("update_quota")
    given = dict(bodies.unwrap(body, "quota"))
    force = bodies.boolean("force", given.pop("force", False))
    check_limit = bodies.boolean("check_limit", given.pop("check_limit", False)) and not force
    limits = {name: bodies.integer()(name, value) for name, value in given.items()}
    with caller.cloud.transaction() as session:
        if check_limit:
            quotas.check_not_below_usage(session, project_id, limits)
        return {"quota": quotas.set_limits(session, project_id, limits)}


@router.delete("/v2.0/quotas/{project_id}", status_code=204)
def reset_quota(project_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_quota")
    with caller.cloud.transaction() as session:
        quotas.reset(session, project_id)
    return Response(status_code=204)
