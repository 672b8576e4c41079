"""Tags (``/v2.0/<collection>/<id>/tags[/<tag>]``) on networks, subnets, ports, routers, floating IPs,
security groups and subnet pools."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from twinstack.api.deps import CallerDep
from twinstack.api.network import bodies
from twinstack.api.network.common import BodyDep
from twinstack.core.errors import BadRequest
from twinstack.core.network import tags

router = APIRouter()

PATH = "/v2.0/{collection}/{resource_id}/tags"


@router.get(PATH)
def list_tags(collection: str, resource_id: str, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        return {"tags": tags.get_tags(session, caller.creds, collection, resource_id)}


@router.put(PATH)
def replace_tags(collection: str, resource_id: str, body: BodyDep, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("update_tags")
    if not isinstance(body, dict) or set(body) != {"tags"}:
        raise BadRequest("Invalid tags body: expected {\"tags\": [...]}")
    given = bodies.list_of(bodies.string())("tags", body["tags"])
    with caller.cloud.transaction() as session:
        return {"tags": tags.replace_tags(session, caller.cloud.clock, caller.creds, collection, resource_id, given)}


@router.delete(PATH, status_code=204)
def delete_tags(collection: str, resource_id: str, caller: CallerDep) -> Response:
    caller.enforce("update_tags")
    with caller.cloud.transaction() as session:
        tags.replace_tags(session, caller.cloud.clock, caller.creds, collection, resource_id, [])
    return Response(status_code=204)


@router.get(PATH + "/{tag}", status_code=204)
def check_tag(collection: str, resource_id: str, tag: str, caller: CallerDep) -> Response:
    with caller.cloud.sessions() as session:
        tags.has_tag(session, caller.creds, collection, resource_id, tag)
    return Response(status_code=204)


@router.put(PATH + "/{tag}", status_code=201)
def add_tag(collection: str, resource_id: str, tag: str, caller: CallerDep) -> Response:
    caller.enforce("update_tags")
    with caller.cloud.transaction() as session:
        tags.add_tag(session, caller.cloud.clock, caller.creds, collection, resource_id, tag)
    return Response(status_code=201)


@router.delete(PATH + "/{tag}", status_code=204)
def remove_tag(collection: str, resource_id: str, tag: str, caller: CallerDep) -> Response:
    caller.enforce("update_tags")
    with caller.cloud.transaction() as session:
        tags.remove_tag(session, caller.cloud.clock, caller.creds, collection, resource_id, tag)
    return Response(status_code=204)
