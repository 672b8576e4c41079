"""Identity API: grants, a role given to a user or group on a project, a domain or the system.

``/v3/{projects|domains}/{id}/{users|groups}/{id}/roles[/{role_id}]``, ``/v3/system/{users|groups}/{id}/roles[/...]``
and the inherited forms ``/v3/OS-INHERIT/{domains|projects}/{id}/{users|groups}/{id}/roles[/{role_id}]
/inherited_to_projects``. PUT, check (GET or HEAD) and DELETE answer 204; the lists are role lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.identity.links import envelope
from twinstack.api.identity.roles import render_role
from twinstack.core.identity import role_grants
from twinstack.core.identity.assignments import SYSTEM_TARGET
from twinstack.core.identity.role_grants import GrantRef

router = APIRouter()


def _policy_target(found: role_grants.Parties, actor_type: str, actor_id: str, target_type: str,
                   target_id: str, role_id: str | None) -> dict[str, Any]:
    """The flat policy target of a grant: each party's id and domain, and ``target.domain_id``."""
    target: dict[str, Any] = {
        f"{actor_type}.id": actor_id,
        f"{actor_type}.domain_id": found.actor.domain_id if found.actor is not None else None,
        "target.domain_id": found.target_domain_id,
    }
    if target_type != "system":
        target[f"{target_type}.id"] = target_id
    if target_type == "project":
        target["project.domain_id"] = found.target_domain_id
    if role_id is not None:
        target["role.id"] = role_id
        target["role.domain_id"] = found.role.domain_id if found.role is not None else None
    return target


def _enforce(session: Session, caller: Caller, action: str, actor_type: str, actor_id: str, target_type: str,
             target_id: str, role_id: str | None = None, both_domains: bool = False) -> None:
    """Enforce ``action`` on the grant's parties (before any 404, so nothing leaks to those refused).

    With ``both_domains`` (checks and lists) a domain reader must be a reader of the target's
    domain and of the actor's, as in Keystone's defaults.
    """
    found = role_grants.parties(session, actor_type, actor_id, target_type, target_id, role_id)
    target = _policy_target(found, actor_type, actor_id, target_type, target_id, role_id)
    caller.enforce(action, target)
    if both_domains and found.actor is not None and not caller.allows(action, {}):
        caller.enforce(action, {**target, "target.domain_id": found.actor.domain_id})


def _grant_routes(prefix: str, suffix: str, target_type: str, actor_type: str, inherited: bool) -> None:
    """Register the check/put/delete and list routes of one (target, actor, inherited) combination."""
    one = f"{prefix}/roles/{{role_id}}{suffix}"
    many = f"{prefix}/roles{suffix}"
    fixed_target = SYSTEM_TARGET if target_type == "system" else None
    list_action = "identity:list_system_grants" if target_type == "system" else "identity:list_grants"

    def ref(target_id: str, actor_id: str, role_id: str) -> GrantRef:
        return GrantRef(actor_type, actor_id, target_type, target_id, role_id, inherited)

    def put_grant(target_id: str, actor_id: str, role_id: str, caller: Caller) -> Response:
        with caller.cloud.transaction() as session:
            _enforce(session, caller, "identity:create_grant", actor_type, actor_id, target_type, target_id,
                     role_id)
            role_grants.create_grant(session, ref(target_id, actor_id, role_id))
        return Response(status_code=204)

    def check_grant(target_id: str, actor_id: str, role_id: str, caller: Caller) -> Response:
        with caller.cloud.sessions() as session:
            _enforce(session, caller, "identity:check_grant", actor_type, actor_id, target_type, target_id,
                     role_id, both_domains=True)
            role_grants.check_grant(session, ref(target_id, actor_id, role_id))
        return Response(status_code=204)

    def delete_grant(target_id: str, actor_id: str, role_id: str, caller: Caller) -> Response:
        cloud = caller.cloud
        with cloud.transaction() as session:
            _enforce(session, caller, "identity:revoke_grant", actor_type, actor_id, target_type, target_id,
                     role_id)
            role_grants.revoke_grant(session, ref(target_id, actor_id, role_id), cloud.revocations,
                                     cloud.clock.now())
        return Response(status_code=204)

    def list_grants(target_id: str, actor_id: str, request: Request, caller: Caller) -> dict[str, Any]:
        with caller.cloud.sessions() as session:
            _enforce(session, caller, list_action, actor_type, actor_id, target_type, target_id,
                     both_domains=True)
            found = role_grants.list_grants(session, actor_type, actor_id, target_type, target_id, inherited)
            return envelope(request, "roles", [render_role(request, r) for r in found])

    for handler, methods in ((put_grant, ["PUT"]), (check_grant, ["GET", "HEAD"]), (delete_grant, ["DELETE"])):
        router.add_api_route(one, _bind(handler, fixed_target), methods=methods, status_code=204,
                             include_in_schema=False)
    router.add_api_route(many, _bind_list(list_grants, fixed_target), methods=["GET", "HEAD"],
                         include_in_schema=False)


def _bind(handler: Callable[[str, str, str, Caller], Response], fixed_target: str | None) -> Callable[..., Response]:
    """The handler with FastAPI's signature: ``target_id`` from the path, unless the target is fixed."""
    if fixed_target is not None:
        def system_endpoint(actor_id: str, role_id: str, caller: CallerDep) -> Response:
            return handler(fixed_target, actor_id, role_id, caller)
        return system_endpoint

    def endpoint(target_id: str, actor_id: str, role_id: str, caller: CallerDep) -> Response:
        return handler(target_id, actor_id, role_id, caller)
    return endpoint


def _bind_list(handler: Callable[[str, str, Request, Caller], dict[str, Any]],
               fixed_target: str | None) -> Callable[..., dict[str, Any]]:
    if fixed_target is not None:
        def system_endpoint(actor_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
            return handler(fixed_target, actor_id, request, caller)
        return system_endpoint

    def endpoint(target_id: str, actor_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
        return handler(target_id, actor_id, request, caller)
    return endpoint


for _actor_type in ("user", "group"):
    for _target_type in ("project", "domain"):
        _path = f"/{_target_type}s/{{target_id}}/{_actor_type}s/{{actor_id}}"
        _grant_routes(f"/v3{_path}", "", _target_type, _actor_type, inherited=False)
        _grant_routes(f"/v3/OS-INHERIT{_path}", "/inherited_to_projects", _target_type, _actor_type, inherited=True)
    _grant_routes(f"/v3/system/{_actor_type}s/{{actor_id}}", "", "system", _actor_type, inherited=False)
