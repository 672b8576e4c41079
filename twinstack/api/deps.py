"""Dependencies shared by every service: the cloud, the caller's validated token and policy checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from twinstack.api.request_log import note_caller
from twinstack.cloud import Cloud
from twinstack.core.errors import Unauthorized
from twinstack.core.identity.access_rule_match import RuleRequest, request_allowed
from twinstack.core.identity.tokens import TokenPayload
from twinstack.core.policy import Credentials, Target


def get_cloud(request: Request) -> Cloud:
    cloud: Cloud = request.app.state.cloud
    return cloud


async def _cloud_on_loop(request: Request) -> Cloud:
    """:func:`get_cloud` as a dependency. FastAPI runs each plain ``def`` dependency in its thread pool, a hop
    worth more than this work: the cheap dependencies every request takes are ``async`` so they run on the
    event loop, and a request makes one hop only (its endpoint's)."""
    return get_cloud(request)


CloudDep = Annotated[Cloud, Depends(_cloud_on_loop)]


@dataclass(frozen=True)
class Caller:
    """Who is calling, from a token this process validated itself (no call to the identity service)."""

    token: TokenPayload
    creds: Credentials
    raw_token: str
    cloud: Cloud

    def enforce(self, action: str, target: Target | None = None) -> None:
        self.cloud.enforcer.enforce(action, self.creds, target)

    def allows(self, action: str, target: Target | None = None) -> bool:
        return self.cloud.enforcer.allows(action, self.creds, target)


def get_caller(request: Request, cloud: CloudDep) -> Caller:
    raw = request.headers.get("x-auth-token")
    if not raw:
        raise Unauthorized("The request you have made requires authentication.")
    token = cloud.validator.validate(raw)
    note_caller(request.scope, token.user_id, token.project_id)
    if token.access_rules and not _allowed_by_access_rules(request, token):
        raise Unauthorized("The request you have made requires authentication.")
    return Caller(token, Credentials.from_token(token), raw, cloud)


async def _caller_on_loop(request: Request, cloud: CloudDep) -> Caller:
    """:func:`get_caller` on the event loop (see :func:`_cloud_on_loop`): a token seen before is a dictionary
    look-up, a new one a signature check of some tens of microseconds, and revocations are held in memory."""
    return get_caller(request, cloud)


CallerDep = Annotated[Caller, Depends(_caller_on_loop)]
TOKEN_CHECKS = frozenset({get_caller, _caller_on_loop})
"""The dependencies that check the caller's token (a route taking one may answer 401 and 403)."""


def _allowed_by_access_rules(request: Request, token: TokenPayload) -> bool:
    """Whether an application credential's access rules allow this request to this service.

    A rule's path is matched against the path below the service's mount point (``/v2.1/servers``
    for compute, as Keystone's examples write it) or the whole path (``/compute/v2.1/servers``, as
    a service under a URL prefix sees it with keystonemiddleware). A service that does not know its
    own type refuses such tokens, as keystonemiddleware does without ``service_type``.
    """
    service = getattr(request.app.state, "service_type", None)
    if service is None:
        return False
    path = request.scope["path"]
    root = request.scope.get("root_path", "")
    below = path[len(root):] if root and path.startswith(root) else path
    return any(request_allowed(token.rule_triples, RuleRequest(service, request.method, candidate))
               for candidate in dict.fromkeys((below, path)))
