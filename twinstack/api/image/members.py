"""Image members API (Glance v2 sharing): add, list, show, accept/reject, remove."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from twinstack.api.deps import CallerDep
from twinstack.api.image.context import JsonBody
from twinstack.api.image.render import render_member
from twinstack.core.clock import utcnow
from twinstack.core.errors import BadRequest
from twinstack.core.image import members

router = APIRouter()


def _field(body: Any, name: str) -> str:
    if not isinstance(body, dict) or not isinstance(body.get(name), str):
        raise BadRequest(f"Request body must be a JSON object with a '{name}' string.")
    value: str = body[name]
    return value


@router.post("/v2/images/{image_id}/members")
def add_member(image_id: str, body: JsonBody, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("image:add_member")
    member_id = _field(body, "member")
    with caller.cloud.transaction() as session:
        return render_member(members.add_member(session, caller.creds, image_id, member_id,
                                                utcnow(caller.cloud.clock)))


@router.get("/v2/images/{image_id}/members")
def list_members(image_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("image:get_members")
    with caller.cloud.sessions() as session:
        rows = members.list_members(session, caller.creds, image_id)
        return {"members": [render_member(m) for m in rows], "schema": "/v2/schemas/members"}


@router.get("/v2/images/{image_id}/members/{member_id}")
def show_member(image_id: str, member_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("image:get_members")
    with caller.cloud.sessions() as session:
        return render_member(members.get_member(session, caller.creds, image_id, member_id))


@router.put("/v2/images/{image_id}/members/{member_id}")
def update_member(image_id: str, member_id: str, body: JsonBody, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("image:modify_member")
    status = _field(body, "status")
    with caller.cloud.transaction() as session:
        return render_member(members.update_member(session, caller.creds, image_id, member_id, status,
                                                   utcnow(caller.cloud.clock)))


@router.delete("/v2/images/{image_id}/members/{member_id}", status_code=204)
def delete_member(image_id: str, member_id: str, caller: CallerDep) -> Response:
    caller.enforce("image:delete_member")
    with caller.cloud.transaction() as session:
        members.delete_member(session, caller.creds, image_id, member_id)
    return Response(status_code=204)
