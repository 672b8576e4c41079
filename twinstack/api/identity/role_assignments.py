"""Identity API: ``GET /v3/role_assignments``, who holds which role where, as stored or in effect.

Filters: ``user.id``, ``group.id``, ``role.id``, ``scope.project.id`` (with ``include_subtree``),
``scope.domain.id``, ``scope.system=all``, ``scope.OS-INHERIT:inherited_to=projects``; flags
``effective`` and ``include_names``. Who sees what: an admin or a system reader sees every
assignment; a domain-scoped reader those on its domain and its projects; anyone may list their
own (``user.id`` set to themselves), confined to their token's domain when it is domain-scoped.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request

from twinstack.api.deps import CallerDep
from twinstack.api.identity.links import list_links, v3_url
from twinstack.api.identity.resources import flag
from twinstack.core.errors import BadRequest
from twinstack.core.identity import role_assignments
from twinstack.core.identity.assignments import Grant
from twinstack.core.identity.role_assignments import AssignmentQuery, Listed, Names

router = APIRouter()

ACTION = "identity:list_role_assignments"
INHERITED_TO = "scope.OS-INHERIT:inherited_to"


def _query(request: Request) -> AssignmentQuery:
    """The query's filters, refusing the combinations Keystone refuses (400)."""
    params = request.query_params
    user, group = params.get("user.id"), params.get("group.id")
    project, domain, system = params.get("scope.project.id"), params.get("scope.domain.id"), params.get("scope.system")
    effective = flag(params.get("effective"))
    inherited = params[INHERITED_TO] == "projects" if INHERITED_TO in params else None
    if domain and project:
        raise BadRequest("Specify a domain or project, not both")
    if domain and system:
        raise BadRequest("Specify system or domain, not both")
    if project and system:
        raise BadRequest("Specify system or project, not both")
    if user and group:
        raise BadRequest("Specify a user or group, not both")
    if effective and group:
        raise BadRequest("Combining effective and group filter will always result in an empty list.")
    if effective and inherited and domain:
        raise BadRequest("Combining effective, domain and inherited filters will always result in an empty list.")
    include_subtree = flag(params.get("include_subtree"))
    if include_subtree and not project:
        raise BadRequest("scope.project.id must be specified if include_subtree is also specified")
    return AssignmentQuery(
        user_id=user or None, group_id=group or None, role_id=params.get("role.id") or None,
        project_id=project or None, domain_id=domain or None, system=system == "all", inherited=inherited,
        effective=effective, include_subtree=include_subtree,
    )


def render_assignment(request: Request, listed: Listed, names: Names | None) -> dict[str, Any]:
    """One entry as Keystone shapes it, with ``links.assignment`` naming the grant it comes from."""
    grant = listed.grant

    def domain_ref(domain_id: str) -> dict[str, Any]:
        domain = names.domains.get(domain_id) if names else None
        return {"id": domain_id, "name": domain.name if domain else ""}

    def ref(entity_id: str, table: dict[str, Any] | None, domain: bool = True) -> dict[str, Any]:
        if names is None or table is None:
            return {"id": entity_id}
        entity = table.get(entity_id)
        body: dict[str, Any] = {"id": entity_id, "name": entity.name if entity else ""}
        if domain and entity is not None:
            body["domain"] = domain_ref(entity.domain_id)
        return body

    body: dict[str, Any] = {}
    role = names.roles.get(listed.role_id) if names else None
    body["role"] = ref(listed.role_id, names.roles if names else None, domain=False)
    if role is not None and role.domain_id:
        body["role"]["domain"] = domain_ref(role.domain_id)
    if listed.user_id is not None:
        body["user"] = ref(listed.user_id, names.users if names else None)
    else:
        body["group"] = ref(grant.actor_id, names.groups if names else None)
    scope: dict[str, Any]
    if listed.target_type == "system":
        scope = {"system": {"all": True}}
    elif listed.target_type == "domain":
        scope = {"domain": ref(listed.target_id, names.domains if names else None, domain=False)}
    else:
        scope = {"project": ref(listed.target_id, names.projects if names else None)}
    if grant.inherited:
        scope["OS-INHERIT:inherited_to"] = "projects"
    body["scope"] = scope
    links: dict[str, str] = {"assignment": v3_url(request, grant_path(grant))}
    if listed.user_id is not None and grant.to_group:
        links["membership"] = v3_url(request, f"groups/{grant.actor_id}/users/{listed.user_id}")
    if listed.implied_by is not None:
        links["prior_role"] = v3_url(request, f"roles/{listed.implied_by}/implies/{listed.role_id}")
    body["links"] = links
    return body


def grant_path(grant: Grant) -> str:
    """The grant's own resource, relative to ``/v3``."""
    actor = f"{'groups' if grant.to_group else 'users'}/{grant.actor_id}/roles/{grant.role_id}"
    if grant.target_type == "system":
        return f"system/{actor}"
    path = f"{grant.target_type}s/{grant.target_id}/{actor}"
    return f"OS-INHERIT/{path}/inherited_to_projects" if grant.inherited else path


@router.get("/v3/role_assignments")
@router.head("/v3/role_assignments", include_in_schema=False)
def list_role_assignments(request: Request, caller: CallerDep) -> dict[str, Any]:
    query = _query(request)
    visible: str | None = None
    if not caller.allows(ACTION, {}):
        caller.enforce(ACTION, {"domain_id": caller.token.domain_id, "user.id": query.user_id})
        visible = caller.token.domain_id
    query = replace(query, visible_domain=visible)
    with caller.cloud.sessions() as session:
        found = role_assignments.list_assignments(session, query)
        names = role_assignments.names_of(session, found) if flag(request.query_params.get("include_names")) else None
        items = [render_assignment(request, a, names) for a in found]
    return {"role_assignments": items, "links": list_links(request)}
