"""Projects: the tree of tenants inside each domain, their tags, and the projects a user can reach.

A project lives in one domain, under a parent project of that domain or at the top (Keystone then
shows the domain as its parent). Names are unique within a domain. The tree is kept sane as
Keystone keeps it: a child may not be made under a disabled branch nor deeper than
:data:`MAX_DEPTH`; a project is disabled only once its subtree is, enabled only under enabled
parents, deleted only as a leaf; its parent and domain never change.

Disabling or deleting a project revokes every token scoped to it; deleting it also removes the
grants on it and what was bound to it (credentials and application credentials for it, trusts on
it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from twinstack.core.clock import from_timestamp
from twinstack.core.errors import BadRequest, Conflict, Forbidden, NotFound
from twinstack.core.identity.assignments import GROUP_PROJECT, USER_PROJECT
from twinstack.core.identity.grants import user_group_ids
from twinstack.core.identity.lookup import get_or_404
from twinstack.core.identity.options import RESOURCE_OPTIONS, check_deletable, check_mutable, merge_options
from twinstack.core.identity.revocation import Revocation, RevocationList
from twinstack.db.models.identity import (
    ApplicationCredential,
    Credential,
    Domain,
    Project,
    RoleAssignment,
    Trust,
)

MAX_DEPTH = 5
"""Most levels of projects under a domain (Keystone's default ``max_project_tree_depth``)."""
MAX_TAGS = 80
MAX_TAG_LENGTH = 255


@dataclass(frozen=True)
class NewProject:
    name: str
    domain_id: str | None = None
    """None: the parent's domain, or else the caller's."""
    parent_id: str | None = None
    """A project of the same domain, or the domain itself (a top-level project), or None (top level)."""
    description: str = ""
    enabled: bool = True
    tags: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectFilter:
    """What ``GET /v3/projects`` may filter by; ``tags`` needs all, ``tags_any`` one of them."""

    name: str | None = None
    domain_id: str | None = None
    parent_id: str | None = None
    enabled: bool | None = None
    tags: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    not_tags_any: tuple[str, ...] = ()

    def admits_tags(self, tags: Iterable[str]) -> bool:
        held = set(tags)
        if self.tags and not set(self.tags) <= held:
            return False
        if self.tags_any and not held & set(self.tags_any):
            return False
        if self.not_tags and set(self.not_tags) <= held:
            return False
        return not (self.not_tags_any and held & set(self.not_tags_any))


def valid_tags(tags: Iterable[str]) -> list[str]:
    """Tags as stored (stripped), or BadRequest: at most 80, unique, 1-255 characters, no ',' or '/'."""
    cleaned = [tag.strip() for tag in tags]
    if len(cleaned) > MAX_TAGS:
        raise BadRequest(f"Invalid input for field 'tags': at most {MAX_TAGS} tags are allowed.")
    if len(set(cleaned)) != len(cleaned):
        raise BadRequest("Invalid input for field 'tags': tags must be unique.")
    for tag in cleaned:
        if not tag or len(tag) > MAX_TAG_LENGTH or "," in tag or "/" in tag:
            raise BadRequest(f"Invalid input for field 'tags': '{tag}' must be 1 to {MAX_TAG_LENGTH} "
                             "characters without ',' or '/'.")
    return cleaned


def get_project(session: Session, project_id: str) -> Project:
    return get_or_404(session, Project, project_id, "project")


def parent_or_domain(project: Project) -> str:
    """The parent Keystone shows: the parent project, or the domain for a top-level project."""
    return project.parent_id or project.domain_id


def parents(session: Session, project: Project) -> list[Project]:
    """The project's ancestors, nearest first (the domain is not among them)."""
    chain: list[Project] = []
    seen = {project.id}
    current = project.parent_id
    while current is not None and current not in seen:
        parent = session.get(Project, current)
        if parent is None:
            break
        chain.append(parent)
        seen.add(parent.id)
        current = parent.parent_id
    return chain


def subtree(session: Session, project_id: str) -> list[Project]:
    """Every project below ``project_id``, level by level (one query a level)."""
    found: list[Project] = []
    seen = {project_id}
    frontier = [project_id]
    while frontier:
        children = [p for p in session.scalars(
            select(Project).where(Project.parent_id.in_(frontier)).order_by(Project.name)) if p.id not in seen]
        found.extend(children)
        seen.update(p.id for p in children)
        frontier = [p.id for p in children]
    return found


def descendants(session: Session, project_id: str) -> set[str]:
    return {p.id for p in subtree(session, project_id)}


def parents_as_ids(project: Project, ancestors: list[Project]) -> dict[str, Any]:
    """``{parent: {grandparent: {domain: None}}}``: Keystone puts the domain at the root."""
    nested: dict[str, Any] = {project.domain_id: None}
    for ancestor in reversed(ancestors):
        nested = {ancestor.id: nested}
    return nested


def subtree_as_ids(project_id: str, below: list[Project]) -> dict[str, Any] | None:
    """``{child: {grandchild: None}, other_child: None}``, or None for a leaf."""
    children: dict[str, list[str]] = {}
    for project in below:
        if project.parent_id is not None:
            children.setdefault(project.parent_id, []).append(project.id)

    def level(parent: str) -> dict[str, Any] | None:
        ids = children.get(parent)
        return {child: level(child) for child in ids} if ids else None

    return level(project_id)


def assignment_targets(session: Session, user_id: str, kind: str) -> set[str]:
    """Every project (``kind="project"``) or domain the user holds any role on, through any grant.

    Group grants count for the group's members; an inherited grant on a domain reaches every
    project of the domain, on a project every project below it (never the target itself).
    """
    groups = user_group_ids(session, user_id)
    rows = session.scalars(
        select(RoleAssignment).where(RoleAssignment.actor_id.in_([user_id, *groups]))
    ).all()
    targets: set[str] = set()
    for row in rows:
        if kind == "project":
            if row.kind.endswith("Project") and not row.inherited:
                targets.add(row.target_id)
            elif row.inherited and row.kind.endswith("Domain"):
                targets |= set(session.scalars(select(Project.id).where(Project.domain_id == row.target_id)))
            elif row.inherited and row.kind.endswith("Project"):
                targets |= descendants(session, row.target_id)
        elif kind == "domain" and row.kind.endswith("Domain") and not row.inherited:
            targets.add(row.target_id)
    return targets


def user_projects(session: Session, user_id: str, where: ProjectFilter = ProjectFilter()) -> list[Project]:
    """The projects ``user_id`` holds a role on (enabled or not), as ``GET /users/{id}/projects``."""
    ids = assignment_targets(session, user_id, "project")
    return [p for p in find_projects(session, where) if p.id in ids]


def find_projects(session: Session, where: ProjectFilter) -> list[Project]:
    query = select(Project).order_by(Project.name, Project.id)
    if where.name is not None:
        query = query.where(Project.name == where.name)
    if where.domain_id is not None:
        query = query.where(Project.domain_id == where.domain_id)
    if where.parent_id is not None:
        top_level = Project.parent_id.is_(None) & (Project.domain_id == where.parent_id)
        query = query.where((Project.parent_id == where.parent_id) | top_level)
    if where.enabled is not None:
        query = query.where(Project.enabled.is_(where.enabled))
    return [p for p in session.scalars(query) if where.admits_tags(p.tags)]


def _assert_unique_name(session: Session, domain_id: str, name: str, project_id: str | None = None) -> None:
    clash = session.scalar(select(Project.id).where(Project.domain_id == domain_id, Project.name == name))
    if clash is not None and clash != project_id:
        raise Conflict("Conflict occurred attempting to store project - it is not permitted to have two "
                       f"projects with the same name in the same domain : {name}.")


def create_project(session: Session, new: NewProject, default_domain_id: str) -> Project:
    """A new project, placed by ``parent_id`` and/or ``domain_id``; BadRequest if they disagree."""
    parent: Project | None = None
    domain_id = new.domain_id
    if new.parent_id:
        parent = session.get(Project, new.parent_id)
        if parent is None:
            if session.get(Domain, new.parent_id) is None:
                raise BadRequest(f"Could not find project: {new.parent_id}.")
            if domain_id and domain_id != new.parent_id:
                raise BadRequest(f"Cannot create project, the parent ({new.parent_id}) is acting as a domain, "
                                 f"but this project's domain id ({domain_id}) does not match the parent's id.")
            domain_id = new.parent_id
        elif domain_id and domain_id != parent.domain_id:
            raise BadRequest(f"Cannot create project, since it specifies its domain_id {domain_id}, but "
                             f"specifies a parent in a different domain ({parent.domain_id}).")
        else:
            domain_id = parent.domain_id
    domain_id = domain_id or default_domain_id
    if session.get(Domain, domain_id) is None:
        raise BadRequest(f"Could not find domain: {domain_id}.")
    if parent is not None:
        branch = [parent, *parents(session, parent)]
        disabled = next((p for p in branch if not p.enabled), None)
        if disabled is not None:
            raise BadRequest(f"cannot create a project in a branch containing a disabled project: {disabled.id}")
        if len(branch) + 1 > MAX_DEPTH:
            raise Forbidden(f"Max hierarchy depth reached for {parent.id} branch.")
    _assert_unique_name(session, domain_id, new.name)
    project = Project(
        name=new.name,
        domain_id=domain_id,
        parent_id=parent.id if parent is not None else None,
        description=new.description,
        enabled=new.enabled,
        tags=valid_tags(new.tags),
        options=merge_options({}, new.options, RESOURCE_OPTIONS),
        extra=dict(new.extra),
    )
    session.add(project)
    session.flush()
    return project


def update_project(session: Session, project_id: str, changes: Mapping[str, Any], revocations: RevocationList,
                   now: float) -> Project:
    """Apply ``changes`` (name, description, enabled, tags, options, extra); a disable revokes tokens.

    ``domain_id``, ``parent_id`` and ``is_domain`` may be repeated but not changed.
    """
    project = get_project(session, project_id)
    check_mutable("project", project.id, project.options, changes)
    if "domain_id" in changes and changes["domain_id"] != project.domain_id:
        raise BadRequest("Cannot change Domain ID")
    if "parent_id" in changes and changes["parent_id"] != parent_or_domain(project):
        raise Forbidden("Update of `parent_id` is not allowed.")
    if changes.get("is_domain"):
        raise BadRequest("Update of `is_domain` is not allowed.")
    if "name" in changes and changes["name"] != project.name:
        _assert_unique_name(session, project.domain_id, changes["name"], project.id)
        project.name = changes["name"]
    if "description" in changes:
        project.description = changes["description"] or ""
    if "tags" in changes:
        project.tags = valid_tags(changes["tags"])
    if "options" in changes:
        project.options = merge_options(project.options, changes["options"], RESOURCE_OPTIONS)
    if changes.get("extra"):
        project.extra = {**project.extra, **changes["extra"]}
    if "enabled" in changes and changes["enabled"] != project.enabled:
        if changes["enabled"]:
            if any(not p.enabled for p in parents(session, project)):
                raise Forbidden(f"Cannot enable project {project.id} since it has disabled parents")
        else:
            if any(p.enabled for p in subtree(session, project.id)):
                raise Forbidden(f"Cannot disable project {project.id} since its subtree contains enabled "
                                "projects.")
            revocations.revoke(session, Revocation(issued_before=now, project_id=project.id), now)
        project.enabled = changes["enabled"]
    session.flush()
    return project


def add_tag(session: Session, project_id: str, tag: str, revocations: RevocationList, now: float) -> Project:
    project = get_project(session, project_id)
    if tag.strip() in project.tags:
        return project
    return update_project(session, project_id, {"tags": [*project.tags, tag]}, revocations, now)


def remove_tag(session: Session, project_id: str, tag: str, revocations: RevocationList, now: float) -> Project:
    project = get_project(session, project_id)
    if tag not in project.tags:
        raise NotFound(f"Could not find project tag: {tag}.")
    return update_project(session, project_id, {"tags": [t for t in project.tags if t != tag]}, revocations, now)


def purge_project(session: Session, project: Project, now: float) -> None:
    """Delete the project and what hangs on it; the caller revokes tokens and checks it is a leaf."""
    session.execute(delete(RoleAssignment).where(
        RoleAssignment.target_id == project.id, RoleAssignment.kind.in_([USER_PROJECT, GROUP_PROJECT])))
    session.execute(delete(ApplicationCredential).where(ApplicationCredential.project_id == project.id))
    session.execute(delete(Credential).where(Credential.project_id == project.id))
    session.execute(update(Trust).where(Trust.project_id == project.id, Trust.deleted_at.is_(None))
                    .values(deleted_at=from_timestamp(now)))
    session.delete(project)
    session.flush()


def delete_project(session: Session, project_id: str, revocations: RevocationList, now: float) -> None:
    """Delete a leaf project (Forbidden otherwise), its grants, and every token scoped to it."""
    project = get_project(session, project_id)
    check_deletable("project", project.id, project.options)
    if session.scalar(select(Project.id).where(Project.parent_id == project.id).limit(1)) is not None:
        raise Forbidden(f"Cannot delete the project {project.id} since it is not a leaf in the hierarchy.")
    purge_project(session, project, now)
    revocations.revoke(session, Revocation(issued_before=now, project_id=project_id), now)
