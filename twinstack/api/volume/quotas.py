"""os-quota-sets for block storage, and the absolute limits (``/limits``) the CLI shows."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.volume.common import Body, flag, project_of
from twinstack.core.errors import BadRequest
from twinstack.core.volume import quotas

router = APIRouter(prefix="/v3")


class QuotaBody(Body):
    quota_set: dict[str, Any]


def _may_see(caller: Caller, project_id: str) -> None:
    caller.enforce("volume_extension:quotas:show", {"project_id": project_id})


@router.get("/os-quota-sets/{project_id}/defaults")
def defaults(project_id: str, caller: CallerDep) -> dict[str, Any]:
    _may_see(caller, project_id)
    return {"quota_set": {"id": project_id, **quotas.default_limits(caller.cloud.settings.volume)}}


@router.get("/os-quota-sets/{project_id}")
def show(request: Request, project_id: str, caller: CallerDep) -> dict[str, Any]:
    _may_see(caller, project_id)
    with caller.cloud.transaction() as session:
        limits = quotas.limits(session, caller.cloud.settings.volume, project_id)
        if not flag(request.query_params.get("usage", "false")):
            return {"quota_set": {"id": project_id, **limits}}
        used = quotas.usage(session, project_id)
    return {"quota_set": {"id": project_id, **{
        name: {"limit": limit, "in_use": used.get(name, 0), "reserved": 0, "allocated": 0}
        for name, limit in limits.items()}}}


@router.put("/os-quota-sets/{project_id}")
def update(project_id: str, body: QuotaBody, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("volume_extension:quotas:update")
    wanted: dict[str, int] = {}
    for name, value in body.quota_set.items():
        if name in ("id", "tenant_id"):
            continue
        try:
            wanted[name] = int(value)
        except (TypeError, ValueError):
            raise BadRequest(f"Invalid input received: Quota {name} must be an integer.") from None
    settings = caller.cloud.settings.volume
    with caller.cloud.transaction() as session:
        quotas.set_limits(session, settings, project_id, wanted)
        session.flush()
        return {"quota_set": quotas.limits(session, settings, project_id)}


@router.delete("/os-quota-sets/{project_id}")
def revert(project_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("volume_extension:quotas:delete")
    with caller.cloud.transaction() as session:
        quotas.reset_limits(session, project_id)
    return {}


@router.get("/limits")
def limits(caller: CallerDep) -> dict[str, Any]:
    project = project_of(caller)
    caller.enforce("limits_extension:used_limits", {"project_id": project})
    with caller.cloud.transaction() as session:
        limit = quotas.limits(session, caller.cloud.settings.volume, project)
        used = quotas.usage(session, project)
    return {"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": limit["volumes"], "maxTotalSnapshots": limit["snapshots"],
        "maxTotalVolumeGigabytes": limit["gigabytes"], "maxTotalBackups": limit["backups"],
        "maxTotalBackupGigabytes": limit["backup_gigabytes"], "totalVolumesUsed": used["volumes"],
        "totalGigabytesUsed": used["gigabytes"], "totalSnapshotsUsed": used["snapshots"],
        "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0}}}
