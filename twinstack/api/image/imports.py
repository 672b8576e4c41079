"""Interoperable import over HTTP (``POST /import``, answered 202 and finished in the background),
import-method and store discovery, and an image's import tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Response

from twinstack.api.deps import CallerDep
from twinstack.api.image.context import ImageConfigDep, JsonBody
from twinstack.api.image.render import render_task
from twinstack.core.clock import utcnow
from twinstack.core.image import imports

router = APIRouter()


@router.post("/v2/images/{image_id}/import", status_code=202)
def import_image(image_id: str, body: JsonBody, caller: CallerDep, config: ImageConfigDep,
                 background: BackgroundTasks) -> Response:
    caller.enforce("image:import_image")
    request = imports.parse_import(config, body)
    cloud = caller.cloud
    with cloud.transaction() as session:
        task_id = imports.begin_import(session, caller.creds, image_id, request, utcnow(cloud.clock))
    background.add_task(imports.run_import, cloud.transaction, config, task_id, lambda: utcnow(cloud.clock))
    return Response(status_code=202)


@router.get("/v2/images/{image_id}/tasks")
def list_tasks(image_id: str, caller: CallerDep) -> dict[str, Any]:
    caller.enforce("image:get_tasks")
    with caller.cloud.sessions() as session:
        return {"tasks": [render_task(t) for t in imports.list_tasks(session, caller.creds, image_id)]}


@router.get("/v2/info/import")
def import_info(caller: CallerDep, config: ImageConfigDep) -> dict[str, Any]:
    return {"import-methods": {"description": "Import methods available.", "type": "array",
                               "value": list(config.settings.import_methods)}}


@router.get("/v2/info/stores")
def stores_info(caller: CallerDep, config: ImageConfigDep) -> dict[str, Any]:
    caller.enforce("image:stores_info")
    stores = config.stores
    return {"stores": [{"id": s.name, "description": s.description, **({"default": True}
                                                                        if s.name == stores.default else {})}
                       for s in stores.stores.values()]}
