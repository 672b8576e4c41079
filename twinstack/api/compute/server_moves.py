"""Compute API (Nova v2.1): the server actions that move or recreate a server — ``resize``, ``confirmResize``,
``revertResize``, ``migrate``, ``os-migrateLive``, ``evacuate`` and ``rebuild`` — called from the action route.

Bodies are checked per microversion as Nova's schemas check them: ``migrate`` takes a ``host`` from 2.56;
``os-migrateLive`` needs ``disk_over_commit`` before 2.25, accepts ``block_migration: "auto"`` from 2.25
and ``force`` from 2.30 to 2.67; ``evacuate`` needs ``onSharedStorage`` before 2.14 (and answers the admin
password then), takes ``force`` from 2.29 to 2.67. Status codes are Nova's: 202, but 204 for
confirmResize and 200 for evacuate; rebuild answers the server.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from twinstack.api.compute.common import Body, find_server, parse, refuse_before, request_id, v
from twinstack.api.compute.microversion import Version
from twinstack.api.compute.server_params import generate_password
from twinstack.api.compute.server_views import ServerView
from twinstack.api.deps import Caller
from twinstack.core.compute import move_requests
from twinstack.core.compute.boot import resolve_flavor, resolve_image
from twinstack.core.compute.context import ComputeContext
from twinstack.core.errors import BadRequest

SERVERS = "os_compute_api:servers:"
MIGRATE = "os_compute_api:os-migrate-server:"
EVACUATE = "os_compute_api:os-evacuate"


class ResizeIn(Body):
    flavorRef: str | int  # noqa: N815
    OS_DCF_diskConfig: str | None = Field(None, alias="OS-DCF:diskConfig")


class MigrateIn(Body):
    host: str | None = None


class LiveMigrateIn(Body):
    host: str | None
    block_migration: bool | str
    disk_over_commit: bool | None = None
    force: bool | None = None


class EvacuateIn(Body):
    host: str | None = None
    onSharedStorage: bool | str | None = None  # noqa: N815
    adminPass: str | None = None  # noqa: N815
    force: bool | None = None


class RebuildIn(Body):
    imageRef: str  # noqa: N815
    name: str | None = Field(None, min_length=1, max_length=255)
    adminPass: str | None = None  # noqa: N815
    metadata: dict[str, str] | None = None
    preserve_ephemeral: bool | None = None
    accessIPv4: str | None = None  # noqa: N815
    accessIPv6: str | None = None  # noqa: N815
    OS_DCF_diskConfig: str | None = Field(None, alias="OS-DCF:diskConfig")
    description: str | None = None
    key_name: str | None = None
    user_data: str | None = None
    trusted_image_certificates: list[str] | None = None


ATTRIBUTES = {"description": "description", "accessIPv4": "access_ipv4", "accessIPv6": "access_ipv6"}
"""Rebuild body keys that change API-only attributes, and the ServerAttributes field each sets."""

MOVE_ACTIONS = frozenset({"resize", "confirmResize", "revertResize", "migrate", "os-migrateLive", "evacuate",
                          "rebuild"})


def move_action(name: str, payload: Any, server_id: str, request: Request, caller: Caller, version: Version,
                compute: ComputeContext) -> Response:
    """Carry out one of MOVE_ACTIONS on the server (the action route has found its name)."""
    user, rid, admin = caller.token.user_id, request_id(request), caller.creds.is_admin
    if name == "resize":
        body = parse(ResizeIn, payload)
        find_server(compute, caller, server_id, SERVERS + "resize")
        with caller.cloud.sessions() as session:
            try:
                flavor = resolve_flavor(session, caller.creds, str(body.flavorRef))
            except BadRequest:
                raise BadRequest("Unable to locate requested flavor.") from None
        move_requests.resize(compute, server_id, flavor, user, rid, admin)
    elif name == "confirmResize":
        find_server(compute, caller, server_id, SERVERS + "confirm_resize")
        move_requests.confirm_resize(compute, server_id, user, rid, admin)
        return Response(status_code=204)
    elif name == "revertResize":
        find_server(compute, caller, server_id, SERVERS + "revert_resize")
        move_requests.revert_resize(compute, server_id, user, rid, admin)
    elif name == "migrate":
        if payload is not None and version < v(56):
            raise BadRequest("Invalid input for field/attribute migrate. Value: must be null before 2.56.")
        host = parse(MigrateIn, payload).host if payload is not None else None
        find_server(compute, caller, server_id, MIGRATE + "migrate")
        if host is not None:
            caller.enforce(MIGRATE + "migrate:host", {"project_id": caller.creds.project_id})
        move_requests.migrate(compute, server_id, user, rid, host)
    elif name == "os-migrateLive":
        live = _live_body(payload, request, version)
        find_server(compute, caller, server_id, MIGRATE + "migrate_live")
        block = None if live.block_migration == "auto" else bool(live.block_migration)
        move_requests.live_migrate(compute, server_id, user, rid, live.host, block, bool(live.force))
    elif name == "evacuate":
        return _evacuate(payload, server_id, request, caller, version, compute)
    else:
        return _rebuild(payload, server_id, request, caller, version, compute)
    return Response(status_code=202)


def _live_body(payload: Any, request: Request, version: Version) -> LiveMigrateIn:
    body = parse(LiveMigrateIn, payload)
    present = payload if isinstance(payload, dict) else {}
    if version < v(25):
        if "disk_over_commit" not in present:
            raise BadRequest("Invalid input for field/attribute os-migrateLive. 'disk_over_commit' is a required "
                             "property")
        if not isinstance(body.block_migration, bool):
            raise BadRequest(f"Invalid input for field/attribute block_migration. Value: {body.block_migration}. "
                             f"'{body.block_migration}' is not of type 'boolean'")
    else:
        if "disk_over_commit" in present:
            raise BadRequest("Invalid input for field/attribute os-migrateLive. Additional properties are not "
                             "allowed ('disk_over_commit' was unexpected)")
        if not isinstance(body.block_migration, bool) and body.block_migration != "auto":
            raise BadRequest(f"Invalid input for field/attribute block_migration. Value: {body.block_migration}. "
                             f"'{body.block_migration}' is not one of [True, False, 'auto']")
    if "force" in present and not v(30) <= version <= v(67):
        raise BadRequest("Invalid input for field/attribute os-migrateLive. Additional properties are not allowed "
                         "('force' was unexpected)")
    if body.force and body.host is None:
        raise BadRequest("Can't force to a non-provided destination")
    return body


def _evacuate(payload: Any, server_id: str, request: Request, caller: Caller, version: Version,
              compute: ComputeContext) -> Response:
    body = parse(EvacuateIn, payload if payload is not None else {})
    present = payload if isinstance(payload, dict) else {}
    if version < v(14) and "onSharedStorage" not in present:
        raise BadRequest("Invalid input for field/attribute evacuate. 'onSharedStorage' is a required property")
    if version >= v(14) and "onSharedStorage" in present:
        raise BadRequest("Invalid input for field/attribute evacuate. Additional properties are not allowed "
                         "('onSharedStorage' was unexpected)")
    if "force" in present and not v(29) <= version <= v(67):
        raise BadRequest("Invalid input for field/attribute evacuate. Additional properties are not allowed "
                         "('force' was unexpected)")
    shared = str(body.onSharedStorage).lower() in ("true", "1", "yes", "on") if version < v(14) else False
    if shared and body.adminPass is not None:
        raise BadRequest("admin password can't be changed on existing disk")
    if body.force and not body.host:
        raise BadRequest("Can't force to a non-provided destination")
    find_server(compute, caller, server_id, EVACUATE)
    move_requests.evacuate(compute, server_id, caller.token.user_id, request_id(request), body.host,
                           bool(body.force))
    if version < v(14):
        return JSONResponse({"adminPass": None if shared else body.adminPass or generate_password()})
    return Response(status_code=200)


def _rebuild(payload: Any, server_id: str, request: Request, caller: Caller, version: Version,
             compute: ComputeContext) -> Response:
    body = parse(RebuildIn, payload)
    present = payload if isinstance(payload, dict) else {}
    refuse_before(request, v(19), "description" in present, "description")
    refuse_before(request, v(54), "key_name" in present, "key_name")
    refuse_before(request, v(57), "user_data" in present, "user_data")
    refuse_before(request, v(63), "trusted_image_certificates" in present, "trusted_image_certificates")
    instance = find_server(compute, caller, server_id, SERVERS + "rebuild")
    with caller.cloud.sessions() as session:
        image = resolve_image(session, caller.creds, body.imageRef, instance.flavor)
    rebuilt = move_requests.rebuild(compute, server_id, image, caller.token.user_id, request_id(request),
                                    caller.creds.is_admin)
    if body.name is not None:
        rebuilt.name = body.name
    if body.metadata is not None:
        rebuilt.metadata = dict(body.metadata)
    changes = {attribute: getattr(body, key) for key, attribute in ATTRIBUTES.items() if key in present}
    if changes:
        rebuilt.attributes = replace(rebuilt.attributes, **changes)
    compute.instances.update_user_fields(rebuilt)
    view = ServerView.build(request, version, caller, compute).show(compute.service.get(rebuilt.uuid))
    view["adminPass"] = body.adminPass or generate_password()
    return JSONResponse({"server": view}, status_code=202)

