"""Volumes: create (blank, from an image, a snapshot or another volume), list, show, update, delete."""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.volume import views
from twinstack.api.volume.common import (
    Body,
    flag,
    is_admin,
    limit_param,
    project_of,
    request_id,
    scope,
    service,
    sort_param,
)
from twinstack.core.errors import BadRequest
from twinstack.core.volume import lifecycle
from twinstack.core.volume.creation import CreateVolumeRequest, create_volume
from twinstack.core.volume.lookup import ListQuery, attachments_of, get_volume, list_volumes
from twinstack.db.models.volume import VolumeRow, VolumeTypeRow

router = APIRouter(prefix="/v3")
LIST_FILTERS = ("name", "status", "availability_zone", "bootable", "id", "size")


class VolumeBody(Body):
    volume: dict[str, Any]


def detail_views(request: Request, session: Session, rows: Sequence[VolumeRow], admin: bool) -> list[dict[str, Any]]:
    types = {t.id: t for t in session.scalars(select(VolumeTypeRow).where(
        VolumeTypeRow.id.in_({r.volume_type_id for r in rows})))}
    attached = attachments_of(session, [r.id for r in rows])
    return [views.volume_detail(request, r, types.get(r.volume_type_id), attached[r.id], admin) for r in rows]


def show_one(request: Request, caller: Caller, volume_id: str) -> dict[str, Any]:
    with caller.cloud.transaction() as session:
        row = get_volume(session, volume_id, scope(caller))
        return {"volume": detail_views(request, session, [row], is_admin(caller))[0]}


def _metadata_filter(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        try:
            parsed = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raise BadRequest(f"Invalid input received: metadata filter {raw} is not a dictionary") from None
    if not isinstance(parsed, dict):
        raise BadRequest(f"Invalid input received: metadata filter {raw} is not a dictionary")
    return {str(k): str(v) for k, v in parsed.items()}


@router.post("/volumes", status_code=202)
def create(request: Request, body: VolumeBody, caller: CallerDep) -> dict[str, Any]:
    project = project_of(caller)
    caller.enforce("volume:create", {"project_id": project})
    spec = body.volume
    size = spec.get("size")
    if size is not None:
        try:
            size = int(size)
        except (TypeError, ValueError):
            raise BadRequest(f"Invalid input received: Volume size '{size}' must be an integer and greater "
                             f"than 0") from None
    metadata = spec.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest("Invalid input received: metadata must be a dictionary")
    row = create_volume(service(caller.cloud), CreateVolumeRequest(
        creds=caller.creds, project_id=project, user_id=caller.token.user_id, size=size, name=spec.get("name"),
        description=spec.get("description"), volume_type=spec.get("volume_type"),
        availability_zone=spec.get("availability_zone"), metadata={str(k): str(v) for k, v in metadata.items()},
        snapshot_id=spec.get("snapshot_id"), source_volid=spec.get("source_volid"),
        image_id=spec.get("imageRef") or spec.get("image_id"), multiattach=flag(spec.get("multiattach", False)),
        is_admin=is_admin(caller), request_id=request_id(request)))
    return show_one(request, caller, row.id)


def _list(request: Request, caller: Caller, detail: bool) -> dict[str, Any]:
    params = request.query_params
    all_tenants = is_admin(caller) and flag(params.get("all_tenants", "false"))
    project = None if all_tenants else params.get("project_id") if is_admin(caller) and params.get(
        "project_id") else project_of(caller)
    caller.enforce("volume:get_all", {"project_id": project or project_of(caller)})
    filters: dict[str, Any] = {k: params[k] for k in LIST_FILTERS if k in params}
    if "bootable" in filters:
        filters["bootable"] = flag(filters["bootable"])
    if "size" in filters:
        filters["size"] = int(filters["size"])
    limit = limit_param(request)
    query = ListQuery(project_id=project, filters=filters, metadata=_metadata_filter(params.get("metadata")),
                      sort=sort_param(request), marker=params.get("marker"), limit=limit)
    with caller.cloud.transaction() as session:
        rows = list_volumes(session, query)
        body: dict[str, Any] = {"volumes": detail_views(request, session, rows, is_admin(caller)) if detail
                                else [views.volume_summary(request, r) for r in rows]}
    if rows and "limit" in params and len(rows) == limit:
        kept = [(k, val) for k, val in params.multi_items() if k != "marker"] + [("marker", rows[-1].id)]
        path = "volumes/detail" if detail else "volumes"
        body["volumes_links"] = [{"rel": "next",
                                  "href": f"{request.app.state.base_url}/v3/{path}?{urlencode(kept)}"}]
    return body


@router.get("/volumes")
def index(request: Request, caller: CallerDep) -> dict[str, Any]:
    return _list(request, caller, detail=False)


@router.get("/volumes/detail")
def detail(request: Request, caller: CallerDep) -> dict[str, Any]:
    return _list(request, caller, detail=True)


@router.get("/volumes/{volume_id}")
def show(request: Request, volume_id: str, caller: CallerDep) -> dict[str, Any]:
    found = show_one(request, caller, volume_id)
    caller.enforce("volume:get", {"project_id": found["volume"]["os-vol-tenant-attr:tenant_id"]})
    return found


@router.put("/volumes/{volume_id}")
def update(request: Request, volume_id: str, body: VolumeBody, caller: CallerDep) -> dict[str, Any]:
    spec = body.volume
    unknown = set(spec) - {"name", "description", "metadata", "display_name", "display_description"}
    if unknown:
        raise BadRequest(f"Invalid input for field/attribute volume. Additional properties are not allowed "
                         f"({', '.join(sorted(unknown))} were unexpected)")
    with caller.cloud.transaction() as session:
        row = get_volume(session, volume_id, scope(caller))
        caller.enforce("volume:update", {"project_id": row.project_id})
        if "name" in spec or "display_name" in spec:
            row.name = spec.get("name", spec.get("display_name"))
        if "description" in spec or "display_description" in spec:
            row.description = spec.get("description", spec.get("display_description"))
        if "metadata" in spec:
            if not isinstance(spec["metadata"], dict):
                raise BadRequest("Invalid input received: metadata must be a dictionary")
            row.meta = {str(k): str(v) for k, v in spec["metadata"].items()}
        row.updated_at = service(caller.cloud).now()
    return show_one(request, caller, volume_id)


@router.delete("/volumes/{volume_id}", status_code=202)
def delete(request: Request, volume_id: str, caller: CallerDep) -> Response:
    with caller.cloud.transaction() as session:
        row = get_volume(session, volume_id, scope(caller))
        caller.enforce("volume:delete", {"project_id": row.project_id})
    force = flag(request.query_params.get("force", "false"))
    if force:
        caller.enforce("volume:force_delete")
    lifecycle.delete_volume(service(caller.cloud), volume_id, scope(caller), force=force,
                            cascade=flag(request.query_params.get("cascade", "false")))
    return Response(status_code=202)
