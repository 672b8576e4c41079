"""Identity API: users (``/v3/users``), their password, projects and groups."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep, CloudDep, get_caller
from twinstack.api.identity.links import envelope, with_links
from twinstack.api.identity.projects import render_project
from twinstack.api.identity.resources import as_bool, extra_attributes, patch_changes, visible_domain
from twinstack.api.openapi_doc import faults
from twinstack.api.timefmt import iso_micro, parse_iso
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.identity import projects, users
from twinstack.core.identity.projects import ProjectFilter
from twinstack.core.identity.users import COMPARISONS, UserFilter
from twinstack.db.models.identity import User

router = APIRouter()


class UserIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=255)
    domain_id: str | None = Field(None, max_length=64)
    password: str | None = None
    enabled: StrictBool = True
    default_project_id: str | None = Field(None, max_length=64)
    description: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class UserBody(BaseModel):
    user: UserIn


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    name: str | None = Field(None, min_length=1, max_length=255)
    domain_id: str | None = None
    password: str | None = None
    enabled: StrictBool | None = None
    default_project_id: str | None = Field(None, max_length=64)
    description: str | None = None
    options: dict[str, Any] | None = None


class UserPatchBody(BaseModel):
    user: UserPatch


class PasswordChange(BaseModel):
    original_password: str
    password: str


class PasswordBody(BaseModel):
    user: PasswordChange


def render_user(request: Request, user: User) -> dict[str, Any]:
    """Keystone's user body: never the password; extra attributes (``email``...) flat beside the rest."""
    body: dict[str, Any] = {
        **user.extra,
        "id": user.id,
        "name": user.name,
        "domain_id": user.domain_id,
        "enabled": user.enabled,
        "password_expires_at": iso_micro(user.password_expires_at),
        "options": dict(user.options),
    }
    if user.default_project_id:
        body["default_project_id"] = user.default_project_id
    if user.description is not None:
        body["description"] = user.description
    return with_links(request, "users", body)


def _target(user: User) -> dict[str, Any]:
    return {"user.id": user.id, "user.domain_id": user.domain_id}


def _visible_user(session: Session, caller: Caller, user_id: str, action: str) -> User:
    """The user, once ``action`` is allowed on them; a missing user is 404 to those who may look."""
    user = session.get(User, user_id)
    caller.enforce(action, _target(user) if user is not None else {"user.id": user_id})
    if user is None:
        raise NotFound(f"Could not find user: {user_id}.")
    return user


def user_filter(name: str | None, domain_id: str | None, enabled: str | None,
                password_expires_at: str | None) -> UserFilter:
    """The filters of a user list; ``password_expires_at`` reads ``[{lt,lte,gt,gte,eq,neq}:]<ISO time>``."""
    expiry = None
    if password_expires_at is not None:
        comparison, _, moment = password_expires_at.partition(":")
        if comparison not in COMPARISONS:
            comparison, moment = "eq", password_expires_at
        try:
            expiry = (comparison, parse_iso(moment))
        except ValueError as exc:
            raise BadRequest(f"Invalid timestamp for password_expires_at: '{moment}'.") from exc
    return UserFilter(name=name, domain_id=domain_id, enabled=as_bool(enabled), password_expires_at=expiry)


@router.post("/v3/users", status_code=201)
def create_user(body: UserBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    asked = body.user
    token = caller.token
    domain_id = asked.domain_id or token.domain_id or token.project_domain_id or "default"
    caller.enforce("identity:create_user", {"user.domain_id": domain_id})
    new = users.NewUser(name=asked.name, domain_id=domain_id, password=asked.password, enabled=asked.enabled,
                        default_project_id=asked.default_project_id or None, description=asked.description,
                        options=asked.options, extra=extra_attributes(asked))
    cloud = caller.cloud
    with cloud.transaction() as session:
        user = users.create_user(session, new, cloud.settings.identity.password_kdf_n, cloud.clock.now())
        return {"user": render_user(request, user)}


@router.get("/v3/users")
@router.head("/v3/users", include_in_schema=False)
def list_users(request: Request, caller: CallerDep, name: str | None = None, domain_id: str | None = None,
               enabled: str | None = None, password_expires_at: str | None = None, idp_id: str | None = None,
               protocol_id: str | None = None, unique_id: str | None = None) -> dict[str, Any]:
    """Keystone's user list; its federation filters (``idp_id``, ``protocol_id``, ``unique_id``) match the users
    with a federated identity, which this cloud (no identity providers) has none of."""
    scope = visible_domain(caller, "identity:list_users", domain_id)
    where = user_filter(name, scope or domain_id, enabled, password_expires_at)
    federated = (idp_id, protocol_id, unique_id) != (None, None, None)
    with caller.cloud.sessions() as session:
        items = [] if federated else [render_user(request, u) for u in users.find_users(session, where)]
    return envelope(request, "users", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/users/{user_id}")
@router.head("/v3/users/{user_id}", include_in_schema=False)
def get_user(user_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        return {"user": render_user(request, _visible_user(session, caller, user_id, "identity:get_user"))}


@router.patch("/v3/users/{user_id}")
def update_user(user_id: str, body: UserPatchBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    changes = patch_changes(body.user, user_id)
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_user(session, caller, user_id, "identity:update_user")
        user = users.update_user(session, user_id, changes, cloud.settings.identity.password_kdf_n,
                                 cloud.revocations, cloud.clock.now())
        return {"user": render_user(request, user)}


@router.delete("/v3/users/{user_id}", status_code=204)
def delete_user(user_id: str, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_user(session, caller, user_id, "identity:delete_user")
        users.delete_user(session, user_id, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


@router.post("/v3/users/{user_id}/password", status_code=204, responses=faults(401, 403))
def change_password(user_id: str, body: PasswordBody, request: Request, cloud: CloudDep) -> Response:
    """A user changes their own password, proving it with the original one.

    As in Keystone, no token is needed (a user whose password expired has none); a token, when
    sent, must be the user's own.
    """
    if request.headers.get("x-auth-token"):
        get_caller(request, cloud).enforce("identity:change_password", {"user.id": user_id})
    with cloud.transaction() as session:
        users.change_password(session, user_id, body.user.original_password, body.user.password,
                              cloud.settings.identity.password_kdf_n, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


@router.get("/v3/users/{user_id}/projects")
@router.head("/v3/users/{user_id}/projects", include_in_schema=False)
def list_user_projects(user_id: str, request: Request, caller: CallerDep, name: str | None = None,
                       domain_id: str | None = None, enabled: str | None = None) -> dict[str, Any]:
    """The projects the user holds a role on: directly, through a group, or inherited."""
    where = ProjectFilter(name=name, domain_id=domain_id, enabled=as_bool(enabled))
    with caller.cloud.sessions() as session:
        user = _visible_user(session, caller, user_id, "identity:list_user_projects")
        items = [render_project(request, p) for p in projects.user_projects(session, user.id, where)]
    return envelope(request, "projects", items, caller.cloud.settings.identity.list_limit)

