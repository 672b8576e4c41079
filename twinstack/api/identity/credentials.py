"""``/v3/credentials``: users' stored secrets (ec2 keys and others). A non-admin sees only their own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.identity.links import envelope, v3_url
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.identity import credentials
from twinstack.core.identity.credentials import NewCredential
from twinstack.db.models.identity import Credential

router = APIRouter()


class CredentialIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=255)
    blob: str
    project_id: str | None = Field(None, max_length=64)


class CredentialBody(BaseModel):
    credential: CredentialIn


class CredentialPatch(BaseModel):
    id: str | None = None
    user_id: str | None = Field(None, min_length=1, max_length=64)
    type: str | None = Field(None, min_length=1, max_length=255)
    blob: str | None = None
    project_id: str | None = Field(None, max_length=64)


class CredentialPatchBody(BaseModel):
    credential: CredentialPatch


def render(request: Request, cred: Credential) -> dict[str, Any]:
    return {"id": cred.id, "user_id": cred.user_id, "project_id": cred.project_id, "type": cred.type,
            "blob": cred.blob, "links": {"self": v3_url(request, f"credentials/{cred.id}")}}


def _target(cred: Credential) -> dict[str, Any]:
    return {"credential.user_id": cred.user_id, "credential.project_id": cred.project_id}


def _owned(session: Session, caller: Caller, credential_id: str, action: str) -> Credential:
    """The credential, if the caller may act on it.

    A missing one is checked against an empty target first, so a non-admin cannot tell someone
    else's credential from none (Keystone's order).
    """
    try:
        cred = credentials.get_credential(session, credential_id)
    except NotFound:
        caller.enforce(action, {})
        raise
    caller.enforce(action, _target(cred))
    return cred


@router.post("/v3/credentials", status_code=201)
def create_credential(body: CredentialBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    asked = body.credential
    caller.enforce("identity:create_credential", {"credential.user_id": asked.user_id})
    new = NewCredential(user_id=asked.user_id, type=asked.type, blob=asked.blob, project_id=asked.project_id)
    with caller.cloud.transaction() as session:
        return {"credential": render(request, credentials.create_credential(session, new))}


@router.get("/v3/credentials")
def list_credentials(request: Request, caller: CallerDep, user_id: str | None = None,
                     type_: str | None = Query(None, alias="type")) -> dict[str, Any]:
    caller.enforce("identity:list_credentials", {"credential.user_id": caller.token.user_id})
    with caller.cloud.sessions() as session:
        found = credentials.list_credentials(session, user_id, type_)
        items = [render(request, c) for c in found if caller.allows("identity:get_credential", _target(c))]
    return envelope(request, "credentials", items, caller.cloud.settings.identity.list_limit)


@router.get("/v3/credentials/{credential_id}")
def get_credential(credential_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    with caller.cloud.sessions() as session:
        return {"credential": render(request, _owned(session, caller, credential_id, "identity:get_credential"))}


@router.patch("/v3/credentials/{credential_id}")
def update_credential(credential_id: str, body: CredentialPatchBody, request: Request,
                      caller: CallerDep) -> dict[str, Any]:
    changes = body.credential.model_dump(include=body.credential.model_fields_set)
    if changes.pop("id", credential_id) != credential_id:
        raise BadRequest("Cannot change the credential's id.")
    with caller.cloud.transaction() as session:
        cred = _owned(session, caller, credential_id, "identity:update_credential")
        if changes.get("user_id", cred.user_id) != cred.user_id:
            caller.enforce("identity:update_credential", {"credential.user_id": changes["user_id"]})
        return {"credential": render(request, credentials.update_credential(session, cred, changes))}


@router.delete("/v3/credentials/{credential_id}", status_code=204)
def delete_credential(credential_id: str, caller: CallerDep) -> Response:
    with caller.cloud.transaction() as session:
        credentials.delete_credential(session, _owned(session, caller, credential_id,
                                                      "identity:delete_credential"))
    return Response(status_code=204)
