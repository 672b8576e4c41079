"""Compute API (Nova v2.1): keypairs (import, generate, list, show, delete), per user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from twinstack.api.compute.common import (
    Body,
    json_body,
    limit_and_marker,
    next_link,
    nova_datetime,
    parse,
    refuse_before,
    v,
)
from twinstack.api.compute.deps import MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import Caller, CallerDep
from twinstack.core.clock import utcnow
from twinstack.core.compute import keypairs
from twinstack.core.compute.quotas import DEFAULT_LIMITS
from twinstack.db.models.compute import KeypairRow
from twinstack.db.stores.project_lock import lock_projects
from twinstack.db.stores.quotas import overrides as quota_overrides

router = APIRouter(prefix="/v2.1")

JsonDep = Annotated[Any, Depends(json_body)]
POLICY = "os_compute_api:os-keypairs:"


def _owner(request: Request, caller: Caller, version: Version, action: str, user_id: str | None = None) -> str:
    """Whose keypairs: the caller's, or (2.10 on, policy permitting: admins) the named user's."""
    wanted = user_id if user_id is not None else request.query_params.get("user_id")
    owner = wanted if wanted and version >= v(10) else caller.token.user_id
    caller.enforce(POLICY + action, {"user_id": owner})
    return owner


def render(row: KeypairRow, version: Version, full: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"name": row.name, "public_key": row.public_key, "fingerprint": row.fingerprint}
    if full:
        body |= {"user_id": row.user_id, "deleted": False, "created_at": nova_datetime(row.created_at),
                 "deleted_at": None, "updated_at": None, "id": row.id}
    if version >= v(2):
        body["type"] = row.type
    return body


@router.get("/os-keypairs")
def list_keypairs(request: Request, caller: CallerDep, version: MicroversionDep) -> dict[str, Any]:
    owner = _owner(request, caller, version, "index")
    limit, marker = (limit_and_marker(request) if version >= v(35) else (None, None))
    with caller.cloud.sessions() as session:
        rows = keypairs.list_keypairs(session, owner, limit, marker)
        body: dict[str, Any] = {"keypairs": [{"keypair": render(r, version)} for r in rows]}
    if rows and limit is not None and len(rows) == limit:
        body["keypairs_links"] = next_link(request, "os-keypairs", rows[-1].name)
    return body


@router.get("/os-keypairs/{name}")
def show_keypair(name: str, request: Request, caller: CallerDep, version: MicroversionDep) -> dict[str, Any]:
    owner = _owner(request, caller, version, "show")
    with caller.cloud.sessions() as session:
        return {"keypair": render(keypairs.get_keypair(session, owner, name), version, full=True)}


class KeypairIn(Body):
    name: str = Field(min_length=1, max_length=255)
    public_key: str | None = Field(None, max_length=65535)
    type: str | None = None
    user_id: str | None = None


class KeypairBody(Body):
    keypair: KeypairIn


@router.post("/os-keypairs")
def create_keypair(request: Request, caller: CallerDep, version: MicroversionDep, data: JsonDep) -> Response:
    """200 at 2.1, 201 from 2.2 on; a generated key's private half is in this answer and nowhere else."""
    asked = parse(KeypairBody, data).keypair
    refuse_before(request, v(2), asked.type is not None, "type")
    refuse_before(request, v(10), asked.user_id is not None, "user_id")
    owner = _owner(request, caller, version, "create", asked.user_id or caller.token.user_id)
    new = keypairs.NewKeypair(name=asked.name, user_id=owner, type=asked.type or "ssh", public_key=asked.public_key)
    cloud = caller.cloud
    with cloud.transaction() as session:
        lock_projects(session, [f"keypairs-of:{owner}"])  # the count and the insert are one step per user
        limit = {**DEFAULT_LIMITS, **quota_overrides(session, caller.creds.project_id or "")}["key_pairs"]
        row, private_key = keypairs.create_keypair(session, new, utcnow(cloud.clock), limit)
        body = render(row, version) | {"user_id": row.user_id}
    if private_key is not None:
        body["private_key"] = private_key
    return JSONResponse({"keypair": body}, status_code=201 if version >= v(2) else 200)


@router.delete("/os-keypairs/{name}")
def delete_keypair(name: str, request: Request, caller: CallerDep, version: MicroversionDep) -> Response:
    owner = _owner(request, caller, version, "delete")
    with caller.cloud.transaction() as session:
        keypairs.delete_keypair(session, owner, name)
    return Response(status_code=204 if version >= v(2) else 202)
