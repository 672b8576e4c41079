"""Volume types, their extra specs and who may use a private one (os-volume-type-access)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twinstack.api.deps import CallerDep
from twinstack.api.volume import views
from twinstack.api.volume.common import Body, flag, is_admin, service
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.volume import types

router = APIRouter(prefix="/v3")


class TypeBody(Body):
    volume_type: dict[str, Any]


class SpecsBody(Body):
    extra_specs: dict[str, Any]


@router.get("/types")
def index(request: Request, caller: CallerDep) -> dict[str, Any]:
    raw = request.query_params.get("is_public")
    is_public = None if raw is None or raw.lower() == "none" else flag(raw)
    with caller.cloud.transaction() as session:
        rows = types.list_types(session, caller.creds, is_admin(caller), is_public)
        return {"volume_types": [views.type_view(r) for r in rows]}


@router.get("/types/default")
def show_default(caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.transaction() as session:
        return {"volume_type": views.type_view(types.default_type(
            session, caller.cloud.settings.volume.default_volume_type))}


@router.get("/types/{type_id}")
def show(type_id: str, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.transaction() as session:
        return {"volume_type": views.type_view(types.get_type(session, caller.creds, is_admin(caller), type_id))}


@router.post("/types")
def create(body: TypeBody, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("volume_extension:types_manage")
    spec = body.volume_type
    if not isinstance(spec.get("name"), str):
        raise BadRequest("Invalid input received: volume type name is required.")
    is_public = flag(spec.get("os-volume-type-access:is_public", spec.get("is_public", True)))
    with caller.cloud.transaction() as session:
        row = types.create_type(session, service(caller.cloud).now(), spec["name"], spec.get("description"),
                                is_public, spec.get("extra_specs") or {})
        return {"volume_type": views.type_view(row)}


@router.put("/types/{type_id}")
def update(type_id: str, body: TypeBody, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("volume_extension:types_manage")
    spec = body.volume_type
    is_public = spec.get("is_public", spec.get("os-volume-type-access:is_public"))
    with caller.cloud.transaction() as session:
        row = types.get_type(session, caller.creds, True, type_id)
        types.update_type(row, service(caller.cloud).now(), spec.get("name"), spec.get("description"),
                          None if is_public is None else flag(is_public))
        return {"volume_type": views.type_view(row)}


@router.delete("/types/{type_id}", status_code=202)
def delete(type_id: str, caller: CallerDep) -> Response:
    caller.enforce("volume_extension:types_manage")
    with caller.cloud.transaction() as session:
        types.delete_type(session, types.get_type(session, caller.creds, True, type_id),
                          caller.cloud.settings.volume.default_volume_type)
    return Response(status_code=202)


@router.get("/types/{type_id}/extra_specs")
def specs(type_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("volume_extension:types_extra_specs:read")
    with caller.cloud.transaction() as session:
        return {"extra_specs": dict(types.get_type(session, caller.creds, is_admin(caller), type_id).extra_specs)}


@router.post("/types/{type_id}/extra_specs")
def set_specs(type_id: str, body: SpecsBody, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("volume_extension:types_manage")
    with caller.cloud.transaction() as session:
        row = types.get_type(session, caller.creds, True, type_id)
        types.set_extra_specs(row, service(caller.cloud).now(), body.extra_specs)
        return {"extra_specs": {k: str(v) for k, v in body.extra_specs.items()}}


@router.get("/types/{type_id}/extra_specs/{key}")
def spec(type_id: str, key: str, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.transaction() as session:
        found = types.get_type(session, caller.creds, is_admin(caller), type_id).extra_specs
        if key not in found:
            raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
        return {key: found[key]}


@router.put("/types/{type_id}/extra_specs/{key}")
def set_spec(type_id: str, key: str, body: dict[str, Any], caller: CallerDep) -> dict[str, Any]:
    caller.enforce("volume_extension:types_manage")
    if list(body) != [key]:
        raise BadRequest("Request body and URI mismatch")
    with caller.cloud.transaction() as session:
        row = types.get_type(session, caller.creds, True, type_id)
        types.set_extra_specs(row, service(caller.cloud).now(), body)
        return {key: str(body[key])}


@router.delete("/types/{type_id}/extra_specs/{key}", status_code=202)
def unset_spec(type_id: str, key: str, caller: CallerDep) -> Response:
    caller.enforce("volume_extension:types_manage")
    with caller.cloud.transaction() as session:
        types.unset_extra_spec(types.get_type(session, caller.creds, True, type_id), service(caller.cloud).now(), key)
    return Response(status_code=202)


@router.get("/types/{type_id}/os-volume-type-access")
def access(type_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("volume_extension:types_manage")
    with caller.cloud.transaction() as session:
        row = types.get_type(session, caller.creds, True, type_id)
        if row.is_public:
            raise NotFound("Access list not available for public volume types.")
        return {"volume_type_access": [{"volume_type_id": row.id, "project_id": p}
                                       for p in types.project_access(session, row)]}


@router.post("/types/{type_id}/action", status_code=202)
def action(type_id: str, body: dict[str, Any], caller: CallerDep) -> Response:
    caller.enforce("volume_extension:types_manage")
    with caller.cloud.transaction() as session:
        row = types.get_type(session, caller.creds, True, type_id)
        if "addProjectAccess" in body:
            types.add_project_access(session, row, str((body["addProjectAccess"] or {}).get("project")))
        elif "removeProjectAccess" in body:
            types.remove_project_access(session, row, str((body["removeProjectAccess"] or {}).get("project")))
        else:
            raise BadRequest(f"There is no such action: {', '.join(body)}")
    return Response(status_code=202)
