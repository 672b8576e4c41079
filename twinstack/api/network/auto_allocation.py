"""``/v2.0/auto-allocated-topology/{project_id}`` (the auto-allocated-topology extension): GET answers the
project's auto-allocated network, building the topology on first use; ``?fields=dry-run`` only checks that it
could be built; DELETE takes it down."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from twinstack.api.deps import CallerDep
from twinstack.api.network.common import settings_of
from twinstack.core.errors import BadRequest
from twinstack.core.network import auto_allocation

router = APIRouter()


@router.get("/v2.0/auto-allocated-topology/{project_id}")
def get_topology(project_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("get_auto_allocated_topology")
    project = auto_allocation.project_for(caller.creds, project_id)
    fields = request.query_params.getlist("fields")
    cloud = caller.cloud
    if auto_allocation.DRY_RUN in fields:
        with cloud.sessions() as session:
            auto_allocation.check_requirements(session, caller.creds)
        return {"auto_allocated_topology": {"id": "dry-run=pass", "tenant_id": project, "project_id": project}}
    if fields:
        raise BadRequest("Bad auto_allocate request: Unrecognized field.")
    with cloud.transaction() as session:
        network_id = auto_allocation.get_or_build(session, cloud.clock, settings_of(caller), caller.creds, project)
    return {"auto_allocated_topology": {"id": network_id, "tenant_id": project, "project_id": project}}


@router.delete("/v2.0/auto-allocated-topology/{project_id}", status_code=204)
def delete_topology(project_id: str, caller: CallerDep) -> Response:
    caller.enforce("delete_auto_allocated_topology")
    project = auto_allocation.project_for(caller.creds, project_id)
    with caller.cloud.transaction() as session:
        auto_allocation.delete(session, caller.cloud.clock, caller.creds, project)
    return Response(status_code=204)
