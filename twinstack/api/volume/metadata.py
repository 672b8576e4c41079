"""Metadata of volumes and snapshots: ``/volumes/{id}/metadata`` and ``/snapshots/{id}/metadata``, as Cinder."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.volume.common import scope, service
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.volume.lookup import get_snapshot, get_volume

router = APIRouter(prefix="/v3")
KINDS = {"volumes": "Volume", "snapshots": "Snapshot"}


def _change(caller: Caller, kind: str, ident: str, items: dict[str, str] | None, replace: bool,
            remove: str | None = None) -> dict[str, str]:
    if kind not in KINDS:
        raise NotFound("The resource could not be found.")
    with caller.cloud.transaction() as session:
        row: Any = (get_volume(session, ident, scope(caller)) if kind == "volumes"
                    else get_snapshot(session, ident, scope(caller)))
        if items is not None or remove is not None:
            caller.enforce("volume:update_metadata" if kind == "volumes" else "volume:update_snapshot",
                           {"project_id": row.project_id})
        current = dict(row.meta)
        if remove is not None:
            if remove not in current:
                raise NotFound(f"{KINDS[kind]} {ident} has no metadata with key {remove}.")
            del current[remove]
        elif items is not None:
            current = dict(items) if replace else {**current, **items}
        row.meta = current
        row.updated_at = service(caller.cloud).now()
        return current


def _items(body: dict[str, Any], key: str = "metadata") -> dict[str, str]:
    found = body.get(key)
    if not isinstance(found, dict):
        raise BadRequest(f"Malformed request body: {key} must be an object")
    return {str(k): str(v) for k, v in found.items()}


@router.get("/{kind}/{ident}/metadata")
def show(kind: str, ident: str, caller: CallerDep) -> dict[str, Any]:
    return {"metadata": _change(caller, kind, ident, None, False)}


@router.post("/{kind}/{ident}/metadata")
def merge(kind: str, ident: str, body: dict[str, Any], caller: CallerDep) -> dict[str, Any]:
    return {"metadata": _change(caller, kind, ident, _items(body), False)}


@router.put("/{kind}/{ident}/metadata")
def replace(kind: str, ident: str, body: dict[str, Any], caller: CallerDep) -> dict[str, Any]:
    return {"metadata": _change(caller, kind, ident, _items(body), True)}


@router.get("/{kind}/{ident}/metadata/{key}")
def show_item(kind: str, ident: str, key: str, caller: CallerDep) -> dict[str, Any]:
    found = _change(caller, kind, ident, None, False)
    if key not in found:
        raise NotFound(f"{KINDS.get(kind, 'Resource')} {ident} has no metadata with key {key}.")
    return {"meta": {key: found[key]}}


@router.put("/{kind}/{ident}/metadata/{key}")
def set_item(kind: str, ident: str, key: str, body: dict[str, Any], caller: CallerDep) -> dict[str, Any]:
    item = _items(body, "meta")
    if list(item) != [key]:
        raise BadRequest("Request body and URI mismatch")
    _change(caller, kind, ident, item, False)
    return {"meta": item}


@router.delete("/{kind}/{ident}/metadata/{key}")
def delete_item(kind: str, ident: str, key: str, caller: CallerDep) -> Response:
    _change(caller, kind, ident, None, False, remove=key)
    return Response(status_code=200)
