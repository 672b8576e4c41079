"""Identity API: groups (``/v3/groups``), their members, and a user's groups."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.identity.links import envelope, with_links
from twinstack.api.identity.resources import patch_changes, visible_domain
from twinstack.api.identity.users import render_user, user_filter
from twinstack.core.errors import NotFound
from twinstack.core.identity import groups, users
from twinstack.db.models.identity import Group, User

router = APIRouter()


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=64)
    domain_id: str | None = Field(None, max_length=64)
    description: str | None = None


class GroupBody(BaseModel):
    group: GroupIn


class GroupPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    name: str | None = Field(None, min_length=1, max_length=64)
    domain_id: str | None = None
    description: str | None = None


class GroupPatchBody(BaseModel):
    group: GroupPatch


def render_group(request: Request, group: Group) -> dict[str, Any]:
    return with_links(request, "groups", {
        "id": group.id,
        "name": group.name,
        "domain_id": group.domain_id,
        "description": group.description,
    })


def _target(group: Group) -> dict[str, Any]:
    return {"group.id": group.id, "group.domain_id": group.domain_id}


def _visible_group(session: Session, caller: Caller, group_id: str, action: str) -> Group:
    """The group, once ``action`` is allowed on it; a missing group is 404 to those who may look."""
    group = session.get(Group, group_id)
    caller.enforce(action, _target(group) if group is not None else {"group.id": group_id})
    if group is None:
        raise NotFound(f"Could not find group: {group_id}.")
    return group


def _membership(session: Session, caller: Caller, group_id: str, user_id: str, action: str) -> None:
    """Enforce ``action`` on a (group, user) pair, then 404 if either is missing."""
    group = session.get(Group, group_id)
    user = session.get(User, user_id)
    target: dict[str, Any] = {"group.id": group_id, "user.id": user_id}
    if group is not None:
        target["group.domain_id"] = group.domain_id
    if user is not None:
        target["user.domain_id"] = user.domain_id
    caller.enforce(action, target)
    if group is None:
        raise NotFound(f"Could not find group: {group_id}.")
    if user is None:
        raise NotFound(f"Could not find user: {user_id}.")


@router.post("/v3/groups", status_code=201)
def create_group(body: GroupBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    asked = body.group
    token = caller.token
    domain_id = asked.domain_id or token.domain_id or token.project_domain_id or "default"
    caller.enforce("identity:create_group", {"group.domain_id": domain_id})
    new = groups.NewGroup(name=asked.name, domain_id=domain_id, description=asked.description or "")
    with caller.cloud.transaction() as session:
        return {"group": render_group(request, groups.create_group(session, new))}


@router.get("/v3/groups")
@router.head("/v3/groups", include_in_schema=False)
def list_groups(request: Request, caller: CallerDep, name: str | None = None,
                domain_id: str | None = None) -> dict[str, Any]:
    scope = visible_domain(caller, "identity:list_groups", domain_id)
    with caller.cloud.sessions() as session:
        items = [render_group(request, g) for g in groups.find_groups(session, name, scope or domain_id)]
    return envelope(request, "groups", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/groups/{group_id}")
@router.head("/v3/groups/{group_id}", include_in_schema=False)
def get_group(group_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        return {"group": render_group(request, _visible_group(session, caller, group_id, "identity:get_group"))}


@router.patch("/v3/groups/{group_id}")
def update_group(group_id: str, body: GroupPatchBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    changes = patch_changes(body.group, group_id)
    with caller.cloud.transaction() as session:
        _visible_group(session, caller, group_id, "identity:update_group")
        return {"group": render_group(request, groups.update_group(session, group_id, changes))}


@router.delete("/v3/groups/{group_id}", status_code=204)
def delete_group(group_id: str, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_group(session, caller, group_id, "identity:delete_group")
        groups.delete_group(session, group_id, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


@router.get("/v3/groups/{group_id}/users")
@router.head("/v3/groups/{group_id}/users", include_in_schema=False)
def list_group_users(group_id: str, request: Request, caller: CallerDep, name: str | None = None,
                     domain_id: str | None = None, enabled: str | None = None,
                     password_expires_at: str | None = None) -> dict[str, Any]:
    where = user_filter(name, domain_id, enabled, password_expires_at)
    with caller.cloud.sessions() as session:
        group = _visible_group(session, caller, group_id, "identity:list_users_in_group")
        items = [render_user(request, u) for u in groups.members(session, group.id, where)]
    return envelope(request, "users", items, caller.cloud.settings.identity.list_limit)


@router.put("/v3/groups/{group_id}/users/{user_id}", status_code=204)
def add_user_to_group(group_id: str, user_id: str, caller: CallerDep) -> Response:
    with caller.cloud.transaction() as session:
        _membership(session, caller, group_id, user_id, "identity:add_user_to_group")
        groups.add_member(session, group_id, user_id)
    return Response(status_code=204)


@router.get("/v3/groups/{group_id}/users/{user_id}", status_code=204)
@router.head("/v3/groups/{group_id}/users/{user_id}", status_code=204, include_in_schema=False)
def check_user_in_group(group_id: str, user_id: str, caller: CallerDep) -> Response:
    with caller.cloud.sessions() as session:
        _membership(session, caller, group_id, user_id, "identity:check_user_in_group")
        groups.check_member(session, group_id, user_id)
    return Response(status_code=204)


@router.delete("/v3/groups/{group_id}/users/{user_id}", status_code=204)
def remove_user_from_group(group_id: str, user_id: str, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        _membership(session, caller, group_id, user_id, "identity:remove_user_from_group")
        groups.remove_member(session, group_id, user_id, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


@router.get("/v3/users/{user_id}/groups")
@router.head("/v3/users/{user_id}/groups", include_in_schema=False)
def list_user_groups(user_id: str, request: Request, caller: CallerDep, name: str | None = None) -> dict[str, Any]:
    """The user's groups; a domain-scoped caller sees those of its domain only."""
    scope = caller.token.domain_id
    with caller.cloud.sessions() as session:
        user = session.get(User, user_id)
        caller.enforce("identity:list_groups_for_user",
                       {"user.id": user_id, "user.domain_id": user.domain_id if user is not None else None})
        found = [g for g in users.user_groups(session, user_id, name) if scope is None or g.domain_id == scope]
        items = [render_group(request, g) for g in found]
    return envelope(request, "groups", items, caller.cloud.settings.identity.list_limit)
