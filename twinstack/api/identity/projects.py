"""Identity API: projects (``/v3/projects``), their hierarchy and their tags.

Domains are not stored as projects here, but Keystone shows them as projects "acting as domains"
(``is_domain: true``): ``GET /v3/projects/{domain_id}`` and ``?is_domain=true`` show them so, read
only; creating such a project is refused (use ``/v3/domains``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.identity.links import envelope, list_links, v3_url, with_links
from twinstack.api.identity.resources import (
    as_bool,
    extra_attributes,
    flag,
    patch_changes,
    tag_list,
    visible_domain,
)
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.identity import domains, projects
from twinstack.core.identity.projects import ProjectFilter
from twinstack.db.models.identity import Domain, Project

router = APIRouter()


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    domain_id: str | None = Field(None, max_length=64)
    parent_id: str | None = Field(None, max_length=64)
    enabled: StrictBool = True
    is_domain: StrictBool = False
    tags: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


class ProjectBody(BaseModel):
    project: ProjectIn


class ProjectPatch(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    name: str | None = Field(None, min_length=1, max_length=64)
    description: str | None = None
    domain_id: str | None = None
    parent_id: str | None = None
    enabled: StrictBool | None = None
    is_domain: StrictBool | None = None
    tags: list[str] | None = None
    options: dict[str, Any] | None = None


class ProjectPatchBody(BaseModel):
    project: ProjectPatch


class TagsBody(BaseModel):
    tags: list[str]


def render_project(request: Request, project: Project) -> dict[str, Any]:
    """Keystone's project body: its own attributes, then any extra ones it was given."""
    return with_links(request, "projects", {
        **project.extra,
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "description": project.description,
        "enabled": project.enabled,
        "parent_id": projects.parent_or_domain(project),
        "is_domain": False,
        "tags": list(project.tags),
        "options": dict(project.options),
    })


def render_domain_as_project(request: Request, domain: Domain) -> dict[str, Any]:
    return with_links(request, "projects", {
        "id": domain.id,
        "name": domain.name,
        "domain_id": None,
        "description": domain.description,
        "enabled": domain.enabled,
        "parent_id": None,
        "is_domain": True,
        "tags": list(domain.tags),
        "options": dict(domain.options),
    })


def _target(project: Project) -> dict[str, Any]:
    return {"project.id": project.id, "project.domain_id": project.domain_id}


def _visible_project(session: Session, caller: Caller, project_id: str, action: str) -> Project:
    """The project, once ``action`` is allowed on it; a missing project is 404 to those who may look."""
    project = session.get(Project, project_id)
    caller.enforce(action, _target(project) if project is not None else {"project.id": project_id})
    if project is None:
        raise NotFound(f"Could not find project: {project_id}.")
    return project


