"""Compute API (Nova v2.1): os-server-groups — create, list, show, delete.

Before 2.64 a group has ``policies`` (a list of one) and an always empty ``metadata``; from 2.64 it
has one ``policy`` and ``rules`` (``max_server_per_host`` for anti-affinity). The soft policies
exist from 2.15, the owner's project and user ids show from 2.13.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, StrictInt, field_validator

from twinstack.api.compute.common import Body, flag, json_body, parse, v
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import CallerDep
from twinstack.core.compute import server_groups
from twinstack.core.compute.admin_policies import GROUPS
from twinstack.core.compute.model import ServerGroup
from twinstack.core.compute.server_groups import POLICIES, SOFT_POLICIES
from twinstack.core.errors import BadRequest, Forbidden

router = APIRouter(prefix="/v2.1")

JsonDep = Annotated[Any, Depends(json_body)]
Policy = Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]


def render(group: ServerGroup, version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {"id": group.uuid, "name": group.name}
    if version >= v(64):
        body |= {"policy": group.policy, "rules": dict(group.rules)}
    else:
        body |= {"policies": [group.policy], "metadata": {}}
    body["members"] = list(group.members)
    if version >= v(13):
        body |= {"project_id": group.project_id, "user_id": group.user_id}
    return body


class GroupName(Body):
    name: str = Field(min_length=1, max_length=255)

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("must not begin or end with spaces")
        return value


class GroupBefore264(GroupName):
    policies: list[Policy] = Field(min_length=1, max_length=1)


class Rules(Body):
    max_server_per_host: StrictInt | Annotated[str, Field(pattern=r"^[0-9]+$")] = Field(...)


class Group264(GroupName):
    policy: Policy
    rules: Rules | None = None


class CreateBefore264(Body):
    server_group: GroupBefore264


class Create264(Body):
    server_group: Group264


@router.post("/os-server-groups")
def create_server_group(caller: CallerDep, version: MicroversionDep, compute: ComputeDep,
                        data: JsonDep) -> dict[str, Any]:
    creds = caller.creds
    if creds.project_id is None:
        raise Forbidden("Server groups are created in a project: use a project-scoped token.")
    caller.enforce(GROUPS + "create", {"project_id": creds.project_id})
    rules: dict[str, int] = {}
    if version >= v(64):
        new = parse(Create264, data).server_group
        policy, name = new.policy, new.name
        if new.rules is not None:
            rules = {"max_server_per_host": int(new.rules.max_server_per_host)}
    else:
        old = parse(CreateBefore264, data).server_group
        policy, name = old.policies[0], old.name
    allowed = POLICIES + SOFT_POLICIES if version >= v(15) else POLICIES
    if policy not in allowed:
        raise BadRequest(f"Invalid input for field/attribute policies. Value: {[policy]}. '{policy}' is not one of "
                         f"{list(allowed)}")
    group = server_groups.create_group(compute.server_groups, compute.quotas, name, policy, creds.project_id,
                                       creds.user_id, compute.now(), rules)
    return {"server_group": render(group, version)}


def _page(request: Request, groups: list[ServerGroup]) -> list[ServerGroup]:
    """Nova's common.limited: ``offset`` and ``limit`` query parameters."""
    try:
        offset = int(request.query_params.get("offset", 0))
        limit = int(request.query_params.get("limit", 1000))
    except ValueError:
        raise BadRequest("limit and offset param must be an integer") from None
    if offset < 0 or limit < 0:
        raise BadRequest("limit and offset param must be positive")
    return groups[offset:offset + min(limit or 1000, 1000)]


@router.get("/os-server-groups")
def list_server_groups(request: Request, caller: CallerDep, version: MicroversionDep,
                       compute: ComputeDep) -> dict[str, Any]:
    project_id = caller.creds.project_id
    caller.enforce(GROUPS + "index", {"project_id": project_id})
    every = flag(request.query_params.get("all_projects"), "all_projects") and caller.allows(
        GROUPS + "index:all_projects")
    found = compute.server_groups.find(None if every else project_id)
    return {"server_groups": [render(g, version) for g in _page(request, found)]}


@router.get("/os-server-groups/{group_id}")
def show_server_group(group_id: str, caller: CallerDep, version: MicroversionDep,
                      compute: ComputeDep) -> dict[str, Any]:
    group = server_groups.get_group(compute.server_groups, group_id)
    caller.enforce(GROUPS + "show", {"project_id": group.project_id})
    return {"server_group": render(group, version)}


@router.delete("/os-server-groups/{group_id}", status_code=204)
def delete_server_group(group_id: str, caller: CallerDep, compute: ComputeDep) -> Response:
    group = server_groups.get_group(compute.server_groups, group_id)
    caller.enforce(GROUPS + "delete", {"project_id": group.project_id})
    server_groups.delete_group(compute.server_groups, group_id)
    return Response(status_code=204)
