"""Compute API (Nova v2.1): servers — create, list (summary and detail), show, update, delete.

Creating only records the servers and hands them to the conductor (202); clients poll the server
until it is ACTIVE or ERROR. A deleted server is "not found".
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from twinstack.api.compute import down_cells, server_networks
from twinstack.api.compute.common import (
    find_server,
    is_admin,
    json_body,
    next_link,
    request_id,
    self_link,
)
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.compute.server_block_devices import check_volumes, reserve_volumes, with_image_mappings
from twinstack.api.compute.server_params import server_create, server_query, server_update
from twinstack.api.compute.server_views import ServerView
from twinstack.api.deps import Caller, CallerDep
from twinstack.api.json_answer import json_answer
from twinstack.core.compute.boot import boot_servers, read_create_references
from twinstack.core.compute.cell_mappings import SpansCells
from twinstack.core.compute.cells import CellUnavailable
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.model import Instance
from twinstack.core.errors import Forbidden, NotFound

router = APIRouter(prefix="/v2.1")

JsonDep = Annotated[Any, Depends(json_body)]
SERVERS = "os_compute_api:servers:"


@router.post("/servers", status_code=202)
def create_server(request: Request, caller: CallerDep, version: MicroversionDep, compute: ComputeDep,
                  data: JsonDep) -> Response:
    if caller.creds.project_id is None:
        raise Forbidden("Servers are created in a project: use a project-scoped token.")
    caller.enforce(SERVERS + "create", {"project_id": caller.creds.project_id})
    create, want_reservation, password = server_create(request, caller, version, data)
    with caller.cloud.engine.connect() as connection:
        references = read_create_references(connection, caller.creds, create)
    image_properties = references.image.properties if references.image is not None else None
    create = check_volumes(caller, with_image_mappings(create, image_properties))
    asked = create.attributes
    with_ports = asked.requested_networks != "none"  # "none": no port to check or make (and no group to join)
    if with_ports:
        server_networks.check_networks(caller.cloud, caller.creds, asked.requested_networks, asked.security_groups)

    def before_build(instances: list[Instance]) -> None:
        reserve_volumes(caller, create, instances)
        if with_ports:
            server_networks.allocate_networks(caller.cloud, caller.creds, [i.uuid for i in instances],
                                              asked.requested_networks, asked.security_groups)

    created = boot_servers(references, compute, caller.creds, create, request_id(request), before_build)
    if want_reservation:
        return JSONResponse({"reservation_id": created[0].reservation_id}, status_code=202)
    view = ServerView.build(request, version, caller, compute)
    return JSONResponse({"server": view.created(created[0], password)}, status_code=202,
                        headers={"Location": self_link(request, f"servers/{created[0].uuid}")})


def _list(request: Request, caller: Caller, version: Version, compute: ComputeContext,
          detail: bool) -> dict[str, Any]:
    caller.enforce(SERVERS + ("detail" if detail else "index"), {"project_id": caller.creds.project_id})
    query, limit = server_query(request, caller, version, detail)
    instances = compute.instances
    unknown: list[dict[str, Any]] = []
    if isinstance(instances, SpansCells):
        listing = instances.find_across(query)
        found = listing.instances
        if listing.down and down_cells.lists_down_cells(request, version, query):
            shape = down_cells.detail if detail else down_cells.summary
            unknown = [shape(request, m) for m in instances.mappings_in(listing.down, query.project_id)]
    else:
        found = instances.find(query)
    view = ServerView.build(request, version, caller, compute)
    if detail:
        view.prefetch(found)
    body: dict[str, Any] = {"servers": [view.show(i) if detail else view.summary(i) for i in found] + unknown}
    if found and len(found) == limit:
        body["servers_links"] = next_link(request, "servers/detail" if detail else "servers", found[-1].uuid)
    return body


@router.get("/servers", response_model=dict[str, Any])
def list_servers(request: Request, caller: CallerDep, version: MicroversionDep, compute: ComputeDep) -> Response:
    return json_answer(_list(request, caller, version, compute, detail=False))


@router.get("/servers/detail", response_model=dict[str, Any])
def list_servers_detail(request: Request, caller: CallerDep, version: MicroversionDep,
                        compute: ComputeDep) -> Response:
    return json_answer(_list(request, caller, version, compute, detail=True))


@router.get("/servers/{server_id}")
def show_server(server_id: str, request: Request, caller: CallerDep, version: MicroversionDep,
                compute: ComputeDep) -> dict[str, Any]:
    view = ServerView.build(request, version, caller, compute)
    try:
        instance = find_server(compute, caller, server_id, SERVERS + "show")
    except CellUnavailable:
        mapping = compute.instances.mapping(server_id) if isinstance(compute.instances, SpansCells) else None
        if mapping is not None and not caller.creds.is_admin and mapping.project_id != caller.creds.project_id:
            raise NotFound(f"Instance {server_id} could not be found.") from None  # another project's: not seen
        if version < down_cells.DOWN_CELL_SUPPORT or mapping is None:
            raise
        caller.enforce(SERVERS + "show", {"project_id": mapping.project_id})
        return {"server": down_cells.show(view, mapping)}
    return {"server": view.show(instance, with_groups=True)}


@router.put("/servers/{server_id}")
def update_server(server_id: str, request: Request, caller: CallerDep, version: MicroversionDep,
                  compute: ComputeDep, data: JsonDep) -> dict[str, Any]:
    name, attributes = server_update(request, data)
    find_server(compute, caller, server_id, SERVERS + "update")
    instance = compute.service.update_server(server_id, name, attributes)
    return {"server": ServerView.build(request, version, caller, compute).updated(instance)}


@router.delete("/servers/{server_id}", status_code=204)
def delete_server(server_id: str, request: Request, caller: CallerDep, compute: ComputeDep) -> Response:
    find_server(compute, caller, server_id, SERVERS + "delete")
    compute.service.delete_server(server_id, caller.token.user_id, request_id(request), is_admin(caller))
    server_networks.release_networks(caller.cloud, server_id)
    return Response(status_code=204)
