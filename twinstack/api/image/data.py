"""Image data over HTTP: upload (``PUT /file``), staging (``PUT /stage``) and download with Range support.

Bodies are streamed straight to the store and back, never held whole in memory.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from twinstack.api.body_limits import lift_body_limit
from twinstack.api.deps import Caller, CallerDep
from twinstack.api.image.context import ImageConfigDep
from twinstack.api.openapi_doc import STREAMED_UPLOAD
from twinstack.core.clock import utcnow
from twinstack.core.errors import BadRequest, CloudError
from twinstack.core.image import data
from twinstack.core.image.context import ImageConfig
from twinstack.core.image.intake import Expected, Received, receive_stream

router = APIRouter()

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Gone(CloudError):
    status = 410
    title = "Gone"


class RangeNotSatisfiable(CloudError):
    status = 416
    title = "Requested Range Not Satisfiable"


def _declared_size(request: Request) -> int | None:
    raw = request.headers.get("x-openstack-image-size")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest(f"Invalid X-OpenStack-Image-Size: {raw}")
    return int(raw)


async def _receive(request: Request, caller: Caller, config: ImageConfig, image_id: str, state: str,
                   target: Path) -> Received:
    """Move the image to ``state``, stream the body to the target path, and on any failure put it back."""
    cloud = caller.cloud
    size = _declared_size(request)
    lift_body_limit(request, config.settings.image_size_cap)  # streamed to the store, capped as it goes

    def begin() -> Expected:
        with cloud.transaction() as session:
            return data.begin_upload(session, caller.creds, image_id, state, utcnow(cloud.clock), size)

    def abandon() -> None:
        with cloud.transaction() as session:
            data.abandon(session, image_id, state, utcnow(cloud.clock))

    expected = await run_in_threadpool(begin)
    if state == "uploading":
        expected = Expected(size=expected.size)  # staged data is verified when imported
    try:
        return await receive_stream(request.stream(), target, config.settings.image_size_cap, expected)
    except BaseException:
        await run_in_threadpool(abandon)
        raise


@router.put("/v2/images/{image_id}/file", status_code=204, openapi_extra=STREAMED_UPLOAD)
async def upload_image(image_id: str, request: Request, caller: CallerDep, config: ImageConfigDep) -> Response:
    caller.enforce("image:upload_image")
    store = config.stores.get(request.headers.get("x-image-meta-store"))
    received = await _receive(request, caller, config, image_id, "saving",
                              store.path_for(image_id))
    cloud = caller.cloud

    def finish() -> bool:
        with cloud.transaction() as session:
            return data.activate(session, image_id, "saving", received, [store.location(image_id)],
                                 utcnow(cloud.clock))

    def abandon() -> None:
        with cloud.transaction() as session:
            data.abandon(session, image_id, "saving", utcnow(cloud.clock))

    try:
        activated = await run_in_threadpool(finish)
    except BaseException:
        received.path.unlink(missing_ok=True)
        await run_in_threadpool(abandon)
        raise
    if not activated:
        received.path.unlink(missing_ok=True)
        raise Gone(f"Image {image_id} could not be found after upload. The image may have been deleted during "
                   f"the upload.")
    return Response(status_code=204)


@router.put("/v2/images/{image_id}/stage", status_code=204, openapi_extra=STREAMED_UPLOAD)
async def stage_image(image_id: str, request: Request, caller: CallerDep, config: ImageConfigDep) -> Response:
    caller.enforce("image:stage_image")
    if "glance-direct" not in config.settings.import_methods:
        raise BadRequest("The glance-direct import method is not enabled.")
    await _receive(request, caller, config, image_id, "uploading",
                   config.stores.staged(image_id))
    return Response(status_code=204)


def _byte_range(header: str | None, size: int | None) -> tuple[int, int] | None:
    """(start, end exclusive) asked by a ``Range: bytes=a-b`` header; None for the whole image."""
    if header is None or size is None:
        return None
    match = RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise RangeNotSatisfiable(f"Invalid Range header: {header}")
    first, last = match.group(1), match.group(2)
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start, end = int(first), size if last == "" else min(size, int(last) + 1)
    if start >= size or start >= end:
        raise RangeNotSatisfiable(f"Requested range {header} not satisfiable for {size} bytes")
    return start, end


@router.get("/v2/images/{image_id}/file")
def download_image(image_id: str, request: Request, caller: CallerDep, config: ImageConfigDep) -> Response:
    caller.enforce("image:download_image")
    with caller.cloud.sessions() as session:
        source = data.data_source(session, config, caller.creds, image_id)
    if source is None:
        return Response(status_code=204)
    try:
        asked = _byte_range(request.headers.get("range"), source.size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{source.size}"})
    headers = {"Content-Type": "application/octet-stream"}
    if asked is None:
        if source.checksum:
            headers["Content-MD5"] = source.checksum
        if source.size is not None:
            headers["Content-Length"] = str(source.size)
        return StreamingResponse(config.stores.read(source.url), headers=headers)
    start, end = asked
    headers |= {"Content-Range": f"bytes {start}-{end - 1}/{source.size}", "Content-Length": str(end - start)}
    return StreamingResponse(config.stores.read(source.url, start, end), status_code=206, headers=headers)
