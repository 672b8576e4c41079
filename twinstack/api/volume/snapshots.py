"""Snapshots: create, list (with detail), show, update, delete and, for admins, os-reset_status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.volume import views
from twinstack.api.volume.common import (
    Body,
    at_least,
    flag,
    is_admin,
    limit_param,
    project_of,
    scope,
    service,
    sort_param,
)
from twinstack.core.errors import BadRequest
from twinstack.core.volume import snapshots
from twinstack.core.volume.lookup import ListQuery, get_snapshot, list_snapshots

router = APIRouter(prefix="/v3")


class SnapshotBody(Body):
    snapshot: dict[str, Any]


def _show(request: Request, caller: Caller, snapshot_id: str) -> dict[str, Any]:
    with caller.cloud.transaction() as session:
        return {"snapshot": views.snapshot_view(request, get_snapshot(session, snapshot_id, scope(caller)))}


@router.post("/snapshots", status_code=202)
def create(request: Request, body: SnapshotBody, caller: CallerDep) -> dict[str, Any]:
    spec = body.snapshot
    if not spec.get("volume_id"):
        raise BadRequest("Invalid input received: 'volume_id' must be specified")
    caller.enforce("volume:create_snapshot", {"project_id": project_of(caller)})
    metadata = spec.get("metadata") or {}
    force = flag(spec.get("force", False)) or at_least(request, 66)
    row = snapshots.create_snapshot(service(caller.cloud), str(spec["volume_id"]), scope(caller),
                                    caller.token.user_id, spec.get("name"), spec.get("description"),
                                    {str(k): str(v) for k, v in metadata.items()}, force)
    return {"snapshot": views.snapshot_view(request, row)}


def _list(request: Request, caller: CallerDep) -> list[Any]:
    params = request.query_params
    all_tenants = is_admin(caller) and flag(params.get("all_tenants", "false"))
    project = None if all_tenants else project_of(caller)
    caller.enforce("volume:get_snapshot", {"project_id": project or project_of(caller)})
    filters = {k: params[k] for k in ("name", "status", "volume_id") if k in params}
    with caller.cloud.transaction() as session:
        return list_snapshots(session, ListQuery(project, filters, sort=sort_param(request),
                                                 marker=params.get("marker"), limit=limit_param(request)))


@router.get("/snapshots")
def index(request: Request, caller: CallerDep) -> dict[str, Any]:
    return {"snapshots": [views.snapshot_view(request, r) for r in _list(request, caller)]}


@router.get("/snapshots/detail")
def detail(request: Request, caller: CallerDep) -> dict[str, Any]:
    return {"snapshots": [views.snapshot_view(request, r) for r in _list(request, caller)]}


@router.get("/snapshots/{snapshot_id}")
def show(request: Request, snapshot_id: str, caller: CallerDep) -> dict[str, Any]:
    return _show(request, caller, snapshot_id)


@router.put("/snapshots/{snapshot_id}")
def update(request: Request, snapshot_id: str, body: SnapshotBody, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.transaction() as session:
        row = get_snapshot(session, snapshot_id, scope(caller))
        caller.enforce("volume:update_snapshot", {"project_id": row.project_id})
        if "name" in body.snapshot:
            row.name = body.snapshot["name"]
        if "description" in body.snapshot:
            row.description = body.snapshot["description"]
        if isinstance(body.snapshot.get("metadata"), dict):
            row.meta = {str(k): str(v) for k, v in body.snapshot["metadata"].items()}
        row.updated_at = service(caller.cloud).now()
    return _show(request, caller, snapshot_id)


@router.delete("/snapshots/{snapshot_id}", status_code=202)
def delete(snapshot_id: str, caller: CallerDep) -> Response:
    with caller.cloud.transaction() as session:
        owner = get_snapshot(session, snapshot_id, scope(caller)).project_id
    caller.enforce("volume:delete_snapshot", {"project_id": owner})
    snapshots.delete_snapshot(service(caller.cloud), snapshot_id, scope(caller))
    return Response(status_code=202)


@router.post("/snapshots/{snapshot_id}/action", status_code=202)
def action(snapshot_id: str, body: dict[str, Any], caller: CallerDep) -> Response:
    if "os-reset_status" in body:
        caller.enforce("volume:snapshot_reset_status")
        snapshots.reset_status(service(caller.cloud), snapshot_id, str((body["os-reset_status"] or {}).get("status")))
    elif "os-force_delete" in body:
        caller.enforce("volume:snapshot_reset_status")
        snapshots.delete_snapshot(service(caller.cloud), snapshot_id, None, force=True)
    else:
        raise BadRequest(f"There is no such action: {', '.join(body)}")
    return Response(status_code=202)
