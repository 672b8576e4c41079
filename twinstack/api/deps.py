"""Dependencies shared by every service: the cloud, the caller's validated token and policy checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from twinstack.api.request_log import note_caller
from twinstack.cloud import Cloud
from twinstack.core.errors import Unauthorized
from twinstack.core.identity.tokens import TokenPayload
from twinstack.core.policy import Credentials, Target


def get_cloud(request: Request) -> Cloud:
    cloud: Cloud = request.app.state.cloud
    return cloud


CloudDep = Annotated[Cloud, Depends(get_cloud)]


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
    return Caller(token, Credentials.from_token(token), raw, cloud)


CallerDep = Annotated[Caller, Depends(get_caller)]
