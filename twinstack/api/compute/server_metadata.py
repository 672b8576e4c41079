"""Compute API (Nova v2.1): a server's metadata (``/servers/{id}/metadata``): all of it, or one key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from twinstack.api.compute.common import find_server, is_admin, json_body
from twinstack.api.compute.deps import ComputeDep
from twinstack.api.compute.server_params import metadata_items
from twinstack.api.deps import CallerDep
from twinstack.core.errors import BadRequest, NotFound

router = APIRouter(prefix="/v2.1")

JsonDep = Annotated[Any, Depends(json_body)]
POLICY = "os_compute_api:server-metadata:"


@router.get("/servers/{server_id}/metadata")
def list_metadata(server_id: str, caller: CallerDep, compute: ComputeDep) -> dict[str, Any]:
    instance = find_server(compute, caller, server_id, POLICY + "index")
    return {"metadata": dict(instance.metadata)}


@router.post("/servers/{server_id}/metadata")
def update_metadata(server_id: str, caller: CallerDep, compute: ComputeDep, data: JsonDep) -> dict[str, Any]:
    """Merge the given items into the metadata; answers all of it."""
    items = metadata_items(data)
    find_server(compute, caller, server_id, POLICY + "create")
    return {"metadata": compute.service.update_metadata(server_id, items, is_admin=is_admin(caller))}


@router.put("/servers/{server_id}/metadata")
def replace_metadata(server_id: str, caller: CallerDep, compute: ComputeDep, data: JsonDep) -> dict[str, Any]:
    items = metadata_items(data)
    find_server(compute, caller, server_id, POLICY + "update_all")
    return {"metadata": compute.service.update_metadata(server_id, items, replace_all=True,
                                                        is_admin=is_admin(caller))}


@router.get("/servers/{server_id}/metadata/{key}")
def show_metadata_item(server_id: str, key: str, caller: CallerDep, compute: ComputeDep) -> dict[str, Any]:
    instance = find_server(compute, caller, server_id, POLICY + "show")
    if key not in instance.metadata:
        raise NotFound("Metadata item was not found")
    return {"meta": {key: instance.metadata[key]}}


@router.put("/servers/{server_id}/metadata/{key}")
def set_metadata_item(server_id: str, key: str, caller: CallerDep, compute: ComputeDep,
                      data: JsonDep) -> dict[str, Any]:
    item = metadata_items(data, "meta")
    if key not in item:
        raise BadRequest("Request body and URI mismatch")
    if len(item) > 1:
        raise BadRequest("Request body contains too many items")
    find_server(compute, caller, server_id, POLICY + "update")
    compute.service.update_metadata(server_id, item, is_admin=is_admin(caller))
    return {"meta": item}


@router.delete("/servers/{server_id}/metadata/{key}", status_code=204)
def delete_metadata_item(server_id: str, key: str, caller: CallerDep, compute: ComputeDep) -> Response:
    find_server(compute, caller, server_id, POLICY + "delete")
    compute.service.delete_metadata_item(server_id, key, is_admin=is_admin(caller))
    return Response(status_code=204)
