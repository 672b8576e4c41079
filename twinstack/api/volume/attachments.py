"""The v3 attachments API (3.27+): create, list, show, update (connector), complete (3.44) and delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twinstack.api.deps import CallerDep
from twinstack.api.volume import views
from twinstack.api.volume.common import Body, at_least, project_of, scope, service
from twinstack.api.volume.microversion import microversion
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.volume import attachments

router = APIRouter(prefix="/v3")


class AttachmentBody(Body):
    attachment: dict[str, Any]


def _require_327(request: Request) -> None:
    if not at_least(request, 27):
        raise NotFound(f"The resource could not be found. (attachments need microversion 3.27; the request was "
                       f"served at {microversion(request)})")


@router.post("/attachments")
def create(request: Request, body: AttachmentBody, caller: CallerDep) -> dict[str, Any]:
    _require_327(request)
    spec = body.attachment
    if not spec.get("volume_uuid"):
        raise BadRequest("Invalid input received: 'volume_uuid' must be specified")
    caller.enforce("volume:attachment_create", {"project_id": project_of(caller)})
    mode = str(spec.get("mode") or "rw") if at_least(request, 54) else "rw"
    row = attachments.attachment_create(service(caller.cloud), str(spec["volume_uuid"]), scope(caller),
                                        spec.get("instance_uuid"), spec.get("connector"), mode)
    return {"attachment": views.attachment_view(row)}


def _list(request: Request, caller: CallerDep, detail: bool) -> dict[str, Any]:
    _require_327(request)
    caller.enforce("volume:attachment_get", {"project_id": project_of(caller)})
    filters = {k: request.query_params[k] for k in ("volume_id", "instance_id", "status") if k in request.query_params}
    with caller.cloud.transaction() as session:
        rows = attachments.list_attachments(session, scope(caller), filters)
        return {"attachments": [views.attachment_view(r, detail) for r in rows]}


@router.get("/attachments")
def index(request: Request, caller: CallerDep) -> dict[str, Any]:
    return _list(request, caller, False)


@router.get("/attachments/detail")
def detail(request: Request, caller: CallerDep) -> dict[str, Any]:
    return _list(request, caller, True)


@router.get("/attachments/{attachment_id}")
def show(request: Request, attachment_id: str, caller: CallerDep) -> dict[str, Any]:
    _require_327(request)
    with caller.cloud.transaction() as session:
        row, _volume = attachments.get_attachment(session, attachment_id, scope(caller))
        return {"attachment": views.attachment_view(row)}


@router.put("/attachments/{attachment_id}")
def update(request: Request, attachment_id: str, body: AttachmentBody, caller: CallerDep) -> dict[str, Any]:
    _require_327(request)
    caller.enforce("volume:attachment_update", {"project_id": project_of(caller)})
    connector = body.attachment.get("connector")
    if not isinstance(connector, dict):
        raise BadRequest("Invalid input received: 'connector' must be specified")
    row = attachments.attachment_update(service(caller.cloud), attachment_id, scope(caller), connector)
    return {"attachment": views.attachment_view(row)}


@router.post("/attachments/{attachment_id}/action", status_code=204)
def action(request: Request, attachment_id: str, body: dict[str, Any], caller: CallerDep) -> Response:
    if "os-complete" not in body or not at_least(request, 44):
        raise BadRequest(f"There is no such action: {', '.join(body)}")
    caller.enforce("volume:attachment_complete", {"project_id": project_of(caller)})
    attachments.attachment_complete(service(caller.cloud), attachment_id, scope(caller))
    return Response(status_code=204)


@router.delete("/attachments/{attachment_id}")
def delete(request: Request, attachment_id: str, caller: CallerDep) -> dict[str, Any]:
    _require_327(request)
    caller.enforce("volume:attachment_delete", {"project_id": project_of(caller)})
    remaining = attachments.attachment_delete(service(caller.cloud), attachment_id, scope(caller))
    return {"attachments": [views.attachment_view(r, False) for r in remaining]}
