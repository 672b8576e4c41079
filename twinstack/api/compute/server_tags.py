"""Compute API (Nova v2.26+): a server's tags (``/servers/{id}/tags``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from twinstack.api.compute.common import find_server, json_body, self_link, since, v
from twinstack.api.compute.deps import ComputeDep
from twinstack.api.deps import CallerDep
from twinstack.core.errors import BadRequest, NotFound

router = APIRouter(prefix="/v2.1", dependencies=[Depends(since(v(26)))])

JsonDep = Annotated[Any, Depends(json_body)]
POLICY = "os_compute_api:os-server-tags:"
MAX_TAGS = 50


def _tag(tag: str) -> str:
    if not 1 <= len(tag) <= 60 or "," in tag or "/" in tag:
        raise BadRequest(f"Invalid input for field/attribute tag. Value: {tag}.")
    return tag


@router.get("/servers/{server_id}/tags")
def list_tags(server_id: str, caller: CallerDep, compute: ComputeDep) -> dict[str, Any]:
    instance = find_server(compute, caller, server_id, POLICY + "index")
    return {"tags": list(instance.attributes.tags)}


@router.put("/servers/{server_id}/tags")
def replace_tags(server_id: str, caller: CallerDep, compute: ComputeDep, data: JsonDep) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) != {"tags"} or not isinstance(data["tags"], list):
        raise BadRequest("Invalid input for field/attribute tags. 'tags' is a required property")
    tags = [_tag(str(t)) for t in data["tags"]]
    if len(set(tags)) > MAX_TAGS:
        raise BadRequest(f"Maximum number of tags per server is {MAX_TAGS}")
    find_server(compute, caller, server_id, POLICY + "update_all")
    return {"tags": compute.service.set_tags(server_id, tags)}


@router.delete("/servers/{server_id}/tags", status_code=204)
def delete_tags(server_id: str, caller: CallerDep, compute: ComputeDep) -> Response:
    find_server(compute, caller, server_id, POLICY + "delete_all")
    compute.service.set_tags(server_id, [], verb="delete tags")
    return Response(status_code=204)


@router.get("/servers/{server_id}/tags/{tag}", status_code=204)
def check_tag(server_id: str, tag: str, caller: CallerDep, compute: ComputeDep) -> Response:
    instance = find_server(compute, caller, server_id, POLICY + "show")
    if tag not in instance.attributes.tags:
        raise NotFound(f"Tag {tag} could not be found.")
    return Response(status_code=204)


@router.put("/servers/{server_id}/tags/{tag}")
def add_tag(server_id: str, tag: str, request: Request, caller: CallerDep, compute: ComputeDep) -> Response:
    """201 with a Location when the tag is new, 204 when the server had it already."""
    instance = find_server(compute, caller, server_id, POLICY + "update")
    tags = list(instance.attributes.tags)
    if tag in tags:
        return Response(status_code=204)
    if len(tags) >= MAX_TAGS:
        raise BadRequest(f"Maximum number of tags per server is {MAX_TAGS}")
    compute.service.set_tags(server_id, [*tags, _tag(tag)], verb="update tag")
    return Response(status_code=201, headers={"Location": self_link(request, f"servers/{server_id}/tags/{tag}")})


@router.delete("/servers/{server_id}/tags/{tag}", status_code=204)
def delete_tag(server_id: str, tag: str, caller: CallerDep, compute: ComputeDep) -> Response:
    instance = find_server(compute, caller, server_id, POLICY + "delete")
    if tag not in instance.attributes.tags:
        raise NotFound(f"Tag {tag} could not be found.")
    compute.service.set_tags(server_id, [t for t in instance.attributes.tags if t != tag], verb="delete tag")
    return Response(status_code=204)