@router.post("/v3/projects", status_code=201)
def create_project(body: ProjectBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    asked = body.project
    caller.enforce("identity:create_project", {"project.domain_id": asked.domain_id})
    if asked.is_domain:
        raise BadRequest("Projects acting as domains are not supported here: create a domain with /v3/domains.")
    token = caller.token
    new = projects.NewProject(
        name=asked.name, domain_id=asked.domain_id or None, parent_id=asked.parent_id or None,
        description=asked.description or "", enabled=asked.enabled, tags=tuple(asked.tags),
        options=asked.options, extra=extra_attributes(asked))
    with caller.cloud.transaction() as session:
        project = projects.create_project(session, new, token.domain_id or token.project_domain_id or "default")
        return {"project": render_project(request, project)}


@router.get("/v3/projects")
@router.head("/v3/projects", include_in_schema=False)
def list_projects(
    request: Request,
    caller: CallerDep,
    name: str | None = None,
    domain_id: str | None = None,
    parent_id: str | None = None,
    enabled: str | None = None,
    is_domain: str | None = None,
    tags: str | None = None,
    tags_any: str | None = Query(None, alias="tags-any"),
    not_tags: str | None = Query(None, alias="not-tags"),
    not_tags_any: str | None = Query(None, alias="not-tags-any"),
) -> dict[str, Any]:
    """Projects, filtered as asked; ``?is_domain=true`` lists the domains shown as projects."""
    scope = visible_domain(caller, "identity:list_projects", domain_id)
    where = ProjectFilter(name=name, domain_id=scope or domain_id, parent_id=parent_id, enabled=as_bool(enabled),
                          tags=tag_list(tags), tags_any=tag_list(tags_any), not_tags=tag_list(not_tags),
                          not_tags_any=tag_list(not_tags_any))
    with caller.cloud.sessions() as session:
        if as_bool(is_domain):
            found = [d for d in domains.find_domains(session, name=name, enabled=where.enabled)
                     if scope is None or d.id == scope]
            items = [render_domain_as_project(request, d) for d in found]
        else:
            items = [render_project(request, p) for p in projects.find_projects(session, where)]
    return envelope(request, "projects", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/projects/{project_id}")
@router.head("/v3/projects/{project_id}", include_in_schema=False)
def get_project(
    project_id: str,
    request: Request,
    caller: CallerDep,
    parents_as_list: str | None = None,
    parents_as_ids: str | None = None,
    subtree_as_list: str | None = None,
    subtree_as_ids: str | None = None,
) -> dict[str, Any]:
    """A project; with ``?parents_as_*`` / ``?subtree_as_*`` its ancestors or descendants too.

    The ``_as_list`` forms show only the projects the caller holds a role on, as Keystone does.
    """
    if flag(parents_as_list) and flag(parents_as_ids):
        raise BadRequest("Cannot use parents_as_list and parents_as_ids query params at the same time.")
    if flag(subtree_as_list) and flag(subtree_as_ids):
        raise BadRequest("Cannot use subtree_as_list and subtree_as_ids query params at the same time.")
    with caller.cloud.sessions() as session:
        if session.get(Project, project_id) is None:
            domain = session.get(Domain, project_id)
            if domain is not None:
                caller.enforce("identity:get_project", {"project.id": domain.id, "project.domain_id": domain.id})
                return {"project": render_domain_as_project(request, domain)}
        project = _visible_project(session, caller, project_id, "identity:get_project")
        body = render_project(request, project)
        reachable: set[str] | None = None
        if flag(parents_as_list) or flag(subtree_as_list):
            reachable = projects.assignment_targets(session, caller.token.user_id, "project")
        if flag(parents_as_list) or flag(parents_as_ids):
            ancestors = projects.parents(session, project)
            body["parents"] = (projects.parents_as_ids(project, ancestors) if flag(parents_as_ids) else
                               [{"project": render_project(request, p)} for p in ancestors
                                if reachable is not None and p.id in reachable])
        if flag(subtree_as_list) or flag(subtree_as_ids):
            below = projects.subtree(session, project.id)
            body["subtree"] = (projects.subtree_as_ids(project.id, below) if flag(subtree_as_ids) else
                               [{"project": render_project(request, p)} for p in below
                                if reachable is not None and p.id in reachable])
        return {"project": body}


@router.patch("/v3/projects/{project_id}")
def update_project(project_id: str, body: ProjectPatchBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    changes = patch_changes(body.project, project_id)
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_project(session, caller, project_id, "identity:update_project")
        project = projects.update_project(session, project_id, changes, cloud.revocations, cloud.clock.now())
        return {"project": render_project(request, project)}


@router.delete("/v3/projects/{project_id}", status_code=204)
def delete_project(project_id: str, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_project(session, caller, project_id, "identity:delete_project")
        projects.delete_project(session, project_id, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


def _tags_body(request: Request, tags: list[str]) -> dict[str, Any]:
    return {"tags": list(tags), "links": list_links(request)}


@router.get("/v3/projects/{project_id}/tags")
@router.head("/v3/projects/{project_id}/tags", include_in_schema=False)
def list_project_tags(project_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        project = _visible_project(session, caller, project_id, "identity:project_tags")
        return _tags_body(request, project.tags)


@router.put("/v3/projects/{project_id}/tags")
def replace_project_tags(project_id: str, body: TagsBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_project(session, caller, project_id, "identity:update_project_tags")
        project = projects.update_project(session, project_id, {"tags": body.tags}, cloud.revocations,
                                          cloud.clock.now())
        return _tags_body(request, project.tags)


@router.delete("/v3/projects/{project_id}/tags", status_code=204)
def clear_project_tags(project_id: str, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_project(session, caller, project_id, "identity:update_project_tags")
        projects.update_project(session, project_id, {"tags": []}, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)


@router.get("/v3/projects/{project_id}/tags/{tag}", status_code=204)
@router.head("/v3/projects/{project_id}/tags/{tag}", status_code=204, include_in_schema=False)
def check_project_tag(project_id: str, tag: str, caller: CallerDep) -> Response:
    with caller.cloud.sessions() as session:
        project = _visible_project(session, caller, project_id, "identity:project_tags")
        if tag not in project.tags:
            raise NotFound(f"Could not find project tag: {tag}.")
    return Response(status_code=204)


@router.put("/v3/projects/{project_id}/tags/{tag}", status_code=201)
def add_project_tag(project_id: str, tag: str, request: Request, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_project(session, caller, project_id, "identity:update_project_tags")
        projects.add_tag(session, project_id, tag, cloud.revocations, cloud.clock.now())
    return Response(status_code=201, headers={"Location": v3_url(request, f"projects/{project_id}/tags/{tag}")})


@router.delete("/v3/projects/{project_id}/tags/{tag}", status_code=204)
def remove_project_tag(project_id: str, tag: str, caller: CallerDep) -> Response:
    cloud = caller.cloud
    with cloud.transaction() as session:
        _visible_project(session, caller, project_id, "identity:update_project_tags")
        projects.remove_tag(session, project_id, tag, cloud.revocations, cloud.clock.now())
    return Response(status_code=204)
