"""``POST /v3/volumes/{id}/action``: Cinder's volume actions, one body key each.

os-extend, os-retype, os-set_bootable, os-update_readonly_flag, os-set_image_metadata,
os-unset_image_metadata, os-show_image_metadata, the classic attach family (os-reserve, os-unreserve,
os-initialize_connection, os-attach, os-begin_detaching, os-roll_detaching, os-detach,
os-terminate_connection) and, for admins, os-reset_status, os-force_delete and os-force_detach.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from twinstack.api.deps import Caller, CallerDep
from twinstack.api.volume.common import at_least, flag, is_admin, scope, service
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.volume import attachments, lifecycle, retype
from twinstack.core.volume.lookup import get_volume
from twinstack.core.volume.types import get_type

router = APIRouter(prefix="/v3")
Handler = Callable[[Request, Caller, str, dict[str, Any]], Response]


def _accepted() -> Response:
    return Response(status_code=202)


def _args(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("Invalid input received: the action's body must be an object.")
    return value


def _extend(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    try:
        new_size = int(args["new_size"])
    except (KeyError, TypeError, ValueError):
        raise BadRequest("Invalid input received: new_size must be an integer.") from None
    lifecycle.extend_volume(service(caller.cloud), volume_id, scope(caller), new_size,
                            allow_in_use=at_least(request, 42))
    return _accepted()


def _retype(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    if not args.get("new_type"):
        raise BadRequest("Invalid input received: new_type is required.")
    with caller.cloud.transaction() as session:
        new_type = get_type(session, caller.creds, is_admin(caller), str(args["new_type"]))
        session.expunge(new_type)
    retype.retype_volume(service(caller.cloud), volume_id, scope(caller), new_type,
                         str(args.get("migration_policy") or "never"))
    return _accepted()


def _set_bootable(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    if "bootable" not in args:
        raise BadRequest("Invalid input received: Must specify bootable in request.")
    lifecycle.set_bootable(service(caller.cloud), volume_id, scope(caller), flag(args["bootable"]))
    return Response(status_code=200)


def _readonly(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    if "readonly" not in args:
        raise BadRequest("Invalid input received: Must specify readonly in request.")
    with caller.cloud.transaction() as session:
        row = get_volume(session, volume_id, scope(caller))
        row.meta = {**row.meta, "readonly": str(flag(args["readonly"]))}
    return _accepted()


def _set_image_metadata(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    items = _args(args.get("metadata"))
    with caller.cloud.transaction() as session:
        row = get_volume(session, volume_id, scope(caller))
        row.image_metadata = {**row.image_metadata, **{str(k): str(v) for k, v in items.items()}}
        found = dict(row.image_metadata)
    return JSONResponse({"metadata": found})


def _unset_image_metadata(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    key = str(args.get("key", ""))
    with caller.cloud.transaction() as session:
        row = get_volume(session, volume_id, scope(caller))
        if key not in row.image_metadata:
            raise NotFound(f"Glance metadata for volume/snapshot {volume_id} cannot be found.")
        row.image_metadata = {k: val for k, val in row.image_metadata.items() if k != key}
    return Response(status_code=200)


def _show_image_metadata(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    with caller.cloud.transaction() as session:
        row = get_volume(session, volume_id, scope(caller))
        return JSONResponse({"metadata": dict(row.image_metadata)})


def _initialize_connection(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    if not isinstance(args.get("connector"), dict):
        raise BadRequest("Invalid input received: Must specify 'connector'")
    with caller.cloud.transaction() as session:
        row = get_volume(session, volume_id, scope(caller))
        mode = "ro" if row.meta.get("readonly") == "True" else "rw"
        info = attachments.connection_info(row, mode, attachments.storage_protocol(session, row))
        return JSONResponse({"connection_info": info})


def _attach(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    if not args.get("mountpoint"):
        raise BadRequest("Invalid input received: Must specify 'mountpoint'")
    if not args.get("instance_uuid") and not args.get("host_name"):
        raise BadRequest("Invalid input received: Must specify 'instance_uuid' or 'host_name'")
    attachments.os_attach(service(caller.cloud), volume_id, scope(caller), args.get("instance_uuid"),
                          args.get("host_name"), str(args["mountpoint"]), str(args.get("mode") or "rw"))
    return _accepted()


def _simple(action: Callable[..., None]) -> Handler:
    def run(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
        action(service(caller.cloud), volume_id, scope(caller))
        return _accepted()
    return run


def _detach(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    attachments.os_detach(service(caller.cloud), volume_id, scope(caller), args.get("attachment_id"))
    return _accepted()


def _terminate_connection(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    with caller.cloud.transaction() as session:
        get_volume(session, volume_id, scope(caller))
    return _accepted()


def _reset_status(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    caller.enforce("volume:reset_status")
    lifecycle.reset_status(service(caller.cloud), volume_id, args.get("status"), args.get("attach_status"),
                           args.get("migration_status"))
    return _accepted()


def _force_delete(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    caller.enforce("volume:force_delete")
    lifecycle.delete_volume(service(caller.cloud), volume_id, None, force=True)
    return _accepted()


def _force_detach(request: Request, caller: Caller, volume_id: str, args: dict[str, Any]) -> Response:
    caller.enforce("volume:reset_status")
    attachments.os_detach(service(caller.cloud), volume_id, None, args.get("attachment_id"))
    return _accepted()


ACTIONS: dict[str, tuple[str, Handler]] = {
    "os-extend": ("volume:extend", _extend),
    "os-retype": ("volume:retype", _retype),
    "os-set_bootable": ("volume:set_bootable", _set_bootable),
    "os-update_readonly_flag": ("volume:update", _readonly),
    "os-set_image_metadata": ("volume:update_metadata", _set_image_metadata),
    "os-unset_image_metadata": ("volume:update_metadata", _unset_image_metadata),
    "os-show_image_metadata": ("volume:get", _show_image_metadata),
    "os-reserve": ("volume:attach", _simple(attachments.os_reserve)),
    "os-unreserve": ("volume:attach", _simple(attachments.os_unreserve)),
    "os-initialize_connection": ("volume:attach", _initialize_connection),
    "os-attach": ("volume:attach", _attach),
    "os-begin_detaching": ("volume:attach", _simple(attachments.os_begin_detaching)),
    "os-roll_detaching": ("volume:attach", _simple(attachments.os_roll_detaching)),
    "os-detach": ("volume:attach", _detach),
    "os-terminate_connection": ("volume:attach", _terminate_connection),
    "os-reset_status": ("volume:reset_status", _reset_status),
    "os-force_delete": ("volume:force_delete", _force_delete),
    "os-force_detach": ("volume:reset_status", _force_detach),
}


@router.post("/volumes/{volume_id}/action")
def action(request: Request, volume_id: str, body: dict[str, Any], caller: CallerDep) -> Response:
    if len(body) != 1:
        raise BadRequest("Invalid input received: an action body has exactly one key.")
    name, args = next(iter(body.items()))
    found = ACTIONS.get(name)
    if found is None:
        raise BadRequest(f"There is no such action: {name}")
    rule, handler = found
    with caller.cloud.transaction() as session:
        owner = get_volume(session, volume_id, scope(caller)).project_id
    caller.enforce(rule, {"project_id": owner})
    return handler(request, caller, volume_id, _args(args))
