"""Compute API (Nova v2.1): ``POST /servers/{id}/action {"createImage": {"name": ..., "metadata": {...}}}``.

Answers 202 at once with the new image's id: in a ``Location`` header (the image's URL in the image
service) before 2.45, as a ``{"image_id": ...}`` body from 2.45 on (the header gone). The image is
``queued`` until the server's host has taken and uploaded the snapshot
(:mod:`twinstack.core.compute.snapshots`). A server that cannot be snapshotted in its state is 409. A volume-backed
server's volumes are snapshotted in block storage instead, and its image holds only their mappings
(:mod:`twinstack.core.compute.image_mappings`), active at once with size 0, as Nova's snapshot_volume_backed.
Nova creates the image with the caller's own token, so the image service's property protections judge the
``metadata``: a property the caller may not create is 403 and nothing is made.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from twinstack.api.compute.common import Body, base_url, find_server, is_admin, parse, request_id, v
from twinstack.api.compute.microversion import Version
from twinstack.api.compute.server_params import NAME_PATTERN, metadata_items
from twinstack.api.deps import Caller
from twinstack.api.volume.common import service
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.volume_boot import volume_backed
from twinstack.core.image.protections import Protections
from twinstack.core.volume.server_snapshots import ServerVolumeSnapshots

ACTION = "createImage"
POLICY = "os_compute_api:servers:create_image"


class CreateImageIn(Body):
    name: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)
    metadata: dict[str, Any] | None = None


def image_url(request: Request, image_id: str) -> str:
    """The image's URL in the image service, mounted beside compute (see twinstack.api.services)."""
    compute = base_url(request)
    root = compute.removesuffix("/compute") if compute.endswith("/compute") else compute
    return f"{root}/image/v2/images/{image_id}"


def create_image(payload: Any, server_id: str, request: Request, caller: Caller, version: Version,
                 compute: ComputeContext) -> Response:
    asked = parse(CreateImageIn, payload)
    metadata = metadata_items({"metadata": asked.metadata}) if asked.metadata else {}
    instance = find_server(compute, caller, server_id, POLICY)
    protections = Protections.from_settings(caller.cloud.settings.image.property_protections)
    for name in metadata:  # Nova makes the image with the caller's token: the image service judges its properties
        protections.check(name, "create", caller.creds.roles)
    if volume_backed(instance):
        volumes = ServerVolumeSnapshots(service(caller.cloud), caller.token.user_id)
        image_id = compute.service.snapshot_volume_backed(server_id, asked.name, metadata, caller.token.user_id,
                                                          volumes, is_admin(caller))
    else:
        image_id = compute.service.create_image(server_id, asked.name, metadata, caller.token.user_id,
                                                request_id(request), is_admin(caller))
    if version >= v(45):
        return JSONResponse({"image_id": image_id}, status_code=202)
    return Response(status_code=202, headers={"Location": image_url(request, image_id)})
